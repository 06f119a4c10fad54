//! Enrollment at login (`[policy] enroll_at_login`) through the real front-ends: pam_tessera.so
//! under pamtester (pam_wrapper) and under a real sshd with the real ssh client, each driven
//! prompt by prompt through tests/scripts/converse.py, which types the new authenticator's code
//! from the secret the conversation showed (`send_totp`); and tessera-radiusd under radclient,
//! with the proof mailed to a real SMTP server. What the CLI says afterwards is checked too:
//! the factor's status, the invitation's, the lock counters. The sshd and RADIUS tests are in
//! enroll/remote.rs.

use std::time::Duration;

use serde_json::{Value, json};
use tessera_tests::{Install, oathtool_code};

use crate::pam::{AUTH_ERR, Run, Service, last_audit, run_script, scripted, wrapper_failed};

/// sshd and RADIUS.
mod remote;

/// `[policy] enroll_help`: told wherever a user cannot enroll.
const HELP: &str = "See https://help.example.com/2fa.";
/// The secret as shown for typing by hand, in groups of four (converse.py's `send_totp`).
const SECRET_SHOWN: &str = r"Or enter this key by hand: ([A-Z2-7 ]+?) \(";
const PROOF_PROMPT: &str = "Enrollment code from your administrator";
const APP_PROMPT: &str = "Code from the app, to finish: ";
const ACK_PROMPT: &str = r#"Type "yes" once you have saved them: "#;
const WRONG: &str = "Invalid code, try again.";
const SUCCESS: &str = "successfully authenticated";

/// Three tries per conversation, a lock only after five failures: a test can miss three times
/// in one conversation and still see the counters, not a lock.
fn policy(mode: &str) -> String {
    format!(
        "[policy]\nmax_tries = 3\nmax_failures = 5\nlockout = \"15m\"\n\
         enroll_at_login = \"{mode}\"\nenroll_help = \"{HELP}\"\n"
    )
}

fn expect(regex: &str) -> Value {
    json!(["expect", regex])
}

fn send(text: &str) -> Value {
    json!(["send", text])
}

/// Type the current code of the authenticator the conversation showed.
fn send_totp() -> Value {
    json!(["send_totp", SECRET_SHOWN])
}

/// Type a code that is the shown authenticator's at no step of the window (default 1).
fn send_wrong_totp() -> Value {
    json!(["send_wrong_totp", SECRET_SHOWN])
}

/// `tessera user invite USER`: the single-use code.
fn invite(t: &Install, user: &str) -> String {
    let v = t.tessera_json(&["user", "invite", user]);
    let code = v["code"].as_str().expect("an enrollment code").to_string();
    assert_eq!(code.len(), 19, "xxxx-xxxx-xxxx-xxxx: {v}");
    code
}

/// `tessera --json factor list USER`.
fn factors(t: &Install, user: &str) -> Vec<Value> {
    t.tessera_json(&["factor", "list", user])["factors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The `invitation` object of `tessera --json user show USER`.
fn invitation(t: &Install, user: &str) -> Value {
    t.tessera_json(&["user", "show", user])["invitation"].clone()
}

/// What `tessera user show USER` prints for a person.
fn show_text(t: &Install, user: &str) -> String {
    let out = t.tessera(&["user", "show", user]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn has_half_blocks(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c, '\u{2580}' | '\u{2584}' | '\u{2588}'))
}

/// The secret a transcript showed for typing by hand, and the one in its otpauth URI (the last
/// of each: a conversation may show several authenticators).
fn secrets_shown(transcript: &str) -> (String, String) {
    let by_hand = transcript
        .rsplit("Or enter this key by hand: ")
        .next()
        .filter(|_| transcript.contains("Or enter this key by hand: "))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || ('2'..='7').contains(c) || *c == ' ')
                .filter(|c| *c != ' ')
                .collect::<String>()
        })
        .unwrap_or_else(|| panic!("no secret shown:\n{transcript}"));
    let in_uri = transcript
        .rsplit("otpauth://totp/")
        .next()
        .filter(|_| transcript.contains("otpauth://totp/"))
        .and_then(|uri| uri.split("secret=").nth(1))
        .map(|s| s.chars().take_while(char::is_ascii_alphanumeric).collect())
        .unwrap_or_else(|| panic!("no otpauth URI with a secret:\n{transcript}"));
    (by_hand, in_uri)
}

