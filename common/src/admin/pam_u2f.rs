//! The authfile (mapping file) of pam_u2f, read for import: pure text in, credentials out.
//!
//! ```text
//! # user:cred[:cred...]; each cred is keyHandle,publicKey,coseType,options (pamu2fcfg ≥ 1.1)
//! alice:q4Qv…Lw==,yV9k…Ow==,es256,+presence:*,mZ0r…Aw==,eddsa,+presence+pin
//! # or the U2F-era form keyHandle,publicKey: websafe base64 and the hex 04‖x‖y point
//! bob:3cY1…Gzg,04a1b2…ef
//! ```
//!
//! What pam_u2f itself does (util.c), and so what this parser does:
//!
//! - a user's credentials are those of the last line naming them (`parse_native_format`: "only
//!   keep last line for this user"); user names are compared as written;
//! - a credential with two fields is the old format, ES256 with `+presence`; three fields mean
//!   empty options (`parse_native_credential`); empty `:`-separated pieces are skipped, as
//!   `strtok_r` does;
//! - `*` as key handle is a resident credential (`is_resident`); the COSE type is compared
//!   without case (`cose_type`); presence, verification and PIN are asked for only when
//!   `+presence`, `+verification`, `+pin` appear in the options (`parse_opts`);
//! - there is no comment syntax: a line starting with `#` names no real user, and a blank line
//!   none at all, so both are skipped here.
//!
//! Stricter than pam_u2f, since an import should not carry a broken line over silently: an
//! unknown option, a fifth field, a key of the wrong length or off the curve, or a line with no
//! credentials is an error naming the line, and no error ever quotes key material.

use std::fmt;

use base64ct::{Base64, Base64Unpadded, Encoding};

use crate::base::names::MAX_USER_NAME;
use crate::base::text::Printable;
use crate::factor::fido2::{CoseAlg, Credential, Origin, PublicKey, UserVerification};

/// The longest credential id WebAuthn allows (§ 4, Credential ID).
const MAX_CREDENTIAL_ID: usize = 1023;

/// One user's credentials, from the last line that names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PamU2fEntry {
    /// The user name as written in the file.
    pub user: String,
    /// The line (from 1) the credentials come from.
    pub line: usize,
    /// Never empty: a line without credentials is an error.
    pub credentials: Vec<Credential>,
    /// Earlier lines for the same user, which pam_u2f ignores and so does the import.
    pub superseded: Vec<usize>,
}

/// Every user a mapping file gives credentials to, and every line that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PamU2fFile {
    /// In the order of their lines.
    pub entries: Vec<PamU2fEntry>,
    /// In the order of their lines. A user whose last line is here has no entry: the
    /// credentials of an earlier line were replaced in pam_u2f too, and are not brought back.
    pub errors: Vec<PamU2fError>,
}

/// A line of a mapping file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PamU2fError {
    pub line: usize,
    /// The line's user, when it has a plausible one.
    pub user: Option<String>,
    /// Which credential of the line (from 1), when the problem is in one.
    pub credential: Option<usize>,
    pub problem: PamU2fProblem,
    /// A later line for the same user, which replaces this one (the user is not lost).
    pub superseded_by: Option<usize>,
}

impl fmt::Display for PamU2fError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        match (&self.user, self.credential) {
            (Some(u), Some(c)) => write!(f, " (user {}, credential {c})", Printable::field(u))?,
            (Some(u), None) => write!(f, " (user {})", Printable::field(u))?,
            (None, Some(c)) => write!(f, " (credential {c})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.problem)?;
        if let Some(later) = self.superseded_by {
            write!(f, " (replaced by line {later} for the same user)")?;
        }
        Ok(())
    }
}

/// A field of a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PamU2fField {
    KeyHandle,
    PublicKey,
    CoseType,
    Options,
}

impl fmt::Display for PamU2fField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PamU2fField::KeyHandle => "key handle",
            PamU2fField::PublicKey => "public key",
            PamU2fField::CoseType => "COSE type",
            PamU2fField::Options => "options",
        })
    }
}

/// What is wrong with a line. Names the field, never its content (a word is quoted only when
/// it is short and plain, such as an unknown COSE type or option).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PamU2fProblem {
    #[error("the line does not start with a user name and `:`")]
    MissingUser,
    #[error("the user name is longer than {MAX_USER_NAME} bytes")]
    UserTooLong,
    #[error("no credentials after the user name")]
    NoCredentials,
    #[error("the {0} is missing")]
    Missing(PamU2fField),
    #[error("the {0} is empty")]
    Empty(PamU2fField),
    #[error("more than 4 comma-separated fields (two credentials joined by `,` instead of `:`?)")]
    TooManyFields,
    #[error("the {0} is not base64")]
    NotBase64(PamU2fField),
    #[error("the public key is not hexadecimal (old keyHandle,publicKey format)")]
    NotHex,
    #[error("the key handle is longer than {MAX_CREDENTIAL_ID} bytes")]
    KeyHandleTooLong,
    #[error("the key handle `*` (resident credential) needs the 4-field format")]
    ResidentOldFormat,
    #[error("the public key is {len} bytes; an {} key is {expected}", alg_name(*alg))]
    WrongKeyLength {
        alg: CoseAlg,
        len: usize,
        expected: &'static str,
    },
    #[error("the public key is not {}", key_kind(*.0))]
    InvalidKey(CoseAlg),
    #[error("RS256 keys are not supported")]
    Rs256,
    #[error("unknown COSE type{}; es256 or eddsa expected", quoted(.0))]
    UnknownCoseType(Option<String>),
    #[error("unknown option{}; +presence, +verification and +pin are known", quoted(.0))]
    UnknownOption(Option<String>),
}

