//! The `tessera` CLI, run as a sysadmin would, on a temporary installation.

use std::process::{Command, Output, Stdio};

use tessera_tests::{Install, bin, oathtool_code};

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A code that is certainly not `code` (last digit changed).
fn wrong(code: &str) -> String {
    let mut c: Vec<u8> = code.bytes().collect();
    let last = c.len() - 1;
    c[last] = b'0' + (c[last] - b'0' + 1) % 10;
    String::from_utf8(c).unwrap()
}

#[test]
fn cli_totp_lifecycle_with_replay_recovery_and_lockout() {
    // A wider window so several distinct future codes are valid during the test.
    let t = Install::new("[totp]\nwindow = 3\n");
    ok(&t.tessera(&["user", "add", "alice"]));
    let en = t.tessera_json(&["enroll", "totp", "alice"]);
    assert_eq!(
        en["status"], "pending",
        "stdin is not a terminal: stays pending"
    );
    let secret = en["secret"].as_str().unwrap().to_string();
    let fid = en["factor_id"].as_i64().unwrap().to_string();
    assert!(
        en["uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Tessera:alice@")
    );
    assert!(en.get("recovery_codes").is_none_or(|v| v.is_null()));

    // A pending factor cannot log in.
    let out = t.tessera(&["verify", "alice", "--code", &oathtool_code(&secret, 0)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // Confirm with a code computed by oathtool (independent implementation).
    let confirming = oathtool_code(&secret, 0);
    let conf = t.tessera_json(&["factor", "confirm", "alice", &fid, "--code", &confirming]);
    assert_eq!(conf["status"], "active");
    let codes: Vec<String> = conf["recovery_codes"]
        .as_array()
        .expect("first active factor brings recovery codes")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);

    // The confirming code is used up (the same code, not a fresh one: a 30-second boundary may
    // have passed since); the next step's code logs in once.
    let out = t.tessera(&["--json", "verify", "alice", "--code", &confirming]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "replayed");
    let next = oathtool_code(&secret, 30);
    let v = t.tessera_json(&["verify", "alice", "--code", &next]);
    assert_eq!(v["result"], "accept");
    assert_eq!(v["method"], "totp");
    let out = t.tessera(&["--json", "verify", "alice", "--code", &next]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "replayed");

    // A recovery code works once, typed in capitals with spaces.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let v = t.tessera_json(&["verify", "alice", "--code", &typed]);
    assert_eq!(v["method"], "recovery");
    assert_eq!(v["recovery_codes_left"], 9);
    assert_eq!(
        t.tessera(&["verify", "alice", "--code", &codes[0]])
            .status
            .code(),
        Some(1)
    );

    // Five wrong codes lock the user...
    let later = oathtool_code(&secret, 60);
    for _ in 0..5 {
        assert_eq!(
            t.tessera(&["verify", "alice", "--code", &wrong(&later)])
                .status
                .code(),
            Some(1)
        );
    }
    // ...and a correct code is refused while locked, with the reason said.
    let out = t.tessera(&["--json", "verify", "alice", "--code", &later]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "locked_out");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("locked for 15 minutes"),
        "{v}"
    );
    let shown = t.tessera_json(&["user", "show", "alice"]);
    assert_eq!(shown["lock"]["locked"], true);

    ok(&t.tessera(&["user", "unlock", "alice"]));
    let v = t.tessera_json(&["verify", "alice", "--code", &later]);
    assert_eq!(
        v["result"], "accept",
        "the code was not consumed while locked"
    );

    // Every decision is in the audit log, without codes.
    let audit = t.tessera_json(&["audit", "--user", "alice", "--limit", "100"]);
    let events = audit["events"].as_array().unwrap();
    assert!(events.iter().filter(|e| e["result"] == "accept").count() >= 3);
    let text = audit.to_string();
    for secretish in [&secret, &next, &later, &codes[0]] {
        assert!(
            !text.contains(secretish.as_str()),
            "audit leaks {secretish}"
        );
    }
}

