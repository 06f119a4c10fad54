use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use coset::cbor::value::Value;
use coset::{CborSerializable, CoseKey, KeyType, Label, RegisteredLabelWithPrivate, iana};
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::*;
use crate::with_deadline;

const RP: &str = "pam://testhost";

fn key_with(options: SoftOptions) -> (TempDir, SoftKey) {
    let dir = tempfile::tempdir().unwrap();
    let key = SoftKey::create(dir.path().join("key.json"), options).unwrap();
    (dir, key)
}

fn key() -> (TempDir, SoftKey) {
    key_with(SoftOptions::default())
}

fn enroll_request(alg: CoseAlg) -> CredentialRequest {
    CredentialRequest {
        rp_id: RP.into(),
        challenge: [7; 32],
        user_id: vec![1, 2, 3, 4],
        user_name: "alice".into(),
        algorithms: vec![alg],
        resident: false,
        verification: false,
        exclude_list: Vec::new(),
    }
}

fn login_request(allow_list: Vec<Vec<u8>>) -> AssertionRequest {
    AssertionRequest {
        rp_id: RP.into(),
        challenge: [9; 32],
        allow_list,
        presence: true,
        verification: false,
        pin: false,
    }
}

/// authenticatorData read by hand.
struct AuthData {
    rp_id_hash: Vec<u8>,
    flags: u8,
    sign_count: u32,
    attested: Option<Attested>,
}

struct Attested {
    aaguid: Vec<u8>,
    id: Vec<u8>,
    cose: CoseKey,
    /// The COSE_Key's bytes.
    raw: Vec<u8>,
}

fn parse(data: &[u8]) -> AuthData {
    assert!(data.len() >= 37, "authData too short");
    let flags = data[32];
    let sign_count = u32::from_be_bytes(data[33..37].try_into().unwrap());
    let attested = (flags & 0x40 != 0).then(|| {
        let aaguid = data[37..53].to_vec();
        let id_len = usize::from(u16::from_be_bytes([data[53], data[54]]));
        let id = data[55..55 + id_len].to_vec();
        // No extensions: the COSE_Key is the rest, and from_slice refuses trailing bytes.
        let raw = data[55 + id_len..].to_vec();
        let cose = CoseKey::from_slice(&raw).unwrap();
        Attested {
            aaguid,
            id,
            cose,
            raw,
        }
    });
    if flags & 0x40 == 0 {
        assert_eq!(
            data.len(),
            37,
            "an assertion's authData has nothing after signCount"
        );
    }
    AuthData {
        rp_id_hash: data[..32].to_vec(),
        flags,
        sign_count,
        attested,
    }
}

fn param(key: &CoseKey, label: i64) -> Value {
    key.params
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("COSE_Key has no parameter {label}"))
}

fn bytes(v: Value) -> Vec<u8> {
    v.into_bytes().unwrap()
}

/// The public key in a COSE_Key, checking its kty, alg and crv.
fn public_key_of(key: &CoseKey) -> PublicKey {
    match key.alg {
        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256)) => {
            assert_eq!(key.kty, KeyType::Assigned(iana::KeyType::EC2));
            assert_eq!(param(key, -1), Value::from(1));
            let mut point = vec![4];
            point.extend(bytes(param(key, -2)));
            point.extend(bytes(param(key, -3)));
            PublicKey::from_raw(CoseAlg::Es256, &point).unwrap()
        }
        Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA)) => {
            assert_eq!(key.kty, KeyType::Assigned(iana::KeyType::OKP));
            assert_eq!(param(key, -1), Value::from(6));
            PublicKey::from_raw(CoseAlg::EdDsa, &bytes(param(key, -2))).unwrap()
        }
        ref other => panic!("unexpected COSE alg {other:?}"),
    }
}

