//! `kill -9` of tessera-radiusd in the middle of a login storm, then a restart: the database is
//! intact, no enrollment is lost, no code accepted before the kill is accepted again, and every
//! Access-Accept the storm saw has its audit row.
//!
//! The storm lasts a few seconds before the kill; `TESSERA_CRASH_SECS=N` makes it N seconds
//! (docs/reliability.md records a long run).

use std::collections::HashSet;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_tests::radius::Signer;

use crate::radius::{SECRET, install_with, start};
use crate::storm::{
    Answer, accepted_once, audit_counts, enroll, integrity, open_db, secs_from_env, storm,
    try_code, wrong_answers,
};

#[test]
fn radius_kill_9_in_a_login_storm_loses_nothing_and_replays_nothing() {
    let storm_for = secs_from_env("TESSERA_CRASH_SECS", 4);
    // The NAS checked the password (otp-only with first_factor = "password" needs SCRV1:).
    let t = install_with("mode = \"otp-only\"\nfirst_factor = \"none\"", "", "");
    let users = enroll(&t.config, "storm", 40);
    let mut s = start(t);
    let addr = Arc::new(Mutex::new(s.addr()));

    // The storm, and enrollments beside it (another process's writes on the same database).
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = storm(SECRET, addr.clone(), &users, 6, stop.clone());
    let stop_enrolling = Arc::new(AtomicBool::new(false));
    let enrolling = {
        let (stop, config) = (stop_enrolling.clone(), s.install.config.clone());
        std::thread::spawn(move || {
            let mut late = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                late.extend(enroll(&config, &format!("late{}-", late.len()), 1));
            }
            late
        })
    };
    let begun = Instant::now();
    std::thread::sleep(storm_for);
    s.kill9();
    let killed_after = begun.elapsed();
    stop.store(true, Ordering::Relaxed);
    stop_enrolling.store(true, Ordering::Relaxed);
    let attempts = attempts.join().unwrap();
    let late = enrolling.join().unwrap();

    let accepted = accepted_once(&attempts);
    let timeouts = attempts
        .iter()
        .filter(|a| a.answer == Answer::Timeout)
        .count() as u64;
    assert!(
        accepted.len() >= users.len(),
        "the storm saw only {} accepts",
        accepted.len()
    );
    let wrong = wrong_answers(&attempts);
    assert!(
        wrong.is_empty(),
        "valid codes refused: {:?}",
        &wrong[..wrong.len().min(5)]
    );

    // The database as the kill left it.
    let db = open_db(&s.install);
    assert_eq!(integrity(&db), "ok");
    let audit = audit_counts(&db, "local");
    let audited = |user: &str| {
        audit
            .get(&(user.to_string(), "accept".into()))
            .copied()
            .unwrap_or(0)
    };
    let mut audit_accepts = 0;
    for u in &users {
        let seen = accepted.keys().filter(|(name, _)| *name == u.name).count() as u64;
        assert!(
            audited(&u.name) >= seen,
            "{}: {seen} accepts seen, {} audit rows",
            u.name,
            audited(&u.name)
        );
        audit_accepts += audited(&u.name);
    }
    // More rows than answers only for requests the kill cut off.
    assert!(
        audit_accepts <= accepted.len() as u64 + timeouts,
        "{audit_accepts} audit accepts, {} seen, {timeouts} unanswered",
        accepted.len()
    );
    let active: HashSet<String> = db
        .prepare(
            "SELECT u.name FROM users u JOIN factors f ON f.user_id = u.id
             WHERE f.kind = 'totp' AND f.status = 'active'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!late.is_empty(), "no enrollment finished during the storm");
    for name in users.iter().chain(&late).map(|u| &u.name) {
        assert!(active.contains(name), "{name}'s enrollment was lost");
    }
    drop(db);

    // Restarted: no code accepted before the kill is accepted again; a new user logs in.
    s.restart();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let signer = Signer::new(SECRET);
    for (i, ((user, step), code)) in accepted.iter().enumerate() {
        let answer = try_code(
            &sock,
            &signer,
            s.addr(),
            i as u8,
            user,
            code,
            Duration::from_secs(5),
        );
        assert!(
            matches!(answer, Answer::Reject(_)),
            "{user}'s code {code} (step {step}) after the restart: {answer:?}"
        );
    }
    let newcomer = late.last().unwrap();
    let (code, _) = newcomer.code_now();
    let answer = try_code(
        &sock,
        &signer,
        s.addr(),
        0,
        &newcomer.name,
        &code,
        Duration::from_secs(5),
    );
    assert_eq!(
        answer,
        Answer::Accept,
        "{} after the restart",
        newcomer.name
    );
    eprintln!(
        "crash: killed after {:.1} s of storm: {} requests, {} accepts ({audit_accepts} audit \
         rows), {timeouts} cut off, {} enrollments beside it, integrity ok, {} replays refused \
         after the restart",
        killed_after.as_secs_f64(),
        attempts.len(),
        accepted.len(),
        late.len(),
        accepted.len()
    );
}
