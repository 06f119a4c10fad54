//! The `[email]` section: how e-mailed one-time codes are sent and how long they live.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::validate::{RawDuration, RawSentCodes, Validator};

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
    /// Codes sent to one user in a day, at most (by e-mail and SMS together).
    pub max_per_day: u32,
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
            max_per_day,
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
            .field("max_per_day", max_per_day)
            .field("timeout", timeout)
            .finish()
    }
}

/// Placeholders the e-mail templates may use.
pub const EMAIL_PLACEHOLDERS: &[&str] = &["code", "user", "host", "service", "expiry", "source"];
const DEFAULT_SUBJECT: &str = "Your login code for {host}";
const DEFAULT_BODY: &str = "Your verification code for {service} on {host} is:\n\n    {code}\n\nIt expires in {expiry}. The login came from {source}.\nIf this was not you, do not share the code and tell your administrator.\n";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
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
    max_per_day: Option<i64>,
    timeout: Option<RawDuration>,
    allow_plaintext_auth: Option<bool>,
}

impl Validator<'_> {
    pub(super) fn email(&self, e: RawEmail) -> Result<EmailConfig, ConfigError> {
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
                let text = self
                    .read_secret_file(&p)
                    .map_err(|why| self.invalid(S, "password_file", why))?;
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
        if password.is_some()
            && security == SmtpSecurity::None
            && !is_loopback(&smtp_host)
            && e.allow_plaintext_auth != Some(true)
        {
            return Err(self.invalid(
                S,
                "security",
                format!(
                    "\"none\" with `password_file` would send the SMTP password in clear to \
                     {smtp_host}: use \"starttls\" or \"tls\", or set \
                     `allow_plaintext_auth = true` in [email] if the network to it is trusted"
                ),
            ));
        }
        let mut ca_file = e.ca_file.map(|p| self.path(p));
        if let Some(p) = &mut ca_file
            && self.trust_files
        {
            *p = super::trusted::CA_RULE.check(p)?;
        }
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
        let rules = self.sent_codes(
            S,
            RawSentCodes {
                code_length: e.code_length,
                lifetime: e.lifetime,
                max_tries: e.max_tries,
                min_interval: e.min_interval,
                max_per_day: e.max_per_day,
                timeout: e.timeout,
            },
            (50, 10_000),
        )?;
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
            code_length: rules.code_length,
            lifetime: rules.lifetime,
            max_tries: rules.max_tries,
            min_interval: rules.min_interval,
            max_per_day: rules.max_per_day,
            timeout: rules.timeout,
        })
    }
}

/// Whether `host` names this machine (a relay on localhost): there a clear-text password does
/// not cross a network.
pub(super) fn is_loopback(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
