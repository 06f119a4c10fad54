//! Tessera core: everything that decides.
//!
//! The front-ends (`pam_tessera.so`, `tessera-radiusd`, the `tessera` CLI) translate their
//! protocol into calls on [`Authenticator`] and [`Admin`] and map the outcome back. Nothing
//! outside this crate compares a code, touches SQL or parses a secret.
//!
//! Layers, each importing only those below it:
//!
//! 1. `base`: clock, secrets and the key file, TOTP, Argon2, user names, addresses, phone
//!    numbers, text;
//! 2. `config` (the TOML file), `policy` (lockout and throttling as pure functions), `audit`,
//!    `mail`, `sms`;
//! 3. `store`: one trait per table, and SQLite;
//! 4. `factor`: one module per factor, the only place its answers are checked;
//! 5. `auth` (the login flow) and `admin` (what the CLI does); `error` wraps every layer's error.
#![forbid(unsafe_code)]

mod admin;
mod audit;
mod auth;
mod base;
mod config;
mod error;
mod factor;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod mail;
mod policy;
mod sms;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// This Tessera's version (every crate of the workspace carries the same one).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The store schema this Tessera reads and writes: a store at another version is refused, and
/// `tessera migrate` brings an older one up to it.
pub const SCHEMA_VERSION: i64 = store::sqlite::SCHEMA_VERSION;

/// "0.2.0 (store schema 11)": what every binary's `--version` prints after its name.
pub fn version_line() -> &'static str {
    static LINE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{VERSION} (store schema {SCHEMA_VERSION})"));
    LINE.as_str()
}

// The public interface is:
pub use admin::{
    Admin, Confirmation, EmailEnrollment, Fido2Enrollment, Fido2Options, ImportReport, InitReport,
    Invitation, PamU2fImport, PamU2fImportedUser, PendingFido2, Replaced, SmsEnrollment,
    SshKeyEnrollment, TotpEnrollment, TotpOptions, UserDetails, init,
    read_google_authenticator_file, read_pam_u2f_file,
};
pub use admin::{BackupReport, MigrateReport, RestoreReport, backup, migrate, restore};
pub use admin::{
    PamU2fEntry, PamU2fError, PamU2fField, PamU2fFile, PamU2fProblem, parse_pam_u2f,
    parse_pam_u2f_lenient,
};
pub use audit::{AuditEvent, AuditResult, AuditSink, MemorySink, Severity, SyslogSink, TeeSink};
pub use auth::{
    Authenticator, Begin, Channel, Entry, FirstFactor, KeyVerdict, Login, LoginRequest,
    MAIL_FAILED, Method, MissingCode, Outcome, Prompt, PromptKind, Reject, SMS_FAILED, Verified,
};
pub use base::clock::{Clock, SystemClock};
pub use base::names::{MAX_USER_NAME, name_key};
pub use base::origin::origin_key;
pub use base::otp::TotpAlgorithm;
pub use base::phone::{PhoneError, mask_phone, validate_phone};
pub use base::qr::half_blocks as qr_half_blocks;
pub use base::secret::{Secret, random_bytes};
pub use base::text::{Printable, printable};
pub use base::trust::{Access, Owners, Rule as TrustRule, TrustError};
pub use config::{
    Argon2Config, CONFIG_ENV, Config, ConfigError, DEFAULT_CONFIG_PATH, EnrollAtLogin, Fido2Config,
    FirstFactor as RadiusFirstFactor, RadiusClient, RadiusConfig, RadiusMode, ReplyAttributes,
    Sections, Trust,
};
pub use config::{
    CommandGateway, EmailGateway, GATEWAY_PLACEHOLDERS, HttpAuth, HttpBody, HttpGateway,
    HttpMethod, SMS_COMMAND_DIR, SMS_COMMAND_DIR_ENV, SMS_PLACEHOLDERS, SmsConfig, SmsGateway,
};
pub use error::{CoreError, InputError};
pub use factor::fido2;
pub use factor::ssh_key;
pub use mail::{MailError, Mailer, SmtpMailer};
pub use policy::{Counter, Lock, LockState};
pub use sms::{
    CommandTexter, EmailTexter, Exit as SmsExit, HttpTexter, MAX_MESSAGE as MAX_SMS_MESSAGE,
    SmsContext, SmsError, Texter, render_sms, texter_from_config,
};
pub use store::{
    Factor, FactorId, FactorKind, FactorStatus, Fido2Factor, Invite, RecoveryBatch, SqliteStore,
    StoreError, User, UserId, UserSummary,
};

#[cfg(test)]
mod layers {
    /// The bottom layer imports nothing above it: every `crate::` path in `base/` stays in
    /// `base/`.
    #[test]
    fn base_imports_nothing_above_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/base");
        let mut offenders = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                if let Some(pos) = line.find("crate::")
                    && !line[pos..].starts_with("crate::base::")
                {
                    offenders.push(format!("{}:{}: {line}", path.display(), i + 1));
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }

    /// The store only stores: nothing in `store/` uses the factors, the login flow or the
    /// administration above it (doc comments may name them).
    #[test]
    fn the_store_imports_no_layer_above_it() {
        fn walk(dir: &std::path::Path, offenders: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, offenders);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, line) in text.lines().enumerate() {
                    let code = line.trim_start();
                    if code.starts_with("//") {
                        continue;
                    }
                    if ["crate::factor", "crate::auth", "crate::admin"]
                        .iter()
                        .any(|above| code.contains(above))
                    {
                        offenders.push(format!("{}:{}: {line}", path.display(), i + 1));
                    }
                }
            }
        }
        let mut offenders = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store"),
            &mut offenders,
        );
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
