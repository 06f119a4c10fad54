//! Counting failures and locking, as pure functions.
//!
//! A [`Counter`] counts consecutive failures; reaching [`Rule::max_failures`] locks it. The first
//! lock lasts [`Rule::first_lock_secs`]; with [`Rule::escalate`] each further lock lasts twice as
//! long as the one before. A lock that would last longer than [`Rule::ceiling_secs`] is either
//! capped there ([`PastCeiling::Cap`]) or becomes a lock that only an administrator ends
//! ([`PastCeiling::Unlock`]). A success clears the counter.

/// What happens to a lock that would last longer than the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastCeiling {
    /// The lock lasts the ceiling.
    Cap,
    /// The lock lasts until `tessera user unlock`.
    Unlock,
}

/// How one kind of failure is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Consecutive failures that lock (at least 1).
    pub max_failures: u32,
    /// How long the first lock lasts.
    pub first_lock_secs: u64,
    /// Each lock after the first lasts twice as long as the one before.
    pub escalate: bool,
    /// The longest a lock lasts by itself.
    pub ceiling_secs: u64,
    pub past_ceiling: PastCeiling,
    /// After this long without a failure (and unlocked), earlier locks are forgotten: the next
    /// lock is a first lock again. `None`: only a success forgets them.
    pub forget_after_secs: Option<u64>,
}

/// Every rule of an installation, from `[policy]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Wrong second-factor codes of a user (proven first factor).
    pub codes: Rule,
    /// First-factor failures of one name from one source.
    pub per_source: Rule,
    /// Wrong first-factor passwords (RADIUS) of one name from sources it has not logged in
    /// from.
    pub per_name: Rule,
    /// Wrong answers the PAM module took before the password was proven, of one name from
    /// sources it has not logged in from: they may be code guesses of someone who knows the
    /// password, so they are counted as strictly as codes (but never need an administrator).
    pub per_name_unproven: Rule,
}

/// The longest a first-factor throttle lasts, whatever `max_lockout` says: someone who knows
/// nothing must never keep a user out for longer.
pub const THROTTLE_CEILING_SECS: u64 = 24 * 3600;
/// Earlier code locks are forgotten after this long without a wrong code (a success does not
/// forget them: a guesser would get a fresh doubling after each of the user's logins).
pub const CODE_LOCKS_FORGOTTEN_SECS: u64 = 90 * 24 * 3600;

impl Rules {
    /// The rules for `[policy]`'s values.
    pub fn new(
        max_failures: u32,
        lockout_secs: u64,
        max_lockout_secs: u64,
        first_factor_max_failures: u32,
        first_factor_lockout_secs: u64,
    ) -> Rules {
        let max_lockout_secs = max_lockout_secs.max(lockout_secs);
        let throttle_ceiling = max_lockout_secs.min(THROTTLE_CEILING_SECS);
        let throttle = |max: u32, first: u64| Rule {
            max_failures: max.max(1),
            first_lock_secs: first.min(throttle_ceiling),
            escalate: true,
            ceiling_secs: throttle_ceiling,
            past_ceiling: PastCeiling::Cap,
            forget_after_secs: Some(throttle_ceiling),
        };
        Rules {
            codes: Rule {
                max_failures: max_failures.max(1),
                first_lock_secs: lockout_secs,
                escalate: true,
                ceiling_secs: max_lockout_secs,
                past_ceiling: PastCeiling::Unlock,
                forget_after_secs: Some(CODE_LOCKS_FORGOTTEN_SECS),
            },
            per_source: throttle(max_failures, lockout_secs),
            per_name: throttle(first_factor_max_failures, first_factor_lockout_secs),
            per_name_unproven: throttle(max_failures, lockout_secs),
        }
    }
}

