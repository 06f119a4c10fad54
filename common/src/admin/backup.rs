//! `tessera backup` and `tessera restore`: the database only. The key file is never in a
//! backup (a stolen backup without it unseals nothing) and must be kept apart; a restore
//! checks that the backup belongs to the key in place.

use std::path::{Path, PathBuf};

use crate::base::secret::MasterKey;
use crate::config::Config;
use crate::error::CoreError;
use crate::store::{SqliteStore, Store, inspect_backup};

#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub users: u64,
    pub schema_version: i64,
    /// Where the key is: the backup is useless without it, and must be kept apart from it.
    pub key_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub database: PathBuf,
    pub database_created: bool,
    /// Users the database held before (0 when it was created).
    pub users_before: u64,
    pub users: u64,
    pub schema_version: i64,
}

/// Copy the database, online, to `dest`: a new file, mode 0600, checked before this returns.
pub fn backup(config: &Config, dest: &Path) -> Result<BackupReport, CoreError> {
    let store = SqliteStore::open(&config.store)?;
    let info = store.backup_to(dest)?;
    Ok(BackupReport {
        path: dest.to_path_buf(),
        users: info.users,
        schema_version: info.schema_version,
        key_file: config.store.key_file.clone(),
    })
}

/// Put the backup at `src` in place of the database (created if it was lost). The backup must
/// be a sound Tessera database made with the key in place. A database that holds users is
/// replaced only with `replace`: a restore forgets everything since the backup, recovery codes
/// used since then included.
pub fn restore(config: &Config, src: &Path, replace: bool) -> Result<RestoreReport, CoreError> {
    let cfg = &config.store;
    let key = MasterKey::load(&cfg.key_file)?;
    let info = inspect_backup(src)?;
    if let Some(binding) = &info.key_binding
        && !bool::from(subtle::ConstantTimeEq::ct_eq(
            binding.as_slice(),
            key.binding(),
        ))
    {
        return Err(CoreError::WrongKey {
            store: src.to_path_buf(),
            key: cfg.key_file.clone(),
        });
    }
    let database_created = std::fs::symlink_metadata(&cfg.path).is_err();
    let store = if database_created {
        SqliteStore::create(cfg)?.0
    } else {
        SqliteStore::open(cfg)?
    };
    let users_before = if database_created {
        0
    } else {
        store.user_count()?
    };
    if users_before > 0 && !replace {
        return Err(CoreError::RestoreRefused(format!(
            "the database {} holds {users_before} user(s); restoring replaces them and \
             everything since the backup (recovery codes used since then become usable again). \
             Pass --replace to do it",
            cfg.path.display()
        )));
    }
    let restored = store.restore_from(src)?;
    crate::auth::check_key_binding(&store, &key, cfg)?;
    Ok(RestoreReport {
        database: cfg.path.clone(),
        database_created,
        users_before,
        users: restored.users,
        schema_version: restored.schema_version,
    })
}