/// The recovery codes (`xxxx-xxxx-xxxx`) shown after "Your recovery codes:".
fn recovery_codes_in(transcript: &str) -> Vec<String> {
    let after = transcript
        .split("Your recovery codes:")
        .nth(1)
        .unwrap_or_else(|| panic!("no recovery codes shown:\n{transcript}"));
    after
        .split(char::is_whitespace)
        .take_while(|w| !w.starts_with("Type") && !w.starts_with("Answer"))
        .filter(|w| {
            let b = w.as_bytes();
            b.len() == 14
                && b[4] == b'-'
                && b[9] == b'-'
                && w.chars().all(|c| c == '-' || c.is_ascii_alphanumeric())
        })
        .map(str::to_string)
        .collect()
}

/// pamtester in a pseudo-terminal following `script`, started again when pam_wrapper failed
/// before the module ran (several conversations start at once; see `Service::pamtester`).
fn talk(svc: &Service, user: &str, script: &[Value]) -> Run {
    let argv = svc.pamtester_argv(user, &[]);
    let mut attempts = 0;
    loop {
        let run = run_script(script.to_vec(), &argv);
        attempts += 1;
        if !wrapper_failed(&run) || attempts == 10 {
            return scripted(run);
        }
        std::thread::sleep(Duration::from_millis(20 * attempts));
    }
}

/// One conversation under pamtester that enrolls `user` with the invitation `code`, answering
/// the new authenticator first with `wrong` wrong codes; it must succeed.
fn enroll_by_invitation(svc: &Service, user: &str, code: &str, wrong: usize) -> Run {
    let mut steps = vec![expect(PROOF_PROMPT), send(code), expect(APP_PROMPT)];
    for _ in 0..wrong {
        steps.extend([send_wrong_totp(), expect(WRONG), expect(APP_PROMPT)]);
    }
    steps.extend([
        send_totp(),
        expect(ACK_PROMPT),
        send("yes"),
        expect(SUCCESS),
    ]);
    let run = talk(svc, user, &steps);
    run.assert_ok();
    run
}

// ---- pamtester ------------------------------------------------------------------------------

#[test]
fn enroll_required_without_an_invitation_is_refused_and_told_how_to_get_one() {
    let t = Install::new(&policy("required"));
    assert!(t.tessera(&["user", "add", "bob"]).status.success());
    let svc = Service::tessera(&t, "");
    let mut shown = Vec::new();
    for user in ["bob", "nobody-in-the-store"] {
        let run = svc.pamtester(user, "", &[]);
        run.assert_pam_error(AUTH_ERR);
        assert!(run.out.contains("ask your administrator"), "{}", run.out);
        assert!(run.out.contains(HELP), "enroll_help is told: {}", run.out);
        // Nothing to answer: no prompt for a code or a proof the user does not have.
        assert!(!run.out.contains(PROOF_PROMPT), "{}", run.out);
        assert!(!run.out.contains("Verification code"), "{}", run.out);
        // pam_wrapper's own line names its process.
        let lines: Vec<&str> = run
            .out
            .lines()
            .filter(|l| !l.starts_with("PWRAP_ERROR"))
            .collect();
        shown.push(lines.join("\n").replace(user, "USER"));
    }
    assert_eq!(shown[0], shown[1], "a known and an unknown name look alike");
    let ev = last_audit(&t, "bob");
    assert_eq!(
        (&ev["result"], &ev["detail"]),
        (&json!("reject"), &json!("not_set_up; no_invitation")),
        "{ev}"
    );
    assert!(factors(&t, "bob").is_empty());
}

