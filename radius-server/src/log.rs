//! Where the server's lines go: stderr (journald under systemd) for everything, and syslog
//! (authpriv, through the core's reconnecting sink) for audit events and security-relevant
//! drops. Never a password, code or secret: callers pass names, addresses and reasons only, and
//! untrusted text goes through `printable`.

use std::io::Write;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};

use tessera_common::audit::{AuditEvent, AuditSink, Severity, SyslogSink};

pub use tessera_common::names::printable;

pub struct Log {
    syslog: SyslogSink,
    /// Lines for stderr go through a writer thread that writes whatever has queued up in one
    /// system call: a decision line per request would otherwise cost a write(2) each.
    lines: Mutex<Option<Sender<String>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Log {
    pub fn new() -> Log {
        let (tx, rx) = channel::<String>();
        let spawned = std::thread::Builder::new()
            .name("stderr-log".into())
            .spawn(move || write_lines(&rx));
        let (lines, writer) = match spawned {
            Ok(handle) => (Some(tx), Some(handle)),
            // Without the thread, lines are written directly.
            Err(_) => (None, None),
        };
        Log {
            syslog: SyslogSink::new("tessera-radiusd"),
            lines: Mutex::new(lines),
            writer: Mutex::new(writer),
        }
    }

    fn line(&self, text: String) {
        let queued = match self.lines.lock() {
            Ok(tx) => match tx.as_ref() {
                Some(tx) => tx.send(text).map_err(|e| e.0),
                None => Err(text),
            },
            Err(_) => Err(text),
        };
        if let Err(text) = queued {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    /// Write out every queued line and stop queueing (shutdown): later lines go straight to
    /// stderr.
    pub fn flush(&self) {
        if let Ok(mut tx) = self.lines.lock() {
            // Dropping the sender ends the writer thread once it has written what is queued.
            tx.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// A line to stderr only (decisions, start-up, reloads).
    pub fn info(&self, line: &str) {
        self.line(format!("tessera-radiusd: {line}"));
    }

    /// A line to stderr and syslog.
    pub fn warn(&self, line: &str) {
        self.line(format!("tessera-radiusd: warning: {line}"));
        self.syslog.message(Severity::Warning, line);
    }

    pub fn error(&self, line: &str) {
        self.line(format!("tessera-radiusd: error: {line}"));
        self.syslog.message(Severity::Error, line);
    }
}

/// Block for a line, then take every line already queued, and write them all at once.
fn write_lines(rx: &Receiver<String>) {
    let mut buf = String::new();
    while let Ok(first) = rx.recv() {
        buf.clear();
        buf.push_str(&first);
        buf.push('\n');
        while let Ok(more) = rx.try_recv() {
            buf.push_str(&more);
            buf.push('\n');
            if buf.len() > 64 * 1024 {
                break;
            }
        }
        let _ = std::io::stderr().write_all(buf.as_bytes());
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
