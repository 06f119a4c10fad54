//! The SQLite store: WAL, a busy timeout, foreign keys, numbered migrations (applied by
//! `tessera init` and `tessera migrate` only: a front-end refuses a store at another schema).
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

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{Store, StoreError, Tx};
use crate::base::secret::create_private_dir;
use crate::config::StoreConfig;

mod audit;
mod backup;
mod batch;
mod email_codes;
mod factors;
mod invites;
mod migrate;

pub use backup::inspect as inspect_backup;
pub use migrate::SCHEMA_VERSION;
#[cfg(any(test, feature = "testing"))]
pub(crate) use migrate::migrate_until;
mod recovery;
mod rows;
mod tx;
mod users;

use batch::Tx as BatchTx;

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

/// What opening may do to the schema.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    /// Nothing: a store at another version is refused (every front-end).
    Current,
    /// Nothing, and an older version is accepted (to copy it, or migrate it afterwards).
    AsItIs,
    /// Create the schema in a new file (`tessera init`).
    Initialise,
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
    /// Open an existing database at this Tessera's schema. A missing file is an error: only
    /// [`SqliteStore::create`] (`tessera init`) makes one, so a front-end never authenticates
    /// against an accidentally empty store. An older schema is refused too (`tessera migrate`
    /// brings it up to date, once, as the packages do on upgrade): a binary that migrated on
    /// open would leave the other, older programs sharing the store refusing every login.
    pub fn open(cfg: &StoreConfig) -> Result<SqliteStore, StoreError> {
        Ok(SqliteStore::open_or_initialise(cfg, Open::Current)?.0)
    }

    /// Open an existing database at this Tessera's schema or an older one, without changing it
    /// (to look at it, copy it, or decide whether to migrate it). Returns the store and its
    /// schema version; a newer schema is refused.
    pub fn open_as_it_is(cfg: &StoreConfig) -> Result<(SqliteStore, i64), StoreError> {
        SqliteStore::open_or_initialise(cfg, Open::AsItIs)
    }

    /// Open an existing database and bring its schema up to date. Returns the store and the
    /// schema version it had. (Tests of migrations; the commands decide first, then migrate.)
    #[cfg(test)]
    pub fn open_migrating(cfg: &StoreConfig) -> Result<(SqliteStore, i64), StoreError> {
        let (store, from) = SqliteStore::open_as_it_is(cfg)?;
        store.migrate_schema()?;
        Ok((store, from))
    }

    /// Bring this store's schema up to date, each migration with its version bump in one
    /// transaction. Returns the version it had, if it was older.
    pub fn migrate_schema(&self) -> Result<Option<i64>, StoreError> {
        let conn = self.take()?;
        let result = migrate::migrate(self, &conn);
        self.give_back(conn);
        result
    }

    /// Open as `how` allows. Unless initialising, a file that holds no Tessera schema (an empty
    /// or truncated file, which SQLite would happily treat as a new database) is refused: a
    /// front-end must never see an empty store where one with users used to be. Returns the
    /// store and its schema version.
    fn open_or_initialise(cfg: &StoreConfig, how: Open) -> Result<(SqliteStore, i64), StoreError> {
        let initialise = how == Open::Initialise;
        // `exists()` is false on EACCES too: only a file that is really not there is "missing".
        if let Err(e) = std::fs::metadata(&cfg.path).and_then(|_| {
            std::fs::File::options()
                .read(true)
                .open(&cfg.path)
                .map(drop)
        }) {
            return Err(StoreError::unreachable(&cfg.path, e));
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
        let version = match how {
            Open::Current => {
                migrate::check(&store, &conn)?;
                SCHEMA_VERSION
            }
            Open::AsItIs => migrate::schema_of(&store, &conn)?,
            Open::Initialise => {
                migrate::migrate(&store, &conn)?;
                SCHEMA_VERSION
            }
        };
        store.give_back(conn);
        Ok((store, version))
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
        match SqliteStore::open_or_initialise(cfg, Open::Initialise) {
            Ok((s, _)) => Ok((s, created)),
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

    pub(super) fn err(&self, e: rusqlite::Error) -> StoreError {
        map_error(&self.path, e)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        // Never through a link at the database itself (or its journal files): in a directory
        // another account owns, a link swapped in after the path was checked would lead root
        // to another store.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
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

    pub(super) fn take(&self) -> Result<Connection, StoreError> {
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

    pub(super) fn give_back(&self, conn: Connection) {
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
    pub(super) fn with<T>(
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

    pub(super) fn bad_row(&self, what: &str) -> StoreError {
        StoreError::BadRow {
            path: self.path.clone(),
            what: what.to_string(),
        }
    }
}

pub(super) fn map_error(path: &Path, e: rusqlite::Error) -> StoreError {
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

impl Store for SqliteStore {
    fn bind_key(&self, binding: &[u8]) -> Result<Vec<u8>, StoreError> {
        // Read first: every login opens the store, and a write here would queue each one
        // behind the write lock. Only a store without a binding yet is written.
        let read = |c: &Connection| -> rusqlite::Result<Option<Vec<u8>>> {
            c.prepare_cached("SELECT value FROM store_meta WHERE name = 'key_binding'")?
                .query_row([], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
        };
        self.with(|c| {
            if let Some(stored) = read(c)? {
                return Ok(stored);
            }
            c.prepare_cached(
                "INSERT INTO store_meta (name, value) VALUES ('key_binding', ?1)
                 ON CONFLICT (name) DO NOTHING",
            )?
            .execute([binding])?;
            Ok(read(c)?.unwrap_or_default())
        })
    }

    fn user_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.with(|c| c.query_row("SELECT count(*) FROM users", [], |r| r.get(0)))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.take()?;
        let tx = match BatchTx::begin(&conn, true) {
            Ok(tx) => tx,
            Err(e) => {
                batch::lost(self.id);
                return Err(self.err(e));
            }
        };
        let view = tx::SqliteTx {
            conn: &tx,
            store: self,
        };
        if let Err(e) = f(&view) {
            // Dropping `tx` rolls back (inside a batch: aborts the batch if it wrote).
            drop(tx);
            self.give_back(conn);
            return Err(e);
        }
        if let Err(e) = tx.commit() {
            batch::lost(self.id);
            return Err(self.err(e));
        }
        self.give_back(conn);
        Ok(())
    }

    fn prune_throttle(
        &self,
        now: u64,
        decay_secs: u64,
        quiet_secs: u64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        tx::prune_throttle(self, now, decay_secs, quiet_secs, limit)
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
}

#[cfg(test)]
mod tests;
