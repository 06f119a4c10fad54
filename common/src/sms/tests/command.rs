//! The command gateway against real scripts in a root-owned temporary directory.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::NUMBER;
use crate::config::CommandGateway;
use crate::sms::{CommandTexter, Exit, SmsError, Texter};

fn running_as_root() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("SKIPPED: the command gateway tests make root-owned scripts; run them as root");
    }
    root
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory of root's (0755) with one script, `send`, that may write to `record`.
struct Setup {
    scripts: tempfile::TempDir,
    record: tempfile::TempDir,
}

impl Setup {
    /// `body` is the script after its `#!/bin/sh` line; `REC` in it names the record directory.
    fn new(body: &str) -> Setup {
        let scripts = tempfile::tempdir().unwrap();
        let record = tempfile::tempdir().unwrap();
        std::os::unix::fs::lchown(scripts.path(), Some(0), Some(0)).unwrap();
        chmod(scripts.path(), 0o755);
        let script = scripts.path().join("send");
        let text = format!(
            "#!/bin/sh\n{}\n",
            body.replace("REC", &record.path().display().to_string())
        );
        std::fs::write(&script, text).unwrap();
        std::os::unix::fs::lchown(&script, Some(0), Some(0)).unwrap();
        chmod(&script, 0o755);
        Setup { scripts, record }
    }

    fn script(&self) -> PathBuf {
        self.scripts.path().join("send")
    }

    fn gateway(&self) -> CommandGateway {
        CommandGateway {
            dir: self.scripts.path().to_path_buf(),
            name: "send".into(),
        }
    }

    fn texter(&self, timeout: Duration) -> CommandTexter {
        CommandTexter::new(&self.gateway(), timeout).unwrap()
    }

    fn recorded(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.record.path().join(name)).ok()
    }
}

const RECORDER: &str =
    "printf '%s' \"$1\" > REC/arg\nprintf '%s' \"$#\" > REC/argc\ncat > REC/stdin\nenv > REC/env";

#[test]
fn the_command_gets_the_number_the_message_and_nothing_of_our_environment() {
    if !running_as_root() {
        return;
    }
    let s = Setup::new(RECORDER);
    let message = "123456 is your code.\n'quotes' \"and\" $HOME `ls` ünï ✓";
    s.texter(Duration::from_secs(10))
        .send(NUMBER, message)
        .unwrap();
    assert_eq!(s.recorded("arg").as_deref(), Some(NUMBER));
    assert_eq!(s.recorded("argc").as_deref(), Some("1"));
    assert_eq!(s.recorded("stdin").unwrap(), format!("{message}\n"));
    let env = s.recorded("env").unwrap();
    let mut names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    names.sort_unstable();
    // The shell itself adds PWD (it is `/`); nothing else of this test process's environment
    // (HOME, CARGO_*, RUST_*) reaches the command.
    names.retain(|n| *n != "PWD");
    assert_eq!(names, ["LANG", "PATH"], "{env}");
    assert!(
        env.contains("PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"),
        "{env}"
    );
    assert!(env.contains("LANG=C\n"), "{env}");
    assert!(!env.contains("PWD=") || env.contains("PWD=/\n"), "{env}");
}

#[test]
fn a_failing_command_is_told_with_its_status_and_first_line_of_stderr() {
    if !running_as_root() {
        return;
    }
    let s = Setup::new(
        "cat > /dev/null\necho \"gateway said: no credit for $1\" >&2\necho second line >&2\nexit 3",
    );
    let e = s
        .texter(Duration::from_secs(10))
        .send(NUMBER, "123456 is your code")
        .unwrap_err();
    let SmsError::CommandFailed { exit, stderr, path } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*exit, Exit::Code(3));
    assert_eq!(stderr, &format!("gateway said: no credit for {NUMBER}"));
    assert_eq!(path, &s.script());
    assert_eq!(e.category(), "command_exit_3");
    let text = e.to_string();
    assert!(
        text.contains("exit status 3") && !text.contains("123456"),
        "{text}"
    );
    // A command killed by a signal, with only standard output to show.
    let s = Setup::new("echo 'on stdout \u{1b}[31m'\nkill -TERM $$");
    let e = s
        .texter(Duration::from_secs(10))
        .send(NUMBER, "x")
        .unwrap_err();
    assert!(
        matches!(&e, SmsError::CommandFailed { exit: Exit::Signal(15), stderr, .. }
            if stderr == "on stdout \\u{1b}[31m"),
        "{e:?}"
    );
}

/// The processes in group `pgid` that still run (zombies left to an init that does not reap
/// are dead).
fn running_in_group(pgid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.get(2) == Some(&pgid.to_string().as_str()) && fields[0] != "Z" {
            found.push(stat);
        }
    }
    found
}

