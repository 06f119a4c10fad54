//! Sending texts: a [`Texter`] trait and its three gateways (a command of root's, an HTTP API,
//! e-mail to an SMS gateway address), the message text, and a recording texter for unit tests.
//! As with mail, the core calls it synchronously and every send is bounded by `[sms] timeout`.
//!
//! What reaches a log line ([`SmsError`]'s text): the command's path or the gateway's
//! `scheme://host:port`, an exit status or an HTTP status, and the first line of what the
//! gateway said, escaped and cut. Never the message (it holds the code), never the whole
//! number (masked), never the URL's path or query (they may hold a token). The audit table gets
//! only [`SmsError::category`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::base::phone::{mask_phone, validate_phone};
use crate::base::text::{Printable, fill_template, minutes};
use crate::config::{SmsConfig, SmsGateway};
use crate::mail::{MailError, Mailer};

mod command;
mod email;
mod http;
#[cfg(test)]
mod tests;

pub use command::CommandTexter;
pub use email::EmailTexter;
pub use http::HttpTexter;

/// The longest message handed to a gateway, in bytes (the template is at most 1000 characters
/// and each value it takes is cut).
pub const MAX_MESSAGE: usize = 16 * 1024;

pub trait Texter: Send + Sync {
    /// Deliver `message` to `number` (E.164). `Ok` means the gateway took it.
    fn send(&self, number: &str, message: &str) -> Result<(), SmsError>;
}

/// How a command ended without delivering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// The host process reaps its children itself (SIGCHLD ignored): the status is lost.
    Unknown,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::Unknown => f.write_str("exit status unknown"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The number, masked (`+44*******123`).
    #[error("invalid phone number {0}: it must be in E.164 form, e.g. +447700900123")]
    Number(String),
    #[error("the message is {0} bytes long, over the {MAX_MESSAGE} a gateway is given")]
    MessageTooLong(usize),
    /// The command is missing, or could have been changed by someone other than root: it is
    /// not run.
    #[error("[sms] command {path} cannot be used: {why}")]
    Unusable { path: PathBuf, why: String },
    #[error("[sms] command {path} could not be started: {why}")]
    Spawn { path: PathBuf, why: String },
    #[error("[sms] command {path} failed ({exit}){}", said(stderr))]
    CommandFailed {
        path: PathBuf,
        exit: Exit,
        /// The first line of its standard error (or output), escaped and cut.
        stderr: String,
    },
    /// The command was killed, or the HTTP exchange given up, at `[sms] timeout`.
    #[error("SMS gateway {gateway} did not finish within {} ([sms] timeout)", humantime::format_duration(*timeout))]
    Timeout { gateway: String, timeout: Duration },
    #[error(
        "SMS gateway {gateway} answered HTTP {status}, not a success ([sms] success_status){}",
        said(reply)
    )]
    HttpStatus {
        gateway: String,
        status: u16,
        /// The first line of the answer's body, escaped and cut (a log line, never the audit
        /// table).
        reply: String,
    },
    #[error(
        "SMS gateway {gateway} answered HTTP {status} without the text [sms] success_contains asks for{}",
        said(reply)
    )]
    HttpTextMissing {
        gateway: String,
        status: u16,
        reply: String,
    },
    #[error("cannot reach SMS gateway {gateway}: {why}")]
    Connection { gateway: String, why: String },
    #[error("TLS with SMS gateway {gateway} failed: {why}")]
    Tls { gateway: String, why: String },
    #[error("cannot read [sms] ca_file {path}: {why}")]
    CaFile { path: PathBuf, why: String },
    #[error("text to the e-mail gateway not sent: {0}")]
    Mail(#[from] MailError),
    /// `gateway = "email"` and no mailer was given ([email] missing).
    #[error("[sms] gateway = \"email\" needs the [email] section's mailer")]
    NoMailer,
    /// SMS is off (no `[sms]`), or its gateway could not be set up (logged when it was tried).
    #[error("{0}")]
    Unavailable(String),
}

