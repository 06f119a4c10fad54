//! Helpers shared by the end-to-end tests: where the built binaries are, temporary Tessera
//! installations, and codes from an independent implementation (oathtool).
#![forbid(unsafe_code)]
// Test-support code: a failed fixture must stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod radius;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The cargo target profile directory the tests were built into (`target/debug`).
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TESSERA_TARGET_DIR") {
        return PathBuf::from(d);
    }
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target/debug"))
}

/// A binary of the workspace. The test script builds the workspace before the tests run.
pub fn bin(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// The built PAM module.
pub fn pam_module() -> PathBuf {
    bin("libpam_tessera.so")
}

/// The built test SecurityKeyProvider (tests/sk-provider): software "security keys" for
/// ssh-keygen, ssh and sshd. Never for real use.
pub fn sk_provider() -> PathBuf {
    bin("libtessera_sk_provider.so")
}

/// Is a system program installed? Tests that need one fail with a clear message when not:
/// scripts/test.sh installs them all.
pub fn require(program: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!("{program} is not installed: run scripts/test.sh, which installs the test peers");
}

/// A throwaway Tessera installation: a config, a key and a database in a temp dir.
pub struct Install {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Install {
    /// Write a config (fast Argon2 parameters for debug builds) plus `extra` TOML, and run
    /// `tessera init`.
    pub fn new(extra: &str) -> Install {
        Install::with_store("", extra)
    }

    /// Like [`Install::new`], with more `[store]` keys (e.g. `busy_timeout = "300ms"`).
    pub fn with_store(store_extra: &str, extra: &str) -> Install {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("tessera.toml");
        let text = format!(
            "[store]\npath = \"{d}/db/tessera.db\"\nkey_file = \"{d}/tessera.key\"\n{store_extra}\n\n[argon2]\nmemory_kib = 256\niterations = 1\n\n{extra}\n",
            d = dir.path().display()
        );
        std::fs::write(&config, text).expect("write config");
        let install = Install { dir, config };
        let out = install.tessera(&["init"]);
        assert!(
            out.status.success(),
            "tessera init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        install
    }

    /// Run the `tessera` CLI on this installation.
    pub fn tessera(&self, args: &[&str]) -> Output {
        self.tessera_command(args).output().expect("run tessera")
    }

    /// `tessera --config <this installation> ARGS`, to adjust before running.
    pub fn tessera_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("tessera"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("TESSERA_CONFIG");
        cmd
    }

    /// [`Install::tessera`] with `input` on its standard input.
    pub fn tessera_with_input(&self, args: &[&str], input: &str) -> Output {
        run_with_input(self.tessera_command(args), input)
    }

    /// Run the CLI with `--json` and parse its stdout; panics with stderr when it fails.
    pub fn tessera_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.tessera(&all);
        assert!(
            out.status.success(),
            "tessera {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("tessera --json printed JSON")
    }

    /// The `lock` object of `tessera --json user show USER`: locked, admin_locked, locked_until,
    /// until_unlocked, failures, locks, wrong_codes_since_last_login.
    pub fn lock(&self, user: &str) -> serde_json::Value {
        self.tessera_json(&["user", "show", user])["lock"].clone()
    }

    /// Add a user with an active TOTP factor; returns (base32 secret, recovery codes).
    pub fn enroll_totp(&self, user: &str) -> (String, Vec<String>) {
        self.enroll_totp_with(user, &[])
    }

    /// [`Install::enroll_totp`] with more `tessera enroll totp` options (`--digits 8`).
    pub fn enroll_totp_with(&self, user: &str, options: &[&str]) -> (String, Vec<String>) {
        let out = self.tessera(&["user", "add", user]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut args = vec!["enroll", "totp", user, "--no-confirm"];
        args.extend_from_slice(options);
        let v = self.tessera_json(&args);
        let secret = v["secret"].as_str().expect("secret").to_string();
        let codes = v["recovery_codes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        (secret, codes)
    }
}

/// The TOTP code of `secret_b32` at now + `offset_secs`, computed by oathtool (an
/// implementation nobody here wrote).
pub fn oathtool_code(secret_b32: &str, offset_secs: i64) -> String {
    oathtool_code_digits(secret_b32, offset_secs, 6)
}

/// [`oathtool_code`] for a factor of `digits` digits.
pub fn oathtool_code_digits(secret_b32: &str, offset_secs: i64, digits: u8) -> String {
    let oathtool = require("oathtool");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let out = Command::new(oathtool)
        .args(["--totp", "--base32", &format!("--digits={digits}"), "-N"])
        .arg(format!("@{}", now + offset_secs))
        .arg(secret_b32)
        .output()
        .expect("run oathtool");
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// A TCP port on 127.0.0.1 where connections are refused, for as long as this lives: the socket
/// is bound (so no other test can take the port) but never listens. A port merely found free
/// could be taken by another test's server in the meantime.
pub struct ClosedPort {
    _socket: socket2::Socket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        let any: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        socket.bind(&SockAddr::from(any)).expect("bind 127.0.0.1:0");
        let port = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.port())
            .expect("bound port");
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        ClosedPort::new()
    }
}

/// A private CA and a leaf certificate it signed for the SMTP server (127.0.0.1 / localhost), made
/// with exactly the openssl commands docs/email.md gives; returns (ca, cert, key). `ca_file`
/// names the CA; the server presents the leaf.
pub struct MailCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn mail_ca_and_leaf(dir: &Path) -> MailCerts {
    let run = |args: &[&str]| {
        let out = Command::new(require("openssl"))
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // docs/email.md, "A private CA for the SMTP server": step 1, the CA.
    run(&[
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-keyout",
        "mail-ca.key",
        "-out",
        "mail-ca.pem",
        "-days",
        "3650",
        "-subj",
        "/CN=Example mail CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    // Step 2, the server's key and a request for it.
    run(&[
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-keyout",
        "smtp.key",
        "-out",
        "smtp.csr",
        "-subj",
        "/CN=localhost",
    ]);
    // Step 3, the CA signs it as a server (leaf) certificate for the name Tessera dials.
    std::fs::write(
        dir.join("smtp.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write smtp.ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "smtp.csr",
        "-CA",
        "mail-ca.pem",
        "-CAkey",
        "mail-ca.key",
        "-CAcreateserial",
        "-out",
        "smtp.pem",
        "-days",
        "825",
        "-extfile",
        "smtp.ext",
    ]);
    MailCerts {
        ca: dir.join("mail-ca.pem"),
        cert: dir.join("smtp.pem"),
        key: dir.join("smtp.key"),
    }
}

/// What `openssl req -x509` makes by default: a self-signed certificate that is its own CA
/// (basicConstraints CA:TRUE). Returns (cert, key).
pub fn default_self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("self.pem"), dir.join("self.key"));
    let out = Command::new(require("openssl"))
        .args(["req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt"])
        .args([
            "ec_paramgen_curve:prime256v1",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A real SMTP server (aiosmtpd) on 127.0.0.1 that writes every message to a directory.
pub struct SmtpServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

pub enum SmtpMode<'a> {
    Plain,
    /// STARTTLS required, with this certificate and key.
    Starttls(&'a Path, &'a Path),
    /// Refuses every recipient (550).
    Reject,
}

impl SmtpServer {
    pub fn start(mode: SmtpMode<'_>) -> SmtpServer {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/smtp_server.py");
        let dir = tempfile::tempdir().expect("temp dir");
        for _attempt in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("/usr/bin/python3");
            cmd.arg(&script)
                .args(["--port", &port.to_string()])
                .arg("--dir")
                .arg(dir.path())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit());
            match mode {
                SmtpMode::Plain => {}
                SmtpMode::Starttls(cert, key) => {
                    cmd.arg("--starttls").arg(cert).arg(key);
                }
                SmtpMode::Reject => {
                    cmd.arg("--reject");
                }
            }
            let mut child = cmd
                .spawn()
                .expect("start the SMTP server (python3-aiosmtpd)");
            let stdout = child.stdout.take().expect("stdout");
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            if line.starts_with("READY") {
                return SmtpServer { port, dir, child };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the SMTP server did not start (is python3-aiosmtpd installed?)");
    }

    /// Messages received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(self.dir.path())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let p = e.path();
                        let n = p.file_stem()?.to_str()?.parse().ok()?;
                        (p.extension()? == "eml").then_some((n, p))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Wait (up to 20 s) until at least `n` messages have arrived; returns the `n`th.
    pub fn wait_for(&self, n: usize) -> String {
        for _ in 0..400 {
            let m = self.messages();
            if m.len() >= n {
                return m[n - 1].clone();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("no message number {n} arrived at the test SMTP server");
    }

    /// The [email] section that points Tessera at this server (plus `extra` keys).
    pub fn config(&self, extra: &str) -> String {
        format!(
            "[email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsecurity = \"none\"\nfrom = \"tessera@example.com\"\ntimeout = \"5s\"\n{extra}\n",
            self.port
        )
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one-time code in an e-mail body: the run of 6 to 10 digits on a line of its own.
pub fn code_in_mail(mail: &str) -> String {
    mail.lines()
        .map(str::trim)
        .find(|l| (6..=10).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no code in the mail:\n{mail}"))
}

/// Run `cmd` with `input` written to its standard input; its output (stdout and stderr kept).
pub fn run_with_input(mut cmd: Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(input.as_bytes())
        .expect("write its input");
    child.wait_with_output().expect("wait for it")
}
