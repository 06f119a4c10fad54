//! Audit events: one per verification result, written to the audit table (by the store, inside
//! the transaction that decided) and to syslog (facility authpriv). Never a code, secret or hash.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use syslog::{Facility, Formatter3164, LoggerBackend};

use crate::base::text::printable;

/// What happened, as written to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditResult {
    Accept,
    Reject,
    /// Unenrolled user let through this module (`nullok`): PAM_IGNORE, never success.
    Ignore,
    /// The core could not decide (store, key, config); the front-end denied.
    Error,
    /// Administrative action (enroll, confirm, unlock, ...).
    Admin,
    /// An e-mailed code went out.
    Sent,
}

impl AuditResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Accept => "accept",
            AuditResult::Reject => "reject",
            AuditResult::Ignore => "ignore",
            AuditResult::Error => "error",
            AuditResult::Admin => "admin",
            AuditResult::Sent => "sent",
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: u64,
    pub user: String,
    pub service: String,
    pub source: Option<String>,
    pub result: AuditResult,
    /// Which factor decided (`totp`, `recovery`, ...), when one did.
    pub method: Option<String>,
    /// Why (`bad_code`, `replayed`, `locked_out`, ...) or what (`enroll totp`); never secret.
    pub detail: Option<String>,
    /// How many events the row stands for: 1, or more for a flood folded into one row
    /// ([`AuditEvent::flood_key`]).
    pub count: u32,
}

/// Flood rows are folded per this many seconds.
pub const FLOOD_WINDOW_SECS: u64 = 60;

impl AuditEvent {
    /// For the refusals anyone can cause without knowing an account (an unknown or invalid
    /// name, a password for a name nobody has, a throttled name), the key that folds a flood into one row per source per minute:
    /// the same key means "count it on the row already there". The user is part of the key
    /// only for a throttled name (a known or guessed account); unknown names are folded
    /// whatever they are (the row keeps the first), or random names would each get a row.
    /// `None` for every other event: each keeps its own row.
    pub fn flood_key(&self) -> Option<String> {
        let detail = self.detail.as_deref()?;
        if !matches!(self.result, AuditResult::Reject | AuditResult::Ignore) {
            return None;
        }
        let user = match detail {
            "unknown_user" | "invalid_user" | "bad_password; unknown_user" => "",
            "throttled" => self.user.as_str(),
            _ => return None,
        };
        Some(format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{detail}\u{0}{user}",
            self.at / FLOOD_WINDOW_SECS,
            self.service,
            self.source.as_deref().unwrap_or(""),
            self.result.as_str(),
        ))
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "service={} user={} source={} result={}",
            printable(&self.service),
            printable(&self.user),
            self.source
                .as_deref()
                .map(printable)
                .as_deref()
                .unwrap_or("-"),
            self.result.as_str()
        )?;
        if let Some(m) = &self.method {
            write!(f, " method={}", printable(m))?;
        }
        if let Some(d) = &self.detail {
            write!(f, " detail={}", printable(d))?;
        }
        Ok(())
    }
}

/// Append `event` to the audit table; when the store does not take it (disk full, read-only,
/// locked), tell `sink` that the row is lost and what it said, so that a decision the store
/// could not record (a `nullok` PAM_IGNORE, an error) still leaves a trace.
pub fn append_or_tell(
    store: &dyn crate::store::AuditStore,
    sink: &dyn AuditSink,
    event: &AuditEvent,
) {
    if let Err(e) = store.append_audit(event) {
        sink.message(
            Severity::Error,
            &format!("audit row lost, the store did not take it ({e}): {event}"),
        );
    }
}

/// Where audit events go besides the database.
pub trait AuditSink: Send + Sync {
    fn record(&self, event: &AuditEvent);
    /// A free-form operational message (configuration problems, store errors). Never secret.
    fn message(&self, severity: Severity, text: &str);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Notice,
    Info,
}

/// Syslog, facility authpriv, through the syslog crate. Connects lazily, reconnects after a
/// failed send (the syslog daemon restarted), and never blocks or fails the caller: with no
/// `/dev/log` messages are dropped; there is no console fallback.
pub struct SyslogSink {
    formatter: Formatter3164,
    logger: Mutex<Option<syslog::Logger<LoggerBackend, Formatter3164>>>,
    /// After a failed connect, no new attempt before this time (a long-running server without
    /// a syslog daemon would otherwise open and close a socket for every line).
    retry_at: Mutex<Option<std::time::Instant>>,
}

/// How long a failed syslog connect is not retried.
const SYSLOG_RETRY: Duration = Duration::from_secs(1);

