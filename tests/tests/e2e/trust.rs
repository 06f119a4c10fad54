//! What the PAM module believes, through real PAM (pamtester): only root's files, and only the
//! sections it uses.

use std::os::unix::fs::PermissionsExt;

use tessera_tests::{Install, oathtool_code};

use crate::pam::{AUTHINFO_UNAVAIL, POLICY, Service};

fn chown(p: &std::path::Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), None).unwrap();
}

/// The RADIUS server's account (here uid 1812) owns the store: code execution in the server
/// must not decide who gets into sshd and sudo, so the module refuses even a right code.
#[test]
fn pamtester_refuses_a_store_chowned_to_another_account() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    let db_dir = t.dir.path().join("db");
    let svc = Service::tessera(&t, "");
    let good = || format!("{}\n", oathtool_code(&secret, 0));
    for path in [db_dir.join("tessera.db"), db_dir.clone()] {
        chown(&path, 1812);
        svc.pamtester("alice", &good(), &[])
            .assert_pam_error(AUTHINFO_UNAVAIL);
        chown(&path, 0);
    }
    // A key the service account's group may read is refused too.
    let key = t.dir.path().join("tessera.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    Service::tessera(&t, "nullok")
        .pamtester("bob", "", &[])
        .assert_pam_error(AUTHINFO_UNAVAIL);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    svc.pamtester("alice", &good(), &[]).assert_ok();
}

/// The PAM module reads only what it uses: a RADIUS client whose secret file exists only while
/// the service runs, or a `[radius]` block pasted twice, leaves SSH and sudo working.
#[test]
fn a_broken_radius_section_does_not_break_pam_logins() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    let text = std::fs::read_to_string(&t.config).unwrap();
    let radius = "[radius]\nlisten = [\"127.0.0.1:1812\"]\n\n[[radius.clients]]\nname = \"vpn\"\naddress = \"127.0.0.1\"\nsecret_file = \"/run/credentials/tessera-radiusd.service/vpn\"\n";
    std::fs::write(&t.config, format!("{text}\n{radius}\n{radius}")).unwrap();
    // The CLI reads every section, and says what is wrong with the RADIUS part.
    let out = t.tessera(&["user", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("radius"), "{err}");
    let svc = Service::tessera(&t, "");
    svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_ok();
    // One RADIUS block, its secret file missing: still fine.
    std::fs::write(&t.config, format!("{text}\n{radius}")).unwrap();
    svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 30)), &[])
        .assert_ok();
}

/// Run as root, the CLI refuses a configuration another account wrote: one that names a root
/// file as `password_file` and the writer's SMTP server would make root send that file.
#[test]
fn the_cli_as_root_refuses_a_config_another_account_could_change() {
    let t = Install::new(POLICY);
    let theirs = t.dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    let evil = theirs.join("tessera.toml");
    let text = std::fs::read_to_string(&t.config).unwrap()
        + "[email]\nsmtp_host = \"127.0.0.1\"\nfrom = \"x@example.com\"\nusername = \"x\"\npassword_file = \"/etc/shadow\"\n";
    std::fs::write(&evil, text).unwrap();
    for (path, uid) in [(&evil, 1234), (&theirs, 1234)] {
        chown(path, uid);
        let out = std::process::Command::new(tessera_tests::bin("tessera"))
            .arg("--config")
            .arg(&evil)
            .args(["user", "list"])
            .env_remove("TESSERA_CONFIG")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(
            err.contains("root alone can change") && err.contains("owned by uid 1234"),
            "{err}"
        );
        chown(path, 0);
    }
}

