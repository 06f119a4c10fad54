//! pam_tessera's `ssh_key_factor` through the real sshd and ssh: `AuthenticationMethods
//! publickey,keyboard-interactive`, and a PAM stack of pam_unix (the password) then pam_tessera.
//! A user with a TOTP factor and an enrolled OpenSSH security key (made by ssh-keygen through
//! the software provider, enrolled with `tessera enroll ssh-key`) who logs in with that key is
//! asked for the password and no code; every other way in is asked for the code.

use std::path::Path;

use tessera_tests::{Install, oathtool_code, pam_module};

use crate::pam::{Run, SystemUser, converse, converse_script, last_audit, wrong_code};
use crate::pam_sshd::{Sshd, key_then_keyboard};
use crate::ssh_sk::{key_options, keygen, sshd_line};

const PASSWORD: &str = "sk-f4ctor-test-pw";
const CODE_PROMPT: &str = "Verification code: ";
const SESSION_RAN: &str = "TESSERA-OK-42";

/// An installation whose user has a TOTP factor and a system account with [`PASSWORD`].
struct Fixture {
    install: Install,
    user: SystemUser,
    secret: String,
    keys: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        // One try per connection; a window of two steps so that a code stays valid however slow
        // the machine.
        let install = Install::new("[policy]\nmax_tries = 1\n[totp]\nwindow = 2\n");
        let user = SystemUser::create(PASSWORD);
        let (secret, _) = install.enroll_totp(&user.name);
        Fixture {
            install,
            user,
            secret,
            keys: tempfile::tempdir().unwrap(),
        }
    }

    /// `ssh-keygen -t KEY_TYPE` into the fixture's key directory: (private key path, .pub line).
    fn key(&self, key_type: &str, file: &str) -> (std::path::PathBuf, String) {
        let path = self.keys.path().join(file);
        let public = keygen(key_type, &path);
        (path, public)
    }

    /// `tessera enroll ssh-key USER "$(cat KEY.pub)"`, as the administrator types it.
    fn enroll_ssh_key(&self, public_key: &str) {
        let out = self
            .install
            .tessera(&["enroll", "ssh-key", &self.user.name, public_key]);
        assert!(
            out.status.success(),
            "tessera enroll ssh-key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("SSH security key"), "{said}");
    }

    /// sshd for the user with `authorized_keys`; PAM: pam_unix, then pam_tessera with
    /// `module_options`. `sshd_extra` goes before the other sshd_config lines.
    ///
    /// pam_unix is `requisite`: a wrong password ends the stack, as Debian's common-auth does
    /// (docs/pam.md, "After the password module"). Under `required` pam_tessera would still run
    /// after a wrong password, and audit the key's login as accepted although PAM refuses it.
    fn sshd(&self, authorized_keys: &str, module_options: &str, sshd_extra: &str) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let pam_auth = format!(
            "auth requisite pam_unix.so nodelay\nauth required {} config={} {module_options}\n",
            pam_module().display(),
            self.install.config.display()
        );
        let sshd_auth = format!(
            "{sshd_extra}{}",
            key_then_keyboard(dir.path(), authorized_keys)
        );
        Sshd::launch(dir, &self.user.name, &pam_auth, &sshd_auth)
    }

    fn code(&self) -> String {
        oathtool_code(&self.secret, 0)
    }

    fn last_audit(&self) -> serde_json::Value {
        last_audit(&self.install, &self.user.name)
    }
}

/// Log in with `identity`, type the password and wait for the remote command's output. (A code
/// prompt instead makes the conversation time out, and its transcript shows the prompt.)
fn login_without_code(sshd: &Sshd, user: &str, identity: &Path) -> Run {
    let steps = [("Password: ", PASSWORD), (SESSION_RAN, "")];
    sshd.ssh_with(user, key_options(&[identity]), &steps)
}

/// Log in with `identity`, type the password, expect the code prompt and answer `code`.
fn login_with_code(sshd: &Sshd, user: &str, identity: &Path, code: &str) -> Run {
    let steps = [("Password: ", PASSWORD), (CODE_PROMPT, code)];
    sshd.ssh_with(user, key_options(&[identity]), &steps)
}

