//! Enrollment at login through a real sshd and the real ssh client, and through
//! tessera-radiusd under radclient with the proof mailed to a real SMTP server.

use serde_json::json;
use tessera_tests::{Install, SmtpMode, SmtpServer, code_in_mail, pam_module};

use super::{
    ACK_PROMPT, APP_PROMPT, HELP, PROOF_PROMPT, expect, factors, has_half_blocks, invitation,
    invite, policy, send, send_totp,
};
use crate::pam::{SystemUser, converse_script, last_audit};
use crate::pam_sshd::Sshd;
use crate::radius::{Radclient, SECRET, install_with, pap, set_password, start};

// ---- sshd -----------------------------------------------------------------------------------

#[test]
fn enroll_over_ssh_shows_the_qr_code_on_its_own_line_then_runs_the_session() {
    const PASSWORD: &str = "enr0ll-at-l0gin";
    let t = Install::new(&policy("required"));
    let user = SystemUser::create(PASSWORD);
    let code = invite(&t, &user.name);
    let pam_auth = format!(
        "auth required pam_unix.so nodelay\nauth required {} config={}\n",
        pam_module().display(),
        t.config.display()
    );
    let sshd = Sshd::launch(
        tempfile::tempdir().unwrap(),
        &user.name,
        &pam_auth,
        "PubkeyAuthentication no\nPasswordAuthentication no\n\
         AuthenticationMethods keyboard-interactive\n",
    );
    let options = [
        "PreferredAuthentications=keyboard-interactive",
        "PubkeyAuthentication=no",
    ]
    .iter()
    .flat_map(|o| ["-o".to_string(), (*o).to_string()])
    .collect();
    // The ssh client shows non-ASCII text only under a UTF-8 locale (else as octal escapes):
    // the half blocks need one, whatever the test's environment.
    let argv: Vec<String> = ["/usr/bin/env".to_string(), "LC_ALL=C.UTF-8".to_string()]
        .into_iter()
        .chain(sshd.ssh_argv(&user.name, options, "echo enrolled-$((40+2))"))
        .collect();
    let run = converse_script(
        vec![
            expect("Password: "),
            send(PASSWORD),
            expect(PROOF_PROMPT),
            send(&code),
            expect(APP_PROMPT),
            send_totp(),
            expect(ACK_PROMPT),
            send("yes"),
            expect("enrolled-42"),
        ],
        &argv,
    );
    assert!(
        run.ok(),
        "ssh failed:\n{}\nsshd log:\n{}",
        run.out,
        sshd.log()
    );
    // The message starts with a newline: the client's `(user@host) ` prefix stands on a line of
    // its own, not before the first line of text or of the code.
    let prefix = format!("({}@127.0.0.1)", user.name);
    let lines: Vec<&str> = run
        .out
        .split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect();
    let scan = lines
        .iter()
        .position(|l| l.contains("Scan this QR code"))
        .unwrap_or_else(|| panic!("no QR code over ssh:\n{}", run.out));
    assert!(
        lines[scan].starts_with("Scan this QR code") && lines[scan - 1].trim_end() == prefix,
        "the QR code's message does not start on a line of its own:\n{}",
        run.out
    );
    // The code follows, whole, every row as wide as the others (a glued prefix would shift one).
    let qr: Vec<&str> = lines[scan + 1..]
        .iter()
        .copied()
        .take_while(|l| has_half_blocks(l))
        .collect();
    assert!(
        qr.len() >= 15,
        "a whole QR code ({} rows):\n{}",
        qr.len(),
        run.out
    );
    let width = qr[0].chars().count();
    assert!(
        qr.iter()
            .all(|l| l.chars().count() == width && !l.contains(&prefix)),
        "ragged QR rows:\n{}",
        run.out
    );
    assert!(
        run.out
            .contains("Or open this link on the phone: otpauth://"),
        "{}",
        run.out
    );
    let f = factors(&t, &user.name);
    assert_eq!((f.len(), &f[0]["status"]), (1, &json!("active")), "{f:?}");
    assert_eq!(invitation(&t, &user.name)["pending"], false);
    let ev = last_audit(&t, &user.name);
    assert_eq!(
        (&ev["result"], &ev["detail"]),
        (&json!("accept"), &json!("enrolled_at_login"))
    );
}

// ---- RADIUS ---------------------------------------------------------------------------------

