//! Sending mail: a [`Mailer`] trait, the SMTP implementation (lettre, blocking transport, rustls),
//! and a recording mailer for unit tests. The core calls it synchronously; the RADIUS server runs
//! core calls on its blocking pool, so SMTP never blocks its packet loop.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::config::{EmailConfig, SmtpSecurity};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("cannot read ca_file {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("SMTP server {server} failed: {why}")]
    Smtp { server: String, why: String },
}

pub trait Mailer: Send + Sync {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError>;
}

/// SMTP through lettre. A connection per message (no pool, so no background threads in the
/// processes that load the PAM module); every network step bounded by `[email] timeout`.
pub struct SmtpMailer {
    transport: SmtpTransport,
    from: Mailbox,
    server: String,
}

impl SmtpMailer {
    pub fn new(cfg: &EmailConfig) -> Result<SmtpMailer, MailError> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|_| MailError::Address(cfg.from.clone()))?;
        let tls = match cfg.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls => Tls::Required(tls_parameters(cfg)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(cfg)?),
        };
        let mut b = SmtpTransport::builder_dangerous(cfg.smtp_host.clone())
            .port(cfg.smtp_port)
            .tls(tls)
            .timeout(Some(cfg.timeout));
        if let (Some(user), Some(pw)) = (&cfg.username, &cfg.password) {
            b = b.credentials(Credentials::new(user.clone(), pw.expose().clone()));
        }
        Ok(SmtpMailer {
            transport: b.build(),
            from,
            server: format!("{}:{}", cfg.smtp_host, cfg.smtp_port),
        })
    }
}

fn tls_parameters(cfg: &EmailConfig) -> Result<TlsParameters, MailError> {
    let mut b = TlsParameters::builder(cfg.smtp_host.clone());
    if let Some(path) = &cfg.ca_file {
        let pem = std::fs::read(path).map_err(|e| MailError::CaFile {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|e| MailError::CaFile {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| MailError::Tls(e.to_string()))
}

impl Mailer for SmtpMailer {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_string()))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| MailError::Message(e.to_string()))?;
        self.transport
            .send(&msg)
            .map(|_| ())
            .map_err(|e| MailError::Smtp {
                server: self.server.clone(),
                why: describe(&e),
            })
    }
}

/// lettre's error text plus its source chain (the cause is often only in the source).
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

#[cfg(any(test, feature = "testing"))]
/// Keeps every message (unit tests). `fail` makes every send fail.
#[derive(Default)]
pub struct RecordingMailer {
    pub sent: std::sync::Mutex<Vec<(String, String, String)>>,
    pub fail: std::sync::atomic::AtomicBool,
}

#[cfg(any(test, feature = "testing"))]
impl RecordingMailer {
    pub fn messages(&self) -> Vec<(String, String, String)> {
        self.sent.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The last code-looking run of digits in the last message to `to`.
    pub fn last_code(&self, to: &str) -> Option<String> {
        let msgs = self.messages();
        let (_, _, body) = msgs.iter().rev().find(|(t, _, _)| t == to)?;
        body.split(|c: char| !c.is_ascii_digit())
            .rfind(|w| w.len() >= 6)
            .map(str::to_string)
    }
}

#[cfg(any(test, feature = "testing"))]
impl Mailer for RecordingMailer {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(MailError::Smtp {
                server: "test".into(),
                why: "connection refused".into(),
            });
        }
        if let Ok(mut m) = self.sent.lock() {
            m.push((to.to_string(), subject.to_string(), body.to_string()));
        }
        Ok(())
    }
}
