//! Audit events: one per verification result, written to the audit table (by the store, inside
//! the transaction that decided) and to syslog (facility authpriv). Never a code, secret or hash.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use syslog::{Facility, LogFormat, LoggerBackend};

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
    /// ([`AuditEvent::fold_keys`]).
    pub count: u32,
    /// `Some` for a refusal anyone can cause without an account (an unknown, invalid or
    /// throttled name, a front-end's refusal before any check): it folds with the others from
    /// its place within the minute, and under `[audit] max_rows` such rows go first. Decided by
    /// the core when it builds the event, from the refusal and whether the account exists;
    /// `None` for everything else (accepts, logins let through, refusals of real accounts,
    /// admin actions, mail), each of which keeps a row of its own.
    pub flood: Option<Flood>,
}

/// How an event of a flood folds ([`AuditEvent::flood`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flood {
    /// Where it came from, one spelling per place ([`crate::base::origin::origin_key`]: an
    /// IPv6 /64 is one place); `None` when unknown.
    pub origin: Option<String>,
    /// The account exists (a throttled real name): the name is part of the fold. For a name
    /// nobody has it is not: the row keeps the first name and counts the others.
    pub per_name: bool,
}

/// Flood rows are folded per this many seconds.
pub const FLOOD_WINDOW_SECS: u64 = 60;

/// Rows of floods started per [`FLOOD_WINDOW_SECS`], over every place: past them, a flood's
/// events fold into one overflow row per service and refusal, without the place in its key
/// (sources that are made up, such as a Calling-Station-Id, cannot each earn a row).
pub const FLOOD_ROWS_PER_WINDOW: u32 = 100;

/// The keys an event of a flood folds under ([`AuditEvent::fold_keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldKeys {
    /// Per window, service, place, refusal (and name, for an account that exists).
    pub key: String,
    /// Per window, service and refusal: where the event goes once the window has
    /// [`FLOOD_ROWS_PER_WINDOW`] rows of floods.
    pub overflow: String,
    /// The first second of the window.
    pub window_start: u64,
}

