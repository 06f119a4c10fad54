//! OpenSSH security keys (`sk-*`) as a second factor: reading the public key an administrator
//! enrolls, and reading which keys sshd accepted from what it hands PAM.
//!
//! sshd verifies the key itself (the `publickey` method, with `AuthenticationMethods
//! publickey,keyboard-interactive`). When keyboard-interactive starts it puts every method it
//! has accepted so far into the PAM environment as `SSH_AUTH_INFO_0`, one line each, written by
//! sshd's privileged process (auth2.c `auth2_update_session_info`, called from monitor.c):
//! `METHOD[/SUBMETHOD] [KEYTYPE BASE64] [INFO]\n`. For a key accepted by `publickey` that is
//! exactly `publickey sk-ssh-ed25519@openssh.com AAAA…\n`: the `signature count = N` that
//! auth2-pubkey.c records is the unprivileged child's and never reaches PAM (OpenSSH 9.2 as
//! tested here, and the current sources). A client cannot set the variable: sshd sets it from its
//! own record, and a client's variables only reach the session, after authentication. The module
//! only has to find an enrolled key among the accepted ones: [`accepted_keys`], then
//! [`matches`].
//!
//! Only `sk-*` keys count: an ordinary key's private half is a file, copied without anyone
//! noticing; a security key's never leaves the device.
//!
//! Pure code: no I/O, no clock.

use base64ct::{Base64, Base64Unpadded, Encoding};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::base::text::printable;

/// OpenSSH's name of the Ed25519 security-key type.
pub const ED25519_SK: &str = "sk-ssh-ed25519@openssh.com";
/// OpenSSH's name of the ECDSA (P-256) security-key type.
pub const ECDSA_SK: &str = "sk-ecdsa-sha2-nistp256@openssh.com";
/// The longest key line read (a security key's line is under 300 characters).
pub const MAX_LINE: usize = 8192;

const CERT_TYPES: [&str; 2] = [
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
];

/// The two security-key algorithms of OpenSSH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkAlgorithm {
    Ed25519,
    EcdsaP256,
}

impl SkAlgorithm {
    /// The key type as OpenSSH writes it (`sk-ssh-ed25519@openssh.com`, …).
    pub fn ssh_name(self) -> &'static str {
        match self {
            SkAlgorithm::Ed25519 => ED25519_SK,
            SkAlgorithm::EcdsaP256 => ECDSA_SK,
        }
    }

    /// The algorithm of a key type name; `None` for any other type, certificates included.
    pub fn from_ssh_name(name: &str) -> Option<SkAlgorithm> {
        match name {
            ED25519_SK => Some(SkAlgorithm::Ed25519),
            ECDSA_SK => Some(SkAlgorithm::EcdsaP256),
            _ => None,
        }
    }
}

/// A security key's public half, as in its `.pub` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkPublicKey {
    pub algorithm: SkAlgorithm,
    /// The whole SSH wire blob (the base64 of the line, decoded): what sshd reports and what
    /// [`matches`] compares.
    pub blob: Vec<u8>,
    /// 32 bytes (Ed25519), or the 65-byte uncompressed SEC1 point (P-256).
    pub public_key: Vec<u8>,
    /// The FIDO application the key was made for; `ssh:` unless `ssh-keygen -O application=`.
    pub application: String,
    /// The comment after the key on its line, if any.
    pub comment: Option<String>,
}

impl SkPublicKey {
    /// OpenSSH's fingerprint, `SHA256:` and the unpadded base64 of SHA-256(blob): what
    /// `ssh-keygen -lf KEY.pub` and sshd's log show.
    pub fn fingerprint(&self) -> String {
        format!(
            "SHA256:{}",
            Base64Unpadded::encode_string(&Sha256::digest(&self.blob))
        )
    }

