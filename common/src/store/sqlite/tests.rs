use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::OptionalExtension;

use super::migrate::MIGRATIONS;
use super::rows::{FACTOR_COLS, USER_COLS};
use super::users::{LOGIN_FACTORS_SQL, LOGIN_USER_SQL};
use super::*;
use crate::audit::{AuditEvent, AuditResult};
use crate::base::otp::TotpAlgorithm;
use crate::policy::{Lock, LockState, Rules};
use crate::store::*;

/// A minimal decision on top of [`Tx`], shaped like the one the core makes (`auth::attempt`),
/// to exercise the store's transaction, claims and lock rows: three wrong answers lock for 600 s.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    user_id: UserId,
    now: u64,
    claim: Option<Claim>,
    email_tried: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptOutcome {
    Accepted,
    Replayed,
    Failed {
        failures: u32,
        locked_until: Option<u64>,
    },
    Locked {
        until: Option<u64>,
    },
}

const RULES: fn() -> Rules = || Rules::new(3, 600, 600, 20, 300);

trait Commit {
    fn commit_attempt(
        &self,
        a: &Attempt,
        audit: &dyn Fn(&AttemptOutcome) -> AuditEvent,
    ) -> Result<AttemptOutcome, StoreError>;
    fn lock_state(&self, user_id: UserId) -> Result<LockState, StoreError>;
    fn set_admin_lock(&self, user_id: UserId, locked: bool) -> Result<(), StoreError>;
}

impl Commit for SqliteStore {
    fn commit_attempt(
        &self,
        a: &Attempt,
        audit: &dyn Fn(&AttemptOutcome) -> AuditEvent,
    ) -> Result<AttemptOutcome, StoreError> {
        let rules = RULES();
        let mut out = None;
        self.write(&mut |tx: &dyn Tx| {
            let lock = tx.lock_state(a.user_id)?;
            let o = match lock.lock_at(a.now) {
                Lock::Until(t) => AttemptOutcome::Locked { until: Some(t) },
                Lock::UntilUnlocked => AttemptOutcome::Locked { until: None },
                Lock::Open => match a.claim {
                    Some(c) if tx.claim(a.user_id, &c, a.now)? => {
                        tx.put_lock_state(a.user_id, &lock.after_success(0))?;
                        AttemptOutcome::Accepted
                    }
                    Some(_) => AttemptOutcome::Replayed,
                    None => {
                        if a.email_tried {
                            tx.spend_email_try(a.user_id)?;
                        }
                        let next = lock.after_failure(&rules, a.now);
                        tx.put_lock_state(a.user_id, &next)?;
                        AttemptOutcome::Failed {
                            failures: if next.codes.locks > lock.codes.locks {
                                rules.codes.max_failures
                            } else {
                                next.codes.failures
                            },
                            locked_until: next.codes.locked_until.filter(|t| *t > a.now),
                        }
                    }
                },
            };
            tx.append_audit(&audit(&o))?;
            out = Some(o);
            Ok(())
        })?;
        Ok(out.unwrap())
    }

    fn lock_state(&self, user_id: UserId) -> Result<LockState, StoreError> {
        let mut out = LockState::default();
        self.write(&mut |tx: &dyn Tx| {
            out = tx.lock_state(user_id)?;
            Ok(())
        })?;
        Ok(out)
    }

    fn set_admin_lock(&self, user_id: UserId, locked: bool) -> Result<(), StoreError> {
        self.write(&mut |tx: &dyn Tx| {
            let s = tx.lock_state(user_id)?;
            let next = if locked {
                LockState {
                    admin_locked: true,
                    ..s
                }
            } else {
                s.unlocked()
            };
            tx.put_lock_state(user_id, &next)
        })
    }
}

fn cfg(dir: &Path) -> StoreConfig {
    StoreConfig {
        path: dir.join("db/tessera.db"),
        key_file: dir.join("key"),
        busy_timeout: Duration::from_millis(200),
    }
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let (s, created) = SqliteStore::create(&cfg(dir.path())).unwrap();
    assert!(created);
    (dir, s)
}

fn totp(status: FactorStatus) -> NewTotp {
    NewTotp {
        label: "phone".into(),
        algorithm: TotpAlgorithm::Sha1,
        digits: 6,
        period: 30,
        window: None,
        status,
        last_step: None,
    }
}

fn audit_event(o: &AttemptOutcome) -> AuditEvent {
    AuditEvent {
        at: 1,
        user: "alice".into(),
        service: "test".into(),
        source: None,
        result: match o {
            AttemptOutcome::Accepted => AuditResult::Accept,
            _ => AuditResult::Reject,
        },
        method: None,
        detail: None,
        count: 1,
        flood: None,
    }
}

/// A recovery batch as `replace_recovery` takes it (the counts are the store's to fill in).
fn recovery_batch(salt: u8) -> RecoveryBatch {
    RecoveryBatch {
        salt: vec![salt; 16],
        m_cost: 8,
        t_cost: 1,
        p_cost: 1,
        created_at: 10,
        origin: "generated".into(),
        total: 0,
        unused: 0,
    }
}

fn attempt(user_id: UserId, now: u64, claim: Option<Claim>) -> Attempt {
    Attempt {
        user_id,
        now,
        claim,
        email_tried: false,
    }
}

