//! The login flow, against a real store in a temporary directory on a fixed clock.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::admin::TotpOptions;
use crate::audit::{MemorySink, Severity};
use crate::base::clock::FixedClock;
use crate::base::otp::{TotpParams, totp_code};
use crate::mail::RecordingMailer;
use crate::policy::LockState;
use crate::store::{AuditStore, SqliteStore, StoreError, UserStore};
use crate::testing::TestCore;

mod combined;
mod enroll;
mod fido2;
mod first_factor;
mod names;
mod otp_only;
mod sms;
mod unproven;

const T0: u64 = 1_700_000_010;

type Env = TestCore;

fn env() -> Env {
    env_with("", None)
}

fn env_with(extra: &str, mailer: Option<Arc<RecordingMailer>>) -> Env {
    let text = format!(
        "[store]\npath = \"t.db\"\nkey_file = \"t.key\"\n[argon2]\nmemory_kib = 64\niterations = 1\n[policy]\nmax_failures = 5\nlockout = \"15m\"\nmax_tries = 3\n{extra}"
    );
    TestCore::new(&text, T0, mailer)
}

fn request(user: &str) -> LoginRequest {
    LoginRequest {
        source: Some("192.0.2.7".into()),
        auto_send: true,
        ..LoginRequest::code(user, "test")
    }
}

/// The lock state of `user` as stored.
fn lock_of(e: &Env, user: &str) -> LockState {
    let u = e.store.user(&crate::name_key(user)).unwrap().unwrap();
    e.store.user_data(u.id).unwrap().unwrap().lock
}

/// Enroll alice with an active TOTP factor; returns the raw secret and recovery codes.
fn enroll(e: &Env) -> (Vec<u8>, Vec<String>) {
    let en = e.enroll_totp("alice", &TotpOptions::activated());
    (en.secret, en.recovery)
}

fn code(secret: &[u8], t: u64) -> String {
    let p = TotpParams {
        algorithm: crate::config::TotpAlgorithm::Sha1,
        digits: 6,
        period: 30,
        window: 1,
    };
    totp_code(&p, secret, t).unwrap()
}

fn login(e: &Env, req: LoginRequest, answer: &str) -> Outcome {
    match e.auth.begin(req).unwrap() {
        Begin::Prompt(mut l, p) => {
            assert_eq!(p.text, "Verification code: ");
            assert!(!p.echo);
            e.auth.answer(&mut l, answer).unwrap()
        }
        Begin::Ignore => panic!("unexpected ignore"),
        Begin::Rejected(r) => Outcome::Rejected(r),
    }
}

#[test]
fn totp_accepts_once_then_refuses_replay() {
    let e = env();
    let (secret, _) = enroll(&e);
    let c = code(&secret, T0);
    assert!(matches!(
        login(&e, request("alice"), &c),
        Outcome::Accepted(Verified {
            method: Method::Totp { .. },
            ..
        })
    ));
    assert_eq!(
        login(&e, request("alice"), &c),
        Outcome::Rejected(Reject::Replayed)
    );
    // An older code inside the window is refused too: steps only move forward.
    assert_eq!(
        login(&e, request("alice"), &code(&secret, T0 - 30)),
        Outcome::Rejected(Reject::Replayed)
    );
    assert!(matches!(
        login(&e, request("alice"), &code(&secret, T0 + 30)),
        Outcome::Accepted(_)
    ));
}

#[test]
fn wrong_and_malformed_codes_are_refused() {
    let e = env();
    let (secret, _) = enroll(&e);
    let good = code(&secret, T0);
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_eq!(
        login(&e, request("alice"), &wrong),
        Outcome::Rejected(Reject::BadCode)
    );
    assert_eq!(
        login(&e, request("alice"), "12ab56"),
        Outcome::Rejected(Reject::Malformed)
    );
    assert_eq!(
        login(&e, request("alice"), ""),
        Outcome::Rejected(Reject::Malformed)
    );
    assert_eq!(
        login(&e, request("alice"), &code(&secret, T0 + 90)),
        Outcome::Rejected(Reject::BadCode),
        "outside the window"
    );
}

#[test]
fn recovery_code_works_once_in_any_typing() {
    let e = env();
    let (_, codes) = enroll(&e);
    assert_eq!(codes.len(), 10);
    let typed = codes[3].to_uppercase().replace('-', " ");
    match login(&e, request("alice"), &typed) {
        Outcome::Accepted(v) => assert_eq!(v.method, Method::Recovery { remaining: 9 }),
        o => panic!("{o:?}"),
    }
    // Used already: told, and not counted as a guess.
    assert_eq!(
        login(&e, request("alice"), &codes[3]),
        Outcome::Rejected(Reject::Replayed)
    );
    assert_eq!(lock_of(&e, "alice").codes.failures, 0);
    assert!(matches!(
        login(&e, request("alice"), &codes[4]),
        Outcome::Accepted(_)
    ));
}

