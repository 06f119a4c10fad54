//! The `[radius]` section: what `tessera-radiusd` listens on, which clients (NASes) it answers
//! and how it asks for the factors.
//!
//! Client secrets are read here, at load time (inline `secret` or `secret_file`, exactly one), so
//! a reload on SIGHUP sees a rotated secret file and a bad one is refused with the file and line.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::ConfigError;
use super::validate::{RawDuration, Validator, header_name};
use crate::base::secret::Secret;

mod clients;

/// How the password and the second factor travel in Access-Requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadiusMode {
    /// User-Password is the password followed by the code (optionally after a separator).
    Append,
    /// User-Password is the password; the code comes in a second Access-Request answering an
    /// Access-Challenge.
    Challenge,
    /// User-Password is the code alone; the NAS checks the password elsewhere.
    OtpOnly,
    /// `append` when the password is followed by a currently valid code, else `challenge`.
    Auto,
}

impl RadiusMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RadiusMode::Append => "append",
            RadiusMode::Challenge => "challenge",
            RadiusMode::OtpOnly => "otp-only",
            RadiusMode::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> Option<RadiusMode> {
        match s {
            "append" => Some(RadiusMode::Append),
            "challenge" => Some(RadiusMode::Challenge),
            "otp-only" => Some(RadiusMode::OtpOnly),
            "auto" => Some(RadiusMode::Auto),
            _ => None,
        }
    }
}

/// What is checked before the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    /// The user's Argon2id password in the store (`tessera user passwd`).
    Password,
    /// Nothing: the NAS or another server checks the password.
    None,
}

/// One NAS allowed to ask.
#[derive(Debug, Clone)]
pub struct RadiusClient {
    pub name: String,
    /// An address (as a /32 or /128) or a network.
    pub network: IpNet,
    pub secret: Secret<Vec<u8>>,
    /// Overrides `[radius] mode` for this client.
    pub mode: Option<RadiusMode>,
    /// Overrides `[radius] require_message_authenticator` for this client.
    pub require_message_authenticator: Option<bool>,
}

/// Attributes added to an Access-Accept for a user (`user = "*"`: users without an entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyAttributes {
    pub user: String,
    pub class: Option<String>,
    pub filter_id: Option<String>,
    pub session_timeout: Option<u32>,
    pub idle_timeout: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct RadiusConfig {
    pub listen: Vec<SocketAddr>,
    pub first_factor: FirstFactor,
    pub mode: RadiusMode,
    /// Between password and code in `append` mode; `None`: the code is a suffix of its length.
    pub separator: Option<String>,
    pub require_message_authenticator: bool,
    /// How long an Access-Challenge's State stays answerable.
    pub state_lifetime: Duration,
    /// Most challenges outstanding at once; past it new challenges are refused.
    pub max_challenges: usize,
    /// Most challenges outstanding for one user; a new one past it replaces that user's oldest.
    pub max_challenges_per_user: usize,
    /// Challenges outstanding for one client (by default half of `max_challenges`), so one NAS
    /// cannot fill the table for the others.
    pub max_challenges_per_client: usize,
    /// Users with no active factor are accepted on the first factor alone (never by default).
    pub allow_unenrolled: bool,
    /// Requests being decided at once; past it new ones are dropped with a log line.
    pub max_in_flight: usize,
    /// Requests of one client being decided at once (its share of `max_in_flight`); past it
    /// that client's new requests are dropped while other clients are still served.
    pub max_in_flight_per_client: usize,
    /// Threads deciding requests (Argon2, SQLite); 0 means one per CPU.
    pub workers: usize,
    /// How long a response is kept to answer a retransmission (RFC 5080 §2.2.2).
    pub dedup_window: Duration,
    pub clients: Vec<RadiusClient>,
    pub reply: Vec<ReplyAttributes>,
    /// Things worth a log line at startup (a world-readable secret file, a legacy client).
    pub warnings: Vec<String>,
}

impl RadiusConfig {
    /// Reply attributes for `user`: their own entry (names compared by their canonical form,
    /// as logins are), else the `"*"` entry.
    pub fn reply_for(&self, user: &str) -> Option<&ReplyAttributes> {
        let key = crate::base::names::name_key(user);
        self.reply
            .iter()
            .find(|r| r.user != "*" && crate::base::names::name_key(&r.user) == key)
            .or_else(|| self.reply.iter().find(|r| r.user == "*"))
    }
}