#[test]
fn create_makes_0600_file_in_0700_dir_and_migrates() {
    let (dir, s) = store();
    let mode = std::fs::metadata(s.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dmode = std::fs::metadata(dir.path().join("db"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dmode, 0o700);
    let c = s.take().unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, MIGRATIONS.len() as i64);
    let jm: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(jm, "wal");
    let fk: bool = c
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert!(fk);
}

#[test]
fn open_refuses_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let e = SqliteStore::open(&cfg(dir.path())).unwrap_err();
    assert!(matches!(e, StoreError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("tessera init"), "{e}");
}

#[test]
fn open_refuses_garbage_and_newer_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    std::fs::create_dir_all(c.path.parent().unwrap()).unwrap();
    std::fs::write(&c.path, vec![0x42u8; 8192]).unwrap();
    let e = SqliteStore::open(&c).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");

    std::fs::remove_file(&c.path).unwrap();
    let (s, _) = SqliteStore::create(&c).unwrap();
    s.take()
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    drop(s);
    let e = SqliteStore::open(&c).unwrap_err();
    assert!(matches!(e, StoreError::TooNew { found: 99, .. }), "{e}");
    // It names the Tessera that migrated it (`store_meta`), and what to do.
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("migrated by Tessera {}", crate::VERSION)),
        "{msg}"
    );
    assert!(msg.contains("Upgrade the Tessera packages"), "{msg}");
    assert!(matches!(
        SqliteStore::open_migrating(&c).unwrap_err(),
        StoreError::TooNew { .. }
    ));
}

/// A front-end never migrates: an older store is refused and left as it was, naming the
/// command; `open_migrating` (`tessera migrate`) brings it up to date and says from what.
#[test]
fn only_open_migrating_changes_an_older_schema() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    std::fs::create_dir_all(c.path.parent().unwrap()).unwrap();
    let version = |c: &StoreConfig| -> i64 {
        rusqlite::Connection::open(&c.path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    {
        let conn = rusqlite::Connection::open(&c.path).unwrap();
        super::migrate::migrate_until(&conn, 10).unwrap();
        conn.execute_batch(
            "INSERT INTO users (name, name_key, created_at) VALUES ('alice', 'alice', 1)",
        )
        .unwrap();
    }
    let e = SqliteStore::open(&c).unwrap_err();
    assert!(
        matches!(e, StoreError::TooOld { found: 10, supported, .. } if supported == SCHEMA_VERSION),
        "{e}"
    );
    assert!(e.to_string().contains("run `tessera migrate`"), "{e}");
    assert_eq!(version(&c), 10, "refused, and nothing changed");

    let (s, from) = SqliteStore::open_migrating(&c).unwrap();
    assert_eq!(from, 10);
    assert_eq!(version(&c), SCHEMA_VERSION);
    assert_eq!(s.user("alice").unwrap().unwrap().name, "alice");
    drop(s);
    let (_s, from) = SqliteStore::open_migrating(&c).unwrap();
    assert_eq!(from, SCHEMA_VERSION, "once: nothing left to do");
    SqliteStore::open(&c).unwrap();
}

#[test]
fn users_are_unique_and_removal_cascades() {
    let (_d, s) = store();
    let id = s
        .add_user("alice", "alice", Some("a@example.com"), 10)
        .unwrap();
    assert!(matches!(
        s.add_user("alice", "alice", None, 11),
        Err(StoreError::UserExists(_))
    ));
    let fid = s
        .add_totp_factor(id, &totp(FactorStatus::Active), 10, &|_| Ok(vec![1, 2, 3]))
        .unwrap();
    s.replace_recovery(id, &recovery_batch(0), &[[1u8; 32]])
        .unwrap();
    assert_eq!(s.factors(id).unwrap()[0].id, fid);
    assert!(s.remove_user(id).unwrap());
    assert!(s.user("alice").unwrap().is_none());
    let c = s.take().unwrap();
    for t in ["factors", "recovery_batches", "recovery_codes"] {
        let n: i64 = c
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{t} not cascaded");
    }
}

#[test]
fn factor_seal_sees_its_own_id() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let fid = s
        .add_totp_factor(id, &totp(FactorStatus::Pending), 10, &|fid| {
            Ok(fid.to_be_bytes().to_vec())
        })
        .unwrap();
    let f = &s.factors(id).unwrap()[0];
    assert_eq!(f.totp.as_ref().unwrap().sealed_secret, fid.to_be_bytes());
    assert_eq!(f.status, FactorStatus::Pending);
}

#[test]
fn failing_seal_leaves_no_row() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let e = s.add_totp_factor(id, &totp(FactorStatus::Pending), 10, &|_| {
        Err(crate::error::KeyError::Random("boom".into()))
    });
    assert!(e.is_err());
    assert!(s.factors(id).unwrap().is_empty());
}

#[test]
fn totp_step_claim_is_compare_and_set() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let fid = s
        .add_totp_factor(id, &totp(FactorStatus::Active), 10, &|_| Ok(vec![0]))
        .unwrap();
    let claim = |step| {
        Some(Claim::TotpStep {
            factor_id: fid,
            step,
        })
    };
    assert_eq!(
        s.commit_attempt(&attempt(id, 100, claim(5)), &audit_event)
            .unwrap(),
        AttemptOutcome::Accepted
    );
    assert!(matches!(
        s.commit_attempt(&attempt(id, 100, claim(5)), &audit_event)
            .unwrap(),
        AttemptOutcome::Replayed
    ));
    assert!(matches!(
        s.commit_attempt(&attempt(id, 100, claim(4)), &audit_event)
            .unwrap(),
        AttemptOutcome::Replayed
    ));
    assert_eq!(
        s.commit_attempt(&attempt(id, 100, claim(6)), &audit_event)
            .unwrap(),
        AttemptOutcome::Accepted
    );
    assert_eq!(
        s.lock_state(id).unwrap().codes.failures,
        0,
        "success resets the count"
    );
    // Each attempt left an audit row.
    assert_eq!(s.audit(Some("alice"), 100).unwrap().len(), 4);
}

