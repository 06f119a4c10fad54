//! `tessera-radiusd --health-check` (the container image's HEALTHCHECK) against a running
//! server, a stopped one, a silent one, one that signs with another secret, and a configuration
//! with no client for 127.0.0.1; and FreeRADIUS's radclient `status` from the same set-up (with
//! `-S`, as docs/radius.md shows), so the two agree.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use radius::core::code::Code;
use radius::core::packet::Packet;
use tessera_tests::{Install, bin, require, run_with_input};

use crate::radius::{SECRET, start};

/// What the health check printed, and how long it took.
struct Check {
    out: Output,
    elapsed: Duration,
}

impl Check {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Exit 1 with exactly one line on stderr, which contains every `needle` and no secret.
    fn assert_unhealthy(&self, needles: &[&str]) -> String {
        let err = self.stderr();
        assert_eq!(self.out.status.code(), Some(1), "{err}{}", self.stdout());
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        for n in needles {
            assert!(err.contains(n), "no {n:?} in: {err}");
        }
        assert!(
            !err.contains(SECRET) && !err.contains(OTHER_SECRET),
            "{err}"
        );
        err
    }
}

const OTHER_SECRET: &str = "another-long-shared-secret-42";

/// A UDP port on 127.0.0.1 that was free a moment ago.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// An installation whose server listens on 127.0.0.1:`port` with a `healthcheck` client for
/// 127.0.0.1 whose secret (SECRET) is in a file, as packaging/docker/radiusd.toml has it.
/// Returns it with the secret file.
fn installation(port: u16) -> (Install, PathBuf) {
    let t = Install::new(&format!("[radius]\nlisten = [\"127.0.0.1:{port}\"]\n"));
    let secret_file = t.dir.path().join("healthcheck.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(
        &secret_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    append(
        &t,
        &format!(
            "\n[[radius.clients]]\nname = \"healthcheck\"\naddress = \"127.0.0.1\"\nsecret_file = \"{}\"\n",
            secret_file.display()
        ),
    );
    (t, secret_file)
}

fn append(t: &Install, text: &str) {
    let mut config = std::fs::read_to_string(&t.config).unwrap();
    config.push_str(text);
    std::fs::write(&t.config, config).unwrap();
}

fn health(t: &Install, args: &[&str]) -> Check {
    let start = Instant::now();
    let out = Command::new(bin("tessera-radiusd"))
        .arg("--config")
        .arg(&t.config)
        .arg("--health-check")
        .args(args)
        .env_remove("TESSERA_CONFIG")
        .output()
        .unwrap();
    Check {
        out,
        elapsed: start.elapsed(),
    }
}

#[test]
fn health_check_accepts_a_running_server_and_radclient_status_agrees() {
    let port = free_udp_port();
    let (t, secret_file) = installation(port);
    let server = start(t);
    let t = &server.install;
    for args in [&[][..], &["--client", "healthcheck", "--timeout", "1s"][..]] {
        let c = health(t, args);
        let out = c.stdout();
        assert!(c.out.status.success(), "{}{out}", c.stderr());
        assert!(
            out.starts_with(&format!(
                "tessera-radiusd: healthy: 127.0.0.1:{port} answered Status-Server from client \"healthcheck\" in "
            )),
            "{out}"
        );
        assert!(out.ends_with(": Tessera RADIUS server is up\n"), "{out}");
        assert!(!out.contains(SECRET), "{out}");
    }
    // The real radclient, given the same secret file (docs/radius.md's command), gets the same
    // signed Access-Accept.
    let mut cmd = Command::new(require("radclient"));
    cmd.args(["-x", "-r", "1", "-t", "2", "-S"])
        .arg(&secret_file)
        .args([&format!("127.0.0.1:{port}"), "status"]);
    let out = run_with_input(cmd, "Message-Authenticator = 0x00\n");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Received Access-Accept"), "{text}");
    assert!(text.contains("Message-Authenticator = "), "{text}");
    assert!(
        text.contains("Reply-Message = \"Tessera RADIUS server is up\""),
        "{text}"
    );
}

/// A secret file changed on disk but not yet reloaded: the server drops the check's request
/// (it cannot authenticate it), so the check times out and says the secret is the likely cause;
/// after SIGHUP both sides agree again.
#[test]
fn health_check_with_a_secret_the_server_has_not_loaded_times_out_naming_the_secret() {
    let port = free_udp_port();
    let (t, secret_file) = installation(port);
    let server = start(t);
    let t = &server.install;
    std::fs::write(&secret_file, format!("{OTHER_SECRET}\n")).unwrap();
    let c = health(t, &["--timeout", "1s"]);
    c.assert_unhealthy(&[
        &format!("no answer from 127.0.0.1:{port} within 1s"),
        "its secret for client \"healthcheck\" probably differs from the one in",
        "reload it with SIGHUP",
    ]);
    assert!(
        c.elapsed >= Duration::from_secs(1) && c.elapsed < Duration::from_secs(3),
        "{:?}",
        c.elapsed
    );
    server.log_containing("status_server_without_valid_message_authenticator");

    let ok = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = health(t, &["--timeout", "300ms"]);
        if c.out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            c.stderr(),
            server.log()
        );
    }
}

