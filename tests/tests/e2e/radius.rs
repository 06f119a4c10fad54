//! `tessera-radiusd` driven by real peers: FreeRADIUS's `radclient` (a client nobody here
//! wrote) for every mode, and our own client (the `radius` crate's codec over raw UDP) for what
//! radclient cannot express: byte-identical retransmissions, a forged Message-Authenticator,
//! malformed datagrams and hundreds of simultaneous requests.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use radius::core::code::Code;
use radius::core::packet::Packet;
use tessera_tests::radius::Signer;
use tessera_tests::{Install, bin, oathtool_code, require, run_with_input};

use crate::pam::wrong_code;

pub(crate) const SECRET: &str = "testing123-a-long-shared-secret";

/// A running server; killed when dropped.
pub(crate) struct Radiusd {
    child: Child,
    port: u16,
    pub install: Install,
    log: std::path::PathBuf,
    /// More environment for the server (`TESSERA_SMS_COMMAND_DIR`), kept for a restart.
    env: Vec<(String, String)>,
}

impl Drop for Radiusd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Config for a server answering 127.0.0.1 (plus `radius` keys and `clients`).
pub(crate) fn install(radius: &str, clients: &str) -> Install {
    install_with(radius, clients, "")
}

/// Like [`install`], with `extra` TOML sections (e.g. `[email]`). The server listens on port 0:
/// the kernel picks a free port when it binds, and [`spawn`] reads it from the start-up line, so
/// no other test can take the port between choosing and binding it.
pub(crate) fn install_with(radius: &str, clients: &str, extra_sections: &str) -> Install {
    Install::new(&radius_sections(radius, clients, extra_sections))
}

/// The `[radius]`, clients and `[policy]` sections of [`install_with`].
fn radius_sections(radius: &str, clients: &str, extra_sections: &str) -> String {
    let clients = if clients.is_empty() {
        format!(
            "[[radius.clients]]\nname = \"local\"\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n"
        )
    } else {
        clients.to_string()
    };
    format!(
        "[radius]\nlisten = [\"127.0.0.1:0\"]\n{radius}\n\n{clients}\n[policy]\nmax_failures = 3\n\n{extra_sections}\n"
    )
}

/// Start the server and wait until it answers Status-Server.
pub(crate) fn start(install: Install) -> Radiusd {
    start_with_env(install, &[])
}

/// [`start`] with more environment variables for the server.
pub(crate) fn start_with_env(install: Install, env: &[(&str, &str)]) -> Radiusd {
    let env = env
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let server = spawn(install, env);
    server.wait_ready(SECRET);
    server
}

/// Start the server and wait for its `listening on 127.0.0.1:PORT` line (stderr goes to
/// radiusd.log in the installation's directory).
fn spawn(install: Install, env: Vec<(String, String)>) -> Radiusd {
    let log = install.dir.path().join("radiusd.log");
    let (child, port) = spawn_process(&install, &log, &env);
    Radiusd {
        child,
        port,
        install,
        log,
        env,
    }
}

/// Start `tessera-radiusd` on `install`, its stderr to `log` (truncated), and return it with
/// the port of its `listening on 127.0.0.1:PORT` line.
fn spawn_process(
    install: &Install,
    log: &std::path::Path,
    env: &[(String, String)],
) -> (Child, u16) {
    let mut child = Command::new(bin("tessera-radiusd"))
        .arg("--config")
        .arg(&install.config)
        .env_remove("TESSERA_CONFIG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start tessera-radiusd");
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let port = text
            .split("listening on 127.0.0.1:")
            .nth(1)
            .and_then(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                // The whole number only: the line may still be half written.
                rest[digits.len()..]
                    .starts_with(' ')
                    .then(|| digits.parse().ok())?
            });
        if let Some(port) = port {
            break port;
        }
        let exited = child.try_wait().unwrap();
        if exited.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tessera-radiusd did not start listening ({exited:?}):\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (child, port)
}

impl Radiusd {
    /// SIGKILL (`kill -9`): no drain, no last checkpoint. The installation stays.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Start the server again on the same installation (after [`Radiusd::kill9`]); it may
    /// listen on another port.
    pub fn restart(&mut self) {
        let (child, port) = spawn_process(&self.install, &self.log, &self.env);
        (self.child, self.port) = (child, port);
        self.wait_ready(SECRET);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Poll with Status-Server until the server answers.
    fn wait_ready(&self, secret: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let c = Client::new(secret);
            let p = c.status_server();
            if c.exchange(&p, self.addr(), Duration::from_millis(200))
                .is_some()
            {
                return;
            }
        }
        panic!("tessera-radiusd did not come up:\n{}", self.log());
    }

    /// The log as it is now. Lines about a request may lag its reply (the decision line is
    /// written after the reply is sent): check those with [`Radiusd::log_containing`].
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it contains `needle` (the decision line is written after the reply is
    /// sent, so it may lag the reply a little); panics after 30 s without it.
    pub fn log_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn radclient(&self, kind: &str, secret: &str, attrs: &str) -> Radclient {
        radclient(self.port, kind, secret, attrs)
    }
}

/// What radclient printed, parsed.
pub(crate) struct Radclient {
    /// `Access-Accept`, `Access-Reject`, `Access-Challenge`, or `None` for no reply.
    pub reply: Option<String>,
    pub out: String,
}

impl Radclient {
    pub fn attr(&self, name: &str) -> Option<String> {
        let prefix = format!("{name} = ");
        self.out
            .lines()
            .skip_while(|l| !l.starts_with("Received"))
            .find_map(|l| {
                l.trim()
                    .strip_prefix(&prefix)
                    .map(|v| v.trim_matches('"').to_string())
            })
    }

    pub fn is(&self, reply: &str) -> bool {
        self.reply.as_deref() == Some(reply)
    }
}

fn radclient(port: u16, kind: &str, secret: &str, attrs: &str) -> Radclient {
    let mut cmd = Command::new(require("radclient"));
    cmd.args(["-x", "-r", "1", "-t", "3"])
        .arg(format!("127.0.0.1:{port}"))
        .args([kind, secret]);
    let out = run_with_input(cmd, attrs);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let reply = text.lines().find_map(|l| {
        l.strip_prefix("Received ")
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string)
    });
    Radclient { reply, out: text }
}

