//! Audit events: one per verification result, written to the audit table (by the store, inside
//! the transaction that decided) and to syslog (facility authpriv). Never a code, secret or hash.

use std::fmt;
use std::sync::Mutex;

use crate::base::text::printable;

mod syslog_sink;

pub use syslog_sink::SyslogSink;

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
