//! The audit table.

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use super::SqliteStore;
use super::rows::{to_i64, to_u64};
use crate::audit::{AuditEvent, AuditResult};
use crate::store::{AuditStore, StoreError};

/// Append `e`, or, for an event of a flood ([`AuditEvent::flood_key`]), count it on the row its
/// source already has this minute.
pub(super) fn insert_audit(conn: &Connection, e: &AuditEvent) -> rusqlite::Result<()> {
    let flood = e
        .flood_key()
        .map(|k| Sha256::digest(k.as_bytes())[..16].to_vec());
    conn.prepare_cached(
        "INSERT INTO audit (at, user, service, source, result, method, detail, count, flood)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (flood) WHERE flood IS NOT NULL DO UPDATE SET count = count + excluded.count",
    )?
    .execute(params![
        to_i64(e.at),
        e.user,
        e.service,
        e.source,
        e.result.as_str(),
        e.method,
        e.detail,
        e.count.max(1),
        flood
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

/// Delete, among the oldest `limit` rows, those from before `before`, and then up to `limit`
/// of the oldest rows beyond the newest `max_rows`: two short statements (each its own
/// transaction), whatever the size of the table. Ids only grow (AUTOINCREMENT), so the rows
/// above `max(id) - max_rows` are at most `max_rows`.
pub(super) fn prune_audit(
    store: &SqliteStore,
    before: u64,
    max_rows: u64,
    limit: u32,
) -> Result<u64, StoreError> {
    let old = store.with(|c| {
        c.prepare_cached(
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit ORDER BY id LIMIT ?2)
             AND at < ?1",
        )?
        .execute(params![to_i64(before), limit])
    })?;
    let excess = store.with(|c| {
        c.prepare_cached(
            "DELETE FROM audit WHERE id IN (
               SELECT id FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?1
               ORDER BY id LIMIT ?2)",
        )?
        .execute(params![to_i64(max_rows), limit])
    })?;
    Ok((old + excess) as u64)
}

impl AuditStore for SqliteStore {
    fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.with(|c| insert_audit(c, event))
    }

    fn audit(&self, user: Option<&str>, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT at, user, service, source, result, method, detail, count FROM audit
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
                    count: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
                })
            })?
            .collect()
        })
    }

    fn prune_audit(&self, before: u64, max_rows: u64, limit: u32) -> Result<u64, StoreError> {
        prune_audit(self, before, max_rows, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            path: dir.path().join("tessera.db"),
            key_file: dir.path().join("key"),
            busy_timeout: std::time::Duration::from_millis(200),
        };
        let (s, _) = SqliteStore::create(&cfg).unwrap();
        (dir, s)
    }

    fn event(at: u64, user: &str, source: &str, result: AuditResult, detail: &str) -> AuditEvent {
        AuditEvent {
            at,
            user: user.into(),
            service: "sshd".into(),
            source: Some(source.into()),
            result,
            method: None,
            detail: Some(detail.into()),
            count: 1,
        }
    }

    fn rows(s: &SqliteStore) -> i64 {
        s.with(|c| c.query_row("SELECT count(*) FROM audit", [], |r| r.get(0)))
            .unwrap()
    }

    #[test]
    fn a_flood_of_unknown_names_is_one_row_per_source_per_minute() {
        let (_d, s) = store();
        for i in 0..500u64 {
            // Random names, one source, within one minute.
            let e = event(
                6000 + i % 60,
                &format!("bot{i}"),
                "198.51.100.7",
                AuditResult::Reject,
                "unknown_user",
            );
            s.append_audit(&e).unwrap();
        }
        assert_eq!(rows(&s), 1);
        let got = s.audit(None, 10).unwrap();
        assert_eq!((got[0].count, got[0].user.as_str()), (500, "bot0"));
        // The next minute, another source, another refusal each get their own row.
        s.append_audit(&event(
            6060,
            "bot",
            "198.51.100.7",
            AuditResult::Reject,
            "unknown_user",
        ))
        .unwrap();
        s.append_audit(&event(
            6000,
            "bot",
            "198.51.100.8",
            AuditResult::Reject,
            "unknown_user",
        ))
        .unwrap();
        s.append_audit(&event(
            6000,
            "bot",
            "198.51.100.7",
            AuditResult::Ignore,
            "unknown_user",
        ))
        .unwrap();
        assert_eq!(rows(&s), 4);
        // A throttled name folds per name; wrong codes of a real account never fold.
        for _ in 0..3 {
            s.append_audit(&event(
                6000,
                "alice",
                "198.51.100.7",
                AuditResult::Reject,
                "throttled",
            ))
            .unwrap();
            s.append_audit(&event(
                6000,
                "bob",
                "198.51.100.7",
                AuditResult::Reject,
                "throttled",
            ))
            .unwrap();
            s.append_audit(&event(
                6000,
                "alice",
                "198.51.100.7",
                AuditResult::Reject,
                "bad_code",
            ))
            .unwrap();
        }
        assert_eq!(rows(&s), 4 + 2 + 3);
    }

    #[test]
    fn pruning_keeps_the_table_within_age_and_row_bounds_in_batches() {
        let (_d, s) = store();
        for i in 0..1000u64 {
            s.append_audit(&event(i, "alice", "10.0.0.1", AuditResult::Accept, "ok"))
                .unwrap();
        }
        // Age: everything before t=300 goes, at most 100 rows a call.
        assert_eq!(prune_audit(&s, 300, u64::MAX / 2, 100).unwrap(), 100);
        assert_eq!(rows(&s), 900);
        while prune_audit(&s, 300, u64::MAX / 2, 100).unwrap() > 0 {}
        assert_eq!(rows(&s), 700);
        let oldest =
            s.with(|c| c.query_row("SELECT min(at) FROM audit", [], |r| r.get::<_, i64>(0)));
        assert_eq!(oldest.unwrap(), 300);
        // Rows: beyond the newest 250 the oldest go, whatever their age.
        while prune_audit(&s, 0, 250, 100).unwrap() > 0 {}
        assert_eq!(rows(&s), 250);
        let oldest =
            s.with(|c| c.query_row("SELECT min(at) FROM audit", [], |r| r.get::<_, i64>(0)));
        assert_eq!(oldest.unwrap(), 750);
    }
}