#[test]
fn pending_factor_cannot_be_claimed() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let fid = s
        .add_totp_factor(id, &totp(FactorStatus::Pending), 10, &|_| Ok(vec![0]))
        .unwrap();
    let a = attempt(
        id,
        100,
        Some(Claim::TotpStep {
            factor_id: fid,
            step: 1,
        }),
    );
    assert!(matches!(
        s.commit_attempt(&a, &audit_event).unwrap(),
        AttemptOutcome::Replayed
    ));
}

#[test]
fn failures_lock_then_the_lock_expires() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    for n in 1..=2 {
        assert_eq!(
            s.commit_attempt(&attempt(id, 100, None), &audit_event)
                .unwrap(),
            AttemptOutcome::Failed {
                failures: n,
                locked_until: None
            }
        );
    }
    assert_eq!(
        s.commit_attempt(&attempt(id, 100, None), &audit_event)
            .unwrap(),
        AttemptOutcome::Failed {
            failures: 3,
            locked_until: Some(700)
        }
    );
    assert_eq!(
        s.commit_attempt(&attempt(id, 699, None), &audit_event)
            .unwrap(),
        AttemptOutcome::Locked { until: Some(700) }
    );
    // After the lock, a fresh count.
    assert_eq!(
        s.commit_attempt(&attempt(id, 700, None), &audit_event)
            .unwrap(),
        AttemptOutcome::Failed {
            failures: 1,
            locked_until: None
        }
    );
}

#[test]
fn admin_lock_holds_until_unlocked() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    s.set_admin_lock(id, true).unwrap();
    assert_eq!(
        s.commit_attempt(&attempt(id, u64::MAX / 2, None), &audit_event)
            .unwrap(),
        AttemptOutcome::Locked { until: None }
    );
    s.set_admin_lock(id, false).unwrap();
    assert_eq!(s.lock_state(id).unwrap(), LockState::default());
}

#[test]
fn recovery_code_is_single_use_and_batches_replace() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let batch = recovery_batch(0);
    s.replace_recovery(id, &batch, &[[1u8; 32], [2u8; 32]])
        .unwrap();
    let hashes = s.recovery_hashes(id).unwrap();
    assert_eq!(hashes.len(), 2);
    let code_id = hashes[0].0;
    let a = attempt(id, 100, Some(Claim::RecoveryCode { code_id }));
    assert_eq!(
        s.commit_attempt(&a, &audit_event).unwrap(),
        AttemptOutcome::Accepted
    );
    assert!(matches!(
        s.commit_attempt(&a, &audit_event).unwrap(),
        AttemptOutcome::Replayed
    ));
    assert_eq!(s.recovery_hashes(id).unwrap().len(), 1);
    let data = s.login_data("alice").unwrap().unwrap();
    let r = data.recovery.unwrap();
    assert_eq!((r.total, r.unused), (2, 1));

    s.replace_recovery(id, &batch, &[[3u8; 32]]).unwrap();
    let hashes = s.recovery_hashes(id).unwrap();
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].1, vec![3u8; 32]);
}

#[test]
fn activation_claims_the_confirming_step_and_reports_first_factor() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let f1 = s
        .add_totp_factor(id, &totp(FactorStatus::Pending), 10, &|_| Ok(vec![0]))
        .unwrap();
    let f2 = s
        .add_totp_factor(id, &totp(FactorStatus::Pending), 10, &|_| Ok(vec![0]))
        .unwrap();
    let a1 = s.activate_factor(id, f1, Some(50)).unwrap().unwrap();
    assert!(a1.first_active && !a1.has_recovery);
    assert!(
        s.activate_factor(id, f1, Some(51)).unwrap().is_none(),
        "already active"
    );
    let a2 = s.activate_factor(id, f2, None).unwrap().unwrap();
    assert!(!a2.first_active);
    // The confirming step cannot be used to log in.
    let a = attempt(
        id,
        100,
        Some(Claim::TotpStep {
            factor_id: f1,
            step: 50,
        }),
    );
    assert!(matches!(
        s.commit_attempt(&a, &audit_event).unwrap(),
        AttemptOutcome::Replayed
    ));
}

#[test]
fn preferred_factor_comes_first_in_login_data() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let _f1 = s
        .add_totp_factor(id, &totp(FactorStatus::Active), 10, &|_| Ok(vec![0]))
        .unwrap();
    let f2 = s
        .add_totp_factor(id, &totp(FactorStatus::Active), 10, &|_| Ok(vec![0]))
        .unwrap();
    assert!(s.set_preferred(id, f2).unwrap());
    assert!(!s.set_preferred(id, 999).unwrap());
    let d = s.login_data("alice").unwrap().unwrap();
    assert_eq!(d.factors[0].id, f2);
    assert!(d.factors[0].preferred && !d.factors[1].preferred);
}

#[test]
fn corrupt_factor_row_is_an_error_not_a_skip() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    s.add_totp_factor(id, &totp(FactorStatus::Active), 10, &|_| Ok(vec![0]))
        .unwrap();
    s.take()
        .unwrap()
        .execute_batch("UPDATE factors SET secret = NULL")
        .unwrap();
    let e = s.login_data("alice").unwrap_err();
    assert!(matches!(e, StoreError::BadRow { .. }), "{e}");
}

