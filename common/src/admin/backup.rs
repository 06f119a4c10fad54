//! `tessera backup` and `tessera restore`: the database only. The key file is never in a
//! backup (a stolen backup without it unseals nothing) and must be kept apart; a restore
//! checks that the backup belongs to the key in place.

use std::path::{Path, PathBuf};

use crate::audit::{AuditEvent, AuditResult};
use crate::base::secret::MasterKey;
use crate::base::trust::Owners;
use crate::config::Config;
use crate::error::CoreError;
use crate::store::{AuditStore, SqliteStore, Store, inspect_backup};

/// The most audit rows carried over from the database a restore replaces.
const MAX_AUDIT_KEPT: u32 = 1_000_000;

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
    /// When the backup was made, if `tessera backup` made it.
    pub backed_up_at: Option<u64>,
    /// Audit rows written since the backup, carried over into the restored database.
    pub audit_rows_kept: usize,
    /// Users with administrative changes or recovery codes used since the backup: what the
    /// restore undid for them (locks, removed factors, used codes) needs a look.
    pub users_changed_since: Vec<String>,
}

/// Copy the database, online, to `dest`: a new file, mode 0600, checked before this returns.
pub fn backup(config: &Config, dest: &Path, now: u64) -> Result<BackupReport, CoreError> {
    // An older schema too: the copy to keep before `tessera migrate` changes it.
    let (store, _) = SqliteStore::open_as_it_is(&config.store)?;
    let key = MasterKey::load(&config.store.key_file)?;
    crate::auth::check_key_binding(&store, &key, &config.store)?;
    let info = store.backup_to(dest, now)?;
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
    // As root, only root's backup; otherwise the caller's own (or root's).
    let owner = Owners::root_or(rustix::process::geteuid().as_raw());
    let info = inspect_backup(src, owner)?;
    match &info.key_binding {
        Some(binding) if key.is_binding(binding) => {}
        None if info.schema_version < 6 => {}
        _ => {
            return Err(CoreError::WrongKey {
                store: src.to_path_buf(),
                key: cfg.key_file.clone(),
            });
        }
    }
    let database_created = std::fs::symlink_metadata(&cfg.path).is_err();
    let store = if database_created {
        SqliteStore::create(cfg)?.0
    } else {
        // As it is until the refusal below is decided; brought up to date after it.
        SqliteStore::open_as_it_is(cfg)?.0
    };
    let users_before = if database_created {
        0
    } else {
        store.user_count()?
    };
    if users_before > 0 && !replace {
        return Err(CoreError::RestoreRefused(format!(
            "the database {} holds {users_before} user(s); restoring replaces them and \
             undoes everything since the backup (enrollments, removed factors, locks, used \
             recovery codes). Pass --replace to do it",
            cfg.path.display()
        )));
    }
    // Its audit rows are read below with this schema's statements.
    store.migrate_schema()?;
    // The audit rows since the backup are history, not state: they are kept.
    let since = info.backed_up_at.unwrap_or(0);
    let mut kept: Vec<AuditEvent> = if database_created {
        Vec::new()
    } else {
        store
            .audit(None, MAX_AUDIT_KEPT)?
            .into_iter()
            .filter(|e| e.at > since)
            .collect()
    };
    kept.reverse();
    let restored = store.restore_from(src, owner)?;
    crate::auth::check_key_binding(&store, &key, cfg)?;
    let mut undone: Vec<String> = kept
        .iter()
        .filter(|e| e.result == AuditResult::Admin || e.method.as_deref() == Some("recovery"))
        .map(|e| e.user.clone())
        .collect();
    undone.sort();
    undone.dedup();
    let audit_rows_kept = kept
        .iter()
        .filter(|e| store.append_audit(e).is_ok())
        .count();
    Ok(RestoreReport {
        database: cfg.path.clone(),
        database_created,
        users_before,
        users: restored.users,
        schema_version: restored.schema_version,
        backed_up_at: restored.backed_up_at,
        audit_rows_kept,
        users_changed_since: undone,
    })
}