#[test]
fn five_failures_lock_and_a_correct_code_is_then_refused_until_unlock() {
    let e = env();
    let (secret, _) = enroll(&e);
    for i in 0..4 {
        assert_eq!(
            login(&e, request("alice"), "000000"),
            Outcome::Rejected(Reject::BadCode),
            "attempt {i}"
        );
    }
    let until = T0 + 900;
    assert_eq!(
        login(&e, request("alice"), "000000"),
        Outcome::Rejected(Reject::LockedOut { until: Some(until) })
    );
    let good = code(&secret, T0);
    assert_eq!(
        login(&e, request("alice"), &good),
        Outcome::Rejected(Reject::LockedOut { until: Some(until) })
    );
    assert_eq!(
        Reject::LockedOut { until: Some(until) }.user_message(T0),
        "Too many failed attempts: the account is locked for 15 minutes."
    );
    e.admin.unlock_user("alice").unwrap();
    assert!(
        matches!(login(&e, request("alice"), &good), Outcome::Accepted(_)),
        "the code was not consumed while locked"
    );
}

#[test]
fn lock_expires_on_its_own() {
    let e = env();
    let (secret, _) = enroll(&e);
    for _ in 0..5 {
        login(&e, request("alice"), "000000");
    }
    e.clock.advance(901);
    assert!(matches!(
        login(&e, request("alice"), &code(&secret, T0 + 901)),
        Outcome::Accepted(_)
    ));
}

#[test]
fn retries_within_one_conversation_then_refusal() {
    let e = env();
    let (secret, _) = enroll(&e);
    let mut req = request("alice");
    req.max_tries = 3;
    let Begin::Prompt(mut l, _) = e.auth.begin(req).unwrap() else {
        panic!()
    };
    for _ in 0..2 {
        match e.auth.answer(&mut l, "000000").unwrap() {
            Outcome::Prompt(p) => assert_eq!(p.info.as_deref(), Some("Invalid code, try again.")),
            o => panic!("{o:?}"),
        }
    }
    assert_eq!(
        e.auth.answer(&mut l, "000000").unwrap(),
        Outcome::Rejected(Reject::BadCode)
    );
    assert!(l.is_finished());
    // A finished login accepts nothing more.
    assert_eq!(
        e.auth.answer(&mut l, &code(&secret, T0)).unwrap(),
        Outcome::Rejected(Reject::BadCode)
    );
    assert_eq!(lock_of(&e, "alice").codes.failures, 3);
}

#[test]
fn unknown_and_unenrolled_users_are_prompted_then_refused() {
    let e = env();
    assert_eq!(
        login(&e, request("nobody"), "123456"),
        Outcome::Rejected(Reject::UnknownUser)
    );
    e.admin.add_user("bob", None).unwrap();
    assert_eq!(
        login(&e, request("bob"), "123456"),
        Outcome::Rejected(Reject::NotEnrolled)
    );
    // A pending factor does not count as enrolled.
    e.admin.enroll_totp("bob", &TotpOptions::default()).unwrap();
    assert_eq!(
        login(&e, request("bob"), "123456"),
        Outcome::Rejected(Reject::NotEnrolled)
    );
}

#[test]
fn allow_unenrolled_ignores_but_never_accepts() {
    let e = env();
    let mut req = request("nobody");
    req.allow_unenrolled = true;
    assert!(matches!(e.auth.begin(req.clone()).unwrap(), Begin::Ignore));
    enroll(&e);
    req.user = "alice".into();
    assert!(
        matches!(e.auth.begin(req).unwrap(), Begin::Prompt(..)),
        "enrolled users still must answer"
    );
}

/// Under nullok a login let through (its password checked by the password module) has a row of
/// its own: it never folds into the row of a bogus name sent first from the same address.
#[test]
fn allow_unenrolled_a_login_let_through_keeps_its_own_row() {
    let e = env();
    for user in ["zz-nobody", "deploy"] {
        let mut req = request(user);
        req.allow_unenrolled = true;
        assert!(matches!(e.auth.begin(req).unwrap(), Begin::Ignore));
    }
    let rows = e.store.audit(Some("deploy"), 100).unwrap();
    assert_eq!(rows.len(), 1, "{:?}", e.store.audit(None, 100).unwrap());
    assert_eq!(
        (rows[0].result, rows[0].count),
        (crate::audit::AuditResult::Ignore, 1)
    );
}

