//! `tessera-radiusd --health-check`: ask the server on this host whether it answers, as a
//! container's HEALTHCHECK or a monitoring script would, with a Status-Server (RFC 5997).
//!
//! The check reads the server's own configuration: it sends to the first `[radius] listen`
//! address (a wildcard becomes the loopback address of its family), from that same address, so
//! the server takes it for the `[[radius.clients]]` entry that covers it and answers with that
//! entry's secret. The answer counts only if its Response Authenticator and Message-Authenticator
//! verify and it is an Access-Accept. Exit 0 when it does, else 1 (Docker reserves 2) with one
//! line on stderr that says what is wrong. No secret is ever printed.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use radius::core::code::Code;
use tessera_common::{Config, ConfigError, printable};

use crate::clients::{Client, Clients};
use crate::codec::{self, AnswerError, CodecError};
use crate::log::PREFIX;

/// Longest `--timeout` (a health check that waits longer than this is a hung check).
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// What to check: the options of `--health-check`.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// The `[[radius.clients]]` entry to ask as (by name); it must be the one the server takes
    /// the check's address for.
    pub client: Option<String>,
    /// How long to wait for the answer.
    pub timeout: Duration,
}

/// A valid answer.
#[derive(Debug)]
pub struct Healthy {
    pub target: SocketAddr,
    pub client: String,
    pub elapsed: Duration,
    pub reply_message: Option<String>,
}

/// Why the server is not known to be healthy. Each message names the address, the client and
/// the configuration file concerned, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}: [radius] listen is empty")]
    NoListen(PathBuf),
    #[error(
        "{path}: [radius] listen {listen} has port 0 (any free port): the health check cannot \
         know which one the server took; give a fixed port"
    )]
    NoFixedPort { path: PathBuf, listen: SocketAddr },
    #[error(
        "no [[radius.clients]] entry in {path} covers {ip}, the address the health check sends \
         from: add one with its own secret, e.g. [[radius.clients]] name = \"healthcheck\" \
         address = \"{ip}\" secret_file = \"/etc/tessera/healthcheck.secret\""
    )]
    NoClient { path: PathBuf, ip: IpAddr },
    #[error("--client {name:?}: no [[radius.clients]] entry in {path} has this name")]
    UnknownClient { path: PathBuf, name: String },
    #[error(
        "--client {name:?}: its address {network} does not cover {ip}, the address the health \
         check sends from{}",
        shadowing_client(.taken_as)
    )]
    ClientNotCovering {
        name: String,
        network: ipnet::IpNet,
        ip: IpAddr,
        taken_as: Option<String>,
    },
    #[error(
        "--client {name:?}: the server takes {ip}, the address the health check sends from, for \
         client {taken_as:?} (a more specific entry), not for this one"
    )]
    ClientShadowed {
        name: String,
        ip: IpAddr,
        taken_as: String,
    },
    #[error("cannot send a Status-Server from {ip} to {target}: {source}")]
    Socket {
        ip: IpAddr,
        target: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the Status-Server: {0}")]
    Encode(CodecError),
    #[error(
        "nothing listens on {target} (connection refused): tessera-radiusd is not running, or \
         not on this address"
    )]
    Refused { target: SocketAddr },
    #[error(
        "no answer from {target} within {}: tessera-radiusd drops a Status-Server it cannot \
         authenticate, so its secret for client {client:?} probably differs from the one in \
         {path} (it logs status_server_without_valid_message_authenticator; after changing a \
         secret, reload it with SIGHUP), or it is hung",
        humantime::format_duration(*.timeout)
    )]
    Timeout {
        target: SocketAddr,
        client: String,
        path: PathBuf,
        timeout: Duration,
    },
    #[error(
        "the answer from {target} fails its Response Authenticator: wrong secret (the server's \
         secret for client {client:?} is not the one in {path})"
    )]
    WrongSecret {
        target: SocketAddr,
        client: String,
        path: PathBuf,
    },
    #[error("the answer from {target} is not to be believed: {reason}")]
    BadAnswer {
        target: SocketAddr,
        reason: AnswerError,
    },
    #[error("{target} answered {code} instead of Access-Accept")]
    NotAccepted { target: SocketAddr, code: String },
    #[error("cannot wait for the answer from {target}: {source}")]
    Receive {
        target: SocketAddr,
        source: std::io::Error,
    },
}

/// The end of [`HealthError::ClientNotCovering`]'s message.
fn shadowing_client(other: &Option<String>) -> String {
    match other {
        Some(other) => format!(" (the server takes that address for client {other:?})"),
        None => String::new(),
    }
}

