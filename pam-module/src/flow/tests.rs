//! The flow against a scripted conversation: every prompt and message the user would see is
//! listed in order, and the script checks when dropped that all of them happened.

use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;

use tessera_common::SqliteStore;
use tessera_common::TotpOptions;
use tessera_common::testing::TestCore;
use tessera_common::testing::{MasterKey, RecordingMailer, TotpParams, totp_code};
use tessera_common::{AuditResult, MemorySink};

use super::*;
use crate::conv::ConvError;

const T0: u64 = 1_700_000_010;

#[derive(Debug)]
enum Step {
    /// Expect exactly this prompt (echo off) and answer it.
    Prompt(&'static str, String),
    /// Expect a PAM_TEXT_INFO message containing this.
    Info(&'static str),
    /// Expect a PAM_ERROR_MSG message containing this.
    Error(&'static str),
    /// The application's conversation fails at this prompt.
    Hangup,
}

struct Script {
    steps: VecDeque<Step>,
    authtok: Option<String>,
    set_authtok: Option<String>,
}

fn script(steps: Vec<Step>) -> Script {
    Script {
        steps: steps.into(),
        authtok: None,
        set_authtok: None,
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.steps.is_empty(),
                "expected steps did not happen: {:?}",
                self.steps
            );
        }
    }
}

impl Conversation for Script {
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<String>, ConvError> {
        assert!(!echo, "codes are asked with echo off");
        match self.steps.pop_front() {
            Some(Step::Prompt(want, answer)) => {
                assert_eq!(text, want, "prompt text");
                Ok(Zeroizing::new(answer))
            }
            Some(Step::Hangup) => Err(ConvError::Failed(19)),
            other => panic!("unexpected prompt {text:?}; the script expected {other:?}"),
        }
    }

    fn info(&mut self, text: &str) -> Result<(), ConvError> {
        match self.steps.pop_front() {
            Some(Step::Info(want)) => {
                assert!(text.contains(want), "info {text:?} lacks {want:?}");
                Ok(())
            }
            other => panic!("unexpected info {text:?}; the script expected {other:?}"),
        }
    }

    fn error(&mut self, text: &str) -> Result<(), ConvError> {
        match self.steps.pop_front() {
            Some(Step::Error(want)) => {
                assert!(text.contains(want), "error {text:?} lacks {want:?}");
                Ok(())
            }
            other => panic!("unexpected error message {text:?}; the script expected {other:?}"),
        }
    }

    fn authtok(&mut self) -> Option<Zeroizing<String>> {
        self.authtok.clone().map(Zeroizing::new)
    }

