//! The SMS layer's tests: the message, the error categories, the recording texter and the
//! e-mail gateway here; the command and HTTP gateways against a real script and a real server.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::*;
use crate::config::Config;
use crate::mail::RecordingMailer;

mod command;
mod http;

const NUMBER: &str = "+447700900123";

fn parse(text: &str) -> SmsConfig {
    Config::parse(Path::new("/etc/tessera/tessera.toml"), text)
        .unwrap()
        .sms
        .unwrap()
}

fn command_config(extra: &str) -> SmsConfig {
    parse(&format!(
        "[sms]\ngateway = \"command\"\ncommand = \"send\"\nhostname = \"bastion\"\n{extra}"
    ))
}

#[test]
fn the_default_message_names_code_host_and_expiry() {
    let text = render_sms(
        &command_config(""),
        &SmsContext {
            user: "alice",
            service: "sshd",
        },
        "123456",
    );
    assert_eq!(
        text.as_str(),
        "123456 is your bastion login code. It expires in 10 minutes."
    );
    let text = render_sms(
        &command_config(
            "message = \"{user}@{host} ({service}): {code}, {expiry}\"\nlifetime = 60\n",
        ),
        &SmsContext {
            user: "bob",
            service: "sudo",
        },
        "987654",
    );
    assert_eq!(text.as_str(), "bob@bastion (sudo): 987654, 1 minute");
}

#[test]
fn the_message_escapes_and_cuts_what_the_client_sent() {
    let cfg = command_config("message = \"{code} for {user} via {service}\"\n");
    let hostile = format!("alice\n{{code}} 999999\u{1b}[2J{}", "x".repeat(500));
    let text = render_sms(
        &cfg,
        &SmsContext {
            user: &hostile,
            service: "sshd\r\nBcc",
        },
        "123456",
    );
    assert!(!text.contains('\n') && !text.contains('\r') && !text.contains('\u{1b}'));
    assert_eq!(text.matches("123456").count(), 1, "{text:?}");
    assert!(
        text.contains("alice\\n{code} 999999"),
        "stays text: {text:?}"
    );
    assert!(text.contains("sshd\\r\\nBcc"), "{text:?}");
    assert!(text.len() < 120, "cut: {} bytes", text.len());
}

#[test]
fn categories_never_carry_the_number_the_message_a_url_or_gateway_text() {
    let secret_bits = [
        NUMBER,
        "447700900123",
        "123456",
        "token",
        "/send",
        "Invalid",
    ];
    let errors = [
        SmsError::Number(mask_phone("+4915112345678")),
        SmsError::MessageTooLong(20_000),
        SmsError::Unusable {
            path: "/usr/lib/tessera/sms/send".into(),
            why: "does not exist".into(),
        },
        SmsError::CommandFailed {
            path: "/usr/lib/tessera/sms/send".into(),
            exit: Exit::Code(3),
            stderr: format!("Invalid number {NUMBER}"),
        },
        SmsError::CommandFailed {
            path: "/x".into(),
            exit: Exit::Signal(9),
            stderr: String::new(),
        },
        SmsError::Timeout {
            gateway: "https://api.example.com".into(),
            timeout: Duration::from_secs(10),
        },
        SmsError::HttpStatus {
            gateway: "https://api.example.com".into(),
            status: 500,
            reply: format!("Invalid number {NUMBER}, code 123456"),
        },
        SmsError::HttpTextMissing {
            gateway: "https://api.example.com".into(),
            status: 200,
            reply: "Invalid token".into(),
        },
        SmsError::Connection {
            gateway: "https://api.example.com".into(),
            why: "connection refused".into(),
        },
        SmsError::Mail(MailError::Smtp {
            server: "mail:25".into(),
            reply: Some(550),
            why: format!("550 <{NUMBER}@sms.example.net>: no such user"),
        }),
        SmsError::NoMailer,
    ];
    let categories: Vec<String> = errors.iter().map(SmsError::category).collect();
    assert_eq!(
        categories,
        [
            "invalid_number",
            "message_too_long",
            "gateway_unusable",
            "command_exit_3",
            "command_signal_9",
            "timeout",
            "http_status_500",
            "http_text_missing",
            "connection",
            "mail_smtp_reply_550",
            "no_mailer",
        ]
    );
    for c in &categories {
        for bit in secret_bits {
            assert!(!c.contains(bit), "{c} holds {bit}");
        }
    }
    // The log line masks the number it refuses.
    let text = errors[0].to_string();
    assert!(
        text.contains("+49********678") && !text.contains("+4915112345678"),
        "{text}"
    );
}

