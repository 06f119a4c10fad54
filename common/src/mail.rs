//! Sending mail: a [`Mailer`] trait, the SMTP implementation (lettre, blocking transport, rustls),
//! and a recording mailer for unit tests. The core calls it synchronously; the RADIUS server runs
//! core calls on its blocking pool, so SMTP never blocks its packet loop.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::base::address::mask_address;
use crate::config::{EmailConfig, SmtpSecurity};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The address, masked (`a***@example.com`).
    #[error("invalid address {0}")]
    Address(String),
    #[error("cannot read ca_file {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("SMTP server {server} failed: {why}")]
    Smtp {
        server: String,
        /// The server's reply code, when it answered with one.
        reply: Option<u16>,
        /// lettre's account, reply text included (a log line, never the audit table).
        why: String,
    },
    #[error("SMTP server {server} did not take the message within {} ([email] timeout)", humantime::format_duration(*timeout))]
    Timeout { server: String, timeout: Duration },
    /// Not sent: the sender's bound on mails in progress was reached (the RADIUS server's: its
    /// workers must not all wait for an SMTP server that hangs).
    #[error("not sent: {0} mails are being sent already (the most at once)")]
    Overloaded(usize),
    /// [`MAX_LIVE_SENDS`] sends given up at their deadline are still running: no new one starts.
    #[error(
        "mail system busy: {live} sends to SMTP server {server} are still running past [email] timeout"
    )]
    Busy { server: String, live: usize },
}

impl MailError {
    /// What went wrong in a word or two and a reply code, for the audit table: never an
    /// address, never the server's text (which may quote either).
    pub fn category(&self) -> String {
        match self {
            MailError::Address(_) => "invalid_address".into(),
            MailError::CaFile { .. } => "ca_file".into(),
            MailError::Tls(_) => "tls_setup".into(),
            MailError::Message(_) => "message".into(),
            MailError::Smtp {
                reply: Some(code), ..
            } => format!("smtp_reply_{code}"),
            MailError::Smtp { reply: None, .. } => "smtp_connection".into(),
            MailError::Timeout { .. } => "timeout".into(),
            MailError::Overloaded(_) | MailError::Busy { .. } => "busy".into(),
        }
    }
}

/// Sending threads alive at once in this process, those given up at their deadline included
/// (a thread cannot be stopped, and a server that answers a byte at a time keeps it going): past
/// this, a send fails at once as [`MailError::Busy`] instead of leaving one more thread behind.
pub const MAX_LIVE_SENDS: usize = 8;

/// Sending threads alive in this process.
static LIVE_SENDS: AtomicUsize = AtomicUsize::new(0);

/// One place among [`MAX_LIVE_SENDS`], given back when the sending thread ends.
struct LiveSend;

impl LiveSend {
    fn take() -> Result<LiveSend, usize> {
        LIVE_SENDS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_LIVE_SENDS).then_some(n + 1)
            })
            .map(|_| LiveSend)
    }
}

impl Drop for LiveSend {
    fn drop(&mut self) {
        LIVE_SENDS.fetch_sub(1, Ordering::AcqRel);
    }
}

pub trait Mailer: Send + Sync {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError>;
}

/// SMTP through lettre. A connection per message (no pool). The whole send (connect, TLS,
/// AUTH, DATA) is bounded by `[email] timeout`: lettre's own timeout holds per socket read, so a
/// server answering a byte at a time could otherwise keep one send going for minutes.
pub struct SmtpMailer {
    transport: SmtpTransport,
    from: Mailbox,
    server: String,
    timeout: Duration,
}

impl SmtpMailer {
    pub fn new(cfg: &EmailConfig) -> Result<SmtpMailer, MailError> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|_| MailError::Address(cfg.from.clone()))?;
        let tls = match cfg.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls => Tls::Required(tls_parameters(cfg)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(cfg)?),
        };
        let mut b = SmtpTransport::builder_dangerous(cfg.smtp_host.clone())
            .port(cfg.smtp_port)
            .tls(tls)
            .timeout(Some(cfg.timeout));
        if let (Some(user), Some(pw)) = (&cfg.username, &cfg.password) {
            b = b.credentials(Credentials::new(user.clone(), pw.expose().clone()));
        }
        Ok(SmtpMailer {
            transport: b.build(),
            from,
            server: format!("{}:{}", cfg.smtp_host, cfg.smtp_port),
            timeout: cfg.timeout,
        })
    }
}