/// Attributes of a PAP request with a Message-Authenticator radclient computes.
pub(crate) fn pap(user: &str, password: &str) -> String {
    format!(
        "User-Name = \"{user}\"\nUser-Password = \"{password}\"\nMessage-Authenticator = 0x00\nNAS-Identifier = \"e2e-gw\"\nCalling-Station-Id = \"203.0.113.9\"\n"
    )
}

/// `code` with its last digit changed.
pub(crate) fn wrong(code: &str) -> String {
    let mut c: Vec<u8> = code.bytes().collect();
    let last = c.len() - 1;
    c[last] = b'0' + (c[last] - b'0' + 1) % 10;
    String::from_utf8(c).unwrap()
}

pub(crate) fn user_with_password(t: &Install, user: &str, password: &str) -> (String, Vec<String>) {
    let (secret, codes) = t.enroll_totp(user);
    set_password(t, user, password);
    (secret, codes)
}

/// `tessera user passwd USER --password-stdin`.
pub(crate) fn set_password(t: &Install, user: &str, password: &str) {
    let out = t.tessera_with_input(&["user", "passwd", user, "--password-stdin"], password);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Our own client: the radius crate's codec, Message-Authenticator added here.

pub(crate) struct Client {
    signer: Signer,
    sock: UdpSocket,
}

impl Client {
    pub fn new(secret: &str) -> Client {
        Client::from_address(secret, "127.0.0.1")
    }

    /// A client sending from `address` (any 127.0.0.0/8 address works on loopback).
    pub fn from_address(secret: &str, address: &str) -> Client {
        Client {
            signer: Signer::new(secret),
            sock: UdpSocket::bind((address, 0)).unwrap(),
        }
    }

    pub fn access_request(&self, id: u8, user: &str, password: &str) -> Vec<u8> {
        self.signer.access_request(id, user, password)
    }

    /// An unsigned Access-Request to add attributes to, then [`Client::sign`].
    pub fn access_packet(&self, id: u8, user: &str, password: &str) -> Packet {
        self.signer.access_packet(id, user, password)
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    fn status_server(&self) -> Vec<u8> {
        self.signer.status_server(0)
    }

    /// Encode with a Message-Authenticator (RFC 3579 §3.2).
    pub fn sign(&self, p: Packet) -> Vec<u8> {
        self.signer.sign(p)
    }

    pub fn exchange(&self, request: &[u8], to: SocketAddr, wait: Duration) -> Option<Vec<u8>> {
        self.sock.send_to(request, to).unwrap();
        self.receive(wait)
    }

    /// Throw away what is waiting (late copies of an answer already read).
    pub fn drain(&self) {
        while self.receive(Duration::from_millis(200)).is_some() {}
    }

    fn receive(&self, wait: Duration) -> Option<Vec<u8>> {
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = self.sock.recv_from(&mut buf).ok()?;
        Some(buf[..n].to_vec())
    }

    /// Decode a response after checking its Response Authenticator against `request`.
    pub fn decode(&self, response: &[u8], request: &[u8]) -> Packet {
        assert!(
            Packet::is_authentic_response(response, request, &self.signer.secret),
            "response authenticator does not verify"
        );
        Packet::decode(response, &self.signer.secret).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// radclient: every mode.

#[test]
fn radius_append_accepts_then_refuses_wrong_and_replayed_codes() {
    let t = install("mode = \"append\"", "");
    let (secret, _) = user_with_password(&t, "alice", "hunter2");
    let s = start(t);
    let code = oathtool_code(&secret, 0);

    let r = s.radclient(
        "auth",
        SECRET,
        &pap("alice", &format!("hunter2{}", wrong_code(&secret))),
    );
    assert!(r.is("Access-Reject"), "{}", r.out);
    assert_eq!(
        r.attr("Reply-Message").as_deref(),
        Some("Verification failed.")
    );

    let r = s.radclient("auth", SECRET, &pap("alice", &format!("hunter2{code}")));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    assert!(
        r.attr("Message-Authenticator").is_some(),
        "signed: {}",
        r.out
    );

    let r = s.radclient("auth", SECRET, &pap("alice", &format!("hunter2{code}")));
    assert!(r.is("Access-Reject"), "replay: {}", r.out);

    let r = s.radclient(
        "auth",
        SECRET,
        &pap("alice", &format!("hunter3{}", oathtool_code(&secret, 30))),
    );
    assert!(r.is("Access-Reject"), "wrong password: {}", r.out);
    assert_eq!(
        r.attr("Reply-Message").as_deref(),
        Some("Verification failed.")
    );

    // Decision lines are written after the replies: wait for all four before reading the log.
    s.log_containing("user=alice result=accept reason=method=totp");
    s.log_containing("nas_id=e2e-gw calling_station=203.0.113.9");
    s.log_containing("reason=bad_code");
    s.log_containing("reason=replayed");
    let log = s.log_containing("reason=bad_password");
    assert!(!log.contains("hunter2"), "no password in the log: {log}");
    assert!(!log.contains(&code), "no code in the log: {log}");
    // The audit table has the RADIUS client and NAS.
    let audit = s.install.tessera_json(&["audit", "--user", "alice"]);
    let text = audit.to_string();
    assert!(text.contains("nas_id=e2e-gw"), "{text}");
    assert!(text.contains("\"local\""), "{text}");
}

#[test]
fn radius_challenge_round_trip_with_state() {
    let t = install("mode = \"challenge\"", "");
    let (secret, _) = user_with_password(&t, "carol", "correct horse");
    let s = start(t);

    let r = s.radclient("auth", SECRET, &pap("carol", "correct horse"));
    assert!(r.is("Access-Challenge"), "{}", r.out);
    assert_eq!(
        r.attr("Reply-Message").as_deref(),
        Some("Verification code:")
    );
    let state = r.attr("State").expect("State in the challenge");
    assert!(state.starts_with("0x") && state.len() == 34, "{state}");

    let code = oathtool_code(&secret, 0);
    let second = format!("{}State = {state}\n", pap("carol", &code));
    let r = s.radclient("auth", SECRET, &second);
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());

    // The State is single use.
    let second = format!(
        "{}State = {state}\n",
        pap("carol", &oathtool_code(&secret, 30))
    );
    let r = s.radclient("auth", SECRET, &second);
    assert!(r.is("Access-Reject"), "{}", r.out);
    s.log_containing("reason=unknown_state");

    // A wrong password gets no challenge.
    let r = s.radclient("auth", SECRET, &pap("carol", "wrong horse"));
    assert!(r.is("Access-Reject"), "{}", r.out);
}

#[test]
fn radius_auto_mode_appends_or_challenges() {
    let t = install("mode = \"auto\"", "");
    let (secret, _) = user_with_password(&t, "dave", "pw123456");
    let s = start(t);
    // Password ending in digits that are not a code: challenged.
    let r = s.radclient("auth", SECRET, &pap("dave", "pw123456"));
    assert!(r.is("Access-Challenge"), "{}\n{}", r.out, s.log());
    // Password followed by a valid code: accepted at once.
    let code = oathtool_code(&secret, 0);
    let r = s.radclient("auth", SECRET, &pap("dave", &format!("pw123456{code}")));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
}

#[test]
fn radius_otp_only_and_recovery_code() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, codes) = t.enroll_totp("erin");
    let s = start(t);
    let r = s.radclient("auth", SECRET, &pap("erin", &oathtool_code(&secret, 0)));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    let r = s.radclient("auth", SECRET, &pap("erin", &codes[0]));
    assert!(
        r.is("Access-Accept"),
        "recovery code: {}\n{}",
        r.out,
        s.log()
    );
    let r = s.radclient("auth", SECRET, &pap("erin", &codes[0]));
    assert!(r.is("Access-Reject"), "recovery code reused: {}", r.out);
    s.log_containing("reason=method=recovery");
}

/// Base64 (RFC 4648, padded), for OpenVPN static-challenge strings.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn radius_otp_only_checks_the_password_of_an_openvpn_static_challenge() {
    // first_factor = "password" (the default) in otp-only.
    let t = install("mode = \"otp-only\"", "");
    let (secret, _) = user_with_password(&t, "quinn", "hunter2");
    let s = start(t);
    let code = oathtool_code(&secret, 0);
    let scrv1 = |pw: &str| {
        format!(
            "SCRV1:{}:{}",
            base64(pw.as_bytes()),
            base64(code.as_bytes())
        )
    };
    let r = s.radclient("auth", SECRET, &pap("quinn", &scrv1("wrong-password")));
    assert!(r.is("Access-Reject"), "{}\n{}", r.out, s.log());
    s.log_containing("user=quinn result=reject reason=bad_password");
    // The code was not spent on the wrong password.
    let r = s.radclient("auth", SECRET, &pap("quinn", &scrv1("hunter2")));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
}

