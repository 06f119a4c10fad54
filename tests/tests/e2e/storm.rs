//! A RADIUS login storm for the crash and soak tests: users enrolled straight through the core
//! library (the CLI would take minutes for hundreds), then several sockets sending each user's
//! current code over and over, so that every code is tried many times, from several sockets at
//! once, and only its first use may be accepted.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use radius::core::code::Code;
use radius::core::packet::Packet;
use radius::core::rfc2865;
use tessera_common::testing::{TotpParams, from_base32, totp_code};
use tessera_common::{Admin, Config, MemorySink, SqliteStore, SystemClock, TotpOptions};
use tessera_tests::Install;
use tessera_tests::radius::Signer;

/// The Reply-Message of a replayed code.
pub(crate) const REPLAYED: &str = "That code was already used; wait for the next one.";

/// An enrolled user: name, raw TOTP secret and parameters.
#[derive(Clone)]
pub(crate) struct User {
    pub name: String,
    pub secret: Vec<u8>,
    pub params: TotpParams,
}

impl User {
    /// The code at `unix_secs` and its time step.
    pub fn code_at(&self, unix_secs: u64) -> (String, u64) {
        let code = totp_code(&self.params, &self.secret, unix_secs).unwrap();
        (code, unix_secs / u64::from(self.params.period))
    }

    pub fn code_now(&self) -> (String, u64) {
        self.code_at(now())
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Add `prefix0`…`prefix{n-1}`, each with an active authenticator, through the core library on
/// the store of the installation configured in `config` (what `tessera user add` and
/// `tessera enroll totp` do).
pub(crate) fn enroll(config: &Path, prefix: &str, n: usize) -> Vec<User> {
    let config = Arc::new(Config::load(config).unwrap());
    let store = Arc::new(SqliteStore::open(&config.store).unwrap());
    let admin = Admin::new(
        config,
        store,
        Arc::new(SystemClock),
        Arc::new(MemorySink::default()),
    );
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i}");
            admin.add_user(&name, None).unwrap();
            let en = admin.enroll_totp(&name, &TotpOptions::activated()).unwrap();
            User {
                name,
                secret: from_base32(en.secret_base32.expose())
                    .unwrap()
                    .expose()
                    .clone(),
                params: en.params,
            }
        })
        .collect()
}

/// What one request got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Accept,
    /// Access-Reject with this Reply-Message.
    Reject(String),
    /// No answer within the wait.
    Timeout,
}

/// One request of the storm and its answer.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub user: String,
    pub code: String,
    pub step: u64,
    pub answer: Answer,
}

/// Send `user`'s `code` (otp-only: the code is the whole User-Password) and wait for the answer.
pub(crate) fn try_code(
    sock: &UdpSocket,
    signer: &Signer,
    to: SocketAddr,
    id: u8,
    user: &str,
    code: &str,
    wait: Duration,
) -> Answer {
    let mut p = signer.access_packet(id, user, code);
    rfc2865::add_nas_identifier(&mut p, "storm");
    let req = signer.sign(p);
    sock.send_to(&req, to).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            return Answer::Timeout;
        };
        // A late answer to an earlier request (after a timeout) is not this one's.
        if n < 20 || buf[1] != id {
            continue;
        }
        assert!(
            Packet::is_authentic_response(&buf[..n], &req, &signer.secret),
            "response authenticator does not verify"
        );
        let resp = Packet::decode(&buf[..n], &signer.secret).unwrap();
        return match resp.get_code() {
            Code::AccessAccept => Answer::Accept,
            Code::AccessReject => Answer::Reject(
                rfc2865::lookup_reply_message(&resp)
                    .and_then(Result::ok)
                    .unwrap_or_default(),
            ),
            other => panic!("unexpected {other:?} to {user}"),
        };
    }
}

/// `sockets` threads, each going round all `users` and sending their current code, until
/// `stop` is set; returns every attempt. `addr` is read before each request, so the storm
/// follows a restarted server.
pub(crate) fn storm(
    secret: &str,
    addr: Arc<std::sync::Mutex<SocketAddr>>,
    users: &[User],
    sockets: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Attempt>> {
    let users = users.to_vec();
    let secret = secret.to_string();
    std::thread::spawn(move || {
        let threads: Vec<_> = (0..sockets)
            .map(|k| {
                let (users, secret, addr, stop) =
                    (users.clone(), secret.clone(), addr.clone(), stop.clone());
                std::thread::spawn(move || {
                    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
                    let signer = Signer::new(&secret);
                    let mut out = Vec::new();
                    let mut id = 0u8;
                    // Each socket starts elsewhere in the list, so they meet on every user.
                    let mut i = k * users.len() / sockets.max(1);
                    while !stop.load(Ordering::Relaxed) {
                        let u = &users[i % users.len()];
                        i += 1;
                        id = id.wrapping_add(1);
                        let (code, step) = u.code_now();
                        let to = *addr.lock().unwrap();
                        let answer = try_code(
                            &sock,
                            &signer,
                            to,
                            id,
                            &u.name,
                            &code,
                            Duration::from_secs(3),
                        );
                        out.push(Attempt {
                            user: u.name.clone(),
                            code,
                            step,
                            answer,
                        });
                    }
                    out
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    })
}

/// Accepted attempts per (user, step); panics if any code was accepted twice.
#[track_caller]
pub(crate) fn accepted_once(attempts: &[Attempt]) -> HashMap<(String, u64), String> {
    let mut accepted = HashMap::new();
    for a in attempts.iter().filter(|a| a.answer == Answer::Accept) {
        let prev = accepted.insert((a.user.clone(), a.step), a.code.clone());
        assert!(
            prev.is_none(),
            "{}'s code {} (step {}) was accepted twice",
            a.user,
            a.code,
            a.step
        );
    }
    accepted
}

/// Every answer that is neither an accept, a replay nor a timeout: a valid code refused for
/// another reason (a busy database turned into a wrong code, say).
pub(crate) fn wrong_answers(attempts: &[Attempt]) -> Vec<&Attempt> {
    attempts
        .iter()
        .filter(|a| match &a.answer {
            Answer::Accept | Answer::Timeout => false,
            Answer::Reject(m) => m != REPLAYED,
        })
        .collect()
}

/// The audit table's events by (user, result) for `service`, read straight from the database
/// (a row folded from a flood counts for its `count`).
pub(crate) fn audit_counts(
    db: &rusqlite::Connection,
    service: &str,
) -> HashMap<(String, String), u64> {
    let mut st = db
        .prepare(
            "SELECT user, result, sum(count) FROM audit WHERE service = ?1 GROUP BY user, result",
        )
        .unwrap();
    st.query_map([service], |r| {
        Ok(((r.get(0)?, r.get(1)?), r.get::<_, i64>(2)? as u64))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The installation's database, opened as another process would (the server may be running).
pub(crate) fn open_db(install: &Install) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(install.dir.path().join("db/tessera.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db
}

/// `PRAGMA integrity_check`: "ok" or the list of problems.
pub(crate) fn integrity(db: &rusqlite::Connection) -> String {
    let rows: Vec<String> = db
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.join("\n")
}

/// Seconds from an environment variable, else `default`.
pub(crate) fn secs_from_env(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}