#[test]
fn writer_held_lock_beyond_busy_timeout_is_a_clear_error() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let other = s.connect().unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = s
        .commit_attempt(&attempt(id, 100, None), &audit_event)
        .unwrap_err();
    assert!(matches!(e, StoreError::Busy { .. }), "{e}");
    assert!(e.to_string().contains("locked by another writer"), "{e}");
    other.execute_batch("ROLLBACK").unwrap();
    // Nothing was half-written.
    assert_eq!(s.lock_state(id).unwrap().codes.failures, 0);
}

#[test]
fn read_only_database_is_a_clear_error() {
    let (dir, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    drop(s);
    let c = cfg(dir.path());
    let s = SqliteStore::open(&c).unwrap();
    // Open a read-only connection in place of the pooled one.
    let ro = Connection::open_with_flags(&c.path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    *s.pool.lock().unwrap() = vec![ro];
    let e = s
        .commit_attempt(&attempt(id, 100, None), &audit_event)
        .unwrap_err();
    assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
}

#[test]
fn audit_is_newest_first_and_filtered() {
    let (_d, s) = store();
    for (i, u) in ["alice", "bob", "alice"].iter().enumerate() {
        s.append_audit(&AuditEvent {
            at: i as u64,
            user: u.to_string(),
            service: "sshd".into(),
            source: Some("10.0.0.1".into()),
            result: AuditResult::Accept,
            method: Some("totp".into()),
            detail: None,
            count: 1,
            flood: None,
        })
        .unwrap();
    }
    let all = s.audit(None, 10).unwrap();
    assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), vec![2, 1, 0]);
    let alice = s.audit(Some("alice"), 1).unwrap();
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].at, 2);
}

fn wal_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("db/tessera.db-wal")).map_or(0, |m| m.len())
}

#[test]
fn closing_keeps_a_small_wal_and_truncates_a_grown_one() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = SqliteStore::create(&cfg(dir.path())).unwrap();
    drop(s);
    // A login-sized write, then close: no checkpoint, the WAL stays.
    let s = SqliteStore::open(&cfg(dir.path())).unwrap();
    s.add_user("alice", "alice", None, 1).unwrap();
    drop(s);
    let small = wal_len(dir.path());
    assert!(small > 0, "the WAL was checkpointed on close");
    // What was committed is there for the next process.
    let s = SqliteStore::open(&cfg(dir.path())).unwrap();
    assert!(s.user("alice").unwrap().is_some());
    // Many writes grow the WAL past the limit; closing truncates it.
    for i in 0..200 {
        let name = format!("user{i}");
        s.add_user(&name, &name, None, 1).unwrap();
    }
    assert!(wal_len(dir.path()) > WAL_TRUNCATE_BYTES);
    drop(s);
    assert_eq!(wal_len(dir.path()), 0);
    let s = SqliteStore::open(&cfg(dir.path())).unwrap();
    assert!(s.user("user199").unwrap().is_some());
    assert!(s.user("alice").unwrap().is_some());
}

#[test]
fn open_refuses_an_empty_or_truncated_file_that_init_would_initialise() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    std::fs::create_dir_all(c.path.parent().unwrap()).unwrap();
    std::fs::write(&c.path, b"").unwrap();
    let e = SqliteStore::open(&c).unwrap_err();
    assert!(matches!(e, StoreError::Uninitialised { .. }), "{e}");
    assert!(e.to_string().contains("tessera init"), "{e}");
    assert_eq!(
        std::fs::metadata(&c.path).unwrap().len(),
        0,
        "open wrote to it"
    );
    std::fs::write(&c.path, b"short garbage, not a database").unwrap();
    let e = SqliteStore::open(&c).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    // `tessera init` (create) does initialise an empty file.
    std::fs::write(&c.path, b"").unwrap();
    let (s, created) = SqliteStore::create(&c).unwrap();
    assert!(!created);
    s.add_user("alice", "alice", None, 1).unwrap();
    drop(s);
    assert!(
        SqliteStore::open(&c)
            .unwrap()
            .user("alice")
            .unwrap()
            .is_some()
    );
}

#[test]
fn email_code_reservation_rate_limits_replaces_and_is_single_use() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let fid = s
        .add_email_factor(id, "work", "alice@example.com", 10)
        .unwrap();
    s.activate_factor(id, fid, None).unwrap();
    let new = |hash: &'static [u8], now| NewEmailCode {
        user_id: id,
        factor_id: fid,
        hash,
        now,
        expires_at: now + 600,
        tries: 2,
        min_interval_secs: 60,
        max_per_day: 100,
    };
    assert_eq!(
        s.reserve_email_code(&new(&[1u8; 32], 100)).unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        s.reserve_email_code(&new(&[2u8; 32], 159)).unwrap(),
        Reservation::TooSoon {
            retry_after: 160,
            still_valid: true
        }
    );
    assert_eq!(
        s.email_code(id).unwrap().unwrap().hash,
        vec![1u8; 32],
        "the first code stays"
    );
    assert_eq!(
        s.reserve_email_code(&new(&[2u8; 32], 160)).unwrap(),
        Reservation::Reserved
    );
    // The old code is gone; the new one works once.
    let claim = |h: [u8; 32], now| {
        let mut a = attempt(id, now, Some(Claim::EmailCode { hash: h }));
        a.email_tried = false;
        s.commit_attempt(&a, &audit_event).unwrap()
    };
    assert!(matches!(claim([1u8; 32], 170), AttemptOutcome::Replayed));
    assert_eq!(claim([2u8; 32], 170), AttemptOutcome::Accepted);
    assert!(matches!(claim([2u8; 32], 170), AttemptOutcome::Replayed));
    let spent = s.email_code(id).unwrap().unwrap();
    assert_eq!(spent.tries_left, 0);
    // The spent code still holds the send interval.
    assert_eq!(
        s.reserve_email_code(&new(&[3u8; 32], 200)).unwrap(),
        Reservation::TooSoon {
            retry_after: 220,
            still_valid: false
        }
    );
}

