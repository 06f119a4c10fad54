//! A decision's transaction: the lockout and throttle tables, consuming one-time values, and the
//! audit row, all on the connection [`Store::write`](crate::store::Store::write) opened.

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::audit::insert_audit;
use super::email_codes::spend_email_try;
use super::rows::{opt_u64, to_i64};
use crate::audit::AuditEvent;
use crate::policy::{Counter, LockState};
use crate::store::{Activation, Claim, FactorId, StoreError, Tx, UserId};

pub(super) struct SqliteTx<'a> {
    pub(super) conn: &'a Connection,
    pub(super) store: &'a SqliteStore,
}

fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(if v < 0 { 0 } else { u32::MAX })
}

/// The user's row of the lockout table (a user without one has a clear state).
pub(super) fn lock_row(conn: &Connection, user_id: UserId) -> rusqlite::Result<LockState> {
    Ok(conn
        .prepare_cached(
            "SELECT failures, locks, locked_until, last_failure, admin_locked, since_login
             FROM lockout WHERE user_id = ?1",
        )?
        .query_row([user_id], |r| {
            Ok(LockState {
                codes: Counter {
                    failures: count(r.get(0)?),
                    locks: count(r.get(1)?),
                    locked_until: opt_u64(r.get(2)?),
                    last_failure: opt_u64(r.get(3)?),
                    good_until: None,
                    pending: 0,
                    pending_at: None,
                },
                admin_locked: r.get(4)?,
                since_login: count(r.get(5)?),
            })
        })
        .optional()?
        .unwrap_or_default())
}

impl SqliteTx<'_> {
    fn run<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        f(self.conn).map_err(|e| self.store.err(e))
    }
}