/// Review 2h: with `first_factor = "password"`, a bare code skipped the password, and bare wrong
/// codes from anyone who knew the name locked the user out.
#[test]
fn radius_otp_only_refuses_a_code_without_the_password_as_a_wrong_password() {
    let t = install("mode = \"otp-only\"", "");
    let (secret, _) = user_with_password(&t, "quinn", "hunter2");
    let s = start(t);
    let code = oathtool_code(&secret, 0);
    // Her valid code alone, then wrong codes alone: wrong passwords, from the attacker's place.
    let from = |attrs: String, station: &str| {
        attrs.replace(
            "Calling-Station-Id = \"203.0.113.9\"",
            &format!("Calling-Station-Id = \"{station}\""),
        )
    };
    for answer in [
        code.clone(),
        wrong_code(&secret),
        "000000".into(),
        "email".into(),
    ] {
        let r = s.radclient(
            "auth",
            SECRET,
            &from(pap("quinn", &answer), "198.51.100.66"),
        );
        assert!(r.is("Access-Reject"), "{answer:?}: {}\n{}", r.out, s.log());
        let told = r.attr("Reply-Message").unwrap_or_default();
        assert!(
            told == "Verification failed."
                || told.starts_with("Too many failed attempts from here"),
            "a wrong password, or its throttle; never a lock: {}",
            r.out
        );
    }
    let log = s.log();
    let refused = log
        .lines()
        .filter(|l| l.contains("user=quinn result=reject"))
        .collect::<Vec<_>>();
    assert!(
        refused
            .iter()
            .all(|l| l.contains("reason=bad_password") || l.contains("reason=throttled")),
        "{refused:#?}"
    );
    // Nothing was counted against her or spent: her password and code log her in.
    let scrv1 = format!("SCRV1:{}:{}", base64(b"hunter2"), base64(code.as_bytes()));
    let r = s.radclient("auth", SECRET, &pap("quinn", &scrv1));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    assert_eq!(
        r.attr("Reply-Message"),
        None,
        "no wrong codes to warn of: {}",
        r.out
    );
}

/// `tessera-radiusd --check --config CONFIG`: its output and its stderr as text.
fn radius_check(config: &std::path::Path) -> (std::process::Output, String) {
    let out = Command::new(bin("tessera-radiusd"))
        .arg("--check")
        .arg("--config")
        .arg(config)
        .env_remove("TESSERA_CONFIG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

#[test]
fn radius_check_warns_about_otp_only_with_the_password_checked_here() {
    let t = install("mode = \"otp-only\"", "");
    let (out, err) = radius_check(&t.config);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("client \"local\": mode otp-only with first_factor = \"password\"")
            && err.contains("first_factor = \"none\""),
        "{err}"
    );
}

#[test]
fn radius_recovery_code_appended_to_the_password() {
    let t = install("mode = \"append\"", "");
    let (_, codes) = user_with_password(&t, "frank", "hunter2");
    let s = start(t);
    let r = s.radclient(
        "auth",
        SECRET,
        &pap("frank", &format!("hunter2{}", codes[3])),
    );
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
}

#[test]
fn radius_message_authenticator_required_by_default() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, _) = t.enroll_totp("gina");
    let s = start(t);
    let code = oathtool_code(&secret, 0);
    let without = format!("User-Name = \"gina\"\nUser-Password = \"{code}\"\n");
    let r = s.radclient("auth", SECRET, &without);
    assert_eq!(r.reply, None, "dropped: {}", r.out);
    s.log_containing("reason=missing_message_authenticator");
    // The code was not consumed by the dropped request.
    let r = s.radclient("auth", SECRET, &pap("gina", &code));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
}

