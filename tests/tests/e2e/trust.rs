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