    fn set_authtok(&mut self, value: &str) -> Result<(), ConvError> {
        self.set_authtok = Some(value.to_string());
        Ok(())
    }
}

type Env = TestCore;

const CODE: &str = "Verification code: ";
/// The one prompt of `forward_pass` (google-authenticator-libpam's wording), for every user.
const FORWARD_PROMPT: &str = "Password & verification code: ";

fn config_text(max_tries: u32) -> String {
    format!(
        "[store]\npath = \"t.db\"\nkey_file = \"t.key\"\n[argon2]\nmemory_kib = 64\niterations = 1\n[policy]\nmax_failures = 4\nlockout = \"15m\"\nmax_tries = {max_tries}\n"
    )
}

const EMAIL: &str =
    "[email]\nsmtp_host = \"127.0.0.1\"\nfrom = \"tessera@example.com\"\nmin_interval = \"60s\"\n";

fn env_with(max_tries: u32) -> Env {
    env_full(max_tries, None)
}

fn env_full(max_tries: u32, mailer: Option<Arc<RecordingMailer>>) -> Env {
    let extra = if mailer.is_some() { EMAIL } else { "" };
    TestCore::new(&(config_text(max_tries) + extra), T0, mailer)
}

fn env() -> Env {
    env_with(1)
}

fn session(user: &str) -> Session {
    Session {
        user: Some(user.to_string()),
        passwd_name: None,
        user_uid: None,
        passwd_failed: false,
        service: "sshd".into(),
        rhost: Some("192.0.2.7".into()),
        caller_uid: 0,
        unprivileged: None,
        silent: false,
        ssh_auth_info: None,
        tty: None,
    }
}

/// Enroll `user` with an active TOTP factor: the raw secret and the recovery codes.
fn enroll(e: &Env, user: &str) -> (Vec<u8>, Vec<String>) {
    let en = e.enroll_totp(
        user,
        &TotpOptions {
            label: Some("phone".into()),
            ..TotpOptions::activated()
        },
    );
    (en.secret, en.recovery)
}

fn code_at(secret: &[u8], t: u64) -> String {
    let p = TotpParams {
        algorithm: tessera_common::TotpAlgorithm::Sha1,
        digits: 6,
        period: 30,
        window: 1,
    };
    totp_code(&p, secret, t).unwrap()
}

fn wrong(secret: &[u8]) -> String {
    let good = code_at(secret, T0);
    // A code of the right shape that is not valid now, nor in the window.
    let mut n: u32 = good.parse().unwrap();
    loop {
        n = (n + 1) % 1_000_000;
        let c = format!("{n:06}");
        if [T0 - 30, T0, T0 + 30]
            .iter()
            .all(|&t| code_at(secret, t) != c)
        {
            return c;
        }
    }
}

fn args(list: &[&str]) -> Args {
    args::parse(list).unwrap()
}

#[test]
fn valid_code_is_asked_once_and_accepted() {
    let e = env();
    let (secret, _) = enroll(&e, "alice");
    let mut s = script(vec![Step::Prompt(CODE, code_at(&secret, T0))]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert!(
        matches!(d, Decision::Accepted(Method::Totp { .. })),
        "{d:?}"
    );
    assert_eq!(pam_code(&d), PamError::SUCCESS);
    assert_eq!(
        s.set_authtok, None,
        "no password is handed on without forward_pass"
    );
    let last = e.sink.events().pop().unwrap();
    assert_eq!(last.result, AuditResult::Accept);
    assert_eq!(last.service, "sshd");
    assert_eq!(last.source.as_deref(), Some("192.0.2.7"));
}

#[test]
fn wrong_code_is_refused() {
    let e = env();
    let (secret, _) = enroll(&e, "alice");
    let mut s = script(vec![Step::Prompt(CODE, wrong(&secret))]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert_eq!(d, Decision::Rejected(Reject::BadCode));
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
}

#[test]
fn wrong_answers_are_retried_up_to_max_tries() {
    let e = env_with(3);
    let (secret, _) = enroll(&e, "alice");
    let mut s = script(vec![
        Step::Prompt(CODE, wrong(&secret)),
        Step::Info("Invalid code"),
        Step::Prompt(CODE, "12ab!".into()),
        Step::Info("not a valid code"),
        Step::Prompt(CODE, code_at(&secret, T0)),
    ]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert!(matches!(d, Decision::Accepted(_)), "{d:?}");

    // The success took its own conversation's wrong codes out of the bucket.
    e.clock.advance(60);
    let mut s = script(vec![
        Step::Prompt(CODE, wrong(&secret)),
        Step::Info("Invalid code"),
        Step::Prompt(CODE, wrong(&secret)),
        Step::Info("Invalid code"),
        Step::Prompt(CODE, wrong(&secret)),
    ]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
}

#[test]
fn replayed_code_is_refused() {
    let e = env();
    let (secret, _) = enroll(&e, "alice");
    let c = code_at(&secret, T0);
    let mut s = script(vec![Step::Prompt(CODE, c.clone())]);
    assert!(matches!(
        run(&e.auth, &args(&[]), &session("alice"), &mut s),
        Decision::Accepted(_)
    ));
    // Told as such (a code just used elsewhere is not a guess), even under PAM_SILENT.
    let quiet = Session {
        silent: true,
        ..session("alice")
    };
    let mut s = script(vec![Step::Prompt(CODE, c), Step::Error("already used")]);
    let d = run(&e.auth, &args(&[]), &quiet, &mut s);
    assert_eq!(d, Decision::Rejected(Reject::Replayed));
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
}

#[test]
fn recovery_code_works_once() {
    let e = env();
    let (_, codes) = enroll(&e, "alice");
    let rc = codes[0].clone();
    let mut s = script(vec![Step::Prompt(CODE, rc.clone())]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert!(
        matches!(d, Decision::Accepted(Method::Recovery { .. })),
        "{d:?}"
    );
    // Used already: told, not counted.
    let mut s = script(vec![Step::Prompt(CODE, rc), Step::Error("already used")]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert_eq!(d, Decision::Rejected(Reject::Replayed));
    assert_eq!(e.admin.show_user("alice").unwrap().lock.codes.failures, 0);
}

/// Under PAM_SILENT a failed mail is still told when the user has another way in.
#[test]
fn silent_flag_still_tells_a_failed_mail() {
    let (e, m) = email_user(1);
    m.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let quiet = Session {
        silent: true,
        ..session("alice")
    };
    let mut s = script(vec![
        Step::Error("Could not send a code by email"),
        Step::Prompt(
            "Verification code (press Enter to get one by email): ",
            "123456".into(),
        ),
    ]);
    let d = run(&e.auth, &args(&[]), &quiet, &mut s);
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
}

/// A directory service that fails the passwd lookup: under nullok, fail closed (a spelling of
/// an enrolled name could otherwise step aside).
#[test]
fn a_failed_passwd_lookup_under_nullok_is_unavailable() {
    let e = env();
    let who = Session {
        passwd_failed: true,
        ..session("ALICE@corp")
    };
    let mut s = script(vec![]);
    let d = run(&e.auth, &args(&["nullok"]), &who, &mut s);
    assert_eq!(d, Decision::Unavailable);
    // Without nullok the name as typed decides (nothing can step aside).
    let (secret, _) = enroll(&e, "alice");
    let who = Session {
        passwd_failed: true,
        ..session("alice")
    };
    let mut s = script(vec![Step::Prompt(CODE, code_at(&secret, T0))]);
    assert!(matches!(
        run(&e.auth, &args(&[]), &who, &mut s),
        Decision::Accepted(_)
    ));
}

#[test]
fn locked_user_is_told_for_how_long_and_not_prompted() {
    let e = env();
    let (secret, _) = enroll(&e, "alice");
    // max_failures = 4: the fourth wrong code locks, and that refusal already says so.
    for _ in 0..3 {
        let mut s = script(vec![Step::Prompt(CODE, wrong(&secret))]);
        run(&e.auth, &args(&[]), &session("alice"), &mut s);
    }
    let mut s = script(vec![
        Step::Prompt(CODE, wrong(&secret)),
        Step::Error("locked for 15 minutes"),
    ]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert!(
        matches!(d, Decision::Rejected(Reject::LockedOut { .. })),
        "{d:?}"
    );

    // Even the right code is refused now, without a prompt.
    e.clock.advance(60);
    let mut s = script(vec![Step::Error("locked for 14 minutes")]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert!(
        matches!(d, Decision::Rejected(Reject::LockedOut { .. })),
        "{d:?}"
    );
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);

    // After the lock runs out the user gets in, and hears of the four wrong codes.
    e.clock.advance(15 * 60);
    let mut s = script(vec![
        Step::Prompt(CODE, code_at(&secret, T0 + 16 * 60)),
        Step::Info("4 wrong codes were entered"),
    ]);
    assert!(matches!(
        run(&e.auth, &args(&[]), &session("alice"), &mut s),
        Decision::Accepted(_)
    ));
}

/// Issue 9, defect 8: under PAM_SILENT (sudo) a locked user was never told, and one call allowed
/// more tries than the lockout.
#[test]
fn silent_flag_hides_information_but_tells_a_lock_and_allows_one_try() {
    let e = env_with(3);
    let (secret, _) = enroll(&e, "alice");
    let quiet = Session {
        silent: true,
        ..session("alice")
    };
    // One try per call: no "Invalid code" note can be shown, the application asks again.
    let mut s = script(vec![Step::Prompt(CODE, wrong(&secret))]);
    let d = run(&e.auth, &args(&[]), &quiet, &mut s);
    assert_eq!(d, Decision::Rejected(Reject::BadCode));
    // The warning about it is told even so, as an error message.
    let mut s = script(vec![
        Step::Prompt(CODE, code_at(&secret, T0)),
        Step::Error("1 wrong code was entered"),
    ]);
    assert!(matches!(
        run(&e.auth, &args(&[]), &quiet, &mut s),
        Decision::Accepted(_)
    ));
    // So is a lock.
    e.admin.lock_user("alice").unwrap();
    let mut s = script(vec![Step::Error("ask an administrator")]);
    let d = run(&e.auth, &args(&[]), &quiet, &mut s);
    assert!(
        matches!(d, Decision::Rejected(Reject::LockedOut { .. })),
        "{d:?}"
    );
}

#[test]
fn the_next_login_tells_how_many_wrong_codes_came_since_the_last() {
    let e = env_with(1);
    let (secret, _) = enroll(&e, "alice");
    for _ in 0..2 {
        let mut s = script(vec![Step::Prompt(CODE, wrong(&secret))]);
        run(&e.auth, &args(&[]), &session("alice"), &mut s);
    }
    let mut s = script(vec![
        Step::Prompt(CODE, code_at(&secret, T0)),
        Step::Info("2 wrong codes were entered for your account since your last login"),
    ]);
    assert!(matches!(
        run(&e.auth, &args(&[]), &session("alice"), &mut s),
        Decision::Accepted(_)
    ));
}

#[test]
fn unenrolled_and_unknown_users_are_prompted_then_refused() {
    let e = env();
    e.admin.add_user("bob", None).unwrap();
    for user in ["bob", "nobody-here"] {
        let mut s = script(vec![Step::Prompt(CODE, "123456".into())]);
        let d = run(&e.auth, &args(&[]), &session(user), &mut s);
        assert_eq!(pam_code(&d), PamError::AUTH_ERR, "{user}: {d:?}");
    }
}

#[test]
fn nullok_lets_unenrolled_users_pass_with_ignore_only() {
    let e = env();
    e.admin.add_user("bob", None).unwrap();
    let (secret, _) = enroll(&e, "alice");
    for user in ["bob", "nobody-here"] {
        let mut s = script(vec![]);
        let d = run(&e.auth, &args(&["nullok"]), &session(user), &mut s);
        assert_eq!(d, Decision::Ignored);
        assert_eq!(pam_code(&d), PamError::IGNORE);
    }
    // An enrolled user is still asked, and a wrong code still fails.
    let mut s = script(vec![Step::Prompt(CODE, wrong(&secret))]);
    let d = run(&e.auth, &args(&["nullok"]), &session("alice"), &mut s);
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
}

#[test]
fn several_factors_share_one_prompt_naming_the_preferred() {
    let e = env();
    let (secret, codes) = enroll(&e, "alice");
    e.admin
        .enroll_totp(
            "alice",
            &TotpOptions {
                label: Some("tablet".into()),
                ..TotpOptions::activated()
            },
        )
        .unwrap();
    let text = "Verification code (authenticator \"phone\" or another, or a recovery code): ";
    let mut s = script(vec![Step::Prompt(text, code_at(&secret, T0))]);
    assert!(matches!(
        run(&e.auth, &args(&[]), &session("alice"), &mut s),
        Decision::Accepted(_)
    ));
    let mut s = script(vec![Step::Prompt(text, codes[1].clone())]);
    assert!(matches!(
        run(&e.auth, &args(&[]), &session("alice"), &mut s),
        Decision::Accepted(Method::Recovery { .. })
    ));
}

#[test]
fn conversation_failure_denies() {
    let e = env();
    enroll(&e, "alice");
    let mut s = script(vec![Step::Hangup]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert_eq!(d, Decision::ConversationFailed);
    assert_eq!(pam_code(&d), PamError::CONV_ERR);
}

#[test]
fn user_name_that_is_not_utf8_is_refused_without_prompt() {
    let e = env();
    let mut s = script(vec![]);
    let who = Session {
        user: None,
        ..session("x")
    };
    let d = run(&e.auth, &args(&["nullok"]), &who, &mut s);
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
}

#[test]
fn undecryptable_secret_is_unavailable_not_success() {
    let e = env();
    let (secret, _) = enroll(&e, "alice");
    // The same store read with another key: the sealed secret cannot be opened.
    let other = Authenticator::new(
        e.config.clone(),
        Arc::new(SqliteStore::open(&e.config.store).unwrap()),
        Arc::new(MasterKey::from_bytes(&[7u8; 32])),
        e.clock.clone(),
        e.sink.clone(),
    );
    let mut s = script(vec![Step::Prompt(CODE, code_at(&secret, T0))]);
    let d = run(&other, &args(&["nullok"]), &session("alice"), &mut s);
    assert_eq!(d, Decision::Unavailable);
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
}

// ---- first-pass modes ----------------------------------------------------------------------

#[test]
fn use_first_pass_takes_the_code_from_authtok_and_hands_the_password_on() {
    let e = env();
    let (secret, _) = enroll(&e, "alice");
    let mut s = script(vec![]);
    s.authtok = Some(format!("hunter2{}", code_at(&secret, T0)));
    let d = run(
        &e.auth,
        &args(&["use_first_pass"]),
        &session("alice"),
        &mut s,
    );
    assert!(matches!(d, Decision::Accepted(_)), "{d:?}");
    assert_eq!(s.set_authtok.as_deref(), Some("hunter2"));
}

#[test]
fn use_first_pass_never_prompts() {
    let e = env_with(3);
    let (secret, _) = enroll(&e, "alice");
    for tok in [
        None,
        Some("hunter2".to_string()),
        Some(format!("pw{}", wrong(&secret))),
    ] {
        let mut s = script(vec![]);
        s.authtok = tok;
        let d = run(
            &e.auth,
            &args(&["use_first_pass"]),
            &session("alice"),
            &mut s,
        );
        assert_eq!(pam_code(&d), PamError::AUTH_ERR, "{d:?}");
        assert_eq!(s.set_authtok, None);
    }
}

#[test]
fn try_first_pass_prompts_when_authtok_holds_no_code() {
    let e = env_with(3);
    let (secret, _) = enroll(&e, "alice");
    let mut s = script(vec![Step::Prompt(CODE, code_at(&secret, T0))]);
    s.authtok = Some("just-a-password".into());
    let d = run(
        &e.auth,
        &args(&["try_first_pass"]),
        &session("alice"),
        &mut s,
    );
    assert!(matches!(d, Decision::Accepted(_)), "{d:?}");
    assert_eq!(s.set_authtok, None, "the password came from no code split");
}

#[test]
fn try_first_pass_prompts_after_a_wrong_code_in_authtok() {
    let e = env_with(3);
    let (secret, _) = enroll(&e, "alice");
    let mut s = script(vec![
        Step::Info("Invalid code"),
        Step::Prompt(CODE, code_at(&secret, T0)),
    ]);
    s.authtok = Some(format!("pw{}", wrong(&secret)));
    let d = run(
        &e.auth,
        &args(&["try_first_pass"]),
        &session("alice"),
        &mut s,
    );
    assert!(matches!(d, Decision::Accepted(_)), "{d:?}");
}

#[test]
fn forward_pass_asks_once_and_hands_the_password_on() {
    let e = env();
    let (secret, codes) = enroll(&e, "alice");
    let mut s = script(vec![Step::Prompt(
        FORWARD_PROMPT,
        format!("correct horse{}", code_at(&secret, T0)),
    )]);
    let d = run(&e.auth, &args(&["forward_pass"]), &session("alice"), &mut s);
    assert!(matches!(d, Decision::Accepted(_)), "{d:?}");
    assert_eq!(s.set_authtok.as_deref(), Some("correct horse"));

    // A recovery code, typed with its dashes after the password.
    let mut s = script(vec![Step::Prompt(
        FORWARD_PROMPT,
        format!("pw{}", codes[2]),
    )]);
    let d = run(&e.auth, &args(&["forward_pass"]), &session("alice"), &mut s);
    assert!(
        matches!(d, Decision::Accepted(Method::Recovery { .. })),
        "{d:?}"
    );
    assert_eq!(s.set_authtok.as_deref(), Some("pw"));

    // Only a password, no code: refused, nothing handed on.
    let mut s = script(vec![Step::Prompt(FORWARD_PROMPT, "pw".into())]);
    let d = run(&e.auth, &args(&["forward_pass"]), &session("alice"), &mut s);
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
    assert_eq!(s.set_authtok, None);
}

#[test]
fn forward_pass_with_nullok_still_collects_the_password() {
    let e = env();
    // The same prompt as for an enrolled user: before the password is proven, nothing tells.
    let mut s = script(vec![Step::Prompt(FORWARD_PROMPT, "pw only".into())]);
    let d = run(
        &e.auth,
        &args(&["nullok", "forward_pass"]),
        &session("nobody-here"),
        &mut s,
    );
    assert_eq!(d, Decision::Ignored);
    assert_eq!(s.set_authtok.as_deref(), Some("pw only"));
}

// ---- the whole call, from arguments and files ------------------------------------------------

fn call(raw: &[String], user: &str, steps: Vec<Step>) -> Decision {
    let mut s = script(steps);
    authenticate(raw, &session(user), &mut s, Arc::new(MemorySink::default()))
}

fn config_arg(e: &Env) -> String {
    format!("config={}", e.dir.path().join("tessera.toml").display())
}

#[test]
fn whole_call_accepts_with_the_system_clock() {
    let e = env();
    let (secret, _) = enroll(&e, "alice");
    let now = tessera_common::Clock::now(&tessera_common::SystemClock);
    let d = call(
        &[config_arg(&e)],
        "alice",
        vec![Step::Prompt(CODE, code_at(&secret, now))],
    );
    assert!(matches!(d, Decision::Accepted(_)), "{d:?}");
}

#[test]
fn unknown_argument_fails_closed_without_prompt() {
    let e = env();
    let d = call(
        &[config_arg(&e), "nullok".into(), "frobnicate".into()],
        "alice",
        vec![],
    );
    assert_eq!(d, Decision::BadArguments);
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
}

/// The whole call with a sink to read: the decision and the lines it logged.
fn call_logged(raw: &[String], user: &str, steps: Vec<Step>) -> (Decision, Vec<String>) {
    call_logged_as(raw, &session(user), steps)
}

/// [`call_logged`] for a session of the test's own.
fn call_logged_as(raw: &[String], who: &Session, steps: Vec<Step>) -> (Decision, Vec<String>) {
    let mut s = script(steps);
    let sink = Arc::new(MemorySink::default());
    let d = authenticate(raw, who, &mut s, sink.clone());
    let lines = sink
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|(_, m)| m.clone())
        .collect();
    (d, lines)
}

fn chown(p: &std::path::Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), None).unwrap();
}

fn chmod(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A store, key or directory that another account could write decides nothing: the RADIUS
/// server's account (or anyone) must not be able to rewrite who gets into sshd and sudo.
#[test]
fn a_store_key_or_directory_another_account_could_change_is_unavailable() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let e = env();
    let (secret, _) = enroll(&e, "alice");
    let now = tessera_common::Clock::now(&tessera_common::SystemClock);
    let dir = e.dir.path().to_path_buf();
    let db = e.config.store.path.clone();
    let key = e.config.store.key_file.clone();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    type Breaker<'a> = Box<dyn Fn(bool) + 'a>;
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "is owned by uid 1234, not root",
            Box::new(|bad| chown(&db, if bad { 1234 } else { 0 })),
        ),
        (
            "is writable by group or others (mode 0620)",
            Box::new(|bad| chmod(&db, if bad { 0o620 } else { 0o600 })),
        ),
        (
            "is owned by uid 1234, not root",
            Box::new(|bad| chown(&wal, if bad { 1234 } else { 0 })),
        ),
        (
            "is readable by group or others (mode 0640)",
            Box::new(|bad| chmod(&key, if bad { 0o640 } else { 0o600 })),
        ),
        (
            "is owned by uid 1234",
            Box::new(|bad| chown(&key, if bad { 1234 } else { 0 })),
        ),
        (
            "above it is writable by group or others",
            Box::new(|bad| chmod(&dir, if bad { 0o770 } else { 0o700 })),
        ),
        (
            "above it is owned by uid 1234",
            Box::new(|bad| chown(&dir, if bad { 1234 } else { 0 })),
        ),
    ];
    assert!(wal.exists(), "the store has a WAL to check");
    for (why, make) in &cases {
        make(true);
        for args in [vec![config_arg(&e)], vec![config_arg(&e), "nullok".into()]] {
            let (d, lines) = call_logged(&args, "alice", vec![]);
            assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL, "{why}");
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains(why) && l.ends_with("; denying")),
                "{why}: {lines:?}"
            );
        }
        make(false);
    }
    // Put back, the same store lets alice in: nothing above was a lasting change.
    let d = call(
        &[config_arg(&e)],
        "alice",
        vec![Step::Prompt(CODE, code_at(&secret, now))],
    );
    assert!(matches!(d, Decision::Accepted(_)), "{d:?}");
}

/// A configuration reached through a link into a directory someone else controls is theirs:
/// the module resolves the path once and checks every directory of what it opens.
#[test]
fn a_config_linked_from_a_directory_others_control_is_unavailable() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let e = env();
    let theirs = e.dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    chown(&theirs, 1234);
    let evil = theirs.join("tessera.toml");
    std::fs::copy(e.dir.path().join("tessera.toml"), &evil).unwrap();
    let link = e.dir.path().join("link.toml");
    std::os::unix::fs::symlink(&evil, &link).unwrap();
    let (d, lines) = call_logged(
        &[format!("config={}", link.display()), "nullok".into()],
        "alice",
        vec![],
    );
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("config file") && l.contains("owned by uid 1234")),
        "{lines:?}"
    );
}

