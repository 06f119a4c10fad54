//! The invites table: at most one invitation per user.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::rows::{opt_u64, to_i64, to_u64};
use crate::store::{Invite, InviteStore, StoreError, UserId};

impl InviteStore for SqliteStore {
    fn put_invite(
        &self,
        user_id: UserId,
        hash: &[u8],
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO invites (user_id, hash, created_at, expires_at, used_at)
                 VALUES (?1, ?2, ?3, ?4, NULL)
                 ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash,
                   created_at = excluded.created_at, expires_at = excluded.expires_at,
                   used_at = NULL",
                params![user_id, hash, to_i64(now), to_i64(expires_at)],
            )?;
            Ok(())
        })
    }

    fn invite(&self, user_id: UserId) -> Result<Option<Invite>, StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT hash, created_at, expires_at, used_at FROM invites WHERE user_id = ?1",
            )?
            .query_row([user_id], |r| {
                Ok(Invite {
                    hash: r.get(0)?,
                    created_at: to_u64(r.get(1)?),
                    expires_at: to_u64(r.get(2)?),
                    used_at: opt_u64(r.get(3)?),
                })
            })
            .optional()
        })
    }

    fn revoke_invite(&self, user_id: UserId, now: u64) -> Result<bool, StoreError> {
        self.with(|c| {
            let pending = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM invites
                   WHERE user_id = ?1 AND used_at IS NULL AND expires_at > ?2)",
                params![user_id, to_i64(now)],
                |r| r.get::<_, bool>(0),
            )?;
            c.execute("DELETE FROM invites WHERE user_id = ?1", [user_id])?;
            Ok(pending)
        })
    }
}