/// Check `signature` over authData ‖ SHA-256(client_data_hash), as a verifier would.
fn verify(key: &PublicKey, auth_data: &[u8], client_data_hash: &[u8; 32], signature: &[u8]) {
    let mut message = auth_data.to_vec();
    message.extend_from_slice(&Sha256::digest(client_data_hash));
    match key {
        PublicKey::Es256(point) => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
            let signature = p256::ecdsa::Signature::from_der(signature).unwrap();
            key.verify(&message, &signature).unwrap();
        }
        PublicKey::EdDsa(raw) => {
            let key = ed25519_dalek::VerifyingKey::from_bytes(raw).unwrap();
            let signature = ed25519_dalek::Signature::from_slice(signature).unwrap();
            key.verify_strict(&message, &signature).unwrap();
        }
    }
}

/// Enroll with `alg` and check everything in the answer; the credential's id and public key.
fn enroll_and_check(key: &mut SoftKey, alg: CoseAlg) -> (Vec<u8>, PublicKey) {
    let request = enroll_request(alg);
    let made = key.make_credential(&request, None).unwrap();
    assert_eq!(made.format, "packed");
    assert_eq!(made.statement_alg, Some(alg.cose()));
    assert!(made.x5c.is_empty(), "self attestation has no certificate");

    let data = parse(&made.auth_data);
    assert_eq!(data.rp_id_hash, Sha256::digest(RP.as_bytes()).to_vec());
    assert_eq!(data.flags, 0x41, "UP and AT");
    assert_eq!(data.sign_count, 0);
    let Attested {
        aaguid,
        id,
        cose,
        raw,
    } = data.attested.unwrap();
    assert_eq!(aaguid, AAGUID);
    // CTAP2 canonical CBOR: kty 1, alg 3, crv -1, x -2 (32 bytes), then y -3 for EC2.
    let head: &[u8] = match alg {
        CoseAlg::Es256 => &[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20],
        CoseAlg::EdDsa => &[0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58, 0x20],
    };
    assert_eq!(&raw[..head.len()], head);
    if alg == CoseAlg::Es256 {
        assert_eq!(&raw[42..45], [0x22, 0x58, 0x20]);
        assert_eq!(raw.len(), 77);
    } else {
        assert_eq!(raw.len(), 42);
    }
    let public = public_key_of(&cose);
    verify(
        &public,
        &made.auth_data,
        &request.challenge,
        &made.statement_sig,
    );

    let stored = SoftKey::credentials(key.path()).unwrap();
    let last = stored.last().unwrap();
    assert_eq!(last.id, id);
    assert_eq!(last.public_key().unwrap(), public);
    (id, public)
}

#[test]
fn es256_credential_has_byte_exact_auth_data_and_a_valid_self_attestation() {
    let (_dir, mut key) = key();
    enroll_and_check(&mut key, CoseAlg::Es256);
}

#[test]
fn eddsa_credential_has_byte_exact_auth_data_and_a_valid_self_attestation() {
    let (_dir, mut key) = key();
    enroll_and_check(&mut key, CoseAlg::EdDsa);
}

#[test]
fn assertions_verify_and_the_counter_increments_per_credential() {
    let (_dir, mut key) = key();
    for alg in [CoseAlg::Es256, CoseAlg::EdDsa] {
        let (id, public) = enroll_and_check(&mut key, alg);
        for expected in 1..=3 {
            let request = login_request(vec![b"unknown".to_vec(), id.clone()]);
            let answer = key.get_assertion(&request, None).unwrap();
            assert_eq!(answer.credential_id.as_ref(), Some(&id));
            let data = parse(&answer.auth_data);
            assert_eq!(data.rp_id_hash, Sha256::digest(RP.as_bytes()).to_vec());
            assert_eq!(data.flags, 0x01, "UP only");
            assert_eq!(data.sign_count, expected);
            verify(
                &public,
                &answer.auth_data,
                &request.challenge,
                &answer.signature,
            );
        }
    }
    let counts: Vec<u32> = SoftKey::credentials(key.path())
        .unwrap()
        .iter()
        .map(|c| c.sign_count)
        .collect();
    assert_eq!(counts, [3, 3]);
}