impl Default for RadiusConfig {
    fn default() -> Self {
        RadiusConfig {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 1812))],
            first_factor: FirstFactor::Password,
            mode: RadiusMode::Auto,
            separator: None,
            require_message_authenticator: true,
            state_lifetime: Duration::from_secs(60),
            max_challenges: 10_000,
            max_challenges_per_user: 3,
            max_challenges_per_client: 5_000,
            allow_unenrolled: false,
            max_in_flight: 1024,
            max_in_flight_per_client: 512,
            workers: 0,
            dedup_window: Duration::from_secs(30),
            clients: Vec::new(),
            reply: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRadius {
    listen: Option<Vec<String>>,
    first_factor: Option<String>,
    mode: Option<String>,
    separator: Option<String>,
    require_message_authenticator: Option<bool>,
    state_lifetime: Option<RawDuration>,
    max_challenges: Option<i64>,
    max_challenges_per_user: Option<i64>,
    max_challenges_per_client: Option<i64>,
    allow_unenrolled: Option<bool>,
    max_in_flight: Option<i64>,
    max_in_flight_per_client: Option<i64>,
    workers: Option<i64>,
    dedup_window: Option<RawDuration>,
    clients: Option<Vec<RawClient>>,
    reply: Option<Vec<RawReply>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: Option<String>,
    address: Option<String>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    mode: Option<String>,
    require_message_authenticator: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    user: Option<String>,
    class: Option<String>,
    filter_id: Option<String>,
    session_timeout: Option<i64>,
    idle_timeout: Option<i64>,
}

/// Longest shared secret accepted (RADIUS itself has no limit; FreeRADIUS stops at 64 in places).
const MAX_SECRET: usize = 128;

