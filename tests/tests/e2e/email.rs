//! E-mailed codes against a real SMTP server (aiosmtpd) on 127.0.0.1.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tessera_tests::{
    Install, SmtpMode, SmtpServer, bin, code_in_mail, default_self_signed_cert, mail_ca_and_leaf,
};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Add alice and enroll her e-mail address through the CLI, confirming with the code from the
/// mail the server received. Returns her recovery codes.
fn enroll(t: &Install, smtp: &SmtpServer) -> Vec<String> {
    assert!(
        t.tessera(&["user", "add", "alice", "--email", "alice@example.com"])
            .status
            .success()
    );
    enroll_email(t, smtp, "alice", "alice@example.com").1
}

/// Enroll `address` for an existing `user` through the CLI and confirm it with the code from
/// the mail the server received. Returns the factor id and the recovery codes the confirmation
/// printed (none when the user already had an active factor).
pub(crate) fn enroll_email(
    t: &Install,
    smtp: &SmtpServer,
    user: &str,
    address: &str,
) -> (i64, Vec<String>) {
    let before = smtp.messages().len();
    let en = t.tessera_json(&["enroll", "email", user, "--address", address]);
    assert_eq!(en["status"], "pending");
    let mail = smtp.wait_for(before + 1);
    assert!(mail.contains(&format!("X-RCPT-TO: {address}")), "{mail}");
    let code = code_in_mail(&mail);
    let id = en["factor_id"].as_i64().unwrap();
    let c = t.tessera_json(&["factor", "confirm", user, &id.to_string(), "--code", &code]);
    assert_eq!(c["status"], "active");
    let codes = c["recovery_codes"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    (id, codes)
}

/// `tessera verify alice` as a person would use it: it sends the code, we read it from the
/// mailbox and type it at the prompt.
fn verify_with_mailed_code(
    t: &Install,
    smtp: &SmtpServer,
    answer: impl FnOnce(&str) -> String,
) -> Output {
    let before = smtp.messages().len();
    let mut child = t
        .tessera_command(&["--json", "verify", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = code_in_mail(&smtp.wait_for(before + 1));
    let typed = answer(&code);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{typed}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A code that is certainly not `c` (last digit changed).
fn wrong_code(c: &str) -> String {
    let (head, last) = c.split_at(c.len() - 1);
    let d = (last.as_bytes()[0] - b'0' + 1) % 10;
    format!("{head}{d}")
}

fn verify_answering(t: &Install, input: &str) -> Output {
    t.tessera_with_input(&["--json", "verify", "alice"], input)
}

#[test]
fn email_enrollment_and_login_with_the_mailed_code() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = Install::new(&smtp.config("min_interval = \"0s\""));
    let codes = enroll(&t, &smtp);
    assert_eq!(
        codes.len(),
        10,
        "the first active factor brings recovery codes"
    );

    let mut used = String::new();
    let out = verify_with_mailed_code(&t, &smtp, |c| {
        used = c.to_string();
        c.to_string()
    });
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("\"method\":\"email\""),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("A code was sent to a***@example.com. Code: "),
        "{}",
        stderr(&out)
    );

    // The mail says what it is for and where the login came from; the subject has no code.
    let mail = smtp.messages().last().unwrap().clone();
    assert!(mail.contains("tessera-verify"), "{mail}");
    let subject = mail.lines().find(|l| l.starts_with("Subject:")).unwrap();
    assert!(!subject.contains(&used));

    // A reused code is refused (the CLI sends a fresh code, we answer with the old one).
    let out = verify_with_mailed_code(&t, &smtp, |_| used.clone());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    // Nothing in the audit log carries a code.
    let audit = t.tessera_json(&["audit", "--limit", "100"]).to_string();
    assert!(!audit.contains(&used));
    assert!(audit.contains("code sent to a***@example.com"), "{audit}");
}

#[test]
fn email_code_expires() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = Install::new(&smtp.config("min_interval = \"0s\"\nlifetime = \"2s\""));
    enroll(&t, &smtp);
    let out = verify_with_mailed_code(&t, &smtp, |c| {
        std::thread::sleep(Duration::from_secs(3));
        c.to_string()
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("\"reason\":\"expired\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn email_code_dies_after_too_many_tries() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = Install::new(&format!(
        "{}\n[policy]\nmax_tries = 3\n",
        smtp.config("min_interval = \"0s\"\nmax_tries = 2")
    ));
    enroll(&t, &smtp);
    // Three answers in one conversation: two wrong ones spend the code's tries, so the right
    // one is refused: it is dead, the user is told to ask for a new one (and it is not counted
    // as a wrong code: only its holder can present it).
    let out = verify_with_mailed_code(&t, &smtp, |c| {
        let wrong = wrong_code(c);
        format!("{wrong}\n{wrong}\n{c}")
    });
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("\"reason\":\"expired\"")
            && stdout(&out).contains("ask for a new one"),
        "{}",
        stdout(&out)
    );

    // Control: one wrong answer leaves a try, and the right code then works.
    let out = verify_with_mailed_code(&t, &smtp, |c| {
        let wrong = wrong_code(c);
        format!("{wrong}\n{c}")
    });
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn email_sends_respect_the_minimum_interval() {
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = Install::new(&smtp.config("min_interval = \"60s\""));
    enroll(&t, &smtp);
    let after_enroll = smtp.messages().len();
    let verify = || {
        Command::new(bin("tessera"))
            .args(["--config", t.config.to_str().unwrap(), "verify", "alice"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // The confirmed enrollment code does not hold the interval against the first login: it is
    // mailed a code at once.
    let out = verify();
    assert!(
        stderr(&out).contains("A code was sent to a***@example.com"),
        "{}",
        stderr(&out)
    );
    smtp.wait_for(after_enroll + 1);
    let after_login = smtp.messages().len();
    // Within a minute of that mail: no new mail, the user is told the code stands.
    let out = verify();
    assert!(
        stderr(&out).contains("a moment ago and is still valid"),
        "{}",
        stderr(&out)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        smtp.messages().len(),
        after_login,
        "no second mail within min_interval"
    );
}

#[test]
fn email_smtp_down_is_a_clear_denial_in_bounded_time() {
    // A port where connections are refused.
    let closed = tessera_tests::ClosedPort::new();
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let t = Install::new(&smtp.config("min_interval = \"0s\""));
    enroll(&t, &smtp);
    drop(smtp);
    let text = std::fs::read_to_string(&t.config).unwrap();
    let port_line = text
        .lines()
        .find(|l| l.starts_with("smtp_port"))
        .unwrap()
        .to_string();
    std::fs::write(
        &t.config,
        text.replace(&port_line, &format!("smtp_port = {}", closed.port)),
    )
    .unwrap();

    // The user is told, and whatever they type next (no mailed code exists) is refused.
    let out = verify_answering(&t, "000000\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Could not send a code by email; try another method."),
        "{}",
        stderr(&out)
    );
    let audit = t
        .tessera_json(&["audit", "--user", "alice", "--limit", "5"])
        .to_string();
    assert!(
        audit.contains("mail_failed"),
        "the audit log records why: {audit}"
    );

    // A server that accepts the connection and never answers: bounded by [email] timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap().port();
    let text = std::fs::read_to_string(&t.config).unwrap();
    std::fs::write(
        &t.config,
        text.replace(
            &format!("smtp_port = {}", closed.port),
            &format!("smtp_port = {silent}"),
        )
        .replace("timeout = \"5s\"", "timeout = \"1s\""),
    )
    .unwrap();
    let started = Instant::now();
    let out = verify_answering(&t, "000000\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Could not send a code by email"),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a silent server must not hang the login"
    );
    drop(listener);
}

#[test]
fn email_refused_by_the_server_names_the_reason_and_leaves_nothing() {
    let smtp = SmtpServer::start(SmtpMode::Reject);
    let t = Install::new(&smtp.config(""));
    assert!(
        t.tessera(&["user", "add", "alice", "--email", "alice@example.com"])
            .status
            .success()
    );
    let out = t.tessera(&["enroll", "email", "alice"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("550"), "{}", stderr(&out));
    let f = t.tessera_json(&["factor", "list", "alice"]);
    assert_eq!(
        f["factors"].as_array().unwrap().len(),
        0,
        "no half-enrolled factor"
    );
}

#[test]
fn email_starttls_with_a_private_ca_the_config_trusts() {
    let certs = tempfile::tempdir().unwrap();
    let mail = mail_ca_and_leaf(certs.path());
    let smtp = SmtpServer::start(SmtpMode::Starttls(&mail.cert, &mail.key));
    let base = smtp
        .config("min_interval = \"0s\"")
        .replace("security = \"none\"", "security = \"starttls\"");

    // Without trusting the CA the TLS handshake fails: a clear error, nothing sent.
    let untrusted = Install::new(&base);
    assert!(
        untrusted
            .tessera(&["user", "add", "alice", "--email", "alice@example.com"])
            .status
            .success()
    );
    let out = untrusted.tessera(&["enroll", "email", "alice"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("could not send a code by e-mail"),
        "{}",
        stderr(&out)
    );
    assert!(smtp.messages().is_empty());

    // With ca_file naming the CA (docs/email.md's recipe), mail flows over STARTTLS.
    let t = Install::new(&format!("{base}ca_file = \"{}\"\n", mail.ca.display()));
    enroll(&t, &smtp);
    assert!(!smtp.messages().is_empty());
}

/// What docs/email.md warns about: `openssl req -x509`'s default certificate is a CA, and a CA
/// presented as the server's own is refused even when ca_file names it.
#[test]
fn email_a_default_self_signed_certificate_is_refused_as_the_docs_say() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = default_self_signed_cert(certs.path());
    let smtp = SmtpServer::start(SmtpMode::Starttls(&cert, &key));
    let t = Install::new(&format!(
        "{}ca_file = \"{}\"\n",
        smtp.config("")
            .replace("security = \"none\"", "security = \"starttls\""),
        cert.display()
    ));
    assert!(
        t.tessera(&["user", "add", "alice", "--email", "alice@example.com"])
            .status
            .success()
    );
    let out = t.tessera(&["enroll", "email", "alice"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("CaUsedAsEndEntity"),
        "{}",
        stderr(&out)
    );
    assert!(smtp.messages().is_empty());
}