#[test]
fn cli_database_holds_no_secret_or_code_in_clear() {
    let t = Install::new("");
    let (secret, codes) = t.enroll_totp("alice");
    assert_eq!(codes.len(), 10);
    let raw_secret = base32_decode(&secret);
    let dbdir = t.dir.path().join("db");
    let mut haystack = Vec::new();
    for entry in std::fs::read_dir(&dbdir).unwrap() {
        // The main file, the WAL and the shared-memory index.
        haystack.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(haystack.len() > 4096);
    let contains = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(secret.as_bytes()), "base32 secret in clear");
    assert!(!contains(secret.to_lowercase().as_bytes()));
    assert!(!contains(&raw_secret), "raw secret in clear");
    for c in &codes {
        assert!(!contains(c.as_bytes()), "recovery code {c} in clear");
        assert!(!contains(c.replace('-', "").as_bytes()));
    }
    // And the files are private.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dbdir.join("tessera.db")), 0o600);
    assert_eq!(mode(&dbdir), 0o700);
    assert_eq!(mode(&t.dir.path().join("tessera.key")), 0o600);
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = A.iter().position(|&x| x == c).unwrap() as u32;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

#[test]
fn cli_imports_a_google_authenticator_file() {
    let t = Install::new("");
    let file = t.dir.path().join("google_authenticator");
    // A fixed test secret (80 bits, as google-authenticator makes them) and two scratch codes.
    let secret = "JBSWY3DPEHPK3PXP";
    std::fs::write(
        &file,
        format!("{secret}\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n11223344\n55667788\n"),
    )
    .unwrap();
    let r = t.tessera_json(&[
        "import",
        "google-authenticator",
        file.to_str().unwrap(),
        "--user",
        "gauser",
    ]);
    assert_eq!(r["user_created"], true);
    assert_eq!(r["scratch_codes"], 2);
    assert_eq!(r["window"], 1);
    assert!(
        r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("RATE_LIMIT"))
    );

    let v = t.tessera_json(&["verify", "gauser", "--code", &oathtool_code(secret, 0)]);
    assert_eq!(v["result"], "accept");
    let v = t.tessera_json(&["verify", "gauser", "--code", "11223344"]);
    assert_eq!(v["method"], "recovery");
    assert_eq!(
        t.tessera(&["verify", "gauser", "--code", "11223344"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        t.tessera_json(&["verify", "gauser", "--code", "5566-7788"])["result"],
        "accept"
    );

    // HOTP files are refused with a clear message, and nothing is created.
    let hotp = t.dir.path().join("hotp");
    std::fs::write(&hotp, format!("{secret}\n\" HOTP_COUNTER 1\n12345678\n")).unwrap();
    let out = t.tessera(&[
        "import",
        "google-authenticator",
        hotp.to_str().unwrap(),
        "--user",
        "hotpuser",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("HOTP"), "{}", stderr(&out));
    assert_eq!(
        t.tessera(&["user", "show", "hotpuser"]).status.code(),
        Some(3)
    );
}

#[test]
fn cli_concurrent_processes_accept_one_code_exactly_once() {
    let t = Install::new("[policy]\nmax_failures = 100\n");
    let (secret, _) = t.enroll_totp("alice");
    let code = oathtool_code(&secret, 0);
    let children: Vec<_> = (0..12)
        .map(|_| {
            t.tessera_command(&["--json", "verify", "alice", "--code", &code])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let accepted = outs.iter().filter(|o| o.status.success()).count();
    for o in &outs {
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "an error escaped: {}",
            stderr(o)
        );
        assert!(!stderr(o).contains("locked"), "{}", stderr(o));
    }
    assert_eq!(accepted, 1, "exactly one process wins");
    let replays = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("\"replayed\""))
        .count();
    assert_eq!(replays, 11);
}

#[test]
fn cli_bad_input_gets_clear_errors_and_changes_nothing() {
    let t = Install::new("");
    let (secret, _) = t.enroll_totp("alice");

    for (args, needle) in [
        (vec!["user", "add", "a/b"], "'/'"),
        (vec!["user", "add", ""], "empty"),
        (vec!["user", "add", "alice"], "already exists"),
        (vec!["user", "show", "nobody"], "no user named \"nobody\""),
        (
            vec!["factor", "remove", "alice", "99"],
            "no factor with id 99",
        ),
        (
            vec!["enroll", "totp", "alice", "--digits", "9"],
            "--digits 9",
        ),
        (
            vec!["user", "add", "bob", "--email", "not-an-address"],
            "e-mail",
        ),
        (
            vec!["recovery", "generate", "alice", "--count", "0"],
            "--count 0",
        ),
    ] {
        let out = t.tessera(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    let long = "x".repeat(257);
    assert!(stderr(&t.tessera(&["user", "add", &long])).contains("256 bytes"));

    // A wrong-length or non-numeric confirmation code names the problem.
    let en = t.tessera_json(&["enroll", "totp", "alice"]);
    let fid = en["factor_id"].as_i64().unwrap().to_string();
    for bad in ["12345", "abcdef"] {
        let out = t.tessera(&["factor", "confirm", "alice", &fid, "--code", bad]);
        assert_eq!(out.status.code(), Some(3));
        assert!(
            stderr(&out).contains("expects 6 digits"),
            "{}",
            stderr(&out)
        );
    }
    // Nothing was changed by any of it.
    let list = t.tessera_json(&["user", "list"]);
    assert_eq!(list["users"].as_array().unwrap().len(), 1);
    assert_eq!(
        t.tessera_json(&["verify", "alice", "--code", &oathtool_code(&secret, 0)])["result"],
        "accept"
    );
}

#[test]
fn cli_config_errors_name_file_line_and_key() {
    let t = Install::new("");
    let bad = t.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[store]\npath = \"x.db\"\n\n[totp]\ndigits = 6\nperiode = 30\n",
    )
    .unwrap();
    let out = Command::new(bin("tessera"))
        .args(["--config", bad.to_str().unwrap(), "user", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:6:", bad.display())), "{err}");
    assert!(err.contains("periode"), "{err}");

    let out = Command::new(bin("tessera"))
        .args(["user", "list"])
        .env("TESSERA_CONFIG", t.dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

#[test]
fn cli_missing_key_or_database_fails_closed() {
    let t = Install::new("");
    let (secret, _) = t.enroll_totp("alice");
    let key = t.dir.path().join("tessera.key");
    let moved = t.dir.path().join("tessera.key.away");
    std::fs::rename(&key, &moved).unwrap();
    let out = t.tessera(&["verify", "alice", "--code", &oathtool_code(&secret, 0)]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "fails closed, not rejected-as-wrong-code"
    );
    assert!(
        stderr(&out).contains("key file") && stderr(&out).contains("does not exist"),
        "{}",
        stderr(&out)
    );
    std::fs::rename(&moved, &key).unwrap();

    std::fs::rename(t.dir.path().join("db"), t.dir.path().join("db.away")).unwrap();
    let out = t.tessera(&["verify", "alice", "--code", &oathtool_code(&secret, 0)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("does not exist (if it was lost, put it back with `tessera restore"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cli_locked_database_is_reported_and_nothing_half_written() {
    let t = Install::with_store("busy_timeout = \"300ms\"", "");
    let db = t.dir.path().join("db/tessera.db");
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = t.tessera(&["user", "add", "bob"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("locked by another writer"),
        "{}",
        stderr(&out)
    );
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    ok(&t.tessera(&["user", "add", "bob"]));
}

/// Mount a small tmpfs for a test (CI runs as root). Unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap().keep();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Tmpfs(dir)
    }

    fn remount_ro(&self) {
        let st = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn install_at(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("tessera.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{d}/tessera.db\"\nkey_file = \"{d}/tessera.key\"\n[argon2]\nmemory_kib = 64\niterations = 1\n",
            d = dir.display()
        ),
    )
    .unwrap();
    config
}

fn run(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin("tessera"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_full_disk_is_reported_and_nothing_is_lost() {
    let fs = Tmpfs::new("400k");
    let config = install_at(&fs.0);
    ok(&run(&config, &["init"]));
    ok(&run(&config, &["user", "add", "alice"]));
    // Fill the file system.
    let filler = fs.0.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", filler.display()))
        .output();
    let mut failed = None;
    for i in 0..50 {
        let out = run(
            &config,
            &["user", "add", &format!("user{i}-{}", "x".repeat(200))],
        );
        if !out.status.success() {
            failed = Some(out);
            break;
        }
    }
    let out = failed.expect("writes must eventually fail on a full disk");
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("disk is full"), "{}", stderr(&out));
    std::fs::remove_file(&filler).unwrap();
    let list = run(&config, &["--json", "user", "list"]);
    let v: serde_json::Value = serde_json::from_slice(&ok_bytes(&list)).unwrap();
    assert!(
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user"] == "alice"),
        "{v}"
    );
}

fn ok_bytes(out: &Output) -> Vec<u8> {
    ok(out);
    out.stdout.clone()
}

#[test]
fn cli_read_only_disk_fails_closed() {
    let fs = Tmpfs::new("4m");
    let config = install_at(&fs.0);
    ok(&run(&config, &["init"]));
    ok(&run(&config, &["user", "add", "alice"]));
    let v: serde_json::Value = serde_json::from_slice(&ok_bytes(&run(
        &config,
        &["--json", "enroll", "totp", "alice", "--no-confirm"],
    )))
    .unwrap();
    let secret = v["secret"].as_str().unwrap().to_string();
    fs.remount_ro();
    let out = run(
        &config,
        &["verify", "alice", "--code", &oathtool_code(&secret, 0)],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "cannot record the step: no accept; {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
}

#[test]
fn cli_help_documents_commands_and_exit_status() {
    let out = Command::new(bin("tessera")).arg("--help").output().unwrap();
    let help = ok(&out);
    for needle in [
        "init",
        "user",
        "enroll",
        "factor",
        "recovery",
        "verify",
        "audit",
        "import",
        "EXIT STATUS",
        "TESSERA_CONFIG",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    let out = Command::new(bin("tessera"))
        .args(["enroll", "totp", "--help"])
        .output()
        .unwrap();
    assert!(ok(&out).contains("--no-confirm"));
}

#[test]
fn cli_store_it_may_not_read_is_named_as_permission_denied_not_missing() {
    use std::os::unix::fs::PermissionsExt;
    let t = Install::new("");
    // The config is readable by anyone; the database's directory only by root.
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(t.dir.path(), 0o755);
    mode(&t.config, 0o644);
    let db_dir = t.dir.path().join("db");
    mode(&db_dir, 0o700);
    let out = Command::new(require_setpriv())
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin("tessera"))
        .arg("--config")
        .arg(&t.config)
        .args(["user", "list"])
        .env_remove("TESSERA_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("permission denied"), "{err}");
    assert!(
        err.contains(&db_dir.join("tessera.db").display().to_string()),
        "{err}"
    );
    assert!(!err.contains("does not exist"), "{err}");
    assert!(!err.contains("tessera init"), "{err}");
}

fn require_setpriv() -> std::path::PathBuf {
    tessera_tests::require("setpriv")
}

/// Codes are typed (or piped), not passed in argv, where the process list and the shell history
/// would keep them; `--code` stays for scripts and says so.
#[test]
fn cli_confirm_and_verify_read_the_code_from_stdin_without_code_in_argv() {
    let t = Install::new("");
    ok(&t.tessera(&["user", "add", "bob"]));
    let en = t.tessera_json(&["enroll", "totp", "bob"]);
    assert_eq!(en["status"], "pending", "{en}");
    let secret = en["secret"].as_str().unwrap().to_string();
    let id = en["factor_id"].as_i64().unwrap().to_string();
    let out = t.tessera_with_input(
        &["--json", "factor", "confirm", "bob", &id],
        &format!("{}\n", oathtool_code(&secret, 0)),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let confirmed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(confirmed["status"], "active", "{confirmed}");
    let recovery = confirmed["recovery_codes"][0].as_str().unwrap().to_string();

    // A recovery code typed at verify's prompt (here: piped) is checked and spent.
    let out = t.tessera_with_input(&["--json", "verify", "bob"], &format!("{recovery}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"method\":\"recovery\""));
    // Nothing on stdin: nothing is checked or confirmed.
    let out = t.tessera_with_input(&["factor", "confirm", "bob", &id], "");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no code on stdin"),
        "{}",
        stderr(&out)
    );

    for cmd in [&["verify", "--help"][..], &["factor", "confirm", "--help"]] {
        let help = String::from_utf8_lossy(&t.tessera(cmd).stdout).to_string();
        assert!(help.contains("For scripts only"), "{help}");
        assert!(help.contains("shell history"), "{help}");
    }
}