#[test]
fn the_recording_texter_keeps_texts_and_fails_on_demand() {
    let t = RecordingTexter::default();
    t.send(NUMBER, "Your code is 123456.").unwrap();
    assert_eq!(t.last_code(NUMBER).as_deref(), Some("123456"));
    assert_eq!(t.last_code("+12025550123"), None);
    t.fail.store(true, Ordering::SeqCst);
    let e = t.send(NUMBER, "654321").unwrap_err();
    assert_eq!(e.category(), "http_status_400");
    assert_eq!(t.messages().len(), 1, "a refused text is not kept");
    t.fail.store(false, Ordering::SeqCst);
    t.time_out.store(true, Ordering::SeqCst);
    assert!(matches!(
        t.send(NUMBER, "111111"),
        Err(SmsError::Timeout { .. })
    ));
    assert_eq!(t.messages().len(), 2, "a timed-out text may still arrive");
    // Every gateway refuses a number that is not E.164, and an oversized message.
    let e = t.send("07700 900123", "x").unwrap_err();
    assert_eq!(e.category(), "invalid_number");
    let e = t.send(NUMBER, &"x".repeat(MAX_MESSAGE + 1)).unwrap_err();
    assert_eq!(e.category(), "message_too_long");
}

const EMAIL: &str = "[email]\nsmtp_host = \"localhost\"\nfrom = \"t@example.com\"\n";

#[test]
fn the_email_gateway_mails_the_message_to_the_address_made_from_the_number() {
    for (template, want) in [
        ("{digits}@sms.example.net", "447700900123@sms.example.net"),
        ("{number}@sms.example.net", "+447700900123@sms.example.net"),
    ] {
        let cfg = parse(&format!(
            "{EMAIL}[sms]\ngateway = \"email\"\naddress = \"{template}\"\n"
        ));
        let mailer = Arc::new(RecordingMailer::default());
        let texter = texter_from_config(&cfg, Some(mailer.clone())).unwrap();
        texter
            .send(NUMBER, "123456 is your code. {number}")
            .unwrap();
        assert_eq!(
            mailer.messages(),
            [(
                want.to_string(),
                String::new(),
                "123456 is your code. {number}".to_string()
            )]
        );
    }
}

#[test]
fn the_email_gateway_tells_a_refused_mail_and_a_missing_mailer() {
    let cfg = parse(&format!(
        "{EMAIL}[sms]\ngateway = \"email\"\naddress = \"{{digits}}@sms.example.net\"\n"
    ));
    assert!(matches!(
        texter_from_config(&cfg, None),
        Err(SmsError::NoMailer)
    ));
    let mailer = Arc::new(RecordingMailer::default());
    mailer.fail.store(true, Ordering::SeqCst);
    let texter = texter_from_config(&cfg, Some(mailer.clone())).unwrap();
    let e = texter.send(NUMBER, "123456").unwrap_err();
    assert!(matches!(e, SmsError::Mail(_)), "{e:?}");
    assert_eq!(e.category(), "mail_smtp_reply_550");
    let e = texter.send("+44 7700", "123456").unwrap_err();
    assert_eq!(e.category(), "invalid_number");
}
