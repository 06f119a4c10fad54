//! Before and after the first factor: RADIUS passwords (throttled per source and overall, never
//! locking anyone out for long), answers the PAM module takes before the password is proven
//! (nothing mailed, shown or counted against the user), the escalating lockout, the notice of
//! wrong codes at the next login, and equal work for every refusal.

use super::*;
use crate::base::kdf;

fn challenge(user: &str, origin: &str) -> LoginRequest {
    LoginRequest {
        first_factor: FirstFactor::Password,
        entry: Entry::Password,
        channel: Channel::Radius,
        max_tries: 1,
        origin: Some(origin.into()),
        ..LoginRequest::code(user, "vpn")
    }
}

/// alice logs in (password, then code) from `origin`: it becomes a source she logged in from.
fn whole_login(e: &Env, secret: &[u8], origin: &str) {
    let Begin::Prompt(mut l, _) = e.auth.begin(challenge("alice", origin)).unwrap() else {
        panic!()
    };
    assert!(matches!(
        e.auth.answer(&mut l, "hunter2").unwrap(),
        Outcome::Prompt(_)
    ));
    let c = code(secret, e.clock.now());
    assert!(
        matches!(e.auth.answer(&mut l, &c).unwrap(), Outcome::Accepted(_)),
        "alice logs in from {origin}"
    );
}

fn password_outcome(e: &Env, user: &str, origin: &str, password: &str) -> Outcome {
    match e.auth.begin(challenge(user, origin)).unwrap() {
        Begin::Prompt(mut l, p) => {
            assert_eq!(p.kind, PromptKind::Password);
            e.auth.answer(&mut l, password).unwrap()
        }
        b => panic!("{b:?}"),
    }
}

/// The audit rows of logins (not of the set-up's admin actions).
fn logins(e: &Env) -> Vec<crate::audit::AuditEvent> {
    let all = e.store.audit(None, 10_000).unwrap();
    all.into_iter()
        .filter(|r| r.result != crate::audit::AuditResult::Admin)
        .collect()
}

fn env_password() -> (Env, Vec<u8>) {
    let e = env();
    e.admin.add_user("alice", None).unwrap();
    e.admin.set_password("alice", Some("hunter2")).unwrap();
    let en = e.enroll_totp("alice", &TotpOptions::activated());
    (e, en.secret)
}

#[test]
fn a_wrong_password_is_refused_and_not_counted_as_a_wrong_code() {
    let (e, _) = env_password();
    assert_eq!(
        password_outcome(&e, "alice", "203.0.113.9", "nope"),
        Outcome::Rejected(Reject::BadPassword)
    );
    assert_eq!(lock_of(&e, "alice"), LockState::default());
    let rows = e.store.audit(Some("alice"), 10).unwrap();
    assert_eq!(rows[0].detail.as_deref(), Some("bad_password"));
    match password_outcome(&e, "alice", "203.0.113.9", "hunter2") {
        Outcome::Prompt(p) => assert_eq!(p.kind, PromptKind::Code),
        o => panic!("{o:?}"),
    }
}

/// Issue 9, defect 5: RADIUS passwords had no throttle and no lockout.
#[test]
fn wrong_passwords_throttle_the_source_then_the_name() {
    let (e, secret) = env_password();
    whole_login(&e, &secret, "198.51.100.1");
    for _ in 0..5 {
        assert_eq!(
            password_outcome(&e, "alice", "203.0.113.9", "nope"),
            Outcome::Rejected(Reject::BadPassword)
        );
    }
    // That source is throttled: refused without an Argon2 evaluation, even with the password.
    let before = kdf::evaluations();
    assert_eq!(
        password_outcome(&e, "alice", "203.0.113.9", "hunter2"),
        Outcome::Rejected(Reject::Throttled { until: T0 + 900 })
    );
    assert_eq!(kdf::evaluations(), before);
    // Another source is not, and the user logs in from there.
    assert!(matches!(
        password_outcome(&e, "alice", "198.51.100.1", "hunter2"),
        Outcome::Prompt(_)
    ));
    // Twenty failures from anywhere throttle the name for five minutes (each further throttle
    // twice as long, never past a day), but not for a source the name logged in from:
    // someone who knows nothing keeps out only sources that never logged in as alice.
    for i in 0..20 {
        let _ = password_outcome(&e, "alice", &format!("10.0.0.{i}"), "nope");
    }
    assert_eq!(
        password_outcome(&e, "alice", "192.0.2.200", "hunter2"),
        Outcome::Rejected(Reject::Throttled { until: T0 + 300 }),
        "a new source"
    );
    assert!(
        matches!(
            password_outcome(&e, "alice", "198.51.100.1", "hunter2"),
            Outcome::Prompt(_)
        ),
        "alice's own source"
    );
    e.clock.advance(300);
    assert!(matches!(
        password_outcome(&e, "alice", "192.0.2.200", "hunter2"),
        Outcome::Prompt(_)
    ));
    // The second-factor lockout was never touched.
    assert_eq!(lock_of(&e, "alice"), LockState::default());
    assert_eq!(
        Reject::Throttled { until: T0 + 300 }.user_message(T0),
        "Too many failed attempts from here: try again in 5 minutes."
    );
}