/// `--timeout`: a humantime duration ("2s", "500ms") in 1 ms..=60 s.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(1) || d > MAX_TIMEOUT {
        return Err(format!("{s} is outside 1ms..=60s"));
    }
    Ok(d)
}

impl HealthCheck {
    /// Run the check on the configuration at `path`, print its one line (stdout when healthy,
    /// stderr when not) and return the exit code.
    pub fn run(&self, path: &Path) -> ExitCode {
        match self.check(path) {
            Ok(h) => {
                println!(
                    "{PREFIX}healthy: {} answered Status-Server from client {:?} in {:.1} ms{}",
                    h.target,
                    printable(&h.client),
                    h.elapsed.as_secs_f64() * 1000.0,
                    h.reply_message
                        .map(|m| format!(": {}", printable(&m)))
                        .unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{PREFIX}unhealthy: {e}");
                ExitCode::FAILURE
            }
        }
    }

    /// Load the configuration as the server does, then ask.
    pub fn check(&self, path: &Path) -> Result<Healthy, HealthError> {
        let config = Config::load(path)?;
        let Some(&listen) = config.radius.listen.first() else {
            return Err(HealthError::NoListen(path.to_path_buf()));
        };
        let target = target(listen).ok_or_else(|| HealthError::NoFixedPort {
            path: path.to_path_buf(),
            listen,
        })?;
        let clients = Clients::from_config(&config.radius);
        let client = pick(&clients, &config, path, self.client.as_deref(), target.ip())?;
        self.ask(target, &client, path)
    }

    fn ask(
        &self,
        target: SocketAddr,
        client: &Client,
        path: &Path,
    ) -> Result<Healthy, HealthError> {
        let secret = client.secret.expose();
        let request = codec::status_server(secret).map_err(HealthError::Encode)?;
        let socket_error = |source| HealthError::Socket {
            ip: target.ip(),
            target,
            source,
        };
        // Sent from the target's own address, so the server looks up the client that `pick`
        // found; connected, so an ICMP port unreachable comes back as "refused".
        let sock = UdpSocket::bind(SocketAddr::new(target.ip(), 0)).map_err(socket_error)?;
        sock.connect(target).map_err(socket_error)?;
        let start = Instant::now();
        let deadline = start + self.timeout;
        match sock.send(&request) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                return Err(HealthError::Refused { target });
            }
            Err(e) => return Err(socket_error(e)),
        }
        let mut buf = [0u8; codec::MAX_PACKET];
        // A datagram that does not verify (one queued before `connect`, say) is set aside, not
        // taken as the answer: it is told only if no valid answer comes in time.
        let mut refused: Option<HealthError> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(refused.unwrap_or_else(|| HealthError::Timeout {
                    target,
                    client: printable(&client.name).to_string(),
                    path: path.to_path_buf(),
                    timeout: self.timeout,
                }));
            }
            sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(socket_error)?;
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    return Err(HealthError::Refused { target });
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => return Err(HealthError::Receive { target, source }),
            };
            let answer = match codec::check_answer(&buf[..n], &request, secret) {
                Ok(a) => a,
                // A late answer to something else: not ours, wait on.
                Err(AnswerError::OtherIdentifier) => continue,
                Err(AnswerError::BadResponseAuthenticator) => {
                    refused = Some(HealthError::WrongSecret {
                        target,
                        client: printable(&client.name).to_string(),
                        path: path.to_path_buf(),
                    });
                    continue;
                }
                Err(reason) => {
                    refused = Some(HealthError::BadAnswer { target, reason });
                    continue;
                }
            };
            return match answer.code() {
                Code::AccessAccept => Ok(Healthy {
                    target,
                    client: client.name.clone(),
                    elapsed: start.elapsed(),
                    reply_message: answer.text(codec::REPLY_MESSAGE),
                }),
                other => Err(HealthError::NotAccepted {
                    target,
                    code: format!("{other:?}"),
                }),
            };
        }
    }
}

/// Where to send: the listen address, a wildcard replaced by the loopback address of its
/// family (the server binds `[::]` for IPv6 only). `None` for port 0.
fn target(listen: SocketAddr) -> Option<SocketAddr> {
    if listen.port() == 0 {
        return None;
    }
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Some(SocketAddr::new(ip, listen.port()))
}

