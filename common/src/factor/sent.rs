//! Codes sent to the user (by e-mail or SMS): one outstanding code per user, stored as a keyed
//! hash before it leaves, rate-limited by the send interval and a daily count, withdrawn when
//! its delivery fails. The channel only renders and delivers.

use std::time::Duration;

use super::email::{generate_code, hash_code};
use crate::base::secret::MasterKey;
use crate::error::CoreError;
use crate::mail::MailError;
use crate::sms::SmsError;
use crate::store::{FactorId, NewEmailCode, Reservation, Store, UserId};

/// Why a code did not leave.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Sms(#[from] SmsError),
}

impl SendError {
    /// What went wrong, for the audit table: never an address, a number or a server's text.
    pub fn category(&self) -> String {
        match self {
            SendError::Mail(e) => e.category(),
            SendError::Sms(e) => e.category(),
        }
    }

    /// Given up at a deadline: the message may still arrive.
    fn timed_out(&self) -> bool {
        matches!(
            self,
            SendError::Mail(MailError::Timeout { .. }) | SendError::Sms(SmsError::Timeout { .. })
        )
    }

    /// Which channel failed, for audit details and messages (`mail`, `sms`).
    pub fn channel(&self) -> &'static str {
        match self {
            SendError::Mail(_) => "mail",
            SendError::Sms(_) => "sms",
        }
    }
}

/// What became of a request to send a code.
#[derive(Debug)]
pub enum Delivery {
    /// A fresh code went to this (masked) address or number.
    Sent { masked: String },
    /// The previous code went out less than the interval ago, or the day's codes are all sent;
    /// nothing sent. `still_valid`: the previous code can still be entered.
    TooSoon {
        masked: String,
        retry_after: u64,
        still_valid: bool,
    },
    /// The code could not be delivered; nothing is outstanding. The error names why (never the
    /// code).
    Failed { masked: String, error: SendError },
}

/// A channel's code rules.
#[derive(Debug, Clone, Copy)]
pub struct CodeRules {
    pub length: u8,
    pub lifetime: Duration,
    pub tries: u32,
    pub min_interval: Duration,
    pub max_per_day: u32,
    /// A failed delivery keeps the send interval (SMS: a gateway that delivers and then reports
    /// an error must not be made to text at every attempt). Otherwise only one given up at a
    /// deadline does, and a refused mail may be asked for again at once.
    pub interval_after_failure: bool,
}

impl CodeRules {
    pub fn of_email(c: &crate::config::EmailConfig) -> CodeRules {
        CodeRules {
            length: c.code_length,
            lifetime: c.lifetime,
            tries: c.max_tries,
            min_interval: c.min_interval,
            max_per_day: c.max_per_day,
            interval_after_failure: false,
        }
    }

    pub fn of_sms(c: &crate::config::SmsConfig) -> CodeRules {
        CodeRules {
            length: c.code_length,
            lifetime: c.lifetime,
            tries: c.max_tries,
            min_interval: c.min_interval,
            max_per_day: c.max_per_day,
            interval_after_failure: true,
        }
    }
}

/// Make a code for `factor_id`, store its hash (the limits checked atomically), and hand it to
/// `deliver`. A failed delivery withdraws the code: refused at once, it is forgotten (the user
/// may ask again); given up at a deadline, it is killed but the interval holds (a hung gateway
/// is not sent a new message at every attempt).
#[allow(clippy::too_many_arguments)] // the one shared step of two channels
pub fn send_code(
    store: &dyn Store,
    key: &MasterKey,
    rules: &CodeRules,
    now: u64,
    user_id: UserId,
    factor_id: FactorId,
    masked: String,
    deliver: &dyn Fn(&str) -> Result<(), SendError>,
) -> Result<Delivery, CoreError> {
    let code = generate_code(rules.length)?;
    let hash = hash_code(key.email_code_key(), user_id, code.expose());
    let reservation = store.reserve_email_code(&NewEmailCode {
        user_id,
        factor_id,
        hash: &hash,
        now,
        expires_at: now.saturating_add(rules.lifetime.as_secs()),
        tries: rules.tries,
        min_interval_secs: rules.min_interval.as_secs(),
        max_per_day: rules.max_per_day,
    })?;
    if let Reservation::TooSoon {
        retry_after,
        still_valid,
    } = reservation
    {
        return Ok(Delivery::TooSoon {
            masked,
            retry_after,
            still_valid,
        });
    }
    match deliver(code.expose()) {
        Ok(()) => Ok(Delivery::Sent { masked }),
        Err(error) if error.timed_out() || rules.interval_after_failure => {
            store.withdraw_email_code(user_id, &hash)?;
            Ok(Delivery::Failed { masked, error })
        }
        Err(error) => {
            store.cancel_email_code(user_id, &hash)?;
            Ok(Delivery::Failed { masked, error })
        }
    }
}
