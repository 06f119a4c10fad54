//! Configuration: one TOML file, parsed strictly.
//!
//! TOML is read into `Raw*` structs (`deny_unknown_fields`, everything optional), then validated
//! into [`Config`] with defaults and range checks. Every error names the file, the line and the
//! key. Relative paths inside the file are resolved against the file's directory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod radius;

pub use crate::base::kdf::Argon2Config;
pub use crate::base::otp::TotpAlgorithm;

pub use radius::{FirstFactor, RadiusClient, RadiusConfig, RadiusMode, ReplyAttributes};

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
}

impl ConfigError {
    /// The dotted key the error is about, when one can be named.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
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
    pub radius: RadiusConfig,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP (only sensible to a relay on localhost).
    None,
    /// STARTTLS, required (port 587 by default).
    Starttls,
    /// Implicit TLS (port 465 by default).
    Tls,
}

/// `[email]`: how e-mailed one-time codes are sent and how long they live.
#[derive(Clone)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    /// Read from `password_file` at load; never in the config itself.
    pub password: Option<crate::base::secret::Secret<String>>,
    /// Extra trusted root certificate(s), PEM (a private CA or a self-signed server).
    pub ca_file: Option<PathBuf>,
    pub from: String,
    pub subject: String,
    pub body: String,
    /// The machine's name for `{host}` in the templates.
    pub hostname: String,
    pub code_length: u8,
    pub lifetime: Duration,
    pub max_tries: u32,
    pub min_interval: Duration,
    pub timeout: Duration,
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let EmailConfig {
            smtp_host,
            smtp_port,
            security,
            username,
            password,
            ca_file,
            from,
            subject,
            body,
            hostname,
            code_length,
            lifetime,
            max_tries,
            min_interval,
            timeout,
        } = self;
        f.debug_struct("EmailConfig")
            .field("smtp_host", smtp_host)
            .field("smtp_port", smtp_port)
            .field("security", security)
            .field("username", username)
            .field("password", &password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", ca_file)
            .field("from", from)
            .field("subject", subject)
            .field("body", body)
            .field("hostname", hostname)
            .field("code_length", code_length)
            .field("lifetime", lifetime)
            .field("max_tries", max_tries)
            .field("min_interval", min_interval)
            .field("timeout", timeout)
            .finish()
    }
}

/// Placeholders the e-mail templates may use.
pub const EMAIL_PLACEHOLDERS: &[&str] = &["code", "user", "host", "service", "expiry", "source"];
const DEFAULT_SUBJECT: &str = "Your login code for {host}";
const DEFAULT_BODY: &str = "Your verification code for {service} on {host} is:\n\n    {code}\n\nIt expires in {expiry}. The login came from {source}.\nIf this was not you, do not share the code and tell your administrator.\n";

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
    radius: Option<radius::RawRadius>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    smtp_host: Option<String>,
    smtp_port: Option<i64>,
    security: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    from: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    hostname: Option<String>,
    code_length: Option<i64>,
    lifetime: Option<RawDuration>,
    max_tries: Option<i64>,
    min_interval: Option<RawDuration>,
    timeout: Option<RawDuration>,
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
}