impl Tx for SqliteTx<'_> {
    fn lock_state(&self, user_id: UserId) -> Result<LockState, StoreError> {
        self.run(|c| lock_row(c, user_id))
    }

    fn put_lock_state(&self, user_id: UserId, s: &LockState) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO lockout (user_id, failures, locks, locked_until, last_failure, admin_locked, since_login)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (user_id) DO UPDATE SET
                   failures = excluded.failures, locks = excluded.locks,
                   locked_until = excluded.locked_until, last_failure = excluded.last_failure,
                   admin_locked = excluded.admin_locked, since_login = excluded.since_login",
            )?
            .execute(params![
                user_id,
                s.codes.failures,
                s.codes.locks,
                s.codes.locked_until.map(to_i64),
                s.codes.last_failure.map(to_i64),
                s.admin_locked,
                s.since_login
            ])?;
            Ok(())
        })
    }

    fn throttle(&self, key: &str, source: &str) -> Result<Counter, StoreError> {
        self.run(|c| {
            Ok(c.prepare_cached(
                "SELECT failures, locks, locked_until, last_failure, good_until, pending, pending_at
                 FROM throttle WHERE name_key = ?1 AND source = ?2",
            )?
            .query_row(params![key, source], |r| {
                Ok(Counter {
                    failures: count(r.get(0)?),
                    locks: count(r.get(1)?),
                    locked_until: opt_u64(r.get(2)?),
                    last_failure: opt_u64(r.get(3)?),
                    good_until: opt_u64(r.get(4)?),
                    pending: count(r.get(5)?),
                    pending_at: opt_u64(r.get(6)?),
                })
            })
            .optional()?
            .unwrap_or_default())
        })
    }

    fn put_throttle(&self, key: &str, source: &str, t: &Counter) -> Result<(), StoreError> {
        self.run(|c| {
            if *t == Counter::default() {
                c.prepare_cached("DELETE FROM throttle WHERE name_key = ?1 AND source = ?2")?
                    .execute(params![key, source])?;
                return Ok(());
            }
            c.prepare_cached(
                "INSERT INTO throttle (name_key, source, failures, locks, locked_until, last_failure,
                                       good_until, pending, pending_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (name_key, source) DO UPDATE SET
                   failures = excluded.failures, locks = excluded.locks,
                   locked_until = excluded.locked_until, last_failure = excluded.last_failure,
                   good_until = excluded.good_until, pending = excluded.pending,
                   pending_at = excluded.pending_at",
            )?
            .execute(params![
                key,
                source,
                t.failures,
                t.locks,
                t.locked_until.map(to_i64),
                t.last_failure.map(to_i64),
                t.good_until.map(to_i64),
                t.pending,
                t.pending_at.map(to_i64)
            ])?;
            Ok(())
        })
    }

    fn clear_throttle(&self, key: &str) -> Result<u64, StoreError> {
        self.run(|c| {
            Ok(
                c.prepare_cached("DELETE FROM throttle WHERE name_key = ?1")?
                    .execute([key])? as u64,
            )
        })
    }

    fn claim(&self, user_id: UserId, claim: &Claim, now: u64) -> Result<bool, StoreError> {
        self.run(|c| {
            let changed = match *claim {
                Claim::TotpStep { factor_id, step } => c
                    .prepare_cached(
                        "UPDATE factors SET last_step = ?3
                         WHERE id = ?1 AND user_id = ?2 AND status = 'active'
                           AND (last_step IS NULL OR last_step < ?3)",
                    )?
                    .execute(params![factor_id, user_id, to_i64(step)])?,
                // Spent, not deleted: the row keeps `sent_at` for the send interval.
                Claim::EmailCode { hash } => c
                    .prepare_cached(
                        "UPDATE email_codes SET tries_left = 0
                         WHERE user_id = ?1 AND hash = ?2 AND expires_at > ?3 AND tries_left > 0
                           AND factor_id IN (SELECT id FROM factors WHERE status = 'active')",
                    )?
                    .execute(params![user_id, &hash[..], to_i64(now)])?,
                Claim::RecoveryCode { code_id } => c
                    .prepare_cached(
                        "UPDATE recovery_codes SET used_at = ?3
                         WHERE id = ?1 AND user_id = ?2 AND used_at IS NULL",
                    )?
                    .execute(params![code_id, user_id, to_i64(now)])?,
                Claim::Fido2Count { factor_id, count } => c
                    .prepare_cached(
                        "UPDATE factors SET fido_sign_count = ?3
                         WHERE id = ?1 AND user_id = ?2 AND status = 'active' AND kind = 'fido2'
                           AND fido_transport = 'local'
                           AND (fido_sign_count < ?3 OR (fido_sign_count = 0 AND ?3 = 0))",
                    )?
                    .execute(params![factor_id, user_id, i64::from(count)])?,
                // Nothing to consume (sshd checked the signature over its own session id): the
                // factor must still be there.
                Claim::SshKey { factor_id } => c
                    .prepare_cached(
                        "UPDATE factors SET fido_sign_count = fido_sign_count
                         WHERE id = ?1 AND user_id = ?2 AND status = 'active' AND kind = 'fido2'
                           AND fido_transport = 'ssh'",
                    )?
                    .execute(params![factor_id, user_id])?,
                // Deleted once used: the send interval is for logins, not against them.
                Claim::PendingEmailCode { factor_id, hash } => c
                    .prepare_cached(
                        "DELETE FROM email_codes
                         WHERE user_id = ?1 AND factor_id = ?2 AND hash = ?3 AND expires_at > ?4
                           AND tries_left > 0
                           AND factor_id IN (SELECT id FROM factors WHERE status = 'pending')",
                    )?
                    .execute(params![user_id, factor_id, &hash[..], to_i64(now)])?,
                Claim::Invite { hash } => c
                    .prepare_cached(
                        "UPDATE invites SET used_at = ?3
                         WHERE user_id = ?1 AND hash = ?2 AND used_at IS NULL AND expires_at > ?3",
                    )?
                    .execute(params![user_id, &hash[..], to_i64(now)])?,
            };
            Ok(changed == 1)
        })
    }

    fn spend_email_try(&self, user_id: UserId) -> Result<(), StoreError> {
        self.run(|c| spend_email_try(c, user_id))
    }

    fn activate_factor(
        &self,
        user_id: UserId,
        factor_id: FactorId,
        step: Option<u64>,
    ) -> Result<Option<Activation>, StoreError> {
        self.run(|c| super::factors::activate(c, user_id, factor_id, step))
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.run(|c| insert_audit(c, event))
    }
}

/// Delete up to `limit` throttle rows that carry nothing at `now` (see
/// [`Store::prune_throttle`](crate::store::Store::prune_throttle)), in one short transaction:
/// one failure leaks per `decay_secs` after the leak's reference time, and one lock is
/// forgotten per `quiet_secs` after the later of the last lock's end and the bucket emptying
/// (as [`crate::policy::Rule::settled`] counts), so a row is spent once both counts have run out.
pub(super) fn prune_throttle(
    store: &SqliteStore,
    now: u64,
    decay_secs: u64,
    quiet_secs: u64,
    limit: u32,
) -> Result<u64, StoreError> {
    let (now, decay, quiet) = (to_i64(now), to_i64(decay_secs), to_i64(quiet_secs));
    store.with(|c| {
        let removed = c
            .prepare_cached(
                "DELETE FROM throttle WHERE (name_key, source) IN (
                   SELECT name_key, source FROM throttle
                   WHERE coalesce(last_failure, 0) + failures * ?5 <= ?1
                     AND max(coalesce(locked_until, 0),
                             coalesce(last_failure, 0) + failures * ?5) + locks * ?2 <= ?1
                     AND coalesce(locked_until, 0) <= ?1
                     AND coalesce(good_until, 0) <= ?1
                     AND coalesce(pending_at, 0) <= ?1 - ?4
                   LIMIT ?3)",
            )?
            .execute(params![
                now,
                quiet,
                limit,
                to_i64(crate::policy::PENDING_SECS),
                decay
            ])?;
        Ok(removed as u64)
    })
}