#[test]
fn zero_counter_always_reports_zero() {
    let (_dir, mut key) = key_with(SoftOptions {
        counter: Counter::Zero,
        ..SoftOptions::default()
    });
    let (id, _) = enroll_and_check(&mut key, CoseAlg::Es256);
    for _ in 0..2 {
        let answer = key
            .get_assertion(&login_request(vec![id.clone()]), None)
            .unwrap();
        assert_eq!(parse(&answer.auth_data).sign_count, 0);
    }
}

#[test]
fn fixed_counter_repeats_the_stored_value_like_a_clone() {
    let (_dir, mut key) = key();
    let (id, _) = enroll_and_check(&mut key, CoseAlg::Es256);
    key.get_assertion(&login_request(vec![id.clone()]), None)
        .unwrap();
    SoftKey::update(key.path(), |s| s.options.counter = Counter::Fixed).unwrap();
    for _ in 0..2 {
        let answer = key
            .get_assertion(&login_request(vec![id.clone()]), None)
            .unwrap();
        assert_eq!(parse(&answer.auth_data).sign_count, 1);
    }
}

#[test]
fn a_key_with_a_pin_wants_it_counts_wrong_ones_and_blocks_at_zero() {
    let (_dir, mut key) = key_with(SoftOptions {
        pin: Some("1234".into()),
        ..SoftOptions::default()
    });
    assert_eq!(
        key.info().unwrap(),
        DeviceInfo {
            pin_set: true,
            builtin_uv: false
        }
    );
    let mut request = enroll_request(CoseAlg::Es256);
    request.verification = true;
    assert_eq!(
        key.make_credential(&request, None).err(),
        Some(DeviceError::PinRequired)
    );
    assert_eq!(
        key.make_credential(&request, Some("0000")).err(),
        Some(DeviceError::PinInvalid { retries: Some(7) })
    );
    assert_eq!(SoftKey::state(key.path()).unwrap().pin_retries, 7);

    let made = key.make_credential(&request, Some("1234")).unwrap();
    assert_eq!(parse(&made.auth_data).flags, 0x45, "UP, UV and AT");
    assert_eq!(SoftKey::state(key.path()).unwrap().pin_retries, PIN_RETRIES);
    // A correct PIN verifies the user whether verification was asked or not, as on a CTAP2 key
    // (UV for any valid pinUvAuthParam).
    request.verification = false;
    let made = key.make_credential(&request, Some("1234")).unwrap();
    assert_eq!(
        parse(&made.auth_data).flags,
        0x45,
        "the PIN sets UV unasked"
    );

    let id = SoftKey::credentials(key.path()).unwrap()[0].id.clone();
    let mut login = login_request(vec![id]);
    login.verification = true;
    let without_pin = key.get_assertion(&login, None).unwrap();
    assert_eq!(
        parse(&without_pin.auth_data).flags,
        0x01,
        "no UV without the PIN"
    );
    let with_pin = key.get_assertion(&login, Some("1234")).unwrap();
    assert_eq!(parse(&with_pin.auth_data).flags, 0x05, "UP and UV");
    login.verification = false;
    let unasked = key.get_assertion(&login, Some("1234")).unwrap();
    assert_eq!(
        parse(&unasked.auth_data).flags,
        0x05,
        "the PIN sets UV unasked"
    );
    assert_eq!(
        parse(&key.get_assertion(&login, None).unwrap().auth_data).flags,
        0x01
    );
    login.verification = true;
    login.pin = true;
    assert_eq!(
        key.get_assertion(&login, None).err(),
        Some(DeviceError::PinRequired)
    );

    for left in (1..PIN_RETRIES).rev() {
        assert_eq!(
            key.get_assertion(&login, Some("9999")).err(),
            Some(DeviceError::PinInvalid {
                retries: Some(left)
            })
        );
    }
    assert_eq!(
        key.get_assertion(&login, Some("9999")).err(),
        Some(DeviceError::PinBlocked)
    );
    assert_eq!(
        key.get_assertion(&login, Some("1234")).err(),
        Some(DeviceError::PinBlocked)
    );
}

