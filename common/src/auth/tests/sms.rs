//! Codes by SMS in the login flow: the e-mailed code's rules, another channel.

use super::*;
use crate::sms::RecordingTexter;
use crate::store::{FactorStore, RecoveryStore};

const NUMBER: &str = "+447700900123";

/// An installation with `[sms]` (and `[email]`), the texter and mailer recording.
fn env_sms(extra: &str) -> (Env, Arc<RecordingTexter>, Arc<RecordingMailer>) {
    let mailer = Arc::new(RecordingMailer::default());
    let text = format!(
        "[store]\npath = \"t.db\"\nkey_file = \"t.key\"\n[argon2]\nmemory_kib = 64\niterations = 1\n[email]\nsmtp_host = \"localhost\"\nfrom = \"t@example.com\"\n[sms]\ngateway = \"command\"\ncommand = \"send-sms\"\n{extra}[policy]\nmax_failures = 5\nmax_tries = 3\n"
    );
    let mut e = TestCore::new(&text, T0, Some(mailer.clone()));
    let texter = Arc::new(RecordingTexter::default());
    let auth = Authenticator::new(
        e.config.clone(),
        e.store.clone(),
        Arc::new(crate::testing::MasterKey::load(&e.config.store.key_file).unwrap()),
        e.clock.clone(),
        e.sink.clone(),
    )
    .with_mailer(mailer.clone())
    .with_texter(texter.clone());
    e.auth = Arc::new(auth);
    e.admin = crate::admin::Admin::new(
        e.config.clone(),
        e.store.clone(),
        e.clock.clone(),
        e.sink.clone(),
    )
    .with_texter(texter.clone())
    .with_mailer(mailer.clone());
    (e, texter, mailer)
}

/// Alice with an active SMS factor (and recovery codes); `totp`: an authenticator too, preferred.
fn sms_user(e: &Env, texter: &RecordingTexter, totp: bool) -> Option<Vec<u8>> {
    let secret = totp.then(|| enroll(e).0);
    if !totp {
        e.admin.add_user("alice", None).unwrap();
    }
    let en = e.admin.enroll_sms("alice", Some(NUMBER), None).unwrap();
    assert_eq!(en.masked, "+44*******123");
    let c = texter.last_code(NUMBER).unwrap();
    e.admin.confirm_factor("alice", en.factor_id, &c).unwrap();
    if let Some(f) = e
        .admin
        .factors("alice")
        .unwrap()
        .iter()
        .find(|f| f.totp.is_some())
    {
        e.store.set_preferred(f.user_id, f.id).unwrap();
    }
    secret
}

#[test]
fn an_sms_only_user_is_texted_at_once_and_the_code_works_once() {
    let (e, texter, _) = env_sms("min_interval = \"60s\"\n");
    sms_user(&e, &texter, false);
    let before = texter.messages().len();
    let (mut l, p) = match e.auth.begin(request("alice")).unwrap() {
        Begin::Prompt(l, p) => (l, p),
        other => panic!("{other:?}"),
    };
    assert_eq!(p.text, "A code was sent to +44*******123. Code: ");
    assert_eq!(texter.messages().len(), before + 1);
    let c = texter.last_code(NUMBER).unwrap();
    let o = e.auth.answer(&mut l, &c).unwrap();
    assert!(
        matches!(
            o,
            Outcome::Accepted(Verified {
                method: Method::Sms { .. },
                ..
            })
        ),
        "{o:?}"
    );
    // Single use: the same code again is refused (a new login is sent nothing within the
    // interval, and the old code is spent).
    let o = match e.auth.begin(request("alice")).unwrap() {
        Begin::Prompt(mut l, _) => e.auth.answer(&mut l, &c).unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(o, Outcome::Rejected(_) | Outcome::Prompt(_)),
        "{o:?}"
    );
    assert!(!matches!(o, Outcome::Accepted(_)));
}

