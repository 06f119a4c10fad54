//! pam_tessera.so loaded by real PAM: pamtester through pam_wrapper (a private service
//! directory, no /etc/pam.d changes), pam_unix for the sudo-style stack, pam_exec to look at the
//! descriptors left open, a pseudo-terminal (tests/scripts/converse.py) where a conversation
//! has several prompts.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tessera_tests::{Install, oathtool_code, pam_module, require, run_with_input};

/// Config for most tests: one try per conversation (pamtester reads piped answers greedily),
/// a lock after three failures.
pub(crate) const POLICY: &str = "[policy]\nmax_tries = 1\nmax_failures = 3\nlockout = \"15m\"\n";

/// A PAM service file in a private directory, for pam_wrapper.
pub(crate) struct Service {
    pub dir: tempfile::TempDir,
    pub name: String,
    /// More env(1) arguments for pamtester's environment (`VAR=VALUE`, `-u VAR`).
    env: Vec<String>,
}

impl Service {
    /// `lines` may use `{module}` for the path of the built pam_tessera.so.
    pub fn new(lines: &str) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let name = "tessera-test".to_string();
        let text = lines.replace("{module}", &pam_module().display().to_string());
        std::fs::write(dir.path().join(&name), text).unwrap();
        Service {
            dir,
            name,
            env: Vec::new(),
        }
    }

    /// Run pamtester with these env(1) arguments too (`VAR=VALUE`, `-u VAR`).
    pub fn with_env(mut self, args: &[&str]) -> Service {
        self.env.extend(args.iter().map(|a| (*a).to_string()));
        self
    }

    /// One `auth required pam_tessera.so config=... ARGS` line.
    pub fn tessera(install: &Install, args: &str) -> Service {
        Service::new(&format!(
            "auth required {{module}} config={} {args}\n",
            install.config.display()
        ))
    }

    /// The pam_wrapper environment and pamtester command line, for `timeout` or converse.py.
    pub(crate) fn pamtester_argv(&self, user: &str, items: &[&str]) -> Vec<String> {
        let mut argv = vec!["/usr/bin/env".to_string()];
        argv.extend(self.env.iter().cloned());
        argv.extend([
            "LD_PRELOAD=libpam_wrapper.so".into(),
            "PAM_WRAPPER=1".into(),
            format!("PAM_WRAPPER_SERVICE_DIR={}", self.dir.path().display()),
            require("pamtester").display().to_string(),
        ]);
        for i in items {
            argv.push("-I".into());
            argv.push((*i).to_string());
        }
        argv.extend([self.name.clone(), user.to_string(), "authenticate".into()]);
        argv
    }

    /// Run `pamtester SERVICE USER authenticate` with `input` piped to it.
    ///
    /// pam_wrapper 1.1.4 picks its scratch directory (`/tmp/pam.X`, one character: a few dozen
    /// names) racily: of several pamtesters started at once, one may fail in `pam_start` or
    /// find no service file, before any module is loaded. Such a run is started again (it did
    /// nothing: the module never ran, no prompt was shown).
    pub fn pamtester(&self, user: &str, input: &str, items: &[&str]) -> Run {
        let mut attempts = 0;
        loop {
            let mut cmd = Command::new("/usr/bin/timeout");
            cmd.arg("60").args(self.pamtester_argv(user, items));
            let run = Run::of(run_with_input(cmd, input));
            attempts += 1;
            if !wrapper_failed(&run) || attempts == 10 {
                return run;
            }
            std::thread::sleep(std::time::Duration::from_millis(20 * attempts));
        }
    }

    /// Run pamtester with its stdin a pipe that `talk` writes to while it runs: for answers
    /// known only later (a code from an e-mail). pamtester reads each line as it comes; the
    /// input ends when `talk` returns. A panic in `talk` kills pamtester.
    pub fn pamtester_talking(
        &self,
        user: &str,
        items: &[&str],
        talk: impl FnOnce(&mut ChildStdin),
    ) -> Run {
        /// Kills the child unless it was taken back: no pamtester outlives a failed test.
        struct Reap(Option<Child>);
        impl Drop for Reap {
            fn drop(&mut self) {
                if let Some(c) = self.0.as_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        let mut cmd = Command::new("/usr/bin/timeout");
        cmd.arg("60").args(self.pamtester_argv(user, items));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut reap = Reap(Some(child));
        talk(&mut stdin);
        drop(stdin);
        Run::of(reap.0.take().unwrap().wait_with_output().unwrap())
    }

    /// Run pamtester in a pseudo-terminal, following a conversation script.
    pub fn pamtester_pty(&self, user: &str, steps: &[(&str, &str)]) -> Run {
        converse(steps, &self.pamtester_argv(user, &[]))
    }
}

/// What a run printed and how it ended.
pub(crate) struct Run {
    pub code: Option<i32>,
    pub out: String,
}

impl Run {
    fn of(o: Output) -> Run {
        Run {
            code: o.status.code(),
            out: format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        }
    }

    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    #[track_caller]
    pub fn assert_ok(&self) {
        assert!(
            self.ok(),
            "expected success, got {:?}:\n{}",
            self.code,
            self.out
        );
    }

    /// Failed, and pamtester named this PAM error (pam_strerror text).
    #[track_caller]
    pub fn assert_pam_error(&self, strerror: &str) {
        assert!(
            !self.ok() && self.out.contains(strerror),
            "expected failure {strerror:?}, got {:?}:\n{}",
            self.code,
            self.out
        );
    }
}

pub(crate) const AUTH_ERR: &str = "Authentication failure";
pub(crate) const AUTHINFO_UNAVAIL: &str =
    "Authentication service cannot retrieve authentication info";

/// A pamtester run that pam_wrapper failed before any module ran: pam_wrapper's own complaints
/// (its functions are `pwrap_*`) or libpam finding no service file; with 64 at once, a few runs
/// also end with status 1 having printed nothing at all, not even pamtester's verdict (under
/// converse.py: nothing but its own complaint). None showed a prompt.
pub(crate) fn wrapper_failed(run: &Run) -> bool {
    let wrapper_noise = run.out.lines().any(|l| {
        l.starts_with("PWRAP_ERROR")
            && [
                "pwrap_",
                "no modules loaded",
                "pam_start:",
                "error reading PAM",
            ]
            .iter()
            .any(|m| l.contains(m))
    });
    let nothing = run
        .out
        .lines()
        .all(|l| l.trim().is_empty() || l.starts_with("converse.py: "));
    // A module that ran and could not decide (a busy store, say) is an answer: kept.
    !run.ok()
        && !run.out.contains("Verification code")
        && !run.out.contains("Two-factor authentication")
        && !run.out.contains(AUTHINFO_UNAVAIL)
        && (wrapper_noise || run.out.contains("pamtester: Initialization failure") || nothing)
}

/// Run `argv` in a pseudo-terminal through tests/scripts/converse.py: `(expect regex, send)`
/// pairs; an empty `send` only waits for the text.
pub(crate) fn converse(steps: &[(&str, &str)], argv: &[String]) -> Run {
    let mut script = Vec::new();
    for (expect, send) in steps {
        script.push(serde_json::json!(["expect", expect]));
        if !send.is_empty() {
            script.push(serde_json::json!(["send", send]));
        }
    }
    converse_script(script, argv)
}

/// [`converse`] with converse.py's own steps (`["expect", REGEX]`, `["send", TEXT]`,
/// `["send_totp", REGEX]`, ...), for what the pairs cannot say: `["send", ""]` answers a prompt
/// with an empty line, `send_totp` types a code from a secret the conversation showed.
pub(crate) fn converse_script(script: Vec<serde_json::Value>, argv: &[String]) -> Run {
    scripted(run_script(script, argv))
}

/// Run converse.py with `script` on `argv`, however the conversation went.
pub(crate) fn run_script(script: Vec<serde_json::Value>, argv: &[String]) -> Run {
    let json = serde_json::json!({"timeout": 30, "steps": script}).to_string();
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/converse.py");
    let out = Command::new("/usr/bin/python3")
        .arg(helper)
        .arg(json)
        .arg("--")
        .args(argv)
        .output()
        .unwrap();
    Run::of(out)
}

/// `run`, once it is known that the conversation went as scripted.
#[track_caller]
pub(crate) fn scripted(run: Run) -> Run {
    // 100: a step was not reached; 101: a `send_totp` step found no secret to compute it from.
    assert!(
        !matches!(run.code, Some(100 | 101)),
        "the conversation did not go as scripted:\n{}",
        run.out
    );
    run
}

/// A code that is certainly not `code`'s neighbour in time either.
pub(crate) fn wrong_code(secret: &str) -> String {
    wrong_code_within(secret, 1)
}

/// A code valid at none of the `steps` time steps either side of now (for an installation whose
/// `[totp] window` is wider than the default).
pub(crate) fn wrong_code_within(secret: &str, steps: i64) -> String {
    let near: Vec<String> = (-steps..=steps)
        .map(|k| oathtool_code(secret, k * 30))
        .collect();
    (0..1_000_000u32)
        .map(|n| format!("{:06}", (n * 7919 + 13) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

pub(crate) fn last_audit(install: &Install, user: &str) -> serde_json::Value {
    let v = install.tessera_json(&["audit", "--user", user, "--limit", "1"]);
    v["events"][0].clone()
}

/// A local Unix account for pam_unix, removed again when dropped.
pub(crate) struct SystemUser {
    pub name: String,
}

static ACCOUNTS: Mutex<()> = Mutex::new(());
static NEXT_USER: AtomicU32 = AtomicU32::new(0);

impl SystemUser {
    pub fn create(password: &str) -> SystemUser {
        let name = format!(
            "tessera-e2e-{}-{}",
            std::process::id() % 100_000,
            NEXT_USER.fetch_add(1, Ordering::SeqCst)
        );
        let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let exists = Command::new("id").arg(&name).output().unwrap();
        if !exists.status.success() {
            retry_locked(|| {
                Command::new("useradd")
                    .args(["-M", "-d", "/tmp", "-s", "/bin/sh"])
                    .arg(&name)
                    .output()
                    .unwrap()
            });
        }
        let out = run_with_input(
            {
                let mut c = Command::new("chpasswd");
                c.env_remove("LD_PRELOAD");
                c
            },
            &format!("{name}:{password}\n"),
        );
        assert!(out.status.success(), "chpasswd: {out:?}");
        SystemUser { name }
    }
}

/// useradd/userdel fail while another process holds /etc/passwd's lock: try again.
fn retry_locked(mut f: impl FnMut() -> Output) {
    let mut last = None;
    for _ in 0..50 {
        let out = f();
        if out.status.success() {
            return;
        }
        last = Some(out);
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("account command kept failing: {last:?}");
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..50 {
            let out = Command::new("userdel").arg(&self.name).output();
            if out.is_ok_and(|o| o.status.success() || o.status.code() == Some(6)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

// ---- the module file ------------------------------------------------------------------------

#[test]
fn pam_module_exports_only_pam_sm_symbols() {
    let out = Command::new(require("nm"))
        .args(["-D", "--defined-only"])
        .arg(pam_module())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let symbols: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let mut want = vec![
        "pam_sm_acct_mgmt",
        "pam_sm_authenticate",
        "pam_sm_chauthtok",
        "pam_sm_close_session",
        "pam_sm_open_session",
        "pam_sm_setcred",
    ];
    let mut got = symbols.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "exported symbols:\n{text}");
}

// ---- pamtester ------------------------------------------------------------------------------

#[test]
fn pamtester_accepts_a_valid_code_then_refuses_its_replay() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    let svc = Service::tessera(&t, "");
    let code = oathtool_code(&secret, 0);
    let run = svc.pamtester("alice", &format!("{code}\n"), &["rhost=198.51.100.4"]);
    run.assert_ok();
    assert!(run.out.contains("Verification code: "), "{}", run.out);
    let ev = last_audit(&t, "alice");
    assert_eq!(ev["result"], "accept", "{ev}");
    assert_eq!(ev["service"], "tessera-test", "{ev}");
    assert_eq!(ev["source"], "198.51.100.4", "{ev}");

    let run = svc.pamtester("alice", &format!("{code}\n"), &[]);
    run.assert_pam_error(AUTH_ERR);
    assert_eq!(last_audit(&t, "alice")["detail"], "replayed");
}

#[test]
fn pamtester_refuses_a_wrong_code() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    let svc = Service::tessera(&t, "");
    let run = svc.pamtester("alice", &format!("{}\n", wrong_code(&secret)), &[]);
    run.assert_pam_error(AUTH_ERR);
    assert_eq!(last_audit(&t, "alice")["detail"], "bad_code");
}

#[test]
fn pamtester_accepts_a_recovery_code_once() {
    let t = Install::new(POLICY);
    let (_, codes) = t.enroll_totp("alice");
    let svc = Service::tessera(&t, "");
    let rc = format!("{}\n", codes[0]);
    svc.pamtester("alice", &rc, &[]).assert_ok();
    assert_eq!(last_audit(&t, "alice")["method"], "recovery");
    svc.pamtester("alice", &rc, &[]).assert_pam_error(AUTH_ERR);
    // The others still work.
    svc.pamtester("alice", &format!("{}\n", codes[1]), &[])
        .assert_ok();
}

#[test]
fn pamtester_locks_out_after_repeated_failures_until_unlocked() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    let svc = Service::tessera(&t, "");
    let bad = format!("{}\n", wrong_code(&secret));
    svc.pamtester("alice", &bad, &[]).assert_pam_error(AUTH_ERR);
    svc.pamtester("alice", &bad, &[]).assert_pam_error(AUTH_ERR);
    let run = svc.pamtester("alice", &bad, &[]);
    run.assert_pam_error(AUTH_ERR);
    assert!(run.out.contains("locked for 15 minutes"), "{}", run.out);

    // Locked: the right code is refused, without a prompt, and the user is told why.
    let good = format!("{}\n", oathtool_code(&secret, 0));
    let run = svc.pamtester("alice", &good, &[]);
    run.assert_pam_error(AUTH_ERR);
    assert!(run.out.contains("locked for"), "{}", run.out);
    assert!(!run.out.contains("Verification code"), "{}", run.out);

    let out = t.tessera(&["user", "unlock", "alice"]);
    assert!(out.status.success(), "{out:?}");
    svc.pamtester("alice", &good, &[]).assert_ok();
}

#[test]
fn pamtester_nullok_ignores_unenrolled_users_never_succeeds_for_them() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    assert!(t.tessera(&["user", "add", "bob"]).status.success());
    let module = format!("{{module}} config={} nullok", t.config.display());
    // PAM_IGNORE: a `required` line followed by pam_permit lets them in...
    let permit = Service::new(&format!(
        "auth required {module}\nauth required pam_permit.so\n"
    ));
    // ...but a `sufficient` line followed by pam_deny does not: it was not PAM_SUCCESS.
    let deny = Service::new(&format!(
        "auth sufficient {module}\nauth required pam_deny.so\n"
    ));
    for user in ["bob", "carol-not-in-store"] {
        let run = permit.pamtester(user, "", &[]);
        run.assert_ok();
        assert!(!run.out.contains("Verification code"), "{}", run.out);
        deny.pamtester(user, "", &[]).assert_pam_error(AUTH_ERR);
    }
    assert_eq!(last_audit(&t, "bob")["result"], "ignore");

    // Enrolled users still need their code under nullok.
    let bad = format!("{}\n", wrong_code(&secret));
    permit
        .pamtester("alice", &bad, &[])
        .assert_pam_error(AUTH_ERR);
    let good = format!("{}\n", oathtool_code(&secret, 0));
    deny.pamtester("alice", &good, &[]).assert_ok();
}

#[test]
fn pamtester_without_nullok_prompts_unenrolled_users_and_refuses_them() {
    let t = Install::new(POLICY);
    assert!(t.tessera(&["user", "add", "bob"]).status.success());
    let svc = Service::new(&format!(
        "auth required {{module}} config={}\nauth required pam_permit.so\n",
        t.config.display()
    ));
    for user in ["bob", "carol-not-in-store"] {
        let run = svc.pamtester(user, "123456\n", &[]);
        run.assert_pam_error(AUTH_ERR);
        assert!(run.out.contains("Verification code: "), "{}", run.out);
    }
}

#[test]
fn pamtester_fails_closed_when_the_store_is_missing() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    std::fs::remove_file(t.dir.path().join("db/tessera.db")).unwrap();
    let good = format!("{}\n", oathtool_code(&secret, 0));
    for args in ["", "nullok"] {
        let svc = Service::new(&format!(
            "auth required {{module}} config={} {args}\nauth required pam_permit.so\n",
            t.config.display()
        ));
        svc.pamtester("alice", &good, &[])
            .assert_pam_error(AUTHINFO_UNAVAIL);
        svc.pamtester("bob", "", &[])
            .assert_pam_error(AUTHINFO_UNAVAIL);
    }
    // Nor did the module create an empty store.
    assert!(!t.dir.path().join("db/tessera.db").exists());
}

#[test]
fn pamtester_fails_closed_when_the_key_is_missing() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    std::fs::remove_file(t.dir.path().join("tessera.key")).unwrap();
    let svc = Service::tessera(&t, "nullok");
    svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_pam_error(AUTHINFO_UNAVAIL);
}

#[test]
fn pamtester_fails_closed_on_an_unknown_argument() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    let svc = Service::new(&format!(
        "auth required {{module}} config={} nullok no_such_option\nauth required pam_permit.so\n",
        t.config.display()
    ));
    let run = svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[]);
    run.assert_pam_error(AUTHINFO_UNAVAIL);
    assert!(!run.out.contains("Verification code"), "{}", run.out);
}

