//! Where the server's lines go: stderr (journald under systemd) for everything, and syslog
//! (authpriv, through the core's reconnecting sink) for audit events and security-relevant
//! drops. Never a password, code or secret: callers pass names, addresses and reasons only, and
//! untrusted text goes through `printable`.

use std::io::Write;

use tessera_common::audit::{AuditEvent, AuditSink, Severity, SyslogSink};

pub use tessera_common::names::{Printable, printable};

/// What every stderr line starts with.
pub const PREFIX: &str = "tessera-radiusd: ";

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
        let mut lines = String::with_capacity(line.len() + 20);
        push_line(&mut lines, line);
        self.lines(&lines);
    }

    /// A line to stderr and syslog.
    pub fn warn(&self, line: &str) {
        self.info(&format!("warning: {line}"));
        self.syslog.message(Severity::Warning, line);
    }

    pub fn error(&self, line: &str) {
        self.info(&format!("error: {line}"));
        self.syslog.message(Severity::Error, line);
    }

    /// Lines made with [`push_line`], to stderr in one write (so that lines from different
    /// threads never interleave, and a burst of decisions costs one system call).
    pub fn lines(&self, lines: &str) {
        let _ = std::io::stderr().lock().write_all(lines.as_bytes());
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

/// Append one stderr line (prefixed with the program name) to `lines`.
pub fn push_line(lines: &mut String, line: &str) {
    lines.push_str(PREFIX);
    lines.push_str(line);
    lines.push('\n');
}
