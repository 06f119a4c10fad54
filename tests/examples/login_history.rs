//! Benchmark helper for `bench/pam-vs-google-authenticator.sh` (not shipped): give a store the
//! history of a host that has served many logins.
//!
//! `login_history CONFIG N`: enroll `history0`…`history{N-1}` with an active TOTP factor, then
//! log each in once through the core's login flow with a valid code, as the PAM module does:
//! every login claims its time step and writes its audit row in its own transaction. Prints how
//! long both took. The benchmark then measures PAM logins on this store beside one with only a
//! handful of earlier logins.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench tool: fail loudly

use std::sync::Arc;
use std::time::Instant;

use tessera_common::testing::{MasterKey, from_base32};
use tessera_common::{
    Admin, Argon2Config, AuditEvent, AuditSink, Authenticator, Begin, Config, LoginRequest,
    Outcome, Severity, SqliteStore, SystemClock, TotpOptions,
};

/// The syslog lines of these logins are not what is measured.
struct Discard;

impl AuditSink for Discard {
    fn record(&self, _event: &AuditEvent) {}
    fn message(&self, _severity: Severity, _text: &str) {}
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config_path, n] = args.as_slice() else {
        eprintln!("usage: login_history CONFIG N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N: a number of logins");
    let mut config = Config::load(std::path::Path::new(config_path)).unwrap();
    // Recovery codes are hashed cheaply: set-up speed, not what is measured.
    config.argon2 = Argon2Config {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    let config = Arc::new(config);
    let store = Arc::new(SqliteStore::open(&config.store).unwrap());
    let key = Arc::new(MasterKey::load(&config.store.key_file).unwrap());
    let sink: Arc<dyn AuditSink> = Arc::new(Discard);
    let admin = Admin::new(
        config.clone(),
        store.clone(),
        Arc::new(SystemClock),
        sink.clone(),
    )
    .with_key(key.clone());
    let auth = Authenticator::new(config, store, key, Arc::new(SystemClock), sink);

    let t0 = Instant::now();
    let mut secrets = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("history{i}");
        admin.add_user(&name, None).unwrap();
        let en = admin.enroll_totp(&name, &TotpOptions::activated()).unwrap();
        secrets.push(from_base32(en.secret_base32.expose()).unwrap());
    }
    let enrolled = t0.elapsed();
    let t1 = Instant::now();
    for (i, secret) in secrets.iter().enumerate() {
        let name = format!("history{i}");
        let request = LoginRequest::code(&name, "sshd");
        let Ok(Begin::Prompt(mut login, _)) = auth.begin(request) else {
            panic!("{name}: no code prompt");
        };
        let code = tessera_common::testing::code(secret.expose(), 6, auth.now());
        match auth.answer(&mut login, &code) {
            Ok(Outcome::Accepted(_)) => {}
            // The step turned between reading the clock and checking: once more.
            Ok(Outcome::Rejected(_)) => {
                let Ok(Begin::Prompt(mut login, _)) = auth.begin(LoginRequest::code(&name, "sshd"))
                else {
                    panic!("{name}: no code prompt");
                };
                let code = tessera_common::testing::code(secret.expose(), 6, auth.now());
                assert!(matches!(
                    auth.answer(&mut login, &code),
                    Ok(Outcome::Accepted(_))
                ));
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    eprintln!(
        "{n} users enrolled in {:.1} s, each logged in once in {:.1} s",
        enrolled.as_secs_f64(),
        t1.elapsed().as_secs_f64()
    );
}