#[test]
fn missing_store_fails_closed_even_with_nullok() {
    let e = env();
    std::fs::remove_file(&e.config.store.path).unwrap();
    let d = call(&[config_arg(&e), "nullok".into()], "whoever", vec![]);
    assert_eq!(d, Decision::Unavailable);
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
}

#[test]
fn missing_or_corrupt_key_fails_closed() {
    let e = env();
    std::fs::write(&e.config.store.key_file, b"short").unwrap();
    let d = call(&[config_arg(&e), "nullok".into()], "alice", vec![]);
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
    std::fs::remove_file(&e.config.store.key_file).unwrap();
    let d = call(&[config_arg(&e), "nullok".into()], "alice", vec![]);
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
}

#[test]
fn corrupt_store_fails_closed() {
    let e = env();
    let db = e.config.store.path.clone();
    let arg = config_arg(&e);
    // Close every connection, then replace the database at rest (file, WAL and index).
    drop(e.auth);
    drop(e.admin);
    for suffix in ["-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    std::fs::write(&db, b"this is not a database, not at all....").unwrap();
    let d = call(&[arg.clone(), "nullok".into()], "alice", vec![]);
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
    // An empty file, which SQLite would take for a new database, fails closed too.
    std::fs::write(&db, b"").unwrap();
    let d = call(&[arg.clone(), "nullok".into()], "alice", vec![]);
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        0,
        "the module wrote to it"
    );
}