#[test]
fn radius_legacy_client_may_omit_message_authenticator() {
    let clients = format!(
        "[[radius.clients]]\nname = \"legacy\"\naddress = \"127.0.0.0/8\"\nsecret = \"{SECRET}\"\nrequire_message_authenticator = false\n"
    );
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", &clients);
    let (secret, _) = t.enroll_totp("hank");
    let s = start(t);
    let without = format!(
        "User-Name = \"hank\"\nUser-Password = \"{}\"\n",
        oathtool_code(&secret, 0)
    );
    let r = s.radclient("auth", SECRET, &without);
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    // Responses carry a Message-Authenticator all the same.
    assert!(r.attr("Message-Authenticator").is_some(), "{}", r.out);
    // The loud warning at start.
    s.log_containing("BlastRADIUS");
}

#[test]
fn radius_wrong_secret_is_dropped_silently() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, _) = t.enroll_totp("ivan");
    let s = start(t);
    let code = oathtool_code(&secret, 0);
    let r = s.radclient("auth", "not-the-secret", &pap("ivan", &code));
    assert_eq!(r.reply, None, "{}", r.out);
    s.log_containing("reason=bad_message_authenticator");
    let r = s.radclient("status", "not-the-secret", "Message-Authenticator = 0x00\n");
    assert_eq!(r.reply, None, "{}", r.out);
    // Nothing was consumed or counted.
    let r = s.radclient("auth", SECRET, &pap("ivan", &code));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
}

#[test]
fn radius_unknown_client_is_dropped() {
    let clients = format!(
        "[[radius.clients]]\nname = \"elsewhere\"\naddress = \"192.0.2.0/24\"\nsecret = \"{SECRET}\"\n"
    );
    let t = install("", &clients);
    // Not `start`: the readiness probe itself would be an unknown client.
    let s = spawn(t, Vec::new());
    let r = s.radclient("status", SECRET, "Message-Authenticator = 0x00\n");
    assert_eq!(r.reply, None, "{}", r.out);
    s.log_containing("reason=unknown_client");
}

#[test]
fn radius_status_server_is_answered() {
    let t = install("", "");
    let s = start(t);
    let r = s.radclient("status", SECRET, "Message-Authenticator = 0x00\n");
    assert!(r.is("Access-Accept"), "{}", r.out);
    assert!(r.attr("Message-Authenticator").is_some(), "{}", r.out);
}

/// `n` Proxy-State lines of `len` bytes each, for radclient.
fn proxy_states(n: u8, len: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "Proxy-State = 0x{}\n",
                format!("{:02x}", 0x41 + i).repeat(len)
            )
        })
        .collect()
}

/// Review 2h: answers kept for retransmissions echo the request's Proxy-State; 200 000 of
/// them with 3 KB each took 746 MB. A request asking for more than 1 KiB to be echoed is
/// refused before anything is decided; a proxy's few bytes are echoed as before.
#[test]
fn radius_more_than_a_kibibyte_of_proxy_state_is_refused_before_the_code_is_checked() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, _) = t.enroll_totp("petra");
    let s = start(t);
    let code = oathtool_code(&secret, 0);
    // 5 × 221 = 1105 bytes: fits a packet, but not what is echoed and kept.
    let r = s.radclient(
        "auth",
        SECRET,
        &format!("{}{}", pap("petra", &code), proxy_states(5, 219)),
    );
    assert!(r.reply.is_none(), "{}\n{}", r.out, s.log());
    s.log_containing(
        "reason=too_much_proxy_state (1105 bytes of Proxy-State to echo, at most 1024)",
    );
    // The code was not spent; two proxies' worth is echoed.
    let r = s.radclient(
        "auth",
        SECRET,
        &format!("{}{}", pap("petra", &code), proxy_states(2, 16)),
    );
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    assert!(
        r.out.matches("Proxy-State = 0x4141").count() >= 2,
        "{}",
        r.out
    );
}

/// Review 2h: Status-Server skipped the Proxy-State check and wrote an error line for every
/// packet whose answer could not be encoded, without the rate limit of dropped packets.
#[test]
fn radius_status_server_with_too_much_proxy_state_is_dropped_under_the_log_rate_limit() {
    let t = install("", "");
    let s = start(t);
    let r = s.radclient(
        "status",
        SECRET,
        &format!("Message-Authenticator = 0x00\n{}", proxy_states(5, 219)),
    );
    assert!(r.reply.is_none(), "{}\n{}", r.out, s.log());
    // A flood of them: at most 20 lines a second, the rest counted.
    let signer = Signer::new(SECRET);
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    let oversized = |i: u32| {
        let mut p =
            Packet::new_with_identifier(Code::StatusServer, SECRET.as_bytes(), (i % 256) as u8);
        for k in 0..15u8 {
            p.add(radius::core::avp::AVP::from_bytes(33, &[k; 253]));
        }
        signer.sign(p)
    };
    for i in 0..300 {
        c.send_to(&oversized(i), s.addr()).unwrap();
    }
    // The next second's drop tells how many lines were not written.
    std::thread::sleep(Duration::from_millis(1100));
    c.send_to(&oversized(300), s.addr()).unwrap();
    let log = s.log_containing("more dropped-packet lines not written");
    let lines = log.matches("reason=too_much_proxy_state").count();
    assert!((1..=60).contains(&lines), "{lines} lines for 301 packets");
    assert!(!log.contains("cannot encode"), "{log}");
    // Health checks without it are still answered.
    let r = s.radclient("status", SECRET, "Message-Authenticator = 0x00\n");
    assert!(r.is("Access-Accept"), "{}", r.out);
}

/// A NAS that sends a blank Calling-Station-Id is as good as one that sends none: the operator
/// is told, once, and logins still work.
#[test]
fn radius_a_blank_calling_station_id_is_warned_about_once() {
    let t = install("mode = \"append\"", "");
    let (secret, _) = user_with_password(&t, "alice", "hunter2");
    let s = start(t);
    let blank = |password: &str| {
        pap("alice", password).replace(
            "Calling-Station-Id = \"203.0.113.9\"",
            "Calling-Station-Id = \" \"",
        )
    };
    let r = s.radclient(
        "auth",
        SECRET,
        &blank(&format!("hunter2{}", oathtool_code(&secret, 0))),
    );
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    let r = s.radclient("auth", SECRET, &blank("hunter3"));
    assert!(r.is("Access-Reject"), "{}", r.out);
    let log = s.log_containing("reason=bad_password");
    let warned = log
        .matches("client local sends no Calling-Station-Id")
        .count();
    assert_eq!(warned, 1, "{log}");
}

