//! Passwords followed by codes: RADIUS `append` and `auto`, OpenVPN's SCRV1, and the PAM module's
//! `forward_pass` / `try_first_pass`. The core splits; every wrong code counts once.

use super::*;
use crate::base::kdf;
use crate::factor::code_lengths;

/// alice (password "hunter2", a TOTP factor of `digits` digits) in an installation whose
/// default code length is 6.
fn env_digits(digits: u8) -> (Env, Vec<u8>) {
    let e = env();
    e.admin.add_user("alice", None).unwrap();
    e.admin.set_password("alice", Some("hunter2")).unwrap();
    let en = e.enroll_totp(
        "alice",
        &TotpOptions {
            digits: Some(digits),
            ..TotpOptions::activated()
        },
    );
    (e, en.secret)
}

fn radius(user: &str, separator: Option<&str>, missing: MissingCode) -> LoginRequest {
    LoginRequest {
        first_factor: FirstFactor::Password,
        entry: Entry::Combined {
            separator: separator.map(str::to_string),
            missing_code: missing,
        },
        channel: Channel::Radius,
        auto_send: true,
        max_tries: 1,
        origin: Some("203.0.113.9".into()),
        ..LoginRequest::code(user, "vpn")
    }
}

fn pam_combined(user: &str, missing: MissingCode, max_tries: u32) -> LoginRequest {
    LoginRequest {
        first_factor: FirstFactor::Unproven,
        entry: Entry::Combined {
            separator: None,
            missing_code: missing,
        },
        max_tries,
        origin: Some("192.0.2.7".into()),
        ..LoginRequest::code(user, "sshd")
    }
}

fn once(e: &Env, req: LoginRequest, input: &str) -> (Outcome, Box<Login>) {
    match e.auth.begin(req).unwrap() {
        Begin::Prompt(mut l, p) => {
            assert!(
                matches!(p.kind, PromptKind::PasswordAndCode),
                "the same combined prompt for everyone: {p:?}"
            );
            let o = e.auth.answer(&mut l, input).unwrap();
            (o, l)
        }
        b => panic!("{b:?}"),
    }
}

fn outcome(e: &Env, req: LoginRequest, input: &str) -> Outcome {
    once(e, req, input).0
}

fn code8(secret: &[u8], t: u64) -> String {
    crate::testing::code(secret, 8, t)
}

#[test]
fn code_lengths_follow_the_users_factors() {
    let (e, _) = env_digits(8);
    let data = e.store.login_data("alice").unwrap().unwrap();
    assert_eq!(code_lengths(&e.config, Some(&data)), vec![8]);
    assert_eq!(code_lengths(&e.config, None), vec![6]);
}

#[test]
fn append_takes_the_code_off_by_the_users_code_length() {
    let (e, secret) = env_digits(8);
    let c = code8(&secret, T0);
    let o = outcome(
        &e,
        radius("alice", None, MissingCode::Fail),
        &format!("hunter2{c}"),
    );
    assert!(matches!(o, Outcome::Accepted(_)), "{o:?}");
    // With a separator, the code is what follows it.
    let c = code8(&secret, T0 + 30);
    e.clock.advance(30);
    let o = outcome(
        &e,
        radius("alice", Some("|"), MissingCode::Fail),
        &format!("hunter2|{c}"),
    );
    assert!(matches!(o, Outcome::Accepted(_)), "{o:?}");
}

#[test]
fn append_wrong_password_consumes_and_counts_nothing_against_the_user() {
    let (e, secret) = env_digits(6);
    let c = code(&secret, T0);
    assert_eq!(
        outcome(
            &e,
            radius("alice", None, MissingCode::Fail),
            &format!("wrong{c}")
        ),
        Outcome::Rejected(Reject::BadPassword)
    );
    assert_eq!(lock_of(&e, "alice").codes.failures, 0);
    assert!(matches!(
        outcome(
            &e,
            radius("alice", None, MissingCode::Fail),
            &format!("hunter2{c}")
        ),
        Outcome::Accepted(_)
    ));
}

