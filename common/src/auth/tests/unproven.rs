//! Before the password is proven (the PAM module before the password module): what someone who
//! knows nothing, and someone who knows only the password, can get.

use super::*;
use crate::base::kdf;

fn unproven(user: &str, origin: &str, missing: MissingCode) -> LoginRequest {
    LoginRequest {
        first_factor: FirstFactor::Unproven,
        entry: Entry::Combined {
            separator: None,
            missing_code: missing,
        },
        max_tries: 1,
        auto_send: true,
        origin: Some(origin.into()),
        ..LoginRequest::code(user, "sshd")
    }
}

fn attempt(e: &Env, user: &str, origin: &str, input: &str) -> Outcome {
    match e
        .auth
        .begin(unproven(user, origin, MissingCode::Fail))
        .unwrap()
    {
        Begin::Prompt(mut l, _) => e.auth.answer(&mut l, input).unwrap(),
        b => panic!("{b:?}"),
    }
}

/// Someone who knows alice's password guesses codes from a new address every time, without
/// end, for a year. Each throttle makes them wait; the codes that reach a check are counted.
#[test]
fn a_guesser_with_the_password_and_endless_addresses_gets_few_codes_a_year() {
    let e = env();
    let (secret, _) = enroll(&e);
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    let (mut checked, mut n, mut now) = (0u32, 0u64, T0);
    while now < T0 + 365 * 24 * 3600 {
        n += 1;
        match attempt(
            &e,
            "alice",
            // A new /64 every time (addresses within one /64 are one source).
            &format!("2001:db8:{:x}:{:x}::1", n >> 16, n & 0xffff),
            &format!("pw{wrong}"),
        ) {
            Outcome::Rejected(Reject::BadCode) => checked += 1,
            Outcome::Rejected(Reject::Throttled { until }) => now = until,
            o => panic!("{o:?}"),
        }
        e.clock.set(now);
    }
    // 5 per lock; locks of 15 min doubling to a day: 7 locks in the first 32 hours, then one a
    // day. (The documented stacks, with the module after the password module, allow 40.)
    assert!(checked < 2000, "{checked} codes checked in a year");
    assert_eq!(checked, 1855);
    assert_eq!(
        lock_of(&e, "alice"),
        LockState::default(),
        "nothing counted against alice"
    );
}

/// Review finding 4: wrong answers before the password spent the code alice was mailed
/// elsewhere, and her right code then counted as a wrong one.
#[test]
fn before_the_password_the_mailed_code_is_neither_checked_nor_spent() {
    let m = Arc::new(RecordingMailer::default());
    let e = env_with(super::EMAIL, Some(m.clone()));
    super::enroll_email(&e, &m);
    let Begin::Prompt(mut proven, _) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    let code = m.last_code("alice@example.com").unwrap();
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for i in 0..3 {
        attempt(&e, "alice", &format!("192.0.2.{i}"), &format!("pw{wrong}"));
    }
    // Not even the right code is taken there (nothing is mailed before the password).
    attempt(&e, "alice", "192.0.2.9", &format!("pw{code}"));
    assert!(matches!(
        e.auth.answer(&mut proven, &code).unwrap(),
        Outcome::Accepted(_)
    ));
    assert_eq!(lock_of(&e, "alice").codes.failures, 0);
}

