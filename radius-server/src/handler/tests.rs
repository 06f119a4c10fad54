use std::sync::Arc;
use std::time::Duration;

use tessera_common::AuditResult;
use tessera_common::Clock;
use tessera_common::TotpAlgorithm;
use tessera_common::TotpOptions;
use tessera_common::testing::RecordingMailer;
use tessera_common::testing::TestCore;
use tessera_common::testing::{TotpParams, totp_code};

use super::*;
use crate::clients::Clients;

const T0: u64 = 1_700_000_010;

struct Env {
    /// The installation: clock, audit sink, admin.
    core: TestCore,
    handler: Handler,
    clients: Clients,
    secret: Vec<u8>,
    recovery: Vec<String>,
}

fn env(radius: &str) -> Env {
    env_with(radius, Duration::from_secs(60))
}

fn env_with(radius: &str, state_lifetime: Duration) -> Env {
    env_full(radius, state_lifetime, None)
}

/// `[email]` for [`env_mail`]: no send interval, so every request may send.
const EMAIL: &str =
    "[email]\nsmtp_host = \"127.0.0.1\"\nfrom = \"tessera@example.com\"\nmin_interval = \"0s\"";

/// An environment whose mail goes to a recording mailer, with carol (e-mail only, password
/// "carolpass") and alice's address enrolled next to her authenticator.
fn env_mail(radius: &str) -> (Env, Arc<RecordingMailer>) {
    env_mail_with(radius, EMAIL)
}

/// [`env_mail`] with another `[email]` section.
fn env_mail_with(radius: &str, email: &str) -> (Env, Arc<RecordingMailer>) {
    let m = Arc::new(RecordingMailer::default());
    let e = env_full(
        &format!("{radius}\n{email}"),
        Duration::from_secs(60),
        Some(m.clone()),
    );
    for (user, password) in [("carol", Some("carolpass")), ("alice", None)] {
        let address = format!("{user}@example.com");
        if password.is_some() {
            e.core.admin.add_user(user, Some(&address)).unwrap();
            e.core.admin.set_password(user, password).unwrap();
        }
        let en = e
            .core
            .admin
            .enroll_email(user, Some(&address), None)
            .unwrap();
        let code = m.last_code(&address).unwrap();
        e.core
            .admin
            .confirm_factor(user, en.factor_id, &code)
            .unwrap();
    }
    (e, m)
}

fn env_full(radius: &str, state_lifetime: Duration, mailer: Option<Arc<RecordingMailer>>) -> Env {
    let text = format!(
        "[store]\npath = \"t.db\"\nkey_file = \"t.key\"\n[argon2]\nmemory_kib = 64\niterations = 1\n\
         [policy]\nmax_failures = 3\nmax_tries = 2\n\n{radius}\n\n\
         [[radius.clients]]\nname = \"vpn\"\naddress = \"127.0.0.1\"\nsecret = \"testing123-long-secret\"\n\
         [[radius.clients]]\nname = \"other\"\naddress = \"127.0.0.2\"\nsecret = \"testing123-long-secret\"\n\
         [[radius.clients]]\nname = \"campus\"\naddress = \"10.0.0.0/8\"\nsecret = \"testing123-long-secret\"\n"
    );
    let core = TestCore::new(&text, T0, mailer);
    let admin = &core.admin;
    admin.add_user("alice", None).unwrap();
    admin.set_password("alice", Some("hunter2")).unwrap();
    let en = core.enroll_totp("alice", &TotpOptions::activated());
    admin.add_user("bob", None).unwrap();
    admin.set_password("bob", Some("bobpass")).unwrap();
    let challenges = Arc::new(Challenges::new(state_lifetime, 100, 3, 100));
    Env {
        handler: Handler::new(core.auth.clone(), challenges),
        clients: Clients::from_config(&core.config.radius),
        secret: en.secret,
        recovery: en.recovery,
        core,
    }
}

