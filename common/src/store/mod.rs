//! Persistent state behind one trait, so that a networked database can be added later.
//!
//! Every state change that decides an authentication (claiming a TOTP step, consuming a recovery
//! code, counting a failure, locking) happens in one atomic call, [`Store::commit_attempt`], with
//! its audit row in the same transaction: two processes checking the same code can never both
//! win, and a crash cannot leave a consumed code without its audit line.

use std::fmt;
use std::path::PathBuf;

use crate::audit::AuditEvent;
use crate::base::otp::TotpAlgorithm;
use crate::base::secret::KeyError;
use crate::base::secret::Secret;

pub mod sqlite;

pub use sqlite::SqliteStore;

pub type UserId = i64;
pub type FactorId = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path} does not exist (run `tessera init`)")]
    Missing { path: PathBuf },
    #[error(
        "database {path} is empty or holds no Tessera schema (run `tessera init` for a new store; if it held users, restore it from a backup)"
    )]
    Uninitialised { path: PathBuf },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create database {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {path} stayed locked by another writer longer than the busy timeout")]
    Busy { path: PathBuf },
    #[error("database {path} is read-only (check the file system and the file's permissions)")]
    ReadOnly { path: PathBuf },
    #[error("database {path}: the disk is full")]
    DiskFull { path: PathBuf },
    #[error("database {path}: disk I/O error (a failing disk or file system?): {source}")]
    Io {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database {path} is corrupt or not a Tessera database: {source}")]
    Corrupt {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database {path} has schema version {found}, newer than this Tessera ({supported})")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database {path}: an earlier failure aborted this group of decisions; nothing of it was kept"
    )]
    Aborted { path: PathBuf },
    #[error("database {path}: invalid stored value in {what}")]
    BadRow { path: PathBuf, what: String },
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error(transparent)]
    Seal(#[from] KeyError),
}

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: Option<String>,
    pub password_hash: Option<Secret<String>>,
    pub created_at: u64,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let User {
            id,
            name,
            email,
            password_hash,
            created_at,
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
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    Totp,
    Email,
    Fido2,
}

impl FactorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Email => "email",
            FactorKind::Fido2 => "fido2",
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
    /// E-mail factors: the address codes go to.
    pub address: Option<String>,
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockState {
    pub failures: u32,
    pub locked_until: Option<u64>,
    pub admin_locked: bool,
}