/// Consecutive failures of one kind, and the lock they led to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Failures since the last success or the last lock.
    pub failures: u32,
    /// Locks since they were last forgotten (a quiet time, or `tessera user unlock`).
    pub locks: u32,
    /// End of the current lock; [`UNTIL_UNLOCKED`]: until an administrator unlocks.
    pub locked_until: Option<u64>,
    pub last_failure: Option<u64>,
    /// A per-source counter: until then this source is one the name logged in from, and the
    /// name's overall throttle does not apply to it.
    pub good_until: Option<u64>,
}

/// Whether something is locked at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Open,
    Until(u64),
    UntilUnlocked,
}

impl Lock {
    pub fn is_locked(self) -> bool {
        self != Lock::Open
    }
}

/// `locked_until` of a lock that only an administrator ends (fits a signed 64-bit column).
pub const UNTIL_UNLOCKED: u64 = i64::MAX as u64;

impl Counter {
    pub fn lock_at(&self, now: u64) -> Lock {
        match self.locked_until {
            Some(UNTIL_UNLOCKED) => Lock::UntilUnlocked,
            Some(until) if until > now => Lock::Until(until),
            Some(_) | None => Lock::Open,
        }
    }

    /// Whether the name logged in from this source recently (see [`Counter::good_until`]).
    pub fn is_good_at(&self, now: u64) -> bool {
        self.good_until.is_some_and(|t| t > now)
    }
}

impl Rule {
    /// How long lock number `n` (1-based) lasts; `None`: until an administrator unlocks.
    pub fn lock_secs(&self, n: u32) -> Option<u64> {
        let doublings = if self.escalate {
            n.saturating_sub(1)
        } else {
            0
        };
        let secs = match 1u64.checked_shl(doublings) {
            Some(factor) => self.first_lock_secs.saturating_mul(factor),
            None => u64::MAX,
        };
        if secs <= self.ceiling_secs {
            return Some(secs);
        }
        match self.past_ceiling {
            PastCeiling::Cap => Some(self.ceiling_secs),
            PastCeiling::Unlock => None,
        }
    }

    /// The counter after a failure at `now`. A failure while locked changes nothing (the caller
    /// refuses such an attempt before checking it).
    pub fn after_failure(&self, c: Counter, now: u64) -> Counter {
        if c.lock_at(now).is_locked() {
            return c;
        }
        let mut c = self.forget(c, now);
        // An expired lock is over.
        c.locked_until = None;
        c.failures = c.failures.saturating_add(1);
        c.last_failure = Some(now);
        if c.failures >= self.max_failures {
            c.locks = c.locks.saturating_add(1);
            c.failures = 0;
            c.locked_until = Some(match self.lock_secs(c.locks) {
                Some(secs) => now.saturating_add(secs).min(UNTIL_UNLOCKED - 1),
                None => UNTIL_UNLOCKED,
            });
        }
        c
    }

    /// The counter after a success: the run of failures ends. Earlier locks are kept, so the
    /// next lock is still longer (a guesser gets no fresh doubling from the user's logins); they
    /// are forgotten after a quiet time or by `tessera user unlock`.
    pub fn after_success(&self, c: Counter) -> Counter {
        Counter { failures: 0, ..c }
    }

    /// Failures still allowed before the next lock (0 while locked).
    pub fn failures_left(&self, c: Counter, now: u64) -> u32 {
        if c.lock_at(now).is_locked() {
            return 0;
        }
        let c = self.forget(c, now);
        self.max_failures.saturating_sub(c.failures)
    }

    /// Earlier locks and failures forgotten after a quiet time (see
    /// [`Rule::forget_after_secs`]), counted from the last failure or the end of the last lock,
    /// whichever is later. A source's good standing is kept while it lasts.
    fn forget(&self, c: Counter, now: u64) -> Counter {
        let Some(quiet) = self.forget_after_secs else {
            return c;
        };
        if c.lock_at(now).is_locked() {
            return c;
        }
        let since = c.last_failure.unwrap_or(0).max(c.locked_until.unwrap_or(0));
        if now.saturating_sub(since) >= quiet {
            Counter {
                good_until: c.good_until.filter(|t| *t > now),
                ..Counter::default()
            }
        } else {
            c
        }
    }