#[test]
fn unknown_names_are_throttled_like_known_ones() {
    let (e, _) = env_password();
    for _ in 0..5 {
        assert_eq!(
            password_outcome(&e, "nobody", "203.0.113.9", "nope"),
            Outcome::Rejected(Reject::BadPassword)
        );
    }
    assert!(matches!(
        password_outcome(&e, "nobody", "203.0.113.9", "nope"),
        Outcome::Rejected(Reject::Throttled { .. })
    ));
}

/// Made-up names tried until throttled (RADIUS password mode) are one source's flood: the
/// account is marked unknown and the name left out of the fold, so forty names are not forty
/// rows.
#[test]
fn throttled_made_up_names_fold_into_one_row_per_source() {
    let (e, _) = env_password();
    for i in 0..40 {
        for _ in 0..8 {
            password_outcome(&e, &format!("bot{i}"), "203.0.113.9", "nope");
        }
    }
    let all = logins(&e);
    let details: Vec<_> = all.iter().map(|r| (r.detail.clone(), r.count)).collect();
    assert!(all.len() <= 2, "{details:?}");
    assert_eq!(all.iter().map(|r| r.count).sum::<u32>(), 40 * 8);
    assert!(
        all.iter()
            .any(|r| r.detail.as_deref() == Some("throttled; unknown_user")),
        "{details:?}"
    );
}

/// A spray of made-up names from one place within a minute folds, whichever way the login
/// comes in: folding is decided from the refusal and whether the account exists when the
/// event is built, not from how its detail reads.
#[test]
fn a_spray_of_made_up_names_folds_on_every_entry_path() {
    let combined = |separator: Option<&str>| Entry::Combined {
        separator: separator.map(str::to_string),
        missing_code: MissingCode::Fail,
    };
    let paths = [
        ("proven, code", FirstFactor::Proven, Entry::Code, "123456"),
        (
            "unproven, code",
            FirstFactor::Unproven,
            Entry::Code,
            "123456",
        ),
        (
            "unproven, combined (forward_pass)",
            FirstFactor::Unproven,
            combined(None),
            "hunter2123456",
        ),
        (
            "password, challenge",
            FirstFactor::Password,
            Entry::Password,
            "nope",
        ),
        (
            "password, combined",
            FirstFactor::Password,
            combined(Some(",")),
            "nope,123456",
        ),
        (
            "password, otp-only",
            FirstFactor::Password,
            Entry::Code,
            "123456",
        ),
    ];
    for (what, first_factor, entry, answer) in paths {
        let (e, _) = env_password();
        for i in 0..40 {
            let req = LoginRequest {
                first_factor,
                entry: entry.clone(),
                max_tries: 1,
                source: Some("198.51.100.7".into()),
                origin: Some("198.51.100.7".into()),
                ..LoginRequest::code(&format!("bot{i}"), "sshd")
            };
            match e.auth.begin(req).unwrap() {
                Begin::Prompt(mut l, _) => {
                    let out = e.auth.answer(&mut l, answer).unwrap();
                    assert!(matches!(out, Outcome::Rejected(_)), "{what}: {out:?}");
                }
                b => panic!("{what}: {b:?}"),
            }
        }
        let all = logins(&e);
        let details: Vec<_> = all.iter().map(|r| (r.detail.clone(), r.count)).collect();
        assert!(all.len() <= 2, "{what}: {details:?}");
        assert_eq!(
            all.iter().map(|r| r.count).sum::<u32>(),
            40,
            "{what}: every attempt counted: {details:?}"
        );
    }
}