#[test]
fn radius_lockout_after_repeated_failures() {
    let t = install("mode = \"append\"", "");
    let (secret, _) = user_with_password(&t, "judy", "hunter2");
    let s = start(t);
    let code = oathtool_code(&secret, 0);
    for _ in 0..3 {
        let r = s.radclient(
            "auth",
            SECRET,
            &pap("judy", &format!("hunter2{}", wrong_code(&secret))),
        );
        assert!(r.is("Access-Reject"), "{}", r.out);
    }
    let r = s.radclient("auth", SECRET, &pap("judy", &format!("hunter2{code}")));
    assert!(r.is("Access-Reject"), "{}", r.out);
    let msg = r.attr("Reply-Message").unwrap_or_default();
    assert!(msg.contains("locked"), "{msg}");
    // The lock is in the store, shared with the PAM module and the CLI.
    let out = s.install.tessera(&["user", "unlock", "judy"]);
    assert!(out.status.success());
    let r = s.radclient("auth", SECRET, &pap("judy", &format!("hunter2{code}")));
    assert!(
        r.is("Access-Accept"),
        "after unlock: {}\n{}",
        r.out,
        s.log()
    );
}

#[test]
fn radius_a_reply_that_cannot_echo_its_proxy_state_spends_no_code() {
    // Accept attributes of about 500 bytes: with 15 × 253 bytes of Proxy-State to echo, the
    // Accept would be over 4096 bytes.
    let reply = format!(
        "[[radius.reply]]\nuser = \"*\"\nclass = \"{}\"\nfilter_id = \"{}\"\n",
        "c".repeat(253),
        "f".repeat(253)
    );
    let t = install_with("mode = \"otp-only\"\nfirst_factor = \"none\"", "", &reply);
    let (secret, _) = t.enroll_totp("olga");
    let s = start(t);
    let code = oathtool_code(&secret, 0);
    let mut attrs = pap("olga", &code);
    for i in 0..15u8 {
        attrs.push_str(&format!(
            "Proxy-State = 0x{}\n",
            format!("{:02x}", 0x41 + i).repeat(253)
        ));
    }
    let r = s.radclient("auth", SECRET, &attrs);
    assert!(r.reply.is_none(), "{}\n{}", r.out, s.log());
    // The code was never checked: the same code in a request whose answer fits is accepted.
    let r = s.radclient("auth", SECRET, &pap("olga", &code));
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
    s.log_containing(
        "reason=too_much_proxy_state (3825 bytes of Proxy-State to echo, at most 1024)",
    );
    let audit = s
        .install
        .tessera_json(&["audit", "--user", "olga"])
        .to_string();
    assert!(!audit.contains("replayed"), "{audit}");
}

#[test]
fn radius_check_shows_clients_that_never_match_and_an_inline_secret_others_can_read() {
    let clients = format!(
        "[[radius.clients]]\nname = \"local\"\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n\
         [[radius.clients]]\nname = \"mapped\"\naddress = \"::ffff:192.0.2.7\"\nsecret = \"{SECRET}\"\n\
         [[radius.clients]]\nname = \"twice\"\naddress = \"127.0.0.1/32\"\nsecret = \"{SECRET}\"\n"
    );
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", &clients);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&t.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (out, err) = radius_check(&t.config);
    assert!(out.status.success(), "{err}");
    for needle in [
        "client \"mapped\": address ::ffff:192.0.2.7/128 is an IPv4-mapped IPv6 address",
        "write address = \"192.0.2.7\"",
        "client \"twice\": address 127.0.0.1/32 is also the address of client \"local\"",
        "client \"local\": the shared secret is written inline in",
        "(mode 0644)",
    ] {
        assert!(err.contains(needle), "no {needle:?} in:\n{err}");
    }
    assert!(!err.contains(SECRET), "the secret itself:\n{err}");
}

#[test]
fn radius_a_state_answered_from_another_address_of_the_client_is_refused() {
    let clients = format!(
        "[[radius.clients]]\nname = \"loopback\"\naddress = \"127.0.0.0/8\"\nsecret = \"{SECRET}\"\n"
    );
    let t = install("mode = \"challenge\"", &clients);
    let (secret, _) = user_with_password(&t, "petra", "hunter2");
    let s = start(t);
    let here = Client::new(SECRET);
    let there = Client::from_address(SECRET, "127.0.0.2");
    let req = here.access_request(1, "petra", "hunter2");
    let resp = here
        .exchange(&req, s.addr(), Duration::from_secs(5))
        .unwrap();
    let challenge = here.decode(&resp, &req);
    assert_eq!(challenge.get_code(), Code::AccessChallenge);
    let state = challenge.lookup(24).unwrap().encode_bytes();
    let answer = |c: &Client, id: u8| {
        let mut p = c.access_packet(id, "petra", &oathtool_code(&secret, 0));
        p.add(radius::core::avp::AVP::from_bytes(24, &state));
        let req = c.sign(p);
        let resp = c.exchange(&req, s.addr(), Duration::from_secs(5)).unwrap();
        c.decode(&resp, &req).get_code()
    };
    assert_eq!(answer(&there, 2), Code::AccessReject, "{}", s.log());
    s.log_containing("reason=state_of_another_address");
    // Left for the address it was sent to.
    assert_eq!(answer(&here, 3), Code::AccessAccept, "{}", s.log());
}

#[test]
fn radius_chap_is_refused_with_a_reason() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    t.enroll_totp("kim");
    let s = start(t);
    let r = s.radclient(
        "auth",
        SECRET,
        "User-Name = \"kim\"\nCHAP-Password = \"123456\"\nMessage-Authenticator = 0x00\n",
    );
    assert!(r.is("Access-Reject"), "{}", r.out);
    s.log_containing("reason=chap_cannot_carry_a_one_time_code");
}

// ---------------------------------------------------------------------------------------------
// Our own client.