/// Review finding 5: a locked user answered "wrong code" forever where anyone else got
/// "throttled" on the sixth try.
#[test]
fn before_the_password_a_locked_user_is_throttled_like_anyone() {
    let e = env();
    let (secret, _) = enroll(&e);
    for _ in 0..5 {
        login(&e, request("alice"), "000000");
    }
    assert!(lock_of(&e, "alice").lock_at(T0).is_locked());
    e.admin.add_user("bob", None).unwrap();
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    let sixth: Vec<Outcome> = ["alice", "bob", "nobody"]
        .iter()
        .map(|user| {
            for _ in 0..5 {
                assert_eq!(
                    attempt(&e, user, "198.51.100.7", &format!("pw{wrong}")),
                    Outcome::Rejected(if *user == "alice" {
                        Reject::BadCode
                    } else if *user == "bob" {
                        Reject::NotEnrolled
                    } else {
                        Reject::UnknownUser
                    }),
                    "{user}"
                );
            }
            attempt(&e, user, "198.51.100.7", &format!("pw{wrong}"))
        })
        .collect();
    for o in &sixth {
        assert!(
            matches!(o, Outcome::Rejected(Reject::Throttled { .. })),
            "{sixth:?}"
        );
    }
    // And the refusals told the user the same: nothing.
    for r in [Reject::BadCode, Reject::NotEnrolled, Reject::UnknownUser] {
        assert_eq!(r.user_message(T0), "Verification failed.");
    }
}

/// Review finding 6: the split followed the user's code length, so prompts and work told who
/// is enrolled (and with what).
#[test]
fn before_the_password_the_split_tells_nothing_about_the_user() {
    let e = env();
    e.enroll_totp(
        "carol",
        &TotpOptions {
            digits: Some(8),
            ..TotpOptions::activated()
        },
    );
    enroll(&e);
    for input in [
        "password123456",
        "pw12345678",
        "pw1234567",
        "pw",
        "pwk7qd-3mzp-x8tf",
    ] {
        let mut seen = Vec::new();
        for user in ["carol", "alice", "nobody"] {
            for missing in [MissingCode::Fail, MissingCode::Ask] {
                let before = kdf::evaluations();
                let Begin::Prompt(mut l, _) = e
                    .auth
                    .begin(unproven(user, &format!("src-{user}-{input}"), missing))
                    .unwrap()
                else {
                    panic!()
                };
                let o = e.auth.answer(&mut l, input).unwrap();
                let shown = match o {
                    Outcome::Prompt(p) => format!("prompt {} {:?}", p.text, p.info),
                    Outcome::Rejected(r) => format!("rejected {}", r.user_message(T0)),
                    o => panic!("{o:?}"),
                };
                seen.push((missing, shown, kdf::evaluations() - before));
            }
        }
        for pair in seen.chunks(2).collect::<Vec<_>>().windows(2) {
            assert_eq!(pair[0], pair[1], "{input:?}: {seen:?}");
        }
    }
}

#[test]
fn an_eight_digit_user_logs_in_before_the_password_whatever_the_configured_length() {
    let e = env();
    let en = e.enroll_totp(
        "carol",
        &TotpOptions {
            digits: Some(8),
            ..TotpOptions::activated()
        },
    );
    let c = crate::testing::code(&en.secret, 8, T0);
    let Begin::Prompt(mut l, _) = e
        .auth
        .begin(unproven("carol", "192.0.2.1", MissingCode::Fail))
        .unwrap()
    else {
        panic!()
    };
    assert!(matches!(
        e.auth.answer(&mut l, &format!("pw99{c}")).unwrap(),
        Outcome::Accepted(_)
    ));
    assert_eq!(l.take_password().unwrap().as_str(), "pw99");
}

/// Review finding 7: `tessera user unlock` left the throttles in place.
#[test]
fn unlock_ends_the_throttles_of_the_name_too() {
    let e = env();
    let (secret, _) = enroll(&e);
    for _ in 0..5 {
        attempt(&e, "alice", "198.51.100.7", "pw000000");
    }
    let c = code(&secret, T0);
    assert!(matches!(
        attempt(&e, "alice", "198.51.100.7", &format!("pw{c}")),
        Outcome::Rejected(Reject::Throttled { .. })
    ));
    e.admin.unlock_user("alice").unwrap();
    assert!(matches!(
        attempt(&e, "alice", "198.51.100.7", &format!("pw{c}")),
        Outcome::Accepted(_)
    ));
}

