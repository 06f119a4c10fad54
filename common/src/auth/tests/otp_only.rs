//! RADIUS `otp-only` where Tessera checks the password (`first_factor = "password"`): the
//! answer must carry the password (OpenVPN's `SCRV1:`). An answer without one is a wrong
//! password: the same work and the same throttle, nothing spent, counted or shown of the user.

use super::*;
use crate::base::kdf;

fn otp_only(user: &str, origin: &str) -> LoginRequest {
    LoginRequest {
        first_factor: FirstFactor::Password,
        entry: Entry::Code,
        channel: Channel::Radius,
        max_tries: 1,
        auto_send: false,
        origin: Some(origin.into()),
        ..LoginRequest::code(user, "vpn")
    }
}

fn b64(s: &str) -> String {
    use base64ct::{Base64, Encoding as _};
    Base64::encode_string(s.as_bytes())
}

fn scrv1(password: &str, code: &str) -> String {
    format!("SCRV1:{}:{}", b64(password), b64(code))
}

/// The outcome of one `otp-only` request, and the Argon2 evaluations it cost.
fn otp_only_outcome(e: &Env, user: &str, origin: &str, answer: &str) -> (Outcome, u64) {
    let before = kdf::evaluations();
    let o = match e.auth.begin(otp_only(user, origin)).unwrap() {
        Begin::Prompt(mut l, p) => {
            assert_eq!(p.kind, PromptKind::Code, "the same prompt for everyone");
            e.auth.answer(&mut l, answer).unwrap()
        }
        Begin::Rejected(r) => Outcome::Rejected(r),
        Begin::Ignore => Outcome::Ignored,
    };
    (o, kdf::evaluations() - before)
}

fn alice() -> (Env, Vec<u8>) {
    let e = env();
    e.admin.add_user("alice", None).unwrap();
    e.admin.set_password("alice", Some("hunter2")).unwrap();
    let en = e.enroll_totp("alice", &TotpOptions::activated());
    (e, en.secret)
}

#[test]
fn otp_only_a_valid_code_without_the_password_is_a_wrong_password_and_stays_unspent() {
    let (e, secret) = alice();
    let c = code(&secret, T0);
    let (o, cost) = otp_only_outcome(&e, "alice", "203.0.113.9", &c);
    assert_eq!(o, Outcome::Rejected(Reject::BadPassword));
    assert_eq!(cost, 1, "a wrong password's work");
    // The code was not checked, so not spent: with the password it still logs her in.
    let (o, _) = otp_only_outcome(&e, "alice", "203.0.113.9", &scrv1("hunter2", &c));
    assert!(matches!(o, Outcome::Accepted(_)), "{o:?}");
}

#[test]
fn otp_only_bare_wrong_codes_throttle_the_source_and_never_lock_the_user() {
    let (e, secret) = alice();
    let mut outcomes = Vec::new();
    for i in 0..12 {
        outcomes
            .push(otp_only_outcome(&e, "alice", "198.51.100.66", &format!("00000{}", i % 10)).0);
    }
    assert!(
        outcomes[..5]
            .iter()
            .all(|o| *o == Outcome::Rejected(Reject::BadPassword)),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[11], Outcome::Rejected(Reject::Throttled { .. })),
        "throttled per source like wrong passwords: {outcomes:?}"
    );
    let lock = lock_of(&e, "alice");
    assert!(!lock.lock_at(T0).is_locked());
    assert_eq!(lock.since_login, 0, "no wrong code counted against her");
    assert_eq!(lock.codes, crate::policy::Counter::default());
    // She logs in from her own place with her password and code.
    let (o, _) = otp_only_outcome(
        &e,
        "alice",
        "203.0.113.9",
        &scrv1("hunter2", &code(&secret, T0)),
    );
    match o {
        Outcome::Accepted(v) => assert_eq!(v.wrong_codes_since_last_login, 0),
        o => panic!("{o:?}"),
    }
}

#[test]
fn otp_only_a_lock_is_told_only_after_the_password_checked_out() {
    let (e, secret) = alice();
    for _ in 0..5 {
        login(&e, request("alice"), "000000");
    }
    assert!(lock_of(&e, "alice").lock_at(T0).is_locked());
    let c = code(&secret, T0);
    for answer in [
        c.clone(),
        scrv1("nope", &c),
        String::new(),
        "email".to_string(),
    ] {
        let (o, cost) = otp_only_outcome(&e, "alice", "203.0.113.9", &answer);
        assert_eq!(o, Outcome::Rejected(Reject::BadPassword), "{answer:?}");
        assert_eq!(cost, 1, "{answer:?}");
    }
    let (o, _) = otp_only_outcome(&e, "alice", "203.0.113.10", &scrv1("hunter2", &c));
    assert!(
        matches!(o, Outcome::Rejected(Reject::LockedOut { .. })),
        "{o:?}"
    );
}

#[test]
fn otp_only_every_refusal_costs_one_argon2_evaluation() {
    let (e, secret) = alice();
    e.admin.add_user("bob", None).unwrap();
    let c = code(&secret, T0);
    let cases = [
        ("alice", c.clone(), "bare code"),
        ("alice", scrv1("nope", &c), "wrong password"),
        (
            "alice",
            scrv1("hunter2", "000000"),
            "right password, wrong code",
        ),
        ("bob", c.clone(), "no password set, bare code"),
        ("bob", scrv1("nope", &c), "no password set"),
        ("nobody", c.clone(), "unknown user, bare code"),
        ("nobody", scrv1("nope", &c), "unknown user"),
    ];
    for (i, (user, answer, what)) in cases.iter().enumerate() {
        let (o, cost) = otp_only_outcome(&e, user, &format!("192.0.2.{i}"), answer);
        assert!(matches!(o, Outcome::Rejected(_)), "{what}: {o:?}");
        assert_eq!(cost, 1, "{what}");
    }
}

#[test]
fn otp_only_an_unenrolled_user_steps_aside_only_with_the_password() {
    let e = env();
    e.admin.add_user("carol", None).unwrap();
    e.admin.set_password("carol", Some("hunter2")).unwrap();
    let req = |origin: &str| LoginRequest {
        allow_unenrolled: true,
        ..otp_only("carol", origin)
    };
    let run = |origin: &str, answer: &str| match e.auth.begin(req(origin)).unwrap() {
        Begin::Prompt(mut l, _) => e.auth.answer(&mut l, answer).unwrap(),
        Begin::Ignore => Outcome::Ignored,
        Begin::Rejected(r) => Outcome::Rejected(r),
    };
    assert_eq!(run("192.0.2.1", ""), Outcome::Rejected(Reject::BadPassword));
    assert_eq!(run("192.0.2.2", &scrv1("hunter2", "")), Outcome::Ignored);
}

#[test]
fn otp_only_a_mail_is_sent_only_after_the_password() {
    let (e, m) = email_env();
    enroll_email(&e, &m);
    e.admin.set_password("alice", Some("hunter2")).unwrap();
    let before = m.messages().len();
    for answer in ["", "email"] {
        let (o, _) = otp_only_outcome(&e, "alice", "203.0.113.9", answer);
        assert_eq!(o, Outcome::Rejected(Reject::BadPassword), "{answer:?}");
    }
    assert_eq!(
        m.messages().len(),
        before,
        "nothing mailed before the password"
    );
    let (o, _) = otp_only_outcome(&e, "alice", "203.0.113.9", &scrv1("hunter2", "email"));
    assert!(
        matches!(&o, Outcome::Prompt(p) if p.kind == PromptKind::EmailedCode),
        "{o:?}"
    );
    assert_eq!(m.messages().len(), before + 1);
}
