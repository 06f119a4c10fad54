//! One canonical name: every spelling of an enrolled user's name reaches that user.

use super::*;

/// Issue 9, defect 3: name variants were looked up byte-exact, found unenrolled, and passed.
#[test]
fn no_spelling_of_an_enrolled_name_is_ignored_as_unenrolled() {
    let e = env();
    let (secret, _) = enroll(&e);
    for (i, variant) in [
        "ALICE",
        "alice ",
        " alice",
        "\u{ff41}lice",
        "alice\u{200b}",
        "Alice",
    ]
    .iter()
    .enumerate()
    {
        let req = LoginRequest {
            allow_unenrolled: true,
            ..request(variant)
        };
        match e.auth.begin(req).unwrap() {
            Begin::Prompt(mut l, _) => {
                let t = T0 + 30 * i as u64;
                e.clock.set(t);
                match e.auth.answer(&mut l, &code(&secret, t)).unwrap() {
                    Outcome::Accepted(v) => assert_eq!(v.user, "alice"),
                    o => panic!("{variant:?}: {o:?}"),
                }
            }
            b => panic!("{variant:?} was not asked for a code: {b:?}"),
        }
    }
    // Audited under the stored name.
    let rows = e.store.audit(Some("alice"), 100).unwrap();
    assert!(
        rows.iter()
            .filter(|r| r.result == AuditResult::Accept)
            .count()
            >= 6
    );
}

#[test]
fn the_passwd_name_reaches_the_enrolled_user() {
    let e = env();
    let (secret, _) = enroll(&e);
    // PAM_USER as typed (`alice@corp`), and the name the passwd database gives for it.
    let req = LoginRequest {
        allow_unenrolled: true,
        also_known_as: Some("alice".into()),
        ..request("alice@corp")
    };
    let Begin::Prompt(mut l, _) = e.auth.begin(req).unwrap() else {
        panic!("an enrolled account must be asked for a code")
    };
    assert!(matches!(
        e.auth.answer(&mut l, &code(&secret, T0)).unwrap(),
        Outcome::Accepted(_)
    ));
}

#[test]
fn a_name_that_collides_with_another_is_refused() {
    let e = env();
    e.admin.add_user("alice", None).unwrap();
    for other in ["Alice", "ALICE", "\u{ff41}lice"] {
        let err = e.admin.add_user(other, None).unwrap_err();
        assert!(
            matches!(&err, CoreError::NameCollision { existing, .. } if existing == "alice"),
            "{other:?}: {err}"
        );
        assert!(err.to_string().contains("\"alice\""), "{err}");
    }
    assert!(matches!(
        e.admin.add_user("alice", None).unwrap_err(),
        CoreError::UserExists { .. }
    ));
    for bad in [" bob", "bob ", "bo\u{200b}b"] {
        assert!(e.admin.add_user(bad, None).is_err(), "{bad:?}");
    }
    // The administrator reaches the user under any spelling.
    assert_eq!(e.admin.show_user("ALICE").unwrap().user.name, "alice");
}

/// Review finding 10: after migration 4, `tessera user lock alice` hit the shadowed `alice`
/// while logins of `alice` reached `Alice`.
#[test]
fn administration_reaches_the_user_logins_reach_and_a_shadowed_one_only_on_purpose() {
    let e = env();
    let (secret, _) = enroll(&e);
    // A second spelling stored before names were canonical: no key, shadowed.
    rusqlite::Connection::open(e.store.path())
        .unwrap()
        .execute(
            "INSERT INTO users (name, name_key, created_at) VALUES ('ALICE', NULL, 1)",
            [],
        )
        .unwrap();
    e.admin.lock_user("ALICE").unwrap();
    assert!(matches!(
        login(&e, request("alice"), &code(&secret, T0)),
        Outcome::Rejected(Reject::LockedOut { until: None })
    ));
    e.admin.unlock_user("ALICE").unwrap();
    let shadowed: Vec<String> = e
        .admin
        .users()
        .unwrap()
        .into_iter()
        .filter(|s| s.shadowed)
        .map(|s| s.user.name)
        .collect();
    assert_eq!(shadowed, ["ALICE"]);
    // Removing the user logins reach would hand the name to the shadowed one (and its
    // factors): refused, unless asked for.
    let err = e.admin.remove_user("alice", false).unwrap_err();
    assert!(matches!(err, CoreError::WouldHandOver { .. }), "{err}");
    assert_eq!(e.admin.show_user("alice").unwrap().user.name, "alice");
    assert_eq!(
        e.admin.remove_user("alice", true).unwrap().as_deref(),
        Some("ALICE")
    );
    assert_eq!(e.admin.show_user("alice").unwrap().user.name, "ALICE");
    assert!(e.admin.users().unwrap().iter().all(|s| !s.shadowed));
    // And a shadowed user is removed only when asked for by that flag.
    rusqlite::Connection::open(e.store.path())
        .unwrap()
        .execute(
            "INSERT INTO users (name, name_key, created_at) VALUES ('Alice', NULL, 2)",
            [],
        )
        .unwrap();
    e.admin.remove_shadowed_user("Alice").unwrap();
    assert_eq!(e.admin.show_user("alice").unwrap().user.name, "ALICE");
    assert!(
        e.admin.remove_shadowed_user("ALICE").is_err(),
        "not shadowed"
    );
}

/// Final review: with no passwd to map it (RADIUS), a realm form of an enrolled name
/// (`alice@EXAMPLE.COM`, `EXAMPLE\alice`, which Active Directory takes for alice) was unknown,
/// so `allow_unenrolled` let it in without a code.
#[test]
fn a_realm_form_of_an_enrolled_name_is_that_user() {
    let e = env();
    let (secret, _) = enroll(&e);
    for (i, variant) in ["alice@EXAMPLE.COM", "EXAMPLE\\alice", "alice@example"]
        .iter()
        .enumerate()
    {
        let req = LoginRequest {
            allow_unenrolled: true,
            channel: Channel::Radius,
            ..request(variant)
        };
        match e.auth.begin(req).unwrap() {
            Begin::Prompt(mut l, _) => {
                let t = T0 + 30 * i as u64;
                e.clock.set(t);
                match e.auth.answer(&mut l, &code(&secret, t)).unwrap() {
                    Outcome::Accepted(v) => assert_eq!(v.user, "alice"),
                    o => panic!("{variant:?}: {o:?}"),
                }
            }
            b => panic!("{variant:?} was not asked for a code: {b:?}"),
        }
    }
    // A realm-qualified user enrolled as such is still found as itself.
    let en = e.enroll_totp("bob@corp", &TotpOptions::activated());
    let Begin::Prompt(mut l, _) = e.auth.begin(request("BOB@corp")).unwrap() else {
        panic!()
    };
    e.clock.set(T0 + 300);
    match e.auth.answer(&mut l, &code(&en.secret, T0 + 300)).unwrap() {
        Outcome::Accepted(v) => assert_eq!(v.user, "bob@corp"),
        o => panic!("{o:?}"),
    }
}
