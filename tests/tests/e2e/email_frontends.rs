//! E-mailed codes through the front-ends, against a real SMTP server (aiosmtpd on 127.0.0.1):
//! pam_tessera.so under pamtester (pam_wrapper), and tessera-radiusd under radclient and our
//! own raw-UDP client. The test reads each code from the mail the server received, as a user
//! would, and answers with it.

use std::io::Write;
use std::time::Duration;

use radius::core::code::Code;
use radius::core::rfc2865;
use tessera_tests::{Install, SmtpMode, SmtpServer, code_in_mail, oathtool_code};

use crate::email::enroll_email;
use crate::pam::{AUTH_ERR, POLICY, Service, SystemUser, last_audit};
use crate::radius::{Client, SECRET, install_with, pap, set_password, start};

const MAIL_FAILED: &str = "Could not send a code by email; try another method.";
const FORWARD_PROMPT: &str = "Password & verification code: ";

/// A user with an e-mail address and that address enrolled (confirmed through the CLI).
/// Returns the recovery codes the enrollment brought.
pub(crate) fn email_user(t: &Install, smtp: &SmtpServer, user: &str) -> Vec<String> {
    let address = format!("{user}@example.com");
    let out = t.tessera(&["user", "add", user, "--email", &address]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    enroll_email(t, smtp, user, &address).1
}

/// Send a line to pamtester.
fn type_line(stdin: &mut std::process::ChildStdin, line: &str) {
    stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
}

/// Point the installation's `[email]` section at another port, with another SMTP timeout.
pub(crate) fn point_smtp_at(t: &Install, port: u16, timeout: &str) {
    let text = std::fs::read_to_string(&t.config).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("smtp_port") {
                format!("smtp_port = {port}")
            } else if l.starts_with("timeout =") {
                format!("timeout = \"{timeout}\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&t.config, text.join("\n") + "\n").unwrap();
}

fn audit_text(t: &Install, user: &str) -> String {
    t.tessera_json(&["audit", "--user", user, "--limit", "20"])
        .to_string()
}

// ---- PAM ------------------------------------------------------------------------------------

#[test]
fn pam_email_only_user_is_mailed_a_code_at_once_and_logs_in_with_it() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = Install::new(&format!(
        "{}\n{POLICY}",
        smtp.config("min_interval = \"0s\"")
    ));
    email_user(&t, &smtp, "alice");
    let svc = Service::tessera(&t, "");

    let before = smtp.messages().len();
    let mut code = String::new();
    let run = svc.pamtester_talking("alice", &["rhost=198.51.100.4"], |stdin| {
        // Nothing typed yet: the module mailed the code before asking.
        let mail = smtp.wait_for(before + 1);
        assert!(mail.contains("X-RCPT-TO: alice@example.com"), "{mail}");
        // The mail names the service and where the login comes from.
        assert!(mail.contains("tessera-test"), "{mail}");
        assert!(mail.contains("198.51.100.4"), "{mail}");
        code = code_in_mail(&mail);
        type_line(stdin, &code);
    });
    run.assert_ok();
    assert!(
        run.out
            .contains("A code was sent to a***@example.com. Code: "),
        "{}",
        run.out
    );
    assert!(
        !run.out.contains(&code),
        "the code is not echoed: {}",
        run.out
    );
    assert_eq!(smtp.messages().len(), before + 1, "exactly one mail");
    let ev = last_audit(&t, "alice");
    assert_eq!(
        (&ev["result"], &ev["method"], &ev["service"], &ev["source"]),
        (
            &serde_json::json!("accept"),
            &serde_json::json!("email"),
            &serde_json::json!("tessera-test"),
            &serde_json::json!("198.51.100.4")
        ),
        "{ev}"
    );

    // The next login mails a fresh code: the spent one is refused.
    let spent = code.clone();
    let run = svc.pamtester_talking("alice", &[], |stdin| {
        smtp.wait_for(before + 2);
        type_line(stdin, &spent);
    });
    run.assert_pam_error(AUTH_ERR);
    assert_eq!(last_audit(&t, "alice")["result"], "reject");
    assert!(
        !audit_text(&t, "alice").contains(&code),
        "no code in the audit log"
    );
}

#[test]
fn pam_empty_answer_asks_for_a_mailed_code_when_totp_is_preferred() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = Install::new(&format!(
        "{}\n{POLICY}",
        smtp.config("min_interval = \"0s\"")
    ));
    let (secret, _) = t.enroll_totp("bob");
    enroll_email(&t, &smtp, "bob", "bob@example.com");
    let factors = t.tessera_json(&["factor", "list", "bob"]);
    let totp_id = factors["factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "totp")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let out = t.tessera(&["factor", "prefer", "bob", &totp_id]);
    assert!(out.status.success(), "{out:?}");
    let svc = Service::tessera(&t, "");

    let before = smtp.messages().len();
    let run = svc.pamtester_talking("bob", &[], |stdin| {
        // An empty answer at the first prompt: "send me a code".
        type_line(stdin, "");
        let code = code_in_mail(&smtp.wait_for(before + 1));
        type_line(stdin, &code);
    });
    run.assert_ok();
    // TOTP is preferred: the first prompt offers the mail instead of sending one.
    assert!(
        run.out.contains("or press Enter to get one by email"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("A code was sent to b***@example.com. Code: "),
        "{}",
        run.out
    );
    assert_eq!(smtp.messages().len(), before + 1, "one mail, on request");
    assert_eq!(last_audit(&t, "bob")["method"], "email");

    // Control: without asking for a mail, the authenticator's code works and nothing is sent.
    let run = svc.pamtester("bob", &format!("{}\n", oathtool_code(&secret, 0)), &[]);
    run.assert_ok();
    assert_eq!(
        smtp.messages().len(),
        before + 1,
        "no mail for a TOTP login"
    );
    assert_eq!(last_audit(&t, "bob")["method"], "totp");
}

#[test]
fn pam_smtp_down_tells_the_user_and_denies() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    // One recovery code: the user has one other way in, then none.
    let t = Install::new(&format!(
        "{}\n{POLICY}\n[recovery]\ncount = 1\n",
        smtp.config("min_interval = \"0s\"")
    ));
    let codes = email_user(&t, &smtp, "carol");
    assert_eq!(codes.len(), 1);
    drop(smtp);
    // Connection refused: nobody listens on this port (held, so no other test can take it).
    let closed = tessera_tests::ClosedPort::new();
    point_smtp_at(&t, closed.port, "5s");
    let svc = Service::tessera(&t, "");

    // With a recovery code left, the user is told and may use it ("try another method").
    let run = svc.pamtester("carol", &format!("{}\n", codes[0]), &[]);
    assert!(run.out.contains(MAIL_FAILED), "{}", run.out);
    run.assert_ok();
    assert_eq!(last_audit(&t, "carol")["method"], "recovery");
    assert!(audit_text(&t, "carol").contains("mail_failed"));

    // Nothing else left: told, refused, not asked for a code it could never have.
    let run = svc.pamtester("carol", "", &[]);
    run.assert_pam_error(AUTH_ERR);
    assert!(run.out.contains(MAIL_FAILED), "{}", run.out);
    assert!(!run.out.contains("Code: "), "{}", run.out);
    // The audit row says why, and where the mail should have gone (masked).
    let ev = last_audit(&t, "carol");
    assert_eq!(
        (&ev["result"], &ev["method"]),
        (&"error".into(), &"email".into()),
        "{ev}"
    );
    let detail = ev["detail"].as_str().unwrap_or_default();
    // A category, not the server's words (which may quote the full address).
    assert_eq!(
        detail, "mail_failed to c***@example.com: smtp_connection",
        "{ev}"
    );

    // A server that accepts the connection and never speaks: the [email] timeout ends the wait
    // (pamtester runs under `timeout 60`; a hang would fail the test without "Authentication
    // failure").
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    point_smtp_at(&t, silent.local_addr().unwrap().port(), "1s");
    let run = svc.pamtester("carol", "", &[]);
    run.assert_pam_error(AUTH_ERR);
    assert!(run.out.contains(MAIL_FAILED), "{}", run.out);
    let ev = last_audit(&t, "carol");
    assert!(
        ev["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("mail_failed")),
        "{ev}"
    );
    drop(silent);
}

// ---- RADIUS ---------------------------------------------------------------------------------

/// A RADIUS installation in `mode` with e-mail on, and alice: e-mail only, password "hunter2".
fn radius_email_install(mode: &str, smtp: &SmtpServer) -> Install {
    let t = install_with(
        &format!("mode = \"{mode}\""),
        "",
        &smtp.config("min_interval = \"0s\""),
    );
    email_user(&t, smtp, "alice");
    set_password(&t, "alice", "hunter2");
    t
}

#[test]
fn radius_challenge_mails_the_code_after_the_password_and_accepts_it() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = radius_email_install("challenge", &smtp);
    let s = start(t);
    let before = smtp.messages().len();

    // A wrong password: rejected, and nothing mailed (the reply goes out after any send).
    let r = s.radclient("auth", SECRET, &pap("alice", "hunter3"));
    assert!(r.is("Access-Reject"), "{}", r.out);
    assert_eq!(
        smtp.messages().len(),
        before,
        "no mail before the password checks out"
    );

    let r = s.radclient("auth", SECRET, &pap("alice", "hunter2"));
    assert!(r.is("Access-Challenge"), "{}\n{}", r.out, s.log());
    let message = r.attr("Reply-Message").unwrap_or_default();
    assert!(
        message.contains("A code was sent to a***@example.com"),
        "{message}"
    );
    let state = r.attr("State").expect("State in the challenge");
    let mail = smtp.wait_for(before + 1);
    assert!(mail.contains("X-RCPT-TO: alice@example.com"), "{mail}");
    let code = code_in_mail(&mail);

    let r = s.radclient(
        "auth",
        SECRET,
        &format!("{}State = {state}\n", pap("alice", &code)),
    );
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    assert_eq!(smtp.messages().len(), before + 1, "one mail in all");
    s.log_containing("reason=method=email");
    let ev = last_audit(&s.install, "alice");
    assert_eq!(
        (&ev["result"], &ev["method"]),
        (&"accept".into(), &"email".into())
    );
    assert!(!s.log().contains(&code), "no code in the log");
}

#[test]
fn radius_append_rejects_a_bare_password_with_a_mailed_code_then_accepts_it() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = radius_email_install("append", &smtp);
    let s = start(t);
    let before = smtp.messages().len();

    // A wrong bare password: the usual refusal, nothing mailed.
    let r = s.radclient("auth", SECRET, &pap("alice", "hunter3"));
    assert!(r.is("Access-Reject"), "{}", r.out);
    assert_eq!(
        r.attr("Reply-Message").as_deref(),
        Some("Verification failed.")
    );
    assert_eq!(smtp.messages().len(), before, "{}", s.log());

    // The right password with no code: a code is mailed, and the reject says where.
    let r = s.radclient("auth", SECRET, &pap("alice", "hunter2"));
    assert!(r.is("Access-Reject"), "{}", r.out);
    let message = r.attr("Reply-Message").unwrap_or_default();
    assert!(
        message.contains("A code was sent to a***@example.com"),
        "{message}"
    );
    assert!(r.attr("State").is_none(), "no challenge in append mode");
    let code = code_in_mail(&smtp.wait_for(before + 1));
    s.log_containing("reason=code_sent_by_email");

    // Password and code together: in.
    let r = s.radclient("auth", SECRET, &pap("alice", &format!("hunter2{code}")));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    assert_eq!(last_audit(&s.install, "alice")["method"], "email");
    // Single use.
    let r = s.radclient("auth", SECRET, &pap("alice", &format!("hunter2{code}")));
    assert!(r.is("Access-Reject"), "{}", r.out);
}

#[test]
fn radius_retransmitted_challenge_request_sends_no_second_mail() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = radius_email_install("challenge", &smtp);
    let s = start(t);
    let before = smtp.messages().len();

    let c = Client::new(SECRET);
    let req = c.access_request(42, "alice", "hunter2");
    let wait = Duration::from_secs(10);
    // Sent again every 3 s until answered, as a NAS does (a loaded machine may be slow): a
    // copy that arrives while the first is in progress is dropped, one after is answered from
    // the cache; neither mails anything.
    let first = (0..10)
        .find_map(|_| c.exchange(&req, s.addr(), Duration::from_secs(3)))
        .unwrap_or_else(|| panic!("no answer in 30 s:\n{}", s.log()));
    // The server answers only after the mail went out, so it is in the mailbox now.
    assert_eq!(smtp.messages().len(), before + 1, "{}", s.log());
    let again = c
        .exchange(&req, s.addr(), wait)
        .unwrap_or_else(|| panic!("no answer:\n{}", s.log()));
    assert_eq!(first, again, "the cached response, byte for byte");
    assert_eq!(
        smtp.messages().len(),
        before + 1,
        "a retransmission mails nothing"
    );
    s.log_containing("retransmission answered from cache");

    // The challenge (from either copy: they are the same) still leads in with the one code.
    let challenge = c.decode(&first, &req);
    assert_eq!(challenge.get_code(), Code::AccessChallenge);
    let state = rfc2865::lookup_state(&challenge).expect("State");
    let code = code_in_mail(&smtp.wait_for(before + 1));
    c.drain();
    let mut p = c.access_packet(43, "alice", &code);
    rfc2865::add_state(&mut p, &state);
    let answer = c.sign(p);
    let resp = c
        .exchange(&answer, s.addr(), wait)
        .unwrap_or_else(|| panic!("no answer:\n{}", s.log()));
    assert_eq!(
        c.decode(&resp, &answer).get_code(),
        Code::AccessAccept,
        "{}",
        s.log()
    );
}