#[test]
fn pamtester_retries_a_wrong_code_within_one_conversation() {
    let t = Install::new("[policy]\nmax_tries = 3\n");
    let (secret, _) = t.enroll_totp("alice");
    let svc = Service::tessera(&t, "");
    let bad = wrong_code(&secret);
    let good = oathtool_code(&secret, 0);
    let run = svc.pamtester_pty(
        "alice",
        &[
            ("Verification code: ", &bad),
            ("Invalid code, try again.", ""),
            ("Verification code: ", &good),
            ("successfully authenticated", ""),
        ],
    );
    run.assert_ok();
}

#[test]
fn pam_leaves_no_descriptor_open_after_authenticate() {
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp("alice");
    // pam_exec runs after pam_tessera returned, as a child of pamtester: it lists the
    // descriptors pamtester still holds.
    let listing = t.dir.path().join("fds.txt");
    let script = t.dir.path().join("list-fds.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nls -l /proc/$PPID/fd/ > {}\n", listing.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let svc = Service::new(&format!(
        "auth required {{module}} config={}\nauth required pam_exec.so {}\n",
        t.config.display(),
        script.display()
    ));
    svc.pamtester("alice", &format!("{}\n", oathtool_code(&secret, 0)), &[])
        .assert_ok();
    let fds = std::fs::read_to_string(&listing).unwrap();
    assert!(fds.contains("->"), "no listing: {fds}");
    for leaked in [
        "tessera.db",
        "tessera.db-wal",
        "tessera.db-shm",
        "tessera.key",
        "socket:",
    ] {
        assert!(!fds.contains(leaked), "{leaked} still open:\n{fds}");
    }
}

#[test]
fn sudo_style_stack_needs_the_password_and_the_code() {
    let t = Install::new("[policy]\nmax_tries = 1\n[totp]\nwindow = 2\n");
    let user = SystemUser::create("Tr0ub4dor&3");
    let (secret, _) = t.enroll_totp(&user.name);
    // Debian's /etc/pam.d/sudo (@include common-auth) with pam_tessera after it.
    let svc = Service::new(&format!(
        "auth [success=1 default=ignore] pam_unix.so nodelay\n\
         auth requisite pam_deny.so\n\
         auth required pam_permit.so\n\
         auth required {{module}} config={}\n",
        t.config.display()
    ));
    let good = oathtool_code(&secret, 0);
    // Wrong password: the stack stops before pam_tessera, which never asks for (or burns) a code.
    let run = svc.pamtester_pty(
        &user.name,
        &[
            ("Password: ", "wrong password"),
            ("Authentication failure", ""),
        ],
    );
    assert!(!run.ok());
    assert!(!run.out.contains("Verification code"), "{}", run.out);
    // Right password, wrong code.
    let run = svc.pamtester_pty(
        &user.name,
        &[
            ("Password: ", "Tr0ub4dor&3"),
            ("Verification code: ", &wrong_code(&secret)),
            ("Authentication failure", ""),
        ],
    );
    assert!(!run.ok());
    // Both right.
    svc.pamtester_pty(
        &user.name,
        &[
            ("Password: ", "Tr0ub4dor&3"),
            ("Verification code: ", &good),
            ("successfully authenticated", ""),
        ],
    )
    .assert_ok();
}

#[test]
fn forward_pass_asks_once_and_hands_the_password_to_pam_unix() {
    let t = Install::new("[policy]\nmax_tries = 1\n");
    let user = SystemUser::create("c0rrect-h0rse");
    let (secret, _) = t.enroll_totp(&user.name);
    let svc = Service::new(&format!(
        "auth required {{module}} config={} forward_pass\n\
         auth required pam_unix.so use_first_pass nodelay\n",
        t.config.display()
    ));
    let code = oathtool_code(&secret, 0);
    let run = svc.pamtester(&user.name, &format!("c0rrect-h0rse{code}\n"), &[]);
    run.assert_ok();
    assert!(
        run.out.contains("Password & verification code: "),
        "{}",
        run.out
    );
    assert!(
        !run.out.contains("Password: "),
        "pam_unix asked again:\n{}",
        run.out
    );
    // The right code with the wrong password: pam_unix refuses what was handed on.
    let next = oathtool_code(&secret, 30);
    svc.pamtester(&user.name, &format!("not-it{next}\n"), &[])
        .assert_pam_error(AUTH_ERR);
}

/// /dev/log, bound for one test while no syslog daemon owns it. A thread reads every datagram
/// as it arrives: the kernel queues at most net.unix.max_dgram_qlen (10) unread datagrams, the
/// other tests' processes log here too while it is bound, and the senders are non-blocking, so
/// a line left unread for a moment could be dropped.
struct SyslogCapture {
    path: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl SyslogCapture {
    /// `None` when a syslog daemon owns /dev/log. A socket file left by a killed test run (no
    /// one behind it) is replaced.
    fn start() -> Option<SyslogCapture> {
        let path = PathBuf::from("/dev/log");
        if path.exists() {
            let probe = UnixDatagram::unbound().ok()?;
            match probe.connect(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(&path).ok()?;
                }
                _ => return None,
            }
        }
        let sock = UnixDatagram::bind(&path).ok()?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .ok()?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut lines = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    match sock.recv(&mut buf) {
                        Ok(n) => lines.push(String::from_utf8_lossy(&buf[..n]).to_string()),
                        // Stopped, and nothing more came for a while: done.
                        Err(_) if stop.load(Ordering::SeqCst) => return lines,
                        Err(_) => {}
                    }
                }
            })
        };
        Some(SyslogCapture {
            path,
            stop,
            reader: Some(reader),
        })
    }

    /// Everything received so far (and until the socket is quiet); unbinds /dev/log.
    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        let lines = self
            .reader
            .take()
            .map(|r| r.join().unwrap())
            .unwrap_or_default();
        let _ = std::fs::remove_file(&self.path);
        lines
    }
}