#[test]
fn radius_retransmission_gets_the_identical_cached_response() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, _) = t.enroll_totp("leo");
    let s = start(t);
    let c = Client::new(SECRET);
    let req = c.access_request(7, "leo", &oathtool_code(&secret, 0));
    let first = c.exchange(&req, s.addr(), Duration::from_secs(5)).unwrap();
    let again = c.exchange(&req, s.addr(), Duration::from_secs(5)).unwrap();
    assert_eq!(first, again, "byte-identical response");
    assert_eq!(c.decode(&first, &req).get_code(), Code::AccessAccept);
    // Decided once: one accept in the audit log, no replay.
    let audit = s
        .install
        .tessera_json(&["audit", "--user", "leo"])
        .to_string();
    assert_eq!(audit.matches("\"accept\"").count(), 1, "{audit}");
    assert!(!audit.contains("replayed"), "{audit}");
    s.log_containing("retransmission answered from cache");
}

#[test]
fn radius_another_request_under_a_cached_key_never_gets_its_answer() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, _) = t.enroll_totp("lena");
    t.enroll_totp("mallory");
    let s = start(t);
    let c = Client::new(SECRET);
    let lena = c.access_request(11, "lena", &oathtool_code(&secret, 0));
    let accept = c.exchange(&lena, s.addr(), Duration::from_secs(5)).unwrap();
    assert_eq!(c.decode(&accept, &lena).get_code(), Code::AccessAccept);
    // Same source, Identifier and Request Authenticator, validly signed: another user's request
    // with no valid code. It must not receive lena's Accept.
    let other = c
        .signer()
        .with_authenticator(c.access_request(11, "mallory", "000000"), &lena[4..20]);
    assert_eq!((other[1], &other[4..20]), (lena[1], &lena[4..20]));
    let reply = c.exchange(&other, s.addr(), Duration::from_secs(2));
    assert!(
        reply.as_deref() != Some(&accept[..]),
        "another request was answered with the cached Accept\n{}",
        s.log()
    );
    if let Some(r) = &reply {
        assert_ne!(c.decode(r, &other).get_code(), Code::AccessAccept);
    }
    s.log_containing("reason=another_request_under_a_cached_identifier_and_authenticator");
    // lena's own retransmission is still answered from the cache.
    let again = c.exchange(&lena, s.addr(), Duration::from_secs(5)).unwrap();
    assert_eq!(again, accept);
}

#[test]
fn radius_forged_message_authenticator_never_touches_the_cache() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, _) = t.enroll_totp("mia");
    let s = start(t);
    let c = Client::new(SECRET);
    let req = c.access_request(9, "mia", &oathtool_code(&secret, 0));
    let mut forged = req.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    assert!(
        c.exchange(&forged, s.addr(), Duration::from_millis(500))
            .is_none()
    );
    // The genuine packet (same id and authenticator) is decided normally afterwards.
    let resp = c.exchange(&req, s.addr(), Duration::from_secs(5)).unwrap();
    assert_eq!(c.decode(&resp, &req).get_code(), Code::AccessAccept);
}

#[test]
fn radius_malformed_datagrams_are_dropped_without_harm() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, _) = t.enroll_totp("nina");
    let s = start(t);
    let c = Client::new(SECRET);
    let good = c.access_request(11, "nina", &oathtool_code(&secret, 0));
    let mut bad: Vec<Vec<u8>> = Vec::new();
    bad.push(good[..19].to_vec()); // shorter than a header
    let mut p = good.clone();
    p[2..4].copy_from_slice(&(good.len() as u16 + 10).to_be_bytes()); // truncated
    bad.push(p);
    let mut p = good.clone();
    p[2..4].copy_from_slice(&19u16.to_be_bytes()); // bad length
    bad.push(p);
    let mut p = good.clone();
    p[21] = 0xff; // first attribute overruns the packet
    bad.push(p);
    let mut p = good.clone();
    p.push(1); // a lone attribute type byte
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    bad.push(p);
    let mut p = vec![0u8; 5000]; // oversize datagram
    p[..good.len()].copy_from_slice(&good);
    bad.push(p);
    for b in &bad {
        assert!(
            c.exchange(b, s.addr(), Duration::from_millis(300))
                .is_none(),
            "a malformed datagram was answered"
        );
    }
    let resp = c.exchange(&good, s.addr(), Duration::from_secs(5)).unwrap();
    assert_eq!(c.decode(&resp, &good).get_code(), Code::AccessAccept);
    for why in ["malformed", "oversize_datagram"] {
        s.log_containing(why);
    }
}

#[test]
fn radius_a_flood_of_junk_is_not_a_flood_of_log_lines() {
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, _) = t.enroll_totp("quinn");
    let s = start(t);
    // 300 packets signed with the wrong secret within a few tens of milliseconds (in bursts of
    // 25, so that the kernel's default socket buffer never overflows and every one arrives).
    let wrong = Client::new("not-the-shared-secret");
    for i in 0..300u32 {
        let req = wrong.access_request((i % 256) as u8, "quinn", "123456");
        wrong.sock.send_to(&req, s.addr()).unwrap();
        if i % 25 == 24 {
            std::thread::sleep(Duration::from_millis(3));
        }
    }
    // Real requests still get through meanwhile.
    let c = Client::new(SECRET);
    let req = c.access_request(1, "quinn", &oathtool_code(&secret, 0));
    let resp = c.exchange(&req, s.addr(), Duration::from_secs(10)).unwrap();
    assert_eq!(c.decode(&resp, &req).get_code(), Code::AccessAccept);
    // A second later, the next dropped packet's line comes after the count of those not written.
    std::thread::sleep(Duration::from_millis(1100));
    let req = wrong.access_request(1, "quinn", "123456");
    wrong.sock.send_to(&req, s.addr()).unwrap();
    let log = s.log_containing("more dropped-packet lines not written");
    let written = log.matches("dropped packet").count();
    assert!(
        (20..=41).contains(&written),
        "{written} dropped-packet lines for 301 junk packets:\n{log}"
    );
    let told: u64 = log
        .lines()
        .filter_map(|l| l.strip_prefix("tessera-radiusd: warning: "))
        .filter_map(|l| {
            l.strip_suffix(" more dropped-packet lines not written (at most 20 a second)")
        })
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert_eq!(told + written as u64, 301, "{log}");
}