    /// Whether a counter carries nothing worth keeping at `now` (a row that may be deleted).
    pub fn is_spent(&self, c: Counter, now: u64) -> bool {
        self.forget(c, now) == Counter::default()
    }
}

/// A user's lock state: wrong codes, an administrator's lock, and the wrong codes since the last
/// successful login (told at the next one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockState {
    pub codes: Counter,
    /// `tessera user lock`.
    pub admin_locked: bool,
    /// Wrong codes since the last successful login.
    pub since_login: u32,
}

impl LockState {
    pub fn lock_at(&self, now: u64) -> Lock {
        if self.admin_locked {
            return Lock::UntilUnlocked;
        }
        self.codes.lock_at(now)
    }

    /// After a wrong code at `now`.
    pub fn after_failure(&self, rules: &Rules, now: u64) -> LockState {
        LockState {
            codes: rules.codes.after_failure(self.codes, now),
            admin_locked: self.admin_locked,
            since_login: self.since_login.saturating_add(1),
        }
    }

    /// After a successful login: everything cleared (the caller tells `since_login` first).
    pub fn after_success(&self, rules: &Rules) -> LockState {
        LockState {
            codes: rules.codes.after_success(self.codes),
            admin_locked: self.admin_locked,
            since_login: 0,
        }
    }