#[test]
fn a_lock_is_not_told_before_the_password_checks_out() {
    let (e, _) = env_password();
    for _ in 0..5 {
        login(&e, request("alice"), "000000");
    }
    assert!(lock_of(&e, "alice").lock_at(T0).is_locked());
    assert_eq!(
        password_outcome(&e, "alice", "203.0.113.9", "nope"),
        Outcome::Rejected(Reject::BadPassword)
    );
    assert!(matches!(
        password_outcome(&e, "alice", "203.0.113.9", "hunter2"),
        Outcome::Rejected(Reject::LockedOut { .. })
    ));
}

/// Issue 9 review: twenty wrong passwords from anywhere every five minutes kept the user out
/// forever, from her own address too.
#[test]
fn someone_who_knows_nothing_cannot_keep_the_user_out_of_her_own_source() {
    let (e, secret) = env_password();
    whole_login(&e, &secret, "198.51.100.1");
    let mut kept_out = 0;
    for round in 0..288u64 {
        for i in 0..20 {
            let _ = password_outcome(&e, "alice", &format!("10.{}.0.{i}", round % 200), "nope");
        }
        if !matches!(
            password_outcome(&e, "alice", "198.51.100.1", "hunter2"),
            Outcome::Prompt(_)
        ) {
            kept_out += 1;
        }
        e.clock.advance(300);
    }
    assert_eq!(kept_out, 0, "refused {kept_out} times of 288 in a day");
}