/// Every code sent counts towards the day's bound, whatever became of it (cancelled after a
/// failed delivery, confirmed), until a day after the first.
#[test]
fn sent_codes_are_bounded_per_day() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let fid = s.add_sms_factor(id, "phone", "+447700900123", 10).unwrap();
    let n = |now: u64| NewEmailCode {
        user_id: id,
        factor_id: fid,
        hash: &[7u8; 32],
        now,
        expires_at: now + 600,
        tries: 2,
        min_interval_secs: 0,
        max_per_day: 3,
    };
    for t in [100, 200, 300] {
        assert_eq!(s.reserve_email_code(&n(t)).unwrap(), Reservation::Reserved);
        s.cancel_email_code(id, &[7u8; 32]).unwrap();
    }
    assert_eq!(
        s.reserve_email_code(&n(400)).unwrap(),
        Reservation::TooSoon {
            retry_after: 100 + 24 * 3600,
            still_valid: false
        }
    );
    assert_eq!(
        s.reserve_email_code(&n(100 + 24 * 3600)).unwrap(),
        Reservation::Reserved,
        "a new day"
    );
}

#[test]
fn email_code_expires_and_dies_after_its_tries() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let fid = s
        .add_email_factor(id, "work", "alice@example.com", 10)
        .unwrap();
    s.activate_factor(id, fid, None).unwrap();
    let n = NewEmailCode {
        user_id: id,
        factor_id: fid,
        hash: &[7u8; 32],
        now: 100,
        expires_at: 700,
        tries: 2,
        min_interval_secs: 0,
        max_per_day: 100,
    };
    s.reserve_email_code(&n).unwrap();
    let expired = attempt(id, 700, Some(Claim::EmailCode { hash: [7u8; 32] }));
    assert!(matches!(
        s.commit_attempt(&expired, &audit_event).unwrap(),
        AttemptOutcome::Replayed
    ));
    s.reserve_email_code(&NewEmailCode {
        now: 800,
        expires_at: 1400,
        ..n
    })
    .unwrap();
    let mut wrong = attempt(id, 801, None);
    wrong.email_tried = true;
    s.commit_attempt(&wrong, &audit_event).unwrap();
    assert_eq!(s.email_code(id).unwrap().unwrap().tries_left, 1);
    s.commit_attempt(&wrong, &audit_event).unwrap();
    assert_eq!(
        s.email_code(id).unwrap().unwrap().tries_left,
        0,
        "no tries left: the code is dead"
    );
}

#[test]
fn email_factor_needs_its_address() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    s.add_email_factor(id, "work", "alice@example.com", 10)
        .unwrap();
    assert_eq!(
        s.factors(id).unwrap()[0].address.as_deref(),
        Some("alice@example.com")
    );
    s.take()
        .unwrap()
        .execute_batch("UPDATE factors SET address = NULL")
        .unwrap();
    assert!(matches!(s.factors(id), Err(StoreError::BadRow { .. })));
}

#[test]
fn deferred_maintenance_moves_checkpoints_out_of_commits() {
    let (_d, s) = store();
    s.defer_maintenance();
    let c = s.take().unwrap();
    let auto: i64 = c
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto, 0, "pooled connections stop checkpointing in commits");
    s.give_back(c);
    let fresh = s.connect().unwrap();
    let auto: i64 = fresh
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto, 0, "and so do new ones");
    drop(fresh);
    s.maintain().unwrap();
    let size = || std::fs::metadata(s.path()).unwrap().len();
    let before = size();
    // Far more than SQLite's default checkpoint threshold (1000 pages).
    for i in 0..1500 {
        s.append_audit(&AuditEvent {
            at: i,
            user: format!("user{i}"),
            service: "x".repeat(2000),
            source: None,
            result: AuditResult::Accept,
            method: None,
            detail: None,
            count: 1,
            flood: None,
        })
        .unwrap();
    }
    assert_eq!(size(), before, "no commit copied the WAL into the database");
    s.maintain().unwrap();
    assert!(
        size() > before + 1_000_000,
        "maintain() checkpointed the WAL"
    );
}

#[test]
fn login_queries_select_the_columns_the_row_mappers_read() {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squash(LOGIN_FACTORS_SQL).starts_with(&format!("SELECT {}", squash(FACTOR_COLS))));
    let user_cols: Vec<String> = USER_COLS.split(", ").map(|c| format!("u.{c}")).collect();
    assert!(squash(LOGIN_USER_SQL).starts_with(&format!("SELECT {}", user_cols.join(", "))));
}

#[test]
fn login_data_reads_lock_and_recovery_with_the_user() {
    let (_d, s) = store();
    let id = s
        .add_user("alice", "alice", Some("a@example.com"), 10)
        .unwrap();
    let d = s.login_data("alice").unwrap().unwrap();
    assert_eq!(d.lock, LockState::default());
    assert!(d.recovery.is_none());
    s.commit_attempt(&attempt(id, 100, None), &audit_event)
        .unwrap();
    s.set_admin_lock(id, true).unwrap();
    let batch = recovery_batch(5);
    s.replace_recovery(id, &batch, &[[1u8; 32], [2u8; 32]])
        .unwrap();
    let d = s.login_data("alice").unwrap().unwrap();
    assert_eq!(d.user.email.as_deref(), Some("a@example.com"));
    assert_eq!(d.lock.codes.failures, 1);
    assert!(d.lock.admin_locked);
    let r = d.recovery.unwrap();
    assert_eq!((r.salt, r.total, r.unused), (vec![5; 16], 2, 2));
}

