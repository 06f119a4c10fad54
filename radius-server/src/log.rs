//! Where the server's lines go: stderr (journald under systemd) for everything, and syslog
//! (authpriv, through the core's reconnecting sink) for audit events and security-relevant
//! drops. Never a password, code or secret: callers pass names, addresses and reasons only, and
//! untrusted text goes through `printable`.

use tessera_common::audit::{AuditEvent, AuditSink, Severity, SyslogSink};

pub use tessera_common::names::printable;

pub struct Log {
    syslog: SyslogSink,
}

impl Log {
    pub fn new() -> Log {
        Log {
            syslog: SyslogSink::new("tessera-radiusd"),
        }
    }

    /// A line to stderr only (decisions, start-up, reloads).
    pub fn info(&self, line: &str) {
        eprintln!("tessera-radiusd: {line}");
    }

    /// A line to stderr and syslog.
    pub fn warn(&self, line: &str) {
        eprintln!("tessera-radiusd: warning: {line}");
        self.syslog.message(Severity::Warning, line);
    }

    pub fn error(&self, line: &str) {
        eprintln!("tessera-radiusd: error: {line}");
        self.syslog.message(Severity::Error, line);
    }
}

impl AuditSink for Log {
    /// Audit events from the core go to syslog; the front-end writes its own decision line to
    /// stderr with the RADIUS details.
    fn record(&self, event: &AuditEvent) {
        self.syslog.record(event);
    }

    fn message(&self, severity: Severity, text: &str) {
        match severity {
            Severity::Error => self.error(text),
            Severity::Warning => self.warn(text),
            Severity::Notice | Severity::Info => self.info(text),
        }
    }
}