#[test]
fn missing_or_invalid_config_fails_closed() {
    let e = env();
    let d = call(
        &["config=/nonexistent/tessera.toml".into()],
        "alice",
        vec![],
    );
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
    let path = e.dir.path().join("tessera.toml");
    std::fs::write(&path, "[store]\nno_such_key = 1\n").unwrap();
    let d = call(&[config_arg(&e), "nullok".into()], "alice", vec![]);
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
}

#[test]
fn config_writable_by_others_is_refused() {
    let e = env();
    let path = e.dir.path().join("tessera.toml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let d = call(&[config_arg(&e), "nullok".into()], "alice", vec![]);
    assert_eq!(d, Decision::Unavailable);
    let err = load_config(&path).unwrap_err();
    assert!(err.contains("writable by group or others"), "{err}");
}

#[test]
fn return_code_table() {
    use Decision as D;
    let table = [
        (
            D::Accepted(Method::Recovery { remaining: 1 }),
            PamError::SUCCESS,
        ),
        (D::Rejected(Reject::BadCode), PamError::AUTH_ERR),
        (D::Rejected(Reject::Replayed), PamError::AUTH_ERR),
        (D::Rejected(Reject::Malformed), PamError::AUTH_ERR),
        (D::Rejected(Reject::UnknownUser), PamError::AUTH_ERR),
        (D::Rejected(Reject::NotEnrolled), PamError::AUTH_ERR),
        (D::Rejected(Reject::InvalidUser), PamError::AUTH_ERR),
        (
            D::Rejected(Reject::LockedOut { until: Some(1) }),
            PamError::AUTH_ERR,
        ),
        (D::Ignored, PamError::IGNORE),
        (D::BadArguments, PamError::AUTHINFO_UNAVAIL),
        (D::Unavailable, PamError::AUTHINFO_UNAVAIL),
        (D::ConversationFailed, PamError::CONV_ERR),
        (D::ForwardFailed, PamError::AUTH_ERR),
    ];
    for (d, want) in table {
        assert_eq!(pam_code(&d), want, "{d:?}");
    }
}

// ---- e-mailed codes ---------------------------------------------------------------------------

const MAILBOX: &str = "alice@example.com";

/// alice with only an e-mail factor (confirmed), and the mailer.
fn email_user(max_tries: u32) -> (Env, Arc<RecordingMailer>) {
    let m = Arc::new(RecordingMailer::default());
    let e = env_full(max_tries, Some(m.clone()));
    e.admin.add_user("alice", Some(MAILBOX)).unwrap();
    let en = e.admin.enroll_email("alice", None, None).unwrap();
    let code = m.last_code(MAILBOX).unwrap();
    e.admin
        .confirm_factor("alice", en.factor_id, &code)
        .unwrap();
    e.clock.advance(61);
    (e, m)
}

/// Answers the prompt with the code the mailer has just "sent".
struct MailReader<'a> {
    inner: Script,
    mailer: &'a RecordingMailer,
}

