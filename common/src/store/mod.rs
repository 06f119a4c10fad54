//! Persistent state behind traits, one per table, so that another database only has to store.
//!
//! The rules (is this code valid, does this failure lock, for how long) are the core's
//! ([`crate::policy`], [`crate::auth`]); a store keeps rows and runs a decision's reads and writes
//! in one transaction ([`Store::write`] with a [`Tx`]): two processes checking the same code can
//! never both win, and a crash cannot leave a consumed code without its audit row.
//!
//! Users are looked up by their canonical name key ([`crate::base::names::name_key`]), which the
//! store keeps unique.

mod error;
pub mod sqlite;
mod types;

pub use error::StoreError;
pub use sqlite::{SqliteStore, inspect_backup};
pub use types::*;

use crate::audit::AuditEvent;
use crate::base::secret::KeyError;
use crate::policy::{Counter, LockState};

/// Users and their login data.
pub trait UserStore {
    /// Add a user whose canonical name is `key`. [`StoreError::UserExists`] when the name or the
    /// key is taken.
    fn add_user(
        &self,
        name: &str,
        key: &str,
        email: Option<&str>,
        now: u64,
    ) -> Result<UserId, StoreError>;
    /// The user whose canonical name is `key`.
    fn user(&self, key: &str) -> Result<Option<User>, StoreError>;
    fn users(&self) -> Result<Vec<UserSummary>, StoreError>;
    /// Remove a user and everything that belongs to them. `false` if there was no such user.
    fn remove_user(&self, id: UserId) -> Result<bool, StoreError>;
    /// Give a user without a key (shadowed) the canonical key `key`, if nobody holds it.
    fn claim_name_key(&self, id: UserId, key: &str) -> Result<bool, StoreError>;
    fn set_password(&self, id: UserId, phc: Option<&str>) -> Result<(), StoreError>;
    fn set_email(&self, id: UserId, email: Option<&str>) -> Result<(), StoreError>;
    fn set_phone(&self, id: UserId, phone: Option<&str>) -> Result<(), StoreError>;
    /// Everything a login needs about the user whose canonical name is `key`, in one read.
    fn login_data(&self, key: &str) -> Result<Option<LoginData>, StoreError>;
    /// The same for the user with this id (administration).
    fn user_data(&self, id: UserId) -> Result<Option<LoginData>, StoreError>;
}

/// Factors.
pub trait FactorStore {
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
    /// Insert a pending SMS factor for `number`.
    fn add_sms_factor(
        &self,
        user_id: UserId,
        label: &str,
        number: &str,
        now: u64,
    ) -> Result<FactorId, StoreError>;
    /// Insert a pending FIDO2 factor (activated like any other, once checked).
    fn add_fido2_factor(
        &self,
        user_id: UserId,
        label: &str,
        fido2: &Fido2Factor,
        now: u64,
    ) -> Result<FactorId, StoreError>;
    fn factors(&self, user_id: UserId) -> Result<Vec<Factor>, StoreError>;
    /// Activate a pending factor, claiming `step` (the confirming code cannot be used again).
    /// `None` when the step was already used or the factor is not pending.
    fn activate_factor(
        &self,
        user_id: UserId,
        factor_id: FactorId,
        step: Option<u64>,
    ) -> Result<Option<Activation>, StoreError>;
    fn remove_factor(&self, user_id: UserId, factor_id: FactorId) -> Result<bool, StoreError>;
    fn set_preferred(&self, user_id: UserId, factor_id: FactorId) -> Result<bool, StoreError>;
}