impl LockState {
    /// Locked at `now`? Returns the end of the lock (`None` inside means: until unlocked).
    pub fn locked_at(&self, now: u64) -> Option<Option<u64>> {
        if self.admin_locked {
            return Some(None);
        }
        match self.locked_until {
            Some(until) if until > now => Some(Some(until)),
            _ => None,
        }
    }
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPolicy {
    pub max_failures: u32,
    pub lockout_secs: u64,
}

/// One verification attempt to record atomically.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub user_id: UserId,
    pub now: u64,
    /// `Some` when the answer checked out and a one-time value must be consumed; `None` for a
    /// failed answer.
    pub claim: Option<Claim>,
    pub policy: LockPolicy,
    /// A failed answer was checked against an outstanding e-mailed code: spend one of its tries.
    pub email_tried: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Accepted,
    /// The step or code had already been used; counted as a failure.
    Replayed {
        failures: u32,
        locked_until: Option<u64>,
    },
    Failed {
        failures: u32,
        locked_until: Option<u64>,
    },
    /// The user was locked when the transaction began; nothing was consumed or counted.
    Locked {
        until: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub user: User,
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

pub trait Store: Send + Sync {
    fn add_user(&self, name: &str, email: Option<&str>, now: u64) -> Result<UserId, StoreError>;
    fn user(&self, name: &str) -> Result<Option<User>, StoreError>;
    fn users(&self) -> Result<Vec<UserSummary>, StoreError>;
    /// Remove a user and everything that belongs to them. `false` if there was no such user.
    fn remove_user(&self, id: UserId) -> Result<bool, StoreError>;
    fn set_password(&self, id: UserId, phc: Option<&str>) -> Result<(), StoreError>;
    fn set_email(&self, id: UserId, email: Option<&str>) -> Result<(), StoreError>;

    /// Everything a login needs, in one read. `None` for an unknown user.
    fn login_data(&self, name: &str) -> Result<Option<LoginData>, StoreError>;

    /// Insert a TOTP factor; `seal` encrypts the secret bound to the new factor's id. The row
    /// appears only with its sealed secret (one transaction).
    fn add_totp_factor(
        &self,
        user_id: UserId,
        new: &NewTotp,
        now: u64,
        seal: &dyn Fn(FactorId) -> Result<Vec<u8>, KeyError>,
    ) -> Result<FactorId, StoreError>;
    /// Insert a pending e-mail factor.
    fn add_email_factor(
        &self,
        user_id: UserId,
        label: &str,
        address: &str,
        now: u64,
    ) -> Result<FactorId, StoreError>;
    fn factors(&self, user_id: UserId) -> Result<Vec<Factor>, StoreError>;
    /// Activate a pending factor, claiming `step` (the confirming code cannot be used again).
    /// `None` when the step was already used.
    fn activate_factor(
        &self,
        user_id: UserId,
        factor_id: FactorId,
        step: Option<u64>,
    ) -> Result<Option<Activation>, StoreError>;
    fn remove_factor(&self, user_id: UserId, factor_id: FactorId) -> Result<bool, StoreError>;
    fn set_preferred(&self, user_id: UserId, factor_id: FactorId) -> Result<bool, StoreError>;

    /// Replace the user's recovery batch (all previous codes become invalid).
    fn replace_recovery(
        &self,
        user_id: UserId,
        batch: &RecoveryBatch,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError>;
    /// Unused recovery-code hashes with their ids.
    fn recovery_hashes(&self, user_id: UserId) -> Result<Vec<(i64, Vec<u8>)>, StoreError>;

    /// Record one verification attempt atomically (see the module docs); `audit` builds the audit
    /// row from the outcome and is written in the same transaction.
    fn commit_attempt(
        &self,
        attempt: &Attempt,
        audit: &dyn Fn(&AttemptOutcome) -> AuditEvent,
    ) -> Result<AttemptOutcome, StoreError>;

    /// Store a new e-mailed code (replacing the previous one) unless the previous one was sent
    /// less than `min_interval_secs` ago. Atomic: concurrent logins cannot both send.
    fn reserve_email_code(&self, new: &NewEmailCode<'_>) -> Result<Reservation, StoreError>;
    /// Forget the user's outstanding code if it is this one (its mail could not be sent).
    fn cancel_email_code(&self, user_id: UserId, hash: &[u8]) -> Result<(), StoreError>;
    fn email_code(&self, user_id: UserId) -> Result<Option<EmailCode>, StoreError>;
    /// Consume the outstanding code when it matches `hash` for `factor_id` (enrollment
    /// confirmation); otherwise spend one of its tries. `true` when consumed.
    fn confirm_email_code(
        &self,
        user_id: UserId,
        factor_id: FactorId,
        hash: &[u8],
        now: u64,
    ) -> Result<bool, StoreError>;

    fn lock_state(&self, user_id: UserId) -> Result<LockState, StoreError>;
    /// Administrative lock (until unlocked) or unlock (clears failures too).
    fn set_admin_lock(&self, user_id: UserId, locked: bool) -> Result<(), StoreError>;

    /// A long-running process takes over housekeeping (for SQLite: WAL checkpoints, which
    /// otherwise run inside a commit, fsync included, and stall the request that triggered
    /// them). It must then call [`Store::maintain`] periodically (about once a second).
    fn defer_maintenance(&self) {}
    /// Periodic housekeeping (see [`Store::defer_maintenance`]).
    fn maintain(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Group commit: run `f`, and every call it makes on this store from this thread, in one
    /// write transaction, committed when `f` returns. Each store method inside is atomic on its
    /// own (a savepoint), and later calls see earlier ones' writes; nothing is durable, and no
    /// decision made inside may be acted on, until this returns `Ok`. On `Err` nothing of the
    /// batch was kept. The write lock is held throughout: only quick work (no Argon2, no mail)
    /// belongs inside. Calls from other threads are not part of the batch. The default runs `f`
    /// unbatched.
    fn batch(&self, f: &mut dyn FnMut()) -> Result<(), StoreError> {
        f();
        Ok(())
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Newest first.
    fn audit(&self, user: Option<&str>, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
}
