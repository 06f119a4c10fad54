//! One module per factor, each the only place its answers are checked: [`totp`] (authenticator
//! apps), [`email`] (e-mailed codes), [`recovery`] (single-use recovery codes), and [`password`]
//! (the RADIUS first factor). [`ssh_key`] reads OpenSSH security keys, which sshd itself verifies:
//! only which key it accepted is checked here. A login's answer, a code after a password, the CLI's `verify` and a
//! pending factor's confirmation all reach the same check.
//!
//! [`check_answer`] runs an answer past every factor of a user and says what it would consume;
//! the caller commits that (or the failure) in one store transaction.

pub mod email;
pub mod fido2;
pub mod invite;
pub mod password;
pub mod recovery;
pub mod sent;
pub mod sms;
pub mod ssh_key;
pub mod totp;

use crate::base::kdf::Argon2Config;
use crate::base::secret::MasterKey;
use crate::config::Config;
use crate::error::CoreError;
use crate::store::{Claim, Factor, FactorId, FactorKind, FactorStatus, LoginData, Store};

/// A factor that can answer a login today.
pub fn is_usable(f: &Factor) -> bool {
    f.status == FactorStatus::Active
        && match f.kind {
            FactorKind::Totp => f.totp.is_some(),
            FactorKind::Email | FactorKind::Sms => f.address.is_some(),
            FactorKind::Fido2 => f.fido2.is_some(),
        }
}

/// Which factor took the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp {
        factor_id: FactorId,
    },
    Email {
        factor_id: FactorId,
    },
    /// A code texted to the user.
    Sms {
        factor_id: FactorId,
    },
    Recovery {
        remaining: u32,
    },
    /// A security key touched on this machine.
    Fido2 {
        factor_id: FactorId,
    },
    /// An OpenSSH security key sshd had accepted.
    SshKey {
        factor_id: FactorId,
    },
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp { .. } => "totp",
            Method::Email { .. } => "email",
            Method::Sms { .. } => "sms",
            Method::Recovery { .. } => "recovery",
            Method::Fido2 { .. } => "fido2",
            Method::SshKey { .. } => "ssh_key",
        }
    }
}

/// Why an answer did not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// Shaped like a code of one of the user's factors, and wrong.
    Wrong,
    /// Not shaped like any code the user could have.
    Malformed,
}

/// A valid code that can no longer be used: not a guess (nobody guesses a real code), so never
/// counted; the user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// Already used (a recovery code, an e-mailed code; a TOTP step is found used when claimed).
    Used,
    /// The e-mailed code expired.
    Expired,
}

/// What an answer is, before anything is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// It matches: consume `claim`; `method` says which factor.
    Matches { claim: Claim, method: Method },
    /// It does not; `email_tried`: it was checked against a live e-mailed code (one of whose
    /// tries it spends).
    Misses { miss: Miss, email_tried: bool },
    /// It is a real code of the user's that can no longer be used.
    Stale(Stale),
}

/// The code lengths a user's answer may have, preferred factor first; the configured lengths for
/// a user with no usable factor (so unknown users are read like known ones).
pub fn code_lengths(config: &Config, data: Option<&LoginData>) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    if let Some(d) = data {
        for f in d.factors.iter().filter(|f| is_usable(f)) {
            let len = match (f.kind, &f.totp) {
                (FactorKind::Totp, Some(t)) => Some(t.digits),
                (FactorKind::Email, _) => config.email.as_ref().map(|e| e.code_length),
                (FactorKind::Sms, _) => config.sms.as_ref().map(|e| e.code_length),
                _ => None,
            };
            if let Some(len) = len
                && !out.contains(&len)
            {
                out.push(len);
            }
        }
    }
    if out.is_empty() {
        out.push(config.totp.digits);
        if let Some(e) = &config.email
            && e.code_length != config.totp.digits
        {
            out.push(e.code_length);
        }
    }
    out
}

/// Everything a check needs.
pub struct Checker<'a> {
    pub config: &'a Config,
    pub store: &'a dyn Store,
    pub key: &'a MasterKey,
}