#[test]
fn allow_unenrolled_with_a_store_that_refuses_the_audit_row_says_the_row_was_lost() {
    let e = env();
    rusqlite::Connection::open(e.store.path())
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit \
             BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
        )
        .unwrap();
    let mut req = request("nobody");
    req.allow_unenrolled = true;
    // Still PAM_IGNORE (the store answered who is enrolled; only the row failed) ...
    assert!(matches!(e.auth.begin(req).unwrap(), Begin::Ignore));
    // ... and the loss is told, with what the row said.
    let messages = e.sink.messages.lock().unwrap().clone();
    let lost = messages
        .iter()
        .find(|(s, m)| *s == Severity::Error && m.contains("audit row lost"))
        .unwrap_or_else(|| panic!("{messages:?}"));
    assert!(
        lost.1.contains("user=nobody") && lost.1.contains("result=ignore"),
        "{lost:?}"
    );
    assert!(e.store.audit(None, 10).unwrap().is_empty());
}

/// Unauthenticated input cannot grow the audit table without bound: a flood of unknown names
/// from one place is one row a minute, and from many places the row cap holds after the
/// maintenance prune (what the RADIUS server's maintenance thread calls once a minute).
#[test]
fn a_flood_of_unknown_names_does_not_grow_the_audit_table_past_its_bound() {
    let e = env_with("[audit]\nmax_rows = 100\n", None);
    for i in 0..300 {
        let out = login(&e, request(&format!("bot{i}")), "123456");
        assert_eq!(out, Outcome::Rejected(Reject::UnknownUser));
    }
    let all = e.store.audit(None, 1000).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].count, 300);
    // From 1000 sources within the minute: a row each for the first ones, then one overflow
    // row without a source; then the newest 100 after the prune.
    for i in 0..1000 {
        let req = LoginRequest {
            source: Some(format!("10.1.{}.{}", i / 250, i % 250)),
            ..request("bot")
        };
        login(&e, req, "123456");
    }
    let n = crate::audit::FLOOD_ROWS_PER_WINDOW as usize;
    let all = e.store.audit(None, 10_000).unwrap();
    assert_eq!(all.len(), n + 1);
    assert_eq!(
        (all[0].source.as_deref(), all[0].count),
        (None, 1000 - (n as u32 - 1)),
        "the overflow row"
    );
    e.auth.prune(10_000).unwrap();
    let left = e.store.audit(None, 10_000).unwrap();
    assert_eq!(left.len(), 100);
    assert!(
        left.iter()
            .all(|r| r.source.as_deref() != Some("192.0.2.7")),
        "the oldest went"
    );
    // And age: past `[audit] keep` (90 days by default) everything goes.
    e.clock.advance(91 * 24 * 3600);
    e.auth.prune(10_000).unwrap();
    assert!(e.store.audit(None, 10).unwrap().is_empty());
}

/// Rows of known accounts are not for unauthenticated input to push out: a flood of unknown
/// names from many places (one IPv6 /64, or as many forged sources as the cap on rows per
/// minute lets through) is pruned first, and alice's login stays.
#[test]
fn an_unauthenticated_flood_never_evicts_a_login_through_max_rows() {
    let e = env_with("[audit]\nmax_rows = 100\n", None);
    let (secret, _) = enroll(&e);
    assert!(matches!(
        login(&e, request("alice"), &code(&secret, T0)),
        Outcome::Accepted(_)
    ));
    let accepts = |e: &Env| {
        e.store
            .audit(Some("alice"), 100)
            .unwrap()
            .into_iter()
            .filter(|r| r.result == crate::audit::AuditResult::Accept)
            .count()
    };
    for src in (0..150u32)
        .map(|i| format!("2001:db8:1:2::{:x}", i + 1))
        .chain((0..300u32).map(|i| format!("10.2.{}.{}", i / 250, i % 250)))
    {
        let req = LoginRequest {
            source: Some(src.clone()),
            origin: Some(src),
            ..request("bot")
        };
        assert_eq!(
            login(&e, req, "123456"),
            Outcome::Rejected(Reject::UnknownUser)
        );
        e.auth.prune(10_000).unwrap();
    }
    assert_eq!(
        accepts(&e),
        1,
        "alice's accepted login was pruned by rows nobody authenticated"
    );
    assert!(e.store.audit(None, 10_000).unwrap().len() <= 100);
}

