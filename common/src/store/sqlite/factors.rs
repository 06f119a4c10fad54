//! The factors table.

use rusqlite::params;

use super::rows::{FACTOR_COLS, factor_row, to_i64};
use super::{BatchTx, SqliteStore};
use crate::base::secret::KeyError;
use crate::store::{
    Activation, Factor, FactorId, FactorStore, Fido2Factor, NewTotp, StoreError, UserId,
};

impl FactorStore for SqliteStore {
    fn add_totp_factor(
        &self,
        user_id: UserId,
        new: &NewTotp,
        now: u64,
        seal: &dyn Fn(FactorId) -> Result<Vec<u8>, KeyError>,
    ) -> Result<FactorId, StoreError> {
        let conn = self.take()?;
        let tx = BatchTx::begin(&conn, true).map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO factors (user_id, kind, label, status, created_at, algorithm, digits, period, window, last_step)
             VALUES (?1, 'totp', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                user_id,
                new.label,
                new.status.as_str(),
                to_i64(now),
                new.algorithm.as_str(),
                new.digits,
                new.period,
                new.window,
                new.last_step.map(to_i64)
            ],
        )
        .map_err(|e| self.err(e))?;
        let id = tx.last_insert_rowid();
        let sealed = seal(id)?;
        tx.execute(
            "UPDATE factors SET secret = ?2 WHERE id = ?1",
            params![id, sealed],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        self.give_back(conn);
        Ok(id)
    }

    fn add_email_factor(
        &self,
        user_id: UserId,
        label: &str,
        address: &str,
        now: u64,
    ) -> Result<FactorId, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO factors (user_id, kind, label, status, created_at, address)
                 VALUES (?1, 'email', ?2, 'pending', ?3, ?4)",
                params![user_id, label, to_i64(now), address],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn add_sms_factor(
        &self,
        user_id: UserId,
        label: &str,
        number: &str,
        now: u64,
    ) -> Result<FactorId, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO factors (user_id, kind, label, status, created_at, address)
                 VALUES (?1, 'sms', ?2, 'pending', ?3, ?4)",
                params![user_id, label, to_i64(now), number],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn add_fido2_factor(
        &self,
        user_id: UserId,
        label: &str,
        fido2: &Fido2Factor,
        now: u64,
    ) -> Result<FactorId, StoreError> {
        self.with(|c| {
            match fido2 {
                Fido2Factor::Local(cred) => c.execute(
                    "INSERT INTO factors (user_id, kind, label, status, created_at, fido_transport,
                         fido_credential_id, fido_alg, fido_public_key, fido_rp_id, fido_presence,
                         fido_uv, fido_pin, fido_resident, fido_backup, fido_sign_count, fido_origin)
                     VALUES (?1, 'fido2', ?2, 'pending', ?3, 'local', ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                         ?11, ?12, ?13, ?14)",
                    params![
                        user_id,
                        label,
                        to_i64(now),
                        cred.credential_id,
                        cred.public_key.alg().cose(),
                        cred.public_key.as_bytes(),
                        cred.rp_id,
                        cred.presence,
                        cred.verification.as_str(),
                        cred.pin,
                        cred.resident,
                        cred.backup.map(|(be, bs)| i64::from(be) | (i64::from(bs) << 1)),
                        i64::from(cred.sign_count),
                        cred.origin.as_str(),
                    ],
                )?,
                Fido2Factor::Ssh {
                    alg,
                    blob,
                    application,
                } => c.execute(
                    "INSERT INTO factors (user_id, kind, label, status, created_at, fido_transport,
                         fido_alg, fido_public_key, fido_rp_id, fido_sign_count)
                     VALUES (?1, 'fido2', ?2, 'pending', ?3, 'ssh', ?4, ?5, ?6, 0)",
                    params![user_id, label, to_i64(now), alg.cose(), blob, application],
                )?,
            };
            Ok(c.last_insert_rowid())
        })
    }

    fn factors(&self, user_id: UserId) -> Result<Vec<Factor>, StoreError> {
        let raw = self.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {FACTOR_COLS} FROM factors WHERE user_id = ?1 ORDER BY id"
            ))?
            .query_map([user_id], factor_row)?
            .collect::<Result<Vec<_>, _>>()
        })?;
        raw.into_iter()
            .map(|f| f.check().map_err(|w| self.bad_row(&w)))
            .collect()
    }

    fn activate_factor(
        &self,
        user_id: UserId,
        factor_id: FactorId,
        step: Option<u64>,
    ) -> Result<Option<Activation>, StoreError> {
        self.with(|c| {
            let tx = BatchTx::begin(c, true)?;
            let activation = activate(&tx, user_id, factor_id, step)?;
            if activation.is_some() {
                tx.commit()?;
            }
            Ok(activation)
        })
    }

    fn remove_factor(&self, user_id: UserId, factor_id: FactorId) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM factors WHERE id = ?1 AND user_id = ?2",
                [factor_id, user_id],
            )? == 1)
        })
    }

    fn set_preferred(&self, user_id: UserId, factor_id: FactorId) -> Result<bool, StoreError> {
        self.with(|c| {
            let tx = BatchTx::begin(c, true)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM factors WHERE id = ?1 AND user_id = ?2)",
                [factor_id, user_id],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(false);
            }
            tx.execute(
                "UPDATE factors SET preferred = (id = ?1) WHERE user_id = ?2",
                [factor_id, user_id],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }
}

/// Activate a pending factor on `conn` (inside the caller's transaction), claiming `step`.
pub(super) fn activate(
    conn: &rusqlite::Connection,
    user_id: UserId,
    factor_id: FactorId,
    step: Option<u64>,
) -> rusqlite::Result<Option<Activation>> {
    let had_active: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM factors WHERE user_id = ?1 AND status = 'active')",
        [user_id],
        |r| r.get(0),
    )?;
    let changed = conn.execute(
        "UPDATE factors SET status = 'active', last_step = coalesce(?3, last_step)
         WHERE id = ?1 AND user_id = ?2 AND status = 'pending'
           AND (?3 IS NULL OR last_step IS NULL OR last_step < ?3)",
        params![factor_id, user_id, step.map(to_i64)],
    )?;
    if changed != 1 {
        return Ok(None);
    }
    let has_recovery: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM recovery_batches WHERE user_id = ?1)",
        [user_id],
        |r| r.get(0),
    )?;
    Ok(Some(Activation {
        first_active: !had_active,
        has_recovery,
    }))
}