    /// Read a wire blob (no comment): exactly one security key, nothing after it.
    pub fn from_blob(blob: &[u8]) -> Result<SkPublicKey, SshKeyError> {
        let mut r = Reader { rest: blob };
        let inner = r.string("key type")?;
        let inner = std::str::from_utf8(inner).map_err(|_| SshKeyError::BadText("key type"))?;
        let algorithm = classify(inner)?;
        let public_key = match algorithm {
            SkAlgorithm::Ed25519 => {
                let key = r.string("public key")?;
                let bytes: [u8; 32] = key
                    .try_into()
                    .map_err(|_| SshKeyError::Ed25519Length(key.len()))?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| SshKeyError::BadPoint(algorithm))?;
                key.to_vec()
            }
            SkAlgorithm::EcdsaP256 => {
                let curve = r.string("curve name")?;
                if curve != b"nistp256" {
                    return Err(SshKeyError::WrongCurve(printable(
                        &String::from_utf8_lossy(curve),
                    )));
                }
                let point = r.string("public point")?;
                // OpenSSH writes the point uncompressed: 04 ‖ x ‖ y.
                if point.len() != 65 || point[0] != 4 {
                    return Err(SshKeyError::BadPoint(algorithm));
                }
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                    .map_err(|_| SshKeyError::BadPoint(algorithm))?;
                point.to_vec()
            }
        };
        let application = r.string("application")?;
        let application = std::str::from_utf8(application)
            .ok()
            .filter(|a| !a.is_empty() && !a.contains('\0'))
            .ok_or(SshKeyError::BadText("application"))?;
        r.finish()?;
        Ok(SkPublicKey {
            algorithm,
            blob: blob.to_vec(),
            public_key,
            application: application.to_string(),
            comment: None,
        })
    }
}

