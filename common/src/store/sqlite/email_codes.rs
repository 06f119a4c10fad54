//! The email_codes table: at most one outstanding code per user.

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{to_i64, to_u64};
use super::{BatchTx, SqliteStore};
use crate::store::{
    EmailCode, EmailCodeStore, FactorId, NewEmailCode, Reservation, StoreError, UserId,
};

/// One wrong answer against the outstanding e-mailed code; the code dies with its last try
/// (the row stays, so the send interval still holds).
pub(super) fn spend_email_try(conn: &Connection, user_id: UserId) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE email_codes SET tries_left = tries_left - 1 WHERE user_id = ?1 AND tries_left > 0",
    )?
    .execute([user_id])?;
    Ok(())
}

/// The window the day's count of sent codes is kept over.
const DAY: u64 = 24 * 3600;

impl EmailCodeStore for SqliteStore {
    fn reserve_email_code(&self, n: &NewEmailCode<'_>) -> Result<Reservation, StoreError> {
        self.with(|c| {
            let tx = BatchTx::begin(c, true)?;
            let last: Option<(i64, i64, i64)> = tx
                .query_row(
                    "SELECT sent_at, expires_at, tries_left FROM email_codes WHERE user_id = ?1",
                    [n.user_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let still_valid = |tries: i64, expires: i64| tries > 0 && to_u64(expires) > n.now;
            if let Some((sent, expires, tries)) = last {
                let next = to_u64(sent).saturating_add(n.min_interval_secs);
                if n.now < next {
                    return Ok(Reservation::TooSoon {
                        retry_after: next,
                        still_valid: still_valid(tries, expires),
                    });
                }
            }
            // The day's count: every code sent (or tried) counts, whatever became of it.
            let day: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT since, sends FROM code_sends WHERE user_id = ?1",
                    [n.user_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (since, sends) = match day {
                Some((since, sends)) if to_u64(since).saturating_add(DAY) > n.now => {
                    (to_u64(since), u32::try_from(sends).unwrap_or(u32::MAX))
                }
                _ => (n.now, 0),
            };
            if sends >= n.max_per_day {
                return Ok(Reservation::TooSoon {
                    retry_after: since.saturating_add(DAY),
                    still_valid: last.is_some_and(|(_, e, t)| still_valid(t, e)),
                });
            }
            tx.execute(
                "INSERT INTO code_sends (user_id, since, sends) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET since = excluded.since, sends = excluded.sends",
                params![n.user_id, to_i64(since), sends.saturating_add(1)],
            )?;
            tx.execute(
                "INSERT INTO email_codes (user_id, factor_id, hash, sent_at, expires_at, tries_left)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (user_id) DO UPDATE SET factor_id = excluded.factor_id,
                   hash = excluded.hash, sent_at = excluded.sent_at,
                   expires_at = excluded.expires_at, tries_left = excluded.tries_left",
                params![
                    n.user_id,
                    n.factor_id,
                    n.hash,
                    to_i64(n.now),
                    to_i64(n.expires_at),
                    n.tries
                ],
            )?;
            tx.commit()?;
            Ok(Reservation::Reserved)
        })
    }

    fn cancel_email_code(&self, user_id: UserId, hash: &[u8]) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM email_codes WHERE user_id = ?1 AND hash = ?2",
                params![user_id, hash],
            )?;
            Ok(())
        })
    }

    fn withdraw_email_code(&self, user_id: UserId, hash: &[u8]) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE email_codes SET tries_left = 0 WHERE user_id = ?1 AND hash = ?2",
                params![user_id, hash],
            )?;
            Ok(())
        })
    }

    fn email_code(&self, user_id: UserId) -> Result<Option<EmailCode>, StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT factor_id, hash, sent_at, expires_at, tries_left FROM email_codes WHERE user_id = ?1",
            )?
            .query_row([user_id], |r| {
                Ok(EmailCode {
                    factor_id: r.get(0)?,
                    hash: r.get(1)?,
                    sent_at: to_u64(r.get(2)?),
                    expires_at: to_u64(r.get(3)?),
                    tries_left: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                })
            })
            .optional()
        })
    }

    fn confirm_email_code(
        &self,
        user_id: UserId,
        factor_id: FactorId,
        hash: &[u8],
        now: u64,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let tx = BatchTx::begin(c, true)?;
            // A confirmed code is deleted, not spent: the send interval is against bombing,
            // and must not keep the user's first login from getting a code of its own.
            let consumed = tx.execute(
                "DELETE FROM email_codes
                 WHERE user_id = ?1 AND factor_id = ?2 AND hash = ?3
                   AND expires_at > ?4 AND tries_left > 0",
                params![user_id, factor_id, hash, to_i64(now)],
            )? == 1;
            if !consumed {
                spend_email_try(&tx, user_id)?;
            }
            tx.commit()?;
            Ok(consumed)
        })
    }
}
