//! Numbered migrations, each in one transaction with the version bump (`PRAGMA user_version`).
//! A migration is SQL, optionally followed by a step in Rust for what SQL cannot compute.

use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::base::names::name_key;
use crate::store::StoreError;

pub(super) struct Migration {
    pub(super) sql: &'static str,
    then: Option<fn(&Connection) -> rusqlite::Result<()>>,
    /// It rebuilds a table others refer to: run with foreign keys off (dropping the old table
    /// would otherwise cascade), and checked before the commit.
    rebuilds: bool,
}

/// The index + 1 is the schema version.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: include_str!("../migrations/0001_init.sql"),
        then: None,
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0002_email.sql"),
        then: None,
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0003_recovery_index.sql"),
        then: None,
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0004_canonical_names_and_throttle.sql"),
        then: Some(fill_name_keys),
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0005_throttle_sources.sql"),
        then: Some(add_throttle_sources),
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0006_store_meta.sql"),
        then: None,
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0007_audit_retention.sql"),
        then: None,
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0008_audit_age_index.sql"),
        then: None,
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0009_fido2.sql"),
        then: None,
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0010_invites.sql"),
        then: None,
        rebuilds: false,
    },
    Migration {
        sql: include_str!("../migrations/0011_sms.sql"),
        then: None,
        rebuilds: true,
    },
];

/// The schema version of a store this Tessera made or migrated.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Who last migrated a store (`store_meta`), so that a store too new for a program names the
/// Tessera that made it so.
const MIGRATED_BY: &str = "migrated_by";

/// A store must be at this Tessera's schema: a newer one names who migrated it, an older one
/// the command that brings it up to date.
pub(super) fn check(store: &SqliteStore, conn: &Connection) -> Result<(), StoreError> {
    let version = schema_of(store, conn)?;
    if version < SCHEMA_VERSION {
        return Err(StoreError::TooOld {
            path: store.path().to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// The store's schema version; a newer one than ours is an error.
pub(super) fn schema_of(store: &SqliteStore, conn: &Connection) -> Result<i64, StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| store.err(e))?;
    if version > SCHEMA_VERSION {
        // Best effort: the message is what matters, not whether this part of it can be read.
        let migrated_by = conn
            .query_row(
                "SELECT substr(CAST(value AS TEXT), 1, 40) FROM store_meta WHERE name = ?1",
                [MIGRATED_BY],
                |r| r.get::<_, String>(0),
            )
            .ok()
            .map(|v| crate::base::text::printable(&v.chars().take(40).collect::<String>()));
        return Err(StoreError::TooNew {
            path: store.path().to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
            migrated_by,
        });
    }
    Ok(version)
}

/// Bring the store up to this Tessera's schema, each migration with its version bump in one
/// transaction. Returns the version it had, if it was older.
pub(super) fn migrate(store: &SqliteStore, conn: &Connection) -> Result<Option<i64>, StoreError> {
    let version = schema_of(store, conn)?;
    if version == SCHEMA_VERSION {
        return Ok(None);
    }
    // Foreign keys can only be switched outside a transaction: off for the whole run when a
    // pending migration rebuilds a table (SQLite's documented way to change a constraint).
    let rebuilds = MIGRATIONS
        .iter()
        .skip(version.max(0) as usize)
        .any(|m| m.rebuilds);
    if rebuilds {
        conn.execute_batch("PRAGMA foreign_keys = OFF")
            .map_err(|e| store.err(e))?;
    }
    let result = conn.execute_batch("BEGIN IMMEDIATE").and_then(|()| {
        let run = (|| {
            // Another process may have migrated while we waited for the lock.
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, m) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
                conn.execute_batch(m.sql)?;
                if let Some(then) = m.then {
                    then(conn)?;
                }
                conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
            }
            conn.execute(
                "INSERT INTO store_meta (name, value) VALUES (?1, CAST(?2 AS BLOB))
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                [MIGRATED_BY, crate::VERSION],
            )?;
            if rebuilds {
                let broken: i64 =
                    conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                        r.get(0)
                    })?;
                if broken > 0 {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                        Some(format!(
                            "{broken} rows break a foreign key after the migration"
                        )),
                    ));
                }
            }
            conn.execute_batch("COMMIT")
        })();
        if run.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        run
    });
    if rebuilds {
        // Back on whatever happened: this connection goes on serving.
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .map_err(|e| store.err(e))?;
    }
    result.map(|()| Some(version)).map_err(|e| store.err(e))
}

/// Give every user its canonical key. Where two stored names share one (`alice` and `Alice`,
/// both added before names were canonical), the user with an active factor keeps it (the older
/// one if both or neither have one); the other is left without a key: unreachable by logins,
/// shown as shadowed by `tessera user list`, removable by its exact name.
fn fill_name_keys(conn: &Connection) -> rusqlite::Result<()> {
    let users: Vec<(i64, String)> = conn
        .prepare(
            "SELECT u.id, u.name FROM users u
             ORDER BY EXISTS (SELECT 1 FROM factors f WHERE f.user_id = u.id AND f.status = 'active') DESC,
                      u.id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut taken = std::collections::HashSet::new();
    for (id, name) in users {
        let key = name_key(&name);
        if !key.is_empty() && taken.insert(key.clone()) {
            conn.execute(
                "UPDATE users SET name_key = ?2 WHERE id = ?1",
                params![id, key],
            )?;
        }
    }
    conn.execute_batch("CREATE UNIQUE INDEX users_name_key ON users(name_key)")
}

/// Version 5's columns, each added only where it is missing: stores made by development builds
/// between the two versions may already have `good_until` (and an index since dropped).
fn add_throttle_sources(conn: &Connection) -> rusqlite::Result<()> {
    let have: std::collections::HashSet<String> = conn
        .prepare("SELECT name FROM pragma_table_info('throttle')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (column, decl) in [
        ("good_until", "INTEGER"),
        ("pending", "INTEGER NOT NULL DEFAULT 0"),
        ("pending_at", "INTEGER"),
    ] {
        if !have.contains(column) {
            conn.execute_batch(&format!("ALTER TABLE throttle ADD COLUMN {column} {decl}"))?;
        }
    }
    conn.execute_batch("DROP INDEX IF EXISTS throttle_last_failure")
}

/// Bring a new database to version `n` (tests of later migrations start from there).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn migrate_until(conn: &Connection, n: usize) -> rusqlite::Result<()> {
    for (i, m) in MIGRATIONS[..n].iter().enumerate() {
        conn.execute_batch(m.sql)?;
        if let Some(then) = m.then {
            then(conn)?;
        }
        conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    Ok(())
}