/// Recovery codes.
pub trait RecoveryStore {
    /// Replace the user's recovery batch (all previous codes become invalid).
    fn replace_recovery(
        &self,
        user_id: UserId,
        batch: &RecoveryBatch,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError>;
    /// Unused recovery-code hashes with their ids.
    fn recovery_hashes(&self, user_id: UserId) -> Result<Vec<(i64, Vec<u8>)>, StoreError>;
    /// Used recovery-code hashes of the current batch, with their ids.
    fn used_recovery_hashes(&self, user_id: UserId) -> Result<Vec<(i64, Vec<u8>)>, StoreError>;
}

/// E-mailed codes.
pub trait EmailCodeStore {
    /// Store a new e-mailed (or texted) code, replacing the previous one, unless the previous
    /// one was sent less than `min_interval_secs` ago or `max_per_day` codes went to the user in
    /// the day (counted from the first of them, whatever became of each). Atomic: concurrent
    /// logins cannot both send.
    fn reserve_email_code(&self, new: &NewEmailCode<'_>) -> Result<Reservation, StoreError>;
    /// Forget the user's outstanding code if it is this one (its mail could not be sent).
    fn cancel_email_code(&self, user_id: UserId, hash: &[u8]) -> Result<(), StoreError>;
    /// Kill the user's outstanding code if it is this one (its mail was given up at the
    /// deadline, and may still go out late), keeping when it was sent: the send interval
    /// still holds, so a hung server cannot be sent a new message at every attempt.
    fn withdraw_email_code(&self, user_id: UserId, hash: &[u8]) -> Result<(), StoreError>;
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
}

/// Invitations to enroll at login.
pub trait InviteStore {
    /// Give the user this invitation, replacing any previous one.
    fn put_invite(
        &self,
        user_id: UserId,
        hash: &[u8],
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError>;
    /// The user's invitation (pending, used or expired), if any.
    fn invite(&self, user_id: UserId) -> Result<Option<Invite>, StoreError>;
    /// Withdraw the user's invitation. `false` if there was none still pending at `now`.
    fn revoke_invite(&self, user_id: UserId, now: u64) -> Result<bool, StoreError>;
}

/// The audit table.
pub trait AuditStore {
    fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Newest first.
    fn audit(&self, user: Option<&str>, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
    /// Retention, in bounded steps: delete up to `limit` rows from before `before`; then, while
    /// the table holds more than `max_rows`, up to `limit` of the oldest rows of floods
    /// ([`AuditEvent::flood`]); and only while the other rows alone are more than `max_rows`,
    /// up to `limit` of the oldest of those. Call again until nothing is deleted.
    fn prune_audit(
        &self,
        before: u64,
        max_rows: u64,
        limit: u32,
    ) -> Result<AuditPruned, StoreError>;
    /// Claim the audit retention due at `now`: `true` for the one caller (of every process on
    /// this store) that finds the last claim `every_secs` or more ago, or in the future (a clock
    /// stepped back). A read when it is not due.
    fn claim_audit_prune(&self, now: u64, every_secs: u64) -> Result<bool, StoreError>;
}

/// What one [`AuditStore::prune_audit`] step deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditPruned {
    /// Rows in all.
    pub rows: u64,
    /// Rows of accounts (not of floods) younger than `before`, deleted because such rows alone
    /// passed `max_rows`: the history `[audit] keep` promises is cut short (worth a warning).
    pub young: u64,
}

/// The reads and writes of one decision, inside [`Store::write`]'s transaction.
pub trait Tx {
    fn lock_state(&self, user_id: UserId) -> Result<LockState, StoreError>;
    fn put_lock_state(&self, user_id: UserId, state: &LockState) -> Result<(), StoreError>;
    /// First-factor failures of the name whose key is `key` from `source` (`""`: from anywhere).
    fn throttle(&self, key: &str, source: &str) -> Result<Counter, StoreError>;
    /// Store a throttle counter; a cleared one (`Counter::default()`) deletes the row.
    fn put_throttle(&self, key: &str, source: &str, counter: &Counter) -> Result<(), StoreError>;
    /// Forget every throttle counter of the name whose key is `key` (`tessera user unlock`).
    fn clear_throttle(&self, key: &str) -> Result<u64, StoreError>;
    /// Consume a one-time value: `true` when this transaction consumed it, `false` when it was
    /// already used (or, for an e-mailed code, spent, expired or replaced).
    fn claim(&self, user_id: UserId, claim: &Claim, now: u64) -> Result<bool, StoreError>;
    /// One wrong answer against the user's outstanding e-mailed code.
    fn spend_email_try(&self, user_id: UserId) -> Result<(), StoreError>;
    /// Activate a pending factor, claiming `step` as [`FactorStore::activate_factor`] does, in
    /// this transaction. `None` when the step was already used or the factor is not pending.
    fn activate_factor(
        &self,
        user_id: UserId,
        factor_id: FactorId,
        step: Option<u64>,
    ) -> Result<Option<Activation>, StoreError>;
    fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
}

pub trait Store:
    UserStore + FactorStore + RecoveryStore + EmailCodeStore + InviteStore + AuditStore + Send + Sync
{
    /// Run `f` in one write transaction (taken at once, so concurrent writers queue on the busy
    /// timeout). Committed when `f` returns `Ok`, rolled back when it returns `Err`.
    fn write(&self, f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>)
    -> Result<(), StoreError>;

    /// Delete up to `limit` throttle rows that carry nothing any more at `now` (housekeeping):
    /// unlocked, not a good source any more, no check in flight, every failure leaked (one per
    /// `decay_secs`) and every lock forgotten (one per `quiet_secs` after the later of the last
    /// lock's end and the bucket emptying), as [`crate::policy::Rule::settled`] counts.
    fn prune_throttle(
        &self,
        now: u64,
        decay_secs: u64,
        quiet_secs: u64,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// The store's key binding ([`crate::base::secret::MasterKey::binding`]): `binding` is
    /// written when the store has none yet; returns the one now stored, which the caller
    /// compares.
    fn bind_key(&self, binding: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// How many users are stored (`tessera init` never puts a new key beside a store that
    /// holds any).
    fn user_count(&self) -> Result<u64, StoreError>;

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
    /// own, and later calls see earlier ones' writes; nothing is durable, and no decision made
    /// inside may be acted on, until this returns `Ok`. On `Err` nothing of the batch was kept.
    /// The write lock is held throughout: only quick work (no Argon2, no mail) belongs inside.
    /// Calls from other threads are not part of the batch. The default runs `f` unbatched.
    fn batch(&self, f: &mut dyn FnMut()) -> Result<(), StoreError> {
        f();
        Ok(())
    }
}