impl Checker<'_> {
    fn argon2(&self) -> &Argon2Config {
        &self.config.argon2
    }

    /// Run `answer` past every usable factor of the user (`None`: unknown or unenrolled) at
    /// `now`. TOTP factors first, then the outstanding e-mailed code, then recovery codes. An
    /// answer shaped like a recovery code always costs exactly one Argon2 evaluation, whoever
    /// the user is and whatever they have left.
    ///
    /// `with_email`: check the outstanding e-mailed code too. Not before the first factor is
    /// proven: nothing is mailed there, and a wrong answer must not spend the code the user was
    /// mailed elsewhere.
    pub fn check_answer(
        &self,
        data: Option<&LoginData>,
        answer: &str,
        now: u64,
        with_email: bool,
    ) -> Result<Checked, CoreError> {
        let mut shaped = false;
        let mut email_tried = false;
        if let Some(d) = data {
            for f in d.factors.iter().filter(|f| is_usable(f)) {
                let Some(t) = &f.totp else { continue };
                if !totp::is_shaped(t, answer) {
                    continue;
                }
                shaped = true;
                if let Some(step) = totp::check(
                    self.key,
                    self.config.totp.window,
                    &d.user,
                    f.id,
                    t,
                    answer,
                    now,
                )? {
                    return Ok(Checked::Matches {
                        claim: Claim::TotpStep {
                            factor_id: f.id,
                            step,
                        },
                        method: Method::Totp { factor_id: f.id },
                    });
                }
            }
            // The outstanding code, sent by e-mail or SMS: shaped as one of the user's channels
            // sends them.
            let sent_shaped = |kind: FactorKind| {
                d.factors.iter().any(|f| is_usable(f) && f.kind == kind)
                    && match kind {
                        FactorKind::Email => self
                            .config
                            .email
                            .as_ref()
                            .is_some_and(|c| email::is_shaped(c, answer)),
                        FactorKind::Sms => self
                            .config
                            .sms
                            .as_ref()
                            .is_some_and(|c| sms::is_shaped(c, answer)),
                        FactorKind::Totp | FactorKind::Fido2 => false,
                    }
            };
            if with_email && (sent_shaped(FactorKind::Email) || sent_shaped(FactorKind::Sms)) {
                shaped = true;
                match email::check(self.store, self.key, d.user.id, answer, now)? {
                    email::Checked::Matches { hash, factor_id } => {
                        let kind = d.factors.iter().find(|f| f.id == factor_id).map(|f| f.kind);
                        return Ok(Checked::Matches {
                            claim: Claim::EmailCode { hash },
                            method: match kind {
                                Some(FactorKind::Sms) => Method::Sms { factor_id },
                                _ => Method::Email { factor_id },
                            },
                        });
                    }
                    email::Checked::Wrong => email_tried = true,
                    email::Checked::Expired => return Ok(Checked::Stale(Stale::Expired)),
                    // Used, or dead of wrong tries: either way the user needs a new one.
                    email::Checked::Spent => return Ok(Checked::Stale(Stale::Expired)),
                    email::Checked::Nothing => {}
                }
            }
        }
        if data.is_none() {
            // Read an unknown user's answer as a user with the configured factors would be.
            shaped = code_lengths(self.config, None)
                .iter()
                .any(|&n| crate::base::otp::is_code_shaped(answer, n));
        }
        if let Some(norm) = recovery::normalize(answer) {
            shaped = true;
            let user = data.and_then(|d| d.recovery.as_ref().map(|b| (d.user.id, b)));
            match recovery::check(self.store, self.key, self.argon2(), user, &norm)? {
                Some(recovery::Checked::Unused(m)) => {
                    return Ok(Checked::Matches {
                        claim: Claim::RecoveryCode { code_id: m.code_id },
                        method: Method::Recovery {
                            remaining: m.remaining,
                        },
                    });
                }
                Some(recovery::Checked::Used) => return Ok(Checked::Stale(Stale::Used)),
                None => {}
            }
        }
        let miss = if shaped { Miss::Wrong } else { Miss::Malformed };
        Ok(Checked::Misses { miss, email_tried })
    }
}