impl Drop for SyslogCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&self.path);
    }
}

#[test]
fn pam_logs_user_service_host_and_result_to_the_audit_log_and_syslog() {
    // A user name no other test uses: while /dev/log is bound here, every process of every
    // test that logs to syslog sends its lines here too.
    let user = "syslog-dave";
    let t = Install::new(POLICY);
    let (secret, _) = t.enroll_totp(user);
    let svc = Service::tessera(&t, "");
    let syslog = SyslogCapture::start();
    let code = oathtool_code(&secret, 0);
    let run = svc.pamtester(user, &format!("{code}\n"), &["rhost=203.0.113.9"]);
    let lines = syslog.map(SyslogCapture::finish);
    run.assert_ok();
    let ev = last_audit(&t, user);
    assert_eq!(
        (&ev["user"], &ev["service"], &ev["source"], &ev["result"]),
        (
            &serde_json::json!(user),
            &serde_json::json!("tessera-test"),
            &serde_json::json!("203.0.113.9"),
            &serde_json::json!("accept")
        )
    );
    if let Some(lines) = lines {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("user={user}")))
            .unwrap_or_else(|| panic!("no syslog line for {user} in {lines:?}"));
        // authpriv (10) * 8 + notice (5) = 85.
        assert!(line.starts_with("<85>"), "{line}");
        assert!(line.contains("pam_tessera["), "{line}");
        assert!(
            line.contains(&format!(
                "service=tessera-test user={user} source=203.0.113.9 result=accept"
            )),
            "{line}"
        );
        assert!(!line.contains(&code), "{line}");
    }
}