#[test]
fn a_hanging_command_is_killed_with_its_group_at_the_timeout_and_reaped() {
    if !running_as_root() {
        return;
    }
    let s = Setup::new("echo $$ > REC/pid\nsleep 30 &\nsleep 30\necho done > REC/done");
    let started = Instant::now();
    let e = s
        .texter(Duration::from_secs(1))
        .send(NUMBER, "123456")
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, SmsError::Timeout { .. }), "{e:?}");
    assert_eq!(e.category(), "timeout");
    assert!(e.to_string().contains("[sms] timeout"), "{e}");
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} with timeout = 1s"
    );
    let pid: u32 = s.recorded("pid").unwrap().trim().parse().unwrap();
    // Reaped: no zombie of ours (a zombie child would still have its /proc entry).
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the command {pid} is still there"
    );
    let until = Instant::now() + Duration::from_secs(2);
    while !running_in_group(pid).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(running_in_group(pid), Vec::<String>::new());
    assert_eq!(s.recorded("done"), None);
}

#[test]
fn a_command_that_leaves_a_child_holding_its_output_still_returns_at_once() {
    if !running_as_root() {
        return;
    }
    // The background sleep keeps stdout and stderr open; it goes with the command's group.
    let s = Setup::new("cat > /dev/null\nhead -c 200000 /dev/zero\nsleep 30 &\nexit 0");
    let started = Instant::now();
    s.texter(Duration::from_secs(10))
        .send(NUMBER, "123456")
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_command_others_could_change_is_refused_and_never_run() {
    if !running_as_root() {
        return;
    }
    let check = |s: &Setup, says: &str| {
        let e = CommandTexter::new(&s.gateway(), Duration::from_secs(5))
            .err()
            .unwrap_or_else(|| panic!("accepted, wanted {says:?}"));
        assert!(matches!(e, SmsError::Unusable { .. }), "{e:?}");
        assert_eq!(e.category(), "gateway_unusable");
        let text = e.to_string();
        assert!(text.contains(says), "{text}");
        assert!(text.contains(&s.script().display().to_string()), "{text}");
        assert_eq!(s.recorded("ran"), None, "the script ran");
    };
    let ran = "touch REC/ran";

    let s = Setup::new(ran);
    chmod(&s.script(), 0o775);
    check(&s, "is writable by group or others (mode 0775)");

    let s = Setup::new(ran);
    chmod(&s.script(), 0o757);
    check(&s, "is writable by group or others (mode 0757)");

    let s = Setup::new(ran);
    chmod(s.scripts.path(), 0o775);
    check(&s, "directory");
    // Sticky does not make the command's own directory safe: anyone could add a name.
    chmod(s.scripts.path(), 0o1777);
    check(&s, "mode 1777");

    let s = Setup::new(ran);
    std::os::unix::fs::lchown(s.script(), Some(1234), None).unwrap();
    check(&s, "owned by uid 1234, not root");

    let s = Setup::new(ran);
    std::os::unix::fs::lchown(s.scripts.path(), Some(1234), None).unwrap();
    check(&s, "owned by uid 1234, not root");

    let s = Setup::new(ran);
    chmod(&s.script(), 0o644);
    check(&s, "is not executable");

    let s = Setup::new(ran);
    std::fs::remove_file(s.script()).unwrap();
    check(&s, "does not exist");

    // A link, even root's to root's program, is not followed.
    let s = Setup::new(ran);
    let real = s.scripts.path().join("real");
    std::fs::rename(s.script(), &real).unwrap();
    symlink(&real, s.script()).unwrap();
    check(&s, "symbolic link");

    // The check holds at each send, not only when the texter was made.
    let s = Setup::new(ran);
    let texter = s.texter(Duration::from_secs(5));
    chmod(&s.script(), 0o777);
    let e = texter.send(NUMBER, "123456").unwrap_err();
    assert!(matches!(e, SmsError::Unusable { .. }), "{e:?}");
    assert_eq!(s.recorded("ran"), None, "the script ran");
    chmod(&s.script(), 0o755);
    texter.send(NUMBER, "123456").unwrap();
    assert_eq!(s.recorded("ran").as_deref(), Some(""));
}

#[test]
fn a_number_that_is_not_e164_never_reaches_the_command() {
    if !running_as_root() {
        return;
    }
    let s = Setup::new(RECORDER);
    let texter = s.texter(Duration::from_secs(5));
    for bad in [
        "--help",
        "-e",
        "447700900123",
        "+44 7700 900123",
        "+44;reboot",
    ] {
        let e = texter.send(bad, "123456").unwrap_err();
        assert_eq!(e.category(), "invalid_number", "{bad}");
    }
    assert_eq!(s.recorded("arg"), None);
}

#[test]
fn the_configured_command_directory_is_the_fixed_one_and_checked() {
    if !running_as_root() {
        return;
    }
    let cfg = super::command_config("");
    let e = crate::sms::texter_from_config(&cfg, None)
        .err()
        .expect("no /usr/lib/tessera/sms/send on a build machine");
    let text = e.to_string();
    assert!(text.contains("/usr/lib/tessera/sms/send"), "{text}");
}