#[test]
fn radius_hundreds_of_simultaneous_requests_are_all_answered_correctly() {
    const USERS: usize = 300;
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let secrets = enroll_many(&t, USERS);
    let s = start(t);
    // Every third user sends a wrong code; all requests leave before any answer is read.
    let clients: Vec<Client> = (0..4).map(|_| Client::new(SECRET)).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let requests: Vec<(usize, Vec<u8>)> = secrets
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let code = if i % 3 == 0 {
                wrong_at(key, now)
            } else {
                totp_at(key, now)
            };
            let ci = i % clients.len();
            let id = u8::try_from(i / clients.len()).unwrap();
            (
                ci,
                clients[ci].access_request(id, &format!("user{i}"), &code),
            )
        })
        .collect();
    let answered = send_all_then_read(&s, &clients, &requests);
    for (i, a) in answered.iter().enumerate() {
        let want = if i % 3 == 0 {
            Code::AccessReject
        } else {
            Code::AccessAccept
        };
        assert_eq!(*a, want, "user{i}");
    }
}

/// Send every packet before reading any answer; the codes of the answers, in sending order.
/// Requests still unanswered after a while are sent again, as a NAS retransmits (a burst can
/// overflow the server's receive buffer when the machine is busy: net.core.rmem_max caps it);
/// the duplicate cache answers a retransmission without deciding it twice.
fn send_all_then_read(s: &Radiusd, clients: &[Client], requests: &[(usize, Vec<u8>)]) -> Vec<Code> {
    for (ci, req) in requests {
        clients[*ci].sock.send_to(req, s.addr()).unwrap();
    }
    let mut answered: Vec<Option<Code>> = vec![None; requests.len()];
    for round in 0..4 {
        for (ci, c) in clients.iter().enumerate() {
            let waiting = requests
                .iter()
                .zip(&answered)
                .filter(|((k, _), a)| *k == ci && a.is_none())
                .count();
            for _ in 0..waiting {
                let Some(resp) = c.receive(Duration::from_secs(10)) else {
                    break;
                };
                let i = requests
                    .iter()
                    .position(|(k, r)| *k == ci && r[1] == resp[1])
                    .unwrap();
                answered[i] = Some(c.decode(&resp, &requests[i].1).get_code());
            }
        }
        let missing: Vec<usize> = (0..requests.len())
            .filter(|i| answered[*i].is_none())
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            round < 3,
            "{} requests unanswered after 3 retransmissions\n{}",
            missing.len(),
            s.log()
        );
        for i in missing {
            let (ci, req) = &requests[i];
            clients[*ci].sock.send_to(req, s.addr()).unwrap();
        }
    }
    answered.into_iter().map(Option::unwrap).collect()
}

#[test]
fn radius_one_code_sent_many_times_at_once_is_accepted_once() {
    // Distinct packets (not retransmissions) with the same code arrive together, so most are
    // decided in one batch: the batch must see its own claim of the step.
    let t = install("mode = \"otp-only\"\nfirst_factor = \"none\"", "");
    let (secret, _) = t.enroll_totp("olga");
    let s = start(t);
    let code = oathtool_code(&secret, 0);
    let clients: Vec<Client> = (0..4).map(|_| Client::new(SECRET)).collect();
    let requests: Vec<(usize, Vec<u8>)> = (0..40u8)
        .map(|i| {
            let ci = usize::from(i) % clients.len();
            (ci, clients[ci].access_request(i, "olga", &code))
        })
        .collect();
    let codes = send_all_then_read(&s, &clients, &requests);
    let accepts = codes.iter().filter(|c| **c == Code::AccessAccept).count();
    assert_eq!(accepts, 1, "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Code::AccessAccept | Code::AccessReject))
    );
    let audit = s
        .install
        .tessera_json(&["audit", "--user", "olga", "--limit", "100"])
        .to_string();
    assert_eq!(audit.matches("\"accept\"").count(), 1, "{audit}");
    assert_eq!(audit.matches("\"reject\"").count(), 39, "{audit}");
    assert!(audit.contains("replayed"), "{audit}");
}

#[test]
fn radius_locked_store_fails_closed_and_keeps_nothing() {
    let t = Install::with_store(
        "busy_timeout = \"300ms\"",
        &radius_sections("mode = \"otp-only\"\nfirst_factor = \"none\"", "", ""),
    );
    let (secret, _) = t.enroll_totp("pia");
    let s = start(t);
    let db = s.install.dir.path().join("db/tessera.db");
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let c = Client::new(SECRET);
    let code = oathtool_code(&secret, 0);
    let req = c.access_request(1, "pia", &code);
    let resp = c.exchange(&req, s.addr(), Duration::from_secs(10)).unwrap();
    assert_eq!(c.decode(&resp, &req).get_code(), Code::AccessReject);
    let log = s.log_containing("locked by another writer");
    assert!(log.contains("user=pia result=reject reason=error"), "{log}");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    // Nothing was consumed while the store was locked: the same code now logs in (a new
    // packet: the reject above is what a retransmission would get).
    let req = c.access_request(2, "pia", &code);
    let resp = c.exchange(&req, s.addr(), Duration::from_secs(10)).unwrap();
    assert_eq!(c.decode(&resp, &req).get_code(), Code::AccessAccept);
    let audit = s
        .install
        .tessera_json(&["audit", "--user", "pia"])
        .to_string();
    // (The locked store could not take an audit row for the failure; the log has it.)
    assert_eq!(audit.matches("\"accept\"").count(), 1, "{audit}");
    assert!(!audit.contains("replayed"), "{audit}");
}

#[test]
fn radius_sighup_reloads_clients_and_sigterm_stops_cleanly() {
    let t = install("", "");
    let config = t.config.clone();
    let mut s = start(t);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(SECRET, "a-rotated-shared-secret-0123"),
    )
    .unwrap();
    let pid = s.child.id().to_string();
    let ok = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(ok.success());
    s.wait_ready("a-rotated-shared-secret-0123");
    // Written after the new generation is in place, which may be after it answered the probe.
    s.log_containing("configuration reloaded");
    let r = s.radclient("status", SECRET, "Message-Authenticator = 0x00\n");
    assert_eq!(r.reply, None, "the old secret no longer works: {}", r.out);

    let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(ok.success());
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", s.log());
    assert!(s.log().contains("stopped"), "{}", s.log());
}

