//! OpenSSH security keys end to end, on a machine without one: the real ssh-keygen makes
//! `sk-*` keys through the software provider (tests/sk-provider), the real ssh signs with them,
//! the real sshd verifies the signature, and the PAM stack of keyboard-interactive sees in
//! `SSH_AUTH_INFO_0` which key sshd accepted — what pam_tessera's `ssh_key_factor` reads, through
//! `tessera_common::ssh_key`.
//!
//! The PAM stack here is `pam_exec` running a script that writes down its environment, then
//! `pam_permit`. pam_exec runs the program with the PAM environment (`pam_getenvlist`, plus
//! PAM_TYPE, PAM_USER and the other items), not with sshd's own, so what the script writes is
//! what any module of the stack would get from `pam_getenv`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tessera_common::ssh_key;
use tessera_tests::{require, sk_provider};

use crate::pam::{SystemUser, converse};
use crate::pam_sshd::{Sshd, key_then_keyboard};

/// The script pam_exec runs: the PAM environment it was given, with `SSH_AUTH_INFO_0` also on
/// its own (it holds newlines). Written by rename, so a reader never sees half a file.
const DUMP: &str = "#!/bin/sh\n\
    umask 077\n\
    env > \"$0.env.tmp\" && mv \"$0.env.tmp\" \"$0.env\"\n\
    printf '%s' \"${SSH_AUTH_INFO_0-<unset>}\" > \"$0.info.tmp\" && mv \"$0.info.tmp\" \"$0.info\"\n";

/// A test sshd whose keyboard-interactive stack records the PAM environment, after publickey.
struct Recorder {
    sshd: Sshd,
    script: PathBuf,
}

impl Recorder {
    /// `extra`: more sshd_config lines, before the others (sshd keeps the first value of a
    /// keyword, so an `AuthenticationMethods` here wins).
    fn start(user: &str, authorized_keys: &str, extra: &str) -> Recorder {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("dump.sh");
        std::fs::write(&script, DUMP).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        let pam_auth = format!(
            "auth required pam_exec.so {}\nauth required pam_permit.so\n",
            script.display()
        );
        let sshd_auth = format!("{extra}{}", key_then_keyboard(dir.path(), authorized_keys));
        let sshd = Sshd::launch(dir, user, &pam_auth, &sshd_auth);
        Recorder { sshd, script }
    }

    /// Forget the last login's record (a stale one must not pass for this login's).
    fn clear(&self) {
        for ext in ["env", "info"] {
            let _ = std::fs::remove_file(self.file(ext));
        }
    }

    fn file(&self, ext: &str) -> PathBuf {
        self.script.with_extension(format!("sh.{ext}"))
    }

    /// (`SSH_AUTH_INFO_0`, the whole environment) as the auth stack saw them.
    fn record(&self) -> (String, String) {
        let read = |ext| {
            std::fs::read_to_string(self.file(ext)).unwrap_or_else(|e| {
                panic!(
                    "pam_exec left no record ({e}): did keyboard-interactive run?\nsshd log:\n{}",
                    self.sshd.log()
                )
            })
        };
        (read("info"), read("env"))
    }
}