fn alg_name(alg: CoseAlg) -> &'static str {
    match alg {
        CoseAlg::Es256 => "ES256",
        CoseAlg::EdDsa => "EdDSA",
    }
}

fn key_kind(alg: CoseAlg) -> &'static str {
    match alg {
        CoseAlg::Es256 => "a P-256 point",
        CoseAlg::EdDsa => "an Ed25519 key",
    }
}

fn quoted(word: &Option<String>) -> String {
    word.as_ref()
        .map_or_else(String::new, |w| format!(" `{w}`"))
}

/// A word short and plain enough to quote in an error: no key material is ever this short.
fn plain_word(s: &str) -> Option<String> {
    let plain = (1..=12).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plain.then(|| s.to_string())
}

/// Read a whole mapping file: every user it gives credentials to, or the first line that
/// cannot be read. `rp_id` is the relying party the credentials were made for (pam_u2f's
/// `origin`, also its `appid` for old-format lines unless it was set apart).
pub fn parse_pam_u2f(text: &str, rp_id: &str) -> Result<Vec<PamU2fEntry>, PamU2fError> {
    let file = parse_pam_u2f_lenient(text, rp_id);
    match file.errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(file.entries),
    }
}

/// Read a mapping file line by line, keeping what can be read and every error (for an import
/// that reports "line 7: …" and goes on with the others). Each user's last line decides, as in
/// pam_u2f: when it is broken, the user has no entry and its error names them.
pub fn parse_pam_u2f_lenient(text: &str, rp_id: &str) -> PamU2fFile {
    struct Read {
        line: usize,
        user: Option<String>,
        outcome: Result<Vec<Credential>, PamU2fError>,
    }
    let mut read = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let start = line.trim_start();
        if start.is_empty() || start.starts_with('#') {
            continue;
        }
        let (user, outcome) = parse_line(i + 1, line, rp_id);
        read.push(Read {
            line: i + 1,
            user,
            outcome,
        });
    }

    // The last line of each user wins; earlier ones are superseded by it.
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (idx, r) in read.iter().enumerate() {
        if let Some(u) = &r.user {
            last.insert(u.as_str(), idx);
        }
    }
    let mut superseded: Vec<Vec<usize>> = vec![Vec::new(); read.len()];
    let mut superseded_by = vec![None; read.len()];
    for (idx, r) in read.iter().enumerate() {
        if let Some(&winner) = r.user.as_deref().and_then(|u| last.get(u))
            && winner != idx
        {
            superseded[winner].push(r.line);
            superseded_by[idx] = Some(read[winner].line);
        }
    }

    let mut file = PamU2fFile::default();
    for ((r, sup), by) in read.into_iter().zip(superseded).zip(superseded_by) {
        match (r.outcome, by) {
            (Ok(credentials), None) => file.entries.push(PamU2fEntry {
                user: r.user.unwrap_or_default(),
                line: r.line,
                credentials,
                superseded: sup,
            }),
            (Ok(_), Some(_)) => {}
            (Err(mut e), by) => {
                e.superseded_by = by;
                file.errors.push(e);
            }
        }
    }
    file
}

/// One line: its user (when there is a plausible one) and its credentials.
fn parse_line(
    line: usize,
    text: &str,
    rp_id: &str,
) -> (Option<String>, Result<Vec<Credential>, PamU2fError>) {
    let error = |user: Option<&str>, credential, problem| PamU2fError {
        line,
        user: user.map(str::to_string),
        credential,
        problem,
        superseded_by: None,
    };
    let Some((user, rest)) = text.split_once(':') else {
        if text.contains(',') {
            return (None, Err(error(None, None, PamU2fProblem::MissingUser)));
        }
        // A user with no credentials: in pam_u2f it replaces the user's earlier lines. Not
        // quoted, since a line without `:` may as well be a piece of a wrapped key.
        let user = (text.len() <= MAX_USER_NAME).then(|| text.to_string());
        return (user, Err(error(None, None, PamU2fProblem::NoCredentials)));
    };
    if user.is_empty() || user.contains(',') {
        return (None, Err(error(None, None, PamU2fProblem::MissingUser)));
    }
    if user.len() > MAX_USER_NAME {
        return (None, Err(error(None, None, PamU2fProblem::UserTooLong)));
    }
    let mut credentials = Vec::new();
    for (n, piece) in rest.split(':').filter(|p| !p.is_empty()).enumerate() {
        match parse_credential(piece, rp_id) {
            Ok(c) => credentials.push(c),
            Err(p) => return (Some(user.into()), Err(error(Some(user), Some(n + 1), p))),
        }
    }
    if credentials.is_empty() {
        let e = error(Some(user), None, PamU2fProblem::NoCredentials);
        return (Some(user.into()), Err(e));
    }
    (Some(user.into()), Ok(credentials))
}