#[test]
fn builtin_uv_sets_uv_when_asked_without_a_pin_and_a_pin_for_a_key_without_one_is_refused() {
    let (_dir, mut key) = key_with(SoftOptions {
        uv: true,
        ..SoftOptions::default()
    });
    let mut request = enroll_request(CoseAlg::EdDsa);
    request.verification = true;
    let made = key.make_credential(&request, None).unwrap();
    assert_eq!(parse(&made.auth_data).flags, 0x45);
    let id = SoftKey::credentials(key.path()).unwrap()[0].id.clone();
    let mut login = login_request(vec![id]);
    login.verification = true;
    let verified = key.get_assertion(&login, None).unwrap();
    assert_eq!(parse(&verified.auth_data).flags, 0x05, "UP and UV");
    // Built-in UV is used only when asked for.
    login.verification = false;
    let unasked = key.get_assertion(&login, None).unwrap();
    assert_eq!(parse(&unasked.auth_data).flags, 0x01, "UP alone");
    request.verification = false;
    let made = key.make_credential(&request, None).unwrap();
    assert_eq!(parse(&made.auth_data).flags, 0x41, "UP and AT");
    request.verification = true;
    assert!(matches!(
        key.make_credential(&request, Some("1234")),
        Err(DeviceError::Unsupported(_))
    ));
}

#[test]
fn a_request_that_says_pin_wants_one_even_from_a_key_without_one() {
    let (_dir, mut key) = key();
    let (id, _) = enroll_and_check(&mut key, CoseAlg::Es256);
    let mut login = login_request(vec![id]);
    login.pin = true;
    assert_eq!(
        key.get_assertion(&login, None).err(),
        Some(DeviceError::PinRequired)
    );
}

#[test]
fn no_presence_asked_means_no_touch_and_no_up_flag() {
    let (_dir, mut key) = key();
    let (id, _) = enroll_and_check(&mut key, CoseAlg::Es256);
    SoftKey::update(key.path(), |s| s.options.touch = Touch::Never).unwrap();
    let mut login = login_request(vec![id]);
    login.presence = false;
    let answer = key.get_assertion(&login, None).unwrap();
    assert_eq!(parse(&answer.auth_data).flags, 0x00);
}