#[test]
fn enroll_with_an_invitation_shows_the_authenticator_and_activates_it_after_a_wrong_code() {
    let t = Install::new(&policy("required"));
    let code = invite(&t, "alice");
    assert_eq!(invitation(&t, "alice")["pending"], true);
    assert!(show_text(&t, "alice").contains("invited:   pending, valid until "));
    let svc = Service::tessera(&t, "");

    let run = enroll_by_invitation(&svc, "alice", &code, 1);
    let out = &run.out;
    assert!(
        out.contains("must be set up for your account before you can log in"),
        "{out}"
    );
    assert!(has_half_blocks(out), "a QR code in half blocks:\n{out}");
    let (by_hand, in_uri) = secrets_shown(out);
    assert!(by_hand.len() >= 26, "{by_hand}");
    assert_eq!(by_hand, in_uri, "the key and the link carry one secret");
    assert!(
        out.contains("Or open this link on the phone: otpauth://totp/"),
        "{out}"
    );
    assert!(!out.contains(&code), "the invitation is not echoed:\n{out}");
    let codes = recovery_codes_in(out);
    assert_eq!(codes.len(), 10, "{codes:?}\n{out}");

    // The factor is active, the invitation used, the wrong code counted.
    let f = factors(&t, "alice");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (&f[0]["kind"], &f[0]["status"]),
        (&json!("totp"), &json!("active"))
    );
    let inv = invitation(&t, "alice");
    assert_eq!(inv["pending"], false, "{inv}");
    assert!(inv["used_at"].is_u64(), "{inv}");
    assert!(show_text(&t, "alice").contains("invited:   used "));
    let ev = last_audit(&t, "alice");
    assert_eq!(
        (&ev["result"], &ev["method"], &ev["detail"]),
        (
            &json!("accept"),
            &json!("totp"),
            &json!("enrolled_at_login")
        ),
        "{ev}"
    );
    let audit = t
        .tessera_json(&["audit", "--user", "alice", "--limit", "30"])
        .to_string();
    assert!(audit.contains("bad_code; enrolling"), "{audit}");
    assert!(!audit.contains(&by_hand), "no secret in the audit log");

    // A later login is an ordinary one: the app's code (the next step's: the enrollment
    // claimed the current one) ...
    let next = oathtool_code(&by_hand, 30);
    let run = svc.pamtester("alice", &format!("{next}\n"), &[]);
    run.assert_ok();
    assert!(run.out.contains("Verification code: "), "{}", run.out);
    assert!(!run.out.contains(PROOF_PROMPT), "{}", run.out);
    assert_eq!(last_audit(&t, "alice")["method"], "totp");
    // ... or a recovery code shown at the enrollment, once.
    let rc = format!("{}\n", codes[0]);
    svc.pamtester("alice", &rc, &[]).assert_ok();
    assert_eq!(last_audit(&t, "alice")["method"], "recovery");
    let run = svc.pamtester("alice", &rc, &[]);
    assert!(!run.ok(), "{}", run.out);
    assert!(run.out.contains("already used"), "{}", run.out);
}

#[test]
fn enroll_an_invitation_is_single_use_even_once_the_factor_is_gone() {
    let t = Install::new(&policy("required"));
    let code = invite(&t, "alice");
    let svc = Service::tessera(&t, "");
    enroll_by_invitation(&svc, "alice", &code, 0);
    let id = factors(&t, "alice")[0]["id"].as_i64().unwrap().to_string();
    let out = t.tessera(&["factor", "remove", "alice", &id]);
    assert!(out.status.success(), "{out:?}");
    assert!(factors(&t, "alice").is_empty());

    // No pending invitation: refused before any prompt, told where to get one.
    let run = svc.pamtester("alice", &format!("{code}\n"), &[]);
    run.assert_pam_error(AUTH_ERR);
    assert!(run.out.contains("ask your administrator"), "{}", run.out);
    assert!(!run.out.contains(PROOF_PROMPT), "{}", run.out);
    assert!(factors(&t, "alice").is_empty());

    // A new invitation is asked for, and the old code is a wrong answer to it.
    let fresh = invite(&t, "alice");
    assert_ne!(fresh, code);
    let before = t.lock("alice")["failures"].as_u64().unwrap();
    let run = talk(
        &svc,
        "alice",
        &[
            expect(PROOF_PROMPT),
            send(&code),
            expect(WRONG),
            expect(PROOF_PROMPT),
            send(&fresh),
            expect(APP_PROMPT),
            send_totp(),
            expect(ACK_PROMPT),
            send("yes"),
            expect(SUCCESS),
        ],
    );
    run.assert_ok();
    // The old code was one wrong answer of this login, forgiven with its success as any
    // login's own slips are.
    assert_eq!(t.lock("alice")["failures"].as_u64().unwrap(), before);
    assert_eq!(invitation(&t, "alice")["pending"], false);
}

#[test]
fn enroll_three_wrong_codes_leave_the_factor_and_the_invitation_pending_and_count() {
    let t = Install::new(&policy("required"));
    let code = invite(&t, "carol");
    let svc = Service::tessera(&t, "");
    let mut steps = vec![expect(PROOF_PROMPT), send(&code)];
    for _ in 0..3 {
        steps.extend([expect(APP_PROMPT), send_wrong_totp()]);
    }
    steps.push(expect(AUTH_ERR));
    let run = talk(&svc, "carol", &steps);
    assert!(!run.ok(), "{}", run.out);
    assert!(has_half_blocks(&run.out), "{}", run.out);
    assert!(!run.out.contains("Your recovery codes"), "{}", run.out);

    let f = factors(&t, "carol");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (&f[0]["kind"], &f[0]["status"]),
        (&json!("totp"), &json!("pending"))
    );
    let inv = invitation(&t, "carol");
    assert_eq!(
        (&inv["pending"], &inv["used_at"]),
        (&json!(true), &Value::Null),
        "{inv}"
    );
    assert!(show_text(&t, "carol").contains("invited:   pending, valid until "));
    let lock = t.lock("carol");
    assert_eq!(
        (&lock["failures"], &lock["locked"]),
        (&json!(3), &json!(false)),
        "{lock}"
    );
    assert!(
        show_text(&t, "carol").contains("not locked (3 recent failures)"),
        "{}",
        show_text(&t, "carol")
    );

    // The fumbled set-up can be done again with the same invitation: a new authenticator.
    let first_secret = secrets_shown(&run.out).0;
    let again = enroll_by_invitation(&svc, "carol", &code, 0);
    assert_ne!(secrets_shown(&again.out).0, first_secret, "a fresh secret");
    // (The first try's pending factor is left beside it: only a later enrollment at login
    // removes such a factor, once it is an hour old.)
    let f = factors(&t, "carol");
    let active = f.iter().filter(|f| f["status"] == "active").count();
    assert_eq!(active, 1, "{f:?}");
    assert_eq!(invitation(&t, "carol")["pending"], false);
}

