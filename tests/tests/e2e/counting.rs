//! What counts as a wrong code, seen from outside: the lock a front-end's wrong codes lead to, a
//! retransmission or a CHAP request that counts nothing (or once), a replayed code that is told
//! and not counted, and the notice of wrong codes at the next login. The lock state is read with
//! `tessera --json user show`, as an administrator would.

use std::time::Duration;

use radius::core::code::Code;
use radius::core::rfc2865;
use tessera_tests::{Install, SmtpMode, SmtpServer, code_in_mail, oathtool_code};

use crate::email::enroll_email;
use crate::pam::{AUTH_ERR, POLICY, Service, wrong_code};
use crate::radius::{
    Client, SECRET, install_with, pap, set_password, start, user_with_password, wrong,
};

/// max_failures = 3 (the RADIUS test installations' policy), lockout = 15 minutes (the default).
const LOCKED: &str = "Too many failed attempts: the account is locked for 15 minutes.";
const REPLAYED: &str = "That code was already used; wait for the next one.";
const OTP_ONLY: &str = "mode = \"otp-only\"\nfirst_factor = \"none\"";

// ---- RADIUS auto mode: the password followed by a wrong code --------------------------------

#[test]
fn radius_auto_password_with_wrong_totp_codes_locks_the_user() {
    let t = install_with("mode = \"auto\"\nfirst_factor = \"password\"", "", "");
    let (secret, _) = user_with_password(&t, "judy", "hunter2");
    let s = start(t);
    // Each a new request, not an answer to the retry challenge the first two get.
    for n in 1..=3 {
        let r = s.radclient(
            "auth",
            SECRET,
            &pap("judy", &format!("hunter2{}", wrong_code(&secret))),
        );
        if n < 3 {
            assert!(
                r.is("Access-Challenge") || r.is("Access-Reject"),
                "wrong code {n}: {}\n{}",
                r.out,
                s.log()
            );
            assert_eq!(s.install.lock("judy")["failures"], n, "{}", s.log());
        } else {
            assert!(
                r.is("Access-Reject"),
                "wrong code {n}: {}\n{}",
                r.out,
                s.log()
            );
            assert_eq!(
                r.attr("Reply-Message").as_deref(),
                Some(LOCKED),
                "{}\n{}",
                r.out,
                s.log()
            );
        }
    }
    // Counted as wrong codes (the second factor's lock), not as wrong passwords.
    let lock = s.install.lock("judy");
    assert_eq!(lock["locked"], true, "{lock}");
    assert_eq!(lock["locks"], 1, "{lock}");

    // Locked: the password with the right code is refused too.
    let r = s.radclient(
        "auth",
        SECRET,
        &pap("judy", &format!("hunter2{}", oathtool_code(&secret, 0))),
    );
    assert!(r.is("Access-Reject"), "{}\n{}", r.out, s.log());
    assert_eq!(
        r.attr("Reply-Message").as_deref(),
        Some(LOCKED),
        "{}",
        r.out
    );
    s.log_containing("user=judy result=reject reason=locked_out");
}

#[test]
fn radius_auto_password_with_wrong_mailed_codes_locks_the_user() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = install_with(
        "mode = \"auto\"\nfirst_factor = \"password\"",
        "",
        &smtp.config("min_interval = \"0s\""),
    );
    let address = "alice@example.com";
    let out = t.tessera(&["user", "add", "alice", "--email", address]);
    assert!(out.status.success(), "{out:?}");
    enroll_email(&t, &smtp, "alice", address);
    set_password(&t, "alice", "hunter2");
    let s = start(t);
    let before = smtp.messages().len();

    // The password alone: a code is mailed and asked for.
    let r = s.radclient("auth", SECRET, &pap("alice", "hunter2"));
    assert!(r.is("Access-Challenge"), "{}\n{}", r.out, s.log());
    let message = r.attr("Reply-Message").unwrap_or_default();
    assert!(
        message.contains("A code was sent to a***@example.com"),
        "{message}"
    );
    let code = code_in_mail(&smtp.wait_for(before + 1));
    let bad = wrong(&code);

    // The password followed by a wrong mailed code, three times: locked.
    for n in 1..=3 {
        let r = s.radclient("auth", SECRET, &pap("alice", &format!("hunter2{bad}")));
        if n < 3 {
            assert!(
                !r.is("Access-Accept"),
                "wrong code {n}: {}\n{}",
                r.out,
                s.log()
            );
            assert_eq!(s.install.lock("alice")["failures"], n, "{}", s.log());
        } else {
            assert!(
                r.is("Access-Reject"),
                "wrong code {n}: {}\n{}",
                r.out,
                s.log()
            );
            assert_eq!(
                r.attr("Reply-Message").as_deref(),
                Some(LOCKED),
                "{}\n{}",
                r.out,
                s.log()
            );
        }
    }
    assert_eq!(
        smtp.messages().len(),
        before + 1,
        "a code came with each: no new mail"
    );
    let lock = s.install.lock("alice");
    assert_eq!(lock["locked"], true, "{lock}");
    assert_eq!(lock["locks"], 1, "{lock}");

    // Locked: the password with the mailed code itself is refused.
    let r = s.radclient("auth", SECRET, &pap("alice", &format!("hunter2{code}")));
    assert!(r.is("Access-Reject"), "{}\n{}", r.out, s.log());
    assert_eq!(
        r.attr("Reply-Message").as_deref(),
        Some(LOCKED),
        "{}",
        r.out
    );
}

