//! The users table, and a login's read of everything about one user.

use rusqlite::{ErrorCode, OptionalExtension, params};

use super::rows::{USER_COLS, factor_row, opt_u64, to_i64, to_u64, user_row};
use super::tx::lock_row;
use super::{BatchTx, SqliteStore};
use crate::policy::{Counter, LockState};
use crate::store::{LoginData, RecoveryBatch, StoreError, User, UserId, UserStore, UserSummary};

/// A login's read of one user, its lockout and its recovery batch, selected by `$by`.
macro_rules! user_data_sql {
    ($by:literal) => {
        concat!(
            "SELECT u.id, u.name, u.email, u.password_hash, u.created_at, u.phone,
                l.failures, l.locked_until, l.admin_locked,
                b.salt, b.m_cost, b.t_cost, b.p_cost, b.created_at, b.origin,
                (SELECT count(*) FROM recovery_codes c WHERE c.user_id = u.id),
                (SELECT count(*) FROM recovery_codes c WHERE c.user_id = u.id AND c.used_at IS NULL),
                l.locks, l.last_failure, l.since_login
            FROM users u
            LEFT JOIN lockout l ON l.user_id = u.id
            LEFT JOIN recovery_batches b ON b.user_id = u.id
            WHERE ",
            $by
        )
    };
}

pub(super) const LOGIN_USER_SQL: &str = user_data_sql!("u.name_key = ?1");

/// [`LOGIN_USER_SQL`] by user id.
const USER_DATA_SQL: &str = user_data_sql!("u.id = ?1");

/// A login's factors (columns as [`FACTOR_COLS`]); `login_data` puts the preferred one first
/// (a sort here would cost SQLite a sorter per login for one or two rows).
pub(super) const LOGIN_FACTORS_SQL: &str =
    "SELECT id, user_id, kind, label, status, preferred, created_at,
        algorithm, digits, period, window, secret, last_step, address,
        fido_transport, fido_credential_id, fido_alg, fido_public_key, fido_rp_id, fido_presence,
        fido_uv, fido_pin, fido_resident, fido_backup, fido_sign_count, fido_origin
    FROM factors WHERE user_id = ?1";

impl UserStore for SqliteStore {
    fn add_user(
        &self,
        name: &str,
        key: &str,
        email: Option<&str>,
        now: u64,
    ) -> Result<UserId, StoreError> {
        let r = self.with(|c| {
            c.prepare_cached(
                "INSERT INTO users (name, name_key, email, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, key, email, to_i64(now)])?;
            Ok(c.last_insert_rowid())
        });
        match r {
            Err(StoreError::Sqlite { source, .. })
                if source.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) =>
            {
                Err(StoreError::UserExists(name.to_string()))
            }
            other => other,
        }
    }

