//! What one second-factor check costs, store round trip included.
//!
//! - `totp_verify`: begin + answer with a valid TOTP code: one read transaction, decrypting the
//!   sealed secret, the HMAC, and the `BEGIN IMMEDIATE` transaction that claims the step and writes
//!   the audit row. Each iteration moves the fixed clock one period on, so every code is fresh
//!   and really accepted (never a replay).
//! - `totp_verify_batch64`: the same for 64 users at once inside one `Authenticator::batch` (one
//!   store transaction, as the RADIUS server decides a burst of codes); per login it is the
//!   time divided by 64.
//! - `recovery_check`: a wrong recovery code against a batch of 10: one Argon2id evaluation at the
//!   default OWASP parameters (m=19456 KiB, t=2, p=1), whatever the number of codes.
//! - `argon2_once`: one bare Argon2id evaluation with the same parameters, for the ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark set-up code

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tessera_common::testing::{
    FixedClock, MasterKey, TotpParams, argon2id, from_base32, totp_code,
};
use tessera_common::{
    Admin, Authenticator, Begin, Config, LoginRequest, Outcome, SqliteStore, TotpOptions,
};

struct Setup {
    _dir: tempfile::TempDir,
    auth: Authenticator,
    clock: Arc<FixedClock>,
    secret: Vec<u8>,
    /// 64 users (`alice` first) and their secrets, for the batch.
    many: Vec<(String, Vec<u8>)>,
    config: Arc<Config>,
    admin: Admin,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    // Default Argon2 parameters: the figures are what production pays.
    let text = "[store]\npath = \"t.db\"\nkey_file = \"t.key\"\n[policy]\nmax_failures = 1000\n";
    let config = Arc::new(Config::parse(&dir.path().join("t.toml"), text).unwrap());
    tessera_common::init(&config, false).unwrap();
    let store = Arc::new(SqliteStore::open(&config.store).unwrap());
    // A sink that keeps nothing: the bench measures the check, not a growing Vec.
    struct Null;
    impl tessera_common::AuditSink for Null {
        fn record(&self, _: &tessera_common::AuditEvent) {}
        fn message(&self, _: tessera_common::Severity, _: &str) {}
    }
    let key = Arc::new(MasterKey::load(&config.store.key_file).unwrap());
    let clock = Arc::new(FixedClock::new(1_700_000_000));
    let admin = Admin::new(config.clone(), store.clone(), clock.clone(), Arc::new(Null))
        .with_key(key.clone());
    let many: Vec<(String, Vec<u8>)> = (0..64)
        .map(|i| {
            let name = if i == 0 {
                "alice".to_string()
            } else {
                format!("user{i}")
            };
            admin.add_user(&name, None).unwrap();
            let en = admin.enroll_totp(&name, &TotpOptions::activated()).unwrap();
            let secret = from_base32(en.secret_base32.expose())
                .unwrap()
                .expose()
                .clone();
            (name, secret)
        })
        .collect();
    let secret = many[0].1.clone();
    let auth = Authenticator::new(
        config.clone(),
        store.clone(),
        key,
        clock.clone(),
        Arc::new(Null),
    );
    Setup {
        _dir: dir,
        auth,
        clock,
        secret,
        many,
        config,
        admin,
    }
}

fn request() -> LoginRequest {
    request_for("alice")
}

fn request_for(user: &str) -> LoginRequest {
    LoginRequest {
        source: Some("127.0.0.1".into()),
        auto_send: true,
        ..LoginRequest::code(user, "bench")
    }
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let params = TotpParams {
        algorithm: s.config.totp.algorithm,
        digits: 6,
        period: 30,
        window: 1,
    };
    c.bench_function("totp_verify", |b| {
        b.iter(|| {
            s.clock.advance(30);
            let code = totp_code(&params, &s.secret, s.clock.now_secs()).unwrap();
            let Begin::Prompt(mut login, _) = s.auth.begin(request()).unwrap() else {
                panic!()
            };
            match s.auth.answer(&mut login, &code).unwrap() {
                Outcome::Accepted(_) => {}
                o => panic!("{o:?}"),
            }
        })
    });

    c.bench_function("totp_verify_batch64", |b| {
        b.iter(|| {
            s.clock.advance(30);
            let codes: Vec<String> = s
                .many
                .iter()
                .map(|(_, secret)| totp_code(&params, secret, s.clock.now_secs()).unwrap())
                .collect();
            s.auth
                .batch(|| {
                    for ((user, _), code) in s.many.iter().zip(&codes) {
                        let Begin::Prompt(mut login, _) = s.auth.begin(request_for(user)).unwrap()
                        else {
                            panic!()
                        };
                        match s.auth.answer(&mut login, code).unwrap() {
                            Outcome::Accepted(_) => {}
                            o => panic!("{o:?}"),
                        }
                    }
                })
                .unwrap();
        })
    });

    let mut g = c.benchmark_group("argon2");
    g.sample_size(20);
    g.bench_function("recovery_check", |b| {
        // Wrong answers count toward the lock (max_failures = 1000): clear it outside the timed
        // part now and then.
        b.iter_batched(
            || s.admin.unlock_user("alice").unwrap(),
            |()| {
                let Begin::Prompt(mut login, _) = s.auth.begin(request()).unwrap() else {
                    panic!()
                };
                // Well-formed but wrong: one Argon2 evaluation, no code consumed.
                let o = s.auth.answer(&mut login, "aaaa-bbbb-cccc").unwrap();
                assert!(matches!(o, Outcome::Rejected(_)));
            },
            BatchSize::PerIteration,
        )
    });
    let a = s.config.argon2;
    g.bench_function("argon2_once", |b| {
        b.iter(|| argon2id(b"aaaabbbbcccc", &[0u8; 16], b"pepper", &a).unwrap())
    });
    g.finish();
}

trait NowSecs {
    fn now_secs(&self) -> u64;
}

impl NowSecs for FixedClock {
    fn now_secs(&self) -> u64 {
        tessera_common::Clock::now(self)
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