fn tls_parameters(cfg: &EmailConfig) -> Result<TlsParameters, MailError> {
    let mut b = TlsParameters::builder(cfg.smtp_host.clone());
    if let Some(path) = &cfg.ca_file {
        let pem = std::fs::read(path).map_err(|e| MailError::CaFile {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|e| MailError::CaFile {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| MailError::Tls(e.to_string()))
}

impl Mailer for SmtpMailer {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| MailError::Address(mask_address(to)))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| MailError::Message(e.to_string()))?;
        // The send runs on a thread of its own and is given up at the deadline: the login
        // goes on as a failed send. The thread holds only the transport and this message (its
        // code is withdrawn by the caller) and ends at lettre's next read timeout or when the
        // server finishes; it never touches the store. At most MAX_LIVE_SENDS such threads
        // live at once: a server that never lets one end cannot pile them up.
        let live = LiveSend::take().map_err(|live| MailError::Busy {
            server: self.server.clone(),
            live,
        })?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let transport = self.transport.clone();
        std::thread::Builder::new()
            .name("tessera-smtp".into())
            .spawn(move || {
                let _live = live;
                let _ = tx.send(transport.send(&msg).map(|_| ()));
            })
            .map_err(|e| MailError::Smtp {
                server: self.server.clone(),
                reply: None,
                why: format!("cannot start the sending thread: {e}"),
            })?;
        match rx.recv_timeout(self.timeout) {
            Ok(result) => result.map_err(|e| MailError::Smtp {
                server: self.server.clone(),
                reply: e.status().map(u16::from),
                why: describe(&e),
            }),
            Err(_) => Err(MailError::Timeout {
                server: self.server.clone(),
                timeout: self.timeout,
            }),
        }
    }
}

/// lettre's error text plus its source chain (the cause is often only in the source).
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

#[cfg(any(test, feature = "testing"))]
/// Keeps every message (unit tests). `fail` makes every send fail.
#[derive(Default)]
pub struct RecordingMailer {
    pub sent: std::sync::Mutex<Vec<(String, String, String)>>,
    pub fail: std::sync::atomic::AtomicBool,
    /// Every send is given up at its deadline ([`MailError::Timeout`]); the message is kept, as
    /// a hung server may still deliver it late.
    pub time_out: std::sync::atomic::AtomicBool,
}

