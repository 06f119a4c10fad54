//! The audit table.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::SqliteStore;
use super::rows::{to_i64, to_u64};
use crate::audit::{AuditEvent, AuditResult, FLOOD_ROWS_PER_WINDOW, FLOOD_WINDOW_SECS};
use crate::store::{AuditPruned, AuditStore, StoreError};

/// The 16 bytes of a fold key stored in the `flood` column.
fn flood_hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes())[..16].to_vec()
}

/// Append `e`, or, for an event of a flood ([`AuditEvent::fold_keys`]), count it on the row its
/// place already has this minute. A flood that would start a row past
/// [`FLOOD_ROWS_PER_WINDOW`] rows of floods this minute goes to the overflow row instead, with
/// no source (one statement: the choice and the write cannot be told apart by another writer).
pub(super) fn insert_audit(conn: &Connection, e: &AuditEvent) -> rusqlite::Result<()> {
    let Some(keys) = e.fold_keys() else {
        conn.prepare_cached(
            "INSERT INTO audit (at, user, service, source, result, method, detail, count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
        ])?;
        return Ok(());
    };
    let detail = e.detail.as_deref().unwrap_or("");
    conn.prepare_cached(
        "INSERT INTO audit (at, user, service, source, result, method, detail, count, flood)
         SELECT ?1, ?2, ?3, CASE WHEN o THEN NULL ELSE ?4 END, ?5, ?6,
                CASE WHEN o THEN ?7 || '; many_sources' ELSE ?7 END, ?8,
                CASE WHEN o THEN ?10 ELSE ?9 END
         FROM (SELECT NOT EXISTS (SELECT 1 FROM audit WHERE flood = ?9)
                      AND (SELECT count(*) FROM audit
                           WHERE flood IS NOT NULL AND at >= ?11 AND at < ?12) >= ?13 AS o)
         WHERE true
         ON CONFLICT (flood) WHERE flood IS NOT NULL DO UPDATE SET count = count + excluded.count",
    )?
    .execute(params![
        to_i64(e.at),
        e.user,
        e.service,
        e.source,
        e.result.as_str(),
        e.method,
        detail,
        e.count.max(1),
        flood_hash(&keys.key),
        flood_hash(&keys.overflow),
        to_i64(keys.window_start),
        to_i64(keys.window_start.saturating_add(FLOOD_WINDOW_SECS)),
        FLOOD_ROWS_PER_WINDOW,
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

/// One retention step, each statement its own short transaction, whatever the size of the
/// table: up to `limit` rows from before `before` (by time, through the index on `at`: rows
/// dated in the future cannot hide older ones); then, past `max_rows` rows in all, up to
/// `limit` of the oldest rows of floods; then, only while the other rows alone are more than
/// `max_rows`, up to `limit` of the oldest of those (and how many of them were younger than
/// `before`). The counts are a scan of an index, once a step.
pub(super) fn prune_audit(
    store: &SqliteStore,
    before: u64,
    max_rows: u64,
    limit: u32,
) -> Result<AuditPruned, StoreError> {
    let old = store.with(|c| {
        c.prepare_cached(
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ?1 ORDER BY at LIMIT ?2)",
        )?
        .execute(params![to_i64(before), limit])
    })? as u64;
    let (total, floods) = store.with(|c| {
        c.prepare_cached(
            "SELECT (SELECT count(*) FROM audit), (SELECT count(*) FROM audit WHERE flood IS NOT NULL)",
        )?
        .query_row([], |r| Ok((to_u64(r.get(0)?), to_u64(r.get(1)?))))
    })?;
    let mut pruned = AuditPruned {
        rows: old,
        young: 0,
    };
    let excess = total
        .saturating_sub(max_rows)
        .min(floods)
        .min(u64::from(limit));
    if excess > 0 {
        pruned.rows += store.with(|c| {
            c.prepare_cached(
                "DELETE FROM audit WHERE id IN (
                   SELECT id FROM audit WHERE flood IS NOT NULL ORDER BY at LIMIT ?1)",
            )?
            .execute(params![to_i64(excess)])
        })? as u64;
    }
    let excess = total
        .saturating_sub(floods)
        .saturating_sub(max_rows)
        .min(u64::from(limit));
    if excess > 0 {
        let ats: Vec<i64> = store.with(|c| {
            c.prepare_cached(
                "DELETE FROM audit WHERE id IN (
                   SELECT id FROM audit WHERE flood IS NULL ORDER BY id LIMIT ?1)
                 RETURNING at",
            )?
            .query_map(params![to_i64(excess)], |r| r.get(0))?
            .collect()
        })?;
        pruned.rows += ats.len() as u64;
        pruned.young += ats.iter().filter(|&&at| to_u64(at) >= before).count() as u64;
    }
    Ok(pruned)
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
                    // How a row folded is not read back: it is a row to show.
                    flood: None,
                })
            })?
            .collect()
        })
    }

    fn prune_audit(
        &self,
        before: u64,
        max_rows: u64,
        limit: u32,
    ) -> Result<AuditPruned, StoreError> {
        prune_audit(self, before, max_rows, limit)
    }

    fn claim_audit_prune(&self, now: u64, every_secs: u64) -> Result<bool, StoreError> {
        let now = to_i64(now);
        let every = to_i64(every_secs);
        self.with(|c| {
            let last: Option<i64> = c
                .prepare_cached("SELECT value FROM store_meta WHERE name = 'audit_pruned_at'")?
                .query_row([], |r| r.get(0))
                .optional()?;
            if last.is_some_and(|t| t <= now && now < t.saturating_add(every)) {
                return Ok(false);
            }
            let n = c
                .prepare_cached(
                    "INSERT INTO store_meta (name, value) VALUES ('audit_pruned_at', ?1)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value
                     WHERE value > excluded.value OR value + ?2 <= excluded.value",
                )?
                .execute(params![now, every])?;
            Ok(n == 1)
        })
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
            flood: None,
        }
    }

    /// A refusal of a flood from `origin`, per name when `per_name`.
    fn flood(at: u64, user: &str, origin: &str, per_name: bool, detail: &str) -> AuditEvent {
        AuditEvent {
            flood: Some(crate::audit::Flood {
                origin: Some(origin.into()),
                per_name,
            }),
            ..event(at, user, origin, AuditResult::Reject, detail)
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
            let e = flood(
                6000 + i % 60,
                &format!("bot{i}"),
                "198.51.100.7",
                false,
                "unknown_user",
            );
            s.append_audit(&e).unwrap();
        }
        assert_eq!(rows(&s), 1);
        let got = s.audit(None, 10).unwrap();
        assert_eq!((got[0].count, got[0].user.as_str()), (500, "bot0"));
        // The next minute, another source each get their own row.
        s.append_audit(&flood(6060, "bot", "198.51.100.7", false, "unknown_user"))
            .unwrap();
        s.append_audit(&flood(6000, "bot", "198.51.100.8", false, "unknown_user"))
            .unwrap();
        assert_eq!(rows(&s), 3);
        // A throttled real name folds per name; a login let through, an accept, an admin
        // action and a wrong code of a real account never fold, whatever they are marked.
        for _ in 0..3 {
            s.append_audit(&flood(6000, "alice", "198.51.100.7", true, "throttled"))
                .unwrap();
            s.append_audit(&flood(6000, "bob", "198.51.100.7", true, "throttled"))
                .unwrap();
            for result in [AuditResult::Ignore, AuditResult::Accept, AuditResult::Admin] {
                let e = AuditEvent {
                    result,
                    ..flood(6000, "carol", "198.51.100.7", false, "unknown_user")
                };
                s.append_audit(&e).unwrap();
            }
            s.append_audit(&event(
                6000,
                "alice",
                "198.51.100.7",
                AuditResult::Reject,
                "bad_code",
            ))
            .unwrap();
        }
        assert_eq!(rows(&s), 3 + 2 + 3 * 4);
    }

    /// Past the rows a minute's floods may start, made-up places fold into one overflow row
    /// without a source; places that already have their row keep counting on it.
    #[test]
    fn a_flood_from_endless_places_overflows_into_one_row_a_minute() {
        let (_d, s) = store();
        let n = u64::from(FLOOD_ROWS_PER_WINDOW);
        for i in 0..n + 500 {
            let e = flood(6000, "bot", &format!("cs-{i}"), false, "unknown_user");
            s.append_audit(&e).unwrap();
        }
        s.append_audit(&flood(6000, "bot", "cs-0", false, "unknown_user"))
            .unwrap();
        assert_eq!(rows(&s), n as i64 + 1);
        let got = s.audit(None, 1000).unwrap();
        let overflow = &got[0];
        assert_eq!(
            (
                overflow.source.as_deref(),
                overflow.detail.as_deref(),
                overflow.count
            ),
            (None, Some("unknown_user; many_sources"), 500)
        );
        assert_eq!(got.last().map(|r| r.count), Some(2), "cs-0 kept its row");
        // A new minute starts afresh.
        s.append_audit(&flood(6060, "bot", "cs-9999", false, "unknown_user"))
            .unwrap();
        assert_eq!(
            s.audit(None, 1).unwrap()[0].source.as_deref(),
            Some("cs-9999")
        );
    }

    /// Under `max_rows` the rows of floods go first, however new; the rows of accounts only
    /// when they alone are more, oldest first, and those younger than `keep` are counted.
    #[test]
    fn the_row_cap_prunes_floods_before_any_account_row() {
        let (_d, s) = store();
        for i in 0..50u64 {
            s.append_audit(&event(
                1000 + i,
                "alice",
                "10.0.0.1",
                AuditResult::Accept,
                "ok",
            ))
            .unwrap();
        }
        for i in 0..100u64 {
            let e = flood(5000 + i * 60, "bot", "10.9.9.9", false, "unknown_user");
            s.append_audit(&e).unwrap();
        }
        while prune_audit(&s, 0, 100, 30).unwrap().rows > 0 {}
        let left = s.audit(None, 1000).unwrap();
        assert_eq!(left.len(), 100);
        assert_eq!(
            left.iter()
                .filter(|r| r.result == AuditResult::Accept)
                .count(),
            50,
            "every account row stays"
        );
        assert_eq!(left[0].at, 5000 + 99 * 60, "the newest floods stay");
        // Account rows alone past the cap: the oldest go, and they were within `keep`.
        for i in 0..120u64 {
            s.append_audit(&event(
                2000 + i,
                "alice",
                "10.0.0.1",
                AuditResult::Accept,
                "ok",
            ))
            .unwrap();
        }
        let mut total = AuditPruned::default();
        loop {
            let p = prune_audit(&s, 500, 100, 30).unwrap();
            if p.rows == 0 {
                break;
            }
            total.rows += p.rows;
            total.young += p.young;
        }
        assert_eq!(rows(&s), 100);
        assert_eq!(
            total,
            AuditPruned {
                rows: 120,
                young: 70
            }
        );
        let oldest =
            s.with(|c| c.query_row("SELECT min(at) FROM audit", [], |r| r.get::<_, i64>(0)));
        assert_eq!(oldest.unwrap(), 2020);
    }

    #[test]
    fn pruning_keeps_the_table_within_age_and_row_bounds_in_batches() {
        let (_d, s) = store();
        for i in 0..1000u64 {
            s.append_audit(&event(i, "alice", "10.0.0.1", AuditResult::Accept, "ok"))
                .unwrap();
        }
        // Age: everything before t=300 goes, at most 100 rows a call.
        assert_eq!(prune_audit(&s, 300, u64::MAX / 2, 100).unwrap().rows, 100);
        assert_eq!(rows(&s), 900);
        while prune_audit(&s, 300, u64::MAX / 2, 100).unwrap().rows > 0 {}
        assert_eq!(rows(&s), 700);
        let oldest =
            s.with(|c| c.query_row("SELECT min(at) FROM audit", [], |r| r.get::<_, i64>(0)));
        assert_eq!(oldest.unwrap(), 300);
        // Rows: beyond the newest 250 the oldest go, whatever their age.
        while prune_audit(&s, 0, 250, 100).unwrap().rows > 0 {}
        assert_eq!(rows(&s), 250);
        let oldest =
            s.with(|c| c.query_row("SELECT min(at) FROM audit", [], |r| r.get::<_, i64>(0)));
        assert_eq!(oldest.unwrap(), 750);
    }

    /// Rows dated in the future (a clock that was ahead, then stepped back) at the head of the
    /// table do not stop age pruning: the rows past `keep` behind them still go.
    #[test]
    fn rows_dated_in_the_future_do_not_stop_age_pruning() {
        let (_d, s) = store();
        let now = 1_800_000_000u64;
        for _ in 0..200 {
            s.append_audit(&event(
                now + 3 * 365 * 86400,
                "alice",
                "10.0.0.1",
                AuditResult::Accept,
                "ok",
            ))
            .unwrap();
        }
        for i in 0..1000 {
            s.append_audit(&event(
                now - 400 * 86400 + i,
                "alice",
                "10.0.0.1",
                AuditResult::Accept,
                "ok",
            ))
            .unwrap();
        }
        // As a PAM decision prunes: batches of 200.
        for _ in 0..10 {
            prune_audit(&s, now - 90 * 86400, 5_000_000, 200).unwrap();
        }
        assert_eq!(rows(&s), 200, "the rows past `keep` were not pruned");
    }
}
