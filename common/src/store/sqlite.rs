//! The SQLite store: WAL, a busy timeout, foreign keys, numbered migrations applied on open.
//!
//! Connections are opened per store and pooled inside it (the RADIUS server reuses them; the PAM
//! module opens a store per call, so nothing survives a fork). Writes that consume a code run in
//! `BEGIN IMMEDIATE` transactions so that concurrent writers queue on the busy timeout instead of
//! failing on a lock upgrade.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, params};

use super::*;
use crate::audit::{AuditEvent, AuditResult};
use crate::base::otp::TotpAlgorithm;
use crate::base::secret::create_private_dir;
use crate::config::StoreConfig;

mod batch;
use batch::Tx;

/// Numbered migrations; the index + 1 is the schema version (`PRAGMA user_version`).
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_email.sql"),
    include_str!("migrations/0003_recovery_index.sql"),
];
const POOL_MAX: usize = 16;
/// WAL size past which closing the store checkpoints and truncates it (see `connect`).
const WAL_TRUNCATE_BYTES: u64 = 256 * 1024;
/// How long that checkpoint waits for other processes' readers before giving up (it is retried
/// by the next process to close the store).
const WAL_TRUNCATE_WAIT: Duration = Duration::from_millis(100);

pub struct SqliteStore {
    /// Tells this store's batch apart from another store's on the same thread.
    id: u64,
    path: PathBuf,
    busy_timeout: Duration,
    pool: Mutex<Vec<Connection>>,
    /// Checkpoints run inside commits (SQLite's default) unless a long-running process took
    /// them over with [`Store::defer_maintenance`].
    auto_checkpoint: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for SqliteStore {
    /// Checkpoint and truncate a WAL that short-lived processes have let grow. Best effort: a
    /// busy database is left for the next process.
    fn drop(&mut self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let grown = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_TRUNCATE_BYTES);
        if !grown {
            return;
        }
        let Ok(pool) = self.pool.lock() else { return };
        if let Some(conn) = pool.last() {
            let _ = conn.busy_timeout(WAL_TRUNCATE_WAIT);
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}

impl SqliteStore {
    /// Open an existing database (migrating it if needed). A missing file is an error: only
    /// [`SqliteStore::create`] (`tessera init`) makes one, so a front-end never authenticates
    /// against an accidentally empty store.
    pub fn open(cfg: &StoreConfig) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_or_initialise(cfg, false)
    }

    /// Open, migrating as needed. Unless `initialise`, a file that holds no Tessera schema (an
    /// empty or truncated file, which SQLite would happily treat as a new database) is refused:
    /// a front-end must never see an empty store where one with users used to be.
    fn open_or_initialise(cfg: &StoreConfig, initialise: bool) -> Result<SqliteStore, StoreError> {
        if !cfg.path.exists() {
            return Err(StoreError::Missing {
                path: cfg.path.clone(),
            });
        }
        let store = SqliteStore {
            id: batch::next_store_id(),
            path: cfg.path.clone(),
            busy_timeout: cfg.busy_timeout,
            pool: Mutex::new(Vec::new()),
            auto_checkpoint: std::sync::atomic::AtomicBool::new(true),
        };
        // An empty file: refuse it before SQLite writes a header into it.
        if !initialise && std::fs::metadata(&cfg.path).is_ok_and(|m| m.len() == 0) {
            return Err(StoreError::Uninitialised {
                path: cfg.path.clone(),
            });
        }
        let conn = store.connect()?;
        if !initialise {
            let version: i64 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| store.err(e))?;
            if version == 0 {
                return Err(StoreError::Uninitialised {
                    path: cfg.path.clone(),
                });
            }
        }
        store.migrate(&conn)?;
        store.give_back(conn);
        Ok(store)
    }

