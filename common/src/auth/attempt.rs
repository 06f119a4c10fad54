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
use crate::base::origin::origin_key;
use crate::factor::{Checked, Method, Miss, Stale};
use crate::policy::{Counter, Lock, LockState, PENDING_SECS, Rule, UNTIL_UNLOCKED};
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

/// What a login's source is, for the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// An address (PAM_RHOST, Calling-Station-Id), in its one spelling.
    Address,
    /// No address, asked by the account itself (its own `sudo`, `su` to itself): only it (or
    /// root) can ask from here.
    Own(u32),
    /// No address, asked by a process running as another account than root (`su alice`):
    /// the source is that account's, whatever the service, so it can earn good standing.
    Account(u32),
    /// No address and no account: the console's `login`, a daemon, a RADIUS client without
    /// Calling-Station-Id. Everyone there shares the source, so it never earns standing.
    Shared,
}

impl NameRow {
    /// The row's source key. Each kind of place has a name row of its own: what comes from the
    /// network never keeps local logins out, another account's `su alice` never keeps alice's
    /// console or her own `sudo` out, and every local service (`su`, `login`, `sudo`, ...)
    /// counts in the one row of its kind instead of each in its own.
    fn source(self, place: Place) -> &'static str {
        match (self, place) {
            (NameRow::Password, Place::Address) => "",
            (NameRow::Password, Place::Own(_)) => "~=",
            (NameRow::Password, Place::Account(_)) => "~",
            (NameRow::Password, Place::Shared) => "~0",
            (NameRow::Unproven, Place::Address) => "*",
            (NameRow::Unproven, Place::Own(_)) => "*~=",
            (NameRow::Unproven, Place::Account(_)) => "*~",
            (NameRow::Unproven, Place::Shared) => "*~0",
        }
    }
}

/// Where a login's first-factor failures are counted from: worked out once, when it begins.
#[derive(Debug, Clone)]
pub(super) struct Source {
    /// The per-source row's key: the front-end, the service or client, and the address in its
    /// one spelling ([`origin_key`]), or the calling account alone (the service says nothing
    /// about where a local caller is: one account, one budget), unambiguously
    /// (`radius:3:vpn:203.0.113.9`, `pam:!1000` for account 1000, `pam:5:login:` for neither).
    key: String,
    place: Place,
}

impl Source {
    pub(super) fn of(r: &super::LoginRequest) -> Source {
        let addr = r.origin.as_deref().and_then(origin_key);
        let place = match (&addr, r.caller) {
            (Some(_), _) => Place::Address,
            (None, Some(uid)) if uid != 0 && r.user_uid == Some(uid) => Place::Own(uid),
            (None, Some(uid)) if uid != 0 => Place::Account(uid),
            (None, _) => Place::Shared,
        };
        let tag = match r.channel {
            super::Channel::Terminal => "pam",
            super::Channel::Radius => "radius",
        };
        let (service, len) = (&r.service, r.service.len());
        let key = match (addr, place) {
            (Some(addr), _) => format!("{tag}:{len}:{service}:{addr}"),
            (None, Place::Own(uid) | Place::Account(uid)) => format!("{tag}:!{uid}"),
            (None, Place::Address | Place::Shared) => format!("{tag}:{len}:{service}:"),
        };
        Source { key, place }
    }
}

/// A name's first-factor counters: from one source, and from every source of its kind (see
/// [`Place`]) that it has not logged in from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Throttle {
    pub(super) per_source: Counter,
    pub(super) per_name: Counter,
    /// The source never earns good standing ([`Place::Shared`]).
    pub(super) shared: bool,
}

/// A password check counted as in flight: in which counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InFlight {
    name: bool,
}

/// The rules a throttle is counted by.
#[derive(Debug, Clone, Copy)]
struct ThrottleRules {
    source: Rule,
    name: Rule,
}

