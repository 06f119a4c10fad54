//! Security keys in a login: requests, verified and refused answers, counting, and SSH keys.

use super::*;
use crate::admin::Fido2Options;
use crate::auth::KeyVerdict;
use crate::factor::fido2::testkey::TestKey;
use crate::factor::fido2::verify::{FLAG_UP, FLAG_UV};
use crate::factor::fido2::{CoseAlg, UserVerification};
use crate::store::{FactorId, FactorStore, Fido2Factor};

/// Enroll a key for alice through the admin API (request, the key's answer, finish).
fn enroll_key(e: &Env, key: &TestKey, id: &[u8], o: &Fido2Options) -> FactorId {
    let pending = e.admin.fido2_request("alice", o).unwrap();
    let answer = key.attest(&pending.request, 0, id);
    e.admin.finish_fido2(&pending, &answer).unwrap().factor_id
}

fn alice(e: &Env) {
    e.admin.add_user("alice", None).unwrap();
}

/// A login of alice that allows three tries.
fn started(e: &Env) -> Box<Login> {
    let req = LoginRequest {
        max_tries: 3,
        ..request("alice")
    };
    match e.auth.begin(req).unwrap() {
        Begin::Prompt(l, _) => l,
        other => panic!("{other:?}"),
    }
}

fn last_detail(e: &Env) -> String {
    let rows = e.store.audit(Some("alice"), 1).unwrap();
    rows[0].detail.clone().unwrap_or_default()
}

#[test]
fn a_touch_logs_in_once_and_a_repeated_counter_is_refused_and_counted() {
    let e = env();
    alice(&e);
    let key = TestKey::p256(3);
    let id = enroll_key(&e, &key, b"cred-1", &Fido2Options::default());
    let mut l = started(&e);
    let reqs = e.auth.fido2_requests(&mut l).unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].allow_list, vec![b"cred-1".to_vec()]);
    assert!(reqs[0].presence);
    let answer = key.assert(&reqs[0], b"cred-1", FLAG_UP, 5);
    match e.auth.fido2_answer(&mut l, 0, &answer).unwrap() {
        Outcome::Accepted(v) => assert_eq!(v.method, Method::Fido2 { factor_id: id }),
        other => panic!("{other:?}"),
    }
    // The same count again (a cloned key, or one reset): refused and counted.
    let mut l = started(&e);
    let reqs = e.auth.fido2_requests(&mut l).unwrap();
    let answer = key.assert(&reqs[0], b"cred-1", FLAG_UP, 5);
    match e.auth.fido2_answer(&mut l, 0, &answer).unwrap() {
        Outcome::Prompt(p) => {
            assert_eq!(p.after, Some(Reject::BadCode));
            assert_eq!(p.info.as_deref(), Some(crate::auth::fido2::KEY_REFUSED));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        last_detail(&e).contains("fido2 counter_not_increased"),
        "{}",
        last_detail(&e)
    );
    assert_eq!(lock_of(&e, "alice").codes.failures, 1);
    let warned = e.sink.messages.lock().unwrap().clone();
    assert!(
        warned
            .iter()
            .any(|(s, m)| *s == Severity::Warning && m.contains("cloned"))
    );
    // The challenge was answered once: the same answer again is no answer of this login.
    assert!(e.auth.fido2_answer(&mut l, 0, &answer).is_err());
}