/// Second review, finding 4: a RADIUS password alone marked its source good, and RADIUS and PAM
/// sources with the same name shared rows.
#[test]
fn a_radius_login_never_exempts_a_pam_source_nor_does_a_password_alone() {
    let e = env();
    e.admin.add_user("alice", None).unwrap();
    e.admin.set_password("alice", Some("hunter2")).unwrap();
    let en = e.enroll_totp("alice", &TotpOptions::activated());
    // A whole RADIUS login from 192.0.2.5, through a client named like the PAM service.
    let radius = LoginRequest {
        first_factor: FirstFactor::Password,
        entry: Entry::Password,
        channel: Channel::Radius,
        origin: Some("192.0.2.5".into()),
        ..LoginRequest::code("alice", "sshd")
    };
    let Begin::Prompt(mut l, _) = e.auth.begin(radius).unwrap() else {
        panic!()
    };
    assert!(matches!(
        e.auth.answer(&mut l, "hunter2").unwrap(),
        Outcome::Prompt(_)
    ));
    assert!(matches!(
        e.auth.answer(&mut l, &code(&en.secret, T0)).unwrap(),
        Outcome::Accepted(_)
    ));
    // Before the password in PAM, from other addresses: the name is throttled...
    let wrong = crate::testing::wrong_code(&en.secret, 6, T0);
    for i in 0..5 {
        attempt(&e, "alice", &format!("10.0.0.{i}"), &format!("pw{wrong}"));
    }
    // ...and the RADIUS login gave 192.0.2.5 no standing in PAM.
    assert!(matches!(
        attempt(&e, "alice", "192.0.2.5", &format!("pw{wrong}")),
        Outcome::Rejected(Reject::Throttled { .. })
    ));
}

/// Second review, finding 6: the throttle followed what the store knew of a name.
#[test]
fn the_throttle_follows_the_name_as_presented_known_or_not() {
    let e = env();
    enroll(&e);
    let with_passwd = |user: &str, passwd: &str| LoginRequest {
        also_known_as: Some(passwd.into()),
        ..unproven(user, "198.51.100.9", MissingCode::Fail)
    };
    let mut sixth = Vec::new();
    for (typed, passwd) in [("alice@corp", "alice"), ("bob@corp", "bob")] {
        for _ in 0..5 {
            let Begin::Prompt(mut l, _) = e.auth.begin(with_passwd(passwd, passwd)).unwrap() else {
                panic!()
            };
            e.auth.answer(&mut l, "pw000000").unwrap();
        }
        let Begin::Prompt(mut l, _) = e.auth.begin(with_passwd(typed, passwd)).unwrap() else {
            panic!()
        };
        sixth.push(e.auth.answer(&mut l, "pw000000").unwrap());
    }
    for o in &sixth {
        assert!(
            matches!(o, Outcome::Rejected(Reject::Throttled { .. })),
            "{sixth:?}"
        );
    }
}

/// Second review, finding 7: without an address (a console, `su`), a network attacker kept the
/// user out indefinitely.
#[test]
fn the_network_never_throttles_a_login_without_an_address() {
    let e = env();
    let (secret, _) = enroll(&e);
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    for i in 0..50 {
        attempt(&e, "alice", &format!("10.0.1.{i}"), &format!("pw{wrong}"));
    }
    let console = LoginRequest {
        origin: None,
        ..unproven("alice", "unused", MissingCode::Fail)
    };
    let Begin::Prompt(mut l, _) = e.auth.begin(console).unwrap() else {
        panic!()
    };
    assert!(matches!(
        e.auth
            .answer(&mut l, &format!("pw{}", code(&secret, T0)))
            .unwrap(),
        Outcome::Accepted(_)
    ));
}

