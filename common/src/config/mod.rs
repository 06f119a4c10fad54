//! Configuration: one TOML file, parsed strictly.
//!
//! TOML is read into `Raw*` structs (`deny_unknown_fields`, everything optional), then validated
//! into [`Config`] with defaults and range checks. Every error names the file, the line and the
//! key. Relative paths inside the file are resolved against the file's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod audit;
mod email;
mod fido2;
mod radius;
mod sections;
mod sms;
mod trusted;
mod validate;

pub use crate::base::kdf::Argon2Config;
pub use crate::base::otp::TotpAlgorithm;
use validate::{RawDuration, Validator, key_at_line, line_of};

pub use audit::AuditConfig;
use email::RawEmail;
pub use email::{EmailConfig, SmtpSecurity};
pub use fido2::Fido2Config;
pub use radius::{FirstFactor, RadiusClient, RadiusConfig, RadiusMode, ReplyAttributes};
pub use sms::{
    CommandGateway, EmailGateway, GATEWAY_PLACEHOLDERS, HttpAuth, HttpBody, HttpGateway,
    HttpMethod, SMS_COMMAND_DIR, SMS_COMMAND_DIR_ENV, SMS_PLACEHOLDERS, SmsConfig, SmsGateway,
};
pub use trusted::{Sections, Trust};

/// Where the configuration lives when neither `--config` nor `TESSERA_CONFIG` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/tessera/tessera.toml";
/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "TESSERA_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        key: Option<String>,
        message: String,
    },
    #[error("{path}:{line}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    /// A file that decides who gets in could have been written by someone other than root.
    #[error(transparent)]
    Untrusted(#[from] crate::base::trust::TrustError),
}

impl ConfigError {
    /// The dotted key the error is about, when one can be named.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } | ConfigError::Untrusted(_) => None,
            ConfigError::Syntax { key, .. } => key.as_deref(),
            ConfigError::Invalid { key, .. } => Some(key),
        }
    }
}

/// The validated configuration. Loaded once and passed down; never a global.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (for messages).
    pub source: PathBuf,
    pub store: StoreConfig,
    pub totp: TotpConfig,
    pub recovery: RecoveryConfig,
    pub argon2: Argon2Config,
    pub policy: PolicyConfig,
    /// `None` when the file has no `[email]` section: e-mailed codes are then unavailable.
    pub email: Option<EmailConfig>,
    /// `None` when the file has no `[sms]` section: texted codes are then unavailable.
    pub sms: Option<SmsConfig>,
    pub radius: RadiusConfig,
    pub audit: AuditConfig,
    pub fido2: Fido2Config,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    pub key_file: PathBuf,
    pub busy_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TotpConfig {
    pub issuer: String,
    pub digits: u8,
    pub period: u32,
    pub algorithm: TotpAlgorithm,
    /// Steps accepted before and after the current one.
    pub window: u8,
}

#[derive(Debug, Clone)]
pub struct RecoveryConfig {
    pub count: u32,
}

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// Consecutive wrong codes that lock the user.
    pub max_failures: u32,
    /// How long the first lock lasts; each further one lasts twice as long.
    pub lockout: Duration,
    /// The longest lock: one that would last longer ends only with `tessera user unlock`.
    pub max_lockout: Duration,
    /// Wrong answers allowed within one conversation (one PAM call) before it ends.
    pub max_tries: u32,
    /// Consecutive first-factor failures of one user, from anywhere, that lock their first
    /// factor for `first_factor_lockout` (never longer).
    pub first_factor_max_failures: u32,
    pub first_factor_lockout: Duration,
    /// Whether an unenrolled user may set up a factor while logging in.
    pub enroll_at_login: EnrollAtLogin,
    /// How long an invitation (`tessera user invite`) is valid unless `--valid` says otherwise.
    pub invite_valid: Duration,
    /// Where to set up the second factor, told to an unenrolled user who cannot do it where
    /// they are (a VPN client, no invitation): a URL, a host to log in to, a help-desk number.
    pub enroll_help: Option<String>,
}

/// `[policy] enroll_at_login`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollAtLogin {
    /// Unenrolled users are refused, or step aside under `nullok` / `allow_unenrolled`.
    Off,
    /// Unenrolled users are offered enrollment and may skip it (this module then steps aside).
    Optional,
    /// Unenrolled users must enroll (with a proof beyond the password) or are refused.
    Required,
}