impl Conversation for MailReader<'_> {
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<String>, ConvError> {
        let scripted = self.inner.prompt(text, echo)?;
        if scripted.as_str() == "<mailed code>" {
            return Ok(Zeroizing::new(self.mailer.last_code(MAILBOX).unwrap()));
        }
        Ok(scripted)
    }
    fn info(&mut self, text: &str) -> Result<(), ConvError> {
        self.inner.info(text)
    }
    fn error(&mut self, text: &str) -> Result<(), ConvError> {
        self.inner.error(text)
    }
    fn authtok(&mut self) -> Option<Zeroizing<String>> {
        self.inner.authtok()
    }
    fn set_authtok(&mut self, value: &str) -> Result<(), ConvError> {
        self.inner.set_authtok(value)
    }
}

#[test]
fn email_only_user_is_mailed_a_code_and_asked_for_it() {
    let (e, m) = email_user(1);
    let before = m.messages().len();
    let mut c = MailReader {
        inner: script(vec![Step::Prompt(
            "A code was sent to a***@example.com. Code: ",
            "<mailed code>".into(),
        )]),
        mailer: &m,
    };
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut c);
    assert!(
        matches!(d, Decision::Accepted(Method::Email { .. })),
        "{d:?}"
    );
    assert_eq!(m.messages().len(), before + 1);
}