/// `tessera import google-authenticator` reads a path a user may have prepared, as root: a link
/// to another user's file, a FIFO, a device and a huge file are refused with a reason, quickly,
/// and nothing is imported.
#[test]
fn import_refuses_links_fifos_devices_and_huge_files() {
    let t = Install::new("");
    let home = t.dir.path().join("home-mallory");
    std::fs::create_dir(&home).unwrap();
    // Someone else's secret file, and mallory's link to it.
    let victim = t.dir.path().join("victim_google_authenticator");
    std::fs::write(&victim, "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n").unwrap();
    chown(&victim, 4321);
    let link = home.join(".google_authenticator");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let fifo = home.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // A root-owned secret (pam_google_authenticator's `user=root secret=/var/lib/…/${USER}`),
    // reached through mallory's link.
    let roots = t.dir.path().join("root_google_authenticator");
    std::fs::write(&roots, "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n").unwrap();
    let root_link = home.join("bob");
    std::os::unix::fs::symlink(&roots, &root_link).unwrap();
    chown(&root_link, 1234);
    chown(&link, 1234);
    let huge = home.join("huge");
    std::fs::write(&huge, vec![b'A'; 1 << 20]).unwrap();
    let cases = [
        (link.clone(), "could have placed"),
        (fifo.clone(), "is not a regular file"),
        (
            std::path::PathBuf::from("/dev/zero"),
            "is not a regular file",
        ),
        (huge.clone(), "is longer than 65536 bytes"),
        (root_link.clone(), "could have placed"),
    ];
    for (path, why) in cases {
        let started = std::time::Instant::now();
        let out = t.tessera(&[
            "import",
            "google-authenticator",
            path.to_str().unwrap(),
            "--user",
            "mallory-import",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{path:?}: {err}");
        assert!(err.contains(why), "{path:?}: {err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{path:?} hung"
        );
    }
    assert_eq!(
        t.tessera(&["user", "show", "mallory-import"]).status.code(),
        Some(3),
        "nothing was imported"
    );
}

/// The config path swapped for a link to an attacker's config (with their store and key, so a
/// code of theirs would pass): the module resolves the link, finds a directory root does not
/// own on the way, and refuses. The same link pointed back at root's file works.
#[test]
fn pamtester_refuses_a_config_path_swapped_for_a_link_to_another_accounts_file() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    // mallory's own installation, in a directory mallory owns, where she knows the secret.
    let theirs = Install::new(POLICY);
    let (their_secret, _) = theirs.enroll_totp("alice");
    chown(theirs.dir.path(), 1234);
    let link = t.dir.path().join("pam.toml");
    std::os::unix::fs::symlink(&theirs.config, &link).unwrap();
    let svc = crate::pam::Service::new(&format!(
        "auth required {{module}} config={}\n",
        link.display()
    ));
    svc.pamtester(
        "alice",
        &format!("{}\n", oathtool_code(&their_secret, 0)),
        &[],
    )
    .assert_pam_error(AUTHINFO_UNAVAIL);
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&t.config, &link).unwrap();
    svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_ok();
}

/// Root administers the RADIUS server's store, in a directory the server's account owns: that
/// account cannot lead root, by a link, to the PAM module's store and have it changed there.
#[test]
fn the_cli_as_root_follows_no_link_the_radius_account_placed() {
    let pam = Install::new(POLICY);
    pam.enroll_totp("alice");
    assert!(pam.tessera(&["user", "lock", "alice"]).status.success());
    // The RADIUS installation: root's config, its state directory the service account's.
    let radius = Install::new(POLICY);
    let state = radius.dir.path().join("db");
    for f in ["tessera.db", "tessera.db-wal", "tessera.db-shm"] {
        let _ = std::fs::remove_file(state.join(f));
    }
    std::os::unix::fs::symlink(
        pam.dir.path().join("db/tessera.db"),
        state.join("tessera.db"),
    )
    .unwrap();
    std::os::unix::fs::lchown(state.join("tessera.db"), Some(1812), None).unwrap();
    chown(&state, 1812);
    for args in [["user", "unlock", "alice"], ["user", "remove", "alice"]] {
        let out = radius.tessera(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("could have placed"), "{err}");
    }
    assert_eq!(
        pam.lock("alice")["admin_locked"],
        true,
        "the PAM store is untouched"
    );
}