    fn user(&self, key: &str) -> Result<Option<User>, StoreError> {
        self.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLS} FROM users WHERE name_key = ?1"
            ))?
            .query_row([key], user_row)
            .optional()
        })
    }

    fn users(&self) -> Result<Vec<UserSummary>, StoreError> {
        let rows = self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {USER_COLS},
                   (SELECT count(*) FROM factors f WHERE f.user_id = u.id AND status = 'active'),
                   (SELECT count(*) FROM factors f WHERE f.user_id = u.id AND status = 'pending'),
                   (SELECT count(*) FROM recovery_codes r WHERE r.user_id = u.id AND used_at IS NULL),
                   EXISTS (SELECT 1 FROM recovery_batches b WHERE b.user_id = u.id),
                   u.name_key IS NULL
                 FROM users u ORDER BY name"
            ))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        user_row(r)?,
                        r.get::<_, u32>(6)?,
                        r.get::<_, u32>(7)?,
                        r.get::<_, u32>(8)?,
                        r.get::<_, bool>(9)?,
                        r.get::<_, bool>(10)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (user, active, pending, unused, has_batch, shadowed) in rows {
                let lock = lock_row(c, user.id)?;
                out.push(UserSummary {
                    user,
                    shadowed,
                    active_factors: active,
                    pending_factors: pending,
                    lock,
                    recovery_unused: has_batch.then_some(unused),
                });
            }
            Ok(out)
        })?;
        Ok(rows)
    }

    fn claim_name_key(&self, id: UserId, key: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE users SET name_key = ?2 WHERE id = ?1 AND name_key IS NULL
                   AND NOT EXISTS (SELECT 1 FROM users WHERE name_key = ?2)",
                params![id, key],
            )? == 1)
        })
    }

    fn remove_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.with(|c| Ok(c.execute("DELETE FROM users WHERE id = ?1", [id])? == 1))
    }

    fn set_password(&self, id: UserId, phc: Option<&str>) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![id, phc],
            )?;
            Ok(())
        })
    }

    fn set_phone(&self, id: UserId, phone: Option<&str>) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE users SET phone = ?2 WHERE id = ?1",
                params![id, phone],
            )?;
            Ok(())
        })
    }

    fn set_email(&self, id: UserId, email: Option<&str>) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE users SET email = ?2 WHERE id = ?1",
                params![id, email],
            )?;
            Ok(())
        })
    }

    fn login_data(&self, key: &str) -> Result<Option<LoginData>, StoreError> {
        self.read_login_data(
            LOGIN_USER_SQL,
            rusqlite::types::Value::Text(key.to_string()),
        )
    }

    fn user_data(&self, id: UserId) -> Result<Option<LoginData>, StoreError> {
        self.read_login_data(USER_DATA_SQL, rusqlite::types::Value::Integer(id))
    }
}

impl SqliteStore {
    /// The user `sql` selects with `param` (columns as [`LOGIN_USER_SQL`]), and their factors.
    fn read_login_data(
        &self,
        sql: &str,
        param: rusqlite::types::Value,
    ) -> Result<Option<LoginData>, StoreError> {
        let raw = self.with(|c| {
            let tx = BatchTx::begin(c, false)?;
            // The user, their lock state and recovery batch in one lookup; factors in another.
            let Some((user, lock, recovery)) = tx
                .prepare_cached(sql)?
                .query_row([param.clone()], |r| {
                    let user = user_row(r)?;
                    let n = |i: usize| -> rusqlite::Result<u32> {
                        Ok(
                            u32::try_from(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0))
                                .unwrap_or(u32::MAX),
                        )
                    };
                    let lock = LockState {
                        codes: Counter {
                            failures: n(6)?,
                            locks: n(17)?,
                            locked_until: opt_u64(r.get(7)?),
                            last_failure: opt_u64(r.get(18)?),
                            good_until: None,
                            pending: 0,
                            pending_at: None,
                        },
                        admin_locked: r.get::<_, Option<bool>>(8)?.unwrap_or(false),
                        since_login: n(19)?,
                    };
                    let recovery = match r.get::<_, Option<Vec<u8>>>(9)? {
                        None => None,
                        Some(salt) => Some(RecoveryBatch {
                            salt,
                            m_cost: r.get(10)?,
                            t_cost: r.get(11)?,
                            p_cost: r.get(12)?,
                            created_at: to_u64(r.get(13)?),
                            origin: r.get(14)?,
                            total: r.get(15)?,
                            unused: r.get(16)?,
                        }),
                    };
                    Ok((user, lock, recovery))
                })
                .optional()?
            else {
                return Ok(None);
            };
            let factors = tx
                .prepare_cached(LOGIN_FACTORS_SQL)?
                .query_map([user.id], factor_row)?
                .collect::<Result<Vec<_>, _>>()?;
            tx.commit()?;
            Ok(Some((user, lock, factors, recovery)))
        })?;
        let Some((user, lock, raw_factors, recovery)) = raw else {
            return Ok(None);
        };
        let mut factors = raw_factors
            .into_iter()
            .map(|f| f.check().map_err(|w| self.bad_row(&w)))
            .collect::<Result<Vec<_>, _>>()?;
        factors.sort_by_key(|f| (std::cmp::Reverse(f.preferred), f.id));
        Ok(Some(LoginData {
            user,
            lock,
            factors,
            recovery,
        }))
    }
}
