//! Online backup and restore with SQLite's backup API: a consistent copy while the PAM module
//! and the RADIUS server go on using the database, and a restore that other processes see as
//! one change.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::SqliteStore;
use super::migrate::MIGRATIONS;
use crate::store::StoreError;

/// What a backup file holds, read without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub schema_version: i64,
    pub users: u64,
    /// The key binding it carries (`None`: made before bindings existed).
    pub key_binding: Option<Vec<u8>>,
}

/// Tries of a copy that found the database busy (each after the busy timeout).
const BUSY_TRIES: u32 = 3;

/// Copy all of `from` into `to` in one step: one consistent snapshot of the source.
fn copy(from: &Connection, to: &mut Connection) -> rusqlite::Result<()> {
    let backup = Backup::new(from, to)?;
    let mut tries = 0;
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if tries < BUSY_TRIES => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            StepResult::Busy | StepResult::Locked => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    None,
                ));
            }
            _ => {}
        }
    }
}

impl SqliteStore {
    /// Copy the database to `dest`, a new file created with mode 0600 (never overwritten).
    /// The copy is checked (`PRAGMA integrity_check`) before this returns.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupInfo, StoreError> {
        let create = |source| StoreError::Create {
            path: dest.to_path_buf(),
            source,
        };
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
            .map_err(create)?;
        let result = (|| {
            let conn = self.take()?;
            let copied = Connection::open(dest).and_then(|mut to| copy(&conn, &mut to));
            self.give_back(conn);
            copied.map_err(|e| map(dest, e))?;
            let info = inspect(dest)?;
            std::fs::File::open(dest)
                .and_then(|f| f.sync_all())
                .map_err(create)?;
            Ok(info)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    /// Replace the database's content with the backup at `src` (checked first), in one step
    /// that every other connection sees whole, then bring its schema up to date.
    pub fn restore_from(&self, src: &Path) -> Result<BackupInfo, StoreError> {
        let info = inspect(src)?;
        let mut conn = self.take()?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let restored = Connection::open_with_flags(src, flags)
            .map_err(|e| map(src, e))
            .and_then(|from| copy(&from, &mut conn).map_err(|e| self.err(e)));
        restored?;
        let migrated = super::migrate::migrate(self, &conn);
        self.give_back(conn);
        migrated?;
        Ok(info)
    }
}

/// Open `path` read-only and say what it holds; refuses a file that is not a sound Tessera
/// database this version can read.
pub fn inspect(path: &Path) -> Result<BackupInfo, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::CannotOpen) => StoreError::Missing {
                path: path.to_path_buf(),
            },
            _ => map(path, e),
        })?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| map(path, e))?;
    if check != "ok" {
        return Err(StoreError::BadRow {
            path: path.to_path_buf(),
            what: "the whole file (integrity check failed)".into(),
        });
    }
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| map(path, e))?;
    if schema_version == 0 {
        return Err(StoreError::Uninitialised {
            path: path.to_path_buf(),
        });
    }
    if schema_version > MIGRATIONS.len() as i64 {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: schema_version,
            supported: MIGRATIONS.len() as i64,
        });
    }
    let users: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .map_err(|e| map(path, e))?;
    let key_binding = if schema_version >= 6 {
        conn.query_row(
            "SELECT value FROM store_meta WHERE name = 'key_binding'",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(map(path, e)),
        })?
    } else {
        None
    };
    Ok(BackupInfo {
        schema_version,
        users: u64::try_from(users).unwrap_or(0),
        key_binding,
    })
}

fn map(path: &Path, e: rusqlite::Error) -> StoreError {
    super::map_error(path, e)
}
