//! Names that look like an enrolled user's: another case, a space before or after, full-width
//! letters, an invisible character. Each is the same user (one canonical name), so where
//! unenrolled users are let through (`allow_unenrolled`, PAM `nullok`) such a name must still
//! need the user's code, and the right code works under it.

use tessera_tests::{Install, oathtool_code};

use crate::pam::{AUTH_ERR, POLICY, Service, wrong_code_within};
use crate::radius::{SECRET, install_with, pap, start};

/// Full-width small a (U+FF41), then "lice": NFKC makes it "alice".
const FULL_WIDTH: &str = "\u{ff41}lice";

#[test]
fn radius_unenrolled_allowed_never_lets_a_variant_of_an_enrolled_name_in_without_its_code() {
    // Each variant logs in once with the right code, and a code's time step is used once: a
    // window of four steps either side gives five logins their own steps.
    // Wrong codes of one conversation stay in the lockout's bucket after another one's success
    // (they leak out a day at a time): the test's five wrong codes must not lock alice.
    let t = install_with(
        "mode = \"otp-only\"\nfirst_factor = \"none\"\nallow_unenrolled = true",
        "",
        "[totp]\nwindow = 4\n",
    );
    let cfg = std::fs::read_to_string(&t.config).unwrap();
    std::fs::write(
        &t.config,
        cfg.replace("max_failures = 3", "max_failures = 10"),
    )
    .unwrap();
    let (secret, _) = t.enroll_totp("alice");
    let s = start(t);
    // radclient takes a quoted User-Name as the UTF-8 bytes between the quotes, spaces and
    // invisible characters included (the server's log shows the names as received).
    let variants = ["ALICE", "alice ", " alice", FULL_WIDTH, "alice\u{200b}"];
    for (i, name) in variants.iter().enumerate() {
        let bad = wrong_code_within(&secret, 5);
        let r = s.radclient("auth", SECRET, &pap(name, &bad));
        assert!(
            r.is("Access-Reject"),
            "{name:?} with a wrong code: {}\n{}",
            r.out,
            s.log()
        );
        // Steps -2, -1, 0, 1, 2 from now, in that order: each later than the one before.
        let offset = (i64::try_from(i).unwrap() - 2) * 30;
        let r = s.radclient("auth", SECRET, &pap(name, &oathtool_code(&secret, offset)));
        assert!(
            r.is("Access-Accept"),
            "{name:?} with the right code: {}\n{}",
            r.out,
            s.log()
        );
    }
    // The names reached alice's factor: the logins are hers, none of them "unenrolled".
    let log = s.log_containing("user=alice\\u{200b} result=accept");
    assert!(!log.contains("reason=unenrolled_allowed"), "{log}");
    let audit = s
        .install
        .tessera_json(&["audit", "--user", "alice", "--limit", "20"])
        .to_string();
    assert_eq!(audit.matches("\"accept\"").count(), 5, "{audit}");
    assert_eq!(audit.matches("\"reject\"").count(), 5, "{audit}");

    // A name nobody enrolled is let through, as configured.
    let r = s.radclient("auth", SECRET, &pap("nobody", "123456"));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    s.log_containing("user=nobody result=accept reason=unenrolled_allowed");
}

#[test]
fn pamtester_nullok_asks_variants_of_an_enrolled_name_for_its_code() {
    // Three variants, three right codes: a window of two steps gives each its own step.
    // max_failures above the test's wrong codes: they stay in the lockout's bucket across the
    // separate conversations (they leak out a day at a time).
    let policy = POLICY.replace("max_failures = 3", "max_failures = 10");
    let t = Install::new(&format!("{policy}\n[totp]\nwindow = 2\n"));
    let (secret, _) = t.enroll_totp("alice");
    let module = format!("{{module}} config={} nullok", t.config.display());
    // PAM_IGNORE would let a wrong code through this stack...
    let permit = Service::new(&format!(
        "auth required {module}\nauth required pam_permit.so\n"
    ));
    // ...and would not be enough for this one: only PAM_SUCCESS gets past pam_deny.
    let deny = Service::new(&format!(
        "auth sufficient {module}\nauth required pam_deny.so\n"
    ));
    for (i, name) in ["ALICE", "alice ", FULL_WIDTH].iter().enumerate() {
        let run = permit.pamtester(name, &format!("{}\n", wrong_code_within(&secret, 3)), &[]);
        run.assert_pam_error(AUTH_ERR);
        assert!(
            run.out.contains("Verification code: "),
            "{name:?}: {}",
            run.out
        );
        let offset = (i64::try_from(i).unwrap() - 1) * 30;
        let run = deny.pamtester(name, &format!("{}\n", oathtool_code(&secret, offset)), &[]);
        assert!(
            run.ok(),
            "{name:?} with the right code: {:?}\n{}",
            run.code,
            run.out
        );
        assert!(
            run.out.contains("Verification code: "),
            "{name:?}: {}",
            run.out
        );
    }
    let audit = t
        .tessera_json(&["audit", "--user", "alice", "--limit", "20"])
        .to_string();
    assert_eq!(audit.matches("\"accept\"").count(), 3, "{audit}");
    assert!(!audit.contains("\"ignore\""), "{audit}");
}