/// Issue 9, defect 1: `auto` with the right password and a wrong code counted nothing.
#[test]
fn auto_right_password_and_wrong_codes_lock_the_user() {
    let (e, secret) = env_digits(6);
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    for i in 0..4 {
        assert_eq!(
            outcome(
                &e,
                radius("alice", None, MissingCode::Ask),
                &format!("hunter2{wrong}")
            ),
            Outcome::Rejected(Reject::BadCode),
            "attempt {i}"
        );
    }
    assert_eq!(
        outcome(
            &e,
            radius("alice", None, MissingCode::Ask),
            &format!("hunter2{wrong}")
        ),
        Outcome::Rejected(Reject::LockedOut {
            until: Some(T0 + 900)
        })
    );
    // The right code is now refused, and told why.
    let c = code(&secret, T0);
    assert_eq!(
        outcome(
            &e,
            radius("alice", None, MissingCode::Ask),
            &format!("hunter2{c}")
        ),
        Outcome::Rejected(Reject::LockedOut {
            until: Some(T0 + 900)
        })
    );
    assert!(lock_of(&e, "alice").lock_at(T0).is_locked());
}

#[test]
fn auto_takes_a_password_ending_in_digits_whole_and_asks_for_the_code() {
    let e = env();
    e.admin.add_user("alice", None).unwrap();
    e.admin.set_password("alice", Some("pw123456")).unwrap();
    let en = e.enroll_totp("alice", &TotpOptions::activated());
    let (o, mut l) = once(&e, radius("alice", None, MissingCode::Ask), "pw123456");
    match o {
        Outcome::Prompt(p) => assert_eq!(p.kind, PromptKind::Code),
        o => panic!("{o:?}"),
    }
    assert_eq!(lock_of(&e, "alice").codes.failures, 0, "nothing counted");
    let c = code(&en.secret, T0);
    assert!(matches!(
        e.auth.answer(&mut l, &c).unwrap(),
        Outcome::Accepted(_)
    ));
    // The same password followed by a code logs in at once.
    let c = code(&en.secret, T0 + 30);
    e.clock.advance(30);
    assert!(matches!(
        outcome(
            &e,
            radius("alice", None, MissingCode::Ask),
            &format!("pw123456{c}")
        ),
        Outcome::Accepted(_)
    ));
}

#[test]
fn auto_costs_two_argon2_evaluations_whoever_asks() {
    let (e, secret) = env_digits(6);
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    let cost = |user: &str, input: &str| {
        let before = kdf::evaluations();
        let _ = outcome(&e, radius(user, None, MissingCode::Ask), input);
        kdf::evaluations() - before
    };
    for input in [
        format!("hunter2{wrong}"),
        format!("nope{wrong}"),
        "hunter2".to_string(),
        "nope".to_string(),
    ] {
        assert_eq!(cost("alice", &input), 2, "alice {input:?}");
        assert_eq!(cost("nobody", &input), 2, "nobody {input:?}");
        e.admin.unlock_user("alice").unwrap();
    }
}