/// The client the server will take `ip` for (its longest matching prefix, as for any
/// request); with `name`, that one, which must be the same.
fn pick(
    clients: &Clients,
    config: &Config,
    path: &Path,
    name: Option<&str>,
    ip: IpAddr,
) -> Result<Arc<Client>, HealthError> {
    let found = clients.find(ip).cloned();
    let Some(name) = name else {
        return found.ok_or_else(|| HealthError::NoClient {
            path: path.to_path_buf(),
            ip,
        });
    };
    let Some(named) = config.radius.clients.iter().find(|c| c.name == name) else {
        return Err(HealthError::UnknownClient {
            path: path.to_path_buf(),
            name: printable(name).to_string(),
        });
    };
    match found {
        Some(c) if c.name == name => Ok(c),
        Some(c) if named.network.contains(&ip.to_canonical()) => Err(HealthError::ClientShadowed {
            name: printable(name).to_string(),
            ip,
            taken_as: printable(&c.name).to_string(),
        }),
        other => Err(HealthError::ClientNotCovering {
            name: printable(name).to_string(),
            network: named.network,
            ip,
            taken_as: other.map(|c| printable(&c.name).to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/tessera/radiusd.toml";

    fn config(text: &str) -> Config {
        Config::parse(Path::new(PATH), text).unwrap()
    }

    fn pick_in(text: &str, name: Option<&str>, ip: &str) -> Result<Arc<Client>, HealthError> {
        let c = config(text);
        let clients = Clients::from_config(&c.radius);
        pick(&clients, &c, Path::new(PATH), name, ip.parse().unwrap())
    }

    const CLIENTS: &str = r#"
[[radius.clients]]
name = "vpn"
address = "192.0.2.0/24"
secret = "vpn-secret"

[[radius.clients]]
name = "healthcheck"
address = "127.0.0.1"
secret = "health-secret"

[[radius.clients]]
name = "loopback-net"
address = "127.0.0.0/8"
secret = "net-secret"
"#;

    #[test]
    fn wildcards_become_loopback_and_port_0_cannot_be_checked() {
        let t = |s: &str| target(s.parse().unwrap()).map(|a| a.to_string());
        assert_eq!(t("0.0.0.0:1812").as_deref(), Some("127.0.0.1:1812"));
        assert_eq!(t("[::]:1812").as_deref(), Some("[::1]:1812"));
        assert_eq!(t("192.0.2.10:11812").as_deref(), Some("192.0.2.10:11812"));
        assert_eq!(t("127.0.0.1:0"), None);
    }

    #[test]
    fn the_client_is_the_one_the_server_would_take() {
        assert_eq!(
            pick_in(CLIENTS, None, "127.0.0.1").unwrap().name,
            "healthcheck"
        );
        assert_eq!(
            pick_in(CLIENTS, None, "127.0.0.2").unwrap().name,
            "loopback-net"
        );
        let ok = pick_in(CLIENTS, Some("healthcheck"), "127.0.0.1").unwrap();
        assert_eq!(ok.name, "healthcheck");
    }

    #[test]
    fn no_loopback_client_names_the_entry_to_add() {
        let e = pick_in(CLIENTS, None, "::1").err().unwrap().to_string();
        assert!(e.contains(PATH), "{e}");
        assert!(e.contains(r#"address = "::1""#), "{e}");
    }

    #[test]
    fn a_named_client_must_exist_and_cover_the_address() {
        let e = pick_in(CLIENTS, Some("nas"), "127.0.0.1")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("--client \"nas\": no [[radius.clients]] entry"),
            "{e}"
        );
        let e = pick_in(CLIENTS, Some("vpn"), "127.0.0.1")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("192.0.2.0/24 does not cover 127.0.0.1"), "{e}");
        assert!(
            e.contains("takes that address for client \"healthcheck\""),
            "{e}"
        );
        // Covering is not enough: the server would answer as the more specific entry.
        let e = pick_in(CLIENTS, Some("loopback-net"), "127.0.0.1")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("for client \"healthcheck\" (a more specific entry)"),
            "{e}"
        );
    }

    #[test]
    fn no_message_carries_a_secret() {
        for (name, ip) in [
            (None, "::1"),
            (Some("vpn"), "127.0.0.1"),
            (Some("x"), "127.0.0.1"),
        ] {
            let e = pick_in(CLIENTS, name, ip).err().unwrap().to_string();
            assert!(!e.contains("-secret"), "{e}");
        }
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("2m").is_err());
        assert!(parse_timeout("soon").is_err());
    }
}
