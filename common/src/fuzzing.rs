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

/// A security key's answer, as a device (untrusted) could give it: `data` is split into the
/// authenticator data, the signature and the credential id, checked against fixed credentials,
/// and read as an enrollment's attestation. Nothing may panic; nothing a fuzzer can make without
/// the private keys may verify.
pub fn fido2_response(data: &[u8]) {
    use crate::factor::fido2::attest::read_attestation;
    use crate::factor::fido2::verify::verify_assertion;
    use crate::factor::fido2::{
        AssertionResponse, AttestationResponse, CoseAlg, Credential, CredentialRequest, Origin,
        PublicKey, UserVerification,
    };
    let (a, rest) = data.split_at(data.len().min(usize::from(*data.first().unwrap_or(&0))));
    let (b, c) = rest.split_at(rest.len() / 2);
    // A P-256 point and an Ed25519 key that are valid (the generators' encodings).
    let p256_g = {
        let mut g = [0u8; 65];
        g[0] = 4;
        g[1..33].copy_from_slice(&[
            0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
            0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45,
            0xd8, 0x98, 0xc2, 0x96,
        ]);
        g[33..].copy_from_slice(&[
            0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f,
            0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68,
            0x37, 0xbf, 0x51, 0xf5,
        ]);
        g
    };
    let keys = [
        PublicKey::from_raw(CoseAlg::Es256, &p256_g),
        // The Ed25519 base point.
        PublicKey::from_raw(
            CoseAlg::EdDsa,
            &[
                0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                0x66, 0x66, 0x66, 0x66,
            ],
        ),
    ];
    assert!(keys.iter().all(Option::is_some), "the fixed keys are keys");
    let credentials: Vec<Credential> = keys
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, public_key)| Credential {
            credential_id: if i == 0 { b"cred".to_vec() } else { Vec::new() },
            public_key,
            rp_id: "pam://fuzz".into(),
            presence: true,
            verification: UserVerification::Preferred,
            pin: false,
            resident: i != 0,
            backup: Some((false, false)),
            sign_count: 1,
            origin: Origin::Enrolled,
        })
        .collect();
    let response = AssertionResponse {
        credential_id: (!c.is_empty()).then(|| c.to_vec()),
        auth_data: a.to_vec(),
        signature: b.to_vec(),
    };
    assert!(
        verify_assertion(&credentials, &response, &[3; 32], false).is_err(),
        "an assertion verified without a private key"
    );
    let request = CredentialRequest {
        rp_id: "pam://fuzz".into(),
        challenge: [5; 32],
        user_id: vec![1; 16],
        user_name: "fuzz".into(),
        algorithms: vec![CoseAlg::Es256, CoseAlg::EdDsa],
        resident: false,
        verification: false,
        exclude_list: Vec::new(),
    };
    for format in ["packed", "none", "fido-u2f"] {
        let answer = AttestationResponse {
            format: format.into(),
            auth_data: data.to_vec(),
            statement_alg: Some(-7),
            statement_sig: b.to_vec(),
            x5c: if c.is_empty() {
                Vec::new()
            } else {
                vec![c.to_vec()]
            },
        };
        let _ = read_attestation(&request, &answer);
    }
}

/// OpenSSH public key lines and sshd's SSH_AUTH_INFO_0: whatever is read back out agrees with
/// what went in.
pub fn ssh_key(text: &str) {
    use crate::factor::ssh_key::{SkPublicKey, accepted_keys, matches, parse_public_key};
    if let Ok(k) = parse_public_key(text) {
        let Ok(again) = SkPublicKey::from_blob(&k.blob) else {
            panic!("a parsed key's blob does not parse");
        };
        assert_eq!(again.blob, k.blob);
        assert_eq!(again.public_key, k.public_key);
    }
    for blob in accepted_keys(text) {
        assert!(
            SkPublicKey::from_blob(&blob).is_ok(),
            "an accepted blob is an sk key"
        );
        assert!(matches(&blob, std::slice::from_ref(&blob)));
    }
    let _ = SkPublicKey::from_blob(text.as_bytes());
}