// ---- what counts once, or not at all ---------------------------------------------------------

#[test]
fn radius_retransmitted_wrong_code_counts_once() {
    let t = install_with(OTP_ONLY, "", "");
    let (secret, _) = t.enroll_totp("leo");
    let s = start(t);
    let c = Client::new(SECRET);
    // The same packet twice (same Identifier and Request Authenticator): a retransmission.
    let req = c.access_request(7, "leo", &wrong_code(&secret));
    let first = c.exchange(&req, s.addr(), Duration::from_secs(5)).unwrap();
    let again = c.exchange(&req, s.addr(), Duration::from_secs(5)).unwrap();
    assert_eq!(first, again, "the cached response, byte for byte");
    assert_eq!(c.decode(&first, &req).get_code(), Code::AccessReject);
    s.log_containing("retransmission answered from cache");
    s.log_containing("user=leo result=reject reason=bad_code");
    let lock = s.install.lock("leo");
    assert_eq!(lock["failures"], 1, "{lock}");
    assert_eq!(lock["wrong_codes_since_last_login"], 1, "{lock}");
}

#[test]
fn radius_chap_request_counts_no_failure() {
    let t = install_with(OTP_ONLY, "", "");
    t.enroll_totp("kim");
    let s = start(t);
    let r = s.radclient(
        "auth",
        SECRET,
        "User-Name = \"kim\"\nCHAP-Password = \"123456\"\nMessage-Authenticator = 0x00\n",
    );
    assert!(r.is("Access-Reject"), "{}", r.out);
    s.log_containing("reason=chap_cannot_carry_a_one_time_code");
    let lock = s.install.lock("kim");
    assert_eq!(lock["failures"], 0, "{lock}");
    assert_eq!(lock["wrong_codes_since_last_login"], 0, "{lock}");
}

#[test]
fn radius_replayed_code_is_told_and_not_counted() {
    let t = install_with(OTP_ONLY, "", "");
    let (secret, _) = t.enroll_totp("erin");
    let s = start(t);
    let code = oathtool_code(&secret, 0);
    let r = s.radclient("auth", SECRET, &pap("erin", &code));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    // The same code in a new request (radclient picks a new Identifier and Authenticator).
    let r = s.radclient("auth", SECRET, &pap("erin", &code));
    assert!(r.is("Access-Reject"), "{}\n{}", r.out, s.log());
    assert_eq!(
        r.attr("Reply-Message").as_deref(),
        Some(REPLAYED),
        "{}",
        r.out
    );
    s.log_containing("user=erin result=reject reason=replayed");
    let lock = s.install.lock("erin");
    assert_eq!(lock["failures"], 0, "{lock}");
    assert_eq!(lock["wrong_codes_since_last_login"], 0, "{lock}");
}

// ---- the notice of wrong codes at the next login ----------------------------------------------

#[test]
fn pamtester_login_after_two_wrong_codes_warns_of_them() {
    let t = Install::new(POLICY);
    let (secret, codes) = t.enroll_totp("alice");
    let svc = Service::tessera(&t, "");
    for _ in 0..2 {
        svc.pamtester("alice", &format!("{}\n", wrong_code(&secret)), &[])
            .assert_pam_error(AUTH_ERR);
    }
    assert_eq!(t.lock("alice")["wrong_codes_since_last_login"], 2);
    let run = svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[]);
    run.assert_ok();
    assert!(
        run.out.contains(
            "Warning: 2 wrong codes were entered for your account since your last login."
        ),
        "{}",
        run.out
    );
    let lock = t.lock("alice");
    // The two wrong codes came in other conversations: they stay in the lockout's bucket (and
    // leak out a day at a time), so someone pacing guesses between her logins still locks.
    assert_eq!(lock["failures"], 2, "{lock}");
    assert_eq!(lock["wrong_codes_since_last_login"], 0, "{lock}");
    // Told once: the login after it has nothing to warn of.
    let run = svc.pamtester("alice", &format!("{}\n", codes[0]), &[]);
    run.assert_ok();
    assert!(!run.out.contains("wrong code"), "{}", run.out);
}