#[test]
fn a_key_never_touched_is_abandoned_at_the_deadline() {
    let (_dir, key) = key_with(SoftOptions {
        touch: Touch::Never,
        ..SoftOptions::default()
    });
    let started = Instant::now();
    let mut moved = key.clone();
    let answer = with_deadline(Duration::from_millis(200), move || {
        moved.make_credential(&enroll_request(CoseAlg::Es256), None)
    });
    assert!(answer.is_none());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_touch_delay_is_waited_for() {
    let (_dir, mut key) = key_with(SoftOptions {
        touch: Touch::DelayMs(150),
        ..SoftOptions::default()
    });
    let started = Instant::now();
    key.make_credential(&enroll_request(CoseAlg::Es256), None)
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[test]
fn allow_lists_resident_credentials_and_exclusion() {
    let (_dir, mut key) = key();
    let (plain, _) = enroll_and_check(&mut key, CoseAlg::Es256);
    let mut resident = enroll_request(CoseAlg::Es256);
    resident.resident = true;
    key.make_credential(&resident, None).unwrap();
    key.make_credential(&resident, None).unwrap();
    let held = SoftKey::credentials(key.path()).unwrap();
    assert_eq!(
        held.len(),
        2,
        "a resident credential replaces the user's older one"
    );
    let newest_resident = held[1].id.clone();

    let found = key.get_assertion(&login_request(Vec::new()), None).unwrap();
    assert_eq!(found.credential_id, Some(newest_resident));
    let listed = login_request(vec![plain.clone(), held[1].id.clone()]);
    assert_eq!(
        key.get_assertion(&listed, None).unwrap().credential_id,
        Some(plain.clone())
    );
    assert_eq!(
        key.get_assertion(&login_request(vec![b"other".to_vec()]), None)
            .err(),
        Some(DeviceError::NoCredentials)
    );
    let mut elsewhere = login_request(vec![plain.clone()]);
    elsewhere.rp_id = "pam://otherhost".into();
    assert_eq!(
        key.get_assertion(&elsewhere, None).err(),
        Some(DeviceError::NoCredentials)
    );

    let mut again = enroll_request(CoseAlg::Es256);
    again.exclude_list = vec![plain];
    assert_eq!(
        key.make_credential(&again, None).err(),
        Some(DeviceError::Excluded)
    );
}

#[test]
fn unsupported_algorithms_are_refused() {
    let (_dir, mut key) = key_with(SoftOptions {
        algorithms: vec![SoftAlg::Es256],
        ..SoftOptions::default()
    });
    assert!(matches!(
        key.make_credential(&enroll_request(CoseAlg::EdDsa), None),
        Err(DeviceError::Unsupported(_))
    ));
}

#[test]
fn backup_flags_are_set_as_configured() {
    let (_dir, mut key) = key_with(SoftOptions {
        backup_eligible: true,
        backup_state: true,
        ..SoftOptions::default()
    });
    let made = key
        .make_credential(&enroll_request(CoseAlg::Es256), None)
        .unwrap();
    assert_eq!(parse(&made.auth_data).flags, 0x59, "UP, BE, BS and AT");
}

#[test]
fn the_fail_knob_fails_every_request_and_can_panic() {
    let (_dir, mut key) = key_with(SoftOptions {
        fail: Some(Failure::NoTouch),
        ..SoftOptions::default()
    });
    assert!(key.info().is_ok());
    assert_eq!(
        key.make_credential(&enroll_request(CoseAlg::Es256), None)
            .err(),
        Some(DeviceError::NoTouch)
    );
    SoftKey::update(key.path(), |s| s.options.fail = Some(Failure::Panic)).unwrap();
    let mut moved = key.clone();
    let answer = with_deadline(Duration::from_secs(5), move || {
        moved.get_assertion(&login_request(Vec::new()), None)
    });
    assert!(answer.is_none(), "a panicking request is caught");
}

#[test]
fn several_paths_are_several_keys_each_created_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    let mut list = a.as_os_str().to_owned();
    list.push("::");
    list.push(&b);
    let keys = open_all(&list).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        keys[0].describe(),
        format!("software key at {}", a.display())
    );
    assert_eq!(
        keys[1].describe(),
        format!("software key at {}", b.display())
    );
    for path in [&a, &b] {
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    assert_eq!(open_all(OsStr::new("")).err(), Some(DeviceError::NoDevice));
}

#[test]
fn a_hand_written_file_is_read_and_a_misspelt_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.json");
    std::fs::write(
        &path,
        r#"{"options": {"touch": 250, "pin": "1234", "counter": "fixed"}}"#,
    )
    .unwrap();
    let state = SoftKey::state(&path).unwrap();
    assert_eq!(state.options.touch, Touch::DelayMs(250));
    assert_eq!(state.options.pin.as_deref(), Some("1234"));
    assert_eq!(state.options.counter, Counter::Fixed);
    assert_eq!(state.pin_retries, PIN_RETRIES);

    std::fs::write(&path, r#"{"options": {"tuch": "never"}}"#).unwrap();
    assert!(matches!(SoftKey::open(&path), Err(DeviceError::Io(m)) if m.contains("tuch")));
    std::fs::write(&path, r#"{"options": {"touch": "maybe"}}"#).unwrap();
    assert!(matches!(SoftKey::open(&path), Err(DeviceError::Io(_))));
}

#[test]
fn the_state_round_trips_and_debug_hides_private_keys() {
    let (_dir, mut key) = key();
    enroll_and_check(&mut key, CoseAlg::EdDsa);
    let state = SoftKey::state(key.path()).unwrap();
    let text = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<SoftState>(&text).unwrap(), state);
    let secret = state::hex::encode(&state.credentials[0].private_key);
    assert!(text.contains(&secret));
    assert!(!format!("{state:?}").contains(&secret));
}