/// One `keyHandle,publicKey[,coseType[,options]]`.
fn parse_credential(text: &str, rp_id: &str) -> Result<Credential, PamU2fProblem> {
    use PamU2fField::{CoseType, KeyHandle, PublicKey as Pk};
    let fields: Vec<&str> = text.split(',').collect();
    if fields.len() > 4 {
        return Err(PamU2fProblem::TooManyFields);
    }
    let field = |i: usize, name| match fields.get(i) {
        None => Err(PamU2fProblem::Missing(name)),
        Some(&"") => Err(PamU2fProblem::Empty(name)),
        Some(f) => Ok(*f),
    };
    let kh = field(0, KeyHandle)?;
    let pk = field(1, Pk)?;
    let old = fields.len() == 2;

    let (alg, options) = if old {
        (CoseAlg::Es256, "+presence")
    } else {
        let alg = match field(2, CoseType)?.to_ascii_lowercase().as_str() {
            "es256" => CoseAlg::Es256,
            "eddsa" => CoseAlg::EdDsa,
            "rs256" => return Err(PamU2fProblem::Rs256),
            _ => return Err(PamU2fProblem::UnknownCoseType(plain_word(fields[2]))),
        };
        (alg, fields.get(3).copied().unwrap_or(""))
    };
    let opts = parse_options(options)?;

    let resident = !old && kh == "*";
    let credential_id = if resident {
        Vec::new()
    } else if old && kh == "*" {
        return Err(PamU2fProblem::ResidentOldFormat);
    } else {
        let id = decode_base64(kh, old).ok_or(PamU2fProblem::NotBase64(KeyHandle))?;
        if id.is_empty() {
            return Err(PamU2fProblem::Empty(KeyHandle));
        }
        if id.len() > MAX_CREDENTIAL_ID {
            return Err(PamU2fProblem::KeyHandleTooLong);
        }
        id
    };

    let raw = if old {
        decode_hex(pk).ok_or(PamU2fProblem::NotHex)?
    } else {
        decode_base64(pk, false).ok_or(PamU2fProblem::NotBase64(Pk))?
    };
    // A length of the right size with a wrong prefix byte is an invalid key, below.
    let expected = match alg {
        // U2F registrations carry the uncompressed point.
        CoseAlg::Es256 if old => (raw.len() != 65).then_some("65 bytes (04‖x‖y)"),
        CoseAlg::Es256 => {
            (raw.len() != 64 && raw.len() != 65).then_some("64 bytes (x‖y) or 65 (04‖x‖y)")
        }
        CoseAlg::EdDsa => (raw.len() != 32).then_some("32 bytes"),
    };
    if let Some(expected) = expected {
        return Err(PamU2fProblem::WrongKeyLength {
            alg,
            len: raw.len(),
            expected,
        });
    }
    let public_key = PublicKey::from_raw(alg, &raw).ok_or(PamU2fProblem::InvalidKey(alg))?;

    Ok(Credential {
        credential_id,
        public_key,
        rp_id: rp_id.to_string(),
        presence: opts.presence,
        verification: if opts.verification {
            UserVerification::Required
        } else {
            UserVerification::Discouraged
        },
        pin: opts.pin,
        resident,
        backup: None,
        sign_count: 0,
        origin: Origin::PamU2f,
    })
}

#[derive(Default)]
struct Options {
    presence: bool,
    verification: bool,
    pin: bool,
}

/// `+presence+verification+pin` in any order, each optional; empty means none.
fn parse_options(text: &str) -> Result<Options, PamU2fProblem> {
    let mut opts = Options::default();
    if text.is_empty() {
        return Ok(opts);
    }
    let Some(words) = text.strip_prefix('+') else {
        return Err(PamU2fProblem::UnknownOption(plain_word(text)));
    };
    for word in words.split('+') {
        match word {
            "presence" => opts.presence = true,
            "verification" => opts.verification = true,
            "pin" => opts.pin = true,
            _ => {
                let quoted = plain_word(word).map(|w| format!("+{w}"));
                return Err(PamU2fProblem::UnknownOption(quoted));
            }
        }
    }
    Ok(opts)
}

/// Base64 as pamu2fcfg writes it (standard alphabet, padded; unpadded is read too). The old
/// format's websafe key handles have `-` and `_` for `+` and `/`, as pam_u2f's `normal_b64`
/// maps them.
fn decode_base64(text: &str, websafe: bool) -> Option<Vec<u8>> {
    let mapped;
    let text = if websafe {
        mapped = text.replace('-', "+").replace('_', "/");
        mapped.as_str()
    } else {
        text
    };
    if text.contains('=') {
        Base64::decode_vec(text).ok()
    } else {
        Base64Unpadded::decode_vec(text).ok()
    }
}

/// Hexadecimal, either case, an even number of digits.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| (b as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests;
