//! Committing what an answer did, in one store transaction with its audit row: consume the code
//! or count the failure, by the rules of [`crate::policy`]. The store only reads and writes; the
//! decisions are made here, once, for every store.
//!
//! Two kinds of counting:
//!
//! - a wrong code where the first factor is proven counts against the user (the lockout);
//! - a wrong password, or a wrong answer taken before the password is proven, throttles the name
//!   from that source, and the name from every source it has not logged in from (see
//!   [`Throttle`]). Someone who knows nothing can so keep out only sources that never logged in
//!   as that name.

use super::{Authenticator, Login};
use crate::audit::{AuditEvent, AuditResult};
use crate::factor::{Checked, Method, Miss, Stale};
use crate::policy::{Counter, Lock, LockState, Rule, UNTIL_UNLOCKED};
use crate::store::{StoreError, Tx};

/// A source the name logged in from stays exempt from the name's overall throttle this long.
pub(super) const GOOD_SOURCE_SECS: u64 = 30 * 24 * 3600;

/// Whom a wrong answer counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counting {
    /// The user's lockout: the first factor is proven, so the guesser knows the password.
    User,
    /// The name's throttle: the first factor is not proven, and someone who knows nothing must
    /// not be able to lock the user out.
    Throttle,
}

/// What became of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Committed {
    Accepted {
        method: Method,
        since_login: u32,
    },
    /// A valid code that was already used, or a mailed code that expired: refused, not counted,
    /// told.
    Stale(Stale),
    /// Refused and counted; `lock`: the lock this failure led to (or `Lock::Open`).
    Failed {
        miss: Miss,
        lock: Lock,
    },
    /// The user was locked: nothing was consumed; before the first factor it was counted like
    /// any miss.
    Locked(Lock),
    /// The name is throttled for this source, until this time.
    Throttled(u64),
}

/// Which overall counter of the name a login's first-factor failures go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameRow {
    /// Wrong RADIUS passwords.
    Password,
    /// Wrong answers taken before the password was proven (PAM `forward_pass` and friends).
    Unproven,
}

impl NameRow {
    fn source(self) -> &'static str {
        match self {
            NameRow::Password => "",
            NameRow::Unproven => "*",
        }
    }
}

/// A name's first-factor counters: from one source, and from every source it has not logged
/// in from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Throttle {
    pub(super) per_source: Counter,
    pub(super) per_name: Counter,
    /// The source is identified (an address), so it may earn a good standing.
    pub(super) identified: bool,
}

impl Throttle {
    /// The end of the throttle that applies to this source now, if any: its own, and the
    /// name's unless the name logged in from here recently.
    pub(super) fn until(&self, now: u64) -> Option<u64> {
        let end = |c: &Counter| match c.lock_at(now) {
            Lock::Open => None,
            Lock::Until(t) => Some(t),
            Lock::UntilUnlocked => Some(UNTIL_UNLOCKED),
        };
        let exempt = self.identified && self.per_source.is_good_at(now);
        let name = if exempt { None } else { end(&self.per_name) };
        match (end(&self.per_source), name) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0))),
        }
    }

    /// After one more failure.
    fn failed(&self, source: &Rule, name: &Rule, now: u64) -> Throttle {
        let exempt = self.identified && self.per_source.is_good_at(now);
        Throttle {
            per_source: source.after_failure(self.per_source, now),
            // A source the name logged in from does not feed the name's throttle either: the
            // user's own slips never keep the user out elsewhere.
            per_name: if exempt {
                self.per_name
            } else {
                name.after_failure(self.per_name, now)
            },
            identified: self.identified,
        }
    }

    /// After the name's first factor (or whole login) succeeded from this source.
    fn succeeded(&self, source: &Rule, name: &Rule, now: u64) -> Throttle {
        let mut per_source = source.after_success(self.per_source);
        if self.identified {
            per_source.good_until = Some(now.saturating_add(GOOD_SOURCE_SECS));
        }
        Throttle {
            per_source,
            per_name: name.after_success(self.per_name),
            identified: self.identified,
        }
    }
}

impl Authenticator {
    /// The throttle source of a login: where its attempts come from.
    fn origin(login: &Login) -> String {
        match &login.request.origin {
            Some(o) => format!("{}|{o}", login.request.service),
            None => login.request.service.clone(),
        }
    }

    fn name_rule(&self, row: NameRow) -> Rule {
        match row {
            NameRow::Password => self.rules.per_name,
            NameRow::Unproven => self.rules.per_name_unproven,
        }
    }

    fn read_throttle(
        &self,
        tx: &dyn Tx,
        login: &Login,
        row: NameRow,
    ) -> Result<Throttle, StoreError> {
        Ok(Throttle {
            per_source: tx.throttle(&login.key, &Self::origin(login))?,
            per_name: tx.throttle(&login.key, row.source())?,
            identified: login.request.origin.is_some(),
        })
    }

    fn write_throttle(
        &self,
        tx: &dyn Tx,
        login: &Login,
        row: NameRow,
        before: &Throttle,
        after: &Throttle,
    ) -> Result<(), StoreError> {
        if after.per_source != before.per_source {
            tx.put_throttle(&login.key, &Self::origin(login), &after.per_source)?;
        }
        if after.per_name != before.per_name {
            tx.put_throttle(&login.key, row.source(), &after.per_name)?;
        }
        Ok(())
    }