#[test]
fn auto_and_an_emailed_code_count_the_same() {
    let m = Arc::new(RecordingMailer::default());
    let e = env_with(super::EMAIL, Some(m.clone()));
    super::enroll_email(&e, &m);
    e.admin.set_password("alice", Some("hunter2")).unwrap();
    // The right password alone: a code is mailed and a challenge asks for it.
    let (o, _) = once(&e, radius("alice", None, MissingCode::Ask), "hunter2");
    assert!(
        matches!(o, Outcome::Prompt(ref p) if p.kind == PromptKind::EmailedCode),
        "{o:?}"
    );
    let sent = m.last_code("alice@example.com").unwrap();
    let wrong = format!("{:06}", (sent.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..4 {
        assert_eq!(
            outcome(
                &e,
                radius("alice", None, MissingCode::Ask),
                &format!("hunter2{wrong}")
            ),
            Outcome::Rejected(Reject::BadCode)
        );
    }
    assert!(matches!(
        outcome(
            &e,
            radius("alice", None, MissingCode::Ask),
            &format!("hunter2{wrong}")
        ),
        Outcome::Rejected(Reject::LockedOut { .. })
    ));
}

#[test]
fn scrv1_reads_as_password_and_code() {
    let (e, secret) = env_digits(6);
    let c = code(&secret, T0);
    use base64ct::{Base64, Encoding};
    let scrv1 = format!(
        "SCRV1:{}:{}",
        Base64::encode_string(b"hunter2"),
        Base64::encode_string(c.as_bytes())
    );
    assert!(matches!(
        outcome(&e, radius("alice", None, MissingCode::Ask), &scrv1),
        Outcome::Accepted(_)
    ));
}

#[test]
fn append_recovery_code_in_printed_form() {
    let e = env();
    e.admin.add_user("alice", None).unwrap();
    e.admin.set_password("alice", Some("hunter2")).unwrap();
    let en = e.enroll_totp("alice", &TotpOptions::activated());
    let o = outcome(
        &e,
        radius("alice", None, MissingCode::Fail),
        &format!("hunter2{}", en.recovery[0]),
    );
    assert!(
        matches!(
            o,
            Outcome::Accepted(Verified {
                method: Method::Recovery { .. },
                ..
            })
        ),
        "{o:?}"
    );
}

/// Issue 9, defect 2: an 8-digit user was refused under `forward_pass` / `try_first_pass`.
#[test]
fn forward_pass_takes_an_eight_digit_code_and_hands_the_password_on() {
    let (e, secret) = env_digits(8);
    let c = code8(&secret, T0);
    let (o, mut l) = once(
        &e,
        pam_combined("alice", MissingCode::Fail, 1),
        &format!("unix-pw{c}"),
    );
    assert!(matches!(o, Outcome::Accepted(_)), "{o:?}");
    assert_eq!(l.take_password().unwrap().as_str(), "unix-pw");
    // try_first_pass: the same from PAM_AUTHTOK.
    let c = code8(&secret, T0 + 30);
    e.clock.advance(30);
    let (o, mut l) = once(
        &e,
        pam_combined("alice", MissingCode::Ask, 3),
        &format!("unix-pw{c}"),
    );
    assert!(matches!(o, Outcome::Accepted(_)), "{o:?}");
    assert_eq!(l.take_password().unwrap().as_str(), "unix-pw");
}

#[test]
fn try_first_pass_without_a_code_asks_for_one_and_hands_nothing_on() {
    let (e, secret) = env_digits(6);
    let (o, mut l) = once(&e, pam_combined("alice", MissingCode::Ask, 3), "unix-pw");
    match o {
        Outcome::Prompt(p) => assert_eq!(p.text, "Verification code: "),
        o => panic!("{o:?}"),
    }
    assert!(matches!(
        e.auth.answer(&mut l, &code(&secret, T0)).unwrap(),
        Outcome::Accepted(_)
    ));
    assert!(
        l.take_password().is_none(),
        "PAM_AUTHTOK is the password already"
    );
}

#[test]
fn auto_asks_again_for_the_code_alone_after_a_wrong_one() {
    let (e, secret) = env_digits(6);
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    let req = LoginRequest {
        max_tries: 3,
        ..radius("alice", None, MissingCode::Ask)
    };
    let (o, mut l) = once(&e, req, &format!("hunter2{wrong}"));
    match o {
        Outcome::Prompt(p) => {
            assert_eq!(p.kind, PromptKind::Code);
            assert_eq!(p.text, "Verification code: ");
        }
        o => panic!("{o:?}"),
    }
    assert!(matches!(
        e.auth.answer(&mut l, &code(&secret, T0)).unwrap(),
        Outcome::Accepted(_)
    ));
}