#[test]
fn radius_challenge_answered_with_nothing_mails_a_code() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = install_with(
        "mode = \"challenge\"",
        "",
        &smtp.config("min_interval = \"0s\""),
    );
    t.enroll_totp("bob");
    enroll_email(&t, &smtp, "bob", "bob@example.com");
    set_password(&t, "bob", "hunter2");
    let s = start(t);
    let before = smtp.messages().len();

    // The authenticator comes first: the challenge offers the mail and sends nothing.
    let r = s.radclient("auth", SECRET, &pap("bob", "hunter2"));
    assert!(r.is("Access-Challenge"), "{}\n{}", r.out, s.log());
    let message = r.attr("Reply-Message").unwrap_or_default();
    // A VPN client has no Enter to press: the challenge says what to answer.
    assert!(
        message.contains("email") && message.contains("to get one by email"),
        "{message}"
    );
    assert!(!message.contains("press Enter"), "{message}");
    assert_eq!(smtp.messages().len(), before);
    let state = r.attr("State").unwrap();

    // Enter pressed. radclient does not encode an empty User-Password: the request carries the
    // State alone, which RFC 2865 §4.1 allows.
    let r = s.radclient(
        "auth",
        SECRET,
        &format!("{}State = {state}\n", pap("bob", "")),
    );
    assert!(r.is("Access-Challenge"), "{}\n{}", r.out, s.log());
    let message = r.attr("Reply-Message").unwrap_or_default();
    assert!(
        message.contains("A code was sent to b***@example.com"),
        "{message}"
    );
    let state = r.attr("State").unwrap();
    let code = code_in_mail(&smtp.wait_for(before + 1));
    let r = s.radclient(
        "auth",
        SECRET,
        &format!("{}State = {state}\n", pap("bob", &code)),
    );
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    assert_eq!(last_audit(&s.install, "bob")["method"], "email");
}