#[cfg(any(test, feature = "testing"))]
impl RecordingMailer {
    pub fn messages(&self) -> Vec<(String, String, String)> {
        self.sent.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The last code-looking run of digits in the last message to `to`.
    pub fn last_code(&self, to: &str) -> Option<String> {
        let msgs = self.messages();
        let (_, _, body) = msgs.iter().rev().find(|(t, _, _)| t == to)?;
        body.split(|c: char| !c.is_ascii_digit())
            .rfind(|w| w.len() >= 6)
            .map(str::to_string)
    }
}

#[cfg(any(test, feature = "testing"))]
impl Mailer for RecordingMailer {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            // As a real server words it: the reply quotes the full address.
            return Err(MailError::Smtp {
                server: "test".into(),
                reply: Some(550),
                why: format!("permanent error (550): 5.1.1 <{to}>: mailbox unavailable"),
            });
        }
        if let Ok(mut m) = self.sent.lock() {
            m.push((to.to_string(), subject.to_string(), body.to_string()));
        }
        if self.time_out.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(MailError::Timeout {
                server: "test".into(),
                timeout: Duration::from_secs(10),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    /// The tests that start sending threads, one at a time: they share the process's places.
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn smtp_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter(|t| {
                std::fs::read_to_string(t.as_ref().unwrap().path().join("comm"))
                    .is_ok_and(|c| c.trim() == "tessera-smtp")
            })
            .count()
    }

    /// A server that never lets a send end: it takes every connection and sends a multi-line
    /// greeting a byte every 600 ms (under lettre's per-read timeout of 1 s) until `stop`.
    fn tarpit(stop: Arc<AtomicBool>) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let stop = stop.clone();
                std::thread::spawn(move || {
                    for b in b"220-tarpit\r\n".iter().cycle() {
                        std::thread::sleep(Duration::from_millis(600));
                        if stop.load(Ordering::SeqCst) || conn.write_all(&[*b]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    /// Sends given up at their deadline cannot pile up threads without bound: at most
    /// MAX_LIVE_SENDS stay, and past them a send fails at once as busy; when the server lets
    /// go, their places come back.
    #[test]
    fn a_tarpit_server_cannot_pile_up_sending_threads() {
        let _serial = serial();
        let stop = Arc::new(AtomicBool::new(false));
        let mailer = SmtpMailer::new(&config(tarpit(stop.clone()), "1s")).unwrap();
        // Another test's sender may still hold a place.
        let held = LIVE_SENDS.load(Ordering::SeqCst);
        let (mut timeouts, mut busy) = (0, 0);
        for _ in 0..MAX_LIVE_SENDS + 12 {
            let started = Instant::now();
            match mailer.send("alice@example.com", "s", "b") {
                Err(MailError::Timeout { .. }) => timeouts += 1,
                Err(e @ MailError::Busy { .. }) => {
                    busy += 1;
                    assert!(started.elapsed() < Duration::from_millis(200), "at once");
                    assert_eq!(e.category(), "busy");
                    assert!(e.to_string().contains("mail system busy"), "{e}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((timeouts, busy), (MAX_LIVE_SENDS - held, 12 + held));
        // Well past any per-read timeout: the abandoned senders are alive, but no more of them.
        std::thread::sleep(Duration::from_millis(1500));
        let alive = smtp_threads();
        assert!(
            (1..=MAX_LIVE_SENDS).contains(&alive),
            "{alive} sending threads"
        );
        stop.store(true, Ordering::SeqCst);
        let until = Instant::now() + Duration::from_secs(5);
        while LIVE_SENDS.load(Ordering::SeqCst) > held && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            LIVE_SENDS.load(Ordering::SeqCst) <= held,
            "the places came back"
        );
    }

    /// A real SMTP server on loopback that answers a byte every 300 ms (its greeting alone
    /// takes over 10 s), until the client goes away.
    fn slow_server() -> (u16, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            for b in b"220 slow.example.com ESMTP at a byte a step\r\n"
                .iter()
                .cycle()
            {
                std::thread::sleep(Duration::from_millis(300));
                if conn.write_all(&[*b]).is_err() {
                    return;
                }
            }
        });
        (port, handle)
    }

    fn config(port: u16, timeout: &str) -> EmailConfig {
        crate::config::Config::parse(
            std::path::Path::new("/etc/tessera/tessera.toml"),
            &format!(
                "[email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"none\"\n\
                 from = \"t@example.com\"\ntimeout = \"{timeout}\"\n"
            ),
        )
        .unwrap()
        .email
        .unwrap()
    }

    #[test]
    fn a_server_answering_a_byte_at_a_time_cannot_stretch_a_send_past_the_timeout() {
        let _serial = serial();
        let (port, _server) = slow_server();
        let mailer = SmtpMailer::new(&config(port, "1s")).unwrap();
        let started = Instant::now();
        let err = mailer
            .send("alice@example.com", "s", "body")
            .expect_err("nothing can be sent in a second at this pace");
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "the send took {took:?} with timeout = 1s"
        );
        assert!(matches!(err, MailError::Timeout { .. }), "{err}");
        assert_eq!(err.category(), "timeout");
        assert!(err.to_string().contains("[email] timeout"), "{err}");
    }

    #[test]
    fn failure_categories_carry_no_address_and_no_server_text() {
        let e = MailError::Smtp {
            server: "mail:25".into(),
            reply: Some(550),
            why: "550 5.1.1 <alice@example.com>: no such user".into(),
        };
        assert_eq!(e.category(), "smtp_reply_550");
        let mailer = SmtpMailer::new(&config(9, "1s")).unwrap();
        let e = mailer
            .send("not an address alice@example.com", "s", "b")
            .unwrap_err();
        assert!(!e.to_string().contains("alice@"), "{e}");
        assert_eq!(e.category(), "invalid_address");
    }
}