/// When the rows of accounts alone pass `max_rows`, the oldest go even within `keep`, and
/// the administrator is warned that the promised history is cut short.
#[test]
fn pruning_rows_of_accounts_younger_than_keep_is_warned_about() {
    let e = env_with("[audit]\nmax_rows = 100\n", None);
    for i in 0..150 {
        e.admin.add_user(&format!("user{i}"), None).unwrap();
    }
    e.auth.prune(10_000).unwrap();
    assert_eq!(e.store.audit(None, 10_000).unwrap().len(), 100);
    let messages = e.sink.messages.lock().unwrap().clone();
    assert!(
        messages.iter().any(|(s, m)| *s == Severity::Warning
            && m.contains("50 row(s) of accounts younger than [audit] keep")),
        "{messages:?}"
    );
}

/// A PAM-only host (the module after the password module: every decision with the first
/// factor proven) applies the retention too, at most once a minute.
#[test]
fn pam_decisions_after_the_password_apply_the_retention_once_a_minute() {
    let e = env_with("[audit]\nkeep = \"1h\"\n", None);
    let (secret, _) = enroll(&e);
    assert!(matches!(
        login(&e, request("alice"), &code(&secret, T0)),
        Outcome::Accepted(_)
    ));
    e.clock.advance(2 * 3600);
    let rows_of = |e: &Env| e.store.audit(Some("alice"), 100).unwrap().len();
    assert_eq!(
        login(&e, request("alice"), "000000"),
        Outcome::Rejected(Reject::BadCode)
    );
    assert_eq!(rows_of(&e), 1, "the login of two hours ago was not pruned");
    // A row past `keep` left now is not looked at again within the minute ...
    let old = AuditEvent {
        at: e.clock.now() - 2 * 3600,
        ..e.store.audit(Some("alice"), 1).unwrap()[0].clone()
    };
    e.store.append_audit(&old).unwrap();
    login(&e, request("alice"), "000000");
    assert_eq!(rows_of(&e), 3);
    // ... but at the next decision after it.
    e.clock.advance(61);
    login(&e, request("alice"), "000000");
    assert_eq!(rows_of(&e), 3, "one pruned, one added");
    assert!(
        e.store
            .audit(Some("alice"), 100)
            .unwrap()
            .iter()
            .all(|r| r.at + 3600 > e.clock.now())
    );
}

#[test]
fn invalid_user_names_are_refused_without_lookup() {
    let e = env();
    for bad in ["", "a/b", "a\nb"] {
        assert!(matches!(
            e.auth.begin(request(bad)).unwrap(),
            Begin::Rejected(Reject::InvalidUser)
        ));
    }
}

#[test]
fn every_result_is_audited_without_codes() {
    let e = env();
    let (secret, codes) = enroll(&e);
    let good = code(&secret, T0);
    login(&e, request("alice"), &good);
    login(&e, request("alice"), "999999");
    login(&e, request("alice"), &codes[0]);
    let rows = e.store.audit(Some("alice"), 100).unwrap();
    let logins: Vec<_> = rows.iter().filter(|r| r.service == "test").collect();
    assert_eq!(logins.len(), 3);
    assert_eq!(logins[2].result, AuditResult::Accept);
    assert_eq!(logins[2].method.as_deref(), Some("totp"));
    assert_eq!(logins[2].source.as_deref(), Some("192.0.2.7"));
    assert_eq!(logins[1].detail.as_deref(), Some("bad_code"));
    assert_eq!(logins[0].method.as_deref(), Some("recovery"));
    let synced = e.sink.events();
    assert!(synced.iter().filter(|ev| ev.service == "test").count() == 3);
    for ev in rows.iter().chain(synced.iter()) {
        let line = format!("{ev:?} {ev}");
        assert!(
            !line.contains(&good) && !line.contains("999999") && !line.contains(&codes[0]),
            "{line}"
        );
    }
}

#[test]
fn row_moved_to_another_user_fails_closed() {
    let e = env();
    enroll(&e);
    e.admin.add_user("mallory", None).unwrap();
    let conn = rusqlite::Connection::open(e.store.path()).unwrap();
    conn.execute(
        "UPDATE factors SET user_id = (SELECT id FROM users WHERE name = 'mallory')",
        [],
    )
    .unwrap();
    let Begin::Prompt(mut l, _) = e.auth.begin(request("mallory")).unwrap() else {
        panic!()
    };
    let err = e.auth.answer(&mut l, "123456").unwrap_err();
    assert!(matches!(err, CoreError::SecretUnsealFailed { .. }), "{err}");
}

