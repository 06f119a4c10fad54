//! The keys of each `[sms]` gateway, checked.

use std::path::PathBuf;

use super::{
    CommandGateway, EmailGateway, GATEWAY_PLACEHOLDERS, HttpAuth, HttpBody, HttpGateway,
    HttpMethod, RawSms, RawTemplate, S, SMS_COMMAND_DIR, unknown_placeholder,
};
use crate::base::secret::Secret;
use crate::base::text::fill_template;
use crate::config::ConfigError;
use crate::config::email::is_loopback;
use crate::config::trusted::{SMS_CA_RULE, SMS_SECRET_RULE};
use crate::config::validate::Validator;

/// A number and a message to fill templates with when checking them.
const SAMPLE_NUMBER: &str = "+447700900123";
const SAMPLE_DIGITS: &str = "447700900123";

impl Validator<'_> {
    pub(super) fn command_gateway(&self, raw: &RawSms) -> Result<CommandGateway, ConfigError> {
        let name = raw.command.clone().ok_or_else(|| {
            self.invalid(
                S,
                "command",
                format!(
                    "is required with gateway = \"command\" (a file name in {SMS_COMMAND_DIR})"
                ),
            )
        })?;
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !plain {
            return Err(self.invalid(
                S,
                "command",
                format!(
                    "{name:?} must be a file name in {SMS_COMMAND_DIR}, nothing more: letters, \
                     digits, '.', '_' and '-', no '/' or \"..\", not starting with '.'"
                ),
            ));
        }
        Ok(CommandGateway {
            dir: command_dir(),
            name,
        })
    }

    pub(super) fn http_gateway(&self, raw: &RawSms) -> Result<HttpGateway, ConfigError> {
        let url = raw
            .url
            .clone()
            .ok_or_else(|| self.invalid(S, "url", "is required with gateway = \"http\""))?;
        let origin = self.check_url(&url)?;
        let method = match raw
            .method
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("POST") => HttpMethod::Post,
            Some("GET") => HttpMethod::Get,
            Some("PUT") => HttpMethod::Put,
            Some(_) => {
                return Err(self.invalid(
                    S,
                    "method",
                    format!(
                        "{:?} is not one of \"POST\", \"GET\", \"PUT\"",
                        raw.method.as_deref().unwrap_or_default()
                    ),
                ));
            }
        };
        let body = self.http_body(raw)?;
        if method == HttpMethod::Get && body != HttpBody::None {
            return Err(self.invalid(
                S,
                "body",
                "a GET request carries no body: use body = \"none\" and put the fields in `url` \
                 (as {number} and {message}), or method = \"POST\"",
            ));
        }
        let templates: Vec<&str> = std::iter::once(url.as_str())
            .chain(match &body {
                HttpBody::None => vec![],
                HttpBody::Form(fields) => fields.iter().map(|(_, v)| v.as_str()).collect(),
                HttpBody::Json(t) => vec![t.as_str()],
            })
            .collect();
        let key = if body == HttpBody::None {
            "url"
        } else {
            "template"
        };
        if !templates.iter().any(|t| t.contains("{message}")) {
            return Err(self.invalid(
                S,
                key,
                "the text must reach the gateway: put {message} in `template` or `url`",
            ));
        }
        if !templates
            .iter()
            .any(|t| t.contains("{number}") || t.contains("{digits}"))
        {
            return Err(self.invalid(
                S,
                key,
                "the number must reach the gateway: put {number} (or {digits}, without the +) \
                 in `template` or `url`",
            ));
        }
        let auth = self.http_auth(raw)?;
        let success_status = match &raw.success_status {
            None => Vec::new(),
            Some(list) if list.is_empty() => {
                return Err(self.invalid(
                    S,
                    "success_status",
                    "is empty: leave it out for any 2xx, or list the statuses, e.g. [200, 201]",
                ));
            }
            Some(list) => list
                .iter()
                .map(|&s| {
                    u16::try_from(s)
                        .ok()
                        .filter(|s| (100..=599).contains(s))
                        .ok_or_else(|| {
                            self.invalid(
                                S,
                                "success_status",
                                format!("{s} is not an HTTP status (100 to 599)"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        if raw.success_contains.as_deref() == Some("") {
            return Err(self.invalid(
                S,
                "success_contains",
                "is empty: leave it out, or give the text a delivered answer holds",
            ));
        }
        let mut ca_file = raw.ca_file.clone().map(|p| self.path(p));
        if let Some(p) = &mut ca_file
            && self.trust_files
        {
            *p = SMS_CA_RULE.check(p)?;
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
        Ok(HttpGateway {
            url,
            origin,
            method,
            body,
            auth,
            success_status,
            success_contains: raw.success_contains.clone(),
            ca_file,
        })
    }

    /// The URL's scheme and host are fixed text (a number or message cannot choose where the
    /// request goes), https unless the host is this machine. Returns `scheme://host[:port]`.
    fn check_url(&self, url: &str) -> Result<String, ConfigError> {
        let bad = |why: String| self.invalid(S, "url", why);
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(format!("{url:?} is not a URL (https://host/path)")))?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if authority.contains(['{', '}']) {
            return Err(bad(
                "placeholders may stand only in the path and the query, never in the host"
                    .to_string(),
            ));
        }
        if authority.contains('@') {
            return Err(bad(
                "holds credentials: put the password or token in `secret_file` (with auth = \
                 \"basic\" or \"bearer\"), never in the URL"
                    .to_string(),
            ));
        }
        if url.contains('#') {
            return Err(bad("a fragment (#...) is never sent: remove it".to_string()));
        }
        if let Some(bad_name) = unknown_placeholder(url, GATEWAY_PLACEHOLDERS) {
            return Err(bad(format!(
                "unknown placeholder {{{bad_name}}} (known: {})",
                GATEWAY_PLACEHOLDERS.join(", ")
            )));
        }
        // What the request will be sent to, once filled, must be a URL the client takes.
        let sample = fill_template(url, |name| match name {
            "number" => Some("%2B447700900123"),
            "digits" => Some(SAMPLE_DIGITS),
            "message" => Some("x"),
            _ => None,
        });
        let uri: ureq::http::Uri = sample
            .parse()
            .map_err(|e| bad(format!("{url:?} is not a URL: {e}")))?;
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad(format!("{url:?} names no host")))?;
        match scheme.to_ascii_lowercase().as_str() {
            "https" => {}
            // A port any local account may bind (when the relay is down, or listens only on
            // one of 127.0.0.1 and ::1) would get every code and the gateway's secret. Debug
            // builds allow one: the tests' relay listens on whatever port is free.
            "http"
                if is_loopback(host)
                    && uri.port_u16().unwrap_or(80) >= 1024
                    && !cfg!(debug_assertions) =>
            {
                return Err(bad(format!(
                    "plain http:// to {host} must use a port below 1024, which only root can \
                     listen on (any local account could take port {} and receive the codes)",
                    uri.port_u16().unwrap_or(80)
                )));
            }
            "http" if is_loopback(host) => {}
            "http" => {
                return Err(bad(format!(
                    "must be https:// (the text carries a login code, and TLS is always \
                     verified); plain http:// is accepted only to a loopback address such as \
                     127.0.0.1 or ::1, not to {host}"
                )));
            }
            other => {
                return Err(bad(format!(
                    "scheme {other:?} is not https (or http to a loopback address)"
                )));
            }
        }
        Ok(format!("{}://{authority}", scheme.to_ascii_lowercase()))
    }

    fn http_body(&self, raw: &RawSms) -> Result<HttpBody, ConfigError> {
        let body = match (raw.body.as_deref(), &raw.template) {
            (None | Some("none"), None) => HttpBody::None,
            (None | Some("none"), Some(_)) => {
                return Err(self.invalid(
                    S,
                    "template",
                    "is for body = \"form\" or \"json\"; set `body`",
                ));
            }
            (Some("form"), Some(RawTemplate::Form(fields))) => {
                if fields.is_empty() {
                    return Err(self.invalid(S, "template", "has no fields"));
                }
                for (field, value) in fields {
                    if field.is_empty() {
                        return Err(self.invalid(S, "template", "a field name is empty"));
                    }
                    if let Some(bad) = unknown_placeholder(value, GATEWAY_PLACEHOLDERS) {
                        return Err(self.invalid(
                            S,
                            "template",
                            format!(
                                "field {field:?}: unknown placeholder {{{bad}}} (known: {})",
                                GATEWAY_PLACEHOLDERS.join(", ")
                            ),
                        ));
                    }
                }
                HttpBody::Form(fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            (Some("json"), Some(RawTemplate::Json(text))) => {
                self.check_json_template(text)?;
                HttpBody::Json(text.clone())
            }
            (Some("form"), _) => {
                return Err(self.invalid(
                    S,
                    "template",
                    "body = \"form\" needs a table of fields, e.g. template = { To = \
                     \"{number}\", Body = \"{message}\" }",
                ));
            }
            (Some("json"), _) => {
                return Err(self.invalid(
                    S,
                    "template",
                    "body = \"json\" needs the JSON as a string, e.g. template = '{\"to\": \
                     \"{number}\", \"text\": \"{message}\"}'",
                ));
            }
            (Some(other), _) => {
                return Err(self.invalid(
                    S,
                    "body",
                    format!("{other:?} is not one of \"form\", \"json\", \"none\""),
                ));
            }
        };
        Ok(body)
    }

    /// The template must be JSON once every placeholder is filled (with `x`): then each stands
    /// inside a JSON string, where the filled value is escaped.
    fn check_json_template(&self, text: &str) -> Result<(), ConfigError> {
        for name in json_placeholders(text) {
            if !GATEWAY_PLACEHOLDERS.contains(&name) {
                return Err(self.invalid(
                    S,
                    "template",
                    format!(
                        "unknown placeholder {{{name}}} (known: {})",
                        GATEWAY_PLACEHOLDERS.join(", ")
                    ),
                ));
            }
        }
        let filled = fill_template(text, |name| {
            GATEWAY_PLACEHOLDERS.contains(&name).then_some("x")
        });
        serde_json::from_str::<serde_json::Value>(&filled).map_err(|e| {
            self.invalid(
                S,
                "template",
                format!(
                    "is not JSON once its placeholders are filled in ({e}); each placeholder \
                     must stand inside a JSON string, e.g. '{{\"to\": \"{{number}}\"}}'"
                ),
            )
        })?;
        Ok(())
    }

    fn http_auth(&self, raw: &RawSms) -> Result<HttpAuth, ConfigError> {
        let secret = || -> Result<Secret<String>, ConfigError> {
            let p = raw.secret_file.clone().ok_or_else(|| {
                self.invalid(
                    S,
                    "secret_file",
                    format!(
                        "is required with auth = {:?} (the password or token, in its own file)",
                        raw.auth.as_deref().unwrap_or_default()
                    ),
                )
            })?;
            let p = self.path(p);
            let text = self
                .read_secret_file_as(&SMS_SECRET_RULE, &p)
                .map_err(|why| self.invalid(S, "secret_file", why))?;
            let value = text.trim_end_matches(['\n', '\r']);
            if value.is_empty() {
                return Err(self.invalid(S, "secret_file", format!("{} is empty", p.display())));
            }
            Ok(Secret::new(value.to_string()))
        };
        match raw.auth.as_deref() {
            None | Some("none") => {
                for (key, given) in [
                    ("username", raw.username.is_some()),
                    ("secret_file", raw.secret_file.is_some()),
                ] {
                    if given {
                        return Err(self.invalid(
                            S,
                            key,
                            "is used only with auth = \"basic\" or \"bearer\"; set `auth`",
                        ));
                    }
                }
                Ok(HttpAuth::None)
            }
            Some("basic") => {
                let username = raw.username.clone().ok_or_else(|| {
                    self.invalid(S, "username", "is required with auth = \"basic\"")
                })?;
                if username.is_empty()
                    || username.contains(':')
                    || username.chars().any(char::is_control)
                {
                    return Err(self.invalid(
                        S,
                        "username",
                        "must be non-empty, without ':' or control characters",
                    ));
                }
                Ok(HttpAuth::Basic {
                    username,
                    password: secret()?,
                })
            }
            Some("bearer") => {
                if raw.username.is_some() {
                    return Err(self.invalid(S, "username", "is used only with auth = \"basic\""));
                }
                let token = secret()?;
                // It goes into a header line as it is.
                if !token.expose().bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(self.invalid(
                        S,
                        "secret_file",
                        "a bearer token is printable ASCII without spaces (one line)",
                    ));
                }
                Ok(HttpAuth::Bearer(token))
            }
            Some(other) => Err(self.invalid(
                S,
                "auth",
                format!("{other:?} is not one of \"none\", \"basic\", \"bearer\""),
            )),
        }
    }

    pub(super) fn email_gateway(&self, raw: &RawSms) -> Result<EmailGateway, ConfigError> {
        let address = raw.address.clone().ok_or_else(|| {
            self.invalid(
                S,
                "address",
                "is required with gateway = \"email\", e.g. \"{digits}@sms.example.net\"",
            )
        })?;
        if let Some(bad) = unknown_placeholder(&address, &["number", "digits"]) {
            return Err(self.invalid(
                S,
                "address",
                format!("unknown placeholder {{{bad}}} (known: number, digits)"),
            ));
        }
        if !address.contains("{number}") && !address.contains("{digits}") {
            return Err(self.invalid(
                S,
                "address",
                "must contain {number} or {digits} (the number without the +)",
            ));
        }
        let sample = fill_template(&address, |name| match name {
            "number" => Some(SAMPLE_NUMBER),
            "digits" => Some(SAMPLE_DIGITS),
            _ => None,
        });
        if crate::base::address::validate_email(&sample).is_err() {
            return Err(self.invalid(
                S,
                "address",
                format!("{address:?} does not make an e-mail address (e.g. {sample:?})"),
            ));
        }
        Ok(EmailGateway { address })
    }
}

/// The `{name}`s of a JSON template: braces around a bare identifier (the JSON's own braces
/// hold quotes, colons or nothing).
pub(super) fn json_placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|after| {
        let name = &after[..after.find('}')?];
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .then_some(name)
    })
}

/// [`SMS_COMMAND_DIR`]; in a debug build, [`super::SMS_COMMAND_DIR_ENV`] when it is set, not
/// empty and the process is not privileged.
fn command_dir() -> PathBuf {
    #[cfg(debug_assertions)]
    if let Some(dir) = test_command_dir(
        std::env::var_os(super::SMS_COMMAND_DIR_ENV),
        &Ids::of_process(),
    ) {
        return dir;
    }
    PathBuf::from(SMS_COMMAND_DIR)
}

/// The real and effective user and group ids of a process, and whether it gained privileges at
/// exec (as `tessera_fido2` decides whether its test device variable is believed).
#[cfg(debug_assertions)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ids {
    pub(super) uid: u32,
    pub(super) euid: u32,
    pub(super) gid: u32,
    pub(super) egid: u32,
    /// The kernel's AT_SECURE: setuid, setgid or file capabilities at exec.
    pub(super) secure: bool,
}

#[cfg(debug_assertions)]
impl Ids {
    pub(super) fn of_process() -> Ids {
        use rustix::process::{getegid, geteuid, getgid, getuid};
        Ids {
            uid: getuid().as_raw(),
            euid: geteuid().as_raw(),
            gid: getgid().as_raw(),
            egid: getegid().as_raw(),
            // Unreadable: assume the worst.
            secure: std::fs::read("/proc/self/auxv").map_or(true, |a| at_secure(&a)),
        }
    }

    /// The environment is then another user's (sudo's caller), not to be trusted with the
    /// directory of programs run as root.
    fn privileged(&self) -> bool {
        self.uid != self.euid || self.gid != self.egid || self.secure
    }
}

/// AT_SECURE in an auxiliary vector (`/proc/self/auxv`: native-endian word pairs, type then
/// value, ending at AT_NULL). Not found: not secure.
#[cfg(debug_assertions)]
pub(super) fn at_secure(auxv: &[u8]) -> bool {
    const AT_NULL: usize = 0;
    const AT_SECURE: usize = 23;
    const WORD: usize = std::mem::size_of::<usize>();
    let word = |b: &[u8]| b.try_into().map(usize::from_ne_bytes).unwrap_or(AT_NULL);
    for pair in auxv.chunks_exact(2 * WORD) {
        match word(&pair[..WORD]) {
            AT_NULL => break,
            AT_SECURE => return word(&pair[WORD..]) != 0,
            _ => {}
        }
    }
    false
}

/// The directory the variable names, when it is believed.
#[cfg(debug_assertions)]
pub(super) fn test_command_dir(var: Option<std::ffi::OsString>, ids: &Ids) -> Option<PathBuf> {
    var.filter(|v| !v.is_empty() && !ids.privileged())
        .map(PathBuf::from)
}
