//! Where the server's lines go: stderr (journald under systemd) for everything, and syslog
//! (authpriv, through the core's reconnecting sink) for audit events and security-relevant
//! drops. Never a password, code or secret: callers pass names, addresses and reasons only, and
//! untrusted text goes through `printable`.

use std::io::Write;

use tessera_common::{AuditEvent, AuditSink, Severity, SyslogSink};

pub use tessera_common::{Printable, printable};

/// What every stderr line starts with.
pub const PREFIX: &str = "tessera-radiusd: ";

pub struct Log {
    syslog: SyslogSink,
}

impl Default for Log {
    fn default() -> Log {
        Log::new()
    }
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

/// Most lines a second for a kind of line that a remote party can cause at will (dropped
/// packets): a flood of junk must not become a flood of log lines, on disk or in syslog.
pub const LINES_PER_SECOND: u32 = 20;

/// Admits at most [`LINES_PER_SECOND`] lines a second and counts the rest, to be told in one
/// summary line.
pub struct RateLimit {
    window: std::sync::Mutex<Window>,
}

struct Window {
    start: std::time::Instant,
    lines: u32,
    suppressed: u64,
}

/// Whether to write a line now.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Write it; first say how many lines were suppressed before it (if any).
    Yes {
        suppressed: u64,
    },
    No,
}

impl RateLimit {
    pub fn new(now: std::time::Instant) -> RateLimit {
        RateLimit {
            window: std::sync::Mutex::new(Window {
                start: now,
                lines: 0,
                suppressed: 0,
            }),
        }
    }

    pub fn admit(&self, now: std::time::Instant) -> Admit {
        let Ok(mut w) = self.window.lock() else {
            return Admit::No;
        };
        let mut told = 0;
        if now.duration_since(w.start) >= std::time::Duration::from_secs(1) {
            told = std::mem::take(&mut w.suppressed);
            w.start = now;
            w.lines = 0;
        }
        if w.lines < LINES_PER_SECOND {
            w.lines += 1;
            Admit::Yes { suppressed: told }
        } else {
            w.suppressed += 1;
            Admit::No
        }
    }

    /// Lines suppressed in a window that is over and not yet told (for a periodic flush when
    /// the flood stopped).
    pub fn take_suppressed(&self, now: std::time::Instant) -> u64 {
        match self.window.lock() {
            Ok(mut w) if now.duration_since(w.start) >= std::time::Duration::from_secs(1) => {
                std::mem::take(&mut w.suppressed)
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_limit_and_told_in_one_line() {
        let t0 = Instant::now();
        let limit = RateLimit::new(t0);
        for _ in 0..LINES_PER_SECOND {
            assert_eq!(limit.admit(t0), Admit::Yes { suppressed: 0 });
        }
        for _ in 0..500 {
            assert_eq!(limit.admit(t0 + Duration::from_millis(500)), Admit::No);
        }
        // Nothing to flush while the window lasts.
        assert_eq!(limit.take_suppressed(t0 + Duration::from_millis(900)), 0);
        // The next window's first line says how many were cut.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(limit.admit(t1), Admit::Yes { suppressed: 500 });
        assert_eq!(limit.admit(t1), Admit::Yes { suppressed: 0 });
        // A flood that stops is told by the periodic flush.
        for _ in 0..LINES_PER_SECOND {
            limit.admit(t1);
        }
        assert_eq!(limit.take_suppressed(t1 + Duration::from_secs(2)), 2);
        assert_eq!(limit.take_suppressed(t1 + Duration::from_secs(3)), 0);
    }
}