#[test]
fn failed_mail_is_told_and_denied() {
    let (e, m) = email_user(1);
    m.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    // alice still has recovery codes: she is told (an error message: even under PAM_SILENT),
    // and asked for one of those.
    let mut s = script(vec![
        Step::Error("Could not send a code by email"),
        Step::Prompt(
            "Verification code (press Enter to get one by email): ",
            "123456".into(),
        ),
    ]);
    let d = run(&e.auth, &args(&[]), &session("alice"), &mut s);
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
    // With no other way in, the refusal itself says why.
    let mut s = script(vec![Step::Error("Could not send a code by email")]);
    let d = rejected(&e.auth, Reject::MailFailed, &mut s);
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
}

#[test]
fn use_first_pass_without_a_code_mails_nothing() {
    let (e, m) = email_user(3);
    let before = m.messages().len();
    for tok in [None, Some("hunter2".to_string()), Some(String::new())] {
        let mut s = script(vec![]);
        s.authtok = tok;
        let d = run(
            &e.auth,
            &args(&["use_first_pass"]),
            &session("alice"),
            &mut s,
        );
        assert_eq!(d, Decision::Rejected(Reject::Malformed));
    }
    assert_eq!(m.messages().len(), before, "a code was mailed");
}

// ---- names, and the module before the password module -------------------------------------