fn lock_end(c: &Counter, rule: &Rule, now: u64) -> Option<u64> {
    match c.lock_at(now) {
        Lock::Until(t) => Some(t),
        Lock::UntilUnlocked => Some(UNTIL_UNLOCKED),
        // Full with checks in flight: wait for them.
        Lock::Open if rule.failures_left(*c, now) == 0 => {
            Some(c.pending_at.unwrap_or(now).saturating_add(PENDING_SECS))
        }
        Lock::Open => None,
    }
}

impl Throttle {
    /// Whether the name's counter applies to this source now.
    fn name_applies(&self, now: u64) -> bool {
        self.shared || !self.per_source.is_good_at(now)
    }

    /// The end of the throttle that applies to this source now, if any.
    fn until(&self, r: &ThrottleRules, now: u64) -> Option<u64> {
        let name = match self.name_applies(now) {
            true => lock_end(&self.per_name, &r.name, now),
            false => None,
        };
        match (lock_end(&self.per_source, &r.source, now), name) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0))),
        }
    }

    fn map(&self, now: u64, f: impl Fn(Counter) -> Counter) -> Throttle {
        Throttle {
            shared: self.shared,
            per_source: f(self.per_source),
            per_name: match self.name_applies(now) {
                true => f(self.per_name),
                false => self.per_name,
            },
        }
    }

    /// After one more failure (a good source does not feed the name's counter either: the
    /// user's own slips never keep her out elsewhere).
    fn failed(&self, r: &ThrottleRules, now: u64) -> Throttle {
        Throttle {
            shared: self.shared,
            per_source: r.source.after_failure(self.per_source, now),
            per_name: match self.name_applies(now) {
                true => r.name.after_failure(self.per_name, now),
                false => self.per_name,
            },
        }
    }

    /// The name logged in (a whole login: both factors) from this source.
    fn logged_in(&self, now: u64) -> Throttle {
        let mut t = *self;
        if !t.shared {
            t.per_source.good_until = Some(now.saturating_add(GOOD_SOURCE_SECS));
        }
        t
    }
}