    /// `tessera user unlock`: every lock and count ends, escalation included.
    pub fn unlocked(&self) -> LockState {
        LockState {
            since_login: self.since_login,
            ..LockState::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    const T0: u64 = 1_700_000_000;

    fn rules() -> Rules {
        Rules::new(5, 15 * MIN, 24 * HOUR, 20, 5 * MIN)
    }

    fn fail(rule: &Rule, c: Counter, n: u32, now: u64) -> Counter {
        (0..n).fold(c, |c, _| rule.after_failure(c, now))
    }

    #[test]
    fn edges_of_the_first_lock() {
        let r = rules().codes;
        let c = fail(&r, Counter::default(), 4, T0);
        assert_eq!(c.lock_at(T0), Lock::Open, "max - 1 failures");
        assert_eq!(r.failures_left(c, T0), 1);
        let c = r.after_failure(c, T0);
        assert_eq!(c.lock_at(T0), Lock::Until(T0 + 15 * MIN), "max failures");
        assert_eq!(r.failures_left(c, T0), 0);
        assert_eq!(c.lock_at(T0 + 15 * MIN - 1), Lock::Until(T0 + 15 * MIN));
        assert_eq!(c.lock_at(T0 + 15 * MIN), Lock::Open, "expiry");
        assert_eq!(r.failures_left(c, T0 + 15 * MIN), 5, "a fresh count");
        // A failure while locked changes nothing.
        assert_eq!(r.after_failure(c, T0 + 1), c);
    }

    #[test]
    fn each_lock_lasts_twice_the_one_before_up_to_an_administrators_unlock() {
        let r = rules().codes;
        let want = [
            15 * MIN,
            30 * MIN,
            HOUR,
            2 * HOUR,
            4 * HOUR,
            8 * HOUR,
            16 * HOUR,
        ];
        let mut c = Counter::default();
        let mut now = T0;
        for (i, secs) in want.iter().enumerate() {
            c = fail(&r, c, 5, now);
            assert_eq!(c.lock_at(now), Lock::Until(now + secs), "lock {}", i + 1);
            now += secs;
        }
        // 32 h would pass the 24 h ceiling: only `tessera user unlock` ends the next lock.
        c = fail(&r, c, 5, now);
        assert_eq!(c.lock_at(now), Lock::UntilUnlocked);
        assert_eq!(c.lock_at(UNTIL_UNLOCKED - 1), Lock::UntilUnlocked);
    }

    #[test]
    fn a_success_ends_the_run_of_failures_but_not_the_doubling() {
        let r = rules().codes;
        let c = fail(&r, Counter::default(), 5, T0);
        let c = fail(&r, c, 3, T0 + 15 * MIN);
        assert_eq!((c.locks, c.failures), (1, 3));
        let c = r.after_success(c);
        assert_eq!((c.locks, c.failures), (1, 0));
        // The next lock is the second: twice as long.
        let c = fail(&r, c, 5, T0 + HOUR);
        assert_eq!(c.lock_at(T0 + HOUR), Lock::Until(T0 + HOUR + 30 * MIN));
    }

    #[test]
    fn code_locks_are_forgotten_after_ninety_quiet_days() {
        let r = rules().codes;
        let c = fail(&r, Counter::default(), 5, T0);
        let later = T0 + 15 * MIN + CODE_LOCKS_FORGOTTEN_SECS;
        assert!(!r.is_spent(c, later - 1));
        assert!(r.is_spent(c, later));
        let c = fail(&r, c, 5, later);
        assert_eq!(c.lock_at(later), Lock::Until(later + 15 * MIN));
    }

    /// A source's throttle doubles up to a day, never more, whatever `max_lockout` says, and
    /// is forgotten a quiet day after its last lock ended.
    #[test]
    fn per_source_throttle_is_capped_at_a_day_and_forgotten_a_day_after_it_ends() {
        for max_lockout in [24 * HOUR, 30 * 24 * HOUR] {
            let r = Rules::new(5, 15 * MIN, max_lockout, 20, 5 * MIN).per_source;
            let mut c = Counter::default();
            let mut now = T0;
            let mut lengths = Vec::new();
            for _ in 0..12 {
                c = fail(&r, c, 5, now);
                match c.lock_at(now) {
                    Lock::Until(until) => {
                        lengths.push((until - now) / MIN);
                        now = until;
                    }
                    other => panic!("a source is never locked until unlocked: {other:?}"),
                }
            }
            // Right after a day-long lock the doubling goes on (no fresh start).
            assert_eq!(
                lengths,
                [15, 30, 60, 120, 240, 480, 960, 1440, 1440, 1440, 1440, 1440],
                "max_lockout {max_lockout}"
            );
            // A quiet day after the last lock: the next one is a first lock again.
            let later = now + 24 * HOUR;
            assert!(!r.is_spent(c, later - 1));
            assert!(r.is_spent(c, later));
            let c = fail(&r, c, 5, later);
            assert_eq!(c.lock_at(later), Lock::Until(later + 15 * MIN));
        }
    }

    #[test]
    fn a_names_password_throttle_doubles_from_five_minutes_up_to_a_day() {
        let r = rules().per_name;
        let mut c = Counter::default();
        let mut now = T0;
        let mut lengths = Vec::new();
        for _ in 0..11 {
            c = fail(&r, c, 19, now);
            assert_eq!(c.lock_at(now), Lock::Open);
            c = r.after_failure(c, now);
            let Lock::Until(until) = c.lock_at(now) else {
                panic!("{c:?}")
            };
            lengths.push((until - now) / MIN);
            now = until;
        }
        assert_eq!(
            lengths,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 1440, 1440]
        );
    }

    #[test]
    fn a_good_source_keeps_its_standing_through_a_quiet_time() {
        let r = rules().per_source;
        let c = Counter {
            good_until: Some(T0 + 30 * 24 * HOUR),
            ..fail(&r, Counter::default(), 2, T0)
        };
        let later = T0 + 2 * 24 * HOUR;
        assert!(!r.is_spent(c, later), "still a good source");
        let f = r.after_failure(c, later);
        assert_eq!(f.failures, 1, "the old failures are forgotten");
        assert!(f.is_good_at(later));
        assert!(r.is_spent(c, T0 + 30 * 24 * HOUR));
    }

    #[test]
    fn lock_durations_never_overflow() {
        let r = Rule {
            max_failures: 1,
            first_lock_secs: u64::MAX / 2,
            escalate: true,
            ceiling_secs: u64::MAX,
            past_ceiling: PastCeiling::Cap,
            forget_after_secs: None,
        };
        assert_eq!(r.lock_secs(200), Some(u64::MAX));
        let c = r.after_failure(Counter::default(), UNTIL_UNLOCKED - 5);
        assert_eq!(c.locked_until, Some(UNTIL_UNLOCKED - 1));
    }

    #[test]
    fn user_lock_state_counts_wrong_codes_since_the_last_login() {
        let rules = rules();
        let s = (0..3).fold(LockState::default(), |s, _| s.after_failure(&rules, T0));
        assert_eq!(s.since_login, 3);
        assert_eq!(s.lock_at(T0), Lock::Open);
        let s = s.after_success(&rules);
        assert_eq!(s.since_login, 0);
        let locked = LockState {
            admin_locked: true,
            ..s
        };
        assert_eq!(locked.lock_at(T0), Lock::UntilUnlocked);
        assert_eq!(locked.unlocked().lock_at(T0), Lock::Open);
    }

    /// A guesser who knows the password and never stops: one wrong code every 10 seconds for a
    /// year, each refused unchecked while the user is locked. Counts the codes actually checked.
    #[test]
    fn a_year_of_non_stop_guessing_checks_fewer_than_500_codes() {
        let rules = rules();
        let mut s = LockState::default();
        let mut checked = 0u32;
        let year = 365 * 24 * HOUR;
        let mut now = T0;
        while now < T0 + year {
            if !s.lock_at(now).is_locked() {
                checked += 1;
                s = s.after_failure(&rules, now);
            }
            now += 10;
        }
        assert!(checked < 500, "{checked} codes checked in a year");
        // With the defaults: 8 locks of 5 (15 min doubling to 16 h), then locked until unlocked.
        assert_eq!(checked, 40);
        assert_eq!(s.lock_at(now), Lock::UntilUnlocked);
    }

    /// The same guesser while the user logs in every day: a success ends the run of failures,
    /// not the doubling, so the user's logins give the guesser no fresh start.
    #[test]
    fn the_users_own_logins_give_a_guesser_no_fresh_start() {
        let rules = rules();
        let mut s = LockState::default();
        let mut checked = 0u32;
        let mut now = T0;
        while now < T0 + 365 * 24 * HOUR {
            if now % (24 * HOUR) < 10 && !s.lock_at(now).is_locked() {
                s = s.after_success(&rules);
            }
            if !s.lock_at(now).is_locked() {
                checked += 1;
                s = s.after_failure(&rules, now);
            }
            now += 10;
        }
        assert!(checked < 500, "{checked} codes checked in a year");
        assert_eq!(checked, 40);
    }

    /// Without the ceiling (a week, the largest `max_lockout`), the doubling alone bounds a year.
    #[test]
    fn the_doubling_alone_bounds_a_year_of_guessing() {
        let rules = Rules::new(5, 15 * MIN, 7 * 24 * HOUR, 20, 5 * MIN);
        let r = Rule {
            past_ceiling: PastCeiling::Cap,
            ceiling_secs: u64::MAX,
            ..rules.codes
        };
        let mut c = Counter::default();
        let (mut checked, mut now) = (0u32, T0);
        while now < T0 + 365 * 24 * HOUR {
            if !c.lock_at(now).is_locked() {
                checked += 1;
                c = r.after_failure(c, now);
            }
            now += 10;
        }
        assert!(checked < 500, "{checked}");
        // 15 min × (2^15 - 1) ≈ 341 days: the 16th lock begins within the year.
        assert_eq!(checked, 80, "16 rounds of 5 fit in a year");
    }
}