/// Every Reply-Message of a reply, in order, joined (a long text is split over several), with
/// radclient's escapes (`\"`, `\n`) undone.
fn reply_text(r: &Radclient) -> String {
    let joined: String = r
        .out
        .lines()
        .skip_while(|l| !l.starts_with("Received"))
        .filter_map(|l| l.trim().strip_prefix("Reply-Message = "))
        .map(|v| {
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
        .collect();
    joined
        .replace("\\n", "\n")
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
}

/// A RADIUS installation (challenge mode) with enrollment `required` and `extra` sections.
fn radius_enroll_install(extra: &str) -> Install {
    // `install_with` ends with an open `[policy]` table: these keys land in it.
    install_with(
        "mode = \"challenge\"",
        "",
        &format!("enroll_at_login = \"required\"\nenroll_help = \"{HELP}\"\n\n{extra}"),
    )
}

#[test]
fn enroll_over_radius_a_mailed_code_makes_email_the_factor() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = radius_enroll_install(&smtp.config("min_interval = \"0s\""));
    let out = t.tessera(&["user", "add", "alice", "--email", "alice@example.com"]);
    assert!(out.status.success(), "{out:?}");
    set_password(&t, "alice", "hunter2");
    let s = start(t);
    let before = smtp.messages().len();

    // A wrong password: nothing offered, nothing mailed.
    let r = s.radclient("auth", SECRET, &pap("alice", "hunter3"));
    assert!(r.is("Access-Reject"), "{}", r.out);
    assert!(!reply_text(&r).contains("A code was sent"), "{}", r.out);
    assert_eq!(smtp.messages().len(), before);

    let r = s.radclient("auth", SECRET, &pap("alice", "hunter2"));
    assert!(r.is("Access-Challenge"), "{}\n{}", r.out, s.log());
    let text = reply_text(&r);
    assert!(
        text.contains("A code was sent to a***@example.com")
            && text.contains("make e-mail your second factor"),
        "{text}"
    );
    let mail = smtp.wait_for(before + 1);
    assert!(mail.contains("X-RCPT-TO: alice@example.com"), "{mail}");
    let mailed = code_in_mail(&mail);
    let state = r.attr("State").expect("State");

    let r = s.radclient(
        "auth",
        SECRET,
        &format!("{}State = {state}\n", pap("alice", &mailed)),
    );
    // Accepted at once: recovery codes never go into a Reply-Message (it crosses the network,
    // and the NAS's logs, in clear).
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    assert!(
        !reply_text(&r).contains("recovery codes") && !r.out.contains("Your recovery"),
        "no recovery codes over RADIUS: {}",
        r.out
    );
    let f = factors(&s.install, "alice");
    assert_eq!(
        (&f[0]["kind"], &f[0]["status"]),
        (&json!("email"), &json!("active")),
        "{f:?}"
    );
    let ev = last_audit(&s.install, "alice");
    assert_eq!(
        (&ev["result"], &ev["method"], &ev["detail"]),
        (
            &json!("accept"),
            &json!("email"),
            &json!("enrolled_at_login")
        ),
        "{ev}"
    );
    assert_eq!(
        smtp.messages().len(),
        before + 1,
        "one mail for the enrollment"
    );

    // Next time the address is an ordinary factor: a mailed code, then the recovery codes work.
    let r = s.radclient("auth", SECRET, &pap("alice", "hunter2"));
    assert!(r.is("Access-Challenge"), "{}", r.out);
    assert!(!reply_text(&r).contains("second factor"), "{}", r.out);
    let code = code_in_mail(&smtp.wait_for(before + 2));
    let state = r.attr("State").unwrap();
    let r = s.radclient(
        "auth",
        SECRET,
        &format!("{}State = {state}\n", pap("alice", &code)),
    );
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
}

#[test]
fn enroll_over_radius_an_invitation_is_of_no_use_and_the_reject_says_where_to_enroll() {
    let t = radius_enroll_install("");
    invite(&t, "bob");
    set_password(&t, "bob", "hunter2");
    let s = start(t);

    // A wrong password gets the usual refusal: nothing about enrollment before the password.
    let r = s.radclient("auth", SECRET, &pap("bob", "hunter3"));
    assert!(r.is("Access-Reject"), "{}", r.out);
    assert_eq!(reply_text(&r), "Verification failed.", "{}", r.out);

    let r = s.radclient("auth", SECRET, &pap("bob", "hunter2"));
    assert!(r.is("Access-Reject"), "{}\n{}", r.out, s.log());
    assert!(r.attr("State").is_none(), "no challenge: {}", r.out);
    let text = reply_text(&r);
    assert!(text.contains("cannot be set up from here"), "{text}");
    assert!(
        !text.contains("enrollment code"),
        "of no use over RADIUS: {text}"
    );
    assert!(text.contains(HELP), "enroll_help: {text}");
    // The invitation is kept for a terminal login, and nothing was set up.
    assert_eq!(invitation(&s.install, "bob")["pending"], true);
    assert!(factors(&s.install, "bob").is_empty());
    assert_eq!(s.install.lock("bob")["failures"], 0);
}