impl Authenticator {
    fn name_source(login: &Login, row: NameRow) -> &'static str {
        row.source(login.throttle_source.place)
    }

    fn throttle_rules(&self, row: NameRow) -> ThrottleRules {
        ThrottleRules {
            source: self.rules.per_source,
            name: match row {
                NameRow::Password => self.rules.per_name,
                NameRow::Unproven => self.rules.per_name_unproven,
            },
        }
    }

    fn read_throttle(
        &self,
        tx: &dyn Tx,
        login: &Login,
        row: NameRow,
    ) -> Result<Throttle, StoreError> {
        Ok(Throttle {
            shared: login.throttle_source.place == Place::Shared,
            per_source: tx.throttle(&login.throttle_key, &login.throttle_source.key)?,
            per_name: tx.throttle(&login.throttle_key, Self::name_source(login, row))?,
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
            tx.put_throttle(
                &login.throttle_key,
                &login.throttle_source.key,
                &after.per_source,
            )?;
        }
        if after.per_name != before.per_name {
            tx.put_throttle(
                &login.throttle_key,
                Self::name_source(login, row),
                &after.per_name,
            )?;
        }
        Ok(())
    }

    /// The end of the login's name's throttle now, if any (read before an answer is checked,
    /// so a throttled attempt costs no Argon2).
    pub(super) fn throttled_until(
        &self,
        login: &Login,
        row: NameRow,
    ) -> Result<Option<u64>, StoreError> {
        let now = self.clock.now();
        let r = self.throttle_rules(row);
        let mut out = None;
        self.store.write(&mut |tx: &dyn Tx| {
            out = self.read_throttle(tx, login, row)?.until(&r, now);
            Ok(())
        })?;
        Ok(out)
    }

    /// Before a password is checked: refuse when throttled, else count the check as in flight,
    /// in the same transaction, so that checks running in parallel cannot get past the limit.
    /// `Err(until)`: throttled. Settle with [`Authenticator::settle_first_factor`].
    pub(super) fn begin_first_factor(
        &self,
        login: &Login,
    ) -> Result<Result<InFlight, u64>, StoreError> {
        let now = self.clock.now();
        let r = self.throttle_rules(NameRow::Password);
        let mut out = Err(0);
        self.store.write(&mut |tx: &dyn Tx| {
            let before = self.read_throttle(tx, login, NameRow::Password)?;
            if let Some(until) = before.until(&r, now) {
                out = Err(until);
                return Ok(());
            }
            let after = before.map(now, |c| c.begin_pending(now));
            self.write_throttle(tx, login, NameRow::Password, &before, &after)?;
            out = Ok(InFlight {
                name: before.name_applies(now),
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// The password check begun with [`Authenticator::begin_first_factor`] is done: a wrong
    /// password is counted, a right one only ends the check in flight (in the counters it was
    /// begun in, even if the source became good meanwhile).
    pub(super) fn settle_first_factor(
        &self,
        login: &Login,
        begun: InFlight,
        right: bool,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let r = self.throttle_rules(NameRow::Password);
        self.store.write(&mut |tx: &dyn Tx| {
            let before = self.read_throttle(tx, login, NameRow::Password)?;
            let done = Throttle {
                shared: before.shared,
                per_source: before.per_source.end_pending(now),
                per_name: match begun.name {
                    true => before.per_name.end_pending(now),
                    false => before.per_name,
                },
            };
            let after = if right { done } else { done.failed(&r, now) };
            self.write_throttle(tx, login, NameRow::Password, &before, &after)
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
        let tr = self.throttle_rules(NameRow::Unproven);
        // After a checked password, a whole login marks its source good (for the name's
        // password throttle).
        let marks_password_source = counting == Counting::User
            && login.request.first_factor == super::FirstFactor::Password;
        let mut out = None;
        self.store.write(&mut |tx: &dyn Tx| {
            // Only answers taken before the first factor is proven read the throttle (the
            // quick, proven path of a RADIUS storm reads nothing it does not need).
            let throttle = match counting {
                Counting::Throttle => Some(self.read_throttle(tx, login, NameRow::Unproven)?),
                Counting::User => None,
            };
            let lock = match user_id {
                Some(id) => tx.lock_state(id)?,
                None => LockState::default(),
            };
            let committed = if let Some(until) = throttle.and_then(|t| t.until(&tr, now)) {
                Committed::Throttled(until)
            } else if lock.lock_at(now).is_locked() {
                if let Some(t) = &throttle {
                    // Before the first factor a lock must not show: counted like a miss.
                    self.write_throttle(tx, login, NameRow::Unproven, t, &t.failed(&tr, now))?;
                }
                Committed::Locked(lock.lock_at(now))
            } else {
                match (checked, user_id) {
                    (Checked::Matches { claim, method }, Some(id)) => {
                        if tx.claim(id, claim, now)? {
                            let next = lock.after_success(login.failed_here);
                            // Most logins change nothing here: no write (the RADIUS storm).
                            if next != lock {
                                tx.put_lock_state(id, &next)?;
                            }
                            if let Some(t) = &throttle {
                                self.write_throttle(
                                    tx,
                                    login,
                                    NameRow::Unproven,
                                    t,
                                    &t.logged_in(now),
                                )?;
                            }
                            if marks_password_source {
                                let t = self.read_throttle(tx, login, NameRow::Password)?;
                                // Refreshed at most once a day.
                                let fresh = t.per_source.good_until.is_some_and(|g| {
                                    g > now.saturating_add(GOOD_SOURCE_SECS - 24 * 3600)
                                });
                                if !fresh {
                                    let done = t.logged_in(now);
                                    self.write_throttle(tx, login, NameRow::Password, &t, &done)?;
                                }
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
                                let next = t.failed(&tr, now);
                                self.write_throttle(tx, login, NameRow::Unproven, t, &next)?;
                                match next.until(&tr, now) {
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
