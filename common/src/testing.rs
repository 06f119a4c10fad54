//! Test set-up shared by the crates' unit tests (feature `testing`, never in a release build): a
//! Tessera installation in a temporary directory (configuration file, store, key) with an
//! authenticator and an admin on a fixed clock, audit events kept in memory and, optionally,
//! mail recorded instead of sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test set-up: fail loudly

use std::path::PathBuf;
use std::sync::Arc;

use crate::admin::{Admin, TotpOptions};
use crate::audit::MemorySink;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::store::SqliteStore;

// Test doubles and helpers, for the other crates' tests.
pub use crate::base::clock::FixedClock;
pub use crate::base::kdf::{evaluations as argon2_evaluations, raw_hash as argon2id};
pub use crate::base::otp::{TotpParams, from_base32, totp_code};
pub use crate::base::secret::MasterKey;
pub use crate::mail::RecordingMailer;
pub use crate::sms::RecordingTexter;
pub use crate::store::{
    AuditStore, EmailCodeStore, FactorStore, RecoveryStore, Store, Tx, UserStore,
};

pub struct TestCore {
    pub dir: tempfile::TempDir,
    /// `tessera.toml` in `dir`.
    pub config_path: PathBuf,
    pub config: Arc<Config>,
    pub store: Arc<SqliteStore>,
    pub clock: Arc<FixedClock>,
    pub sink: Arc<MemorySink>,
    pub auth: Arc<Authenticator>,
    pub admin: Admin,
}

/// An active TOTP factor's raw secret and the recovery codes that came with it.
pub struct Enrolled {
    pub secret: Vec<u8>,
    pub recovery: Vec<String>,
}

impl TestCore {
    /// Write `config_text` to `tessera.toml` in a new temporary directory (relative paths in it
    /// are relative to that directory), initialise the store, and start the clock at `now`.
    pub fn new(config_text: &str, now: u64, mailer: Option<Arc<RecordingMailer>>) -> TestCore {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("tessera.toml");
        std::fs::write(&config_path, config_text).unwrap();
        let config = Arc::new(Config::load(&config_path).unwrap());
        crate::admin::init(&config, false).unwrap();
        let store = Arc::new(SqliteStore::open(&config.store).unwrap());
        let key = Arc::new(MasterKey::load(&config.store.key_file).unwrap());
        let clock = Arc::new(FixedClock::new(now));
        let sink = Arc::new(MemorySink::default());
        let mut auth = Authenticator::new(
            config.clone(),
            store.clone(),
            key.clone(),
            clock.clone(),
            sink.clone(),
        );
        let mut admin =
            Admin::new(config.clone(), store.clone(), clock.clone(), sink.clone()).with_key(key);
        if let Some(m) = mailer {
            auth = auth.with_mailer(m.clone());
            admin = admin.with_mailer(m);
        }
        TestCore {
            dir,
            config_path,
            config,
            store,
            clock,
            sink,
            auth: Arc::new(auth),
            admin,
        }
    }

    /// Add `user` (unless they exist) and enroll an authenticator, active at once.
    pub fn enroll_totp(&self, user: &str, options: &TotpOptions) -> Enrolled {
        // Users added before (with a password or an address) are enrolled as they are.
        if self.store.user(&crate::name_key(user)).unwrap().is_none() {
            self.admin.add_user(user, None).unwrap();
        }
        let en = self
            .admin
            .enroll_totp(
                user,
                &TotpOptions {
                    activate: true,
                    ..options.clone()
                },
            )
            .unwrap();
        Enrolled {
            secret: from_base32(en.secret_base32.expose())
                .unwrap()
                .expose()
                .clone(),
            recovery: en
                .recovery_codes
                .map(|c| c.iter().map(|c| c.expose().clone()).collect())
                .unwrap_or_default(),
        }
    }
}

/// The code of a TOTP secret at `t` (SHA-1, 30 s steps).
pub fn code(secret: &[u8], digits: u8, t: u64) -> String {
    let p = TotpParams {
        algorithm: crate::base::otp::TotpAlgorithm::Sha1,
        digits,
        period: 30,
        window: 0,
    };
    totp_code(&p, secret, t).unwrap()
}

/// A code of the same length that is not the one at `t` (nor at the steps beside it).
pub fn wrong_code(secret: &[u8], digits: u8, t: u64) -> String {
    let near: Vec<String> = [t.saturating_sub(30), t, t + 30]
        .iter()
        .map(|&t| code(secret, digits, t))
        .collect();
    (0u64..)
        .map(|n| format!("{:0width$}", n * 7 + 1, width = usize::from(digits)))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// A new, empty store at schema `version` (older than this Tessera's): what an earlier Tessera
/// left, for tests of the upgrade path.
pub fn store_at_schema(path: &std::path::Path, version: usize) {
    let conn = rusqlite::Connection::open(path).unwrap();
    crate::store::sqlite::migrate_until(&conn, version).unwrap();
}