#[test]
fn an_answer_over_another_challenge_is_refused_and_audited_but_not_counted() {
    let e = env();
    alice(&e);
    let key = TestKey::ed(4);
    enroll_key(&e, &key, b"c", &Fido2Options::default());
    let mut l = started(&e);
    let first = e.auth.fido2_requests(&mut l).unwrap();
    let old = key.assert(&first[0], b"c", FLAG_UP, 1);
    // A new request: the old challenge is gone.
    let reqs = e.auth.fido2_requests(&mut l).unwrap();
    assert_ne!(reqs[0].challenge, first[0].challenge);
    match e.auth.fido2_answer(&mut l, 0, &old).unwrap() {
        Outcome::Prompt(p) => {
            assert_eq!(p.after, None);
            assert_eq!(p.info.as_deref(), Some(crate::auth::fido2::KEY_REFUSED));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(last_detail(&e), "fido2 bad_signature; not counted");
    // A signature over another challenge guesses nothing: no failure counted.
    assert_eq!(lock_of(&e, "alice").codes.failures, 0);
}

#[test]
fn verification_is_asked_for_and_required_where_the_credential_says() {
    let e = env();
    alice(&e);
    let key = TestKey::p256(7);
    let o = Fido2Options {
        verification: Some(UserVerification::Required),
        ..Fido2Options::default()
    };
    // Enrollment itself must be verified.
    let pending = e.admin.fido2_request("alice", &o).unwrap();
    assert!(pending.needs_verification());
    assert!(
        e.admin
            .finish_fido2(&pending, &key.attest(&pending.request, 0, b"c"))
            .is_err()
    );
    let answer = key.attest(&pending.request, FLAG_UV, b"c");
    e.admin.finish_fido2(&pending, &answer).unwrap();
    let mut l = started(&e);
    let reqs = e.auth.fido2_requests(&mut l).unwrap();
    assert!(reqs[0].verification);
    let o = e
        .auth
        .fido2_answer(&mut l, 0, &key.assert(&reqs[0], b"c", FLAG_UP, 1))
        .unwrap();
    assert!(matches!(o, Outcome::Prompt(_)), "{o:?}");
    assert!(last_detail(&e).contains("no_user_verification"));
    let reqs = e.auth.fido2_requests(&mut l).unwrap();
    let ok = key.assert(&reqs[0], b"c", FLAG_UP | FLAG_UV, 2);
    assert!(matches!(
        e.auth.fido2_answer(&mut l, 0, &ok).unwrap(),
        Outcome::Accepted(_)
    ));
}

#[test]
fn several_keys_are_one_request_and_either_answers() {
    let e = env();
    alice(&e);
    let (a, b) = (TestKey::p256(1), TestKey::ed(2));
    enroll_key(&e, &a, b"a", &Fido2Options::default());
    let second = Fido2Options {
        label: Some("spare".into()),
        ..Fido2Options::default()
    };
    let pending = e.admin.fido2_request("alice", &second).unwrap();
    // The first key's credential is excluded (a key holding it refuses a second one).
    assert_eq!(pending.request.exclude_list, vec![b"a".to_vec()]);
    let answer = b.attest(&pending.request, 0, b"b");
    let spare = e.admin.finish_fido2(&pending, &answer).unwrap().factor_id;
    let mut l = started(&e);
    let reqs = e.auth.fido2_requests(&mut l).unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].allow_list.len(), 2);
    match e
        .auth
        .fido2_answer(&mut l, 0, &b.assert(&reqs[0], b"b", FLAG_UP, 1))
        .unwrap()
    {
        Outcome::Accepted(v) => assert_eq!(v.method, Method::Fido2 { factor_id: spare }),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_key_is_asked_before_the_first_factor_or_for_users_without_one() {
    let e = env();
    alice(&e);
    enroll_key(&e, &TestKey::p256(1), b"a", &Fido2Options::default());
    let req = LoginRequest {
        first_factor: FirstFactor::Unproven,
        ..request("alice")
    };
    let Begin::Prompt(mut l, _) = e.auth.begin(req).unwrap() else {
        panic!("prompt");
    };
    assert!(e.auth.fido2_requests(&mut l).unwrap().is_empty());
    let Begin::Prompt(mut l, _) = e.auth.begin(request("nobody")).unwrap() else {
        panic!("prompt");
    };
    assert!(e.auth.fido2_requests(&mut l).unwrap().is_empty());
}

#[test]
fn a_user_with_only_a_key_can_still_use_a_recovery_code() {
    let e = env();
    alice(&e);
    let key = TestKey::p256(1);
    let pending = e
        .admin
        .fido2_request("alice", &Fido2Options::default())
        .unwrap();
    let en = e
        .admin
        .finish_fido2(&pending, &key.attest(&pending.request, 0, b"a"))
        .unwrap();
    let codes = en
        .confirmation
        .recovery_codes
        .expect("first factor: recovery codes");
    let mut l = started(&e);
    let o = e.auth.answer(&mut l, codes[0].expose()).unwrap();
    assert!(matches!(o, Outcome::Accepted(_)), "{o:?}");
}

#[test]
fn an_enrolled_ssh_key_that_sshd_accepted_is_the_second_factor() {
    let e = env();
    alice(&e);
    let user = e.admin.show_user("alice").unwrap().user;
    let blob = b"\x00\x00\x00\x1ask-ssh-ed25519@openssh.com-key".to_vec();
    let id = e
        .store
        .add_fido2_factor(
            user.id,
            "laptop",
            &Fido2Factor::Ssh {
                alg: CoseAlg::EdDsa,
                blob: blob.clone(),
                application: "ssh:".into(),
            },
            T0,
        )
        .unwrap();
    e.store.activate_factor(user.id, id, None).unwrap();
    // Another key: nothing decided, nothing written.
    let mut l = started(&e);
    let before = e.store.audit(None, 100).unwrap().len();
    assert_eq!(
        e.auth.ssh_key_answer(&mut l, &[b"other".to_vec()]).unwrap(),
        None
    );
    assert_eq!(e.store.audit(None, 100).unwrap().len(), before);
    match e
        .auth
        .ssh_key_answer(&mut l, &[b"other".to_vec(), blob.clone()])
        .unwrap()
    {
        Some(Outcome::Accepted(v)) => assert_eq!(v.method, Method::SshKey { factor_id: id }),
        other => panic!("{other:?}"),
    }
    // Not before the first factor.
    let req = LoginRequest {
        first_factor: FirstFactor::Unproven,
        ..request("alice")
    };
    let Begin::Prompt(mut l, _) = e.auth.begin(req).unwrap() else {
        panic!("prompt");
    };
    assert_eq!(e.auth.ssh_key_answer(&mut l, &[blob]).unwrap(), None);
}

#[test]
fn a_key_holding_none_of_the_users_credentials_is_not_a_wrong_answer() {
    let e = env();
    alice(&e);
    enroll_key(&e, &TestKey::p256(1), b"mine", &Fido2Options::default());
    let mut l = started(&e);
    let reqs = e.auth.fido2_requests(&mut l).unwrap();
    // Another user's key, plugged in here, answers with its own credential.
    let foreign = TestKey::ed(9).assert(&reqs[0], b"bobs", FLAG_UP, 1);
    assert_eq!(e.auth.fido2_verdict(&l, 0, &foreign), KeyVerdict::Useless);
    match e.auth.fido2_answer(&mut l, 0, &foreign).unwrap() {
        Outcome::Prompt(p) => {
            assert_eq!(p.info.as_deref(), Some(crate::auth::fido2::NOT_YOURS));
            assert_eq!(p.after, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lock_of(&e, "alice").codes.failures, 0);
}

#[test]
fn the_pure_check_changes_nothing_and_agrees_with_the_answer() {
    let e = env();
    alice(&e);
    let key = TestKey::p256(1);
    enroll_key(&e, &key, b"c", &Fido2Options::default());
    let mut l = started(&e);
    let reqs = e.auth.fido2_requests(&mut l).unwrap();
    let good = key.assert(&reqs[0], b"c", FLAG_UP, 3);
    let bad = key.assert(&reqs[0], b"c", 0, 3);
    assert_eq!(e.auth.fido2_verdict(&l, 0, &good), KeyVerdict::Verifies);
    assert_eq!(e.auth.fido2_verdict(&l, 0, &bad), KeyVerdict::Refused);
    assert_eq!(e.auth.fido2_verdict(&l, 1, &good), KeyVerdict::Useless);
    // Checking twice consumed nothing: the good answer still logs in.
    assert_eq!(e.auth.fido2_verdict(&l, 0, &good), KeyVerdict::Verifies);
    assert!(matches!(
        e.auth.fido2_answer(&mut l, 0, &good).unwrap(),
        Outcome::Accepted(_)
    ));
}

#[test]
fn resident_and_listed_credentials_are_asked_in_separate_requests() {
    let e = env();
    alice(&e);
    let (listed, resident) = (TestKey::p256(1), TestKey::ed(2));
    enroll_key(&e, &listed, b"listed", &Fido2Options::default());
    let user = e.admin.show_user("alice").unwrap().user;
    let cred = crate::factor::fido2::Credential {
        credential_id: Vec::new(),
        public_key: resident.public(),
        rp_id: e.config.fido2.rp_id.clone(),
        presence: true,
        verification: UserVerification::Discouraged,
        pin: false,
        resident: true,
        backup: None,
        sign_count: 0,
        origin: crate::factor::fido2::Origin::PamU2f,
    };
    let id = e
        .store
        .add_fido2_factor(user.id, "imported", &Fido2Factor::Local(cred), T0)
        .unwrap();
    e.store.activate_factor(user.id, id, None).unwrap();
    let mut l = started(&e);
    let reqs = e.auth.fido2_requests(&mut l).unwrap();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].allow_list, vec![b"listed".to_vec()]);
    assert!(reqs[1].allow_list.is_empty());
    // The listed key still answers its request.
    let a = listed.assert(&reqs[0], b"listed", FLAG_UP, 1);
    assert_eq!(e.auth.fido2_verdict(&l, 0, &a), KeyVerdict::Verifies);
    // The resident one answers the other, under an id the store never saw.
    let r = resident.assert(&reqs[1], b"whatever-the-key-says", FLAG_UP, 1);
    assert_eq!(e.auth.fido2_verdict(&l, 1, &r), KeyVerdict::Verifies);
    match e.auth.fido2_answer(&mut l, 1, &r).unwrap() {
        Outcome::Accepted(v) => assert_eq!(v.method, Method::Fido2 { factor_id: id }),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_code_for_a_user_who_prefers_email_waits_for_the_keys() {
    let (e, mailer) = email_env();
    enroll_email(&e, &mailer);
    enroll_key(&e, &TestKey::p256(1), b"c", &Fido2Options::default());
    let email_id = e
        .admin
        .factors("alice")
        .unwrap()
        .iter()
        .find(|f| f.kind == crate::store::FactorKind::Email)
        .unwrap()
        .id;
    e.admin.prefer_factor("alice", email_id).unwrap();
    let sent = mailer.messages().len();
    let req = LoginRequest {
        auto_send: false,
        max_tries: 3,
        ..request("alice")
    };
    let Begin::Prompt(mut l, _) = e.auth.begin(req).unwrap() else {
        panic!("prompt");
    };
    assert_eq!(
        mailer.messages().len(),
        sent,
        "mailed before the keys were asked"
    );
    assert_eq!(e.auth.fido2_requests(&mut l).unwrap().len(), 1);
    // No key answered: now the code goes out.
    let o = e.auth.send_deferred(&mut l).unwrap();
    assert!(matches!(o, Some(Outcome::Prompt(_))), "{o:?}");
    assert_eq!(mailer.messages().len(), sent + 1);
}