/// Third review, finding C: without an address, each service (`su`, `su-l`, `login`, ...) had
/// a bucket of its own, 1 855 codes a year each. They now share one, and a login through one
/// of them exempts none.
#[test]
fn logins_without_an_address_share_one_bucket_whatever_the_service() {
    let e = env();
    let (secret, _) = enroll(&e);
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    let local = |service: &str| LoginRequest {
        origin: None,
        ..LoginRequest {
            service: service.into(),
            ..unproven("alice", "unused", MissingCode::Fail)
        }
    };
    // alice's own `su` earlier gives that service no standing: every local user shares it.
    let Begin::Prompt(mut l, _) = e.auth.begin(local("runuser")).unwrap() else {
        panic!()
    };
    assert!(matches!(
        e.auth
            .answer(&mut l, &format!("pw{}", code(&secret, T0)))
            .unwrap(),
        Outcome::Accepted(_)
    ));
    let services = ["su", "su-l", "login", "sudo", "sudo-i", "runuser"];
    let mut outcomes = Vec::new();
    for service in services {
        let Begin::Prompt(mut l, _) = e.auth.begin(local(service)).unwrap() else {
            panic!()
        };
        outcomes.push(e.auth.answer(&mut l, &format!("pw{wrong}")).unwrap());
    }
    assert!(
        outcomes[..5]
            .iter()
            .all(|o| matches!(o, Outcome::Rejected(Reject::BadCode))),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[5], Outcome::Rejected(Reject::Throttled { .. })),
        "the sixth service is throttled too: {outcomes:?}"
    );
    // And the network is not: it has its own.
    e.clock.set(T0 + 30);
    assert!(matches!(
        attempt(
            &e,
            "alice",
            "192.0.2.80",
            &format!("pw{}", code(&secret, T0 + 30))
        ),
        Outcome::Accepted(_)
    ));
}

/// Fourth review: every login without an address shared one bucket, so any local account
/// running `su alice` with garbage kept alice out of her console and her own `sudo`; then
/// (fifth review) standing was earned per service, so it kept her out of every service she
/// had not used lately. Callers are now told apart: alice's own account, other accounts, and
/// root (the console's `login`), each with a name bucket of its own.
#[test]
fn another_account_never_keeps_a_user_out_of_her_console_or_her_own_services() {
    let e = env();
    let (secret, _) = enroll(&e);
    let local = |service: &str, caller: u32| LoginRequest {
        origin: None,
        caller: Some(caller),
        user_uid: Some(1000),
        ..LoginRequest {
            service: service.into(),
            ..unproven("alice", "unused", MissingCode::Fail)
        }
    };
    let try_local = |service: &str, caller: u32, answer: &str| {
        let Begin::Prompt(mut l, _) = e.auth.begin(local(service, caller)).unwrap() else {
            panic!()
        };
        e.auth.answer(&mut l, answer).unwrap()
    };
    let mut now = T0;
    for day in 0..5u64 {
        e.clock.set(now);
        // Mallory (uid 1001) runs `su alice` with garbage until throttled.
        let mut throttled = false;
        for _ in 0..12 {
            if let Outcome::Rejected(Reject::Throttled { .. }) = try_local("su", 1001, "pw000000") {
                throttled = true;
                break;
            }
        }
        assert!(throttled, "day {day}: Mallory is throttled");
        // Eve (uid 1002), another account, shares the other accounts' bucket.
        assert!(matches!(
            try_local("su", 1002, &format!("pw{}", code(&secret, now))),
            Outcome::Rejected(Reject::Throttled { .. })
        ));
        // alice at the console (login runs as root), and as herself through any service (none
        // used before), gets in.
        for (service, caller) in [
            ("login", 0),
            ("sudo", 1000),
            ("polkit-1", 1000),
            ("su", 1000),
        ] {
            let o = try_local(service, caller, &format!("pw{}", code(&secret, now)));
            assert!(
                matches!(o, Outcome::Accepted(_)),
                "day {day}, {service}: {o:?}"
            );
            now += 30;
            e.clock.set(now);
        }
        now += 24 * 3600;
    }
}

