//! A real sshd on 127.0.0.1 with pam_unix + pam_tessera, and the real OpenSSH client driven
//! through its keyboard-interactive prompts in a pseudo-terminal.
//!
//! OpenSSH 9.2 has no `PAMServiceName`: sshd takes the PAM service from the basename of the path
//! it was started as, so it runs through a symlink named after a service file this test writes
//! to /etc/pam.d (and removes again). It runs under tests/scripts/subreaper.py, which reaps its
//! orphaned children and stops them all when the test ends, pass or fail.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tessera_tests::{Install, oathtool_code, pam_module, require};

use crate::pam::{SystemUser, converse, wrong_code};

const PASSWORD: &str = "s3cond-f4ctor-test";
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A real sshd on 127.0.0.1 with its own config, host key and PAM service; stopped (and its PAM
/// service file removed) when dropped. Shared with ssh_sk.rs.
pub(crate) struct Sshd {
    pub dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    pam_file: PathBuf,
}

/// The remote command of every test login: its output proves the session ran, and shows which
/// descriptors the shell inherited.
const COMMAND: &str = "echo TESSERA-OK-$((6*7)); ls -l /proc/$$/fd/";

/// How users authenticate to the test sshd.
enum Methods<'a> {
    /// `AuthenticationMethods keyboard-interactive`; PAM: pam_unix, then pam_tessera.
    PasswordThenCode,
    /// `AuthenticationMethods publickey,keyboard-interactive` with this public key authorized;
    /// PAM: pam_tessera alone (docs/pam.md's "key and code").
    KeyThenCode { public_key: &'a str },
    /// `PasswordAuthentication yes` and no `AuthenticationMethods` (the pitfall docs/pam.md
    /// warns about); PAM: pam_unix, then pam_tessera.
    PasswordMethodOpen,
}

impl Sshd {
    fn start(install: &Install, user: &str) -> Sshd {
        Sshd::start_with(install, user, Methods::PasswordThenCode)
    }

    fn start_with(install: &Install, user: &str, methods: Methods<'_>) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let first_factor = match methods {
            Methods::PasswordThenCode | Methods::PasswordMethodOpen => {
                "auth required pam_unix.so nodelay\n"
            }
            Methods::KeyThenCode { .. } => "",
        };
        let pam_auth = format!(
            "{first_factor}auth required {} config={}\n",
            pam_module().display(),
            install.config.display()
        );
        let auth = match methods {
            Methods::PasswordThenCode => "PubkeyAuthentication no\nPasswordAuthentication no\n\
                 AuthenticationMethods keyboard-interactive\n"
                .to_string(),
            Methods::PasswordMethodOpen => {
                "PubkeyAuthentication no\nPasswordAuthentication yes\n".to_string()
            }
            Methods::KeyThenCode { public_key } => key_then_keyboard(dir.path(), public_key),
        };
        Sshd::launch(dir, user, &pam_auth, &auth)
    }

    /// Start sshd in `dir` for `user` alone: `pam_auth` is the `auth` part of its PAM service
    /// (account pam_unix, session pam_permit, password pam_deny follow), `sshd_auth` the
    /// authentication part of its sshd_config.
    pub(crate) fn launch(
        dir: tempfile::TempDir,
        user: &str,
        pam_auth: &str,
        sshd_auth: &str,
    ) -> Sshd {
        let service = format!(
            "tessera-e2e-ssh-{}-{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let pam_file = Path::new("/etc/pam.d").join(&service);
        std::fs::write(
            &pam_file,
            format!(
                "{pam_auth}\
                 account required pam_unix.so\n\
                 session required pam_permit.so\n\
                 password required pam_deny.so\n"
            ),
        )
        .unwrap();
        let mut sshd = Sshd {
            port: free_port(),
            child: None,
            pam_file,
            dir,
        };
        let d = sshd.dir.path().to_path_buf();
        let keygen = Command::new(require("ssh-keygen"))
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join("host_ed25519"))
            .output()
            .unwrap();
        assert!(keygen.status.success(), "ssh-keygen: {keygen:?}");
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "HostKey {d}/host_ed25519\n\
                 PidFile {d}/sshd.pid\n\
                 UsePAM yes\n\
                 KbdInteractiveAuthentication yes\n\
                 {sshd_auth}\
                 PermitRootLogin no\n\
                 AllowUsers {user}\n\
                 StrictModes no\n\
                 UseDNS no\n\
                 LogLevel VERBOSE\n",
                d = d.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        // sshd re-executes itself by argv[0]: an absolute path whose basename is the service.
        let link = d.join(&service);
        std::os::unix::fs::symlink(require("sshd"), &link).unwrap();
        let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/subreaper.py");
        // The port was free when chosen, but another test may bind it before sshd does: then
        // sshd exits ("Address already in use") and we try another.
        for _attempt in 0..5 {
            let log = std::fs::File::create(d.join("sshd.log")).unwrap();
            let child = Command::new("/usr/bin/python3")
                .arg(&helper)
                .arg(&link)
                .args(["-D", "-e", "-f"])
                .arg(d.join("sshd_config"))
                .args(["-o", "ListenAddress=127.0.0.1", "-p"])
                .arg(sshd.port.to_string())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            // Owned by `sshd` at once: a failed assertion below stops it (Drop).
            sshd.child = Some(child);
            // Our sshd says it listens (a connection alone could reach whoever else holds the
            // port), and accepts connections.
            let listening = format!("Server listening on 127.0.0.1 port {}", sshd.port);
            let deadline = Instant::now() + Duration::from_secs(30);
            let exited = loop {
                if sshd.log().contains(&listening)
                    && TcpStream::connect(("127.0.0.1", sshd.port)).is_ok()
                {
                    break None;
                }
                if let Some(status) = sshd.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                    sshd.child = None;
                    break Some(status);
                }
                assert!(
                    Instant::now() < deadline,
                    "sshd did not start listening:\n{}",
                    sshd.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            };
            match exited {
                None => return sshd,
                Some(_) if sshd.log().contains("Address already in use") => {
                    sshd.port = free_port();
                }
                Some(status) => panic!("sshd exited ({status}):\n{}", sshd.log()),
            }
        }
        panic!("sshd found no free port:\n{}", sshd.log());
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Log in as `user` and run a command, answering the password and code prompts.
    fn ssh(&self, user: &str, steps: &[(&str, &str)]) -> crate::pam::Run {
        self.ssh_as(user, None, steps)
    }

    /// [`Sshd::ssh`], offering the private key `identity` first when given.
    fn ssh_as(
        &self,
        user: &str,
        identity: Option<&Path>,
        steps: &[(&str, &str)],
    ) -> crate::pam::Run {
        let key_options = match identity {
            None => vec![
                "-o".into(),
                "PreferredAuthentications=keyboard-interactive".into(),
                "-o".into(),
                "PubkeyAuthentication=no".into(),
            ],
            Some(key) => vec![
                "-i".into(),
                key.display().to_string(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
                "-o".into(),
                "PreferredAuthentications=publickey,keyboard-interactive".into(),
            ],
        };
        self.ssh_with(user, key_options, steps)
    }

    /// Log in with these client options (which methods to try), answering `steps`.
    pub(crate) fn ssh_with(
        &self,
        user: &str,
        method_options: Vec<String>,
        steps: &[(&str, &str)],
    ) -> crate::pam::Run {
        converse(steps, &self.ssh_argv(user, method_options, COMMAND))
    }

    /// The ssh command line that logs in as `user` with these client options and runs
    /// `command`: no config file, no known hosts, one try per prompt.
    pub(crate) fn ssh_argv(
        &self,
        user: &str,
        method_options: Vec<String>,
        command: &str,
    ) -> Vec<String> {
        [
            require("ssh").display().to_string(),
            "-F".into(),
            "/dev/null".into(),
            "-p".into(),
            self.port.to_string(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
        ]
        .into_iter()
        .chain(method_options)
        .chain([
            "-o".into(),
            "NumberOfPasswordPrompts=1".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            format!("{user}@127.0.0.1"),
            command.into(),
        ])
        .collect()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The subreaper stops sshd and everything under it on SIGTERM.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        let _ = std::fs::remove_file(&self.pam_file);
    }
}

/// sshd_config lines for `AuthenticationMethods publickey,keyboard-interactive` with
/// `public_keys` (authorized_keys lines) authorized, in a file written to `dir`.
pub(crate) fn key_then_keyboard(dir: &Path, public_keys: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    // sshd reads the file as the user: a directory and file the user can read.
    let keys = dir.join("authorized_keys");
    std::fs::write(&keys, public_keys).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    format!(
        "PubkeyAuthentication yes\nPasswordAuthentication no\n\
         AuthorizedKeysFile {}\n\
         AuthenticationMethods publickey,keyboard-interactive\n",
        keys.display()
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn setup() -> (Install, SystemUser, String) {
    // One try per connection; a window of two steps so that a code stays valid (and its replay
    // is refused as a replay) however slow the machine.
    let install = Install::new("[policy]\nmax_tries = 1\n[totp]\nwindow = 2\n");
    let user = SystemUser::create(PASSWORD);
    let (secret, _) = install.enroll_totp(&user.name);
    (install, user, secret)
}

fn last_detail(install: &Install, user: &str) -> serde_json::Value {
    let v = install.tessera_json(&["audit", "--user", user, "--limit", "1"]);
    v["events"][0].clone()
}

#[test]
fn ssh_with_password_and_code_logs_in_and_runs_a_command() {
    let (install, user, secret) = setup();
    let sshd = Sshd::start(&install, &user.name);
    let code = oathtool_code(&secret, 0);
    let run = sshd.ssh(
        &user.name,
        &[
            ("Password: ", PASSWORD),
            ("Verification code: ", &code),
            ("TESSERA-OK-42", ""),
        ],
    );
    assert!(
        run.ok(),
        "ssh failed:\n{}\nsshd log:\n{}",
        run.out,
        sshd.log()
    );
    // The user's shell inherited nothing of the module: no store, no key, no log socket.
    for leaked in ["tessera.db", "tessera.key"] {
        assert!(!run.out.contains(leaked), "{leaked} leaked:\n{}", run.out);
    }
    let ev = last_detail(&install, &user.name);
    assert_eq!(ev["result"], "accept", "{ev}");
    assert!(
        ev["service"]
            .as_str()
            .is_some_and(|s| s.starts_with("tessera-e2e-ssh-")),
        "{ev}"
    );
    assert_eq!(ev["source"], "127.0.0.1", "{ev}");
}

#[test]
fn ssh_refuses_a_wrong_code() {
    let (install, user, secret) = setup();
    let sshd = Sshd::start(&install, &user.name);
    let run = sshd.ssh(
        &user.name,
        &[
            ("Password: ", PASSWORD),
            ("Verification code: ", &wrong_code(&secret)),
            ("Permission denied", ""),
        ],
    );
    assert!(!run.ok(), "{}", run.out);
    assert!(!run.out.contains("TESSERA-OK-42"), "{}", run.out);
    assert_eq!(last_detail(&install, &user.name)["detail"], "bad_code");
}

#[test]
fn ssh_refuses_a_replayed_code() {
    let (install, user, secret) = setup();
    let sshd = Sshd::start(&install, &user.name);
    let code = oathtool_code(&secret, 0);
    let steps = [
        ("Password: ", PASSWORD),
        ("Verification code: ", code.as_str()),
    ];
    let first = sshd.ssh(&user.name, &steps);
    assert!(first.ok(), "{}\nsshd log:\n{}", first.out, sshd.log());
    assert!(first.out.contains("TESSERA-OK-42"), "{}", first.out);
    let again = sshd.ssh(&user.name, &steps);
    assert!(!again.ok(), "a replayed code logged in:\n{}", again.out);
    assert!(again.out.contains("Permission denied"), "{}", again.out);
    assert_eq!(last_detail(&install, &user.name)["detail"], "replayed");
}

#[test]
fn ssh_locks_out_after_wrong_codes_until_an_administrator_unlocks() {
    let install = Install::new("[policy]\nmax_tries = 1\nmax_failures = 3\n[totp]\nwindow = 2\n");
    let user = SystemUser::create(PASSWORD);
    let (secret, _) = install.enroll_totp(&user.name);
    let sshd = Sshd::start(&install, &user.name);
    for _ in 0..3 {
        let run = sshd.ssh(
            &user.name,
            &[
                ("Password: ", PASSWORD),
                ("Verification code: ", &wrong_code(&secret)),
                ("Permission denied", ""),
            ],
        );
        assert!(!run.ok(), "{}", run.out);
    }
    assert_eq!(
        last_detail(&install, &user.name)["detail"],
        "bad_code; locked_out"
    );
    // Locked: the right password gets no code prompt at all, and nothing is consumed.
    let locked = sshd.ssh(
        &user.name,
        &[("Password: ", PASSWORD), ("Permission denied", "")],
    );
    assert!(!locked.ok(), "{}", locked.out);
    assert!(!locked.out.contains("TESSERA-OK-42"), "{}", locked.out);
    assert_eq!(last_detail(&install, &user.name)["detail"], "locked_out");
    let shown = install.tessera_json(&["user", "show", &user.name]);
    assert_eq!(shown["lock"]["locked"], true, "{shown}");

    let unlock = install.tessera(&["user", "unlock", &user.name]);
    assert!(unlock.status.success(), "{unlock:?}");
    let code = oathtool_code(&secret, 0);
    let run = sshd.ssh(
        &user.name,
        &[
            ("Password: ", PASSWORD),
            ("Verification code: ", &code),
            ("TESSERA-OK-42", ""),
        ],
    );
    assert!(run.ok(), "{}\nsshd log:\n{}", run.out, sshd.log());
}

#[test]
fn ssh_key_then_code_asks_only_for_the_code() {
    let (install, user, secret) = setup();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("id_ed25519");
    let keygen = Command::new(require("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "ssh-keygen: {keygen:?}");
    let public_key = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let sshd = Sshd::start_with(
        &install,
        &user.name,
        Methods::KeyThenCode {
            public_key: &public_key,
        },
    );
    // The key is accepted, then the keyboard-interactive round asks for the code alone.
    let code = oathtool_code(&secret, 0);
    let run = sshd.ssh_as(
        &user.name,
        Some(&key),
        &[("Verification code: ", &code), ("TESSERA-OK-42", "")],
    );
    assert!(run.ok(), "{}\nsshd log:\n{}", run.out, sshd.log());
    assert!(!run.out.contains("Password"), "{}", run.out);
    assert!(
        sshd.log().contains("Partial publickey"),
        "the key was the first of two methods:\n{}",
        sshd.log()
    );
    // The key alone is not enough: a wrong code is refused.
    let run = sshd.ssh_as(
        &user.name,
        Some(&key),
        &[
            ("Verification code: ", &wrong_code(&secret)),
            ("Permission denied", ""),
        ],
    );
    assert!(!run.ok(), "{}", run.out);
    assert_eq!(last_detail(&install, &user.name)["detail"], "bad_code");
}

/// The pitfall docs/pam.md describes: with `UsePAM yes`, `PasswordAuthentication yes` and no
/// `AuthenticationMethods`, the password method does reach the PAM stack. sshd answers every
/// prompt of it with the password: pam_unix accepts it, pam_tessera takes it as the code and
/// refuses it, and each such login counts as a wrong code against the user.
#[test]
fn ssh_password_method_under_use_pam_answers_the_code_prompt_with_the_password() {
    let install = Install::new("[policy]\nmax_tries = 1\nmax_failures = 2\n[totp]\nwindow = 2\n");
    let user = SystemUser::create(PASSWORD);
    let (secret, _) = install.enroll_totp(&user.name);
    let sshd = Sshd::start_with(&install, &user.name, Methods::PasswordMethodOpen);
    let password_only = vec![
        "-o".to_string(),
        "PreferredAuthentications=password".to_string(),
        "-o".to_string(),
        "PubkeyAuthentication=no".to_string(),
    ];
    let run = sshd.ssh_with(
        &user.name,
        password_only.clone(),
        &[("password: ", PASSWORD), ("Permission denied", "")],
    );
    assert!(!run.ok(), "{}", run.out);
    assert!(!run.out.contains("TESSERA-OK-42"), "{}", run.out);
    // No code prompt was shown: the password method has no way to show one.
    assert!(!run.out.contains("Verification code"), "{}", run.out);
    let ev = last_detail(&install, &user.name);
    assert_eq!(ev["result"], "reject", "{ev}");
    assert_eq!(
        ev["detail"], "bad_code",
        "the password was taken as the code: {ev}"
    );
    assert_eq!(
        install.lock(&user.name)["failures"],
        1,
        "it counted as a wrong code"
    );

    // A second such login locks the user out (max_failures = 2), even for a right code.
    let again = sshd.ssh_with(
        &user.name,
        password_only,
        &[("password: ", PASSWORD), ("Permission denied", "")],
    );
    assert!(!again.ok(), "{}", again.out);
    assert_eq!(install.lock(&user.name)["locked"], true);
    let code = oathtool_code(&secret, 0);
    let kbd = sshd.ssh(
        &user.name,
        &[("Password: ", PASSWORD), ("Permission denied", "")],
    );
    assert!(
        !kbd.ok(),
        "locked: {}\n(the code {code} was never asked for)",
        kbd.out
    );
}