/// Parallel checks cannot get past the limit: each is counted before its Argon2.
#[test]
fn a_password_check_is_counted_before_it_runs() {
    let (e, _) = env_password();
    let logins: Vec<Box<Login>> = (0..8)
        .map(
            |_| match e.auth.begin(challenge("alice", "203.0.113.9")).unwrap() {
                Begin::Prompt(l, _) => l,
                b => panic!("{b:?}"),
            },
        )
        .collect();
    // Eight checks begun before any ends: only the first five get to Argon2.
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = logins
            .into_iter()
            .map(|mut l| {
                let auth = &e.auth;
                s.spawn(move || auth.answer(&mut l, "nope").unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = outcomes
        .iter()
        .filter(|o| **o == Outcome::Rejected(Reject::BadPassword))
        .count();
    let throttled = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Rejected(Reject::Throttled { .. })))
        .count();
    assert_eq!((checked, throttled), (5, 3), "{outcomes:?}");
}

/// PAM before the password module (`forward_pass`): the request an attacker who knows nothing
/// can make.
fn unproven(user: &str, max_tries: u32) -> LoginRequest {
    LoginRequest {
        first_factor: FirstFactor::Unproven,
        entry: Entry::Combined {
            separator: None,
            missing_code: MissingCode::Fail,
        },
        max_tries,
        auto_send: true,
        origin: Some("192.0.2.66".into()),
        ..LoginRequest::code(user, "sshd")
    }
}

/// Issue 9, defect 4: with the module first, anyone could have a code mailed, read the masked
/// address and lock the user out.
#[test]
fn before_the_password_nothing_is_mailed_shown_or_counted_against_the_user() {
    let m = Arc::new(RecordingMailer::default());
    let e = env_with(super::EMAIL, Some(m.clone()));
    super::enroll_email(&e, &m);
    let sent = m.messages().len();
    let mut prompts = Vec::new();
    for user in ["alice", "nobody"] {
        let Begin::Prompt(mut l, p) = e.auth.begin(unproven(user, 1)).unwrap() else {
            panic!()
        };
        prompts.push(p.clone());
        for answer in ["", "email", "wrong-password", "wrong-password123456"] {
            let Begin::Prompt(mut l2, p2) = e.auth.begin(unproven(user, 1)).unwrap() else {
                panic!()
            };
            assert_eq!(p2, p);
            let o = e.auth.answer(&mut l2, answer).unwrap();
            assert!(
                matches!(o, Outcome::Rejected(_)),
                "{user} {answer:?}: {o:?}"
            );
        }
        let _ = e.auth.answer(&mut l, "x").unwrap();
    }
    assert_eq!(prompts[0], prompts[1], "the same prompt for everyone");
    assert!(!prompts[0].text.contains('@'));
    assert_eq!(m.messages().len(), sent, "nothing mailed");
    assert_eq!(
        lock_of(&e, "alice"),
        LockState::default(),
        "nothing counted"
    );
}

#[test]
fn before_the_password_wrong_answers_throttle_the_source_and_new_sources_not_hers() {
    let (e, secret) = env_password();
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    let from = |origin: &str| LoginRequest {
        origin: Some(origin.into()),
        ..unproven("alice", 1)
    };
    // alice logs in from her usual address first.
    let c = code(&secret, T0 - 30);
    let Begin::Prompt(mut l, _) = e.auth.begin(from("198.51.100.5")).unwrap() else {
        panic!()
    };
    assert!(matches!(
        e.auth.answer(&mut l, &format!("pw{c}")).unwrap(),
        Outcome::Accepted(_)
    ));
    for _ in 0..5 {
        let Begin::Prompt(mut l, _) = e.auth.begin(from("192.0.2.66")).unwrap() else {
            panic!()
        };
        assert_eq!(
            e.auth.answer(&mut l, &format!("pw{wrong}")).unwrap(),
            Outcome::Rejected(Reject::BadCode)
        );
    }
    let c = code(&secret, T0);
    let Begin::Prompt(mut l, _) = e.auth.begin(from("192.0.2.66")).unwrap() else {
        panic!()
    };
    assert!(matches!(
        e.auth.answer(&mut l, &format!("pw{c}")).unwrap(),
        Outcome::Rejected(Reject::Throttled { .. })
    ));
    // Another new source is throttled too (the name's limit: someone with the password might
    // be guessing from many addresses)...
    let Begin::Prompt(mut l, _) = e.auth.begin(from("203.0.113.77")).unwrap() else {
        panic!()
    };
    assert!(matches!(
        e.auth.answer(&mut l, &format!("pw{c}")).unwrap(),
        Outcome::Rejected(Reject::Throttled { .. })
    ));
    // ...but not the address alice logged in from: the right code logs her in.
    let Begin::Prompt(mut l, _) = e.auth.begin(from("198.51.100.5")).unwrap() else {
        panic!()
    };
    assert!(matches!(
        e.auth.answer(&mut l, &format!("pw{c}")).unwrap(),
        Outcome::Accepted(_)
    ));
    // And nothing was counted against alice.
    assert_eq!(
        lock_of(&e, "alice").codes,
        crate::policy::Counter::default()
    );
}

#[test]
fn before_the_password_a_lock_is_not_told() {
    let (e, secret) = env_password();
    for _ in 0..5 {
        login(&e, request("alice"), "000000");
    }
    let Begin::Prompt(mut l, _) = e.auth.begin(unproven("alice", 1)).unwrap() else {
        panic!()
    };
    assert_eq!(
        e.auth
            .answer(&mut l, &format!("pw{}", code(&secret, T0)))
            .unwrap(),
        Outcome::Rejected(Reject::BadCode),
        "refused like a wrong code"
    );
    let rows = e.store.audit(Some("alice"), 1).unwrap();
    assert_eq!(
        rows[0].detail.as_deref(),
        Some("locked_out; before_first_factor")
    );
}

/// Issue 9, defect 8: a code used for ssh, then for sudo within 30 s, counted as a guess.
#[test]
fn a_replayed_code_is_told_and_not_counted() {
    let e = env();
    let (secret, _) = enroll(&e);
    let c = code(&secret, T0);
    assert!(matches!(
        login(&e, request("alice"), &c),
        Outcome::Accepted(_)
    ));
    for _ in 0..10 {
        assert_eq!(
            login(&e, request("alice"), &c),
            Outcome::Rejected(Reject::Replayed)
        );
    }
    assert_eq!(lock_of(&e, "alice").codes.failures, 0);
    assert!(Reject::Replayed.must_tell());
    assert_eq!(
        Reject::Replayed.user_message(T0),
        "That code was already used; wait for the next one."
    );
}

/// Issue 9, defect 7: five guesses per 15 minutes, forever.
#[test]
fn each_lock_lasts_twice_the_one_before() {
    let e = env();
    let (secret, _) = enroll(&e);
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    let mut now = T0;
    for minutes in [15u64, 30, 60] {
        for _ in 0..5 {
            login(&e, request("alice"), &wrong);
        }
        assert_eq!(
            lock_of(&e, "alice").lock_at(now),
            crate::policy::Lock::Until(now + minutes * 60)
        );
        now += minutes * 60;
        e.clock.set(now);
    }
    e.admin.unlock_user("alice").unwrap();
    assert_eq!(
        lock_of(&e, "alice").codes,
        crate::policy::Counter::default()
    );
}

#[test]
fn a_conversation_never_allows_more_tries_than_the_lockout_leaves() {
    let e = env();
    let (secret, _) = enroll(&e);
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    for _ in 0..3 {
        login(&e, request("alice"), &wrong);
    }
    // max_tries 3, but only 2 wrong codes are left before the lock: the second is the last.
    let req = LoginRequest {
        max_tries: 3,
        ..request("alice")
    };
    let Begin::Prompt(mut l, _) = e.auth.begin(req).unwrap() else {
        panic!()
    };
    assert!(matches!(
        e.auth.answer(&mut l, &wrong).unwrap(),
        Outcome::Prompt(_)
    ));
    assert_eq!(
        e.auth.answer(&mut l, &wrong).unwrap(),
        Outcome::Rejected(Reject::LockedOut {
            until: Some(T0 + 900)
        })
    );
}

#[test]
fn the_next_login_tells_how_many_wrong_codes_came_since_the_last() {
    let e = env();
    let (secret, _) = enroll(&e);
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    for _ in 0..3 {
        login(&e, request("alice"), &wrong);
    }
    match login(&e, request("alice"), &code(&secret, T0)) {
        Outcome::Accepted(v) => {
            assert_eq!(v.wrong_codes_since_last_login, 3);
            assert_eq!(
                v.notice().as_deref(),
                Some("Warning: 3 wrong codes were entered for your account since your last login.")
            );
        }
        o => panic!("{o:?}"),
    }
    e.clock.advance(30);
    match login(&e, request("alice"), &code(&secret, T0 + 30)) {
        Outcome::Accepted(v) => assert_eq!(v.notice(), None, "told once"),
        o => panic!("{o:?}"),
    }
}

/// Issue 9, defect 6: a recovery-shaped answer skipped Argon2 for a user with no codes left.
#[test]
fn every_refusal_of_a_recovery_shaped_answer_costs_one_argon2_evaluation() {
    let e = env();
    let (_, codes) = enroll(&e);
    e.admin.add_user("bob", None).unwrap();
    e.enroll_totp("carol", &TotpOptions::activated());
    rusqlite::Connection::open(e.store.path())
        .unwrap()
        .execute(
            "UPDATE recovery_codes SET used_at = 1 WHERE user_id = (SELECT id FROM users WHERE name = 'carol')",
            [],
        )
        .unwrap();
    let answer = "abcd-efgh-jkmn";
    let cost = |user: &str| {
        let before = kdf::evaluations();
        let o = login(&e, request(user), answer);
        assert!(matches!(o, Outcome::Rejected(_)), "{user}: {o:?}");
        kdf::evaluations() - before
    };
    assert_eq!(cost("alice"), 1, "wrong code, codes left");
    assert_eq!(cost("carol"), 1, "no codes left");
    assert_eq!(cost("bob"), 1, "unenrolled");
    assert_eq!(cost("nobody"), 1, "unknown");
    // And the right code costs the same.
    let before = kdf::evaluations();
    assert!(matches!(
        login(&e, request("alice"), &codes[0]),
        Outcome::Accepted(_)
    ));
    assert_eq!(kdf::evaluations() - before, 1);
}

#[test]
fn every_refusal_of_a_password_costs_the_same_argon2_work() {
    let (e, _) = env_password();
    e.admin.add_user("bob", None).unwrap();
    let cost = |user: &str, pw: &str| {
        let before = kdf::evaluations();
        let _ = password_outcome(&e, user, &format!("src-{user}-{pw}"), pw);
        kdf::evaluations() - before
    };
    assert_eq!(cost("alice", "nope"), 1, "wrong password");
    assert_eq!(cost("alice", "hunter2"), 1, "right password");
    assert_eq!(cost("bob", "nope"), 1, "no password set");
    assert_eq!(cost("nobody", "nope"), 1, "unknown user");
}