/// `: what it said` when it said something.
fn said(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

impl SmsError {
    /// What went wrong in a word or two and a status, for the audit table: never the number,
    /// the message, a URL or the gateway's text.
    pub fn category(&self) -> String {
        match self {
            SmsError::Number(_) => "invalid_number".into(),
            SmsError::MessageTooLong(_) => "message_too_long".into(),
            SmsError::Unusable { .. } => "gateway_unusable".into(),
            SmsError::Spawn { .. } => "command_start".into(),
            SmsError::CommandFailed { exit, .. } => match exit {
                Exit::Code(c) => format!("command_exit_{c}"),
                Exit::Signal(s) => format!("command_signal_{s}"),
                Exit::Unknown => "command_status_unknown".into(),
            },
            SmsError::Timeout { .. } => "timeout".into(),
            SmsError::HttpStatus { status, .. } => format!("http_status_{status}"),
            SmsError::HttpTextMissing { .. } => "http_text_missing".into(),
            SmsError::Connection { .. } => "connection".into(),
            SmsError::Tls { .. } => "tls".into(),
            SmsError::CaFile { .. } => "ca_file".into(),
            SmsError::Mail(e) => format!("mail_{}", e.category()),
            SmsError::NoMailer => "no_mailer".into(),
            SmsError::Unavailable(_) => "unavailable".into(),
        }
    }
}

/// The checks every gateway makes before anything leaves: an E.164 number (so a command never
/// sees an option, an address or URL never gets a stray character) and a bounded message.
fn check_input(number: &str, message: &str) -> Result<(), SmsError> {
    validate_phone(number).map_err(|_| SmsError::Number(mask_phone(number)))?;
    if message.len() > MAX_MESSAGE {
        return Err(SmsError::MessageTooLong(message.len()));
    }
    Ok(())
}

/// The first line of what a gateway said, escaped and cut, for a log line.
fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    line.map(|l| Printable::upto(l, 120).to_string())
        .unwrap_or_default()
}

/// The number without its `+`.
fn digits(number: &str) -> &str {
    number.trim_start_matches('+')
}

/// The texter `[sms]` asks for. `mailer`: the `[email]` section's, for `gateway = "email"`.
/// A command that is missing or not root's is refused here already (and again at each send).
pub fn texter_from_config(
    sms: &SmsConfig,
    mailer: Option<Arc<dyn Mailer>>,
) -> Result<Arc<dyn Texter>, SmsError> {
    Ok(match &sms.gateway {
        SmsGateway::Command(g) => Arc::new(CommandTexter::new(g, sms.timeout)?),
        SmsGateway::Http(g) => Arc::new(HttpTexter::new(g, sms.timeout)?),
        SmsGateway::Email(g) => Arc::new(EmailTexter::new(
            mailer.ok_or(SmsError::NoMailer)?,
            &g.address,
        )),
    })
}

/// What the message may mention about the login.
#[derive(Debug, Clone)]
pub struct SmsContext<'a> {
    pub user: &'a str,
    pub service: &'a str,
}

/// The message with its placeholders filled in one pass (a value that looks like a placeholder
/// stays text). What a client sent (the name typed, the service) is escaped and cut short: a
/// text has little room and must not gain lines.
pub fn render_sms(cfg: &SmsConfig, ctx: &SmsContext<'_>, code: &str) -> Zeroizing<String> {
    let user = Printable::upto(ctx.user, 32).to_string();
    let service = Printable::upto(ctx.service, 32).to_string();
    let expiry = minutes(cfg.lifetime);
    Zeroizing::new(fill_template(&cfg.message, |name| match name {
        "code" => Some(code),
        "user" => Some(user.as_str()),
        "host" => Some(cfg.hostname.as_str()),
        "service" => Some(service.as_str()),
        "expiry" => Some(expiry.as_str()),
        _ => None,
    }))
}

#[cfg(any(test, feature = "testing"))]
/// Keeps every text (unit tests). `fail` makes every send fail as a gateway refusing it;
/// `time_out` as one that did not answer in time (the text is kept: it may still arrive).
#[derive(Default)]
pub struct RecordingTexter {
    pub sent: std::sync::Mutex<Vec<(String, String)>>,
    pub fail: std::sync::atomic::AtomicBool,
    pub time_out: std::sync::atomic::AtomicBool,
}

#[cfg(any(test, feature = "testing"))]
impl RecordingTexter {
    /// (number, message) of every text taken, oldest first.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.sent.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The last code-looking run of digits in the last text to `number`.
    pub fn last_code(&self, number: &str) -> Option<String> {
        let msgs = self.messages();
        let (_, body) = msgs.iter().rev().find(|(n, _)| n == number)?;
        body.split(|c: char| !c.is_ascii_digit())
            .rfind(|w| w.len() >= 6)
            .map(str::to_string)
    }
}

#[cfg(any(test, feature = "testing"))]
impl Texter for RecordingTexter {
    fn send(&self, number: &str, message: &str) -> Result<(), SmsError> {
        use std::sync::atomic::Ordering;
        check_input(number, message)?;
        if self.fail.load(Ordering::SeqCst) {
            // As a real gateway words it: the reply quotes the number.
            return Err(SmsError::HttpStatus {
                gateway: "https://test".into(),
                status: 400,
                reply: format!("{{\"error\": \"cannot deliver to {number}\"}}"),
            });
        }
        if let Ok(mut m) = self.sent.lock() {
            m.push((number.to_string(), message.to_string()));
        }
        if self.time_out.load(Ordering::SeqCst) {
            return Err(SmsError::Timeout {
                gateway: "https://test".into(),
                timeout: Duration::from_secs(10),
            });
        }
        Ok(())
    }
}