/// Issue 9, defect 3: spellings of an enrolled name passed `nullok` as "unenrolled".
#[test]
fn nullok_never_ignores_a_spelling_of_an_enrolled_name() {
    let e = env();
    let (secret, _) = enroll(&e, "alice");
    for (i, user) in ["ALICE", "alice ", " alice", "\u{ff41}lice", "alice\u{200b}"]
        .iter()
        .enumerate()
    {
        let t = T0 + 30 * i as u64;
        e.clock.set(t);
        let mut s = script(vec![Step::Prompt(CODE, code_at(&secret, t))]);
        let d = run(&e.auth, &args(&["nullok"]), &session(user), &mut s);
        assert!(matches!(d, Decision::Accepted(_)), "{user:?}: {d:?}");
    }
    let mut s = script(vec![Step::Prompt(CODE, wrong(&secret))]);
    let d = run(&e.auth, &args(&["nullok"]), &session("ALICE"), &mut s);
    assert_eq!(pam_code(&d), PamError::AUTH_ERR);
    // The passwd database's name for PAM_USER reaches the user too (`alice@corp` → `alice`).
    e.clock.set(T0 + 300);
    let mut s = script(vec![
        Step::Prompt(CODE, code_at(&secret, T0 + 300)),
        Step::Info("1 wrong code was entered"),
    ]);
    let who = Session {
        passwd_name: Some("alice".into()),
        ..session("alice@corp")
    };
    assert!(matches!(
        run(&e.auth, &args(&["nullok"]), &who, &mut s),
        Decision::Accepted(_)
    ));
}

