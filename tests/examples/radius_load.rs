//! Benchmark helper for `bench/radius-vs-freeradius.sh` (not shipped):
//!
//! - `setup CONFIG N OUT [--passwords P]`: enroll `bench0`…`bench{N-1}` with an active TOTP
//!   factor straight through the core library (the CLI would take minutes for tens of
//!   thousands), give the first P (default 200) an Argon2id password (`pw`, the config's
//!   parameters), and write `name base32secret` lines.
//! - `load ADDR SECRET USERS --style otp|append [--window W] [--sockets S] [--pid PID] [--bind IP]
//!   [--password P] [--skip S] [--first K]`: each user of the K after the first S of the file
//!   logs in once with a valid code (closed loop, at most W requests outstanding per socket;
//!   `--bind IP1,IP2,...` binds the sockets to these addresses in turn, one client each);
//!   reports Access-Requests per second, latency p50/p99, accepts, and with `--pid` the server's
//!   CPU time per request and peak RSS from /proc. A code is single-use: a benchmark that runs
//!   several times gives each run users of its own with `--skip`. Nothing is ever retransmitted:
//!   a request unanswered after 30 s counts as lost. Identifiers are reused oldest first, as a
//!   NAS counting up does (never the one just answered: a server may still be finishing it).
//! - `status ADDR SECRET --count N --interval-ms MS`: Status-Server latency p50/p99/max.
//!
//! Requests carry a Message-Authenticator, so both servers verify one per request.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench tool: fail loudly

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use radius::core::code::Code;
use radius::core::packet::Packet;
use radius::core::rfc2865;
use tessera_common::testing::{TotpParams, from_base32, totp_code};
use tessera_common::{Argon2Config, Config, TotpAlgorithm};
use tessera_tests::radius::Signer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup(&args[1..]),
        Some("load") => load(&args[1..]),
        Some("status") => status(&args[1..]),
        _ => {
            eprintln!("usage: radius_load setup|load|status ...");
            std::process::exit(2);
        }
    }
}

fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn setup(args: &[String]) {
    use tessera_common::MemorySink;
    use tessera_common::SqliteStore;
    use tessera_common::SystemClock;
    use tessera_common::{Admin, TotpOptions};

    let config = Config::load(std::path::Path::new(&args[0])).unwrap();
    let n: usize = args[1].parse().unwrap();
    let out = &args[2];
    let with_password: usize = opt(args, "--passwords").map_or(200, |v| v.parse().unwrap());
    let real_argon2 = config.argon2;
    // Recovery codes of bench users are hashed cheaply: setup speed, not what is measured.
    let mut cheap = config.clone();
    cheap.argon2 = Argon2Config {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    let store = Arc::new(SqliteStore::open(&cheap.store).unwrap());
    let sink = Arc::new(MemorySink::default());
    let admin = Admin::new(
        Arc::new(cheap),
        store.clone(),
        Arc::new(SystemClock),
        sink.clone(),
    );
    let mut real = config.clone();
    real.argon2 = real_argon2;
    let passwords = Admin::new(Arc::new(real), store, Arc::new(SystemClock), sink);
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let t0 = Instant::now();
    for i in 0..n {
        let name = format!("bench{i}");
        admin.add_user(&name, None).unwrap();
        let en = admin.enroll_totp(&name, &TotpOptions::activated()).unwrap();
        if i < with_password {
            passwords.set_password(&name, Some("pw")).unwrap();
        }
        writeln!(f, "{name} {}", en.secret_base32.expose()).unwrap();
    }
    f.flush().unwrap();
    eprintln!("enrolled {n} users in {:.1} s", t0.elapsed().as_secs_f64());
}

/// A request as the bench sends it: with a NAS-Identifier, like a real NAS.
fn bench_request(signer: &Signer, id: u8, user: &str, password: &str) -> Vec<u8> {
    let mut p = signer.access_packet(id, user, password);
    rfc2865::add_nas_identifier(&mut p, "bench");
    signer.sign(p)
}

/// utime + stime of a process, in microseconds.
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks * 1_000_000 / 100 // CLK_TCK is 100 on Linux
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn load(args: &[String]) {
    let addr: SocketAddr = args[0].parse().unwrap();
    let secret = args[1].clone();
    let users: Vec<(String, String)> = std::fs::read_to_string(&args[2])
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.to_string(), b.to_string()))
        })
        .collect();
    let style = opt(args, "--style").unwrap_or_else(|| "otp".into());
    let window: usize = opt(args, "--window").map_or(64, |v| v.parse().unwrap());
    let sockets: usize = opt(args, "--sockets").map_or(4, |v| v.parse().unwrap());
    let skip: usize = opt(args, "--skip").map_or(0, |v| v.parse().unwrap());
    let first: usize = opt(args, "--first").map_or(usize::MAX, |v| v.parse().unwrap());
    let password = opt(args, "--password").unwrap_or_else(|| "pw".into());
    let binds: Vec<String> = opt(args, "--bind")
        .unwrap_or_else(|| "127.0.0.1".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let pid: Option<u32> = opt(args, "--pid").map(|p| p.parse().unwrap());
    let available = users.len();
    let users: Vec<(String, String)> = users.into_iter().skip(skip).take(first).collect();
    assert!(
        !users.is_empty() && (first == usize::MAX || users.len() == first),
        "--skip {skip} --first {first}: the file has {available} users"
    );
    let keys: Vec<Vec<u8>> = users
        .iter()
        .map(|(_, b)| from_base32(b).unwrap().expose().clone())
        .collect();
    let params = TotpParams {
        algorithm: TotpAlgorithm::Sha1,
        digits: 6,
        period: 30,
        window: 0,
    };

    let cpu0 = pid.map(cpu_us);
    let t0 = Instant::now();
    let chunks: Vec<Vec<usize>> = (0..sockets)
        .map(|s| (s..users.len()).step_by(sockets).collect())
        .collect();
    let results: Vec<(Vec<Duration>, usize, usize, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(s, mine)| {
                let bind = &binds[s % binds.len()];
                let (users, keys, secret, style, password) =
                    (&users, &keys, &secret, &style, &password);
                scope.spawn(move || {
                    let sock = UdpSocket::bind(format!("{bind}:0")).unwrap();
                    sock.set_read_timeout(Some(Duration::from_millis(50)))
                        .unwrap();
                    let signer = Signer::new(secret);
                    let mut next = 0usize;
                    let mut free: VecDeque<u8> = (0..=255u8).collect();
                    let mut out: HashMap<u8, Instant> = HashMap::new();
                    let (mut lat, mut accepts, mut rejects, mut lost) = (Vec::new(), 0, 0, 0);
                    let mut buf = [0u8; 4096];
                    while next < mine.len() || !out.is_empty() {
                        while next < mine.len() && out.len() < window.min(255) {
                            let Some(id) = free.pop_front() else { break };
                            let i = mine[next];
                            next += 1;
                            let code = totp_code(&params, &keys[i], now_secs()).unwrap();
                            let pw = match style.as_str() {
                                "append" => format!("{password}{code}"),
                                _ => code,
                            };
                            let req = bench_request(&signer, id, &users[i].0, &pw);
                            sock.send_to(&req, addr).unwrap();
                            out.insert(id, Instant::now());
                        }
                        match sock.recv_from(&mut buf) {
                            Ok((n, _)) if n >= 20 => {
                                if let Some(t) = out.remove(&buf[1]) {
                                    lat.push(t.elapsed());
                                    free.push_back(buf[1]);
                                    match buf[0] {
                                        2 => accepts += 1,
                                        _ => rejects += 1,
                                    }
                                }
                            }
                            Ok(_) => {}
                            Err(_) => {
                                let stale: Vec<u8> = out
                                    .iter()
                                    .filter(|(_, t)| t.elapsed() > Duration::from_secs(30))
                                    .map(|(id, _)| *id)
                                    .collect();
                                for id in stale {
                                    out.remove(&id);
                                    lost += 1;
                                    // A late answer could still match a reused id: retire it.
                                }
                            }
                        }
                    }
                    (lat, accepts, rejects, lost)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = t0.elapsed();
    let cpu = pid.map(|p| cpu_us(p) - cpu0.unwrap_or(0));
    let mut lat: Vec<Duration> = results.iter().flat_map(|r| r.0.clone()).collect();
    lat.sort();
    let (accepts, rejects, lost) = results
        .iter()
        .fold((0, 0, 0), |a, r| (a.0 + r.1, a.1 + r.2, a.2 + r.3));
    let answered = accepts + rejects;
    println!(
        "requests={} answered={answered} accepts={accepts} rejects={rejects} lost={lost} \
         seconds={:.3} rps={:.0} p50_ms={:.3} p99_ms={:.3}{}",
        users.len(),
        elapsed.as_secs_f64(),
        answered as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        match (cpu, pid) {
            (Some(c), Some(p)) => format!(
                " server_cpu_us_per_req={:.1} server_cpu_util={:.2} server_vmhwm_kib={}",
                c as f64 / answered.max(1) as f64,
                c as f64 / 1e6 / elapsed.as_secs_f64(),
                vm_hwm_kib(p)
            ),
            _ => String::new(),
        }
    );
}

fn status(args: &[String]) {
    let addr: SocketAddr = args[0].parse().unwrap();
    let signer = Signer::new(&args[1]);
    let count: usize = opt(args, "--count").map_or(200, |v| v.parse().unwrap());
    let interval =
        Duration::from_millis(opt(args, "--interval-ms").map_or(10, |v| v.parse().unwrap()));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut lat = Vec::new();
    let mut lost = 0;
    let mut buf = [0u8; 4096];
    for i in 0..count {
        let mut p = Packet::new_with_identifier(Code::StatusServer, &signer.secret, i as u8);
        rfc2865::add_nas_identifier(&mut p, "bench");
        let req = signer.sign(p);
        let t = Instant::now();
        sock.send_to(&req, addr).unwrap();
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, _)) if n >= 20 && buf[1] == i as u8 => {
                    lat.push(t.elapsed());
                    break;
                }
                Ok(_) => continue,
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
        std::thread::sleep(interval);
    }
    lat.sort();
    println!(
        "status_requests={count} lost={lost} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    );
}
