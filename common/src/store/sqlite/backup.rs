//! Online backup and restore with SQLite's backup API: a consistent copy while the PAM module
//! and the RADIUS server go on using the database, and a restore that other processes see as
//! one change.
//!
//! Neither ever lets SQLite open a file by a path someone else could change: a backup is made
//! in a private directory and its bytes written through the descriptor of the new file; a
//! restore reads the backup once, through a checked descriptor, into a private copy, and
//! restores from that (SQLite would otherwise also read a `-wal` planted beside the backup).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, params};

use super::SqliteStore;
use super::migrate::MIGRATIONS;
use crate::base::trust::{Access, Owners, Rule};
use crate::store::StoreError;

/// What a backup file holds, read without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub schema_version: i64,
    pub users: u64,
    /// The key binding it carries (`None`: made before bindings existed).
    pub key_binding: Option<Vec<u8>>,
    /// When `tessera backup` made it (`None`: a copy made some other way).
    pub backed_up_at: Option<u64>,
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

/// A directory only this process's user can enter (mode 0700, in the temporary directory),
/// removed with what is in it when dropped.
fn private_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("tessera-").tempdir()
}

impl SqliteStore {
    /// Copy the database to `dest`, a new file created with mode 0600 (never overwritten, never
    /// through a link). The copy is one self-contained file (no `-wal`), records when it was
    /// made, and is checked (`PRAGMA integrity_check`) before this returns.
    pub fn backup_to(&self, dest: &Path, now: u64) -> Result<BackupInfo, StoreError> {
        let create = |source| StoreError::Create {
            path: dest.to_path_buf(),
            source,
        };
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(dest)
            .map_err(create)?;
        let result = (|| {
            let private = private_dir().map_err(create)?;
            let staged = private.path().join("backup.db");
            {
                let conn = self.take()?;
                let copied = Connection::open(&staged).and_then(|mut to| {
                    copy(&conn, &mut to)?;
                    to.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
                    to.execute(
                        "INSERT INTO store_meta (name, value) VALUES ('backed_up_at', ?1)
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                        params![now.to_string().into_bytes()],
                    )?;
                    Ok(())
                });
                self.give_back(conn);
                copied.map_err(|e| map(dest, e))?;
            }
            let info = inspect_private(&staged, dest)?;
            let mut staged_file = File::open(&staged).map_err(create)?;
            std::io::copy(&mut staged_file, &mut out).map_err(create)?;
            out.flush().and_then(|_| out.sync_all()).map_err(create)?;
            Ok(info)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    /// Replace the database's content with the backup at `src`, in one step that every other
    /// connection sees whole, then bring its schema up to date. `src` is read once, as a
    /// regular file owned by root or `owner` reached through no link another account placed.
    pub fn restore_from(&self, src: &Path, owner: Owners) -> Result<BackupInfo, StoreError> {
        let private = private_dir().map_err(|source| StoreError::Create {
            path: src.to_path_buf(),
            source,
        })?;
        let staged = stage(src, owner, &private)?;
        let info = inspect_private(&staged, src)?;
        let mut conn = self.take()?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let restored = Connection::open_with_flags(&staged, flags)
            .map_err(|e| map(src, e))
            .and_then(|from| copy(&from, &mut conn).map_err(|e| self.err(e)));
        if let Err(e) = restored {
            drop(conn);
            return Err(e);
        }
        let migrated = super::migrate::migrate(self, &conn);
        self.give_back(conn);
        migrated?;
        Ok(info)
    }
}

/// Read and check the backup at `src` without changing anything (a private copy is inspected).
pub fn inspect(src: &Path, owner: Owners) -> Result<BackupInfo, StoreError> {
    let private = private_dir().map_err(|source| StoreError::Create {
        path: src.to_path_buf(),
        source,
    })?;
    let staged = stage(src, owner, &private)?;
    inspect_private(&staged, src)
}

/// Copy `src`, opened once and checked, into `private`.
fn stage(src: &Path, owner: Owners, private: &tempfile::TempDir) -> Result<PathBuf, StoreError> {
    let rule = Rule {
        what: "backup",
        access: Access::OwnerWrites,
        owners: owner,
    };
    let (_, mut file) = rule.open(src).map_err(|e| StoreError::Untrusted {
        path: src.to_path_buf(),
        why: e.reason,
    })?;
    let staged = private.path().join("restore.db");
    let write = |source| StoreError::Create {
        path: staged.clone(),
        source,
    };
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staged)
        .map_err(write)?;
    std::io::copy(&mut file, &mut out).map_err(write)?;
    Ok(staged)
}

/// What the private copy at `path` holds; messages name `shown` (the file the user gave).
fn inspect_private(path: &Path, shown: &Path) -> Result<BackupInfo, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| map(shown, e))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| map(shown, e))?;
    if check != "ok" {
        return Err(StoreError::BadRow {
            path: shown.to_path_buf(),
            what: "the whole file (integrity check failed)".into(),
        });
    }
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| map(shown, e))?;
    if schema_version == 0 {
        return Err(StoreError::Uninitialised {
            path: shown.to_path_buf(),
        });
    }
    if schema_version > MIGRATIONS.len() as i64 {
        return Err(StoreError::TooNew {
            path: shown.to_path_buf(),
            found: schema_version,
            supported: MIGRATIONS.len() as i64,
            migrated_by: None,
        });
    }
    let users: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .map_err(|e| map(shown, e))?;
    let meta = |name: &str| -> Result<Option<Vec<u8>>, StoreError> {
        if schema_version < 6 {
            return Ok(None);
        }
        conn.query_row(
            "SELECT value FROM store_meta WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(map(shown, e)),
        })
    };
    let key_binding = meta("key_binding")?;
    let backed_up_at = meta("backed_up_at")?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse().ok());
    Ok(BackupInfo {
        schema_version,
        users: u64::try_from(users).unwrap_or(0),
        key_binding,
        backed_up_at,
    })
}

fn map(path: &Path, e: rusqlite::Error) -> StoreError {
    super::map_error(path, e)
}
