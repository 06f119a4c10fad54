//! The `[sms]` section: how texted one-time codes are sent and how long they live. No vendor is
//! built in: the administrator chooses a gateway, a command of their own in a fixed directory,
//! an HTTP API, or e-mail to an SMS gateway address through the `[email]` settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::validate::{RawDuration, RawSentCodes, Validator};
use crate::base::secret::Secret;

mod gateway;

/// Where `gateway = "command"` looks for its command: a directory only root can write, so that
/// nobody who can write the configuration's other files, nor a package's postinst gone wrong,
/// can make the PAM module run a program of their choosing as root.
pub const SMS_COMMAND_DIR: &str = "/usr/lib/tessera/sms";
/// In a debug build only, a directory that replaces [`SMS_COMMAND_DIR`] (the tests' scripts);
/// ignored in a process that is setuid or setgid or gained privileges at exec.
pub const SMS_COMMAND_DIR_ENV: &str = "TESSERA_SMS_COMMAND_DIR";

/// Placeholders the `message` template may use.
pub const SMS_PLACEHOLDERS: &[&str] = &["code", "user", "host", "service", "expiry"];
/// Placeholders the gateway's `url`, `template` and `address` may use: the number in E.164
/// form (`+447700900123`), its digits alone (`447700900123`), and the message.
pub const GATEWAY_PLACEHOLDERS: &[&str] = &["number", "digits", "message"];

const DEFAULT_MESSAGE: &str = "{code} is your {host} login code. It expires in {expiry}.";
/// The longest `message` template: an SMS holds 160 characters (70 outside GSM's alphabet);
/// gateways split longer ones, but not without bound.
const MAX_MESSAGE_TEMPLATE: usize = 1000;

/// `[sms]`: how texted one-time codes are sent and how long they live.
#[derive(Debug, Clone)]
pub struct SmsConfig {
    pub gateway: SmsGateway,
    /// The text sent, with [`SMS_PLACEHOLDERS`]; holds `{code}`.
    pub message: String,
    /// The machine's name for `{host}`.
    pub hostname: String,
    pub code_length: u8,
    pub lifetime: Duration,
    pub max_tries: u32,
    pub min_interval: Duration,
    /// Codes sent to one user within 24 hours, at most (the SMS-bombing bound; each text costs
    /// money and wakes a phone).
    pub max_per_day: u32,
    /// The whole delivery: the command's run, or the HTTP exchange from DNS to the last byte
    /// of the answer.
    pub timeout: Duration,
}

/// How a text leaves this machine.
#[derive(Debug, Clone)]
pub enum SmsGateway {
    Command(CommandGateway),
    Http(HttpGateway),
    Email(EmailGateway),
}

/// `gateway = "command"`: a program of root's, given the number as its argument and the
/// message on its standard input; exit status 0 means delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandGateway {
    /// [`SMS_COMMAND_DIR`] (or, in a debug build, [`SMS_COMMAND_DIR_ENV`]).
    pub dir: PathBuf,
    /// A file name in `dir`, nothing more.
    pub name: String,
}

impl CommandGateway {
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }
}

/// `gateway = "http"`: one request per text.
#[derive(Clone)]
pub struct HttpGateway {
    /// The URL template: placeholders only in its path and query, filled percent-encoded.
    pub url: String,
    /// `scheme://host[:port]` of `url`: what messages name (the path and query may hold a
    /// token).
    pub origin: String,
    pub method: HttpMethod,
    pub body: HttpBody,
    pub auth: HttpAuth,
    /// Statuses that mean delivered; empty: any 2xx.
    pub success_status: Vec<u16>,
    /// Text the answer's body must contain for a delivery (read up to 64 KiB).
    pub success_contains: Option<String>,
    /// Root certificates to trust besides the built-in (Mozilla) list, PEM.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let HttpGateway {
            url,
            origin,
            method,
            body,
            auth,
            success_status,
            success_contains,
            ca_file,
        } = self;
        f.debug_struct("HttpGateway")
            .field("url", url)
            .field("origin", origin)
            .field("method", method)
            .field("body", body)
            .field("auth", auth)
            .field("success_status", success_status)
            .field("success_contains", success_contains)
            .field("ca_file", ca_file)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
}

impl HttpMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
        }
    }
}

/// What the request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpBody {
    None,
    /// `application/x-www-form-urlencoded`: field → template, in the fields' sorted order.
    Form(Vec<(String, String)>),
    /// `application/json`: a template whose placeholders stand inside JSON strings.
    Json(String),
}

/// How the request says who sends it. The secret comes from `secret_file`.
#[derive(Clone)]
pub enum HttpAuth {
    None,
    Basic {
        username: String,
        password: Secret<String>,
    },
    Bearer(Secret<String>),
}

impl fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpAuth::None => f.write_str("None"),
            HttpAuth::Basic {
                username,
                password: _,
            } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            HttpAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// `gateway = "email"`: a mail through the `[email]` settings to an address made from the
/// number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailGateway {
    /// The address template, with `{number}` or `{digits}`.
    pub address: String,
}