// ---------------------------------------------------------------------------------------------

/// Enroll `n` users (`user0`…) through the library (the CLI would take minutes in a debug
/// build); returns their raw TOTP secrets.
fn enroll_many(t: &Install, n: usize) -> Vec<Vec<u8>> {
    crate::storm::enroll(&t.config, "user", n)
        .into_iter()
        .map(|u| u.secret)
        .collect()
}

/// A code valid at none of the steps around `now`: with 100 wrong codes, changing the last
/// digit of the current one would now and then hit a neighbouring step's code, which the
/// server's window accepts.
fn wrong_at(key: &[u8], now: u64) -> String {
    let near: Vec<String> = [-2i64, -1, 0, 1, 2]
        .iter()
        .map(|d| totp_at(key, now.saturating_add_signed(d * 30)))
        .collect();
    let mut code = wrong(&near[2]);
    while near.contains(&code) {
        code = wrong(&code);
    }
    code
}

fn totp_at(key: &[u8], now: u64) -> String {
    let p = tessera_common::testing::TotpParams {
        algorithm: tessera_common::TotpAlgorithm::Sha1,
        digits: 6,
        period: 30,
        window: 0,
    };
    tessera_common::testing::totp_code(&p, key, now).unwrap()
}

/// A Calling-Station-Id is whatever the client sent: terminal escapes and new lines in it must
/// not reach the admin's terminal through `tessera audit`, nor forge a line there.
#[test]
fn radius_hostile_calling_station_id_is_escaped_in_the_audit_table() {
    let t = install("mode = \"append\"", "");
    let s = start(t);
    // radclient turns \033, \n and \r into the bytes themselves.
    let forged = "203.0.113.9\\033[2J\\033[H\\r\\n2026-01-01T00:00:00Z root             sshd           10.0.0.1         accept  totp";
    let attrs = pap("mallory", "hunter2").replace("203.0.113.9", forged);
    let r = s.radclient("auth", SECRET, &attrs);
    assert!(r.is("Access-Reject"), "{}", r.out);
    let install = &s.install;
    // JSON stays valid JSON and keeps what was sent.
    let v = install.tessera_json(&["audit", "--limit", "10"]);
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    let source = events[0]["source"].as_str().unwrap();
    assert!(
        source.contains('\u{1b}') && source.contains('\n'),
        "{source:?}"
    );
    // The table shows it escaped: no ESC byte, no CR, one line per row.
    let out = install.tessera(&["audit", "--limit", "10"]);
    assert!(out.status.success());
    assert!(
        !out.stdout.contains(&0x1b),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!out.stdout.contains(&b'\r'));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row: {text}");
    assert!(lines[1].contains("mallory"), "{text}");
    assert!(!lines.iter().any(|l| l.starts_with("2026-01-01")), "{text}");
    assert!(lines[1].contains("\\u{1b}[2J"), "{text}");
}

/// A flood of Access-Requests for names nobody has does not grow the audit table a row a
/// packet: one row per source per minute carries the count, and beyond `[audit] max_rows`
/// `tessera audit prune` (what the server's maintenance thread runs once a minute) cuts the
/// oldest.
#[test]
fn radius_a_flood_of_unknown_names_stays_within_the_audit_bound() {
    let t = install_with("mode = \"append\"", "", "[audit]\nmax_rows = 100\n");
    let s = start(t);
    let c = Client::new(SECRET);
    let send = |i: u32, user: &str, station: &str| {
        let mut p = c.access_packet((i % 256) as u8, user, "hunter2123456");
        p.add(radius::core::avp::AVP::from_string(31, station));
        let req = c.sign(p);
        // As a NAS does, the same bytes again when no answer came (on a loaded machine a reply
        // can be lost; the retransmission gets the cached one and is not counted again). A
        // late copy of the first answer is thrown away, not read as the next request's.
        let mut resp = None;
        for attempt in 0..3 {
            resp = c.exchange(&req, s.addr(), Duration::from_secs(5));
            if resp.is_some() {
                if attempt > 0 {
                    c.drain();
                }
                break;
            }
        }
        let resp = resp.unwrap_or_else(|| panic!("no answer to {user} after three tries"));
        assert_eq!(c.decode(&resp, &req).get_code(), Code::AccessReject);
    };
    for i in 0..300 {
        send(i, &format!("bot{i}"), "198.51.100.7");
    }
    let v = s.install.tessera_json(&["audit", "--limit", "1000"]);
    let events = v["events"].as_array().unwrap();
    // One row, or two when the flood crossed a minute.
    assert!(events.len() <= 2, "{v}");
    let total: u64 = events.iter().map(|e| e["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 300, "{v}");
    assert!(
        events
            .iter()
            .all(|e| e["detail"] == "bad_password; unknown_user"),
        "{v}"
    );

    // Many sources: a row each, until pruned down to max_rows.
    for i in 0..150 {
        // A name each too: one name from everywhere would be throttled (and fold per name).
        send(i, &format!("x{i}"), &format!("198.51.100.{}", i % 250 + 1));
        send(i, &format!("y{i}"), &format!("203.0.113.{}", i % 250 + 1));
    }
    let rows = |install: &Install| {
        install.tessera_json(&["audit", "--limit", "10000"])["events"]
            .as_array()
            .unwrap()
            .len()
    };
    // 301 rows were written; the server prunes now and then on its own (and once a minute on
    // its maintenance thread), `tessera audit prune` at once. Its own admin row comes on top.
    let pruned = s.install.tessera_json(&["audit", "prune"]);
    assert!(pruned["deleted"].is_u64(), "{pruned}");
    assert!(rows(&s.install) <= 101, "{}", rows(&s.install));

    // --older-than 1s: everything but what was written since goes.
    std::thread::sleep(Duration::from_millis(2100));
    let pruned = s
        .install
        .tessera_json(&["audit", "prune", "--older-than", "1s"]);
    assert!(pruned["deleted"].as_u64().unwrap() >= 99, "{pruned}");
    assert!(rows(&s.install) <= 1);
}