    /// Create the database (mode 0600, its directory 0700 if Tessera creates it) or open it if
    /// it exists. Returns the store and whether the file was new.
    pub fn create(cfg: &StoreConfig) -> Result<(SqliteStore, bool), StoreError> {
        let path = &cfg.path;
        let cerr = |source| StoreError::Create {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(cerr)?;
        }
        let created = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(cerr(e)),
        };
        match SqliteStore::open_or_initialise(cfg, true) {
            Ok(s) => Ok((s, created)),
            Err(e) => {
                if created {
                    let _ = std::fs::remove_file(path);
                }
                Err(e)
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        map_error(&self.path, e)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn =
            Connection::open_with_flags(&self.path, flags).map_err(|source| {
                match map_error(&self.path, source) {
                    StoreError::Sqlite { path, source } => StoreError::Open { path, source },
                    other => other,
                }
            })?;
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| self.err(e))?;
        // journal_mode returns a row; WAL persists in the file once set.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA trusted_schema = OFF;",
        )
        .map_err(|e| self.err(e))?;
        // A PAM login or a CLI command is a short-lived process and usually the only
        // connection, so SQLite's checkpoint on close would copy the WAL into the database with
        // two fsyncs and delete it (a new WAL, and a directory fsync, on the next login) every
        // time. Skip it: the WAL stays (as durable as `synchronous = NORMAL` makes any commit)
        // and `Drop` truncates it once it has grown, which keeps rebuilding the WAL index (done
        // by whichever process opens the database first) cheap.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(|e| self.err(e))?;
        // The bundled SQLite has STAT4, which re-prepares a statement whenever a new value is
        // bound to a parameter the planner looked at: every login would parse its SQL again.
        // Our queries are simple key lookups; a stable plan is what we want.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(|e| self.err(e))?;
        // Room for every statement of the hot paths (the default of 16 evicts some).
        conn.set_prepared_statement_cache_capacity(64);
        if !self
            .auto_checkpoint
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0")
                .map_err(|e| self.err(e))?;
        }
        Ok(conn)
    }

    fn migrate(&self, conn: &Connection) -> Result<(), StoreError> {
        let latest = MIGRATIONS.len() as i64;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if version == latest {
            return Ok(());
        }
        if version > latest {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                supported: latest,
            });
        }
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let result = (|| {
            // Another process may have migrated while we waited for the lock.
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
                conn.execute_batch(sql)?;
                conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
            }
            conn.execute_batch("COMMIT")
        })();
        if let Err(e) = result {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(self.err(e));
        }
        Ok(())
    }

    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(lent) = batch::lend(self.id) {
            return lent.map_err(|()| StoreError::Aborted {
                path: self.path.clone(),
            });
        }
        if let Some(c) = self.pool.lock().ok().and_then(|mut p| p.pop()) {
            return Ok(c);
        }
        self.connect()
    }

    fn give_back(&self, conn: Connection) {
        let Err(conn) = batch::give_back(self.id, conn) else {
            return;
        };
        if let Ok(mut p) = self.pool.lock()
            && p.len() < POOL_MAX
        {
            p.push(conn);
        }
    }

    /// Run `f` on a pooled connection. A connection that saw an error is dropped, not reused.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let mut conn = self.take()?;
        match f(&mut conn) {
            Ok(v) => {
                self.give_back(conn);
                Ok(v)
            }
            Err(e) => {
                batch::lost(self.id);
                Err(self.err(e))
            }
        }
    }

    fn bad_row(&self, what: &str) -> StoreError {
        StoreError::BadRow {
            path: self.path.clone(),
            what: what.to_string(),
        }
    }
}

fn map_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let code = e.sqlite_error_code();
    if matches!(
        code,
        Some(
            ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::DiskFull
                | ErrorCode::ReadOnly
        )
    ) && let Some(diagnosed) = diagnose_file_system(path)
    {
        return diagnosed;
    }
    let path = path.to_path_buf();
    match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { path },
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
        Some(ErrorCode::SystemIoFailure) => StoreError::Io { path, source: e },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt { path, source: e }
        }
        Some(ErrorCode::CannotOpen) => StoreError::Open { path, source: e },
        _ => StoreError::Sqlite { path, source: e },
    }
}