fn user_with_factor(s: &SqliteStore, name: &str) -> (UserId, FactorId) {
    let id = s.add_user(name, name, None, 10).unwrap();
    let fid = s
        .add_totp_factor(id, &totp(FactorStatus::Active), 10, &|_| Ok(vec![0]))
        .unwrap();
    (id, fid)
}

fn step_claim(factor_id: FactorId, step: u64) -> Option<Claim> {
    Some(Claim::TotpStep { factor_id, step })
}

#[test]
fn a_batch_commits_once_and_sees_its_own_writes() {
    let (_d, s) = store();
    let (alice, fa) = user_with_factor(&s, "alice");
    let (bob, fb) = user_with_factor(&s, "bob");
    let mut outcomes = Vec::new();
    s.batch(&mut || {
        for (user, factor) in [(alice, fa), (bob, fb), (alice, fa)] {
            outcomes.push(
                s.commit_attempt(&attempt(user, 100, step_claim(factor, 5)), &audit_event)
                    .unwrap(),
            );
        }
        // Reads inside see the batch's writes.
        assert_eq!(s.audit(None, 100).unwrap().len(), 3);
        // Another connection does not, until the batch commits (and cannot write meanwhile).
        let other = s.connect().unwrap();
        let rows: Option<i64> = other
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .optional()
            .unwrap();
        assert_eq!(rows, Some(0));
        other.busy_timeout(Duration::from_millis(10)).unwrap();
        assert!(
            other.execute_batch("BEGIN IMMEDIATE").is_err(),
            "the batch holds the write lock"
        );
    })
    .unwrap();
    assert_eq!(outcomes[0], AttemptOutcome::Accepted);
    assert_eq!(outcomes[1], AttemptOutcome::Accepted);
    assert!(
        matches!(outcomes[2], AttemptOutcome::Replayed),
        "the same step twice in one batch is a replay: {:?}",
        outcomes[2]
    );
    assert_eq!(s.audit(None, 100).unwrap().len(), 3);
    // The connection went back to the pool and works outside a batch again.
    assert!(matches!(
        s.commit_attempt(&attempt(bob, 100, step_claim(fb, 5)), &audit_event)
            .unwrap(),
        AttemptOutcome::Replayed
    ));
}

#[test]
fn a_failure_inside_a_batch_keeps_nothing_of_it() {
    let (_d, s) = store();
    let (alice, fa) = user_with_factor(&s, "alice");
    let audit_before = s.audit(None, 100).unwrap().len();
    let mut later = None;
    let e = s
        .batch(&mut || {
            assert_eq!(
                s.commit_attempt(&attempt(alice, 100, step_claim(fa, 5)), &audit_event)
                    .unwrap(),
                AttemptOutcome::Accepted
            );
            // A failing statement (a duplicate user) aborts the batch...
            assert!(matches!(
                s.add_user("alice", "alice", None, 10),
                Err(StoreError::UserExists(_))
            ));
            // ...and everything after it in the batch is refused, not run outside it.
            later = Some(s.commit_attempt(&attempt(alice, 100, step_claim(fa, 6)), &audit_event));
        })
        .unwrap_err();
    assert!(matches!(e, StoreError::Aborted { .. }), "{e}");
    assert!(
        matches!(later, Some(Err(StoreError::Aborted { .. }))),
        "{later:?}"
    );
    // The accepted step was not kept: the code is still unused; no audit row was written.
    assert_eq!(
        s.commit_attempt(&attempt(alice, 100, step_claim(fa, 5)), &audit_event)
            .unwrap(),
        AttemptOutcome::Accepted
    );
    assert_eq!(s.audit(None, 100).unwrap().len(), audit_before + 1);
}

#[test]
fn a_panic_inside_a_batch_rolls_it_back_and_frees_the_thread() {
    let (_d, s) = store();
    let (alice, fa) = user_with_factor(&s, "alice");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = s.batch(&mut || {
            s.commit_attempt(&attempt(alice, 100, step_claim(fa, 5)), &audit_event)
                .unwrap();
            panic!("boom");
        });
    }));
    assert!(r.is_err());
    // Not committed, and the thread is out of the batch: this commits on its own.
    assert_eq!(
        s.commit_attempt(&attempt(alice, 100, step_claim(fa, 5)), &audit_event)
            .unwrap(),
        AttemptOutcome::Accepted
    );
    let other = SqliteStore::open(&cfg(_d.path())).unwrap();
    assert!(matches!(
        other
            .commit_attempt(&attempt(alice, 100, step_claim(fa, 5)), &audit_event)
            .unwrap(),
        AttemptOutcome::Replayed
    ));
}