/// The `template` key: a table of form fields, or a JSON text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawTemplate {
    Json(String),
    Form(BTreeMap<String, String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSms {
    gateway: Option<String>,
    message: Option<String>,
    hostname: Option<String>,
    code_length: Option<i64>,
    lifetime: Option<RawDuration>,
    max_tries: Option<i64>,
    min_interval: Option<RawDuration>,
    max_per_day: Option<i64>,
    timeout: Option<RawDuration>,
    // gateway = "command"
    command: Option<String>,
    // gateway = "http"
    url: Option<String>,
    method: Option<String>,
    body: Option<String>,
    template: Option<RawTemplate>,
    auth: Option<String>,
    username: Option<String>,
    secret_file: Option<PathBuf>,
    success_status: Option<Vec<i64>>,
    success_contains: Option<String>,
    ca_file: Option<PathBuf>,
    // gateway = "email"
    address: Option<String>,
}

const S: &str = "sms";

impl Validator<'_> {
    /// `[sms]`; `has_email`: whether the file has an `[email]` section (the e-mail gateway
    /// sends through it).
    pub(super) fn sms(&self, raw: RawSms, has_email: bool) -> Result<SmsConfig, ConfigError> {
        let kind = match raw.gateway.as_deref() {
            Some(k @ ("command" | "http" | "email")) => k,
            Some(other) => {
                return Err(self.invalid(
                    S,
                    "gateway",
                    format!("{other:?} is not one of \"command\", \"http\", \"email\""),
                ));
            }
            None => {
                return Err(self.invalid(
                    S,
                    "gateway",
                    "is required in [sms]: \"command\", \"http\" or \"email\"",
                ));
            }
        };
        self.refuse_other_gateways_keys(&raw, kind)?;
        let gateway = match kind {
            "command" => SmsGateway::Command(self.command_gateway(&raw)?),
            "http" => SmsGateway::Http(self.http_gateway(&raw)?),
            _ => {
                if !has_email {
                    return Err(self.invalid(
                        S,
                        "gateway",
                        "\"email\" sends through the SMTP settings of [email]: add an [email] \
                         section, or choose \"command\" or \"http\"",
                    ));
                }
                SmsGateway::Email(self.email_gateway(&raw)?)
            }
        };
        let message = raw.message.unwrap_or_else(|| DEFAULT_MESSAGE.to_string());
        if let Some(bad) = unknown_placeholder(&message, SMS_PLACEHOLDERS) {
            return Err(self.invalid(
                S,
                "message",
                format!(
                    "unknown placeholder {{{bad}}} (known: {})",
                    SMS_PLACEHOLDERS.join(", ")
                ),
            ));
        }
        if !message.contains("{code}") {
            return Err(self.invalid(S, "message", "must contain {code}"));
        }
        if message.chars().count() > MAX_MESSAGE_TEMPLATE {
            return Err(self.invalid(
                S,
                "message",
                format!("is longer than {MAX_MESSAGE_TEMPLATE} characters"),
            ));
        }
        let hostname = match raw.hostname {
            Some(h) => h,
            None => hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".to_string()),
        };
        let rules = self.sent_codes(
            S,
            RawSentCodes {
                code_length: raw.code_length,
                lifetime: raw.lifetime,
                max_tries: raw.max_tries,
                min_interval: raw.min_interval,
                max_per_day: raw.max_per_day,
                timeout: raw.timeout,
            },
            (10, 1000),
        )?;
        Ok(SmsConfig {
            gateway,
            message,
            hostname,
            code_length: rules.code_length,
            lifetime: rules.lifetime,
            max_tries: rules.max_tries,
            min_interval: rules.min_interval,
            max_per_day: rules.max_per_day,
            timeout: rules.timeout,
        })
    }

    /// A key of another gateway is a mistake (a half-edited switch of gateway), not noise.
    fn refuse_other_gateways_keys(&self, raw: &RawSms, kind: &str) -> Result<(), ConfigError> {
        let given = [
            ("command", raw.command.is_some()),
            ("url", raw.url.is_some()),
            ("method", raw.method.is_some()),
            ("body", raw.body.is_some()),
            ("template", raw.template.is_some()),
            ("auth", raw.auth.is_some()),
            ("username", raw.username.is_some()),
            ("secret_file", raw.secret_file.is_some()),
            ("success_status", raw.success_status.is_some()),
            ("success_contains", raw.success_contains.is_some()),
            ("ca_file", raw.ca_file.is_some()),
            ("address", raw.address.is_some()),
        ];
        for (key, present) in given {
            let owner = match key {
                "command" => "command",
                "address" => "email",
                _ => "http",
            };
            if present && owner != kind {
                return Err(self.invalid(
                    S,
                    key,
                    format!("is for gateway = \"{owner}\"; this [sms] uses \"{kind}\""),
                ));
            }
        }
        Ok(())
    }
}

/// The first `{name}` in `text` that is not one of `known`.
pub(super) fn unknown_placeholder(text: &str, known: &[&str]) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        let name = &after[..end];
        if !known.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[end + 1..];
    }
    None
}

#[cfg(test)]
mod tests;