impl EnrollAtLogin {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollAtLogin::Off => "off",
            EnrollAtLogin::Optional => "optional",
            EnrollAtLogin::Required => "required",
        }
    }
}

impl PolicyConfig {
    /// The counting rules these settings make.
    pub fn rules(&self) -> crate::policy::Rules {
        crate::policy::Rules::new(
            self.max_failures,
            self.lockout.as_secs(),
            self.max_lockout.as_secs(),
            self.first_factor_max_failures,
            self.first_factor_lockout.as_secs(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Raw TOML shapes.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    store: Option<RawStore>,
    totp: Option<RawTotp>,
    recovery: Option<RawRecovery>,
    argon2: Option<RawArgon2>,
    policy: Option<RawPolicy>,
    email: Option<RawEmail>,
    sms: Option<sms::RawSms>,
    radius: Option<radius::RawRadius>,
    audit: Option<audit::RawAudit>,
    fido2: Option<fido2::RawFido2>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
    key_file: Option<PathBuf>,
    busy_timeout: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTotp {
    issuer: Option<String>,
    digits: Option<i64>,
    period: Option<i64>,
    algorithm: Option<String>,
    window: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecovery {
    count: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArgon2 {
    memory_kib: Option<i64>,
    iterations: Option<i64>,
    parallelism: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    max_failures: Option<i64>,
    lockout: Option<RawDuration>,
    max_lockout: Option<RawDuration>,
    max_tries: Option<i64>,
    first_factor_max_failures: Option<i64>,
    first_factor_lockout: Option<RawDuration>,
    enroll_at_login: Option<String>,
    invite_valid: Option<RawDuration>,
    enroll_help: Option<String>,
}

// ---------------------------------------------------------------------------------------------

impl Config {
    /// The path to use: an explicit one, else `TESSERA_CONFIG`, else the default.
    pub fn resolve_path(explicit: Option<&Path>) -> PathBuf {
        if let Some(p) = explicit {
            return p.to_path_buf();
        }
        match std::env::var_os(CONFIG_ENV) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => PathBuf::from(DEFAULT_CONFIG_PATH),
        }
    }

    /// Load every section, reading the files as they are (see [`Config::load_with`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, Sections::All, Trust::AsGiven)
    }

    /// Parse `text` as if read from `path` (used for messages and relative paths).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Validator {
            path,
            text,
            trust_files: false,
            mode: None,
        }
        .parse_and_build()
    }
}

impl Validator<'_> {
    fn parse_and_build(&self) -> Result<Config, ConfigError> {
        let (path, text) = (self.path, self.text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            let key = key_at_line(text, line);
            let mut message = e.message().trim().to_string();
            if let Some(k) = &key
                && !message.contains(k.rsplit('.').next().unwrap_or(k))
            {
                message = format!("key `{k}`: {message}");
            }
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                key,
                message,
            }
        })?;
        self.build(raw)
    }

    fn build(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let s = raw.store.unwrap_or_default();
        let store = StoreConfig {
            path: self.path(
                s.path
                    .unwrap_or_else(|| PathBuf::from("/var/lib/tessera/tessera.db")),
            ),
            key_file: self.path(
                s.key_file
                    .unwrap_or_else(|| PathBuf::from("/etc/tessera/tessera.key")),
            ),
            busy_timeout: self.duration(
                "store",
                "busy_timeout",
                s.busy_timeout,
                Duration::from_secs(5),
                Duration::from_millis(1),
                Duration::from_secs(120),
            )?,
        };

        let t = raw.totp.unwrap_or_default();
        let algorithm = match t.algorithm {
            None => TotpAlgorithm::Sha1,
            Some(a) => TotpAlgorithm::parse(&a).ok_or_else(|| {
                self.invalid(
                    "totp",
                    "algorithm",
                    format!("{a:?} is not one of \"sha1\", \"sha256\", \"sha512\""),
                )
            })?,
        };
        let issuer = t.issuer.unwrap_or_else(|| "Tessera".to_string());
        if issuer.is_empty() || issuer.contains(':') || issuer.chars().any(char::is_control) {
            return Err(self.invalid(
                "totp",
                "issuer",
                "must be non-empty text without ':' or control characters",
            ));
        }
        let totp = TotpConfig {
            issuer,
            digits: self.int("totp", "digits", t.digits, 6, 6..=8)?,
            period: self.int("totp", "period", t.period, 30, 10..=300)?,
            algorithm,
            window: self.int("totp", "window", t.window, 1, 0..=10)?,
        };

        let r = raw.recovery.unwrap_or_default();
        let recovery = RecoveryConfig {
            count: self.int("recovery", "count", r.count, 10, 1..=100)?,
        };

        let a = raw.argon2.unwrap_or_default();
        let parallelism: u32 = self.int("argon2", "parallelism", a.parallelism, 1, 1..=16)?;
        let argon2 = Argon2Config {
            memory_kib: self.int(
                "argon2",
                "memory_kib",
                a.memory_kib,
                19_456,
                8 * i64::from(parallelism)..=4 * 1024 * 1024,
            )?,
            iterations: self.int("argon2", "iterations", a.iterations, 2, 1..=100)?,
            parallelism,
        };

        let p = raw.policy.unwrap_or_default();
        let policy = PolicyConfig {
            max_failures: self.int("policy", "max_failures", p.max_failures, 5, 1..=1000)?,
            lockout: self.duration(
                "policy",
                "lockout",
                p.lockout,
                Duration::from_secs(15 * 60),
                Duration::from_secs(1),
                Duration::from_secs(7 * 24 * 3600),
            )?,
            max_lockout: Duration::ZERO,
            max_tries: self.int("policy", "max_tries", p.max_tries, 3, 1..=10)?,
            first_factor_max_failures: self.int(
                "policy",
                "first_factor_max_failures",
                p.first_factor_max_failures,
                20,
                1..=10_000,
            )?,
            first_factor_lockout: self.duration(
                "policy",
                "first_factor_lockout",
                p.first_factor_lockout,
                Duration::from_secs(5 * 60),
                Duration::from_secs(1),
                Duration::from_secs(24 * 3600),
            )?,
            enroll_at_login: match p.enroll_at_login.as_deref() {
                None | Some("off") => EnrollAtLogin::Off,
                Some("optional") => EnrollAtLogin::Optional,
                Some("required") => EnrollAtLogin::Required,
                Some(other) => {
                    return Err(self.invalid(
                        "policy",
                        "enroll_at_login",
                        format!("{other:?} is not one of \"off\", \"optional\", \"required\""),
                    ));
                }
            },
            invite_valid: self.duration(
                "policy",
                "invite_valid",
                p.invite_valid,
                Duration::from_secs(72 * 3600),
                Duration::from_secs(60),
                Duration::from_secs(90 * 24 * 3600),
            )?,
            enroll_help: match p.enroll_help {
                None => None,
                Some(h)
                    if h.trim().is_empty() || h.len() > 200 || h.chars().any(char::is_control) =>
                {
                    return Err(self.invalid(
                        "policy",
                        "enroll_help",
                        "must be 1 to 200 characters of text on one line",
                    ));
                }
                Some(h) => Some(h.trim().to_string()),
            },
        };
        let policy = PolicyConfig {
            max_lockout: self.duration(
                "policy",
                "max_lockout",
                p.max_lockout,
                Duration::from_secs(24 * 3600).max(policy.lockout),
                policy.lockout,
                Duration::from_secs(365 * 24 * 3600),
            )?,
            ..policy
        };

        let email = match raw.email {
            None => None,
            Some(e) => Some(self.email(e)?),
        };
        let sms = match raw.sms {
            None => None,
            Some(s) => Some(self.sms(s, email.is_some())?),
        };
        let radius = self.radius(raw.radius.unwrap_or_default())?;
        let audit = self.audit(raw.audit.unwrap_or_default())?;
        let fido2 = self.fido2(raw.fido2.unwrap_or_default())?;

        Ok(Config {
            source: self.path.to_path_buf(),
            store,
            totp,
            recovery,
            argon2,
            policy,
            email,
            sms,
            radius,
            audit,
            fido2,
        })
    }
}

#[cfg(test)]
mod tests;
