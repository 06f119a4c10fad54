//! Upgrades: a store's schema changes only by `tessera migrate` (or `init`, which the packages
//! run). Every front-end refuses a store at another schema, saying which way and what to do,
//! so that a half-upgraded host never has one program migrate the store under another.

use std::path::PathBuf;
use std::process::Command;

use tessera_common::{SCHEMA_VERSION, VERSION};
use tessera_tests::{Install, bin, oathtool_code};

use crate::pam::{AUTHINFO_UNAVAIL, POLICY, Service};

fn db(t: &Install) -> PathBuf {
    t.dir.path().join("db/tessera.db")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn set_schema(t: &Install, version: i64, migrated_by: Option<&str>) {
    let conn = rusqlite::Connection::open(db(t)).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {version}"))
        .unwrap();
    if let Some(by) = migrated_by {
        conn.execute(
            "UPDATE store_meta SET value = CAST(?1 AS BLOB) WHERE name = 'migrated_by'",
            [by],
        )
        .unwrap();
    }
}

fn schema(t: &Install) -> i64 {
    rusqlite::Connection::open(db(t))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// `tessera-radiusd --check` on this installation: exit status and stderr.
fn radiusd_check(t: &Install) -> (Option<i32>, String) {
    let out = Command::new(bin("tessera-radiusd"))
        .arg("--config")
        .arg(&t.config)
        .arg("--check")
        .env_remove("TESSERA_CONFIG")
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn every_front_end_refuses_a_store_at_another_schema_and_says_which_way() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");

    // Older: what a store looks like when a new Tessera was unpacked but not yet migrated.
    set_schema(&t, SCHEMA_VERSION - 1, None);
    let older = format!(
        "older than this Tessera {VERSION} (schema {SCHEMA_VERSION}): run `tessera migrate`"
    );
    let out = t.tessera(&["user", "list"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains(&older), "{}", stderr(&out));
    let (code, err) = radiusd_check(&t);
    assert_eq!(code, Some(2));
    assert!(err.contains(&older), "{err}");
    Service::tessera(&t, "")
        .pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_pam_error(AUTHINFO_UNAVAIL);
    assert_eq!(schema(&t), SCHEMA_VERSION - 1, "nobody migrated it");

    // Newer: what an older program finds after a newer Tessera migrated the store.
    set_schema(&t, SCHEMA_VERSION + 1, Some("9.9.9"));
    let newer = format!(
        "has schema version {} (migrated by Tessera 9.9.9), newer than this Tessera {VERSION}",
        SCHEMA_VERSION + 1
    );
    for args in [&["user", "list"][..], &["migrate"][..], &["init"][..]] {
        let out = t.tessera(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(stderr(&out).contains(&newer), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("Upgrade the Tessera packages"));
    }
    let (code, err) = radiusd_check(&t);
    assert_eq!(code, Some(2));
    assert!(err.contains(&newer), "{err}");
    Service::tessera(&t, "nullok")
        .pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_pam_error(AUTHINFO_UNAVAIL);
    assert_eq!(schema(&t), SCHEMA_VERSION + 1);
}

#[test]
fn migrate_brings_an_older_store_up_once_after_a_copy_and_the_front_ends_take_it() {
    let t = Install::new(POLICY);
    // The store an earlier Tessera left (one schema back, bound to this key, a user in it).
    let older = SCHEMA_VERSION - 1;
    std::fs::remove_file(db(&t)).unwrap();
    tessera_common::testing::store_at_schema(&db(&t), older as usize);
    rusqlite::Connection::open(db(&t))
        .unwrap()
        .execute_batch("INSERT INTO users (name, name_key, created_at) VALUES ('bob', 'bob', 1)")
        .unwrap();
    let out = t.tessera(&["backup", t.dir.path().join("before.db").to_str().unwrap()]);
    assert!(
        out.status.success(),
        "a store can be backed up before it is migrated: {}",
        stderr(&out)
    );

    // Bound to another key: refused before anything changes.
    let other = Install::new(POLICY);
    // (The backup: one self-contained file, bound to t's key.)
    std::fs::copy(t.dir.path().join("before.db"), db(&other)).unwrap();
    for f in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{f}", db(&other).display()));
    }
    let out = other.tessera(&["migrate"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(schema(&other), older, "not migrated for the wrong key");
    let copies = |t: &Install| -> Vec<PathBuf> {
        std::fs::read_dir(db(t).parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.to_string_lossy()
                    .contains(&format!("tessera.db.schema-{older}-"))
            })
            .collect()
    };
    assert!(
        copies(&other).is_empty(),
        "no copy made for a refused store"
    );

    // A restore without --replace over it is refused before anything changes.
    let out = t.tessera(&["restore", t.dir.path().join("before.db").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    assert_eq!(schema(&t), older, "a refused restore migrated nothing");

    let out = t.tessera(&["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("schema {older} migrated to {SCHEMA_VERSION}")),
        "{said}"
    );
    // The store as it was, beside it, the owner's alone.
    let made = copies(&t);
    assert_eq!(made.len(), 1, "{made:?}");
    let copy = made[0].clone();
    assert!(said.contains(&copy.display().to_string()), "{said}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let copied: i64 = rusqlite::Connection::open(&copy)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(copied, older);
    assert_eq!(schema(&t), SCHEMA_VERSION);
    let again = t.tessera_json(&["migrate"]);
    assert_eq!(again["schema_was"], SCHEMA_VERSION, "{again}");
    assert!(again["copy_before_migration"].is_null(), "{again}");

    // After it, every front-end works on the store, with what it held.
    assert!(t.tessera(&["user", "show", "bob"]).status.success());
    let (secret, _) = t.enroll_totp("alice");
    assert_eq!(radiusd_check(&t).0, Some(0));
    Service::tessera(&t, "")
        .pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_ok();
}

#[test]
fn version_names_the_store_schema() {
    for name in ["tessera", "tessera-radiusd"] {
        let out = Command::new(bin(name)).arg("--version").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("{name} {VERSION} (store schema {SCHEMA_VERSION})")
        );
    }
}