#[test]
fn concurrent_checks_of_one_code_accept_exactly_once() {
    let e = env();
    let (secret, _) = enroll(&e);
    let good = code(&secret, T0);
    let cfg = e.auth.config().clone();
    let path = e.store.path().to_path_buf();
    let keyfile = cfg.store.key_file.clone();
    let results: Vec<Result<bool, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let good = good.clone();
                let cfg = cfg.clone();
                let (path, keyfile) = (path.clone(), keyfile.clone());
                s.spawn(move || {
                    // Each thread is its own "process": own store, own connection.
                    assert!(Path::new(&path).exists());
                    let store = Arc::new(SqliteStore::open(&cfg.store).map_err(|e| e.to_string())?);
                    let key = Arc::new(MasterKey::load(&keyfile).map_err(|e| e.to_string())?);
                    let auth = Authenticator::new(
                        Arc::new(cfg),
                        store,
                        key,
                        Arc::new(FixedClock::new(T0)),
                        Arc::new(MemorySink::default()),
                    );
                    let mut l = match auth.begin(request("alice")).map_err(|e| e.to_string())? {
                        Begin::Prompt(l, _) => l,
                        Begin::Rejected(Reject::LockedOut { .. }) => return Ok(false),
                        b => return Err(format!("{b:?}")),
                    };
                    match auth.answer(&mut l, &good).map_err(|e| e.to_string())? {
                        Outcome::Accepted(_) => Ok(true),
                        // A replay is not a guess: the losers are told, and nothing locks.
                        Outcome::Rejected(Reject::Replayed) => Ok(false),
                        o => Err(format!("{o:?}")),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(results.iter().filter(|r| matches!(r, Ok(true))).count(), 1);
    assert_eq!(
        lock_of(&e, "alice").codes,
        crate::policy::Counter::default()
    );
}

const EMAIL: &str = "[email]\nsmtp_host = \"127.0.0.1\"\nfrom = \"tessera@example.com\"\nmin_interval = \"60s\"\nmax_tries = 3\n";

fn email_env() -> (Env, Arc<RecordingMailer>) {
    let m = Arc::new(RecordingMailer::default());
    (env_with(EMAIL, Some(m.clone())), m)
}

/// alice with an active e-mail factor (confirmed through the enrollment mail).
fn enroll_email(e: &Env, m: &RecordingMailer) -> Vec<String> {
    e.admin
        .add_user("alice", Some("alice@example.com"))
        .unwrap();
    let en = e.admin.enroll_email("alice", None, None).unwrap();
    assert_eq!(en.masked, "a***@example.com");
    let code = m.last_code("alice@example.com").unwrap();
    let c = e
        .admin
        .confirm_factor("alice", en.factor_id, &code)
        .unwrap();
    // The enrollment code is spent; later logins need a fresh one (past the send interval).
    e.clock.advance(61);
    c.recovery_codes
        .unwrap()
        .iter()
        .map(|c| c.expose().clone())
        .collect()
}

/// A send given up at `[email] timeout` withdraws its code but keeps the send interval: the
/// same user cannot make Tessera start a new send to a hung server at every attempt, and the
/// mail that arrives late carries a dead code.
#[test]
fn a_timed_out_send_withdraws_its_code_and_the_send_interval_still_holds() {
    let (e, m) = email_env();
    enroll_email(&e, &m);
    m.time_out.store(true, std::sync::atomic::Ordering::SeqCst);
    let before = m.messages().len();
    let Begin::Prompt(mut l, p) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    assert_eq!(p.after, Some(Reject::MailFailed), "{p:?}");
    let late = m.last_code("alice@example.com").unwrap();
    assert!(!matches!(
        e.auth.answer(&mut l, &late).unwrap(),
        Outcome::Accepted(_)
    ));
    let Begin::Prompt(_, p) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    assert!(
        p.info
            .as_deref()
            .is_some_and(|i| i.contains("A new code can be e-mailed in")),
        "{p:?}"
    );
    assert_eq!(m.messages().len(), before + 1, "no new send");
}

#[test]
fn email_only_user_is_sent_a_code_at_once_and_it_works_once() {
    let (e, m) = email_env();
    enroll_email(&e, &m);
    let before = m.messages().len();
    let Begin::Prompt(mut l, p) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    assert_eq!(p.text, "A code was sent to a***@example.com. Code: ");
    assert_eq!(m.messages().len(), before + 1);
    let (_, subject, body) = m.messages().last().unwrap().clone();
    let code = m.last_code("alice@example.com").unwrap();
    assert!(
        !subject.contains(&code),
        "the subject never carries the code"
    );
    assert!(
        body.contains("test") && body.contains("192.0.2.7"),
        "{body}"
    );
    match e.auth.answer(&mut l, &code).unwrap() {
        Outcome::Accepted(v) => assert!(matches!(v.method, Method::Email { .. })),
        o => panic!("{o:?}"),
    }
    // Single use: the same code in a new login (rate limited: no new mail) fails.
    let Begin::Prompt(mut l, p) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    assert!(
        p.info
            .as_deref()
            .unwrap()
            .contains("A new code can be e-mailed in"),
        "{p:?}"
    );
    // Used already: the user needs a new one; not counted as a guess.
    assert_eq!(
        e.auth.answer(&mut l, &code).unwrap(),
        Outcome::Rejected(Reject::Expired)
    );
    // Nothing in the audit log carries the code.
    for ev in e.store.audit(None, 100).unwrap() {
        assert!(!format!("{ev:?}").contains(&code));
    }
}

#[test]
fn sends_are_rate_limited_and_a_new_send_replaces_the_code() {
    let (e, m) = email_env();
    enroll_email(&e, &m);
    let n0 = m.messages().len();
    let Begin::Prompt(..) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    let first = m.last_code("alice@example.com").unwrap();
    e.clock.advance(10);
    let mut req = request("alice");
    req.max_tries = 3;
    let Begin::Prompt(mut l, p) = e.auth.begin(req).unwrap() else {
        panic!()
    };
    assert_eq!(
        m.messages().len(),
        n0 + 1,
        "no second mail within min_interval"
    );
    assert!(p.info.unwrap().contains("still valid"));
    e.clock.advance(60);
    // An explicit request after the interval sends a new code that replaces the first.
    match e.auth.answer(&mut l, "email").unwrap() {
        Outcome::Prompt(p) => assert_eq!(p.text, "A code was sent to a***@example.com. Code: "),
        o => panic!("{o:?}"),
    }
    assert_eq!(m.messages().len(), n0 + 2);
    let second = m.last_code("alice@example.com").unwrap();
    if first != second {
        match e.auth.answer(&mut l, &first).unwrap() {
            Outcome::Prompt(_) => {}
            o => panic!("{o:?}"),
        }
    }
    assert!(matches!(
        e.auth.answer(&mut l, &second).unwrap(),
        Outcome::Accepted(_)
    ));
}

#[test]
fn email_code_dies_after_max_tries_and_expires() {
    let (e, m) = email_env();
    enroll_email(&e, &m);
    let Begin::Prompt(..) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    let code = m.last_code("alice@example.com").unwrap();
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for _ in 0..3 {
        let Begin::Prompt(mut l, _) = e.auth.begin(request("alice")).unwrap() else {
            panic!()
        };
        assert_eq!(
            e.auth.answer(&mut l, &wrong).unwrap(),
            Outcome::Rejected(Reject::BadCode)
        );
    }
    let Begin::Prompt(mut l, _) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    assert_eq!(
        e.auth.answer(&mut l, &code).unwrap(),
        Outcome::Rejected(Reject::Expired),
        "max_tries spent: the code is dead, the user needs a new one"
    );

    e.admin.unlock_user("alice").unwrap();
    e.clock.advance(61);
    let Begin::Prompt(mut l, _) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    let code = m.last_code("alice@example.com").unwrap();
    e.clock.advance(601);
    assert_eq!(
        e.auth.answer(&mut l, &code).unwrap(),
        Outcome::Rejected(Reject::Expired)
    );
}

#[test]
fn mail_failure_denies_email_only_users_and_leaves_others_another_way() {
    let (e, m) = email_env();
    let codes = enroll_email(&e, &m);
    m.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    // The user still has recovery codes: told, and offered the other way.
    let Begin::Prompt(mut l, p) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    assert_eq!(p.info.as_deref(), Some(MAIL_FAILED));
    assert_eq!(p.after, Some(Reject::MailFailed), "nothing was sent");
    assert!(matches!(
        e.auth.answer(&mut l, &codes[0]).unwrap(),
        Outcome::Accepted(_)
    ));
    // Without recovery codes, the login is denied with the clear message.
    rusqlite::Connection::open(e.store.path())
        .unwrap()
        .execute_batch("DELETE FROM recovery_batches")
        .unwrap();
    match e.auth.begin(request("alice")).unwrap() {
        Begin::Rejected(r) => {
            assert_eq!(r, Reject::MailFailed);
            assert_eq!(r.user_message(0), MAIL_FAILED);
        }
        b => panic!("{b:?}"),
    }
    let audit = e.store.audit(Some("alice"), 10).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.detail.as_deref().unwrap_or("").contains("mail_failed"))
    );
    // The audit table has the masked address and the reply code, never the server's text
    // (which quotes the full address).
    for a in &audit {
        let detail = a.detail.as_deref().unwrap_or("");
        assert!(!detail.contains("alice@example.com"), "{detail}");
        assert!(!detail.contains("mailbox unavailable"), "{detail}");
    }
    assert!(audit.iter().any(|a| a.detail.as_deref()
        == Some("mail_failed to a***@example.com: smtp_reply_550")));
}

#[test]
fn totp_user_with_email_gets_a_code_on_request() {
    let (e, m) = email_env();
    let (secret, _) = enroll(&e);
    let id = e.store.user("alice").unwrap().unwrap().id;
    e.store.set_email(id, Some("alice@example.com")).unwrap();
    let en = e.admin.enroll_email("alice", None, Some("work")).unwrap();
    e.admin
        .confirm_factor(
            "alice",
            en.factor_id,
            &m.last_code("alice@example.com").unwrap(),
        )
        .unwrap();
    e.clock.advance(61);
    let n = m.messages().len();
    let Begin::Prompt(mut l, p) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    assert!(
        p.text.contains("press Enter to get one by email"),
        "{}",
        p.text
    );
    assert_eq!(
        m.messages().len(),
        n,
        "TOTP is preferred: nothing sent unasked"
    );
    match e.auth.answer(&mut l, "").unwrap() {
        Outcome::Prompt(p) => assert!(p.text.starts_with("A code was sent to a***@example.com")),
        o => panic!("{o:?}"),
    }
    let code = m.last_code("alice@example.com").unwrap();
    assert!(matches!(
        e.auth.answer(&mut l, &code).unwrap(),
        Outcome::Accepted(_)
    ));
    // TOTP still works too.
    assert!(matches!(
        login_any(&e, &code_at(&secret, T0 + 61)),
        Outcome::Accepted(_)
    ));
}

fn code_at(secret: &[u8], t: u64) -> String {
    code(secret, t)
}

fn login_any(e: &Env, answer: &str) -> Outcome {
    match e.auth.begin(request("alice")).unwrap() {
        Begin::Prompt(mut l, _) => e.auth.answer(&mut l, answer).unwrap(),
        b => panic!("{b:?}"),
    }
}

#[test]
fn email_enrollment_failures_leave_nothing_behind() {
    let (e, m) = email_env();
    e.admin.add_user("alice", None).unwrap();
    assert!(
        e.admin
            .enroll_email("alice", None, None)
            .unwrap_err()
            .to_string()
            .contains("--address")
    );
    m.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = e
        .admin
        .enroll_email("alice", Some("alice@example.com"), None)
        .unwrap_err();
    assert!(
        err.to_string().contains("could not send a code by e-mail"),
        "{err}"
    );
    assert!(e.admin.factors("alice").unwrap().is_empty());
    m.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let en = e
        .admin
        .enroll_email("alice", Some("alice@example.com"), None)
        .unwrap();
    let err = e
        .admin
        .confirm_factor("alice", en.factor_id, "000000")
        .unwrap_err();
    assert!(
        matches!(err, CoreError::ConfirmationFailed { .. })
            || m.last_code("alice@example.com").unwrap() == "000000"
    );
    let no_email = env();
    no_email
        .admin
        .add_user("bob", Some("bob@example.com"))
        .unwrap();
    let err = no_email.admin.enroll_email("bob", None, None).unwrap_err();
    assert!(matches!(err, CoreError::EmailNotConfigured(_)), "{err}");
}

#[test]
fn no_auto_send_when_the_answer_is_already_in_hand() {
    let (e, m) = email_env();
    enroll_email(&e, &m);
    let Begin::Prompt(..) = e.auth.begin(request("alice")).unwrap() else {
        panic!()
    };
    let code = m.last_code("alice@example.com").unwrap();
    let n = m.messages().len();
    e.clock.advance(61);
    let mut req = request("alice");
    req.auto_send = false;
    let Begin::Prompt(mut l, _) = e.auth.begin(req).unwrap() else {
        panic!()
    };
    assert_eq!(m.messages().len(), n, "nothing sent");
    assert!(
        matches!(e.auth.answer(&mut l, &code).unwrap(), Outcome::Accepted(_)),
        "the mailed code still works"
    );
}

#[test]
fn a_batch_decides_many_logins_and_reports_them_after_the_commit() {
    let e = env();
    let (secret, _) = enroll(&e);
    let c = code(&secret, T0);
    let before = e.sink.events().len();
    let outcomes = e
        .auth
        .batch(|| {
            let first = login(&e, request("alice"), &c);
            let again = login(&e, request("alice"), &c);
            // Nothing reaches syslog before the commit.
            assert_eq!(e.sink.events().len(), before);
            (first, again)
        })
        .unwrap();
    assert!(
        matches!(outcomes.0, Outcome::Accepted(_)),
        "{:?}",
        outcomes.0
    );
    assert_eq!(outcomes.1, Outcome::Rejected(Reject::Replayed));
    let events = e.sink.events();
    assert_eq!(events.len(), before + 2);
    assert_eq!(events[before].result, AuditResult::Accept);
    assert_eq!(events[before + 1].result, AuditResult::Reject);
    // Committed: the step is spent for good.
    assert_eq!(
        login(&e, request("alice"), &c),
        Outcome::Rejected(Reject::Replayed)
    );
}

#[test]
fn a_batch_that_cannot_commit_reports_nothing_and_keeps_nothing() {
    let e = env();
    let (secret, _) = enroll(&e);
    let c = code(&secret, T0);
    let before = e.sink.events().len();
    let r = e.auth.batch(|| {
        let accepted = login(&e, request("alice"), &c);
        // A failing statement aborts the batch (here: a duplicate user).
        assert!(e.store.add_user("alice", "alice", None, T0).is_err());
        accepted
    });
    assert!(
        matches!(r, Err(CoreError::Store(StoreError::Aborted { .. }))),
        "{r:?}"
    );
    assert_eq!(
        e.sink.events().len(),
        before,
        "no syslog line for an outcome not kept"
    );
    // The code was not consumed: it still logs in.
    assert!(matches!(
        login(&e, request("alice"), &c),
        Outcome::Accepted(_)
    ));
}

#[test]
fn quick_answers_need_no_argon2_and_no_mail() {
    let e = env();
    assert!(e.auth.answer_is_quick(FirstFactor::Proven, "123456"));
    assert!(e.auth.answer_is_quick(FirstFactor::Proven, " 1234567 "));
    assert!(e.auth.answer_is_quick(FirstFactor::Proven, "wrong!"));
    // A request for an e-mailed code sends mail.
    assert!(!e.auth.answer_is_quick(FirstFactor::Proven, ""));
    assert!(!e.auth.answer_is_quick(FirstFactor::Proven, "email"));
    // Anything shaped like a recovery code costs an Argon2 evaluation.
    assert!(
        !e.auth
            .answer_is_quick(FirstFactor::Proven, "abcd-efgh-jkmn")
    );
    assert!(!e.auth.answer_is_quick(FirstFactor::Proven, "ABCDEFGHJKMN"));
    // So does an 8-digit answer: it may be an imported google-authenticator scratch code.
    assert!(!e.auth.answer_is_quick(FirstFactor::Proven, "12345678"));
    // An OpenVPN static challenge carries a password: checked (Argon2) where Tessera checks
    // passwords, not where it was proven elsewhere.
    let scrv1 = "SCRV1:aHVudGVyMg==:MTIzNDU2";
    assert!(!e.auth.answer_is_quick(FirstFactor::Password, scrv1));
    assert!(e.auth.answer_is_quick(FirstFactor::Proven, scrv1));
    // Where the answer must carry the password, one without it costs a dummy evaluation.
    assert!(!e.auth.answer_is_quick(FirstFactor::Password, "123456"));
}

#[test]
fn a_failed_batch_is_reported_for_each_login_in_one_go() {
    let e = env();
    let before = e.sink.events().len();
    let who = [request("alice"), request("bob")];
    let error = CoreError::Store(StoreError::Aborted {
        path: "t.db".into(),
    });
    e.auth.report_batch_error(&who, &error);
    let events = e.sink.events();
    assert_eq!(events.len(), before + 2);
    for (event, user) in events[before..].iter().zip(["alice", "bob"]) {
        assert_eq!(
            (event.user.as_str(), event.result),
            (user, AuditResult::Error)
        );
    }
    let rows = e.store.audit(None, 10).unwrap();
    assert_eq!(
        rows.iter()
            .filter(|r| r.result == AuditResult::Error)
            .count(),
        2
    );
}