impl SyslogSink {
    pub fn new(ident: &str) -> SyslogSink {
        SyslogSink {
            formatter: Formatter3164 {
                facility: Facility::LOG_AUTHPRIV,
                hostname: None,
                process: ident.to_string(),
                pid: std::process::id(),
            },
            logger: Mutex::new(None),
            retry_at: Mutex::new(None),
        }
    }

    fn connect(&self) -> Option<syslog::Logger<LoggerBackend, Formatter3164>> {
        let mut f = self.formatter.clone();
        // The pid changes across fork (sshd); read it at connect time.
        f.pid = std::process::id();
        let logger = syslog::unix(f).ok()?;
        match &logger.backend {
            LoggerBackend::Unix(sock) => sock.set_nonblocking(true).ok()?,
            LoggerBackend::UnixStream(w) => w
                .get_ref()
                .set_write_timeout(Some(Duration::from_millis(100)))
                .ok()?,
            LoggerBackend::Udp(..) | LoggerBackend::Tcp(..) => {}
        }
        Some(logger)
    }

    /// False while a failed connect is not to be retried yet: callers skip formatting the line.
    fn may_send(&self) -> bool {
        let connected = self.logger.lock().is_ok_and(|l| l.is_some());
        connected
            || self
                .retry_at
                .lock()
                .is_ok_and(|r| r.is_none_or(|t| std::time::Instant::now() >= t))
    }

    fn send(&self, severity: Severity, text: &str) {
        let Ok(mut guard) = self.logger.lock() else {
            return;
        };
        for _attempt in 0..2 {
            if guard.is_none() {
                let now = std::time::Instant::now();
                let Ok(mut retry_at) = self.retry_at.lock() else {
                    return;
                };
                if retry_at.is_some_and(|t| now < t) {
                    return;
                }
                *guard = self.connect();
                *retry_at = guard.is_none().then(|| now + SYSLOG_RETRY);
            }
            let Some(logger) = guard.as_mut() else { return };
            let sent = match severity {
                Severity::Error => logger.err(text),
                Severity::Warning => logger.warning(text),
                Severity::Notice => logger.notice(text),
                Severity::Info => logger.info(text),
            };
            if sent.is_ok() {
                return;
            }
            *guard = None;
        }
    }
}

impl AuditSink for SyslogSink {
    fn record(&self, event: &AuditEvent) {
        if !self.may_send() {
            return;
        }
        let severity = match event.result {
            AuditResult::Accept | AuditResult::Ignore | AuditResult::Admin | AuditResult::Sent => {
                Severity::Notice
            }
            AuditResult::Reject => Severity::Warning,
            AuditResult::Error => Severity::Error,
        };
        self.send(severity, &event.to_string());
    }

    fn message(&self, severity: Severity, text: &str) {
        self.send(severity, text);
    }
}

/// Keeps events in memory (tests, and the CLI's own reporting).
#[derive(Default)]
pub struct MemorySink {
    pub events: Mutex<Vec<AuditEvent>>,
    pub messages: Mutex<Vec<(Severity, String)>>,
}

impl MemorySink {
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl AuditSink for MemorySink {
    fn record(&self, event: &AuditEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event.clone());
        }
    }

    fn message(&self, severity: Severity, text: &str) {
        if let Ok(mut m) = self.messages.lock() {
            m.push((severity, text.to_string()));
        }
    }
}

/// Sends every event to two sinks.
pub struct TeeSink<A, B>(pub A, pub B);

impl<A: AuditSink, B: AuditSink> AuditSink for TeeSink<A, B> {
    fn record(&self, event: &AuditEvent) {
        self.0.record(event);
        self.1.record(event);
    }

    fn message(&self, severity: Severity, text: &str) {
        self.0.message(severity, text);
        self.1.message(severity, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_line_escapes_hostile_names() {
        let e = AuditEvent {
            at: 1,
            user: "eve\nroot".into(),
            service: "sshd".into(),
            source: Some("10.0.0.1".into()),
            result: AuditResult::Reject,
            method: Some("totp".into()),
            detail: Some("bad_code".into()),
            count: 1,
        };
        assert_eq!(
            e.to_string(),
            "service=sshd user=eve\\nroot source=10.0.0.1 result=reject method=totp detail=bad_code"
        );
    }

    #[test]
    fn syslog_without_a_socket_neither_blocks_nor_fails() {
        // On machines without /dev/log this exercises the drop path; with one, a real send.
        let s = SyslogSink::new("tessera-test");
        s.message(Severity::Info, "test message");
    }
}