/// Something answers on the port, signing with another secret: the answer's Response
/// Authenticator says so.
#[test]
fn health_check_names_a_wrong_secret_in_the_answer() {
    let responder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = responder.local_addr().unwrap().port();
    let (t, _) = installation(port);
    let answering = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let (n, from) = responder.recv_from(&mut buf).unwrap();
        let request = Packet::decode(&buf[..n], OTHER_SECRET.as_bytes()).unwrap();
        let answer = request
            .make_response_packet(Code::AccessAccept)
            .encode()
            .unwrap();
        responder.send_to(&answer, from).unwrap();
    });
    let c = health(&t, &[]);
    answering.join().unwrap();
    c.assert_unhealthy(&[&format!(
        "the answer from 127.0.0.1:{port} fails its Response Authenticator: wrong secret (the \
         server's secret for client \"healthcheck\" is not the one in {}",
        t.config.display()
    )]);
}

/// No server: refused at once. A socket that never answers: given up at the timeout.
#[test]
fn health_check_without_an_answer_fails_within_the_timeout() {
    let port = free_udp_port();
    let (t, _) = installation(port);
    let c = health(&t, &["--timeout", "2s"]);
    c.assert_unhealthy(&[&format!(
        "nothing listens on 127.0.0.1:{port} (connection refused): tessera-radiusd is not running"
    )]);
    assert!(c.elapsed < Duration::from_secs(2), "{:?}", c.elapsed);

    let _silent = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let c = health(&t, &["--timeout", "500ms"]);
    c.assert_unhealthy(&[&format!("no answer from 127.0.0.1:{port} within 500ms")]);
    assert!(
        c.elapsed >= Duration::from_millis(500) && c.elapsed < Duration::from_secs(2),
        "{:?}",
        c.elapsed
    );
}

#[test]
fn health_check_without_a_loopback_client_names_the_entry_to_add() {
    let t = Install::new(&format!(
        "[radius]\nlisten = [\"0.0.0.0:{}\"]\n\n[[radius.clients]]\nname = \"vpn\"\naddress = \"192.0.2.0/24\"\nsecret = \"{SECRET}\"\n",
        free_udp_port()
    ));
    let c = health(&t, &[]);
    c.assert_unhealthy(&[&format!(
        "no [[radius.clients]] entry in {} covers 127.0.0.1, the address the health check sends \
         from: add one with its own secret, e.g. [[radius.clients]] name = \"healthcheck\" \
         address = \"127.0.0.1\" secret_file = \"/etc/tessera/healthcheck.secret\"",
        t.config.display()
    )]);
    let c = health(&t, &["--client", "vpn"]);
    c.assert_unhealthy(&["--client \"vpn\": its address 192.0.2.0/24 does not cover 127.0.0.1"]);
}

/// packaging/docker/radiusd.toml as shipped (its volume paths moved into a temp dir, its port
/// made free), set up in the order the Dockerfile's header gives: the health check's secret,
/// `tessera init`, the server; then the image's HEALTHCHECK command turns healthy, through the
/// `0.0.0.0` → 127.0.0.1 mapping.
#[test]
fn container_example_config_passes_its_own_health_check() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("var-lib-tessera-radiusd");
    std::fs::create_dir(&volume).unwrap();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/docker/radiusd.toml");
    let shipped = std::fs::read_to_string(example).unwrap();
    assert!(shipped.contains("listen = [\"0.0.0.0:1812\"]"), "{shipped}");
    let port = free_udp_port();
    let text = shipped
        .replace("/var/lib/tessera-radiusd", &volume.display().to_string())
        .replace("0.0.0.0:1812", &format!("0.0.0.0:{port}"));
    let config = dir.path().join("radiusd.toml");
    std::fs::write(&config, text).unwrap();
    let cmd = |program: &str| {
        let mut c = Command::new(bin(program));
        c.env("TESSERA_CONFIG", &config);
        c
    };

    // `init` reads the whole configuration: before the secret exists it says which file.
    let out = cmd("tessera").arg("init").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("healthcheck.secret"),
        "{err}"
    );
    std::fs::create_dir(volume.join("secrets")).unwrap();
    std::fs::write(
        volume.join("secrets/healthcheck.secret"),
        "c29tZS1yYW5kb20tc2VjcmV0LW9mLTMyLWJ5dGVz\n",
    )
    .unwrap();
    let out = cmd("tessera").arg("init").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(volume.join("tessera.key").exists() && volume.join("tessera.db").exists());

    let log = dir.path().join("radiusd.log");
    let mut server = cmd("tessera-radiusd")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let healthy = loop {
        let out = cmd("tessera-radiusd")
            .args(["--health-check", "--timeout", "2s"])
            .output()
            .unwrap();
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = server.kill();
    let _ = server.wait();
    let out = String::from_utf8_lossy(&healthy.stdout);
    assert!(
        out.contains(&format!(
            "healthy: 127.0.0.1:{port} answered Status-Server from client \"healthcheck\""
        )),
        "{out}{}\n{}",
        String::from_utf8_lossy(&healthy.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