#[test]
fn radius_append_with_smtp_down_says_nothing_was_sent() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = install_with(
        "mode = \"append\"",
        "",
        &smtp.config("min_interval = \"0s\""),
    );
    let codes = email_user(&t, &smtp, "alice");
    set_password(&t, "alice", "hunter2");
    drop(smtp);
    let closed = tessera_tests::ClosedPort::new();
    point_smtp_at(&t, closed.port, "5s");
    let s = start(t);

    let r = s.radclient("auth", SECRET, &pap("alice", "hunter2"));
    assert!(r.is("Access-Reject"), "{}", r.out);
    assert_eq!(
        r.attr("Reply-Message").as_deref(),
        Some(MAIL_FAILED),
        "{}",
        r.out
    );
    s.log_containing("result=reject reason=mail_failed");
    assert!(audit_text(&s.install, "alice").contains("mail_failed to a***@example.com"));

    // "Try another method": the password with a recovery code.
    let r = s.radclient(
        "auth",
        SECRET,
        &pap("alice", &format!("hunter2{}", codes[0])),
    );
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
}

/// The module first, handing the password on (`forward_pass`): the first factor is not proven
/// when it runs, so an e-mail-only user is mailed nothing, a wrong answer costs them no lock,
/// and they see the very prompt a name nobody enrolled sees.
#[test]
fn pam_forward_pass_wrong_password_mails_nothing_counts_nothing_and_prompts_like_anyone() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = Install::new(&format!(
        "{}\n{POLICY}",
        smtp.config("min_interval = \"0s\"")
    ));
    let account = SystemUser::create("c0rrect-h0rse");
    email_user(&t, &smtp, &account.name);
    let svc = Service::new(&format!(
        "auth requisite {{module}} config={} forward_pass\n\
         auth required pam_unix.so use_first_pass nodelay\n",
        t.config.display()
    ));
    let before = smtp.messages().len();

    let mut shown = Vec::new();
    for user in [account.name.as_str(), "nobody-enrolled-here"] {
        let run = svc.pamtester_pty(
            user,
            &[(FORWARD_PROMPT, "not-the-password123456"), (AUTH_ERR, "")],
        );
        assert!(!run.ok(), "{user}: {}", run.out);
        shown.push(shown_lines(&run.out));
    }
    assert_eq!(
        shown[0].first().map(String::as_str),
        Some(FORWARD_PROMPT),
        "{shown:?}"
    );
    assert_eq!(shown[0], shown[1], "the same conversation for both");

    // pamtester has ended: a mail sent during the login would be in the mailbox by now.
    assert_eq!(smtp.messages().len(), before, "nothing mailed");
    let lock = t.lock(&account.name);
    assert_eq!(lock["failures"], 0, "{lock}");
    assert_eq!(lock["locks"], 0, "{lock}");
    assert_eq!(lock["wrong_codes_since_last_login"], 0, "{lock}");
}