/// `ssh-keygen -t KEY_TYPE` with no passphrase, through the test provider for `*-sk` types;
/// returns the public key line. Shared with ssh_key_factor.rs.
pub(crate) fn keygen(key_type: &str, path: &Path) -> String {
    let mut cmd = Command::new(require("ssh-keygen"));
    cmd.args(["-q", "-t", key_type, "-N", "", "-C", "e2e", "-f"])
        .arg(path)
        .stdin(Stdio::null());
    if key_type.ends_with("-sk") {
        cmd.arg("-w").arg(sk_provider());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "ssh-keygen -t {key_type}: {out:?}");
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

/// Client options: offer these keys in turn (signing through the test provider for `sk-*`
/// ones), then keyboard-interactive.
pub(crate) fn key_options(identities: &[&Path]) -> Vec<String> {
    let mut options = Vec::new();
    for identity in identities {
        options.push("-i".to_string());
        options.push(identity.display().to_string());
    }
    options.extend([
        "-o".to_string(),
        "IdentitiesOnly=yes".into(),
        "-o".into(),
        format!("SecurityKeyProvider={}", sk_provider().display()),
        "-o".into(),
        "PreferredAuthentications=publickey,keyboard-interactive".into(),
    ]);
    options
}

/// The line sshd writes for a key it accepted: `publickey TYPE BASE64`, exactly (the key as in
/// its .pub file, without the comment). ssh_key::accepted_keys reads that format and nothing
/// looser: these tests say so if an sshd upgrade changes it.
pub(crate) fn sshd_line(public_key: &str) -> String {
    let mut fields = public_key.split_whitespace();
    let (key_type, encoded) = (fields.next().unwrap(), fields.next().unwrap());
    format!("publickey {key_type} {encoded}")
}

#[test]
fn ssh_sk_key_accepted_by_sshd_reaches_pam_in_ssh_auth_info() {
    let user = SystemUser::create("unused-password-1");
    let keys = tempfile::tempdir().unwrap();
    let ed = keys.path().join("id_ed25519_sk");
    let ec = keys.path().join("id_ecdsa_sk");
    let ed_pub = keygen("ed25519-sk", &ed);
    let ec_pub = keygen("ecdsa-sk", &ec);
    let rec = Recorder::start(&user.name, &format!("{ed_pub}{ec_pub}"), "");
    let enrolled_ed = ssh_key::parse_public_key(&ed_pub).unwrap();
    let enrolled_ec = ssh_key::parse_public_key(&ec_pub).unwrap();

    for (identity, public_key, used, unused) in [
        (&ed, &ed_pub, &enrolled_ed, &enrolled_ec),
        (&ec, &ec_pub, &enrolled_ec, &enrolled_ed),
    ] {
        let key_type = used.algorithm.ssh_name();
        rec.clear();
        let steps = [("TESSERA-OK-42", "")];
        let run = rec
            .sshd
            .ssh_with(&user.name, key_options(&[identity]), &steps);
        assert!(
            run.ok(),
            "{key_type}: ssh failed:\n{}\nsshd log:\n{}",
            run.out,
            rec.sshd.log()
        );
        let log = rec.sshd.log();
        let partial = format!("Partial publickey for {} from 127.0.0.1", user.name);
        assert!(
            log.contains(&partial) && log.contains(&used.fingerprint()),
            "sshd accepted the {key_type} key as the first of two methods:\n{log}"
        );
        let (info, env) = rec.record();
        // pam_exec gave the script the PAM environment: its own PAM_TYPE, and sshd's variable.
        assert!(env.lines().any(|l| l == "PAM_TYPE=auth"), "{env}");
        assert!(env.contains("SSH_AUTH_INFO_0=publickey "), "{env}");
        // One line, for the key, in sshd's exact format; keyboard-interactive itself is not
        // there yet (it is the method running).
        assert_eq!(info, format!("{}\n", sshd_line(public_key)));
        let accepted = ssh_key::accepted_keys(&info);
        assert_eq!(accepted, vec![used.blob.clone()], "{info:?}");
        assert!(ssh_key::matches(&used.blob, &accepted), "{info:?}");
        assert!(!ssh_key::matches(&unused.blob, &accepted), "{info:?}");
    }
}

#[test]
fn ssh_client_cannot_plant_ssh_auth_info_0_in_the_pam_environment() {
    let user = SystemUser::create("unused-password-2");
    let keys = tempfile::tempdir().unwrap();
    let plain = keys.path().join("id_ed25519");
    let plain_pub = keygen("ed25519", &plain);
    // A security key the user does not hold, which the client claims sshd accepted.
    let planted_pub = keygen("ed25519-sk", &keys.path().join("other_sk"));
    let planted = ssh_key::parse_public_key(&planted_pub).unwrap();
    let planted_line = sshd_line(&planted_pub);
    // The server takes any variable the client sends.
    let rec = Recorder::start(&user.name, &plain_pub, "AcceptEnv *\n");

    // Both ways a client sends a variable: SetEnv, and SendEnv of its own environment.
    let mut options = key_options(&[&plain]);
    options.extend([
        "-o".to_string(),
        format!("SetEnv=SSH_AUTH_INFO_0=\"{planted_line}\""),
        "-o".into(),
        "SendEnv=SSH_AUTH_INFO_0".into(),
    ]);
    let command = "echo TESSERA-OK-$((6*7)); echo \"SEEN<$SSH_AUTH_INFO_0>\"";
    let mut argv = vec![
        "/usr/bin/env".to_string(),
        format!("SSH_AUTH_INFO_0={planted_line}"),
    ];
    argv.extend(rec.sshd.ssh_argv(&user.name, options, command));
    rec.clear();
    let run = converse(&[("TESSERA-OK-42", "")], &argv);
    assert!(
        run.ok(),
        "ssh failed:\n{}\nsshd log:\n{}",
        run.out,
        rec.sshd.log()
    );
    // The variable did reach sshd: the session got it (AcceptEnv), so the test is not empty.
    assert!(
        run.out.contains(&format!("SEEN<{planted_line}>")),
        "the client's variable never reached the session:\n{}",
        run.out
    );
    // But the auth stack saw only what sshd verified: the ordinary key, not the planted one.
    let (info, env) = rec.record();
    assert_eq!(info, format!("{}\n", sshd_line(&plain_pub)));
    assert!(!env.contains(&planted_line), "{env}");
    let accepted = ssh_key::accepted_keys(&info);
    assert!(accepted.is_empty(), "{info:?}");
    assert!(!ssh_key::matches(&planted.blob, &accepted));
}

/// `AuthenticationMethods publickey,publickey,keyboard-interactive`: an ordinary key and a
/// security key, each on its own line in the order sshd accepted them; only the security key
/// is one the module can take.
#[test]
fn ssh_two_keys_are_two_lines_of_ssh_auth_info_and_only_the_sk_one_counts() {
    let user = SystemUser::create("unused-password-3");
    let keys = tempfile::tempdir().unwrap();
    let plain = keys.path().join("id_ed25519");
    let sk = keys.path().join("id_ecdsa_sk");
    let plain_pub = keygen("ed25519", &plain);
    let sk_pub = keygen("ecdsa-sk", &sk);
    let rec = Recorder::start(
        &user.name,
        &format!("{plain_pub}{sk_pub}"),
        "AuthenticationMethods publickey,publickey,keyboard-interactive\n",
    );
    rec.clear();
    let steps = [("TESSERA-OK-42", "")];
    let run = rec
        .sshd
        .ssh_with(&user.name, key_options(&[&plain, &sk]), &steps);
    assert!(
        run.ok(),
        "ssh failed:\n{}\nsshd log:\n{}",
        run.out,
        rec.sshd.log()
    );
    let (info, _) = rec.record();
    let expected = format!("{}\n{}\n", sshd_line(&plain_pub), sshd_line(&sk_pub));
    assert_eq!(info, expected);
    let accepted = ssh_key::accepted_keys(&info);
    let enrolled = ssh_key::parse_public_key(&sk_pub).unwrap();
    assert_eq!(accepted, vec![enrolled.blob.clone()]);
    assert!(ssh_key::matches(&enrolled.blob, &accepted));
}
