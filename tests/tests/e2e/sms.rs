//! Texted codes through the built binaries: `gateway = "command"` with scripts of root's in a
//! private directory (`TESSERA_SMS_COMMAND_DIR`, honoured by debug builds) that record what
//! they were given, and `gateway = "http"` against tests/scripts/http_gateway.py on 127.0.0.1.
//! The test reads each code from what the gateway received, as the phone's owner would.

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tessera_tests::{Install, oathtool_code, run_with_input};

use crate::pam::{AUTH_ERR, POLICY, Service, last_audit};

pub(crate) const NUMBER: &str = "+447700900123";
pub(crate) const MASKED: &str = "+44*******123";
pub(crate) const SMS_FAILED: &str = "Could not send a code by text message; try another method.";
/// What the failing gateway says on its standard error: it quotes the number, as real ones do.
pub(crate) const GATEWAY_SAID: &str = "gw-refused-7f3a: no route to +447700900123";
const SENT_PROMPT: &str = "A code was sent to +44*******123. Code: ";

/// One run of a gateway command: which script, its argument count, number and message.
#[derive(Debug, Clone)]
pub(crate) struct Text {
    pub command: String,
    pub args: usize,
    pub number: String,
    pub message: String,
}

impl Text {
    /// The code: the word of the message that is six digits.
    pub fn code(&self) -> String {
        code_in(&self.message)
    }
}

pub(crate) fn code_in(message: &str) -> String {
    message
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no 6-digit code in the text {message:?}"))
}

/// A directory of root's (the tests run as root), mode 0700, named by
/// `TESSERA_SMS_COMMAND_DIR`, holding three gateway commands that each append a line to
/// `texts.log` (script, argument count, number, message):
/// `record` exits 0; `fail` prints [`GATEWAY_SAID`] on stderr and exits 1; `hang` starts a
/// `sleep 60` in its group (its pid appended to `sleepers`) and waits for it.
pub(crate) struct Commands {
    dir: tempfile::TempDir,
}