/// The lines of a pamtester transcript (the answers are not echoed), pam_wrapper's own left out.
fn shown_lines(transcript: &str) -> Vec<String> {
    transcript
        .split(['\r', '\n'])
        .filter(|l| !l.is_empty() && !l.starts_with("PWRAP_ERROR"))
        .map(str::to_string)
        .collect()
}

#[test]
fn radius_hung_smtp_sends_leave_a_thread_for_a_code() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = install_with(
        "mode = \"otp-only\"\nfirst_factor = \"none\"\nworkers = 2",
        "",
        &smtp.config("min_interval = \"0s\""),
    );
    email_user(&t, &smtp, "alice");
    email_user(&t, &smtp, "bob");
    let (_, recovery) = t.enroll_totp("erin");
    // An SMTP server that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    point_smtp_at(&t, silent.local_addr().unwrap().port(), "30s");
    let s = start(t);
    // As many requests for a mailed code as there are workers: each hangs in SMTP.
    let mailers: Vec<Client> = (0..2).map(|_| Client::new(SECRET)).collect();
    for (c, user) in mailers.iter().zip(["alice", "bob"]) {
        let req = c.access_request(1, user, "");
        assert!(
            c.exchange(&req, s.addr(), Duration::from_millis(300))
                .is_none(),
            "answered while its SMTP server hangs"
        );
    }
    // A recovery code (Argon2, so not for the batch thread) is still decided at once.
    let started = std::time::Instant::now();
    let r = s.radclient("auth", SECRET, &pap("erin", &recovery[0]));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}