/// Fifth review: someone running as alice (malware in her session, with her password) got a
/// budget per service she had used. One account is one budget, whatever the service.
#[test]
fn one_account_is_one_budget_whatever_the_service() {
    let e = env();
    let (secret, _) = enroll(&e);
    let services = ["sudo", "su", "polkit-1", "sudo-i", "su-l", "chsh", "chfn"];
    let own = |service: &str| LoginRequest {
        origin: None,
        caller: Some(1000),
        user_uid: Some(1000),
        ..LoginRequest {
            service: service.into(),
            ..unproven("alice", "unused", MissingCode::Fail)
        }
    };
    // alice has used every one of them.
    for (i, service) in services.iter().enumerate() {
        let now = T0 + 30 * i as u64;
        e.clock.set(now);
        let Begin::Prompt(mut l, _) = e.auth.begin(own(service)).unwrap() else {
            panic!()
        };
        assert!(matches!(
            e.auth
                .answer(&mut l, &format!("pw{}", code(&secret, now)))
                .unwrap(),
            Outcome::Accepted(_)
        ));
    }
    let mut checked = 0;
    for service in services.iter().cycle().take(35) {
        let Begin::Prompt(mut l, _) = e.auth.begin(own(service)).unwrap() else {
            panic!()
        };
        if let Outcome::Rejected(Reject::BadCode) = e.auth.answer(&mut l, "pw000000").unwrap() {
            checked += 1;
        }
    }
    assert_eq!(checked, 5);
}

/// Third review, findings D and E: one place written several ways (a port, IPv4-mapped IPv6,
/// another address of the same /64, upper case) counted as several sources.
#[test]
fn one_place_spelt_many_ways_is_one_source() {
    let e = env();
    let (secret, _) = enroll(&e);
    // alice logs in from her /64: her source is good, exempt from the name's throttle.
    assert!(matches!(
        attempt(
            &e,
            "alice",
            "2001:db8:5:6::1",
            &format!("pw{}", code(&secret, T0))
        ),
        Outcome::Accepted(_)
    ));
    let wrong = crate::testing::wrong_code(&secret, 6, T0 + 30);
    e.clock.set(T0 + 30);
    // Five wrong codes from the same /64, spelt five ways: counted in her source's bucket.
    for spelling in [
        "2001:db8:5:6::2",
        "[2001:db8:5:6::3]:22",
        "2001:DB8:5:6:0:0:0:4",
        "2001:db8:5:6::5%eth0",
        " 2001:db8:5:6::6 ",
    ] {
        assert!(matches!(
            attempt(&e, "alice", spelling, &format!("pw{wrong}")),
            Outcome::Rejected(Reject::BadCode)
        ));
    }
    assert!(matches!(
        attempt(
            &e,
            "alice",
            "2001:db8:5:6::1",
            &format!("pw{}", code(&secret, T0 + 30))
        ),
        Outcome::Rejected(Reject::Throttled { .. })
    ));
    // The name's bucket, which every other source shares, was never touched.
    assert!(matches!(
        attempt(
            &e,
            "alice",
            "::ffff:192.0.2.81",
            &format!("pw{}", code(&secret, T0 + 60))
        ),
        Outcome::Accepted(_)
    ));
}

/// Fourth review: behind a NAT64 every IPv4 client was one "/64", so a stranger's wrong
/// answers throttled the source alice had logged in from.
#[test]
fn behind_nat64_every_ipv4_client_is_its_own_source() {
    let e = env();
    let (secret, _) = enroll(&e);
    // alice, 192.0.2.1 through the translator.
    assert!(matches!(
        attempt(
            &e,
            "alice",
            "64:ff9b::c000:201",
            &format!("pw{}", code(&secret, T0))
        ),
        Outcome::Accepted(_)
    ));
    e.clock.set(T0 + 30);
    // 203.0.113.9 through the same translator.
    for _ in 0..5 {
        attempt(&e, "alice", "64:ff9b::cb00:7109", "pw000000");
    }
    assert!(matches!(
        attempt(
            &e,
            "alice",
            "64:ff9b::c000:201",
            &format!("pw{}", code(&secret, T0 + 30))
        ),
        Outcome::Accepted(_)
    ));
}