#[test]
fn concurrent_logins_share_one_store_and_a_code_is_accepted_once() {
    let t = Install::new("[policy]\nmax_tries = 1\nmax_failures = 100\n");
    let users: Vec<(String, String)> = (0..8)
        .map(|i| {
            let name = format!("user{i}");
            let (secret, _) = t.enroll_totp(&name);
            (name, secret)
        })
        .collect();
    let svc = Service::tessera(&t, "");

    // Eight users at the same time: all get in.
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = users
            .iter()
            .map(|(name, secret)| {
                let input = format!("{}\n", oathtool_code(secret, 0));
                let svc = &svc;
                s.spawn(move || svc.pamtester(name, &input, &[]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &runs {
        r.assert_ok();
    }

    // Eight processes race with one user's one code: exactly one gets in.
    let (secret, _) = t.enroll_totp("racer");
    let input = format!("{}\n", oathtool_code(&secret, 0));
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| svc.pamtester("racer", &input, &[])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let accepted = runs.iter().filter(|r| r.ok()).count();
    let outputs: Vec<&str> = runs.iter().map(|r| r.out.as_str()).collect();
    assert_eq!(accepted, 1, "{outputs:#?}");
    for r in runs.iter().filter(|r| !r.ok()) {
        r.assert_pam_error(AUTH_ERR);
    }
}

/// Issue 9, defect 2: `forward_pass` refused the right code of a user enrolled with `--digits 8`
/// while the configuration's default is 6.
#[test]
fn forward_pass_takes_an_eight_digit_code_whatever_the_configured_length() {
    let t = Install::new("[policy]\nmax_tries = 1\n");
    let user = SystemUser::create("c0rrect-h0rse");
    let (secret, _) = t.enroll_totp_with(&user.name, &["--digits", "8"]);
    let svc = Service::new(&format!(
        "auth required {{module}} config={} forward_pass\n\
         auth required pam_unix.so use_first_pass nodelay\n",
        t.config.display()
    ));
    let code = tessera_tests::oathtool_code_digits(&secret, 0, 8);
    assert_eq!(code.len(), 8);
    let run = svc.pamtester(&user.name, &format!("c0rrect-h0rse{code}\n"), &[]);
    run.assert_ok();
}

/// The same through `try_first_pass`: PAM_AUTHTOK (here set by pam_unix, which prompted for it)
/// holds the password followed by the 8-digit code.
#[test]
fn try_first_pass_takes_an_eight_digit_code_from_the_authtok() {
    let t = Install::new("[policy]\nmax_tries = 1\n");
    let user = SystemUser::create("c0rrect-h0rse");
    let (secret, _) = t.enroll_totp_with(&user.name, &["--digits", "8"]);
    let svc = Service::new(&format!(
        "auth optional pam_unix.so nodelay\n\
         auth required {{module}} config={} try_first_pass\n",
        t.config.display()
    ));
    let code = tessera_tests::oathtool_code_digits(&secret, 0, 8);
    let run = svc.pamtester(&user.name, &format!("c0rrect-h0rse{code}\n"), &[]);
    run.assert_ok();
    assert!(
        !run.out.contains("Verification code"),
        "the code came from PAM_AUTHTOK, nothing more was asked:\n{}",
        run.out
    );
}