#[test]
fn a_batch_on_one_store_leaves_another_store_alone() {
    let (_d1, s1) = store();
    let (_d2, s2) = store();
    let (alice, fa) = user_with_factor(&s2, "alice");
    s1.batch(&mut || {
        // s2 is not batched: its write commits at once, visible to a fresh connection.
        s2.commit_attempt(&attempt(alice, 100, step_claim(fa, 5)), &audit_event)
            .unwrap();
        let fresh = s2.connect().unwrap();
        let step: Option<i64> = fresh
            .query_row("SELECT last_step FROM factors WHERE id = ?1", [fa], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(step, Some(5));
    })
    .unwrap();
}

#[test]
fn a_batch_inside_another_stores_batch_runs_unbatched() {
    let (_d1, s1) = store();
    let (_d2, s2) = store();
    let (alice, fa) = user_with_factor(&s2, "alice");
    s1.batch(&mut || {
        s2.batch(&mut || {
            s2.commit_attempt(&attempt(alice, 100, step_claim(fa, 5)), &audit_event)
                .unwrap();
        })
        .unwrap();
        // Committed on its own, while s1's batch is still open.
        let fresh = s2.connect().unwrap();
        let step: Option<i64> = fresh
            .query_row("SELECT last_step FROM factors WHERE id = ?1", [fa], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(step, Some(5));
        // And s1's batch still works.
        s1.add_user("bob", "bob", None, 10).unwrap();
    })
    .unwrap();
    assert!(s1.user("bob").unwrap().is_some());
}

/// A version-3 database (before canonical names) holding two spellings of one name.
#[test]
fn migration_4_gives_every_user_a_key_and_one_spelling_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    std::fs::create_dir_all(c.path.parent().unwrap()).unwrap();
    {
        let conn = rusqlite::Connection::open(&c.path).unwrap();
        for m in &MIGRATIONS[..3] {
            conn.execute_batch(m.sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO users (name, created_at) VALUES ('alice', 1);
             INSERT INTO users (name, created_at) VALUES ('Alice', 2);
             INSERT INTO users (name, created_at) VALUES ('BOB', 3);
             INSERT INTO factors (user_id, kind, label, status, created_at, algorithm, digits, period, secret)
               VALUES (2, 'totp', 'phone', 'active', 2, 'sha1', 6, 30, x'00');",
        )
        .unwrap();
    }
    let s = SqliteStore::open_migrating(&c).unwrap().0;
    // The spelling with an active factor keeps the name; the other is shadowed.
    assert_eq!(s.user("alice").unwrap().unwrap().name, "Alice");
    assert_eq!(s.login_data("alice").unwrap().unwrap().user.id, 2);
    assert_eq!(s.user("bob").unwrap().unwrap().name, "BOB");
    let users = s.users().unwrap();
    let shadowed: Vec<&str> = users
        .iter()
        .filter(|u| u.shadowed)
        .map(|u| u.user.name.as_str())
        .collect();
    assert_eq!(shadowed, ["alice"]);
    // The shadowed one is reachable by its exact name, to be removed.
    let lower = users.iter().find(|u| u.user.name == "alice").unwrap();
    assert!(s.remove_user(lower.user.id).unwrap());
    // And the key stays unique.
    assert!(matches!(
        s.add_user("ALICE", "alice", None, 5),
        Err(StoreError::UserExists(_))
    ));
}

/// A version-4 store from a development build that already had `good_until` and an index on
/// `last_failure`: migration 5 adds only what is missing and drops the index.
#[test]
fn migration_5_adds_only_the_missing_throttle_columns() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    std::fs::create_dir_all(c.path.parent().unwrap()).unwrap();
    {
        let conn = rusqlite::Connection::open(&c.path).unwrap();
        for m in &MIGRATIONS[..3] {
            conn.execute_batch(m.sql).unwrap();
        }
        conn.execute_batch(MIGRATIONS[3].sql).unwrap();
        conn.execute_batch(
            "ALTER TABLE throttle ADD COLUMN good_until INTEGER;
             CREATE INDEX throttle_last_failure ON throttle(last_failure);
             INSERT INTO throttle (name_key, source, failures, good_until) VALUES ('alice', 'x', 2, 77);
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    let s = SqliteStore::open_migrating(&c).unwrap().0;
    let mut read = crate::policy::Counter::default();
    s.write(&mut |tx: &dyn Tx| {
        read = tx.throttle("alice", "x")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        (read.failures, read.good_until, read.pending),
        (2, Some(77), 0)
    );
    let conn = rusqlite::Connection::open(&c.path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    let index: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'throttle_last_failure'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 0);
}

#[test]
fn throttle_rows_round_trip_and_a_cleared_one_is_deleted() {
    let (_d, s) = store();
    let c = crate::policy::Counter {
        failures: 2,
        locks: 1,
        locked_until: Some(900),
        last_failure: Some(100),
        good_until: Some(5000),
        pending: 0,
        pending_at: None,
    };
    s.write(&mut |tx: &dyn Tx| tx.put_throttle("alice", "vpn|203.0.113.9", &c))
        .unwrap();
    let mut read = crate::policy::Counter::default();
    s.write(&mut |tx: &dyn Tx| {
        read = tx.throttle("alice", "vpn|203.0.113.9")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(read, c);
    // Pruning keeps a row while it is locked, a good source, or not quiet long enough (one
    // failure leaks per `decay` after the leak's start, 100; one lock is forgotten per `quiet`
    // after the later of the lock's end, 900, and the bucket emptying, 100 + 2 × decay).
    assert_eq!(
        s.prune_throttle(1000, 100, 100, 10).unwrap(),
        0,
        "a good source"
    );
    assert_eq!(
        s.prune_throttle(4999, 1000, 1000, 10).unwrap(),
        0,
        "good till 5000"
    );
    assert_eq!(
        s.prune_throttle(5001, 2500, 2500, 10).unwrap(),
        0,
        "the failures leak till 5100"
    );
    assert_eq!(
        s.prune_throttle(5001, 1000, 3000, 10).unwrap(),
        0,
        "the lock is forgotten 3000 after the bucket emptied at 2100, not after 900"
    );
    assert_eq!(s.prune_throttle(5100, 1000, 3000, 10).unwrap(), 1);
    s.write(&mut |tx: &dyn Tx| {
        tx.put_throttle("alice", "", &c)?;
        tx.put_throttle("alice", "", &crate::policy::Counter::default())
    })
    .unwrap();
    let rows: i64 = s
        .connect()
        .unwrap()
        .query_row("SELECT count(*) FROM throttle", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn a_failed_write_keeps_nothing() {
    let (_d, s) = store();
    let id = s.add_user("alice", "alice", None, 10).unwrap();
    let r = s.write(&mut |tx: &dyn Tx| {
        tx.put_lock_state(
            id,
            &LockState {
                admin_locked: true,
                ..LockState::default()
            },
        )?;
        Err(StoreError::Aborted { path: "x".into() })
    });
    assert!(r.is_err());
    assert_eq!(s.lock_state(id).unwrap(), LockState::default());
}

/// Pruning deletes exactly the rows the policy says carry nothing: random histories of
/// failures, checks in flight and good standing (and rows with locks but no lock end, as
/// written before lock ends were kept), each pruned at a random later time.
#[test]
fn prune_agrees_with_the_policy_on_random_histories() {
    let (_d, s) = store();
    let rule = crate::policy::Rules::new(5, 900, 86400, 20, 300).per_source;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut disagree = Vec::new();
    for i in 0..3000 {
        let mut c = crate::policy::Counter::default();
        let mut now = 1_700_000_000u64;
        for _ in 0..rnd(40) {
            now += match rnd(4) {
                0 => rnd(60),
                1 => rnd(3600),
                2 => rnd(86400),
                _ => rnd(3 * 86400),
            };
            match rnd(10) {
                0 => c = c.begin_pending(now),
                1 => c = c.end_pending(now),
                2 => c.good_until = Some(now + rnd(3 * 86400)),
                _ => c = rule.after_failure(c, now),
            }
        }
        if i % 10 == 0 && c.locks > 0 && !c.lock_at(now).is_locked() {
            c.locked_until = None;
        }
        if c == crate::policy::Counter::default() {
            continue;
        }
        let at = now + rnd(10 * 86400);
        s.write(&mut |tx: &dyn Tx| tx.put_throttle("n", "x", &c))
            .unwrap();
        let pruned = s
            .prune_throttle(at, rule.decay_secs, rule.quiet_secs, 10)
            .unwrap()
            == 1;
        s.write(&mut |tx: &dyn Tx| tx.clear_throttle("n").map(drop))
            .unwrap();
        if pruned != rule.is_spent(c, at) {
            disagree.push((c, at, pruned));
        }
    }
    assert!(
        disagree.is_empty(),
        "{} disagreements, e.g. {:?}",
        disagree.len(),
        &disagree[..disagree.len().min(3)]
    );
}

#[test]
fn a_key_binding_is_written_once_and_then_only_read() {
    let (_dir, s) = store();
    assert_eq!(s.bind_key(b"first").unwrap(), b"first");
    // Another key's binding does not replace it: the caller sees the stored one and refuses.
    assert_eq!(s.bind_key(b"second").unwrap(), b"first");
    // Once bound, checking takes no write: it works while another connection holds the lock.
    let other = Connection::open(s.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert_eq!(s.bind_key(b"first").unwrap(), b"first");
    other.execute_batch("ROLLBACK").unwrap();
}

/// Version 11 rebuilds `factors` (a new kind): nothing that refers to it is lost, ids are not
/// reused, and foreign keys are back on afterwards.
#[test]
fn migration_11_rebuilds_factors_without_losing_what_refers_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    std::fs::create_dir_all(c.path.parent().unwrap()).unwrap();
    {
        let conn = rusqlite::Connection::open(&c.path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        super::migrate::migrate_until(&conn, 10).unwrap();
        conn.execute_batch(
            "INSERT INTO users (name, name_key, email, created_at) VALUES ('alice', 'alice', 'a@example.com', 1);
             INSERT INTO factors (user_id, kind, label, status, created_at, address)
               VALUES (1, 'email', 'mail', 'active', 1, 'a@example.com');
             INSERT INTO factors (user_id, kind, label, status, created_at, algorithm, digits, period, secret)
               VALUES (1, 'totp', 'phone', 'active', 2, 'sha1', 6, 30, x'00');
             INSERT INTO factors (user_id, kind, label, status, created_at, algorithm, digits, period, secret)
               VALUES (1, 'totp', 'old', 'pending', 3, 'sha1', 6, 30, x'00');
             DELETE FROM factors WHERE id = 3;
             INSERT INTO email_codes (user_id, factor_id, hash, sent_at, expires_at, tries_left)
               VALUES (1, 1, x'01', 10, 20, 5);
             INSERT INTO invites (user_id, hash, created_at, expires_at) VALUES (1, x'02', 1, 99);",
        )
        .unwrap();
    }
    let s = SqliteStore::open_migrating(&c).unwrap().0;
    let f = s.factors(1).unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].address.as_deref(), Some("a@example.com"));
    assert!(s.email_code(1).unwrap().is_some(), "not cascaded away");
    assert!(s.invite(1).unwrap().is_some());
    let id = s.add_email_factor(1, "x", "b@example.com", 5).unwrap();
    assert_eq!(id, 4, "id 3 was used once: not given again");
    let conn = rusqlite::Connection::open(&c.path).unwrap();
    conn.execute(
        "INSERT INTO factors (user_id, kind, label, status, created_at, address)
           VALUES (1, 'sms', 'phone', 'pending', 6, '+447700900123')",
        [],
    )
    .unwrap();
    drop(conn);
    // Foreign keys still hold on the store's own connections: removing the user takes all.
    assert!(s.remove_user(1).unwrap());
    assert!(s.email_code(1).unwrap().is_none());
    assert!(s.factors(1).unwrap().is_empty());
}