/// A duration written as whole seconds (`900`) or as text (`"15m"`, `"1h 30m"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(i64),
    Text(String),
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

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Parse `text` as if read from `path` (used for messages and relative paths).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
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
        Validator { path, text }.build(raw)
    }
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Validator<'_> {
    fn invalid(&self, section: &str, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: locate_key(self.text, section, key).unwrap_or(1),
            key: format!("{section}.{key}"),
            message: message.into(),
        }
    }

    fn int<T: TryFrom<i64>>(
        &self,
        section: &str,
        key: &str,
        value: Option<i64>,
        default: T,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<T, ConfigError> {
        let Some(v) = value else { return Ok(default) };
        if !range.contains(&v) {
            return Err(self.invalid(
                section,
                key,
                format!(
                    "{v} is out of range (allowed {}..={})",
                    range.start(),
                    range.end()
                ),
            ));
        }
        T::try_from(v).map_err(|_| self.invalid(section, key, format!("{v} is out of range")))
    }

    fn duration(
        &self,
        section: &str,
        key: &str,
        value: Option<RawDuration>,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        let d = match value {
            None => return Ok(default),
            Some(RawDuration::Seconds(s)) => {
                let s = u64::try_from(s).map_err(|_| {
                    self.invalid(
                        section,
                        key,
                        format!("{s} is negative; give seconds or \"15m\""),
                    )
                })?;
                Duration::from_secs(s)
            }
            Some(RawDuration::Text(t)) => humantime::parse_duration(&t).map_err(|e| {
                self.invalid(
                    section,
                    key,
                    format!("{t:?} is not a duration ({e}); write e.g. \"15m\" or 900"),
                )
            })?,
        };
        if d < min || d > max {
            return Err(self.invalid(
                section,
                key,
                format!(
                    "{} is out of range (allowed {} to {})",
                    humantime::format_duration(d),
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            ));
        }
        Ok(d)
    }

    fn path(&self, p: PathBuf) -> PathBuf {
        if p.is_absolute() {
            p
        } else {
            let base = self.path.parent().unwrap_or(Path::new("."));
            base.join(p)
        }
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
        let radius = self.radius(raw.radius.unwrap_or_default())?;

        Ok(Config {
            source: self.path.to_path_buf(),
            store,
            totp,
            recovery,
            argon2,
            policy,
            email,
            radius,
        })
    }

    fn email(&self, e: RawEmail) -> Result<EmailConfig, ConfigError> {
        const S: &str = "email";
        let smtp_host = e
            .smtp_host
            .filter(|h| !h.trim().is_empty())
            .ok_or_else(|| self.invalid(S, "smtp_host", "is required in [email]"))?;
        let security = match e.security.as_deref() {
            None | Some("starttls") => SmtpSecurity::Starttls,
            Some("tls") => SmtpSecurity::Tls,
            Some("none") => SmtpSecurity::None,
            Some(other) => {
                return Err(self.invalid(
                    S,
                    "security",
                    format!("{other:?} is not one of \"none\", \"starttls\", \"tls\""),
                ));
            }
        };
        let default_port = match security {
            SmtpSecurity::None => 25,
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
        };
        let password = match e.password_file {
            None => None,
            Some(p) => {
                let p = self.path(p);
                let text = std::fs::read_to_string(&p).map_err(|err| {
                    self.invalid(
                        S,
                        "password_file",
                        format!("cannot read {}: {err}", p.display()),
                    )
                })?;
                let pw = text.trim_end_matches(['\n', '\r']).to_string();
                if pw.is_empty() {
                    return Err(self.invalid(
                        S,
                        "password_file",
                        format!("{} is empty", p.display()),
                    ));
                }
                Some(crate::base::secret::Secret::new(pw))
            }
        };
        if password.is_some() && e.username.is_none() {
            return Err(self.invalid(S, "password_file", "needs `username` too"));
        }
        let ca_file = e.ca_file.map(|p| self.path(p));
        if let Some(p) = &ca_file
            && !p.is_file()
        {
            return Err(self.invalid(
                S,
                "ca_file",
                format!("{} is not a readable file", p.display()),
            ));
        }
        let from = e.from.ok_or_else(|| {
            self.invalid(S, "from", "is required in [email] (the sender address)")
        })?;
        if crate::base::address::validate_email(
            from.trim_start_matches(|c| c != '<')
                .trim_matches(['<', '>']),
        )
        .is_err()
            && crate::base::address::validate_email(&from).is_err()
        {
            return Err(self.invalid(S, "from", format!("{from:?} is not an e-mail address")));
        }
        let subject = e.subject.unwrap_or_else(|| DEFAULT_SUBJECT.to_string());
        let body = e.body.unwrap_or_else(|| DEFAULT_BODY.to_string());
        for (key, text) in [("subject", &subject), ("body", &body)] {
            if let Some(bad) = unknown_placeholder(text) {
                return Err(self.invalid(
                    S,
                    key,
                    format!(
                        "unknown placeholder {{{bad}}} (known: {})",
                        EMAIL_PLACEHOLDERS.join(", ")
                    ),
                ));
            }
        }
        if !body.contains("{code}") {
            return Err(self.invalid(S, "body", "must contain {code}"));
        }
        let hostname = match e.hostname {
            Some(h) => h,
            None => hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".to_string()),
        };
        Ok(EmailConfig {
            smtp_host,
            smtp_port: self.int(S, "smtp_port", e.smtp_port, default_port, 1..=65535)?,
            security,
            username: e.username,
            password,
            ca_file,
            from,
            subject,
            body,
            hostname,
            code_length: self.int(S, "code_length", e.code_length, 6, 6..=10)?,
            lifetime: self.duration(
                S,
                "lifetime",
                e.lifetime,
                Duration::from_secs(600),
                Duration::from_secs(1),
                Duration::from_secs(24 * 3600),
            )?,
            max_tries: self.int(S, "max_tries", e.max_tries, 5, 1..=20)?,
            min_interval: self.duration(
                S,
                "min_interval",
                e.min_interval,
                Duration::from_secs(60),
                Duration::ZERO,
                Duration::from_secs(3600),
            )?,
            timeout: self.duration(
                S,
                "timeout",
                e.timeout,
                Duration::from_secs(10),
                Duration::from_millis(100),
                Duration::from_secs(120),
            )?,
        })
    }
}

/// The first `{name}` in `text` that is not a known placeholder.
fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        let name = &after[..end];
        if !EMAIL_PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[end + 1..];
    }
    None
}