#[test]
fn enroll_optional_skip_steps_aside_with_pam_ignore_and_no_proof_follows_nullok() {
    let t = Install::new(&policy("optional"));
    let code = invite(&t, "dave");
    assert!(t.tessera(&["user", "add", "erin"]).status.success());
    let module = format!("{{module}} config={}", t.config.display());
    // PAM_IGNORE lets a `required` line followed by pam_permit through, and not a `sufficient`
    // line followed by pam_deny (only PAM_SUCCESS would): the pair tells it from both.
    let permit = Service::new(&format!(
        "auth required {module}\nauth required pam_permit.so\n"
    ));
    let deny = Service::new(&format!(
        "auth sufficient {module}\nauth required pam_deny.so\n"
    ));
    let skip = |svc: &Service, end: &str| {
        talk(
            svc,
            "dave",
            &[
                expect(r#"type "skip" to do it later\): "#),
                send("skip"),
                expect(end),
            ],
        )
    };
    let run = skip(&permit, SUCCESS);
    run.assert_ok();
    assert!(
        run.out.contains("is not set up for your account yet"),
        "{}",
        run.out
    );
    assert!(!has_half_blocks(&run.out), "{}", run.out);
    skip(&deny, AUTH_ERR).assert_pam_error(AUTH_ERR);
    let ev = last_audit(&t, "dave");
    assert_eq!(
        (&ev["result"], &ev["detail"]),
        (&json!("ignore"), &json!("not_enrolled; enroll_skipped")),
        "{ev}"
    );
    // Skipping sets nothing up and keeps the invitation for later.
    assert!(factors(&t, "dave").is_empty());
    assert_eq!(invitation(&t, "dave")["pending"], true);
    assert_eq!(t.lock("dave")["failures"], 0);

    // No proof at all: as if enrollment were off (no nullok here): refused, no prompt.
    let run = permit.pamtester("erin", "", &[]);
    run.assert_pam_error(AUTH_ERR);
    assert!(!run.out.contains(PROOF_PROMPT), "{}", run.out);
    assert_eq!(
        last_audit(&t, "erin")["detail"],
        "not_enrolled; no_invitation"
    );
    // With nullok it steps aside: PAM_IGNORE.
    let nullok = Service::new(&format!(
        "auth required {module} nullok\nauth required pam_permit.so\n"
    ));
    nullok.pamtester("erin", "", &[]).assert_ok();
    let nullok_deny = Service::new(&format!(
        "auth sufficient {module} nullok\nauth required pam_deny.so\n"
    ));
    nullok_deny
        .pamtester("erin", "", &[])
        .assert_pam_error(AUTH_ERR);

    // Optional is still enrollment: the invitation sets the factor up.
    enroll_by_invitation(&deny, "dave", &code, 0);
    assert_eq!(factors(&t, "dave")[0]["status"], "active");
}

/// A login that enrolls is a login: like any other it should forgive the wrong codes typed in
/// it (the user's own fumbles at the new app) and reset "since the last login". It does not
/// yet: the next login warns of the user's own mistake, and the failure stays counted.
#[test]
fn enroll_a_successful_enrollment_forgives_its_own_wrong_codes_like_any_login() {
    let t = Install::new(&policy("required"));
    let code = invite(&t, "frank");
    let svc = Service::tessera(&t, "");
    let run = enroll_by_invitation(&svc, "frank", &code, 1);
    let lock = t.lock("frank");
    assert_eq!(
        (&lock["failures"], &lock["wrong_codes_since_last_login"]),
        (&json!(0), &json!(0)),
        "{lock}"
    );
    let next = oathtool_code(&secrets_shown(&run.out).0, 30);
    let run = svc.pamtester("frank", &format!("{next}\n"), &[]);
    run.assert_ok();
    assert!(!run.out.contains("wrong code"), "{}", run.out);
}
