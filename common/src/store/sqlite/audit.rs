//! The audit table.

use rusqlite::{Connection, params};

use super::SqliteStore;
use super::rows::{to_i64, to_u64};
use crate::audit::{AuditEvent, AuditResult};
use crate::store::{AuditStore, StoreError};

pub(super) fn insert_audit(conn: &Connection, e: &AuditEvent) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (at, user, service, source, result, method, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        to_i64(e.at),
        e.user,
        e.service,
        e.source,
        e.result.as_str(),
        e.method,
        e.detail
    ])?;
    Ok(())
}

fn parse_result(s: &str) -> AuditResult {
    match s {
        "accept" => AuditResult::Accept,
        "reject" => AuditResult::Reject,
        "ignore" => AuditResult::Ignore,
        "admin" => AuditResult::Admin,
        "sent" => AuditResult::Sent,
        _ => AuditResult::Error,
    }
}

impl AuditStore for SqliteStore {
    fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.with(|c| insert_audit(c, event))
    }

    fn audit(&self, user: Option<&str>, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT at, user, service, source, result, method, detail FROM audit
                 WHERE (?1 IS NULL OR user = ?1) ORDER BY id DESC LIMIT ?2",
            )?;
            st.query_map(params![user, limit], |r| {
                Ok(AuditEvent {
                    at: to_u64(r.get(0)?),
                    user: r.get(1)?,
                    service: r.get(2)?,
                    source: r.get(3)?,
                    result: parse_result(&r.get::<_, String>(4)?),
                    method: r.get(5)?,
                    detail: r.get(6)?,
                })
            })?
            .collect()
        })
    }
}