/// SQLite reports a full or read-only file system as a generic I/O or open error in many paths
/// (growing the WAL index, opening a WAL database): ask the file system what is wrong.
fn diagnose_file_system(path: &Path) -> Option<StoreError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let st = rustix::fs::statvfs(dir).ok()?;
    let path = path.to_path_buf();
    if st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
        Some(StoreError::ReadOnly { path })
    } else if st.f_bavail == 0 {
        Some(StoreError::DiskFull { path })
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Row mapping.

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const USER_COLS: &str = "id, name, email, password_hash, created_at";

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        password_hash: r.get::<_, Option<String>>(3)?.map(Secret::new),
        created_at: to_u64(r.get(4)?),
    })
}

const FACTOR_COLS: &str = "id, user_id, kind, label, status, preferred, created_at, algorithm, digits, period, window, secret, last_step, address";

/// A factor row before its text fields are checked.
struct RawFactor {
    id: i64,
    user_id: i64,
    kind: String,
    label: String,
    status: String,
    preferred: bool,
    created_at: i64,
    algorithm: Option<String>,
    digits: Option<i64>,
    period: Option<i64>,
    window: Option<i64>,
    secret: Option<Vec<u8>>,
    last_step: Option<i64>,
    address: Option<String>,
}

fn factor_row(r: &Row<'_>) -> rusqlite::Result<RawFactor> {
    Ok(RawFactor {
        id: r.get(0)?,
        user_id: r.get(1)?,
        kind: r.get(2)?,
        label: r.get(3)?,
        status: r.get(4)?,
        preferred: r.get(5)?,
        created_at: r.get(6)?,
        algorithm: r.get(7)?,
        digits: r.get(8)?,
        period: r.get(9)?,
        window: r.get(10)?,
        secret: r.get(11)?,
        last_step: r.get(12)?,
        address: r.get(13)?,
    })
}

impl RawFactor {
    fn check(self) -> Result<Factor, String> {
        let kind = match self.kind.as_str() {
            "totp" => FactorKind::Totp,
            "email" => FactorKind::Email,
            "fido2" => FactorKind::Fido2,
            _ => return Err(format!("factor {}: kind", self.id)),
        };
        let status = match self.status.as_str() {
            "pending" => FactorStatus::Pending,
            "active" => FactorStatus::Active,
            _ => return Err(format!("factor {}: status", self.id)),
        };
        let totp = if kind == FactorKind::Totp {
            let bad = |what: &str| format!("factor {}: {what}", self.id);
            let algorithm = self
                .algorithm
                .as_deref()
                .and_then(TotpAlgorithm::parse)
                .ok_or_else(|| bad("algorithm"))?;
            let digits = self
                .digits
                .and_then(|d| u8::try_from(d).ok())
                .filter(|d| (6..=8).contains(d))
                .ok_or_else(|| bad("digits"))?;
            let period = self
                .period
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("period"))?;
            let window = match self.window {
                None => None,
                Some(w) => Some(u8::try_from(w).map_err(|_| bad("window"))?),
            };
            let sealed_secret = self.secret.ok_or_else(|| bad("secret"))?;
            Some(TotpState {
                algorithm,
                digits,
                period,
                window,
                sealed_secret,
                last_step: opt_u64(self.last_step),
            })
        } else {
            None
        };
        if kind == FactorKind::Email && self.address.as_deref().is_none_or(str::is_empty) {
            return Err(format!("factor {}: address", self.id));
        }
        Ok(Factor {
            id: self.id,
            user_id: self.user_id,
            kind,
            label: self.label,
            status,
            preferred: self.preferred,
            created_at: to_u64(self.created_at),
            totp,
            address: self.address,
        })
    }
}

