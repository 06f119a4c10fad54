//! What the stores keep, as the core sees it.

use std::fmt;

use crate::base::fido2::{CoseAlg, Credential};
use crate::base::otp::TotpAlgorithm;
use crate::base::secret::Secret;
use crate::policy::LockState;

pub type UserId = i64;
pub type FactorId = i64;

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: Option<String>,
    pub password_hash: Option<Secret<String>>,
    pub created_at: u64,
    /// Where SMS codes go (E.164), when the administrator set one.
    pub phone: Option<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let User {
            id,
            name,
            email,
            password_hash,
            created_at,
            phone,
        } = self;
        f.debug_struct("User")
            .field("id", id)
            .field("name", name)
            .field("email", email)
            .field(
                "password_hash",
                &password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("created_at", created_at)
            .field("phone", phone)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    Totp,
    Email,
    Fido2,
    /// Codes sent by SMS (the number in [`Factor::address`]).
    Sms,
}

impl FactorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Email => "email",
            FactorKind::Fido2 => "fido2",
            FactorKind::Sms => "sms",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorStatus {
    Pending,
    Active,
}

impl FactorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorStatus::Pending => "pending",
            FactorStatus::Active => "active",
        }
    }
}

/// TOTP state of a factor. `window` is `None` when the configured window applies.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpState {
    pub algorithm: TotpAlgorithm,
    pub digits: u8,
    pub period: u32,
    pub window: Option<u8>,
    pub sealed_secret: Vec<u8>,
    pub last_step: Option<u64>,
}

impl fmt::Debug for TotpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TotpState {
            algorithm,
            digits,
            period,
            window,
            sealed_secret: _,
            last_step,
        } = self;
        f.debug_struct("TotpState")
            .field("algorithm", algorithm)
            .field("digits", digits)
            .field("period", period)
            .field("window", window)
            .field("last_step", last_step)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    pub id: FactorId,
    pub user_id: UserId,
    pub kind: FactorKind,
    pub label: String,
    pub status: FactorStatus,
    pub preferred: bool,
    pub created_at: u64,
    pub totp: Option<TotpState>,
    /// E-mail factors: the address codes go to; SMS factors: the number (E.164).
    pub address: Option<String>,
    /// FIDO2 factors: the credential.
    pub fido2: Option<Fido2Factor>,
}

/// What a FIDO2 factor is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fido2Factor {
    /// A key asked on this machine (enrolled here, or brought over from pam_u2f).
    Local(Credential),
    /// An OpenSSH security key (`sk-*`): sshd verifies its signatures, and tells PAM which key
    /// it accepted.
    Ssh {
        alg: CoseAlg,
        /// The key's whole SSH wire blob, compared with what sshd accepted.
        blob: Vec<u8>,
        /// The FIDO application the key was made for (`ssh:`).
        application: String,
    },
}

/// The outstanding e-mailed code of a user.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailCode {
    pub factor_id: FactorId,
    pub hash: Vec<u8>,
    pub sent_at: u64,
    pub expires_at: u64,
    pub tries_left: u32,
}

impl fmt::Debug for EmailCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let EmailCode {
            factor_id,
            hash: _,
            sent_at,
            expires_at,
            tries_left,
        } = self;
        f.debug_struct("EmailCode")
            .field("factor_id", factor_id)
            .field("sent_at", sent_at)
            .field("expires_at", expires_at)
            .field("tries_left", tries_left)
            .finish_non_exhaustive()
    }
}

/// A new e-mailed code to store before it is sent.
#[derive(Debug, Clone, Copy)]
pub struct NewEmailCode<'a> {
    pub user_id: UserId,
    pub factor_id: FactorId,
    pub hash: &'a [u8],
    pub now: u64,
    pub expires_at: u64,
    pub tries: u32,
    /// Refuse (rate limit) when the previous code was sent less than this long ago.
    pub min_interval_secs: u64,
    /// Refuse when this many codes (by any channel) went to the user in the last day.
    pub max_per_day: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Stored (replacing any previous code): send it.
    Reserved,
    /// The previous code was sent too recently; nothing stored. Retry after this time.
    /// `still_valid`: that code can still be used.
    TooSoon { retry_after: u64, still_valid: bool },
}

/// Parameters of a new TOTP factor.
#[derive(Debug, Clone)]
pub struct NewTotp {
    pub label: String,
    pub algorithm: TotpAlgorithm,
    pub digits: u8,
    pub period: u32,
    pub window: Option<u8>,
    pub status: FactorStatus,
    /// For an already-active import: steps up to this one count as used.
    pub last_step: Option<u64>,
}

/// Argon2 parameters and salt of a user's recovery-code batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryBatch {
    pub salt: Vec<u8>,
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    pub created_at: u64,
    pub origin: String,
    pub total: u32,
    pub unused: u32,
}

/// Everything a login needs to know about a user, read in one transaction.
#[derive(Debug, Clone)]
pub struct LoginData {
    pub user: User,
    pub lock: LockState,
    pub factors: Vec<Factor>,
    pub recovery: Option<RecoveryBatch>,
}

/// What a successful check wants to consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Accept only if `step` is newer than the factor's last accepted step.
    TotpStep { factor_id: FactorId, step: u64 },
    /// Accept only if the code is still unused.
    RecoveryCode { code_id: i64 },
    /// Accept only if the user's outstanding e-mailed code has this hash, has tries left and has
    /// not expired; it is then spent (single use).
    EmailCode { hash: [u8; 32] },
    /// Accept only if the FIDO2 factor is active and `count` is newer than its stored counter
    /// (or both are 0: a key that keeps no counter); the counter is then stored.
    Fido2Count { factor_id: FactorId, count: u32 },
    /// Accept only if the SSH security-key factor is still active.
    SshKey { factor_id: FactorId },
    /// Accept only if the user's outstanding e-mailed code has this hash, has tries left, has
    /// not expired and was sent for this *pending* factor (enrollment at login); the row is then
    /// deleted, so the send interval does not hold against the user's next login.
    PendingEmailCode { factor_id: FactorId, hash: [u8; 32] },
    /// Accept only if the user's invitation has this hash, is unused and has not expired; it is
    /// then marked used.
    Invite { hash: [u8; 32] },
}

/// A user's invitation to enroll at login (`tessera user invite`).
#[derive(Clone, PartialEq, Eq)]
pub struct Invite {
    pub hash: Vec<u8>,
    pub created_at: u64,
    pub expires_at: u64,
    pub used_at: Option<u64>,
}

impl Invite {
    /// Not used and not expired at `now`.
    pub fn is_pending(&self, now: u64) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

impl fmt::Debug for Invite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Invite {
            hash: _,
            created_at,
            expires_at,
            used_at,
        } = self;
        f.debug_struct("Invite")
            .field("created_at", created_at)
            .field("expires_at", expires_at)
            .field("used_at", used_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub user: User,
    /// Another user has the same canonical name (two spellings stored before names were
    /// canonical): logins of that name reach the other user, never this one.
    pub shadowed: bool,
    pub active_factors: u32,
    pub pending_factors: u32,
    pub lock: LockState,
    pub recovery_unused: Option<u32>,
}

/// Outcome of confirming a pending factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activation {
    /// This was the user's first active factor.
    pub first_active: bool,
    /// The user already had a recovery batch.
    pub has_recovery: bool,
}
