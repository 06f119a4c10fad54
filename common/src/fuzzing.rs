//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, never in a release build):
//! the parsers that read what someone else wrote. Each checks a property and panics when it
//! does not hold: a panic is what the fuzzer reports.
#![allow(clippy::panic)] // a failed property must crash

use crate::admin::google_auth::GoogleAuthFile;
use crate::admin::{parse_pam_u2f, parse_pam_u2f_lenient};
use crate::base::otp::{TotpAlgorithm, TotpParams, from_base32, otpauth_uri, to_base32};

/// A `~/.google_authenticator` file: parsing never panics, what parses is in range, and an
/// error never quotes the secret.
pub fn google_auth(text: &str) {
    let first = text.lines().next().unwrap_or("").trim();
    match GoogleAuthFile::parse(text) {
        Ok(f) => {
            assert!(f.secret.expose().len() >= 10, "short secret accepted");
            assert!((10..=300).contains(&f.step), "step {}", f.step);
            assert!(f.window.is_none_or(|w| w <= 10), "window {:?}", f.window);
            for c in &f.scratch_codes {
                let c = c.expose();
                assert!(c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit()));
            }
        }
        Err(why) => {
            // Long enough not to be a word of a message by chance.
            if first.len() >= 16 && !first.contains(char::is_whitespace) {
                assert!(!why.contains(first), "the error quotes the secret: {why}");
            }
        }
    }
}

/// A pam_u2f mapping file: parsing never panics; the whole-file parse fails exactly when the
/// line-by-line one reports an error, and with its first; every credential read holds a valid
/// key for the rp id given; one entry per user; and no error quotes a field of a credential.
pub fn pam_u2f(text: &str) {
    const RP: &str = "pam://fuzz";
    let file = parse_pam_u2f_lenient(text, RP);
    match parse_pam_u2f(text, RP) {
        Ok(entries) => {
            assert!(file.errors.is_empty());
            assert_eq!(entries, file.entries);
        }
        Err(e) => assert_eq!(Some(&e), file.errors.first()),
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut users = std::collections::HashSet::new();
    let mut previous = 0;
    for entry in &file.entries {
        assert!(
            users.insert(entry.user.as_str()),
            "two entries for {}",
            entry.user
        );
        assert!(entry.line > previous && entry.line <= lines.len());
        previous = entry.line;
        assert!(!entry.credentials.is_empty());
        assert!(entry.superseded.iter().all(|l| *l < entry.line));
        for c in &entry.credentials {
            assert_eq!(c.rp_id, RP);
            assert_eq!(c.credential_id.is_empty(), c.resident);
            assert!(c.credential_id.len() <= 1023);
            let key =
                crate::fido2::PublicKey::from_raw(c.public_key.alg(), c.public_key.as_bytes());
            assert_eq!(key.as_ref(), Some(&c.public_key));
        }
    }
    for e in &file.errors {
        assert!(e.line >= 1 && e.line <= lines.len());
        assert!(e.superseded_by.is_none_or(|l| l > e.line));
        let line = lines[e.line - 1];
        let creds = line.split_once(':').map_or(line, |(_, c)| c);
        // Words are quoted in backticks; only short plain ones may be.
        let shown = e.problem.to_string();
        for field in creds.split([':', ',', '+']).filter(|f| f.len() > 12) {
            let quoted = [format!("`{field}`"), format!("`+{field}`")];
            assert!(
                !quoted.iter().any(|q| shown.contains(q.as_str())),
                "the error quotes a field: {shown}"
            );
        }
    }
}

/// The otpauth:// Key URI of an enrollment and the base32 secret in it: the label and the
/// issuer parameter decode back to the issuer and account given, nothing in the URI needs
/// escaping that is not escaped, and the secret reads back as the same bytes. The input is
/// issuer, account and secret separated by NUL bytes; it is also tried as a base32 secret.
pub fn otpauth(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(s) = from_base32(&text) {
        let again = from_base32(to_base32(s.expose()).expose());
        assert_eq!(again.as_ref().map(|a| a.expose()), Some(s.expose()));
    }
    let mut parts = text.splitn(3, '\0');
    let (issuer, account) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let secret = parts.next().unwrap_or("").as_bytes();
    let b32 = to_base32(secret);
    let params = TotpParams {
        algorithm: TotpAlgorithm::Sha256,
        digits: 6,
        period: 30,
        window: 1,
    };
    let uri = otpauth_uri(issuer, account, b32.expose(), &params);
    let uri = uri.expose();
    let rest = uri
        .strip_prefix("otpauth://totp/")
        .unwrap_or_else(|| panic!("no otpauth://totp/ prefix: {uri}"));
    assert!(
        rest.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~@%:?&=".contains(&b)),
        "unescaped character in {uri}"
    );
    let (label, query) = rest
        .split_once('?')
        .unwrap_or_else(|| panic!("no query in {uri}"));
    let (iss, acc) = label
        .split_once(':')
        .unwrap_or_else(|| panic!("no issuer prefix in {uri}"));
    assert_eq!(decode(iss), issuer);
    assert_eq!(decode(acc), account);
    let field = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {name} in {uri}"))
    };
    assert_eq!(decode(field("issuer")), issuer);
    let read = from_base32(field("secret"));
    if secret.is_empty() {
        assert!(read.is_none());
    } else {
        assert_eq!(read.as_ref().map(|s| s.expose().as_slice()), Some(secret));
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
