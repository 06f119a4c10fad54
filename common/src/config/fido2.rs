//! The `[fido2]` section: the relying party id new credentials are made for, and how much a key
//! must prove.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::validate::{RawDuration, Validator};
use crate::factor::fido2::UserVerification;

/// `[fido2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fido2Config {
    /// The relying party id for new credentials (default `pam://<hostname>`). Each credential
    /// keeps the one it was made for: changing this does not break keys already enrolled.
    pub rp_id: String,
    /// User verification (PIN or fingerprint) for new credentials; `required` here is also the
    /// policy for every login, whatever a credential says.
    pub user_verification: UserVerification,
    /// How long a login waits for a touch (the PAM module's `fido_timeout=` overrides it).
    pub timeout: Duration,
}

impl Fido2Config {
    /// The policy requires user verification on every assertion.
    pub fn requires_uv(&self) -> bool {
        self.user_verification == UserVerification::Required
    }
}

/// `pam://` and the host's name, as pam_u2f names its default origin.
pub fn default_rp_id() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("pam://{host}")
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFido2 {
    rp_id: Option<String>,
    user_verification: Option<String>,
    timeout: Option<RawDuration>,
}

impl Validator<'_> {
    pub(super) fn fido2(&self, f: RawFido2) -> Result<Fido2Config, ConfigError> {
        let rp_id = match f.rp_id {
            None => default_rp_id(),
            Some(r)
                if !r.is_empty()
                    && r.len() <= 255
                    && !r.chars().any(|c| c.is_control() || c.is_whitespace()) =>
            {
                r
            }
            Some(_) => {
                return Err(self.invalid(
                    "fido2",
                    "rp_id",
                    "must be non-empty text without spaces or control characters (e.g. \"pam://host\")",
                ));
            }
        };
        let user_verification = match f.user_verification.as_deref() {
            None => UserVerification::Preferred,
            Some(s) => UserVerification::parse(s).ok_or_else(|| {
                self.invalid(
                    "fido2",
                    "user_verification",
                    "must be \"required\", \"preferred\" or \"discouraged\"",
                )
            })?,
        };
        Ok(Fido2Config {
            rp_id,
            user_verification,
            timeout: self.duration(
                "fido2",
                "timeout",
                f.timeout,
                Duration::from_secs(30),
                Duration::from_secs(1),
                Duration::from_secs(300),
            )?,
        })
    }
}