impl Commands {
    pub fn new() -> Commands {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let record = |name: &str| {
            format!(
                "msg=$(cat)\nprintf '{name}\\t%s\\t%s\\t%s\\n' \"$#\" \"$1\" \"$msg\" >> {d}/texts.log\n"
            )
        };
        let scripts = [
            ("record", record("record")),
            (
                "fail",
                format!("{}echo '{GATEWAY_SAID}' >&2\nexit 1\n", record("fail")),
            ),
            (
                "hang",
                format!(
                    "{}sleep 60 &\necho $! >> {d}/sleepers\nwait\n",
                    record("hang")
                ),
            ),
        ];
        for (name, body) in scripts {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Commands { dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `TESSERA_SMS_COMMAND_DIR=...`, for env(1) (pamtester).
    pub fn env_arg(&self) -> String {
        format!("TESSERA_SMS_COMMAND_DIR={}", self.dir().display())
    }

    /// Every run so far, oldest first (only whole lines: a run still writing is left out).
    pub fn texts(&self) -> Vec<Text> {
        let log = std::fs::read_to_string(self.dir().join("texts.log")).unwrap_or_default();
        let whole = match log.rfind('\n') {
            Some(end) => &log[..end],
            None => "",
        };
        whole
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(4, '\t').collect();
                assert_eq!(f.len(), 4, "a record line of four fields: {l:?}");
                Text {
                    command: f[0].to_string(),
                    args: f[1].parse().unwrap(),
                    number: f[2].to_string(),
                    message: f[3].to_string(),
                }
            })
            .collect()
    }

    /// Wait (up to 20 s) for at least `n` runs; returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Text> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let t = self.texts();
            if t.len() >= n {
                return t;
            }
            assert!(Instant::now() < deadline, "no run number {n}: {t:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pids of the `sleep 60` the `hang` command started.
    pub fn sleepers(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir().join("sleepers"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    }

    /// `tessera ARGS` on `t` with this directory, `input` on its stdin.
    pub fn cli_with_input(&self, t: &Install, args: &[&str], input: &str) -> Output {
        let mut cmd = t.tessera_command(args);
        cmd.env("TESSERA_SMS_COMMAND_DIR", self.dir());
        run_with_input(cmd, input)
    }

    /// `tessera --json ARGS`, parsed; panics with stderr when it fails.
    pub fn cli_json(&self, t: &Install, args: &[&str], input: &str) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.cli_with_input(t, &all, input);
        assert!(out.status.success(), "tessera {args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Is `pid` a live process running `sleep`? (A zombie is not: PID 1 here may never reap the
/// orphan of a killed group.)
pub(crate) fn sleeping(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    !state.starts_with(['Z', 'X']) && String::from_utf8_lossy(&cmdline).contains("sleep")
}

/// `[sms]` with the command gateway running `command`, plus `extra` keys.
pub(crate) fn command_config(command: &str, extra: &str) -> String {
    format!("[sms]\ngateway = \"command\"\ncommand = \"{command}\"\n{extra}\n")
}

/// Point the installation's `[sms]` at another command of the directory.
pub(crate) fn use_command(t: &Install, command: &str) {
    let text = std::fs::read_to_string(&t.config).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("command = ") {
                format!("command = \"{command}\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&t.config, text.join("\n") + "\n").unwrap();
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Enroll [`NUMBER`] for an existing `user` with `tessera enroll sms` (not at a terminal: the
/// factor stays pending) and confirm it with `tessera factor confirm` reading the texted code
/// from stdin. Returns the factor id and the recovery codes the confirmation printed.
pub(crate) fn enroll_sms(t: &Install, cmds: &Commands, user: &str) -> (i64, Vec<String>) {
    let before = cmds.texts().len();
    let en = cmds.cli_json(t, &["enroll", "sms", user, "--phone", NUMBER], "");
    assert_eq!(en["status"], "pending", "{en}");
    let code = cmds.wait_for(before + 1)[before].code();
    let id = en["factor_id"].as_i64().unwrap();
    let c = cmds.cli_json(t, &["factor", "confirm", user, &id.to_string()], &code);
    assert_eq!(c["status"], "active", "{c}");
    let codes = c["recovery_codes"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    (id, codes)
}

/// `tessera factor prefer USER ID` for the user's first factor of `kind`.
pub(crate) fn prefer(t: &Install, user: &str, kind: &str) {
    let factors = t.tessera_json(&["factor", "list", user]);
    let id = factors["factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} factor: {factors}"))["id"]
        .as_i64()
        .unwrap();
    let out = t.tessera(&["factor", "prefer", user, &id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn type_line(stdin: &mut ChildStdin, line: &str) {
    stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
}

fn audit_text(t: &Install, user: &str) -> String {
    t.tessera_json(&["audit", "--user", user, "--limit", "50"])
        .to_string()
}

// ---- CLI ------------------------------------------------------------------------------------

#[test]
fn sms_cli_enroll_texts_a_code_and_confirm_activates_with_recovery_codes() {
    let cmds = Commands::new();
    let t = Install::new(&command_config("record", "min_interval = \"0s\""));
    let out = t.tessera(&["user", "add", "alice", "--phone", NUMBER]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Not at a terminal: the code is texted and the factor left pending.
    let en = cmds.cli_json(&t, &["enroll", "sms", "alice"], "");
    assert_eq!(en["status"], "pending", "{en}");
    assert_eq!(en["phone"], NUMBER, "{en}");
    let texts = cmds.wait_for(1);
    assert_eq!(texts.len(), 1, "{texts:?}");
    let text = &texts[0];
    assert_eq!(
        (text.command.as_str(), text.args, text.number.as_str()),
        ("record", 1, NUMBER),
        "the number, as the only argument: {text:?}"
    );
    let code = text.code();
    assert!(text.message.contains("login code"), "{text:?}");
    let id = en["factor_id"].as_i64().unwrap().to_string();
    let listed = t.tessera_json(&["factor", "list", "alice"]);
    assert_eq!(listed["factors"][0]["kind"], "sms", "{listed}");
    assert_eq!(listed["factors"][0]["status"], "pending", "{listed}");

    // A wrong code confirms nothing.
    let wrong = crate::radius::wrong(&code);
    let out = cmds.cli_with_input(&t, &["factor", "confirm", "alice", &id], &wrong);
    assert!(!out.status.success(), "a wrong code confirmed the factor");
    let listed = t.tessera_json(&["factor", "list", "alice"]);
    assert_eq!(listed["factors"][0]["status"], "pending", "{listed}");

    // The texted code, read from stdin: active, and the first factor brings recovery codes.
    let out = cmds.cli_with_input(&t, &["factor", "confirm", "alice", &id], &code);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        printed.contains(&format!("factor {id} of alice is active")),
        "{printed}"
    );
    assert!(printed.contains("Recovery codes"), "{printed}");
    let codes = printed
        .lines()
        .skip_while(|l| !l.starts_with("Recovery codes"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(codes, 10, "{printed}");
    let listed = t.tessera_json(&["factor", "list", "alice"]);
    assert_eq!(listed["factors"][0]["kind"], "sms", "{listed}");
    assert_eq!(listed["factors"][0]["status"], "active", "{listed}");
    let out = t.tessera(&["factor", "list", "alice"]);
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        line.contains(&format!("{id}  sms    active")) && line.contains(NUMBER),
        "{line}"
    );
    assert_eq!(cmds.texts().len(), 1, "confirming texts nothing");
    assert!(!audit_text(&t, "alice").contains(&code), "no code audited");
}

// ---- PAM ------------------------------------------------------------------------------------

#[test]
fn sms_pam_only_factor_is_texted_at_once_and_the_code_works_once() {
    let cmds = Commands::new();
    let t = Install::new(&format!(
        "{}\n{POLICY}",
        command_config("record", "min_interval = \"0s\"")
    ));
    assert!(t.tessera(&["user", "add", "alice"]).status.success());
    enroll_sms(&t, &cmds, "alice");
    let svc = Service::tessera(&t, "").with_env(&[&cmds.env_arg()]);

    let before = cmds.texts().len();
    let mut code = String::new();
    let run = svc.pamtester_talking("alice", &[], |stdin| {
        // Nothing typed yet: the module texted the code before asking.
        let texts = cmds.wait_for(before + 1);
        assert_eq!(texts[before].number, NUMBER);
        code = texts[before].code();
        type_line(stdin, &code);
    });
    run.assert_ok();
    assert!(run.out.contains(SENT_PROMPT), "{}", run.out);
    assert!(!run.out.contains(&code), "the code is not echoed");
    assert_eq!(cmds.texts().len(), before + 1, "exactly one text");
    let ev = last_audit(&t, "alice");
    assert_eq!(
        (&ev["result"], &ev["method"]),
        (&"accept".into(), &"sms".into()),
        "{ev}"
    );

    // The next login texts a fresh code; the spent one is refused.
    let run = svc.pamtester_talking("alice", &[], |stdin| {
        cmds.wait_for(before + 2);
        type_line(stdin, &code);
    });
    run.assert_pam_error(AUTH_ERR);
    assert_eq!(last_audit(&t, "alice")["result"], "reject");
    assert_ne!(cmds.texts()[before + 1].code(), code, "a fresh code");
    let audit = audit_text(&t, "alice");
    assert!(audit.contains(&format!("code sent to {MASKED}")), "{audit}");
    assert!(!audit.contains(NUMBER) && !audit.contains(&code), "{audit}");
}

/// tests/scripts/http_gateway.py on 127.0.0.1, answering 200 "OK"; stops when dropped.
struct HttpGateway {
    port: u16,
    record: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl HttpGateway {
    fn start() -> HttpGateway {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("requests.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/http_gateway.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(&record)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .expect("http_gateway.py prints its port");
        HttpGateway {
            port,
            record,
            child,
            _dir: dir,
        }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.requests();
            if r.len() >= n {
                return r;
            }
            assert!(Instant::now() < deadline, "no request number {n}: {r:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HttpGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sms_pam_http_gateway_texts_on_request_when_totp_is_preferred() {
    let gw = HttpGateway::start();
    let t = Install::new(&format!(
        "[sms]\ngateway = \"http\"\nurl = \"http://127.0.0.1:{}/send\"\nbody = \"form\"\n\
         template = {{ To = \"{{number}}\", Body = \"{{message}}\" }}\nmin_interval = \"0s\"\n\n{POLICY}",
        gw.port
    ));
    let (secret, _) = t.enroll_totp("bob");
    let out = t.tessera(&["user", "modify", "bob", "--phone", NUMBER]);
    assert!(out.status.success(), "{}", stderr(&out));
    let en = t.tessera_json(&["enroll", "sms", "bob"]);
    let code = code_in(gw.wait_for(1)[0]["form"]["Body"][0].as_str().unwrap());
    let id = en["factor_id"].as_i64().unwrap().to_string();
    let c = t.tessera_json(&["factor", "confirm", "bob", &id, "--code", &code]);
    assert_eq!(c["status"], "active");
    prefer(&t, "bob", "totp");
    let svc = Service::tessera(&t, "");

    let run = svc.pamtester_talking("bob", &[], |stdin| {
        type_line(stdin, "sms");
        let code = code_in(gw.wait_for(2)[1]["form"]["Body"][0].as_str().unwrap());
        type_line(stdin, &code);
    });
    run.assert_ok();
    // TOTP is preferred: the first prompt offers a text instead of sending one.
    assert!(
        run.out.contains("to get one by text message"),
        "{}",
        run.out
    );
    assert!(run.out.contains(SENT_PROMPT), "{}", run.out);
    let requests = gw.requests();
    assert_eq!(requests.len(), 2, "one text on request: {requests:?}");
    let r = &requests[1];
    assert_eq!(
        (&r["method"], &r["path"]),
        (&"POST".into(), &"/send".into())
    );
    let body = r["body"].as_str().unwrap();
    assert!(body.contains("To=%2B447700900123"), "urlencoded: {body}");
    assert_eq!(r["form"]["To"], serde_json::json!([NUMBER]), "{r}");
    let message = r["form"]["Body"][0].as_str().unwrap();
    assert!(message.contains("login code"), "{message}");
    assert_eq!(last_audit(&t, "bob")["method"], "sms");

    // Control: the authenticator's code alone texts nothing.
    let run = svc.pamtester("bob", &format!("{}\n", oathtool_code(&secret, 0)), &[]);
    run.assert_ok();
    assert_eq!(gw.requests().len(), 2, "no text for a TOTP login");
    assert_eq!(last_audit(&t, "bob")["method"], "totp");
}

/// E-mail and SMS share one outstanding code: asking for a text just after a code was mailed
/// sends nothing, and the user is told where the live code went (the mail), not the phone.
#[test]
fn sms_asking_for_a_text_after_a_mail_names_where_the_code_went() {
    use tessera_tests::{SmtpMode, SmtpServer, code_in_mail};
    let smtp = SmtpServer::start(SmtpMode::Plain);
    let cmds = Commands::new();
    let t = Install::new(&format!(
        "{}\n{}\n{POLICY}",
        smtp.config("min_interval = \"0s\""),
        command_config("record", "min_interval = \"60s\"")
    ));
    let out = t.tessera(&["user", "add", "erin", "--email", "erin@example.com"]);
    assert!(out.status.success(), "{out:?}");
    crate::email::enroll_email(&t, &smtp, "erin", "erin@example.com");
    enroll_sms(&t, &cmds, "erin");
    prefer(&t, "erin", "email");
    let svc = Service::tessera(&t, "").with_env(&[&cmds.env_arg()]);
    let (mails, texts) = (smtp.messages().len(), cmds.texts().len());
    let run = svc.pamtester_talking("erin", &[], |stdin| {
        let code = code_in_mail(&smtp.wait_for(mails + 1));
        stdin.write_all(b"sms\n").unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        stdin.write_all(format!("{code}\n").as_bytes()).unwrap();
    });
    assert_eq!(cmds.texts().len(), texts, "no text");
    assert!(
        !run.out.contains("A code was sent to +44*******123"),
        "told a text was sent when the code was mailed:\n{}",
        run.out
    );
    assert!(
        run.out
            .contains("A code was sent to e***@example.com a moment ago"),
        "{}",
        run.out
    );
}
