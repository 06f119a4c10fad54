//! Every refusal of the verifier, each with its reason, against keys that sign for real.

use sha2::{Digest, Sha256};

use super::*;
use crate::factor::fido2::{Origin, PublicKey, UserVerification};

const RP: &str = "pam://host.example";

use super::super::testkey::TestKey as Key;

fn credential(key: &Key, id: &[u8]) -> Credential {
    Credential {
        credential_id: id.to_vec(),
        public_key: key.public(),
        rp_id: RP.to_string(),
        presence: true,
        verification: UserVerification::Preferred,
        pin: false,
        resident: false,
        backup: Some((false, false)),
        sign_count: 10,
        origin: Origin::Enrolled,
    }
}

fn auth_data(rp: &str, flags: u8, count: u32) -> Vec<u8> {
    let mut a = Sha256::digest(rp.as_bytes()).to_vec();
    a.push(flags);
    a.extend_from_slice(&count.to_be_bytes());
    a
}

fn answer(key: &Key, id: &[u8], auth: Vec<u8>, challenge: &[u8; 32]) -> AssertionResponse {
    key.assert_raw(id, auth, challenge)
}

const CDH: [u8; 32] = [7; 32];

#[test]
fn a_good_assertion_of_either_algorithm_is_accepted() {
    for key in [Key::p256(3), Key::ed(4)] {
        let creds = [credential(&key, b"id-1")];
        let r = answer(&key, b"id-1", auth_data(RP, FLAG_UP, 11), &CDH);
        let v = verify_assertion(&creds, &r, &CDH, false).expect("accepted");
        assert_eq!(
            v,
            Verified {
                index: 0,
                sign_count: 11,
                user_verified: false
            }
        );
    }
}

#[test]
fn the_signing_credential_is_found_among_several() {
    let (a, b) = (Key::p256(1), Key::ed(2));
    let creds = [credential(&a, b"a"), credential(&b, b"b")];
    let r = answer(&b, b"b", auth_data(RP, FLAG_UP | FLAG_UV, 11), &CDH);
    let v = verify_assertion(&creds, &r, &CDH, true).expect("accepted");
    assert_eq!((v.index, v.user_verified), (1, true));
}

fn refusal(creds: &[Credential], r: &AssertionResponse, uv: bool) -> Refusal {
    verify_assertion(creds, r, &CDH, uv).expect_err("refused")
}

#[test]
fn a_signature_by_another_key_or_over_other_data_is_refused() {
    let key = Key::p256(3);
    let creds = [credential(&key, b"id")];
    let other = answer(&Key::p256(9), b"id", auth_data(RP, FLAG_UP, 11), &CDH);
    assert_eq!(refusal(&creds, &other, false), Refusal::BadSignature);
    // Signed over another challenge: a replayed assertion.
    let replayed = answer(&key, b"id", auth_data(RP, FLAG_UP, 11), &[8; 32]);
    assert_eq!(refusal(&creds, &replayed, false), Refusal::BadSignature);
    // Flags changed after signing.
    let mut tampered = answer(&key, b"id", auth_data(RP, 0, 11), &CDH);
    tampered.auth_data[32] = FLAG_UP;
    assert_eq!(refusal(&creds, &tampered, false), Refusal::BadSignature);
    let ed = Key::ed(5);
    let creds = [credential(&ed, b"id")];
    let mut r = answer(&ed, b"id", auth_data(RP, FLAG_UP, 11), &CDH);
    r.signature[10] ^= 1;
    assert_eq!(refusal(&creds, &r, false), Refusal::BadSignature);
}

#[test]
fn the_key_signs_the_hash_of_the_challenge_not_the_challenge() {
    let key = Key::p256(3);
    let creds = [credential(&key, b"id")];
    let auth = auth_data(RP, FLAG_UP, 11);
    let mut raw = auth.clone();
    raw.extend_from_slice(&CDH);
    let r = AssertionResponse {
        credential_id: Some(b"id".to_vec()),
        signature: key.sign(&raw),
        auth_data: auth,
    };
    assert_eq!(refusal(&creds, &r, false), Refusal::BadSignature);
}

#[test]
fn a_signature_of_the_wrong_shape_is_malformed() {
    for key in [Key::p256(3), Key::ed(4)] {
        let creds = [credential(&key, b"id")];
        let mut r = answer(&key, b"id", auth_data(RP, FLAG_UP, 11), &CDH);
        r.signature.truncate(20);
        assert_eq!(refusal(&creds, &r, false), Refusal::MalformedSignature);
    }
}

#[test]
fn the_rp_id_hash_must_be_the_credentials() {
    let key = Key::ed(4);
    let creds = [credential(&key, b"id")];
    let r = answer(&key, b"id", auth_data("pam://other", FLAG_UP, 11), &CDH);
    assert_eq!(refusal(&creds, &r, false), Refusal::RpIdMismatch);
}

#[test]
fn presence_is_required_unless_the_credential_waives_it() {
    let key = Key::p256(3);
    let mut creds = [credential(&key, b"id")];
    let r = answer(&key, b"id", auth_data(RP, 0, 11), &CDH);
    assert_eq!(refusal(&creds, &r, false), Refusal::NoPresence);
    creds[0].presence = false;
    assert!(verify_assertion(&creds, &r, &CDH, false).is_ok());
}

