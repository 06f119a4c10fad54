//! Why a login was refused, what the user is told, and which refusals may be asked again.

use super::Login;
use super::email::{MAIL_FAILED, SMS_FAILED};
use super::enroll;
use crate::factor::{Miss, Stale};
use crate::policy::Lock;

/// Why a login was refused. Front-ends log the variant and show [`Reject::user_message`]; only
/// a lock, a throttle, a code used or expired (which only its holder can present) and a failed
/// mail say more than "Verification failed."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The name is not a valid user name.
    InvalidUser,
    UnknownUser,
    NotEnrolled,
    /// Enrollment is required (`[policy] enroll_at_login`) and this user has no way to enroll
    /// here (no invitation, no address, or a channel that cannot show a QR code). Only said
    /// once the first factor is proven.
    NotSetUp,
    /// The first-factor password is wrong.
    BadPassword,
    BadCode,
    /// Not a code of any accepted shape.
    Malformed,
    /// A valid code that was already used (here or elsewhere): not counted as a guess.
    Replayed,
    /// The e-mailed code expired.
    Expired,
    /// A code could not be e-mailed and the user has no other way in.
    MailFailed,
    /// A code could not be texted and the user has no other way in.
    SmsFailed,
    /// Locked until this time (`None`: until an administrator unlocks).
    LockedOut {
        until: Option<u64>,
    },
    /// Too many first-factor failures for this name from this source (or from anywhere).
    Throttled {
        until: u64,
    },
}

impl Reject {
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::InvalidUser => "invalid_user",
            Reject::UnknownUser => "unknown_user",
            Reject::NotEnrolled => "not_enrolled",
            Reject::NotSetUp => "not_set_up",
            Reject::BadPassword => "bad_password",
            Reject::BadCode => "bad_code",
            Reject::Malformed => "malformed_code",
            Reject::Replayed => "replayed",
            Reject::Expired => "expired",
            Reject::MailFailed => "mail_failed",
            Reject::SmsFailed => "sms_failed",
            Reject::LockedOut { .. } => "locked_out",
            Reject::Throttled { .. } => "throttled",
        }
    }

    /// Whether the user must be told this refusal even where messages are otherwise suppressed
    /// (PAM_SILENT): it explains why a right code fails, or what to do.
    pub fn must_tell(self) -> bool {
        match self {
            Reject::LockedOut { .. }
            | Reject::Throttled { .. }
            | Reject::Replayed
            | Reject::Expired
            | Reject::NotSetUp
            | Reject::SmsFailed
            | Reject::MailFailed => true,
            Reject::InvalidUser
            | Reject::UnknownUser
            | Reject::NotEnrolled
            | Reject::BadPassword
            | Reject::BadCode
            | Reject::Malformed => false,
        }
    }

    /// The message for the person logging in.
    pub fn user_message(self, now: u64) -> String {
        let minutes = |until: u64| {
            let m = until.saturating_sub(now).div_ceil(60).max(1);
            format!("{m} minute{}", if m == 1 { "" } else { "s" })
        };
        match self {
            Reject::LockedOut { until: Some(until) } => format!(
                "Too many failed attempts: the account is locked for {}.",
                minutes(until)
            ),
            Reject::LockedOut { until: None } => {
                "The account is locked; ask an administrator to unlock it.".to_string()
            }
            Reject::Throttled { until } => format!(
                "Too many failed attempts from here: try again in {}.",
                minutes(until)
            ),
            Reject::Replayed => "That code was already used; wait for the next one.".to_string(),
            // Only someone who has the code gets this (a real code, late or spent).
            Reject::Expired => "That code has expired; ask for a new one.".to_string(),
            Reject::MailFailed => MAIL_FAILED.to_string(),
            Reject::SmsFailed => SMS_FAILED.to_string(),
            Reject::NotSetUp => enroll::NOT_SET_UP.to_string(),
            Reject::InvalidUser
            | Reject::UnknownUser
            | Reject::NotEnrolled
            | Reject::BadPassword
            | Reject::BadCode
            | Reject::Malformed => "Verification failed.".to_string(),
        }
    }
}

/// The refusal a miss stands for: for an unknown or unenrolled user their state (audited; they
/// are shown the same as anyone), else what was wrong with the answer.
pub(super) fn miss_reject(miss: Miss, login: &Login) -> Reject {
    match (&login.data, login.enrolled, miss) {
        (None, _, _) => Reject::UnknownUser,
        (Some(_), false, _) => Reject::NotEnrolled,
        (Some(_), true, Miss::Wrong) => Reject::BadCode,
        (Some(_), true, Miss::Malformed) => Reject::Malformed,
    }
}

/// What the user is told before being asked again after `miss` (the same for every user whose
/// answer had that shape).
pub(super) fn miss_shown(miss: Miss) -> Reject {
    match miss {
        Miss::Wrong => Reject::BadCode,
        Miss::Malformed => Reject::Malformed,
    }
}

pub(super) fn stale_reject(stale: Stale) -> Reject {
    match stale {
        Stale::Used => Reject::Replayed,
        Stale::Expired => Reject::Expired,
    }
}

pub(super) fn retryable(r: Reject) -> bool {
    match r {
        Reject::BadCode
        | Reject::Malformed
        | Reject::Replayed
        | Reject::Expired
        | Reject::UnknownUser
        | Reject::NotEnrolled => true,
        Reject::InvalidUser
        | Reject::NotSetUp
        | Reject::BadPassword
        | Reject::SmsFailed
        | Reject::MailFailed
        | Reject::LockedOut { .. }
        | Reject::Throttled { .. } => false,
    }
}

pub(super) fn lock_reject(lock: Lock) -> Option<Reject> {
    match lock {
        Lock::Open => None,
        Lock::Until(t) => Some(Reject::LockedOut { until: Some(t) }),
        Lock::UntilUnlocked => Some(Reject::LockedOut { until: None }),
    }
}