/// The login went through with no code prompt, and the audit says the key did it.
fn assert_key_was_the_factor(f: &Fixture, sshd: &Sshd, run: &Run, public_key: &str) {
    assert!(
        !run.out.contains(CODE_PROMPT),
        "the enrolled security key was asked for a code:\n{}\nsshd log:\n{}",
        run.out,
        sshd.log()
    );
    assert!(
        run.ok() && run.out.contains(SESSION_RAN),
        "ssh failed:\n{}\nsshd log:\n{}",
        run.out,
        sshd.log()
    );
    let key = tessera_common::ssh_key::parse_public_key(public_key).unwrap();
    let partial = format!("Partial publickey for {} from 127.0.0.1", f.user.name);
    let log = sshd.log();
    assert!(
        log.contains(&partial) && log.contains(&key.fingerprint()),
        "sshd accepted the key as the first of two methods:\n{log}"
    );
    let ev = f.last_audit();
    assert_eq!(ev["result"], "accept", "{ev}");
    assert_eq!(ev["method"], "ssh_key", "{ev}");
}

/// The login was asked for the code, and a right one let it in as a TOTP login.
fn assert_code_was_the_factor(f: &Fixture, sshd: &Sshd, run: &Run) {
    assert!(
        run.ok() && run.out.contains(SESSION_RAN),
        "ssh with the right code failed:\n{}\nsshd log:\n{}",
        run.out,
        sshd.log()
    );
    let ev = f.last_audit();
    assert_eq!(ev["result"], "accept", "{ev}");
    assert_eq!(ev["method"], "totp", "{ev}");
}

