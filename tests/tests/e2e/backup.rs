//! Losing a file, and getting it back: `tessera init` never papers over a lost database or key,
//! a store made for another key is refused, and `tessera backup` / `tessera restore` bring a
//! lost database back.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tessera_tests::{Install, oathtool_code};

use crate::pam::{AUTHINFO_UNAVAIL, POLICY, Service};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn db(t: &Install) -> PathBuf {
    t.dir.path().join("db/tessera.db")
}

/// The database and its `-wal` / `-shm`, gone as a lost disk leaves them.
fn lose_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn init_refuses_a_new_database_beside_a_key_and_a_new_key_beside_users() {
    let t = Install::new(POLICY);
    t.enroll_totp("alice");
    lose_database(&db(&t));
    let out = t.tessera(&["init"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("exists but the database") && stderr(&out).contains("--new-store"),
        "{}",
        stderr(&out)
    );
    assert!(!db(&t).exists(), "no empty database was made");
    // Under nullok, the module refuses rather than letting everyone in.
    Service::tessera(&t, "nullok")
        .pamtester("bob", "", &[])
        .assert_pam_error(AUTHINFO_UNAVAIL);
    // Said explicitly, a fresh start is made.
    let out = t.tessera(&["init", "--new-store"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(db(&t).exists());

    // The reverse: a key lost beside a database that holds users is never replaced.
    let t = Install::new(POLICY);
    t.enroll_totp("alice");
    let key = t.dir.path().join("tessera.key");
    std::fs::remove_file(&key).unwrap();
    let out = t.tessera(&["init"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("holds users but the key file"),
        "{}",
        stderr(&out)
    );
    assert!(!key.exists(), "no new key was made");
}

/// A store replaced by one made elsewhere (here: another installation's empty store) does not
/// belong to the key: the PAM module refuses it even under nullok, where an empty store would
/// let every user in on the password alone.
#[test]
fn a_store_made_for_another_key_is_refused() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    let other = Install::new(POLICY);
    let copy = other.dir.path().join("copy.db");
    assert!(
        other
            .tessera(&["backup", copy.to_str().unwrap()])
            .status
            .success()
    );
    lose_database(&db(&t));
    std::fs::copy(&copy, db(&t)).unwrap();
    let svc = Service::tessera(&t, "nullok");
    svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_pam_error(AUTHINFO_UNAVAIL);
    svc.pamtester("bob", "", &[])
        .assert_pam_error(AUTHINFO_UNAVAIL);
    // Every admin command refuses it, even one that never needs the key.
    for args in [
        &["user", "add", "carol"][..],
        &["user", "unlock", "alice"],
        &["user", "remove", "alice"],
    ] {
        let out = t.tessera(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            stderr(&out).contains("belongs to another key"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn backup_then_restore_brings_a_lost_database_back() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    let backup = t.dir.path().join("backup.db");
    let out = t.tessera(&["backup", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 user(s)") && text.contains("tessera.key"),
        "{text}"
    );
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup holds password hashes");
    // Never over an existing file.
    let again = t.tessera(&["backup", backup.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));

    lose_database(&db(&t));
    let svc = Service::tessera(&t, "");
    svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_pam_error(AUTHINFO_UNAVAIL);
    let out = t.tessera(&["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_ok();
    let mode = std::fs::metadata(db(&t)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Over a database that holds users, only when told.
    let out = t.tessera(&["restore", backup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    let out = t.tessera(&["restore", "--replace", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Another installation's backup does not belong to this key.
    let other = Install::new(POLICY);
    other.enroll_totp("mallory");
    let theirs = other.dir.path().join("theirs.db");
    assert!(
        other
            .tessera(&["backup", theirs.to_str().unwrap()])
            .status
            .success()
    );
    let out = t.tessera(&["restore", "--replace", theirs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("belongs to another key"),
        "{}",
        stderr(&out)
    );
    // A file that is not a database is refused with its name.
    let junk = t.dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, really not").unwrap();
    let out = t.tessera(&["restore", "--replace", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("junk.db"), "{}", stderr(&out));
    // The database is still alice's.
    assert!(t.tessera(&["user", "show", "alice"]).status.success());
}

/// A truncated or `touch`ed database is as good as lost: `init` does not turn it into an empty
/// store beside the key without `--new-store`.
#[test]
fn init_treats_an_empty_database_file_as_lost() {
    let t = Install::new(POLICY);
    t.enroll_totp("alice");
    lose_database(&db(&t));
    std::fs::write(db(&t), b"").unwrap();
    let out = t.tessera(&["init"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--new-store"), "{}", stderr(&out));
    assert_eq!(
        std::fs::metadata(db(&t)).unwrap().len(),
        0,
        "left as it was"
    );
}

/// The backup is one self-contained file (no `-wal` that a copy could miss or an attacker
/// could plant beside it), and a restore reads only a regular file of root's, reached through
/// no link another account placed, without hanging on a FIFO.
#[test]
fn backup_is_self_contained_and_restore_reads_only_roots_regular_file() {
    let t = Install::new(POLICY);
    t.enroll_totp("alice");
    let backup = t.dir.path().join("bk.db");
    assert!(
        t.tessera(&["backup", backup.to_str().unwrap()])
            .status
            .success()
    );
    let bytes = std::fs::read(&backup).unwrap();
    assert_eq!(
        &bytes[18..20],
        &[1, 1],
        "a rollback-journal database, not a WAL one"
    );
    for side in ["bk.db-wal", "bk.db-shm"] {
        assert!(
            !t.dir.path().join(side).exists(),
            "{side} left beside the backup"
        );
    }
    let shared = t.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::os::unix::fs::lchown(&shared, Some(1234), None).unwrap();
    let link = shared.join("bk.db");
    std::os::unix::fs::symlink(&backup, &link).unwrap();
    let fifo = t.dir.path().join("fifo.db");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let theirs = t.dir.path().join("theirs.db");
    std::fs::copy(&backup, &theirs).unwrap();
    std::os::unix::fs::lchown(&theirs, Some(1234), None).unwrap();
    for (path, why) in [
        (&link, "could have placed"),
        (&fifo, "not a regular file"),
        (&theirs, "owned by uid 1234"),
    ] {
        let out = t.tessera(&["restore", "--replace", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{path:?}");
        assert!(stderr(&out).contains(why), "{path:?}: {}", stderr(&out));
    }
}

/// A restore says what it undid: the time of the backup, the users changed since, and it keeps
/// the audit rows written since.
#[test]
fn restore_tells_what_it_undoes_and_keeps_the_audit_rows_since() {
    let t = Install::new(POLICY);
    t.enroll_totp("alice");
    let backup = t.dir.path().join("bk.db");
    assert!(
        t.tessera(&["backup", backup.to_str().unwrap()])
            .status
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(t.tessera(&["user", "lock", "alice"]).status.success());
    let out = t.tessera(&["restore", "--replace", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("everything since the backup ("), "{text}");
    assert!(
        text.contains("changed since the backup (check them): alice"),
        "{text}"
    );
    assert!(
        text.contains("audit row(s) written since the backup were kept"),
        "{text}"
    );
    assert_eq!(
        t.lock("alice")["admin_locked"],
        false,
        "the lock was undone"
    );
    let audit = t.tessera_json(&["audit", "--user", "alice"]);
    assert!(audit.to_string().contains("lock"), "{audit}");
}