    /// The login's name's throttle now (read before an answer is checked, so a throttled
    /// attempt costs no Argon2).
    pub(super) fn throttle_state(
        &self,
        login: &Login,
        row: NameRow,
    ) -> Result<Throttle, StoreError> {
        let mut out = Throttle::default();
        self.store.write(&mut |tx: &dyn Tx| {
            out = self.read_throttle(tx, login, row)?;
            Ok(())
        })?;
        Ok(out)
    }

    /// Before a password is checked: refuse when throttled, else count the check as a failure
    /// at once, in the same transaction, so that requests checked in parallel cannot get past
    /// the limit. `Ok(Err(until))`: throttled. `Ok(Ok(pending))`: checked, to settle with
    /// [`Authenticator::settle_first_factor`].
    pub(super) fn begin_first_factor(
        &self,
        login: &Login,
    ) -> Result<Result<Pending, u64>, StoreError> {
        let now = self.clock.now();
        let (source, name) = (self.rules.per_source, self.rules.per_name);
        let mut out = Err(0);
        self.store.write(&mut |tx: &dyn Tx| {
            let before = self.read_throttle(tx, login, NameRow::Password)?;
            if let Some(until) = before.until(now) {
                out = Err(until);
                return Ok(());
            }
            let after = before.failed(&source, &name, now);
            self.write_throttle(tx, login, NameRow::Password, &before, &after)?;
            out = Ok(Pending { before, after });
            Ok(())
        })?;
        Ok(out)
    }

    /// The password checked out: take back the failure [`Authenticator::begin_first_factor`]
    /// counted, and mark the source as one the name logs in from. A wrong password leaves the
    /// failure counted and needs nothing more.
    pub(super) fn settle_first_factor(&self, login: &Login, p: &Pending) -> Result<(), StoreError> {
        let now = self.clock.now();
        let (source, name) = (self.rules.per_source, self.rules.per_name);
        self.store.write(&mut |tx: &dyn Tx| {
            let current = self.read_throttle(tx, login, NameRow::Password)?;
            let undone = Throttle {
                per_source: undo(current.per_source, p.before.per_source, p.after.per_source),
                per_name: undo(current.per_name, p.before.per_name, p.after.per_name),
                identified: current.identified,
            };
            let next = undone.succeeded(&source, &name, now);
            self.write_throttle(tx, login, NameRow::Password, &current, &next)
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
        let (source_rule, name_rule) = (rules.per_source, self.name_rule(NameRow::Unproven));
        let mut out = None;
        self.store.write(&mut |tx: &dyn Tx| {
            // Only answers taken before the first factor is proven touch the throttle (the
            // quick, proven path of a RADIUS storm reads nothing it does not need).
            let throttle = match counting {
                Counting::Throttle => Some(self.read_throttle(tx, login, NameRow::Unproven)?),
                Counting::User => None,
            };
            let lock = match user_id {
                Some(id) => tx.lock_state(id)?,
                None => LockState::default(),
            };
            let committed = if let Some(until) = throttle.and_then(|t| t.until(now)) {
                Committed::Throttled(until)
            } else if lock.lock_at(now).is_locked() {
                if let Some(t) = &throttle {
                    // Before the first factor a lock must not show: counted like a miss.
                    self.write_throttle(
                        tx,
                        login,
                        NameRow::Unproven,
                        t,
                        &t.failed(&source_rule, &name_rule, now),
                    )?;
                }
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
                            if let Some(t) = &throttle {
                                let done = t.succeeded(&source_rule, &name_rule, now);
                                self.write_throttle(tx, login, NameRow::Unproven, t, &done)?;
                            }
                            Committed::Accepted {
                                method: *method,
                                since_login: lock.since_login,
                            }
                        } else {
                            Committed::Stale(Stale::Used)
                        }
                    }
                    (Checked::Matches { .. }, None) => Committed::Failed {
                        miss: Miss::Wrong,
                        lock: Lock::Open,
                    },
                    // A valid code, late or used: not a guess.
                    (Checked::Stale(stale), _) => Committed::Stale(*stale),
                    (Checked::Misses { miss, email_tried }, _) => {
                        let lock = match (&throttle, user_id) {
                            (Some(t), _) => {
                                let next = t.failed(&source_rule, &name_rule, now);
                                self.write_throttle(tx, login, NameRow::Unproven, t, &next)?;
                                match next.until(now) {
                                    Some(t) => Lock::Until(t),
                                    None => Lock::Open,
                                }
                            }
                            (None, Some(id)) => {
                                if *email_tried {
                                    tx.spend_email_try(id)?;
                                }
                                let next = lock.after_failure(&rules, now);
                                tx.put_lock_state(id, &next)?;
                                next.lock_at(now)
                            }
                            (None, None) => Lock::Open,
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

/// A first-factor check counted in advance.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    before: Throttle,
    after: Throttle,
}

/// Take back one failure counted in advance: exactly, when nothing else changed the counter
/// since; otherwise one failure less, and the lock it made (if it made one) lifted.
fn undo(current: Counter, before: Counter, after: Counter) -> Counter {
    if current == after {
        return before;
    }
    let mut c = current;
    c.failures = c.failures.saturating_sub(1);
    if after.locks > before.locks && c.locks == after.locks && c.locked_until == after.locked_until
    {
        c.locks = before.locks;
        c.locked_until = before.locked_until;
    }
    c
}
