//! What can go wrong in a store; every variant names the database.

use std::path::PathBuf;

use crate::base::secret::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "database {path} does not exist (if it was lost, put it back with `tessera restore BACKUP`; for a new installation run `tessera init`)"
    )]
    Missing { path: PathBuf },
    #[error("{path}: {why}")]
    Untrusted { path: PathBuf, why: String },
    #[error(
        "database {path} is empty or holds no Tessera schema (run `tessera init` for a new store; if it held users, restore it from a backup)"
    )]
    Uninitialised { path: PathBuf },
    #[error(
        "cannot open database {path}: permission denied (the file, or a directory above it, is not readable by this user)"
    )]
    Denied { path: PathBuf },
    #[error("cannot open database {path}: {source}")]
    Unreachable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create database {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {path} stayed locked by another writer longer than the busy timeout")]
    Busy { path: PathBuf },
    #[error("database {path} is read-only (check the file system and the file's permissions)")]
    ReadOnly { path: PathBuf },
    #[error("database {path}: the disk is full")]
    DiskFull { path: PathBuf },
    #[error("database {path}: disk I/O error (a failing disk or file system?): {source}")]
    Io {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database {path} is corrupt or not a Tessera database: {source}")]
    Corrupt {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database {path} has schema version {found}{by}, newer than this Tessera {version} (schema {supported}): a newer Tessera migrated it. Upgrade the Tessera packages on this host (the PAM module, the RADIUS server and the CLI that share a store must be one version); nothing was changed",
        version = crate::VERSION,
        by = match migrated_by { Some(v) => format!(" (migrated by Tessera {v})"), None => String::new() }
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
        /// The version that last migrated it, when it recorded one.
        migrated_by: Option<String>,
    },
    #[error(
        "database {path} has schema version {found}, older than this Tessera {version} (schema {supported}): run `tessera migrate` (the packages do it when they are upgraded); nothing was changed",
        version = crate::VERSION
    )]
    TooOld {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database {path}: an earlier failure aborted this group of decisions; nothing of it was kept"
    )]
    Aborted { path: PathBuf },
    #[error("database {path}: invalid stored value in {what}")]
    BadRow { path: PathBuf, what: String },
    /// Returned by a [`Store::write`](crate::store::Store::write) closure to roll its
    /// transaction back on purpose (a condition it found inside); not a failure of the store.
    #[error("the transaction was rolled back on purpose")]
    RolledBack,
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error(transparent)]
    Seal(#[from] KeyError),
}

impl StoreError {
    /// Why the database file at `path` could not be reached: missing, not ours to read, or
    /// something else (named as it is).
    pub(crate) fn unreachable(path: &std::path::Path, e: std::io::Error) -> StoreError {
        let path = path.to_path_buf();
        match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::Missing { path },
            std::io::ErrorKind::PermissionDenied => StoreError::Denied { path },
            _ => StoreError::Unreachable { path, source: e },
        }
    }
}