fn lock_row(conn: &Connection, user_id: UserId) -> rusqlite::Result<LockState> {
    Ok(conn
        .prepare_cached(
            "SELECT failures, locked_until, admin_locked FROM lockout WHERE user_id = ?1",
        )?
        .query_row([user_id], |r| {
            Ok(LockState {
                failures: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                locked_until: opt_u64(r.get(1)?),
                admin_locked: r.get(2)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// A login's user row (columns as [`USER_COLS`]), lock state and recovery batch.
const LOGIN_USER_SQL: &str = "SELECT u.id, u.name, u.email, u.password_hash, u.created_at,
        l.failures, l.locked_until, l.admin_locked,
        b.salt, b.m_cost, b.t_cost, b.p_cost, b.created_at, b.origin,
        (SELECT count(*) FROM recovery_codes c WHERE c.user_id = u.id),
        (SELECT count(*) FROM recovery_codes c WHERE c.user_id = u.id AND c.used_at IS NULL)
    FROM users u
    LEFT JOIN lockout l ON l.user_id = u.id
    LEFT JOIN recovery_batches b ON b.user_id = u.id
    WHERE u.name = ?1";

/// A login's factors (columns as [`FACTOR_COLS`]); `login_data` puts the preferred one first
/// (a sort here would cost SQLite a sorter per login for one or two rows).
const LOGIN_FACTORS_SQL: &str = "SELECT id, user_id, kind, label, status, preferred, created_at,
        algorithm, digits, period, window, secret, last_step, address
    FROM factors WHERE user_id = ?1";

fn insert_audit(conn: &Connection, e: &AuditEvent) -> rusqlite::Result<()> {
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

/// One wrong answer against the outstanding e-mailed code; the code dies with its last try
/// (the row stays, so the send interval still holds).
fn spend_email_try(conn: &Connection, user_id: UserId) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE email_codes SET tries_left = tries_left - 1 WHERE user_id = ?1 AND tries_left > 0",
    )?
    .execute([user_id])?;
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

impl Store for SqliteStore {
    fn add_user(&self, name: &str, email: Option<&str>, now: u64) -> Result<UserId, StoreError> {
        let r = self.with(|c| {
            c.prepare_cached("INSERT INTO users (name, email, created_at) VALUES (?1, ?2, ?3)")?
                .execute(params![name, email, to_i64(now)])?;
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

    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        self.with(|c| {
            c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE name = ?1"))?
                .query_row([name], user_row)
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
                   EXISTS (SELECT 1 FROM recovery_batches b WHERE b.user_id = u.id)
                 FROM users u ORDER BY name"
            ))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        user_row(r)?,
                        r.get::<_, u32>(5)?,
                        r.get::<_, u32>(6)?,
                        r.get::<_, u32>(7)?,
                        r.get::<_, bool>(8)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (user, active, pending, unused, has_batch) in rows {
                let lock = lock_row(c, user.id)?;
                out.push(UserSummary {
                    user,
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

    fn set_email(&self, id: UserId, email: Option<&str>) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE users SET email = ?2 WHERE id = ?1",
                params![id, email],
            )?;
            Ok(())
        })
    }

    fn login_data(&self, name: &str) -> Result<Option<LoginData>, StoreError> {
        let raw = self.with(|c| {
            let tx = Tx::begin(c, false)?;
            // The user, their lock state and recovery batch in one lookup; factors in another.
            let Some((user, lock, recovery)) = tx
                .prepare_cached(LOGIN_USER_SQL)?
                .query_row([name], |r| {
                    let user = user_row(r)?;
                    let lock = LockState {
                        failures: u32::try_from(r.get::<_, Option<i64>>(5)?.unwrap_or(0))
                            .unwrap_or(u32::MAX),
                        locked_until: opt_u64(r.get(6)?),
                        admin_locked: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
                    };
                    let recovery = match r.get::<_, Option<Vec<u8>>>(8)? {
                        None => None,
                        Some(salt) => Some(RecoveryBatch {
                            salt,
                            m_cost: r.get(9)?,
                            t_cost: r.get(10)?,
                            p_cost: r.get(11)?,
                            created_at: to_u64(r.get(12)?),
                            origin: r.get(13)?,
                            total: r.get(14)?,
                            unused: r.get(15)?,
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

    fn add_totp_factor(
        &self,
        user_id: UserId,
        new: &NewTotp,
        now: u64,
        seal: &dyn Fn(FactorId) -> Result<Vec<u8>, KeyError>,
    ) -> Result<FactorId, StoreError> {
        let conn = self.take()?;
        let tx = Tx::begin(&conn, true).map_err(|e| self.err(e))?;
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
            let tx = Tx::begin(c, true)?;
            let had_active: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM factors WHERE user_id = ?1 AND status = 'active')",
                [user_id],
                |r| r.get(0),
            )?;
            let changed = tx.execute(
                "UPDATE factors SET status = 'active', last_step = coalesce(?3, last_step)
                 WHERE id = ?1 AND user_id = ?2 AND status = 'pending'
                   AND (?3 IS NULL OR last_step IS NULL OR last_step < ?3)",
                params![factor_id, user_id, step.map(to_i64)],
            )?;
            if changed != 1 {
                return Ok(None);
            }
            let has_recovery: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM recovery_batches WHERE user_id = ?1)",
                [user_id],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(Some(Activation {
                first_active: !had_active,
                has_recovery,
            }))
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
            let tx = Tx::begin(c, true)?;
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

    fn replace_recovery(
        &self,
        user_id: UserId,
        batch: &RecoveryBatch,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = Tx::begin(c, true)?;
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

    fn commit_attempt(
        &self,
        a: &Attempt,
        audit: &dyn Fn(&AttemptOutcome) -> AuditEvent,
    ) -> Result<AttemptOutcome, StoreError> {
        self.with(|c| {
            let tx = Tx::begin(c, true)?;
            let lock = lock_row(&tx, a.user_id)?;
            let outcome = if let Some(until) = lock.locked_at(a.now) {
                AttemptOutcome::Locked { until }
            } else {
                let claimed = match a.claim {
                    None => false,
                    Some(Claim::TotpStep { factor_id, step }) => {
                        tx.prepare_cached(
                            "UPDATE factors SET last_step = ?3
                             WHERE id = ?1 AND user_id = ?2 AND status = 'active'
                               AND (last_step IS NULL OR last_step < ?3)",
                        )?
                        .execute(params![factor_id, a.user_id, to_i64(step)])?
                            == 1
                    }
                    Some(Claim::EmailCode { hash }) => {
                        // Spent, not deleted: the row keeps `sent_at` for the send interval.
                        tx.prepare_cached(
                            "UPDATE email_codes SET tries_left = 0
                             WHERE user_id = ?1 AND hash = ?2 AND expires_at > ?3 AND tries_left > 0
                               AND factor_id IN (SELECT id FROM factors WHERE status = 'active')",
                        )?
                        .execute(params![a.user_id, &hash[..], to_i64(a.now)])?
                            == 1
                    }
                    Some(Claim::RecoveryCode { code_id }) => {
                        tx.prepare_cached(
                            "UPDATE recovery_codes SET used_at = ?3
                             WHERE id = ?1 AND user_id = ?2 AND used_at IS NULL",
                        )?
                        .execute(params![code_id, a.user_id, to_i64(a.now)])?
                            == 1
                    }
                };
                if claimed {
                    if lock.failures != 0 || lock.locked_until.is_some() {
                        tx.prepare_cached(
                            "UPDATE lockout SET failures = 0, locked_until = NULL WHERE user_id = ?1",
                        )?
                        .execute([a.user_id])?;
                    }
                    AttemptOutcome::Accepted
                } else {
                    if a.email_tried {
                        spend_email_try(&tx, a.user_id)?;
                    }
                    let failures = lock.failures.saturating_add(1);
                    let locked_until = (failures >= a.policy.max_failures)
                        .then(|| a.now.saturating_add(a.policy.lockout_secs));
                    // Locking starts a fresh count for when the lock ends.
                    let stored_failures = if locked_until.is_some() { 0 } else { failures };
                    tx.prepare_cached(
                        "INSERT INTO lockout (user_id, failures, locked_until, last_failure)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (user_id) DO UPDATE SET
                           failures = excluded.failures,
                           locked_until = excluded.locked_until,
                           last_failure = excluded.last_failure",
                    )?
                    .execute(params![
                        a.user_id,
                        stored_failures,
                        locked_until.map(to_i64),
                        to_i64(a.now)
                    ])?;
                    if a.claim.is_some() {
                        AttemptOutcome::Replayed {
                            failures,
                            locked_until,
                        }
                    } else {
                        AttemptOutcome::Failed {
                            failures,
                            locked_until,
                        }
                    }
                }
            };
            insert_audit(&tx, &audit(&outcome))?;
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn reserve_email_code(&self, n: &NewEmailCode<'_>) -> Result<Reservation, StoreError> {
        self.with(|c| {
            let tx = Tx::begin(c, true)?;
            let last: Option<(i64, i64, i64)> = tx
                .query_row(
                    "SELECT sent_at, expires_at, tries_left FROM email_codes WHERE user_id = ?1",
                    [n.user_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((sent, expires, tries)) = last {
                let next = to_u64(sent).saturating_add(n.min_interval_secs);
                if n.now < next {
                    return Ok(Reservation::TooSoon {
                        retry_after: next,
                        still_valid: tries > 0 && to_u64(expires) > n.now,
                    });
                }
            }
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
            let tx = Tx::begin(c, true)?;
            let consumed = tx.execute(
                "UPDATE email_codes SET tries_left = 0
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

    fn lock_state(&self, user_id: UserId) -> Result<LockState, StoreError> {
        self.with(|c| lock_row(c, user_id))
    }

    fn set_admin_lock(&self, user_id: UserId, locked: bool) -> Result<(), StoreError> {
        self.with(|c| {
            if locked {
                c.execute(
                    "INSERT INTO lockout (user_id, admin_locked) VALUES (?1, 1)
                     ON CONFLICT (user_id) DO UPDATE SET admin_locked = 1",
                    [user_id],
                )?;
            } else {
                c.execute(
                    "UPDATE lockout SET admin_locked = 0, failures = 0, locked_until = NULL
                     WHERE user_id = ?1",
                    [user_id],
                )?;
            }
            Ok(())
        })
    }

    fn defer_maintenance(&self) {
        self.auto_checkpoint
            .store(false, std::sync::atomic::Ordering::Relaxed);
        if let Ok(pool) = self.pool.lock() {
            for c in pool.iter() {
                let _ = c.execute_batch("PRAGMA wal_autocheckpoint = 0");
            }
        }
    }

    fn maintain(&self) -> Result<(), StoreError> {
        // PASSIVE: copy what it can without waiting for readers or writers; the WAL restarts
        // from its beginning once everything in it is in the database.
        self.with(|c| c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())))
    }

    fn batch(&self, f: &mut dyn FnMut()) -> Result<(), StoreError> {
        if batch::active(self.id).is_some() {
            // Already inside this store's batch: join it. Inside another store's batch (one
            // thread holds one batch at a time): run unbatched, each call on its own.
            f();
            return Ok(());
        }
        let conn = self.take()?;
        if let Err(e) = conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
        {
            return Err(self.err(e));
        }
        let guard = batch::Guard::open(self.id, conn);
        f();
        let Some(conn) = guard.close() else {
            return Err(StoreError::Aborted {
                path: self.path.clone(),
            });
        };
        match conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
        {
            Ok(_) => {
                self.give_back(conn);
                Ok(())
            }
            // Dropping the connection rolls back whatever the failed commit left open.
            Err(e) => Err(self.err(e)),
        }
    }

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

#[cfg(test)]
mod tests;