/// 1-based line of byte offset `pos` in `text`.
fn line_of(text: &str, pos: usize) -> usize {
    let pos = pos.min(text.len());
    text.as_bytes()[..pos]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key (`section.key`) assigned on `line`, if that line is an assignment.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let mut section = String::new();
    for (i, l) in text.lines().enumerate() {
        let trimmed = l.trim();
        if let Some(h) = header_name(trimmed) {
            section = h;
        }
        if i + 1 == line {
            if let Some(h) = header_name(trimmed) {
                return Some(h);
            }
            let (k, _) = trimmed.split_once('=')?;
            let k = k.trim().trim_matches('"');
            if k.is_empty() {
                return None;
            }
            return Some(if section.is_empty() {
                k.to_string()
            } else {
                format!("{section}.{k}")
            });
        }
    }
    None
}

fn header_name(line: &str) -> Option<String> {
    let inner = line
        .strip_prefix("[[")
        .and_then(|l| l.split(']').next())
        .or_else(|| line.strip_prefix('[').and_then(|l| l.split(']').next()))?;
    Some(inner.trim().to_string())
}

/// Line on which `key` is assigned inside `[section]`.
fn locate_key(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    let mut section_line = None;
    for (i, l) in text.lines().enumerate() {
        let trimmed = l.trim();
        if let Some(h) = header_name(trimmed) {
            current = h;
            if current == section {
                section_line = Some(i + 1);
            }
            continue;
        }
        if current == section
            && let Some((k, _)) = trimmed.split_once('=')
            && k.trim().trim_matches('"') == key
        {
            return Some(i + 1);
        }
    }
    section_line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/tessera/tessera.toml"), text)
    }

    #[test]
    fn three_line_config_is_complete() {
        let c = parse("[store]\npath = \"/var/lib/t/db\"\nkey_file = \"/etc/t/key\"\n").unwrap();
        assert_eq!(c.store.path, PathBuf::from("/var/lib/t/db"));
        assert_eq!(c.totp.digits, 6);
        assert_eq!(c.totp.period, 30);
        assert_eq!(c.totp.window, 1);
        assert_eq!(c.policy.max_failures, 5);
        assert_eq!(c.policy.lockout, Duration::from_secs(900));
        assert_eq!(c.recovery.count, 10);
    }

    #[test]
    fn example_config_parses_and_states_the_defaults() {
        let example = parse(include_str!("../../packaging/tessera.toml")).unwrap();
        let defaults = parse("").unwrap();
        assert_eq!(
            format!("{:?}", example.totp),
            format!("{:?}", defaults.totp)
        );
        assert_eq!(
            format!("{:?}", example.policy),
            format!("{:?}", defaults.policy)
        );
        assert_eq!(
            format!("{:?}", example.argon2),
            format!("{:?}", defaults.argon2)
        );
        assert_eq!(example.recovery.count, defaults.recovery.count);
        assert_eq!(example.store.path, defaults.store.path);
        assert_eq!(example.store.key_file, defaults.store.key_file);
        assert_eq!(example.store.busy_timeout, defaults.store.busy_timeout);
    }

    #[test]
    fn email_section_defaults_and_checks() {
        let c =
            parse("[email]\nsmtp_host = \"mail.example.com\"\nfrom = \"tessera@example.com\"\n")
                .unwrap();
        let e = c.email.unwrap();
        assert_eq!(e.security, SmtpSecurity::Starttls);
        assert_eq!(e.smtp_port, 587);
        assert_eq!(e.code_length, 6);
        assert_eq!(e.lifetime, Duration::from_secs(600));
        assert_eq!(e.max_tries, 5);
        assert_eq!(e.min_interval, Duration::from_secs(60));
        assert_eq!(e.timeout, Duration::from_secs(10));
        assert!(parse("").unwrap().email.is_none());

        let e = parse("[email]\nfrom = \"a@example.com\"\n").unwrap_err();
        assert_eq!(e.key(), Some("email.smtp_host"));
        let e = parse(
            "[email]\nsmtp_host = \"h\"\nfrom = \"a@example.com\"\nbody = \"no code here\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("email.body") && e.to_string().contains("{code}"),
            "{e}"
        );
        let e =
            parse("[email]\nsmtp_host = \"h\"\nfrom = \"a@example.com\"\nsubject = \"{codez}\"\n")
                .unwrap_err();
        assert!(e.to_string().contains("{codez}"), "{e}");
        let e = parse("[email]\nsmtp_host = \"h\"\nfrom = \"a@example.com\"\nsecurity = \"ssl\"\n")
            .unwrap_err();
        assert_eq!(e.key(), Some("email.security"));
        let e = parse("[email]\nsmtp_host = \"h\"\nfrom = \"a@example.com\"\npassword_file = \"/nonexistent/pw\"\nusername = \"u\"\n").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/pw"), "{e}");
        let c = parse(
            "[email]\nsmtp_host = \"h\"\nfrom = \"Tessera <a@example.com>\"\nsecurity = \"tls\"\n",
        )
        .unwrap();
        assert_eq!(c.email.unwrap().smtp_port, 465);
    }

    #[test]
    fn example_email_block_parses_once_uncommented() {
        let example = include_str!("../../packaging/tessera.toml");
        let block: String = example[example.find("\n# [email]\n").unwrap()..]
            .lines()
            .map(|l| l.strip_prefix("# ").or(l.strip_prefix("#")).unwrap_or(l))
            // Files that do not exist here.
            .filter(|l| {
                !l.starts_with("password_file")
                    && !l.starts_with("ca_file")
                    && !l.starts_with("username")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let e = parse(&block).unwrap().email.unwrap();
        assert_eq!(e.smtp_host, "mail.example.com");
        assert_eq!(e.code_length, 6);
        assert!(e.body.contains("{code}"));
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let c = parse("[store]\npath = \"db/t.db\"\nkey_file = \"t.key\"\n").unwrap();
        assert_eq!(c.store.path, PathBuf::from("/etc/tessera/db/t.db"));
        assert_eq!(c.store.key_file, PathBuf::from("/etc/tessera/t.key"));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = parse("[store]\npath = \"/x\"\n\n[totp]\ndigitz = 6\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("/etc/tessera/tessera.toml:5:"), "{msg}");
        assert!(msg.contains("digitz"), "{msg}");
        assert_eq!(e.key(), Some("totp.digitz"));
    }

    #[test]
    fn unknown_section_is_an_error() {
        let e = parse("[stroe]\npath = \"/x\"\n").unwrap_err();
        assert!(e.to_string().contains("stroe"), "{e}");
        assert!(e.to_string().contains(":1:"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = parse("[totp]\n\ndigits = \"six\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(":3:"), "{msg}");
        assert!(msg.contains("digits"), "{msg}");
    }

    #[test]
    fn out_of_range_names_line_and_key() {
        let e = parse("[totp]\nperiod = 30\ndigits = 9\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/tessera/tessera.toml:3: key `totp.digits`: 9 is out of range (allowed 6..=8)"
        );
    }

    #[test]
    fn durations_accept_seconds_and_text() {
        let c = parse("[policy]\nlockout = \"1h\"\n").unwrap();
        assert_eq!(c.policy.lockout, Duration::from_secs(3600));
        let c = parse("[policy]\nlockout = 60\n").unwrap();
        assert_eq!(c.policy.lockout, Duration::from_secs(60));
        let e = parse("[policy]\nlockout = \"soon\"\n").unwrap_err();
        assert!(e.to_string().contains("policy.lockout"), "{e}");
    }

    #[test]
    fn bad_algorithm_is_named() {
        let e = parse("[totp]\nalgorithm = \"md5\"\n").unwrap_err();
        assert!(e.to_string().contains("totp.algorithm"), "{e}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = parse("[store]\npath = \n").unwrap_err();
        assert!(e.to_string().contains(":2:"), "{e}");
    }
}