#[test]
fn radius_accept_after_two_wrong_codes_warns_of_them() {
    let t = install_with(OTP_ONLY, "", "");
    let (secret, codes) = t.enroll_totp("nora");
    let s = start(t);
    for _ in 0..2 {
        let r = s.radclient("auth", SECRET, &pap("nora", &wrong_code(&secret)));
        assert!(r.is("Access-Reject"), "{}\n{}", r.out, s.log());
    }
    let r = s.radclient("auth", SECRET, &pap("nora", &oathtool_code(&secret, 0)));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    let message = r.attr("Reply-Message").unwrap_or_default();
    assert!(
        message.contains("2 wrong codes were entered"),
        "{}\n{}",
        r.out,
        s.log()
    );
    // Told once.
    let r = s.radclient("auth", SECRET, &pap("nora", &codes[0]));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    let message = r.attr("Reply-Message").unwrap_or_default();
    assert!(!message.contains("wrong code"), "{}", r.out);
}

/// The challenge answered with a State: a wrong mailed code given that way is counted too (the
/// same rule as the password-plus-code form above), and a retransmission of it once.
#[test]
fn radius_auto_challenge_answered_with_a_wrong_mailed_code_counts_once_per_request() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = install_with(
        "mode = \"auto\"\nfirst_factor = \"password\"",
        "",
        &smtp.config("min_interval = \"0s\""),
    );
    let address = "bea@example.com";
    let out = t.tessera(&["user", "add", "bea", "--email", address]);
    assert!(out.status.success(), "{out:?}");
    enroll_email(&t, &smtp, "bea", address);
    set_password(&t, "bea", "hunter2");
    let s = start(t);
    let before = smtp.messages().len();

    let c = Client::new(SECRET);
    let wait = Duration::from_secs(10);
    let req = c.access_request(1, "bea", "hunter2");
    let resp = c.exchange(&req, s.addr(), wait).expect("an answer");
    let challenge = c.decode(&resp, &req);
    assert_eq!(challenge.get_code(), Code::AccessChallenge, "{}", s.log());
    let state = rfc2865::lookup_state(&challenge).expect("State");
    let code = code_in_mail(&smtp.wait_for(before + 1));

    let mut p = c.access_packet(2, "bea", &wrong(&code));
    rfc2865::add_state(&mut p, &state);
    let answer = c.sign(p);
    let first = c.exchange(&answer, s.addr(), wait).expect("an answer");
    let again = c.exchange(&answer, s.addr(), wait).expect("an answer");
    assert_eq!(first, again, "the cached response, byte for byte");
    assert_ne!(
        c.decode(&first, &answer).get_code(),
        Code::AccessAccept,
        "{}",
        s.log()
    );
    s.log_containing("retransmission answered from cache");
    let lock = s.install.lock("bea");
    assert_eq!(lock["failures"], 1, "{lock}");
    assert_eq!(smtp.messages().len(), before + 1, "no second mail");
}

#[test]
fn radius_auto_retry_challenge_after_a_wrong_code_asks_for_the_code_alone() {
    let t = install_with("mode = \"auto\"\nfirst_factor = \"password\"", "", "");
    let (secret, _) = user_with_password(&t, "judy", "hunter2");
    let s = start(t);
    let r = s.radclient(
        "auth",
        SECRET,
        &pap("judy", &format!("hunter2{}", wrong_code(&secret))),
    );
    assert!(r.is("Access-Challenge"), "{}\n{}", r.out, s.log());
    // The password was proven: the challenge asks for what its answer is read as, the code.
    let message = r.attr("Reply-Message").unwrap_or_default();
    assert_eq!(
        message, "Invalid code, try again. Verification code:",
        "{}",
        r.out
    );
    let state = r.attr("State").expect("State in the challenge");
    let code = oathtool_code(&secret, 0);
    let r = s.radclient(
        "auth",
        SECRET,
        &format!("{}State = {state}\n", pap("judy", &code)),
    );
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
}
