//! Audit events to syslog: [`SyslogSink`] (facility authpriv, RFC 3164 lines, a bounded wait
//! for a daemon that is behind).

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use syslog::{Facility, LogFormat, LoggerBackend};

use super::{AuditEvent, AuditResult, AuditSink, Severity};

/// Syslog, facility authpriv, through the syslog crate. Connects lazily and reconnects after a
/// failed send (the syslog daemon restarted). Sends to a datagram `/dev/log` (rsyslog,
/// journald) never wait, except that a message finding the daemon's queue full waits for room
/// (`poll`) out of a budget of [`SYSLOG_WAIT_BUDGET`] a second, shared by all messages: a daemon
/// that is a little behind loses nothing, and one that is slow, hung or flooded by others costs
/// the callers at most that much a second. A message that still finds no room is dropped and
/// counted; the count is told, at most once a second, before a message that gets through. With
/// no `/dev/log` messages are dropped; there is no console fallback. (A stream `/dev/log`, as
/// syslog-ng's `unix-stream`, keeps the crate's blocking connect and a 100 ms write timeout.)
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
    /// Messages dropped and not yet told, and when the last count was told.
    dropped: u64,
    told_at: Option<std::time::Instant>,
}

/// How long a failed syslog connect is not retried.
const SYSLOG_RETRY: Duration = Duration::from_secs(1);
/// Longest time a second that messages may wait for room in the syslog daemon's queue.
pub(crate) const SYSLOG_WAIT_BUDGET: Duration = Duration::from_millis(20);

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
                told_at: None,
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
        // One lock of the channel (then retry_at, the order `send_one` takes them in).
        let Ok(mut c) = self.channel.lock() else {
            return false;
        };
        if c.logger.is_some() {
            return true;
        }
        let may = self
            .retry_at
            .lock()
            .is_ok_and(|r| r.is_none_or(|t| std::time::Instant::now() >= t));
        if !may {
            c.dropped += 1;
        }
        may
    }

    fn send(&self, severity: Severity, text: &str) {
        let Ok(mut guard) = self.channel.lock() else {
            return;
        };
        let ch = &mut *guard;
        // The count, at most once a second: under steady overload, notices must not take the
        // room the audit lines need.
        let now = std::time::Instant::now();
        if ch.dropped > 0
            && ch
                .told_at
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            let told = format!(
                "{} syslog messages could not be sent (the syslog daemon was not listening or did not keep up)",
                ch.dropped
            );
            if self.send_one(ch, Severity::Warning, &told) {
                ch.dropped = 0;
                ch.told_at = Some(now);
            }
        }
        if !self.send_one(ch, severity, text) {
            ch.dropped += 1;
        }
    }

    /// Messages dropped and not yet told.
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.channel.lock().map_or(0, |c| c.dropped)
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
                // The daemon is behind: wait for room, out of this second's budget. The socket
                // stays non-blocking; poll's timeout is not rounded up to the timer tick.
                let now = std::time::Instant::now();
                if now.duration_since(ch.window) >= Duration::from_secs(1) {
                    ch.window = now;
                    ch.waited = Duration::ZERO;
                }
                let left = SYSLOG_WAIT_BUDGET.saturating_sub(ch.waited);
                if left.is_zero() {
                    return false;
                }
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: i64::from(left.subsec_nanos()),
                };
                let mut fds = [rustix::event::PollFd::new(
                    sock,
                    rustix::event::PollFlags::OUT,
                )];
                let room = rustix::event::poll(&mut fds, Some(&timeout));
                ch.waited += now.elapsed();
                return matches!(room, Ok(n) if n > 0) && send(logger).is_ok();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_that_falls_behind_loses_messages_counted_and_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let daemon = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let sink = SyslogSink::at("tessera-test", &path);
        // Until the daemon's queue is full (it reads nothing meanwhile): one wait, out of the
        // second's budget, and then drops.
        let mut sent = 0;
        while sink.dropped() == 0 {
            assert!(sent < 1_000_000, "the daemon's queue never filled");
            sink.message(Severity::Info, &format!("line {sent}"));
            sent += 1;
        }
        for i in 0..100 {
            sink.message(Severity::Info, &format!("more {i}"));
        }
        sent += 100;
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
        daemon
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
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
}