#[test]
fn verification_is_required_by_the_credential_or_the_policy() {
    let key = Key::p256(3);
    let mut creds = [credential(&key, b"id")];
    let r = answer(&key, b"id", auth_data(RP, FLAG_UP, 11), &CDH);
    // The policy requires it.
    assert_eq!(refusal(&creds, &r, true), Refusal::NoVerification);
    // The credential requires it.
    creds[0].verification = UserVerification::Required;
    assert_eq!(refusal(&creds, &r, false), Refusal::NoVerification);
    let r = answer(&key, b"id", auth_data(RP, FLAG_UP | FLAG_UV, 11), &CDH);
    assert!(verify_assertion(&creds, &r, &CDH, false).is_ok());
    // A credential that asks for the PIN: the key must have verified.
    creds[0].verification = UserVerification::Discouraged;
    creds[0].pin = true;
    let r = answer(&key, b"id", auth_data(RP, FLAG_UP, 12), &CDH);
    assert_eq!(refusal(&creds, &r, false), Refusal::NoVerification);
}

#[test]
fn a_counter_that_does_not_increase_is_refused_as_a_possible_clone() {
    let key = Key::ed(4);
    let creds = [credential(&key, b"id")];
    for count in [10, 9, 0] {
        let r = answer(&key, b"id", auth_data(RP, FLAG_UP, count), &CDH);
        let why = refusal(&creds, &r, false);
        assert_eq!(
            why,
            Refusal::CounterNotIncreased {
                stored: 10,
                received: count
            }
        );
        assert!(why.possible_clone());
    }
    // A key that keeps no counter: zero after zero is fine.
    let mut zero = creds.clone();
    zero[0].sign_count = 0;
    let r = answer(&key, b"id", auth_data(RP, FLAG_UP, 0), &CDH);
    assert!(verify_assertion(&zero, &r, &CDH, false).is_ok());
}

#[test]
fn backup_eligibility_must_not_change() {
    let key = Key::p256(3);
    let mut creds = [credential(&key, b"id")];
    let r = answer(&key, b"id", auth_data(RP, FLAG_UP | FLAG_BE, 11), &CDH);
    assert_eq!(refusal(&creds, &r, false), Refusal::BackupChanged);
    let r = answer(&key, b"id", auth_data(RP, FLAG_UP | FLAG_BS, 11), &CDH);
    assert_eq!(refusal(&creds, &r, false), Refusal::BackupChanged);
    // An eligible key may back up or stop.
    creds[0].backup = Some((true, false));
    let r = answer(
        &key,
        b"id",
        auth_data(RP, FLAG_UP | FLAG_BE | FLAG_BS, 11),
        &CDH,
    );
    assert!(verify_assertion(&creds, &r, &CDH, false).is_ok());
    let r = answer(&key, b"id", auth_data(RP, FLAG_UP, 11), &CDH);
    assert_eq!(refusal(&creds, &r, false), Refusal::BackupChanged);
    // Unknown at enrollment (imported): not checked.
    creds[0].backup = None;
    assert!(verify_assertion(&creds, &r, &CDH, false).is_ok());
}

#[test]
fn an_unknown_credential_is_refused() {
    let key = Key::p256(3);
    let creds = [credential(&key, b"id")];
    let r = answer(&key, b"other", auth_data(RP, FLAG_UP, 11), &CDH);
    assert_eq!(refusal(&creds, &r, false), Refusal::UnknownCredential);
    assert_eq!(refusal(&[], &r, false), Refusal::UnknownCredential);
}

#[test]
fn a_resident_credential_is_found_by_its_key() {
    let (a, b) = (Key::ed(1), Key::p256(2));
    let creds = [credential(&a, b""), credential(&b, b"")];
    let r = answer(&b, b"made-up-by-the-key", auth_data(RP, FLAG_UP, 11), &CDH);
    assert_eq!(
        verify_assertion(&creds, &r, &CDH, false).map(|v| v.index),
        Ok(1)
    );
    let r = answer(&Key::ed(3), b"x", auth_data(RP, FLAG_UP, 11), &CDH);
    assert_eq!(refusal(&creds, &r, false), Refusal::BadSignature);
}

#[test]
fn truncated_authenticator_data_is_refused() {
    let key = Key::p256(3);
    let creds = [credential(&key, b"id")];
    for len in [0, 32, 36] {
        let mut r = answer(&key, b"id", auth_data(RP, FLAG_UP, 11), &CDH);
        r.auth_data.truncate(len);
        assert_eq!(refusal(&creds, &r, false), Refusal::Truncated);
    }
}

#[test]
fn a_malformed_stored_key_is_never_a_key() {
    assert!(PublicKey::from_raw(super::super::CoseAlg::Es256, &[4; 65]).is_none());
    assert!(PublicKey::from_raw(super::super::CoseAlg::Es256, &[1; 64]).is_none());
    assert!(PublicKey::from_raw(super::super::CoseAlg::Es256, &[4; 10]).is_none());
    assert!(PublicKey::from_raw(super::super::CoseAlg::EdDsa, &[4; 31]).is_none());
}
