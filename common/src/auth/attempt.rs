//! Committing what an answer did, in one store transaction with its audit row: consume the code
//! or count the failure, by the rules of [`crate::policy`]. The store only reads and writes; the
//! decisions are made here, once, for every store.

use super::{Authenticator, Login};
use crate::audit::{AuditEvent, AuditResult};
use crate::factor::{Checked, Method, Miss};
use crate::policy::{Counter, Lock, LockState};
use crate::store::{StoreError, Tx};

/// Whom a wrong answer counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counting {
    /// The user's lockout: the first factor is proven, so the guesser knows the password.
    User,
    /// The name's throttle per source and overall: the first factor is not proven, and someone
    /// who knows nothing must not be able to lock the user out.
    Throttle,
}

/// What became of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Committed {
    Accepted {
        method: Method,
        since_login: u32,
    },
    /// A valid code whose step (or code) was already used: refused, not counted.
    Replayed,
    /// Refused and counted; `lock`: the lock this failure led to (or `Lock::Open`).
    Failed {
        miss: Miss,
        lock: Lock,
    },
    /// The user was locked: nothing was checked against the store, consumed or counted.
    Locked(Lock),
    /// The name is throttled for this source or overall, until this time.
    Throttled(u64),
}

/// A name's first-factor counters: from one source, and from anywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Throttle {
    pub(super) per_source: Counter,
    pub(super) per_user: Counter,
}

impl Throttle {
    pub(super) fn until(&self, now: u64) -> Option<u64> {
        throttled(&self.per_source, &self.per_user, now)
    }

    fn is_clear(&self) -> bool {
        *self == Throttle::default()
    }
}

/// The later end of two throttle counters' locks, if either is locked.
fn throttled(a: &Counter, b: &Counter, now: u64) -> Option<u64> {
    let end = |c: &Counter| match c.lock_at(now) {
        Lock::Open => None,
        Lock::Until(t) => Some(t),
        Lock::UntilUnlocked => Some(crate::policy::UNTIL_UNLOCKED),
    };
    match (end(a), end(b)) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(0).max(y.unwrap_or(0))),
    }
}

impl Authenticator {
    /// The throttle source of a login: where its attempts come from.
    pub(super) fn origin(login: &Login) -> String {
        match &login.request.origin {
            Some(o) => format!("{}|{o}", login.request.service),
            None => login.request.service.clone(),
        }
    }

    /// The login's name's throttle counters now, from this source and overall (read before the
    /// first factor is checked, so a throttled attempt costs no Argon2).
    pub(super) fn throttle_state(&self, login: &Login) -> Result<Throttle, StoreError> {
        let source = Self::origin(login);
        let mut out = Throttle::default();
        self.store.write(&mut |tx: &dyn Tx| {
            out.per_source = tx.throttle(&login.key, &source)?;
            out.per_user = tx.throttle(&login.key, "")?;
            Ok(())
        })?;
        Ok(out)
    }

    /// The end of the throttle, if the name is throttled now.
    pub(super) fn throttle_until(&self, login: &Login) -> Result<Option<u64>, StoreError> {
        let t = self.throttle_state(login)?;
        Ok(t.until(self.clock.now()))
    }

    /// Count a first-factor failure (a wrong password, or a wrong answer taken before the
    /// password is proven) against the name, per source and overall, with its audit row.
    /// Returns the throttle it led to, if any.
    pub(super) fn commit_first_factor_failure(
        &self,
        login: &Login,
        event: &AuditEvent,
    ) -> Result<Option<u64>, StoreError> {
        let now = self.clock.now();
        let source = Self::origin(login);
        let rules = self.rules;
        let mut until = None;
        self.store.write(&mut |tx: &dyn Tx| {
            let a = rules
                .per_source
                .after_failure(tx.throttle(&login.key, &source)?, now);
            let b = rules
                .per_user
                .after_failure(tx.throttle(&login.key, "")?, now);
            tx.put_throttle(&login.key, &source, &a)?;
            tx.put_throttle(&login.key, "", &b)?;
            until = throttled(&a, &b, now);
            tx.append_audit(event)
        })?;
        Ok(until)
    }