impl Env {
    fn code(&self) -> String {
        let p = TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period: 30,
            window: 0,
        };
        totp_code(&p, &self.secret, self.core.clock.now()).unwrap()
    }

    fn send_from(
        &self,
        client: &str,
        user: &str,
        password: &str,
        state: Option<&[u8]>,
    ) -> Decision {
        self.handler
            .decide(self.request(client, user, password, state))
    }

    fn request(
        &self,
        client: &str,
        user: &str,
        password: &str,
        state: Option<&[u8]>,
    ) -> AccessRequest {
        let source: std::net::IpAddr = client.parse().unwrap();
        let client = self.clients.find(source).unwrap().clone();
        AccessRequest {
            client,
            source,
            user: Some(user.to_string()),
            credential: Credential::Pap(Zeroizing::new(password.as_bytes().to_vec())),
            state: state.map(<[u8]>::to_vec),
            nas: Nas {
                ip: Some("192.0.2.1".into()),
                identifier: Some("gw1".into()),
                calling_station: Some("203.0.113.9".into()),
            },
        }
    }

    /// A request from the first client with `credential` instead of a User-Password.
    fn decide_with(&self, user: &str, credential: Credential, state: Option<&[u8]>) -> Decision {
        let mut req = self.request("127.0.0.1", user, "", state);
        req.credential = credential;
        self.handler.decide(req)
    }

    fn send(&self, user: &str, password: &str) -> Decision {
        self.send_from("127.0.0.1", user, password, None)
    }
}

fn is_accept(d: &Decision) -> bool {
    matches!(d.reply, Reply::Accept(_))
}

fn challenge_state(d: &Decision) -> [u8; STATE_LEN] {
    match &d.reply {
        Reply::Challenge { state, .. } => *state,
        other => panic!("expected a challenge, got {other:?} ({})", d.reason),
    }
}

fn reject_message(d: &Decision) -> &str {
    match &d.reply {
        Reply::Reject { message } => message,
        other => panic!("expected a reject, got {other:?}"),
    }
}

#[test]
fn append_accepts_password_then_code_once() {
    let e = env("[radius]\nmode = \"append\"");
    let code = e.code();
    let d = e.send("alice", &format!("hunter2{code}"));
    assert!(is_accept(&d), "{}", d.reason);
    assert_eq!(d.reason, "method=totp");
    let d = e.send("alice", &format!("hunter2{code}"));
    assert_eq!(d.reason, "replayed");
    // A code used once is not a guess: the user is told, and nothing is counted.
    assert_eq!(
        reject_message(&d),
        "That code was already used; wait for the next one."
    );
}

#[test]
fn append_wrong_password_consumes_nothing() {
    let e = env("[radius]\nmode = \"append\"");
    let code = e.code();
    let d = e.send("alice", &format!("hunter3{code}"));
    assert_eq!(d.reason, "bad_password");
    assert_eq!(reject_message(&d), "Verification failed.");
    assert!(is_accept(&e.send("alice", &format!("hunter2{code}"))));
}

#[test]
fn append_wrong_code_and_missing_code_are_rejected() {
    let e = env("[radius]\nmode = \"append\"");
    let wrong = if e.code() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let d = e.send("alice", &format!("hunter2{wrong}"));
    assert_eq!(d.reason, "bad_code");
    let d = e.send("alice", "hunter2");
    assert_eq!(d.reason, "malformed_code");
}

#[test]
fn append_with_separator_and_recovery_code() {
    let e = env("[radius]\nmode = \"append\"\nseparator = \",\"");
    let d = e.send("alice", &format!("hunter2,{}", e.recovery[0]));
    assert!(is_accept(&d), "{}", d.reason);
    assert_eq!(d.reason, "method=recovery");
    let d = e.send("alice", &format!("hunter2,{}", e.recovery[0]));
    assert!(!is_accept(&d), "a recovery code works once");
}

#[test]
fn append_recovery_code_in_printed_form_without_separator() {
    let e = env("[radius]\nmode = \"append\"");
    let d = e.send("alice", &format!("hunter2{}", e.recovery[1]));
    assert!(is_accept(&d), "{}", d.reason);
}

#[test]
fn challenge_round_trip_and_state_is_single_use() {
    let e = env("[radius]\nmode = \"challenge\"");
    let d = e.send("alice", "hunter2");
    let state = challenge_state(&d);
    match &d.reply {
        Reply::Challenge { message, .. } => assert_eq!(message, "Verification code:"),
        other => panic!("{other:?}"),
    }
    let code = e.code();
    let d = e.send_from("127.0.0.1", "alice", &code, Some(&state));
    assert!(is_accept(&d), "{}", d.reason);
    e.core.clock.advance(30);
    let d = e.send_from("127.0.0.1", "alice", &e.code(), Some(&state));
    assert_eq!(d.reason, "unknown_state");
}

