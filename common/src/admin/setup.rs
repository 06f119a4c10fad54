//! `tessera init` and `tessera migrate`: the only ways, with `restore`, that a store is created
//! or changes schema. Each decides first and changes things last, and an older store is copied
//! aside before it is migrated.

use std::path::{Path, PathBuf};

use crate::base::clock::{Clock, SystemClock};
use crate::base::secret::MasterKey;
use crate::config::{Config, StoreConfig};
use crate::error::CoreError;
use crate::store::{SqliteStore, Store, StoreError};

/// What `tessera init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    pub key_created: bool,
    pub database_created: bool,
    /// The schema version an existing database had when `init` migrated it.
    pub migrated_from: Option<i64>,
    /// The copy of that database as it was before the migration.
    pub copy_before_migration: Option<PathBuf>,
}

/// What `tessera migrate` did: the schema version the store had, the one it has now, and
/// where the copy made before migrating is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    pub from: i64,
    pub to: i64,
    pub copy_before_migration: Option<PathBuf>,
}

/// Create the key file (never overwritten) and the database (migrated if it exists), and bind
/// the two together.
///
/// A key without its database, or a database without its key, is what a lost file leaves, not
/// a new installation: the lost one should come back from a backup. So `init` refuses to make a
/// new empty database beside an existing key unless `new_store` says so (an empty store lets
/// every unenrolled user in under `nullok`), and never makes a new key beside a database that
/// holds users (their secrets are sealed with the old one). Nothing is changed before those
/// checks.
pub fn init(config: &Config, new_store: bool) -> Result<InitReport, CoreError> {
    let cfg = &config.store;
    let key_present = std::fs::symlink_metadata(&cfg.key_file).is_ok();
    // A database is there when it holds a Tessera schema: an empty or truncated file (a
    // `touch`, a half-copied file) is as good as lost.
    let existing = match SqliteStore::open_as_it_is(cfg) {
        Ok(found) => Some(found),
        Err(StoreError::Missing { .. } | StoreError::Uninitialised { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if key_present && existing.is_none() && !new_store {
        return Err(CoreError::InitRefused(format!(
            "the key file {} exists but the database {} does not hold one. If it was lost, \
             put it back (`tessera restore BACKUP`); a new empty one would let every user in on \
             the password alone where the PAM module runs with nullok. To start an empty \
             database for this key all the same, run `tessera init --new-store`",
            cfg.key_file.display(),
            cfg.path.display()
        )));
    }
    let populated = match &existing {
        Some((store, _)) => store.user_count()? > 0,
        None => false,
    };
    if !key_present && populated {
        return Err(CoreError::InitRefused(format!(
            "the database {} holds users but the key file {} does not exist: their secrets are \
             sealed with the key that was there. Put that key back (from a backup); a new key \
             would make every enrolled factor unusable",
            cfg.path.display(),
            cfg.key_file.display()
        )));
    }
    let key_created = MasterKey::create(&cfg.key_file)?;
    // Check the key is usable before creating anything else.
    let key = MasterKey::load(&cfg.key_file)?;
    let mut migrated_from = None;
    let mut copy_before_migration = None;
    if let Some((store, from)) = existing {
        if let Err(e) = bind_before_migrating(&store, &key, cfg, from) {
            if key_created {
                let _ = std::fs::remove_file(&cfg.key_file);
            }
            return Err(e);
        }
        copy_before_migration = upgrade(&store, cfg, from)?;
        migrated_from = Some(from).filter(|&v| v != crate::SCHEMA_VERSION);
    }
    let (store, database_created) = SqliteStore::create(cfg)?;
    if let Err(e) = crate::auth::check_key_binding(&store, &key, cfg) {
        if key_created {
            // A new key beside an empty database made for another: leave things as they were.
            let _ = std::fs::remove_file(&cfg.key_file);
        }
        return Err(e);
    }
    Ok(InitReport {
        key_created,
        database_created,
        migrated_from,
        copy_before_migration,
    })
}

/// Bring the store's schema up to this Tessera's (each migration in one transaction; nothing
/// to do when it is current), after copying it aside. The only way, with `init` and
/// `restore`, that a store changes schema: the front-ends refuse a store at another version.
/// The store must belong to the key in place, as for every command (checked before anything
/// changes, where the store is recent enough to record its key).
pub fn migrate(config: &Config) -> Result<MigrateReport, CoreError> {
    let cfg = &config.store;
    let key = MasterKey::load(&cfg.key_file)?;
    let (store, from) = SqliteStore::open_as_it_is(cfg)?;
    bind_before_migrating(&store, &key, cfg, from)?;
    let copy_before_migration = upgrade(&store, cfg, from)?;
    crate::auth::check_key_binding(&store, &key, cfg)?;
    Ok(MigrateReport {
        from,
        to: crate::SCHEMA_VERSION,
        copy_before_migration,
    })
}

/// Stores from schema 6 on record the key they belong to: a store made for another key is
/// refused before it is migrated.
const KEY_BINDING_SINCE: i64 = 6;

fn bind_before_migrating(
    store: &SqliteStore,
    key: &MasterKey,
    cfg: &StoreConfig,
    from: i64,
) -> Result<(), CoreError> {
    if from >= KEY_BINDING_SINCE {
        crate::auth::check_key_binding(store, key, cfg)?;
    }
    Ok(())
}

/// Migrate `store` from schema `from`, first copying it as it is to `DB.schema-N-TIME` beside
/// it (a new file, mode 0600, never through a link): if a migration loses what it should have
/// kept, `tessera restore` brings the store back as it was. Returns where the copy is.
fn upgrade(
    store: &SqliteStore,
    cfg: &StoreConfig,
    from: i64,
) -> Result<Option<PathBuf>, CoreError> {
    if from >= crate::SCHEMA_VERSION {
        return Ok(None);
    }
    let now = SystemClock.now();
    // (A copy records when it was made in the store's own table, there from version 6; the
    // stores older than that are development builds' only.)
    let copy = if from >= KEY_BINDING_SINCE {
        let copy = copy_path(&cfg.path, from, now);
        store.backup_to(&copy, now)?;
        Some(copy)
    } else {
        None
    };
    store.migrate_schema()?;
    Ok(copy)
}

/// `tessera.db` at schema 10, at unix time T → `tessera.db.schema-10-T`.
fn copy_path(db: &Path, from: i64, now: u64) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(format!(".schema-{from}-{now}"));
    PathBuf::from(name)
}