/// Second review, finding 9: after a wrong code in PAM_AUTHTOK, the retry's right code was
/// accepted but nothing was handed on (the next module got the token with the wrong code).
#[test]
fn try_first_pass_hands_on_the_password_after_a_retry() {
    let e = env();
    let en = e.enroll_totp(
        "carol",
        &TotpOptions {
            digits: Some(8),
            ..TotpOptions::activated()
        },
    );
    let req = LoginRequest {
        max_tries: 3,
        ..unproven("carol", "192.0.2.1", MissingCode::Ask)
    };
    let Begin::Prompt(mut l, _) = e.auth.begin(req).unwrap() else {
        panic!()
    };
    let wrong = crate::testing::wrong_code(&en.secret, 8, T0);
    match e.auth.answer(&mut l, &format!("unix-pw{wrong}")).unwrap() {
        Outcome::Prompt(p) => assert_eq!(p.text, "Verification code: "),
        o => panic!("{o:?}"),
    }
    let c = crate::testing::code(&en.secret, 8, T0);
    assert!(matches!(
        e.auth.answer(&mut l, &c).unwrap(),
        Outcome::Accepted(_)
    ));
    assert_eq!(
        l.take_password().map(|p| p.to_string()).as_deref(),
        Some("unix-pw")
    );
}

/// Final review: realm forms of one name must not be fresh throttle buckets for it.
#[test]
fn realm_spellings_share_the_accounts_throttle() {
    let e = env();
    enroll(&e);
    let mut outcomes = Vec::new();
    for realm in ["A", "B", "C", "D", "E", "F"] {
        outcomes.push(attempt(
            &e,
            &format!("alice@{realm}"),
            "192.0.2.90",
            "pw000000",
        ));
    }
    assert!(
        matches!(outcomes[5], Outcome::Rejected(Reject::Throttled { .. })),
        "{outcomes:?}"
    );
    // And unlock ends it.
    e.admin.unlock_user("alice").unwrap();
    assert!(matches!(
        attempt(&e, "alice@G", "192.0.2.90", "pw000000"),
        Outcome::Rejected(Reject::BadCode)
    ));
}

/// Final review: at the code-alone prompt (`try_first_pass` after a token without a code), a
/// throttled name still had its answer checked (an Argon2 for a recovery-shaped one).
#[test]
fn a_throttled_name_costs_no_check_at_the_code_prompt_either() {
    let e = env();
    let (_, recovery) = enroll(&e);
    let Begin::Prompt(mut l, _) = e
        .auth
        .begin(unproven("alice", "192.0.2.91", MissingCode::Ask))
        .unwrap()
    else {
        panic!()
    };
    match e.auth.answer(&mut l, "unix-pw").unwrap() {
        Outcome::Prompt(p) => assert_eq!(p.text, "Verification code: "),
        o => panic!("{o:?}"),
    }
    // Meanwhile the name is throttled from this address.
    for _ in 0..5 {
        attempt(&e, "alice", "192.0.2.91", "pw000000");
    }
    let before = kdf::evaluations();
    let o = e.auth.answer(&mut l, &recovery[0]).unwrap();
    assert!(
        matches!(o, Outcome::Rejected(Reject::Throttled { .. })),
        "{o:?}"
    );
    assert_eq!(
        kdf::evaluations(),
        before,
        "no Argon2 for a throttled answer"
    );
}

/// The documented PAM stack before the password module (`forward_pass`): a spray of made-up
/// names from one address is one row a minute, not one per attempt.
#[test]
fn before_the_password_a_spray_of_made_up_names_folds_into_one_row() {
    let e = env();
    for i in 0..300 {
        let out = attempt(&e, &format!("bot{i}"), "198.51.100.7", "hunter2123456");
        assert!(matches!(out, Outcome::Rejected(_)), "{out:?}");
    }
    let all = e.store.audit(None, 10_000).unwrap();
    let details: Vec<_> = all.iter().map(|r| (r.detail.clone(), r.count)).collect();
    assert!(all.len() <= 2, "{details:?}");
    assert_eq!(all.iter().map(|r| r.count).sum::<u32>(), 300, "{details:?}");
}