#[test]
fn sms_on_request_and_email_or_sms_picks_the_channel() {
    let (e, texter, mailer) = env_sms("min_interval = \"60s\"\n");
    let secret = sms_user(&e, &texter, true).unwrap();
    e.admin
        .set_email("alice", Some("alice@example.com"))
        .unwrap();
    let en = e.admin.enroll_email("alice", None, None).unwrap();
    let c = mailer.last_code("alice@example.com").unwrap();
    e.admin.confirm_factor("alice", en.factor_id, &c).unwrap();
    let (texts, mails) = (texter.messages().len(), mailer.messages().len());
    e.clock.set(T0 + 120);
    let (mut l, p) = match e.auth.begin(request("alice")).unwrap() {
        Begin::Prompt(l, p) => (l, p),
        other => panic!("{other:?}"),
    };
    assert!(
        p.text.contains("type \"sms\" for a text message"),
        "{}",
        p.text
    );
    assert_eq!(
        (texter.messages().len(), mailer.messages().len()),
        (texts, mails),
        "TOTP preferred: nothing sent"
    );
    let o = e.auth.answer(&mut l, "sms").unwrap();
    assert!(
        matches!(o, Outcome::Prompt(ref p) if p.text.contains("+44*******123")),
        "{o:?}"
    );
    assert_eq!(texter.messages().len(), texts + 1);
    assert_eq!(mailer.messages().len(), mails);
    let c = texter.last_code(NUMBER).unwrap();
    assert!(matches!(
        e.auth.answer(&mut l, &c).unwrap(),
        Outcome::Accepted(Verified {
            method: Method::Sms { .. },
            ..
        })
    ));
    drop(secret);
}

#[test]
fn a_failed_text_tells_the_user_and_with_no_other_way_refuses() {
    let (e, texter, _) = env_sms("");
    sms_user(&e, &texter, false);
    // Spend the recovery codes' alternative: without them SMS is the only way in.
    let u = e.store.user(&crate::name_key("alice")).unwrap().unwrap();
    e.store
        .replace_recovery(
            u.id,
            &crate::store::RecoveryBatch {
                salt: vec![0; 16],
                m_cost: 64,
                t_cost: 1,
                p_cost: 1,
                created_at: 0,
                origin: "t".into(),
                total: 0,
                unused: 0,
            },
            &[],
        )
        .unwrap();
    texter.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    e.clock.set(T0 + 120);
    assert!(matches!(
        e.auth.begin(request("alice")).unwrap(),
        Begin::Rejected(Reject::SmsFailed)
    ));
    assert_eq!(Reject::SmsFailed.user_message(0), SMS_FAILED);
    let rows = e.store.audit(None, 20).unwrap();
    let row = rows
        .iter()
        .find(|r| {
            r.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("sms_failed"))
        })
        .unwrap();
    let d = row.detail.as_deref().unwrap();
    assert!(
        !d.contains("900123") && !d.contains("cannot deliver"),
        "no number, no gateway text: {d}"
    );
}

#[test]
fn texts_are_bounded_per_day() {
    let (e, texter, _) = env_sms("max_per_day = 2\nmin_interval = \"1s\"\n");
    sms_user(&e, &texter, false);
    // The enrollment's text was one; the first login's the second; the third is refused.
    e.clock.set(T0 + 10);
    assert!(matches!(
        e.auth.begin(request("alice")).unwrap(),
        Begin::Prompt(..)
    ));
    let n = texter.messages().len();
    assert_eq!(n, 2);
    e.clock.set(T0 + 20);
    match e.auth.begin(request("alice")).unwrap() {
        Begin::Prompt(_, p) => assert!(
            p.info
                .as_deref()
                .is_some_and(|i| i.contains("A code was sent") || i.contains("can be")),
            "{p:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(texter.messages().len(), 2, "no third text in the day");
    e.clock.set(T0 + 24 * 3600 + 10);
    assert!(matches!(
        e.auth.begin(request("alice")).unwrap(),
        Begin::Prompt(..)
    ));
    assert_eq!(texter.messages().len(), 3, "a new day");
}
