//! A new credential is read from real signatures, and every broken answer is refused.

use sha2::{Digest, Sha256};

use super::*;

const RP: &str = "pam://host.example";
const CDH: [u8; 32] = [9; 32];

fn request() -> CredentialRequest {
    CredentialRequest {
        rp_id: RP.into(),
        challenge: CDH,
        user_id: vec![1; 16],
        user_name: "alice".into(),
        algorithms: vec![CoseAlg::Es256, CoseAlg::EdDsa],
        resident: false,
        verification: false,
        exclude_list: Vec::new(),
    }
}

use super::super::testkey::TestKey as Key;

fn p256_key() -> Key {
    Key::p256(3)
}

fn ed_key() -> Key {
    Key::ed(5)
}

fn auth_data(rp: &str, flags: u8, key: &Key, id: &[u8]) -> Vec<u8> {
    let mut a = Sha256::digest(rp.as_bytes()).to_vec();
    a.push(flags);
    a.extend_from_slice(&3u32.to_be_bytes());
    a.extend_from_slice(&[0xAA; 16]);
    a.extend_from_slice(&u16::try_from(id.len()).expect("len").to_be_bytes());
    a.extend_from_slice(id);
    a.extend_from_slice(&key.cose());
    a
}

fn packed_self(key: &Key, auth: Vec<u8>) -> AttestationResponse {
    let mut m = auth.clone();
    m.extend_from_slice(&crate::factor::fido2::client_data_hash(&CDH));
    AttestationResponse {
        format: "packed".into(),
        statement_sig: key.sign(&m),
        statement_alg: Some(key.alg().cose()),
        x5c: Vec::new(),
        auth_data: auth,
    }
}

#[test]
fn a_self_attested_credential_of_either_algorithm_is_read() {
    for (key, alg) in [(p256_key(), CoseAlg::Es256), (ed_key(), CoseAlg::EdDsa)] {
        let r = packed_self(
            &key,
            auth_data(RP, FLAG_UP | FLAG_AT | FLAG_BE, &key, b"cred"),
        );
        let c = read_attestation(&request(), &r).expect("read");
        assert_eq!(c.credential_id, b"cred");
        assert_eq!(c.public_key.alg(), alg);
        assert_eq!(
            (c.backup, c.sign_count, c.aaguid),
            ((true, false), 3, [0xAA; 16])
        );
    }
}

#[test]
fn a_self_attestation_that_does_not_verify_is_refused() {
    let key = p256_key();
    let mut r = packed_self(&key, auth_data(RP, FLAG_UP | FLAG_AT, &key, b"cred"));
    r.statement_sig = ed_key().sign(b"x");
    assert!(matches!(
        read_attestation(&request(), &r),
        Err(AttestationError::BadStatement(_))
    ));
    // Signed over another challenge.
    let mut req = request();
    req.challenge = [1; 32];
    let r = packed_self(&key, auth_data(RP, FLAG_UP | FLAG_AT, &key, b"cred"));
    assert!(matches!(
        read_attestation(&req, &r),
        Err(AttestationError::BadStatement(_))
    ));
    // A statement alg other than the credential's.
    let mut r = packed_self(&key, auth_data(RP, FLAG_UP | FLAG_AT, &key, b"cred"));
    r.statement_alg = Some(-8);
    assert!(read_attestation(&request(), &r).is_err());
}

#[test]
fn the_rp_presence_and_verification_are_checked() {
    let key = ed_key();
    let r = packed_self(
        &key,
        auth_data("pam://other", FLAG_UP | FLAG_AT, &key, b"c"),
    );
    assert_eq!(
        read_attestation(&request(), &r),
        Err(AttestationError::RpIdMismatch)
    );
    let r = packed_self(&key, auth_data(RP, FLAG_AT, &key, b"c"));
    assert_eq!(
        read_attestation(&request(), &r),
        Err(AttestationError::NoPresence)
    );
    let mut req = request();
    req.verification = true;
    let r = packed_self(&key, auth_data(RP, FLAG_UP | FLAG_AT, &key, b"c"));
    assert_eq!(
        read_attestation(&req, &r),
        Err(AttestationError::NoVerification)
    );
    let r = packed_self(&key, auth_data(RP, FLAG_UP | FLAG_UV | FLAG_AT, &key, b"c"));
    assert!(read_attestation(&req, &r).expect("read").user_verified);
}

#[test]
fn an_algorithm_not_asked_for_is_refused() {
    let key = ed_key();
    let mut req = request();
    req.algorithms = vec![CoseAlg::Es256];
    let r = packed_self(&key, auth_data(RP, FLAG_UP | FLAG_AT, &key, b"c"));
    assert!(matches!(
        read_attestation(&req, &r),
        Err(AttestationError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn truncated_or_padded_data_and_unknown_formats_are_refused() {
    let key = p256_key();
    let whole = auth_data(RP, FLAG_UP | FLAG_AT, &key, b"cred");
    for len in [10, 37, 50, 56, whole.len() - 1] {
        let mut a = whole.clone();
        a.truncate(len);
        let r = packed_self(&key, a);
        assert!(
            matches!(
                read_attestation(&request(), &r),
                Err(AttestationError::Malformed(_))
            ),
            "length {len}"
        );
    }
    let mut a = whole.clone();
    a.push(0);
    let r = packed_self(&key, a);
    assert!(matches!(
        read_attestation(&request(), &r),
        Err(AttestationError::Malformed(_))
    ));
    // No attested credential data.
    let r = packed_self(&key, whole[..37].to_vec());
    assert!(matches!(
        read_attestation(&request(), &r),
        Err(AttestationError::Malformed(_))
    ));
    let mut r = packed_self(&key, whole.clone());
    r.format = "tpm".into();
    assert!(matches!(
        read_attestation(&request(), &r),
        Err(AttestationError::UnsupportedFormat(_))
    ));
    // The format is the key's own text: escaped and cut before it reaches a terminal.
    let mut r = packed_self(&key, whole.clone());
    r.format = format!("x\u{1b}]0;pwned\u{7}\u{1b}[2J\r\n\"{}", "y".repeat(200));
    let e = read_attestation(&request(), &r).unwrap_err();
    let shown = e.to_string();
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(
        shown.starts_with(&format!(
            "attestation format \"x\\u{{1b}}]0;pwned\\u{{7}}\\u{{1b}}[2J\\r\\n\\\"{}…\" is not",
            "y".repeat(46)
        )),
        "{shown}"
    );
    let mut r = packed_self(&key, whole);
    r.format = "none".into();
    assert!(read_attestation(&request(), &r).is_ok());
}