    /// Forget the name's first-factor failures from this source and overall (the first factor
    /// checked out); `seen`: the counters read before the check (nothing to do when clear).
    pub(super) fn clear_first_factor_failures(
        &self,
        login: &Login,
        seen: &Throttle,
    ) -> Result<(), StoreError> {
        if seen.is_clear() {
            return Ok(());
        }
        let source = Self::origin(login);
        self.store.write(&mut |tx: &dyn Tx| {
            tx.put_throttle(&login.key, &source, &Counter::default())?;
            tx.put_throttle(&login.key, "", &Counter::default())
        })
    }

    /// Commit a checked answer: consume what it matched, or count the failure as `counting`
    /// says, with the audit row `event_for` builds from the result, in one transaction.
    pub(super) fn commit_answer(
        &self,
        login: &Login,
        checked: &Checked,
        counting: Counting,
        event_for: &dyn Fn(&Committed) -> AuditEvent,
    ) -> Result<Committed, StoreError> {
        let now = self.clock.now();
        let rules = self.rules;
        let user_id = login.enrolled_data().map(|d| d.user.id);
        let source = Self::origin(login);
        let mut out = None;
        self.store.write(&mut |tx: &dyn Tx| {
            // Only answers taken before the first factor is proven touch the throttle (the
            // quick, proven path of a RADIUS storm reads nothing it does not need).
            let (per_source, per_user) = match counting {
                Counting::Throttle => (
                    tx.throttle(&login.key, &source)?,
                    tx.throttle(&login.key, "")?,
                ),
                Counting::User => (Counter::default(), Counter::default()),
            };
            let lock = match user_id {
                Some(id) => tx.lock_state(id)?,
                None => LockState::default(),
            };
            let committed = if let (Counting::Throttle, Some(until)) =
                (counting, throttled(&per_source, &per_user, now))
            {
                Committed::Throttled(until)
            } else if lock.lock_at(now).is_locked() {
                Committed::Locked(lock.lock_at(now))
            } else {
                match (checked, user_id) {
                    (Checked::Matches { claim, method }, Some(id)) => {
                        if tx.claim(id, claim, now)? {
                            let next = lock.after_success(&rules);
                            // Most logins change nothing here: no write (the RADIUS storm).
                            if next != lock {
                                tx.put_lock_state(id, &next)?;
                            }
                            if per_source != Counter::default() {
                                tx.put_throttle(&login.key, &source, &Counter::default())?;
                            }
                            if per_user != Counter::default() {
                                tx.put_throttle(&login.key, "", &Counter::default())?;
                            }
                            Committed::Accepted {
                                method: *method,
                                since_login: lock.since_login,
                            }
                        } else {
                            Committed::Replayed
                        }
                    }
                    (Checked::Matches { .. }, None) => Committed::Failed {
                        miss: Miss::Wrong,
                        lock: Lock::Open,
                    },
                    (Checked::Misses { miss, email_tried }, _) => {
                        if *email_tried && let Some(id) = user_id {
                            tx.spend_email_try(id)?;
                        }
                        let lock = match counting {
                            Counting::User => match user_id {
                                Some(id) => {
                                    let next = lock.after_failure(&rules, now);
                                    tx.put_lock_state(id, &next)?;
                                    next.lock_at(now)
                                }
                                None => Lock::Open,
                            },
                            Counting::Throttle => {
                                let a = rules.per_source.after_failure(per_source, now);
                                let b = rules.per_user.after_failure(per_user, now);
                                tx.put_throttle(&login.key, &source, &a)?;
                                tx.put_throttle(&login.key, "", &b)?;
                                match throttled(&a, &b, now) {
                                    Some(t) => Lock::Until(t),
                                    None => Lock::Open,
                                }
                            }
                        };
                        Committed::Failed { miss: *miss, lock }
                    }
                }
            };
            tx.append_audit(&event_for(&committed))?;
            out = Some(committed);
            Ok(())
        })?;
        out.ok_or_else(|| StoreError::BadRow {
            path: std::path::PathBuf::new(),
            what: "attempt not committed".into(),
        })
    }

    /// The audit event of a login's decision.
    pub(super) fn event(
        &self,
        login: &Login,
        result: AuditResult,
        method: Option<&str>,
        detail: Option<String>,
    ) -> AuditEvent {
        login
            .request
            .event(login.audit_name(), self.clock.now(), result, method, detail)
    }
}