impl Validator<'_> {
    /// Error about `key` in the `index`-th `[[section]]` table (0-based).
    fn invalid_in(&self, section: &str, index: usize, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: locate_in_array(self.text, section, index, key).unwrap_or(1),
            key: format!("{section}[{index}].{key}"),
            message,
        }
    }

    pub(super) fn radius(&self, r: RawRadius) -> Result<RadiusConfig, ConfigError> {
        let d = RadiusConfig::default();
        let mut warnings = Vec::new();
        let listen = match r.listen {
            None => d.listen,
            Some(list) if list.is_empty() => {
                return Err(self.invalid("radius", "listen", "give at least one address"));
            }
            Some(list) => list
                .iter()
                .map(|a| parse_listen(a).ok_or_else(|| {
                    self.invalid(
                        "radius",
                        "listen",
                        format!("{a:?} is not an address with a port (\"0.0.0.0:1812\", \"[::]:1812\") or an address (port 1812)"),
                    )
                }))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let first_factor = match r.first_factor.as_deref() {
            None => d.first_factor,
            Some("password") => FirstFactor::Password,
            Some("none") => FirstFactor::None,
            Some(other) => {
                return Err(self.invalid(
                    "radius",
                    "first_factor",
                    format!("{other:?} is not one of \"password\", \"none\""),
                ));
            }
        };
        let mode_err = |s: &str| {
            format!("{s:?} is not one of \"append\", \"challenge\", \"otp-only\", \"auto\"")
        };
        let mode = match r.mode.as_deref() {
            None => d.mode,
            Some(m) => {
                RadiusMode::parse(m).ok_or_else(|| self.invalid("radius", "mode", mode_err(m)))?
            }
        };
        let separator = match r.separator {
            None => None,
            Some(s) if s.is_empty() => None,
            Some(s) if s.len() > 8 || s.chars().any(|c| c.is_ascii_digit() || c.is_control()) => {
                return Err(self.invalid(
                    "radius",
                    "separator",
                    "must be at most 8 characters, without digits or control characters",
                ));
            }
            Some(s) => Some(s),
        };
        let require_message_authenticator = r
            .require_message_authenticator
            .unwrap_or(d.require_message_authenticator);
        if !require_message_authenticator {
            warnings.push(
                "[radius] require_message_authenticator = false: every client may omit \
                 Message-Authenticator, which leaves them open to BlastRADIUS (CVE-2024-3596)"
                    .to_string(),
            );
        }
        let state_lifetime = self.duration(
            "radius",
            "state_lifetime",
            r.state_lifetime,
            d.state_lifetime,
            Duration::from_secs(5),
            Duration::from_secs(600),
        )?;
        let dedup_window = self.duration(
            "radius",
            "dedup_window",
            r.dedup_window,
            d.dedup_window,
            Duration::from_secs(1),
            Duration::from_secs(300),
        )?;

        let mut clients: Vec<RadiusClient> = Vec::new();
        for (i, c) in r.clients.unwrap_or_default().into_iter().enumerate() {
            let client = self.client(i, c, &mut warnings)?;
            if let Some(other) = clients.iter().find(|o| o.name == client.name) {
                return Err(self.invalid_in(
                    "radius.clients",
                    i,
                    "name",
                    format!("{:?} is used by another client", other.name),
                ));
            }
            // Sorted by prefix length, stably: of two clients with one network, the first
            // listed takes every request.
            if let Some(other) = clients.iter().find(|o| o.network == client.network) {
                warnings.push(format!(
                    "client {:?}: address {} is also the address of client {:?}, listed \
                     before it, which takes every request from there: {:?} never matches",
                    client.name, client.network, other.name, client.name
                ));
            }
            clients.push(client);
        }

        let mut reply: Vec<ReplyAttributes> = Vec::new();
        for (i, e) in r.reply.unwrap_or_default().into_iter().enumerate() {
            let user = e
                .user
                .ok_or_else(|| self.invalid_in("radius.reply", i, "user", "is required".into()))?;
            let key = crate::base::names::name_key(&user);
            if reply.iter().any(|o| {
                o.user == user || (user != "*" && crate::base::names::name_key(&o.user) == key)
            }) {
                return Err(self.invalid_in(
                    "radius.reply",
                    i,
                    "user",
                    format!("{user:?} has another entry"),
                ));
            }
            let text = |key: &str, v: Option<String>| match v {
                Some(s) if s.is_empty() || s.len() > 253 => {
                    Err(self.invalid_in("radius.reply", i, key, "must be 1 to 253 bytes".into()))
                }
                other => Ok(other),
            };
            let seconds = |key: &str, v: Option<i64>| match v {
                Some(s) if !(1..=i64::from(u32::MAX)).contains(&s) => Err(self.invalid_in(
                    "radius.reply",
                    i,
                    key,
                    format!("{s} is out of range (allowed 1..={})", u32::MAX),
                )),
                other => Ok(other.and_then(|s| u32::try_from(s).ok())),
            };
            reply.push(ReplyAttributes {
                user,
                class: text("class", e.class)?,
                filter_id: text("filter_id", e.filter_id)?,
                session_timeout: seconds("session_timeout", e.session_timeout)?,
                idle_timeout: seconds("idle_timeout", e.idle_timeout)?,
            });
        }

        let max_challenges = self.int(
            "radius",
            "max_challenges",
            r.max_challenges,
            d.max_challenges,
            1..=1_000_000,
        )?;
        let max_in_flight = self.int(
            "radius",
            "max_in_flight",
            r.max_in_flight,
            d.max_in_flight,
            1..=100_000,
        )?;
        // A share of the whole: by default half of it, so one client cannot take every place.
        let max_in_flight_per_client = self.int(
            "radius",
            "max_in_flight_per_client",
            r.max_in_flight_per_client,
            max_in_flight.div_ceil(2),
            1..=i64::try_from(max_in_flight).unwrap_or(i64::MAX),
        )?;
        // Like the in-flight share: by default half of the table.
        let max_challenges_per_client = self.int(
            "radius",
            "max_challenges_per_client",
            r.max_challenges_per_client,
            max_challenges.div_ceil(2),
            1..=i64::try_from(max_challenges).unwrap_or(i64::MAX),
        )?;
        // With the password checked here, an `otp-only` request must carry it: only OpenVPN's
        // static challenge (`SCRV1:`) does; a bare code is refused as a wrong password.
        if first_factor == FirstFactor::Password {
            for c in clients
                .iter()
                .filter(|c| c.mode.unwrap_or(mode) == RadiusMode::OtpOnly)
            {
                warnings.push(format!(
                    "client {:?}: mode otp-only with first_factor = \"password\" accepts only \
                     OpenVPN static-challenge answers (SCRV1:, which carry the password); a \
                     bare code is refused as a wrong password. For a NAS that checks the \
                     password itself, set first_factor = \"none\"",
                    c.name
                ));
            }
        }
        Ok(RadiusConfig {
            listen,
            first_factor,
            mode,
            separator,
            require_message_authenticator,
            state_lifetime,
            max_challenges,
            max_challenges_per_client,
            max_challenges_per_user: self.int(
                "radius",
                "max_challenges_per_user",
                r.max_challenges_per_user,
                d.max_challenges_per_user,
                1..=100,
            )?,
            allow_unenrolled: r.allow_unenrolled.unwrap_or(d.allow_unenrolled),
            max_in_flight,
            max_in_flight_per_client,
            workers: self.int("radius", "workers", r.workers, d.workers, 0..=256)?,
            dedup_window,
            clients,
            reply,
            warnings,
        })
    }
}

fn parse_listen(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip: IpAddr = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, 1812))
}

/// Line on which `key` is set inside the `index`-th `[[section]]` table (or its header line).
fn locate_in_array(text: &str, section: &str, index: usize, key: &str) -> Option<usize> {
    let mut seen: Option<usize> = None;
    let mut header_line = None;
    let mut inside = false;
    for (n, l) in text.lines().enumerate() {
        let trimmed = l.trim();
        if let Some(h) = header_name(trimmed) {
            inside = false;
            if h == section && trimmed.starts_with("[[") {
                let k = seen.map_or(0, |s| s + 1);
                seen = Some(k);
                if k == index {
                    inside = true;
                    header_line = Some(n + 1);
                }
            }
            continue;
        }
        if inside
            && let Some((k, _)) = trimmed.split_once('=')
            && k.trim().trim_matches('"') == key
        {
            return Some(n + 1);
        }
    }
    header_line
}

#[cfg(test)]
mod tests;
