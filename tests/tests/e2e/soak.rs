//! Soak: 64 PAM authentications at a time (pamtester processes, each opening the store) and a
//! RADIUS login storm, on one database, all trying the same users' current codes. Every code
//! is accepted exactly once, whichever front-end tries it first; every other try is told
//! "replayed" (never a wrong code, never "cannot decide" because the database was busy); the
//! audit table has one row per answer seen, and the database is intact at the end.
//!
//! 20 s by default; `TESSERA_SOAK_SECS=N` makes it N seconds (docs/reliability.md records a
//! long run).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tessera_tests::Install;

use crate::pam::{AUTH_ERR, Service};
use crate::radius::{SECRET, start};
use crate::storm::{
    Answer, Attempt, accepted_once, audit_counts, enroll, integrity, now, open_db, secs_from_env,
    storm, wrong_answers,
};

/// PAM authentications in flight at once.
const PAM_CONCURRENCY: usize = 64;

#[test]
fn pam_and_radius_soak_accept_every_code_once_and_audit_every_answer() {
    let soak_for = secs_from_env("TESSERA_SOAK_SECS", 20);
    let t = Install::new(&format!(
        // The NAS checked the password (otp-only with first_factor = "password" needs SCRV1:).
        "[radius]\nlisten = [\"127.0.0.1:0\"]\nmode = \"otp-only\"\nfirst_factor = \"none\"\n\n\
         [[radius.clients]]\nname = \"local\"\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n\n\
         [policy]\nmax_tries = 1\n"
    ));
    let users = enroll(&t.config, "soak", 24);
    let svc = Arc::new(Service::tessera(&t, ""));
    let s = start(t);

    let stop = Arc::new(AtomicBool::new(false));
    let radius = storm(
        SECRET,
        Arc::new(Mutex::new(s.addr())),
        &users,
        4,
        stop.clone(),
    );
    let deadline = Instant::now() + soak_for;
    let pam: Vec<_> = (0..PAM_CONCURRENCY)
        .map(|k| {
            let (users, svc) = (users.clone(), svc.clone());
            std::thread::spawn(move || {
                let (mut attempts, mut other) = (Vec::new(), Vec::new());
                let mut i = k;
                while Instant::now() < deadline {
                    let u = &users[i % users.len()];
                    i += 1;
                    let (code, step) = u.code_at(now());
                    let run = svc.pamtester(&u.name, &format!("{code}\n"), &[]);
                    let answer = if run.ok() {
                        Answer::Accept
                    } else if run.out.contains(AUTH_ERR) {
                        Answer::Reject(AUTH_ERR.into())
                    } else {
                        other.push(format!("{}: {:?}\n{}", u.name, run.code, run.out));
                        continue;
                    };
                    attempts.push(Attempt {
                        user: u.name.clone(),
                        code,
                        step,
                        answer,
                    });
                }
                (attempts, other)
            })
        })
        .collect();
    let mut pam_attempts = Vec::new();
    let mut pam_other = Vec::new();
    for t in pam {
        let (a, o) = t.join().unwrap();
        pam_attempts.extend(a);
        pam_other.extend(o);
    }
    stop.store(true, Ordering::Relaxed);
    let radius_attempts = radius.join().unwrap();

    // What the front-ends recorded when they could not decide.
    let db = open_db(&s.install);
    let undecided: Vec<(String, String, String, i64)> = db
        .prepare(
            "SELECT service, result, coalesce(detail, ''), sum(count) FROM audit
             WHERE service IN ('tessera-test', 'local') AND result NOT IN ('accept', 'reject')
             GROUP BY service, result, detail",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        undecided.is_empty() && pam_other.is_empty(),
        "undecided in the audit: {undecided:?}; {} PAM runs neither accepted nor refused, \
         e.g.:\n{}",
        pam_other.len(),
        pam_other[..pam_other.len().min(3)].join("\n")
    );
    let wrong = wrong_answers(&radius_attempts);
    assert!(
        wrong.is_empty(),
        "valid codes refused over RADIUS: {:?}",
        &wrong[..wrong.len().min(5)]
    );
    let timeouts = radius_attempts
        .iter()
        .filter(|a| a.answer == Answer::Timeout)
        .count();
    assert_eq!(timeouts, 0, "RADIUS requests left unanswered");
    let all: Vec<Attempt> = pam_attempts
        .iter()
        .chain(&radius_attempts)
        .cloned()
        .collect();
    let accepted = accepted_once(&all);
    let steps: std::collections::HashSet<u64> = all.iter().map(|a| a.step).collect();
    assert!(
        accepted.len() >= users.len(),
        "only {} codes accepted in {} steps",
        accepted.len(),
        steps.len()
    );

    // The audit table: one row per answer, and every refusal a replay.
    assert_eq!(integrity(&db), "ok");
    let count = |attempts: &[Attempt], accept: bool| {
        attempts
            .iter()
            .filter(|a| (a.answer == Answer::Accept) == accept)
            .count() as u64
    };
    let total = |audit: &HashMap<(String, String), u64>, result: &str| {
        audit
            .iter()
            .filter(|((_, r), _)| r == result)
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    for (service, attempts) in [("tessera-test", &pam_attempts), ("local", &radius_attempts)] {
        let audit = audit_counts(&db, service);
        assert_eq!(
            total(&audit, "accept"),
            count(attempts, true),
            "{service}: audited accepts"
        );
        assert_eq!(
            total(&audit, "reject"),
            count(attempts, false),
            "{service}: audited rejects"
        );
    }
    let details: Vec<(String, String, i64)> = db
        .prepare(
            "SELECT service, coalesce(detail, ''), sum(count) FROM audit
             WHERE result = 'reject' GROUP BY service, detail",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        details.iter().all(|(_, d, _)| d == "replayed"),
        "refusals other than replays: {details:?}"
    );
    let pam_accepts = count(&pam_attempts, true);
    eprintln!(
        "soak: {:.0} s, {} steps: PAM {} authentications ({pam_accepts} accepted), RADIUS {} \
         requests ({} accepted), {} codes accepted once each, audit rows match, integrity ok",
        soak_for.as_secs_f64(),
        steps.len(),
        pam_attempts.len(),
        radius_attempts.len(),
        count(&radius_attempts, true),
        accepted.len()
    );
}