/// What is wrong with a key line. Messages name the field or the type, never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshKeyError {
    #[error("the key line is empty")]
    Empty,
    #[error("the key line is longer than {MAX_LINE} characters")]
    TooLong,
    #[error(
        "{0} keys cannot be a second factor: only security-key (sk-*) keys can, \
         sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com \
         (made with ssh-keygen -t ed25519-sk or -t ecdsa-sk)"
    )]
    NotSecurityKey(String),
    #[error("{0} is a certificate: enroll the security key itself (its .pub file)")]
    Certificate(String),
    #[error(
        "the line starts with authorized_keys options ({0}): give the key alone, as in its \
         .pub file, starting with its type"
    )]
    Options(String),
    #[error("the line has no key after its type {0}")]
    MissingKey(String),
    #[error("the key is not valid base64")]
    Base64,
    #[error("the key ends inside its {0}")]
    Truncated(&'static str),
    #[error("the key has {0} bytes after its last field")]
    TrailingBytes(usize),
    #[error("the line says {outer} but the key inside is {inner}")]
    TypeMismatch { outer: String, inner: String },
    #[error("the key's curve is {0}, not nistp256")]
    WrongCurve(String),
    #[error("the {} key's public key is not a valid point", .0.ssh_name())]
    BadPoint(SkAlgorithm),
    #[error("the Ed25519 public key is {0} bytes, not 32")]
    Ed25519Length(usize),
    #[error("the key's {0} is not valid text")]
    BadText(&'static str),
    #[error("the key's comment holds control characters")]
    BadComment,
}

/// Read an authorized_keys-style line, `TYPE BASE64 [COMMENT]` (a `.pub` file's contents), of a
/// security key. No options prefix; surrounding whitespace (the file's newline) is ignored.
pub fn parse_public_key(line: &str) -> Result<SkPublicKey, SshKeyError> {
    if line.len() > MAX_LINE {
        return Err(SshKeyError::TooLong);
    }
    let line = line.trim();
    let (outer, rest) = split_field(line);
    if outer.is_empty() {
        return Err(SshKeyError::Empty);
    }
    if let Err(e) = classify(outer) {
        // `no-touch-required sk-ssh-ed25519@openssh.com AAAA…`: an authorized_keys line.
        let (second, _) = split_field(rest);
        let is_key_type = |t: &str| SkAlgorithm::from_ssh_name(t).is_some() || is_certificate(t);
        return Err(if is_key_type(second) {
            SshKeyError::Options(printable(outer))
        } else {
            e
        });
    }
    let (encoded, comment) = split_field(rest);
    if encoded.is_empty() {
        return Err(SshKeyError::MissingKey(printable(outer)));
    }
    let blob = Base64::decode_vec(encoded).map_err(|_| SshKeyError::Base64)?;
    let mut key = SkPublicKey::from_blob(&blob).map_err(|e| match e {
        SshKeyError::NotSecurityKey(inner) | SshKeyError::Certificate(inner) => {
            SshKeyError::TypeMismatch {
                outer: printable(outer),
                inner,
            }
        }
        other => other,
    })?;
    if key.algorithm.ssh_name() != outer {
        return Err(SshKeyError::TypeMismatch {
            outer: printable(outer),
            inner: key.algorithm.ssh_name().to_string(),
        });
    }
    if comment.chars().any(|c| c.is_control() && c != '\t') {
        return Err(SshKeyError::BadComment);
    }
    key.comment = (!comment.is_empty()).then(|| comment.to_string());
    Ok(key)
}

/// The wire blobs of the security keys sshd accepted, from the value of `SSH_AUTH_INFO_0`.
///
/// Reads exactly what sshd writes there for a key it accepted with the `publickey` method,
/// `publickey TYPE BASE64` and the newline, nothing more. Skipped: other methods
/// (`keyboard-interactive/pam`, `password`, `hostbased TYPE BASE64 client user …`), other key
/// types, and anything malformed or with more on the line (a line is taken whole or not at
/// all).
///
/// Certificates are skipped too: for a certificate sshd writes the certificate's type
/// (`sk-ssh-ed25519-cert-v01@openssh.com`) and blob, and the blob of the security key it
/// certifies is not what was enrolled; a user who logs in with a certificate is not matched.
pub fn accepted_keys(auth_info: &str) -> Vec<Vec<u8>> {
    auth_info.split('\n').filter_map(accepted_key).collect()
}

/// Is `enrolled_blob` one of `accepted`? Compares in constant time and looks at every entry.
pub fn matches(enrolled_blob: &[u8], accepted: &[Vec<u8>]) -> bool {
    let mut found = subtle::Choice::from(0);
    for blob in accepted {
        found |= enrolled_blob.ct_eq(blob.as_slice());
    }
    bool::from(found)
}

/// One line of `SSH_AUTH_INFO_0`: the blob when it is an accepted security key.
fn accepted_key(line: &str) -> Option<Vec<u8>> {
    let rest = line.strip_prefix("publickey ")?;
    let (key_type, encoded) = rest.split_once(' ')?;
    let algorithm = SkAlgorithm::from_ssh_name(key_type)?;
    // Base64 has no spaces: anything after the key makes decoding fail.
    let blob = Base64::decode_vec(encoded).ok()?;
    let key = SkPublicKey::from_blob(&blob).ok()?;
    (key.algorithm == algorithm).then_some(blob)
}

/// The algorithm of a key type, or why that type cannot be a second factor.
fn classify(key_type: &str) -> Result<SkAlgorithm, SshKeyError> {
    if let Some(a) = SkAlgorithm::from_ssh_name(key_type) {
        return Ok(a);
    }
    if is_certificate(key_type) {
        return Err(SshKeyError::Certificate(printable(key_type)));
    }
    Err(SshKeyError::NotSecurityKey(printable(key_type)))
}

fn is_certificate(key_type: &str) -> bool {
    CERT_TYPES.contains(&key_type)
}

/// The first whitespace-separated field of `s` and what follows it (leading whitespace
/// dropped).
fn split_field(s: &str) -> (&str, &str) {
    match s.split_once([' ', '\t']) {
        Some((first, rest)) => (first, rest.trim_start_matches([' ', '\t'])),
        None => (s, ""),
    }
}

/// RFC 4251 strings from a wire blob: a u32 big-endian length, then that many bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn string(&mut self, field: &'static str) -> Result<&'a [u8], SshKeyError> {
        let (len, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or(SshKeyError::Truncated(field))?;
        let len =
            usize::try_from(u32::from_be_bytes(*len)).map_err(|_| SshKeyError::Truncated(field))?;
        if rest.len() < len {
            return Err(SshKeyError::Truncated(field));
        }
        let (body, rest) = rest.split_at(len);
        self.rest = rest;
        Ok(body)
    }

    fn finish(self) -> Result<(), SshKeyError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(SshKeyError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests;