/// Issue 9, defect 4: with the module first (`forward_pass`), anyone could make Tessera mail a
/// code, read the masked address and lock the user out.
#[test]
fn forward_pass_before_the_password_mails_shows_and_counts_nothing() {
    let (e, m) = email_user(3);
    let before = m.messages().len();
    for user in ["alice", "nobody-here"] {
        let mut s = script(vec![
            Step::Prompt(FORWARD_PROMPT, "wrong-password".into()),
            Step::Info("Invalid code"),
            Step::Prompt(FORWARD_PROMPT, "wrong-password123456".into()),
            Step::Info("Invalid code"),
            Step::Prompt(FORWARD_PROMPT, String::new()),
        ]);
        let d = run(&e.auth, &args(&["forward_pass"]), &session(user), &mut s);
        assert_eq!(pam_code(&d), PamError::AUTH_ERR, "{user}: {d:?}");
        assert_eq!(s.set_authtok, None);
    }
    assert_eq!(m.messages().len(), before, "nothing mailed");
    let lock = e.admin.show_user("alice").unwrap().lock;
    assert_eq!(
        lock,
        tessera_common::LockState::default(),
        "nothing counted"
    );
}

/// A screen locker's ids: one uid, one gid, no capabilities.
const LOCKER: Unprivileged = Unprivileged {
    euid: 1000,
    saved_uid: 1000,
    gids_one: true,
    has_capabilities: false,
};

/// A screen locker's call: uid 1000 (every id of it, no capabilities) checking `user`, uid 1000.
fn screen_locker(user: &str) -> Session {
    Session {
        user_uid: Some(1000),
        caller_uid: 1000,
        unprivileged: Some(LOCKER),
        rhost: None,
        ..session(user)
    }
}

/// A screen locker runs as the user: it cannot read root's store. `unprivileged=ignore` steps
/// aside (PAM_IGNORE, so the password alone decides there); without it the call fails closed.
/// Neither asks anything nor touches the store.
#[test]
fn an_unprivileged_caller_steps_aside_only_when_told_to() {
    let e = env();
    let _ = enroll(&e, "alice");
    let locker = screen_locker("alice");
    let sink = Arc::new(MemorySink::default());
    let mut s = script(vec![]);
    let raw = [
        config_arg(&e),
        "nullok".into(),
        "unprivileged=ignore".into(),
    ];
    let d = authenticate(&raw, &locker, &mut s, sink.clone());
    assert_eq!(d, Decision::Ignored);
    assert_eq!(pam_code(&d), PamError::IGNORE);
    let mut s = script(vec![]);
    let d = authenticate(&[config_arg(&e)], &locker, &mut s, sink.clone());
    assert_eq!(d, Decision::Unavailable);
    assert_eq!(pam_code(&d), PamError::AUTHINFO_UNAVAIL);
    let lines: Vec<String> = sink
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|(_, m)| m.clone())
        .collect();
    assert!(
        lines[0].contains("uid 1000, not root") && lines[0].contains("stepping aside"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("denying") && lines[1].contains("unprivileged=ignore"),
        "{lines:?}"
    );
    // Those two lines and nothing else: no configuration, store or conversation was used.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(s.set_authtok.is_none());
}

/// `unprivileged=ignore` is for a process checking its own user: a daemon running as its own
/// account and authenticating others (FreeRADIUS's rlm_pam, a web application), a program that
/// lowered its euid and can raise it back, or one holding capabilities fails closed.
#[test]
fn unprivileged_ignore_steps_aside_only_for_a_process_checking_its_own_user() {
    let e = env();
    let _ = enroll(&e, "alice");
    let locker = screen_locker("alice");
    let raw = [
        config_arg(&e),
        "nullok".into(),
        "unprivileged=ignore".into(),
    ];
    let cases = [
        (
            Session {
                caller_uid: 105,
                unprivileged: Some(Unprivileged {
                    euid: 105,
                    saved_uid: 105,
                    ..LOCKER
                }),
                ..locker.clone()
            },
            "another user than itself",
        ),
        (
            Session {
                user_uid: None,
                ..locker.clone()
            },
            "another user than itself",
        ),
        (
            Session {
                unprivileged: Some(Unprivileged {
                    saved_uid: 0,
                    ..LOCKER
                }),
                ..locker.clone()
            },
            "change its user id back",
        ),
        (
            Session {
                caller_uid: 0,
                ..locker.clone()
            },
            "another user than itself",
        ),
        (
            Session {
                unprivileged: Some(Unprivileged {
                    has_capabilities: true,
                    ..LOCKER
                }),
                ..locker.clone()
            },
            "holds capabilities",
        ),
        (
            Session {
                unprivileged: Some(Unprivileged {
                    gids_one: false,
                    ..LOCKER
                }),
                ..locker.clone()
            },
            "setgid",
        ),
        (
            Session {
                rhost: Some("192.0.2.7".into()),
                ..locker.clone()
            },
            "another host",
        ),
    ];
    for (who, why) in cases {
        let (d, lines) = call_logged_as(&raw, &who, vec![]);
        assert_eq!(d, Decision::Unavailable, "{why}");
        assert!(
            lines[0].contains(why) && lines[0].contains("denying"),
            "{lines:?}"
        );
    }
}