#[test]
fn ssh_enrolled_ed25519_sk_key_is_the_second_factor_after_the_password() {
    let f = Fixture::new();
    let (id, public) = f.key("ed25519-sk", "id_ed25519_sk");
    f.enroll_ssh_key(&public);
    let sshd = f.sshd(&public, "ssh_key_factor", "");
    let run = login_without_code(&sshd, &f.user.name, &id);
    assert_key_was_the_factor(&f, &sshd, &run, &public);

    // The key replaces the code, not the password: a wrong password is still refused.
    let wrong = sshd.ssh_with(
        &f.user.name,
        key_options(&[&id]),
        &[
            ("Password: ", "not-the-password"),
            ("Permission denied", ""),
        ],
    );
    assert!(!wrong.ok(), "a wrong password logged in:\n{}", wrong.out);
    assert!(!wrong.out.contains(SESSION_RAN), "{}", wrong.out);
    // The stack ended at pam_unix: pam_tessera wrote nothing for that login.
    let logins = f.install.tessera_json(&["audit", "--user", &f.user.name])["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["result"] != "admin")
        .count();
    assert_eq!(logins, 1, "only the first login reached pam_tessera");
}

#[test]
fn ssh_enrolled_ecdsa_sk_key_is_the_second_factor_after_the_password() {
    let f = Fixture::new();
    let (id, public) = f.key("ecdsa-sk", "id_ecdsa_sk");
    f.enroll_ssh_key(&public);
    let sshd = f.sshd(&public, "ssh_key_factor", "");
    let run = login_without_code(&sshd, &f.user.name, &id);
    assert_key_was_the_factor(&f, &sshd, &run, &public);
}

#[test]
fn ssh_sk_key_that_is_not_enrolled_is_asked_for_the_code() {
    let f = Fixture::new();
    let (_, enrolled_public) = f.key("ed25519-sk", "id_enrolled_sk");
    f.enroll_ssh_key(&enrolled_public);
    // Another security key, authorized in sshd but never enrolled in Tessera.
    let (other, other_public) = f.key("ed25519-sk", "id_other_sk");
    let sshd = f.sshd(
        &format!("{enrolled_public}{other_public}"),
        "ssh_key_factor",
        "",
    );

    let run = login_with_code(&sshd, &f.user.name, &other, &f.code());
    assert_code_was_the_factor(&f, &sshd, &run);

    // No code (the prompt answered with an empty line): refused.
    let argv = sshd.ssh_argv(
        &f.user.name,
        key_options(&[&other]),
        "echo TESSERA-OK-$((6*7))",
    );
    let script = vec![
        serde_json::json!(["expect", "Password: "]),
        serde_json::json!(["send", PASSWORD]),
        serde_json::json!(["expect", CODE_PROMPT]),
        serde_json::json!(["send", ""]),
        serde_json::json!(["expect", "Permission denied"]),
    ];
    let none = converse_script(script, &argv);
    assert!(!none.ok(), "no code logged in:\n{}", none.out);
    assert!(!none.out.contains(SESSION_RAN), "{}", none.out);
    let ev = f.last_audit();
    assert_eq!(
        (&ev["result"], &ev["detail"]),
        (&"reject".into(), &"malformed_code".into()),
        "{ev}"
    );

    // And a wrong code: refused.
    let wrong = sshd.ssh_with(
        &f.user.name,
        key_options(&[&other]),
        &[
            ("Password: ", PASSWORD),
            (CODE_PROMPT, &wrong_code(&f.secret)),
            ("Permission denied", ""),
        ],
    );
    assert!(!wrong.ok(), "a wrong code logged in:\n{}", wrong.out);
    assert_eq!(f.last_audit()["detail"], "bad_code", "{}", f.last_audit());
}

#[test]
fn ssh_ordinary_ed25519_key_is_asked_for_the_code() {
    let f = Fixture::new();
    let (_, sk_public) = f.key("ed25519-sk", "id_ed25519_sk");
    f.enroll_ssh_key(&sk_public);
    let (plain, plain_public) = f.key("ed25519", "id_ed25519");
    let sshd = f.sshd(&format!("{sk_public}{plain_public}"), "ssh_key_factor", "");
    let run = login_with_code(&sshd, &f.user.name, &plain, &f.code());
    assert_code_was_the_factor(&f, &sshd, &run);
}

#[test]
fn ssh_enrolled_sk_key_is_asked_for_the_code_without_ssh_key_factor() {
    let f = Fixture::new();
    let (id, public) = f.key("ed25519-sk", "id_ed25519_sk");
    f.enroll_ssh_key(&public);
    let sshd = f.sshd(&public, "", "");
    let run = login_with_code(&sshd, &f.user.name, &id, &f.code());
    assert_code_was_the_factor(&f, &sshd, &run);
}

/// `AcceptEnv *`, and a client that sends `SSH_AUTH_INFO_0` (SetEnv and SendEnv) naming the
/// enrolled security key while it logs in with an ordinary key: the variable reaches the
/// session, not the PAM stack, and the code is asked for.
#[test]
fn ssh_client_planting_the_enrolled_keys_line_is_asked_for_the_code() {
    let f = Fixture::new();
    let (_, enrolled_public) = f.key("ed25519-sk", "id_enrolled_sk");
    f.enroll_ssh_key(&enrolled_public);
    let (plain, plain_public) = f.key("ed25519", "id_ed25519");
    let planted = sshd_line(&enrolled_public);
    let sshd = f.sshd(&plain_public, "ssh_key_factor", "AcceptEnv *\n");

    let mut options = key_options(&[&plain]);
    options.extend([
        "-o".to_string(),
        format!("SetEnv=SSH_AUTH_INFO_0=\"{planted}\""),
        "-o".into(),
        "SendEnv=SSH_AUTH_INFO_0".into(),
    ]);
    let command = "echo TESSERA-OK-$((6*7)); echo \"SEEN<$SSH_AUTH_INFO_0>\"";
    let mut argv = vec![
        "/usr/bin/env".to_string(),
        format!("SSH_AUTH_INFO_0={planted}"),
    ];
    argv.extend(sshd.ssh_argv(&f.user.name, options.clone(), command));

    let code = f.code();
    let run = converse(
        &[
            ("Password: ", PASSWORD),
            (CODE_PROMPT, &code),
            (SESSION_RAN, ""),
        ],
        &argv,
    );
    assert_code_was_the_factor(&f, &sshd, &run);
    // The variable did reach sshd: the session got it (AcceptEnv), so the plant was made.
    assert!(
        run.out.contains(&format!("SEEN<{planted}>")),
        "the client's variable never reached the session:\n{}",
        run.out
    );

    // The plant alone does not let a wrong code in.
    let mut argv = vec![
        "/usr/bin/env".to_string(),
        format!("SSH_AUTH_INFO_0={planted}"),
    ];
    argv.extend(sshd.ssh_argv(&f.user.name, options, command));
    let wrong = converse(
        &[
            ("Password: ", PASSWORD),
            (CODE_PROMPT, &wrong_code(&f.secret)),
            ("Permission denied", ""),
        ],
        &argv,
    );
    assert!(!wrong.ok(), "a wrong code logged in:\n{}", wrong.out);
    assert_eq!(f.last_audit()["detail"], "bad_code", "{}", f.last_audit());
}
