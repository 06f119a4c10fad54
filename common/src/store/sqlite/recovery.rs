//! The recovery_batches and recovery_codes tables.

use rusqlite::params;

use super::rows::to_i64;
use super::{BatchTx, SqliteStore};
use crate::store::{RecoveryBatch, RecoveryStore, StoreError, UserId};

impl RecoveryStore for SqliteStore {
    fn replace_recovery(
        &self,
        user_id: UserId,
        batch: &RecoveryBatch,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = BatchTx::begin(c, true)?;
            tx.execute("DELETE FROM recovery_batches WHERE user_id = ?1", [user_id])?;
            tx.execute(
                "INSERT INTO recovery_batches (user_id, salt, m_cost, t_cost, p_cost, created_at, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    user_id,
                    batch.salt,
                    batch.m_cost,
                    batch.t_cost,
                    batch.p_cost,
                    to_i64(batch.created_at),
                    batch.origin
                ],
            )?;
            {
                let mut st =
                    tx.prepare_cached("INSERT INTO recovery_codes (user_id, hash) VALUES (?1, ?2)")?;
                for h in hashes {
                    st.execute(params![user_id, &h[..]])?;
                }
            }
            tx.commit()
        })
    }

    fn recovery_hashes(&self, user_id: UserId) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT id, hash FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL ORDER BY id",
            )?
            .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
        })
    }

    fn used_recovery_hashes(&self, user_id: UserId) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT id, hash FROM recovery_codes WHERE user_id = ?1 AND used_at IS NOT NULL ORDER BY id",
            )?
            .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
        })
    }
}