impl AuditEvent {
    /// The keys that fold this event into a row already there (the same key: "count it on
    /// that row"), or `None` for an event that keeps its own row: anything but a refusal
    /// marked as one of a flood ([`AuditEvent::flood`]). An accept, a login let through
    /// (`nullok`), an admin action never folds, whatever it is marked.
    pub fn fold_keys(&self) -> Option<FoldKeys> {
        let flood = self.flood.as_ref()?;
        match self.result {
            AuditResult::Reject => {}
            AuditResult::Accept
            | AuditResult::Ignore
            | AuditResult::Error
            | AuditResult::Admin
            | AuditResult::Sent => return None,
        }
        let window = self.at / FLOOD_WINDOW_SECS;
        let detail = self.detail.as_deref().unwrap_or("");
        let user = if flood.per_name {
            self.user.as_str()
        } else {
            ""
        };
        let (service, place) = (&self.service, flood.origin.as_deref().unwrap_or(""));
        Some(FoldKeys {
            key: format!("{window}\u{0}{service}\u{0}{place}\u{0}{detail}\u{0}{user}"),
            overflow: format!("{window}\u{0}{service}\u{0}\u{0}{detail}\u{0}\u{0}overflow"),
            window_start: window * FLOOD_WINDOW_SECS,
        })
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

/// Apply the audit retention in up to `batches` steps of `limit` rows, each its own short
/// transaction: rows from before `before`, and beyond `max_rows` the rows of floods first
/// ([`crate::store::AuditStore::prune_audit`]). When rows of accounts younger than `before`
/// had to go (they alone pass `max_rows`), `sink` is warned: the history `[audit] keep`
/// promises is cut short. The rows deleted.
pub(crate) fn prune(
    store: &dyn crate::store::AuditStore,
    sink: &dyn AuditSink,
    before: u64,
    max_rows: u64,
    limit: u32,
    batches: u32,
) -> Result<u64, crate::store::StoreError> {
    let (mut rows, mut young) = (0, 0);
    for _ in 0..batches {
        let p = store.prune_audit(before, max_rows, limit)?;
        rows += p.rows;
        young += p.young;
        if p.rows == 0 {
            break;
        }
    }
    if young > 0 {
        sink.message(
            Severity::Warning,
            &format!(
                "audit: {young} row(s) of accounts younger than [audit] keep were deleted: such \
                 rows alone pass [audit] max_rows = {max_rows}; raise max_rows or shorten keep"
            ),
        );
    }
    Ok(rows)
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

/// Syslog, facility authpriv, through the syslog crate. Connects lazily and reconnects after a
/// failed send (the syslog daemon restarted). Sends never wait, except that a message finding
/// the daemon's queue full waits for room out of a budget of [`SYSLOG_WAIT_BUDGET`] a second,
/// shared by all messages (so a daemon that is a little behind loses nothing, and one that is
/// slow, hung or flooded by others costs the caller at most that much a second). A message that
/// still finds no room is dropped and counted; the count is told in the next message that gets
/// through. With no `/dev/log` messages are dropped; there is no console fallback.
pub struct SyslogSink {
    formatter: Rfc3164,
    channel: Mutex<Channel>,
    /// After a failed connect, no new attempt before this time (a long-running server without
    /// a syslog daemon would otherwise open and close a socket for every line).
    retry_at: Mutex<Option<std::time::Instant>>,
    /// Where to connect; `None`: the system's socket (`/dev/log`).
    path: Option<std::path::PathBuf>,
}

struct Channel {
    logger: Option<syslog::Logger<LoggerBackend, Rfc3164>>,
    /// The second the wait budget is counted in, and what of it was spent waiting.
    window: std::time::Instant,
    waited: Duration,
    /// Messages dropped since the last one that got through.
    dropped: u64,
}

/// How long a failed syslog connect is not retried.
const SYSLOG_RETRY: Duration = Duration::from_secs(1);
/// Longest time a second that messages may wait for room in the syslog daemon's queue.
pub const SYSLOG_WAIT_BUDGET: Duration = Duration::from_millis(20);

impl SyslogSink {
    pub fn new(ident: &str) -> SyslogSink {
        SyslogSink {
            formatter: Rfc3164 {
                facility: Facility::LOG_AUTHPRIV,
                process: ident.to_string(),
                pid: std::process::id(),
            },
            channel: Mutex::new(Channel {
                logger: None,
                window: std::time::Instant::now(),
                waited: Duration::ZERO,
                dropped: 0,
            }),
            retry_at: Mutex::new(None),
            path: None,
        }
    }

    /// A sink that sends to the datagram socket at `path` instead of the system's (tests).
    pub fn at(ident: &str, path: &std::path::Path) -> SyslogSink {
        SyslogSink {
            path: Some(path.to_path_buf()),
            ..SyslogSink::new(ident)
        }
    }

    fn connect(&self) -> Option<syslog::Logger<LoggerBackend, Rfc3164>> {
        let mut f = self.formatter.clone();
        // The pid changes across fork (sshd); read it at connect time.
        f.pid = std::process::id();
        let logger = match &self.path {
            Some(p) => syslog::unix_custom(f, p).ok()?,
            None => syslog::unix(f).ok()?,
        };
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

    /// False while a failed connect is not to be retried yet: callers skip formatting the line
    /// (and count it as dropped).
    fn may_send(&self) -> bool {
        let connected = self.channel.lock().is_ok_and(|c| c.logger.is_some());
        let may = connected
            || self
                .retry_at
                .lock()
                .is_ok_and(|r| r.is_none_or(|t| std::time::Instant::now() >= t));
        if !may && let Ok(mut c) = self.channel.lock() {
            c.dropped += 1;
        }
        may
    }

    fn send(&self, severity: Severity, text: &str) {
        let Ok(mut guard) = self.channel.lock() else {
            return;
        };
        let ch = &mut *guard;
        if ch.dropped > 0 {
            let told = format!(
                "{} syslog messages could not be sent (the syslog daemon was not listening or did not keep up)",
                ch.dropped
            );
            if self.send_one(ch, Severity::Warning, &told) {
                ch.dropped = 0;
            }
        }
        if !self.send_one(ch, severity, text) {
            ch.dropped += 1;
        }
    }

    /// Send one message; false if it was dropped.
    fn send_one(&self, ch: &mut Channel, severity: Severity, text: &str) -> bool {
        let send = |logger: &mut syslog::Logger<LoggerBackend, Rfc3164>| match severity {
            Severity::Error => logger.err(text),
            Severity::Warning => logger.warning(text),
            Severity::Notice => logger.notice(text),
            Severity::Info => logger.info(text),
        };
        for _attempt in 0..2 {
            if ch.logger.is_none() {
                let now = std::time::Instant::now();
                let Ok(mut retry_at) = self.retry_at.lock() else {
                    return false;
                };
                if retry_at.is_some_and(|t| now < t) {
                    return false;
                }
                ch.logger = self.connect();
                *retry_at = ch.logger.is_none().then(|| now + SYSLOG_RETRY);
            }
            let Some(logger) = ch.logger.as_mut() else {
                return false;
            };
            let sent = send(logger);
            if sent.is_ok() {
                return true;
            }
            if queue_full(&sent)
                && let LoggerBackend::Unix(sock) = &logger.backend
            {
                // The daemon is behind: wait for room, out of this second's budget.
                let now = std::time::Instant::now();
                if now.duration_since(ch.window) >= Duration::from_secs(1) {
                    ch.window = now;
                    ch.waited = Duration::ZERO;
                }
                let left = SYSLOG_WAIT_BUDGET.saturating_sub(ch.waited);
                if left.is_zero()
                    || sock.set_nonblocking(false).is_err()
                    || sock.set_write_timeout(Some(left)).is_err()
                {
                    let _ = sock.set_nonblocking(true);
                    return false;
                }
                let again = send(logger);
                ch.waited += now.elapsed();
                if let LoggerBackend::Unix(sock) = &logger.backend {
                    let _ = sock.set_nonblocking(true);
                }
                return again.is_ok();
            }
            // Anything else (the daemon restarted, a stream cut mid-message): reconnect.
            ch.logger = None;
        }
        false
    }
}

/// Whether a send failed only because the daemon's queue is full (or the wait for room ran out).
fn queue_full(sent: &syslog::Result<()>) -> bool {
    matches!(
        sent,
        Err(syslog::Error::Write(e) | syslog::Error::Io(e))
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    )
}

/// An RFC 3164 line as glibc's `syslog()` sends it (`<PRI>Mmm dd hh:mm:ss ident[pid]: message`,
/// the day space-padded), with the time in UTC as the syslog crate's own formatter writes it,
/// made without parsing a time format description for every message: that parse was most of
/// the cost of a message, paid for every RADIUS decision.
#[derive(Debug, Clone)]
struct Rfc3164 {
    facility: Facility,
    process: String,
    pid: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl<T: fmt::Display> LogFormat<T> for Rfc3164 {
    fn format<W: std::io::Write>(
        &self,
        w: &mut W,
        severity: syslog::Severity,
        message: T,
    ) -> syslog::Result<()> {
        let now = time::OffsetDateTime::now_utc();
        let month = MONTHS[usize::from(u8::from(now.month())) - 1];
        write!(
            w,
            "<{}>{month} {:2} {:02}:{:02}:{:02} {}[{}]: {message}",
            self.facility as u8 | severity as u8,
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            self.process,
            self.pid,
        )
        .map_err(syslog::Error::Write)
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
    fn a_daemon_that_falls_behind_loses_messages_counted_and_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let daemon = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let sink = SyslogSink::at("tessera-test", &path);
        // More than any queue of the daemon's socket holds: it reads nothing meanwhile. One
        // wait (the second's budget) and then drops.
        let sent = 5000;
        for i in 0..sent {
            sink.message(Severity::Info, &format!("line {i}"));
        }
        daemon.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        let mut received = 0;
        while daemon.recv(&mut buf).is_ok() {
            received += 1;
        }
        assert!(received > 0 && received < sent, "{received}");
        // Once there is room, the first message says how many were lost, then comes itself.
        sink.message(Severity::Info, "after");
        daemon.set_nonblocking(false).unwrap();
        let mut read = || {
            let n = daemon.recv(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let told = read();
        assert!(
            told.ends_with(&format!(": {} syslog messages could not be sent (the syslog daemon was not listening or did not keep up)", sent - received)),
            "{told}"
        );
        assert!(told.starts_with("<84>"), "{told}"); // authpriv, warning
        let after = read();
        assert!(
            after.contains(" tessera-test[") && after.ends_with("]: after"),
            "{after}"
        );
    }

    #[test]
    fn syslog_lines_are_rfc_3164() {
        let f = Rfc3164 {
            facility: Facility::LOG_AUTHPRIV,
            process: "pam_tessera".into(),
            pid: 42,
        };
        let mut line = Vec::new();
        f.format(
            &mut line,
            syslog::Severity::LOG_NOTICE,
            "user=alice result=accept",
        )
        .unwrap();
        let line = String::from_utf8(line).unwrap();
        // authpriv (10) * 8 + notice (5)
        let rest = line.strip_prefix("<85>").unwrap();
        let (stamp, tail) = rest.split_at(15);
        assert_eq!(tail, " pam_tessera[42]: user=alice result=accept");
        assert!(MONTHS.contains(&&stamp[..3]), "{stamp:?}");
        let b = stamp.as_bytes();
        assert!(b[3] == b' ' && (b[4] == b' ' || b[4].is_ascii_digit()) && b[5].is_ascii_digit());
        assert_eq!((b[6], b[9], b[12]), (b' ', b':', b':'));
    }

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
            flood: None,
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