#[test]
fn challenge_wrong_password_gets_no_challenge() {
    let e = env("[radius]\nmode = \"challenge\"");
    let d = e.send("alice", "hunter3");
    assert_eq!(d.reason, "bad_password");
    let d = e.send("nobody", "hunter2");
    assert_eq!(d.reason, "bad_password", "unknown users look the same");
}

#[test]
fn challenge_retries_within_max_tries_then_rejects() {
    let e = env("[radius]\nmode = \"challenge\"");
    let state = challenge_state(&e.send("alice", "hunter2"));
    let wrong = if e.code() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let d = e.send_from("127.0.0.1", "alice", wrong, Some(&state));
    let state2 = challenge_state(&d);
    assert_ne!(state, state2, "a fresh State for the retry");
    match &d.reply {
        Reply::Challenge { message, .. } => {
            assert!(message.starts_with("Invalid code"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let d = e.send_from("127.0.0.1", "alice", wrong, Some(&state2));
    assert_eq!(d.reason, "bad_code");
}

#[test]
fn state_is_bound_to_user_and_client() {
    let e = env("[radius]\nmode = \"challenge\"");
    let state = challenge_state(&e.send("alice", "hunter2"));
    let code = e.code();
    let d = e.send_from("127.0.0.2", "alice", &code, Some(&state));
    assert_eq!(d.reason, "state_of_another_client");
    let d = e.send_from("127.0.0.1", "bob", &code, Some(&state));
    assert_eq!(d.reason, "state_of_another_user");
    // The owner can still use it.
    let d = e.send_from("127.0.0.1", "alice", &code, Some(&state));
    assert!(is_accept(&d), "{}", d.reason);
}

#[test]
fn state_is_bound_to_the_address_it_was_sent_to() {
    let e = env("[radius]\nmode = \"challenge\"");
    let state = challenge_state(&e.send_from("10.0.0.1", "alice", "hunter2", None));
    let code = e.code();
    // The same client (a network), another of its addresses.
    let d = e.send_from("10.0.0.2", "alice", &code, Some(&state));
    assert_eq!(d.reason, "state_of_another_address");
    assert!(!is_accept(&d));
    // The address it was sent to can still use it, also in its IPv4-mapped spelling.
    let mut req = e.request("10.0.0.1", "alice", &code, Some(&state));
    req.source = "::ffff:10.0.0.1".parse().unwrap();
    let d = e.handler.decide(req);
    assert!(is_accept(&d), "{}", d.reason);
}

#[test]
fn expired_state_is_refused() {
    let e = env_with("[radius]\nmode = \"challenge\"", Duration::ZERO);
    let state = challenge_state(&e.send("alice", "hunter2"));
    let d = e.send_from("127.0.0.1", "alice", &e.code(), Some(&state));
    assert_eq!(d.reason, "expired_state");
}

#[test]
fn auto_appends_with_a_valid_code_and_challenges_without() {
    let e = env("[radius]\nmode = \"auto\"");
    let d = e.send("alice", &format!("hunter2{}", e.code()));
    assert!(is_accept(&d), "{}", d.reason);
    e.core.clock.advance(30);
    let state = challenge_state(&e.send("alice", "hunter2"));
    let d = e.send_from("127.0.0.1", "alice", &e.code(), Some(&state));
    assert!(is_accept(&d), "{}", d.reason);
}

#[test]
fn auto_password_ending_in_digits_is_challenged() {
    let e = env("[radius]\nmode = \"auto\"");
    e.core
        .admin
        .set_password("alice", Some("hunter123456"))
        .unwrap();
    // The digits are not a current code, so all of it is the password.
    let d = e.send("alice", "hunter123456");
    let state = challenge_state(&d);
    let d = e.send_from("127.0.0.1", "alice", &e.code(), Some(&state));
    assert!(is_accept(&d), "{}", d.reason);
    e.core.clock.advance(30);
    let d = e.send("alice", &format!("hunter123456{}", e.code()));
    assert!(is_accept(&d), "{}", d.reason);
}

#[test]
fn auto_unenrolled_user_is_challenged_then_refused() {
    let e = env("[radius]\nmode = \"auto\"");
    let state = challenge_state(&e.send("bob", "bobpass"));
    let d = e.send_from("127.0.0.1", "bob", "123456", Some(&state));
    let state = challenge_state(&d);
    let d = e.send_from("127.0.0.1", "bob", "123456", Some(&state));
    assert_eq!(d.reason, "not_enrolled");
}

#[test]
fn otp_only_checks_the_code_alone() {
    let e = env("[radius]\nmode = \"otp-only\"\nfirst_factor = \"none\"");
    let d = e.send("alice", &e.code());
    assert!(is_accept(&d), "{}", d.reason);
    let d = e.send("alice", &e.code());
    assert_eq!(d.reason, "replayed");
}

#[test]
fn openvpn_static_challenge_is_decoded() {
    let e = env("[radius]\nmode = \"append\"");
    let code = e.code();
    let b64 = |s: &str| {
        use base64ct::Encoding;
        base64ct::Base64::encode_string(s.as_bytes())
    };
    let d = e.send("alice", &format!("SCRV1:{}:{}", b64("hunter2"), b64(&code)));
    assert!(is_accept(&d), "{}", d.reason);
}

#[test]
fn chap_is_refused_with_a_reason() {
    let e = env("[radius]\nmode = \"append\"");
    let d = e.decide_with("alice", Credential::Chap, None);
    assert_eq!(d.reason, "chap_cannot_carry_a_one_time_code");
    assert_eq!(reject_message(&d), "Verification failed.");
    let ev = e.core.sink.events();
    assert!(
        ev.iter()
            .any(|a| a.detail.as_deref() == Some("chap_cannot_carry_a_one_time_code")),
        "audited: {ev:?}"
    );
}

#[test]
fn unenrolled_user_passes_on_password_only_when_allowed() {
    let e = env("[radius]\nmode = \"append\"");
    let d = e.send("bob", "bobpass");
    assert!(!is_accept(&d));
    let e = env("[radius]\nmode = \"append\"\nallow_unenrolled = true");
    let d = e.send("bob", "bobpass");
    assert!(is_accept(&d), "{}", d.reason);
    assert_eq!(d.reason, "unenrolled_allowed");
    assert_eq!(e.send("bob", "wrong").reason, "bad_password");
    assert_eq!(e.send("nobody", "bobpass").reason, "bad_password");
}

#[test]
fn lockout_after_repeated_failures_is_told() {
    let e = env("[radius]\nmode = \"append\"");
    let wrong = if e.code() == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..3 {
        assert!(!is_accept(&e.send("alice", &format!("hunter2{wrong}"))));
    }
    let d = e.send("alice", &format!("hunter2{}", e.code()));
    assert_eq!(d.reason, "locked_out");
    assert!(
        reject_message(&d).contains("locked"),
        "{}",
        reject_message(&d)
    );
}

#[test]
fn reply_attributes_go_on_accept() {
    let e = env(
        "[radius]\nmode = \"append\"\n[[radius.reply]]\nuser = \"alice\"\nclass = \"admins\"\nfilter_id = \"vpn-admins\"\nsession_timeout = 3600",
    );
    let d = e.send("alice", &format!("hunter2{}", e.code()));
    assert_eq!(
        d.reply,
        Reply::Accept(vec![
            ReplyAttr::Bytes(codec::CLASS, b"admins".to_vec()),
            ReplyAttr::Text(codec::FILTER_ID, "vpn-admins".into()),
            ReplyAttr::U32(codec::SESSION_TIMEOUT, 3600),
        ])
    );
}

#[test]
fn audit_source_names_the_nas() {
    let e = env("[radius]\nmode = \"append\"");
    e.send("alice", &format!("hunter2{}", e.code()));
    let ev = e.core.sink.events();
    let last = ev.last().unwrap();
    assert_eq!(last.service, "vpn");
    assert_eq!(
        last.source.as_deref(),
        Some("cs=203.0.113.9,nas_ip=192.0.2.1,nas_id=gw1")
    );
}

#[test]
fn challenge_answered_without_user_password_asks_for_a_mailed_code() {
    let (e, m) = env_mail("[radius]\nmode = \"challenge\"");
    let sent = m.messages().len();
    // alice prefers her authenticator: the challenge offers the mail, sends nothing.
    let d = e.send("alice", "hunter2");
    let state = challenge_state(&d);
    assert_eq!(m.messages().len(), sent);
    // She presses Enter: the NAS sends the State with no User-Password (RFC 2865 §4.1).
    let d = e.decide_with("alice", Credential::Missing, Some(&state));
    let state = challenge_state(&d);
    match &d.reply {
        Reply::Challenge { message, .. } => {
            assert_eq!(message, "A code was sent to a***@example.com. Code:")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.messages().len(), sent + 1);
    let code = m.last_code("alice@example.com").unwrap();
    let d = e.send_from("127.0.0.1", "alice", &code, Some(&state));
    assert!(is_accept(&d), "{}", d.reason);
    assert_eq!(d.reason, "method=email");

    // Without a State, a missing User-Password is still refused.
    let d = e.decide_with("alice", Credential::Missing, None);
    assert_eq!(d.reason, "no_user_password");
}

#[test]
fn append_bare_password_mails_a_code_or_says_the_mail_failed() {
    let (e, m) = env_mail("[radius]\nmode = \"append\"");
    // carol still has recovery codes, so a failed mail does not end her login in the core;
    // append mode cannot prompt, so the reject must say nothing was sent.
    m.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let d = e.send("carol", "carolpass");
    assert_eq!(d.reason, "mail_failed");
    assert_eq!(
        reject_message(&d),
        "Could not send a code by email; try another method."
    );

    m.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let d = e.send("carol", "carolpass");
    assert_eq!(d.reason, "code_sent_by_email");
    assert!(
        reject_message(&d).starts_with("A code was sent to c***@example.com."),
        "{}",
        reject_message(&d)
    );
    let code = m.last_code("carol@example.com").unwrap();
    let d = e.send("carol", &format!("carolpass{code}"));
    assert!(is_accept(&d), "{}", d.reason);
    assert_eq!(d.reason, "method=email");
}

#[test]
fn append_bare_password_within_the_send_interval_says_so_and_is_audited() {
    let (e, m) = env_mail_with(
        "[radius]\nmode = \"append\"",
        &EMAIL.replace("min_interval = \"0s\"", "min_interval = \"60s\""),
    );
    // Past the interval since the enrollment's confirmation mail.
    e.core.clock.advance(61);
    let d = e.send("carol", "carolpass");
    assert_eq!(d.reason, "code_sent_by_email");
    let mails = m.messages().len();
    // Again at once: no new mail, and the log and the audit say why rather than "sent".
    let d = e.send("carol", "carolpass");
    assert_eq!(d.reason, "email_send_interval");
    assert!(
        reject_message(&d).contains("a moment ago and is still valid"),
        "{}",
        reject_message(&d)
    );
    assert_eq!(m.messages().len(), mails);
    let last = e.core.sink.events().pop().unwrap();
    assert_eq!(
        (last.user.as_str(), last.result, last.detail.as_deref()),
        ("carol", AuditResult::Reject, Some("email_send_interval"))
    );
    // The code sent first still works.
    let code = m.last_code("carol@example.com").unwrap();
    assert!(is_accept(&e.send("carol", &format!("carolpass{code}"))));
}

#[test]
fn quick_requests_are_codes_alone_that_need_no_argon2_or_mail() {
    let e = env("[radius]\nmode = \"otp-only\"\nfirst_factor = \"none\"");
    let quick = |client: &str, password: &str, state: Option<&[u8]>| {
        e.handler
            .is_quick(&e.request(client, "alice", password, state))
    };
    let code = e.code();
    assert!(quick("127.0.0.1", &code, None));
    let b64 = |s: &str| {
        use base64ct::Encoding;
        base64ct::Base64::encode_string(s.as_bytes())
    };
    assert!(quick(
        "127.0.0.1",
        &format!("SCRV1:{}:{}", b64("pw"), b64(&code)),
        None
    ));
    // A recovery code (Argon2) or a request for an e-mailed code (a mail) is not quick.
    assert!(!quick("127.0.0.1", &e.recovery[0], None));
    assert!(!quick("127.0.0.1", "", None));
    // The answer to a challenge is quick whatever the client's mode.
    assert!(quick("127.0.0.1", &code, Some(&[7u8; STATE_LEN])));
    // Nor is anything that carries a password to check.
    let append = env("[radius]\nmode = \"append\"");
    assert!(!append.handler.is_quick(&append.request(
        "127.0.0.1",
        "alice",
        &format!("hunter2{code}"),
        None
    )));
    assert!(append.handler.is_quick(&append.request(
        "127.0.0.1",
        "alice",
        &code,
        Some(&[7u8; STATE_LEN])
    )));
    let mut chap = e.request("127.0.0.1", "alice", &code, None);
    chap.credential = Credential::Chap;
    assert!(!e.handler.is_quick(&chap));
    let mut anonymous = e.request("127.0.0.1", "alice", &code, None);
    anonymous.user = None;
    assert!(!e.handler.is_quick(&anonymous));
}

#[test]
fn a_batch_decides_each_request_as_alone() {
    let e = env("[radius]\nmode = \"otp-only\"\nfirst_factor = \"none\"");
    let code = e.code();
    let decisions = e.handler.decide_batch(vec![
        e.request("127.0.0.1", "alice", &code, None),
        e.request("127.0.0.1", "bob", &code, None),
        e.request("127.0.0.1", "alice", "000000", None),
        e.request("127.0.0.1", "alice", &code, None),
    ]);
    let reasons: Vec<&str> = decisions.iter().map(|d| d.reason.as_str()).collect();
    assert!(is_accept(&decisions[0]), "{reasons:?}");
    assert_eq!(decisions[0].user, "alice");
    assert_eq!(&reasons[1..], ["not_enrolled", "bad_code", "replayed"]);
    assert_eq!(decisions[1].user, "bob");
    // Committed: the batch's wrong code counts (a replay does not; max_failures = 3), so the
    // second wrong code after it locks.
    assert_eq!(e.send("alice", "000000").reason, "bad_code");
    assert_eq!(e.send("alice", "000000").reason, "locked_out");
    // Every decision has its audit line, in order.
    let results: Vec<_> = e
        .core
        .sink
        .events()
        .iter()
        .rev()
        .take(6)
        .map(|ev| (ev.user.clone(), ev.result))
        .collect();
    assert_eq!(results.len(), 6);
    assert_eq!(results[5], ("alice".to_string(), AuditResult::Accept));
}

// ---- issue 9: every wrong code counts once, whatever the mode -------------------------------

/// The wrong code of a valid-looking shape for alice now.
fn wrong_code(e: &Env) -> String {
    let good = e.code();
    let near: Vec<String> = [30u64, 0]
        .iter()
        .map(|back| {
            let p = TotpParams {
                algorithm: TotpAlgorithm::Sha1,
                digits: 6,
                period: 30,
                window: 0,
            };
            totp_code(&p, &e.secret, e.core.clock.now() - back).unwrap()
        })
        .collect();
    (0..)
        .map(|n| format!("{:06}", 111_111 * (n % 9 + 1) + n / 9))
        .find(|c| *c != good && !near.contains(c))
        .unwrap()
}

/// Defect 1: in `auto` (the default), the right password and a wrong code was taken for a wrong
/// password and never counted.
#[test]
fn auto_right_password_and_wrong_codes_lock_the_user_and_the_right_code_is_refused() {
    let e = env("[radius]\nmode = \"auto\"");
    let wrong = wrong_code(&e);
    for i in 1..=2 {
        // Counted, and (max_tries = 2) challenged to try again.
        let d = e.send("alice", &format!("hunter2{wrong}"));
        assert_eq!(d.reason, "challenge", "attempt {i}");
        let lock = e.core.admin.show_user("alice").unwrap().lock;
        assert_eq!(lock.codes.failures, i, "attempt {i} counted once");
    }
    // max_failures = 3: the third locks, and says so.
    let d = e.send("alice", &format!("hunter2{wrong}"));
    assert_eq!(d.reason, "locked_out");
    assert!(reject_message(&d).contains("locked for 15 minutes"));
    let d = e.send("alice", &format!("hunter2{}", e.code()));
    assert_eq!(d.reason, "locked_out");
    // No "press Enter" in a text a VPN client shows.
    assert!(!reject_message(&d).contains("Enter"));
}

#[test]
fn auto_wrong_mailed_codes_lock_the_user_too() {
    let (e, m) = env_mail("[radius]\nmode = \"auto\"");
    // carol (e-mail only): the password alone mails a code and challenges for it.
    let d = e.send("carol", "carolpass");
    assert!(matches!(d.reply, Reply::Challenge { .. }), "{}", d.reason);
    let sent = m.last_code("carol@example.com").unwrap();
    let wrong = format!("{:06}", (sent.parse::<u32>().unwrap() + 1) % 1_000_000);
    for i in 1..=2 {
        assert_eq!(
            e.send("carol", &format!("carolpass{wrong}")).reason,
            "challenge"
        );
        let lock = e.core.admin.show_user("carol").unwrap().lock;
        assert_eq!(lock.codes.failures, i);
    }
    assert_eq!(
        e.send("carol", &format!("carolpass{wrong}")).reason,
        "locked_out"
    );
    assert_eq!(
        e.send("carol", &format!("carolpass{sent}")).reason,
        "locked_out"
    );
}

/// A request refused on sight (CHAP, MS-CHAP, EAP) counts nothing, however often it comes.
#[test]
fn refused_credentials_count_nothing() {
    let e = env("[radius]\nmode = \"append\"");
    for _ in 0..10 {
        e.decide_with("alice", Credential::Chap, None);
        e.decide_with("alice", Credential::MsChap, None);
    }
    let d = e.send("alice", &format!("hunter2{}", e.code()));
    assert!(is_accept(&d), "{}", d.reason);
    let lock = e.core.admin.show_user("alice").unwrap().lock;
    assert_eq!(lock.codes.failures, 0);
}

/// Defect 3 over RADIUS: `otp-only` with `allow_unenrolled` let spellings of an enrolled name
/// through as "unenrolled".
#[test]
fn otp_only_allow_unenrolled_accepts_no_spelling_of_an_enrolled_name_without_its_code() {
    let e = env("[radius]\nmode = \"otp-only\"\nfirst_factor = \"none\"\nallow_unenrolled = true");
    for user in ["ALICE", "alice ", " alice", "\u{ff41}lice", "alice\u{200b}"] {
        let d = e.send(user, "000000");
        assert!(!is_accept(&d), "{user:?}: {}", d.reason);
    }
    e.core.admin.unlock_user("alice").unwrap();
    let d = e.send("Alice", &e.code());
    assert!(is_accept(&d), "{}", d.reason);
    assert_eq!(d.reason, "method=totp");
    assert_eq!(e.send("nobody", "000000").reason, "unenrolled_allowed");
}

#[test]
fn the_accept_after_wrong_codes_tells_how_many() {
    let e = env("[radius]\nmode = \"otp-only\"\nfirst_factor = \"none\"");
    let wrong = wrong_code(&e);
    e.send("alice", &wrong);
    e.send("alice", &wrong);
    let d = e.send("alice", &e.code());
    match &d.reply {
        Reply::Accept(attrs) => assert!(
            attrs.iter().any(|a| matches!(a,
                ReplyAttr::Text(codec::REPLY_MESSAGE, t) if t.contains("2 wrong codes were entered"))),
            "{attrs:?}"
        ),
        other => panic!("{other:?}"),
    }
}

/// Defect 5: the RADIUS password had no throttle.
#[test]
fn wrong_passwords_are_throttled_per_calling_station() {
    let e = env("[radius]\nmode = \"challenge\"");
    for _ in 0..3 {
        assert_eq!(e.send("alice", "nope").reason, "bad_password");
    }
    assert_eq!(e.send("alice", "hunter2").reason, "throttled");
    assert!(
        reject_message(&e.send("alice", "hunter2")).contains("try again in 15 minutes"),
        "told for how long"
    );
    // The second-factor lockout is untouched.
    let lock = e.core.admin.show_user("alice").unwrap().lock;
    assert_eq!(lock.codes.failures, 0);
    assert!(!lock.lock_at(e.core.clock.now()).is_locked());
}

#[test]
fn otp_only_takes_the_code_out_of_an_openvpn_static_challenge() {
    let e = env("[radius]\nmode = \"otp-only\"\nfirst_factor = \"none\"");
    let b64 = |s: &str| {
        use base64ct::Encoding;
        base64ct::Base64::encode_string(s.as_bytes())
    };
    let scrv1 = format!("SCRV1:{}:{}", b64("checked-by-the-vpn"), b64(&e.code()));
    let req = e.request("127.0.0.1", "alice", &scrv1, None);
    assert!(e.handler.is_quick(&req));
    let d = e.handler.decide(req);
    assert!(is_accept(&d), "{}", d.reason);
    // A recovery code inside one is slow work (Argon2): not for the batch.
    let rc = format!("SCRV1:{}:{}", b64("pw"), b64(&e.recovery[0]));
    assert!(
        !e.handler
            .is_quick(&e.request("127.0.0.1", "alice", &rc, None))
    );
}

fn scrv1(password: &str, response: &str) -> String {
    use base64ct::Encoding;
    let b64 = |s: &str| base64ct::Base64::encode_string(s.as_bytes());
    format!("SCRV1:{}:{}", b64(password), b64(response))
}

#[test]
fn otp_only_checks_the_password_inside_an_openvpn_static_challenge() {
    // first_factor = "password" (the default): a password that travels is checked.
    let e = env("[radius]\nmode = \"otp-only\"");
    let code = e.code();
    let req = e.request(
        "127.0.0.1",
        "alice",
        &scrv1("not-her-password", &code),
        None,
    );
    assert!(
        !e.handler.is_quick(&req),
        "a password to check is Argon2 work"
    );
    let d = e.handler.decide(req);
    assert!(!is_accept(&d));
    assert_eq!(d.reason, "bad_password");
    // The code was not consumed: with her password it logs her in.
    let d = e.send("alice", &scrv1("hunter2", &code));
    assert!(is_accept(&d), "{}", d.reason);
}

/// Review 2h: a bare code skipped the password Tessera is configured to check.
#[test]
fn otp_only_with_the_password_checked_here_refuses_a_code_alone_as_a_wrong_password() {
    let e = env("[radius]\nmode = \"otp-only\"");
    let code = e.code();
    let req = e.request("127.0.0.1", "alice", &code, None);
    assert!(
        !e.handler.is_quick(&req),
        "refused at a wrong password's cost (Argon2)"
    );
    let d = e.handler.decide(req);
    assert!(!is_accept(&d));
    assert_eq!(d.reason, "bad_password");
    // Nothing was spent: with her password the same code logs her in.
    let d = e.send("alice", &scrv1("hunter2", &code));
    assert!(is_accept(&d), "{}", d.reason);
}

#[test]
fn a_challenge_answer_is_quick_where_the_password_was_checked_before_the_challenge() {
    let e = env("[radius]\nmode = \"challenge\"");
    let state = [7u8; STATE_LEN];
    assert!(
        e.handler
            .is_quick(&e.request("127.0.0.1", "alice", "123456", Some(&state)))
    );
}

#[test]
fn otp_only_mails_nothing_before_a_password_checked_out() {
    let (e, m) = env_mail("[radius]\nmode = \"otp-only\"");
    let sent = m.messages().len();
    // carol has e-mail only; an empty User-Password proves nothing.
    for answer in ["", "email"] {
        let d = e.send("carol", answer);
        assert!(matches!(d.reply, Reply::Reject { .. }), "{:?}", d.reply);
        assert_eq!(d.reason, "bad_password", "no password in {answer:?}");
        assert!(!reject_message(&d).contains('@'), "{}", reject_message(&d));
        assert_eq!(m.messages().len(), sent, "mailed on {answer:?}");
    }
    // The wrong password in an OpenVPN static challenge mails nothing either.
    let d = e.send("carol", &scrv1("wrong", ""));
    assert_eq!(d.reason, "bad_password");
    assert_eq!(m.messages().len(), sent);
    // Her password with an empty response (from her own place: three wrong passwords
    // throttled this one): now a code is mailed and the challenge says where.
    let mut req = e.request("127.0.0.1", "carol", &scrv1("carolpass", ""), None);
    req.nas.calling_station = Some("203.0.113.10".into());
    let d = e.handler.decide(req);
    match &d.reply {
        Reply::Challenge { message, .. } => assert!(message.contains("c***@example.com")),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.messages().len(), sent + 1);
}

#[test]
fn otp_only_with_the_password_checked_by_the_nas_mails_on_request() {
    let (e, m) = env_mail("[radius]\nmode = \"otp-only\"\nfirst_factor = \"none\"");
    let sent = m.messages().len();
    let d = e.send("carol", "");
    assert!(matches!(d.reply, Reply::Challenge { .. }), "{:?}", d.reply);
    assert_eq!(m.messages().len(), sent + 1);
}
