//! Enrollment at login: the proof, the new factor, the recovery codes, and what is counted.

use super::*;
use crate::base::otp::from_base32;
use crate::store::{EmailCodeStore, FactorKind, FactorStatus, FactorStore, InviteStore};

fn env_policy(policy: &str, mailer: Option<Arc<RecordingMailer>>) -> Env {
    let email = if mailer.is_some() {
        "[email]\nsmtp_host = \"localhost\"\nfrom = \"t@example.com\"\nmin_interval = \"60s\"\n"
    } else {
        ""
    };
    // `env_with` opens [policy] last: the enrollment keys go after it.
    let text = format!(
        "[store]\npath = \"t.db\"\nkey_file = \"t.key\"\n[argon2]\nmemory_kib = 64\niterations = 1\n{email}[policy]\nmax_failures = 5\nlockout = \"15m\"\nmax_tries = 3\nenroll_at_login = \"{policy}\"\nenroll_help = \"See https://help.example.com/2fa.\"\n"
    );
    TestCore::new(&text, T0, mailer)
}

fn begin(e: &Env, req: LoginRequest) -> (Box<Login>, Prompt) {
    match e.auth.begin(req).unwrap() {
        Begin::Prompt(l, p) => (l, p),
        other => panic!("expected a prompt, got {other:?}"),
    }
}

fn shown(p: &Prompt) -> String {
    p.messages
        .iter()
        .map(|m| m.expose().clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The raw secret of the authenticator a prompt shows (from its otpauth URI).
fn secret_of(p: &Prompt) -> Vec<u8> {
    let text = shown(p);
    let at = text.find("secret=").expect("a URI with the secret") + 7;
    let b32: String = text[at..].chars().take_while(|c| *c != '&').collect();
    from_base32(&b32).unwrap().expose().clone()
}

fn factors(e: &Env, user: &str) -> Vec<crate::store::Factor> {
    let u = e.store.user(&crate::name_key(user)).unwrap().unwrap();
    e.store.factors(u.id).unwrap()
}

fn audit_details(e: &Env) -> Vec<String> {
    e.store
        .audit(None, 200)
        .unwrap()
        .into_iter()
        .filter_map(|a| a.detail)
        .collect()
}

#[test]
fn off_keeps_refusing_the_unenrolled() {
    let e = env_policy("off", None);
    e.admin.add_user("alice", None).unwrap();
    e.admin.invite_user("alice", None).unwrap();
    assert_eq!(
        login(&e, request("alice"), "123456"),
        Outcome::Rejected(Reject::NotEnrolled)
    );
}

#[test]
fn required_without_a_proof_is_refused_with_where_to_go() {
    let e = env_policy("required", None);
    e.admin.add_user("alice", None).unwrap();
    let req = LoginRequest {
        allow_unenrolled: true,
        ..request("alice")
    };
    // Required wins over nullok: 2FA is mandatory.
    assert!(matches!(
        e.auth.begin(req).unwrap(),
        Begin::Rejected(Reject::NotSetUp)
    ));
    let text = e.auth.refusal_message(Reject::NotSetUp, Channel::Terminal);
    assert!(text.contains("ask your administrator"), "{text}");
    assert!(text.contains("https://help.example.com/2fa"), "{text}");
    assert!(
        audit_details(&e)
            .iter()
            .any(|d| d == "not_set_up; no_invitation")
    );
}

#[test]
fn an_invitation_sets_up_an_authenticator_that_is_active_only_after_its_code() {
    let e = env_policy("required", None);
    let inv = e.admin.invite_user("alice", None).unwrap();
    assert!(inv.user_created);
    let (mut l, p) = begin(&e, request("alice"));
    assert_eq!(p.kind, PromptKind::EnrollmentCode);
    assert!(shown(&p).contains("must be set up"), "{}", shown(&p));

    // A wrong invitation is one wrong code against the user.
    let o = e.auth.answer(&mut l, "aaaa-bbbb-cccc-dddd").unwrap();
    assert!(
        matches!(o, Outcome::Prompt(ref p) if p.after == Some(Reject::BadCode)),
        "{o:?}"
    );
    assert_eq!(lock_of(&e, "alice").codes.failures, 1);

    let Outcome::Prompt(p) = e.auth.answer(&mut l, inv.code.expose()).unwrap() else {
        panic!("the authenticator is shown");
    };
    assert_eq!(p.kind, PromptKind::NewFactorCode);
    let text = shown(&p);
    assert!(
        p.messages[0].expose().starts_with('\n'),
        "sshd puts (user@host) before it"
    );
    assert!(
        text.contains('\u{2588}') || text.contains('\u{2580}'),
        "a QR code: {text}"
    );
    assert!(text.contains("otpauth://totp/"), "{text}");
    assert!(text.contains("Or enter this key by hand"), "{text}");
    assert!(p.messages.iter().all(|m| m.expose().len() <= 512));
    let secret = secret_of(&p);
    let pending = factors(&e, "alice");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, FactorStatus::Pending);

    // A wrong code keeps it pending and counts.
    let wrong = crate::testing::wrong_code(&secret, 6, T0);
    let o = e.auth.answer(&mut l, &wrong).unwrap();
    assert!(matches!(o, Outcome::Prompt(_)), "{o:?}");
    assert_eq!(factors(&e, "alice")[0].status, FactorStatus::Pending);
    assert_eq!(lock_of(&e, "alice").codes.failures, 2);

    let Outcome::Prompt(p) = e.auth.answer(&mut l, &code(&secret, T0)).unwrap() else {
        panic!("the recovery codes are shown");
    };
    assert_eq!(p.kind, PromptKind::Acknowledge);
    assert!(p.echo);
    let f = factors(&e, "alice");
    assert_eq!(f[0].status, FactorStatus::Active);
    let u = e.store.user(&crate::name_key("alice")).unwrap().unwrap();
    assert!(e.store.invite(u.id).unwrap().unwrap().used_at.is_some());
    let recovery: Vec<String> = shown(&p)
        .split_whitespace()
        .filter(|w| crate::factor::recovery::is_printed(w))
        .map(str::to_string)
        .collect();
    assert_eq!(recovery.len(), 10, "{}", shown(&p));

    // Not a yes: asked again, not counted.
    let o = e.auth.answer(&mut l, "ok").unwrap();
    assert!(matches!(o, Outcome::Prompt(ref p) if p.kind == PromptKind::Acknowledge));
    let o = e.auth.answer(&mut l, "YES").unwrap();
    assert!(
        matches!(
            o,
            Outcome::Accepted(Verified {
                method: Method::Totp { .. },
                ..
            })
        ),
        "{o:?}"
    );
    assert!(audit_details(&e).iter().any(|d| d == "enrolled_at_login"));

    // The codes shown work, and the factor logs in (not with the step used to confirm).
    e.clock.set(T0 + 30);
    assert!(matches!(
        login(&e, request("alice"), &code(&secret, T0 + 30)),
        Outcome::Accepted(_)
    ));
    assert!(matches!(
        login(&e, request("alice"), &recovery[0]),
        Outcome::Accepted(Verified {
            method: Method::Recovery { .. },
            ..
        })
    ));
}

#[test]
fn an_invitation_cannot_be_used_twice() {
    let e = env_policy("required", None);
    let inv = e.admin.invite_user("alice", None).unwrap();
    // Two logins with the same invitation at once: the first to activate uses it.
    let (mut a, _) = begin(&e, request("alice"));
    let (mut b, _) = begin(&e, request("alice"));
    let Outcome::Prompt(pa) = e.auth.answer(&mut a, inv.code.expose()).unwrap() else {
        panic!()
    };
    let Outcome::Prompt(pb) = e.auth.answer(&mut b, inv.code.expose()).unwrap() else {
        panic!()
    };
    let (sa, sb) = (secret_of(&pa), secret_of(&pb));
    assert!(matches!(
        e.auth.answer(&mut a, &code(&sa, T0)).unwrap(),
        Outcome::Prompt(_)
    ));
    // The other's factor went with the first's success: refused.
    assert!(matches!(
        e.auth.answer(&mut b, &code(&sb, T0)).unwrap(),
        Outcome::Rejected(_)
    ));
    let active: Vec<_> = factors(&e, "alice")
        .into_iter()
        .filter(|f| f.status == FactorStatus::Active)
        .collect();
    assert_eq!(active.len(), 1);
    // With the factor gone, the used invitation is no proof.
    e.admin.remove_factor("alice", active[0].id).unwrap();
    assert!(matches!(
        e.auth.begin(request("alice")).unwrap(),
        Begin::Rejected(Reject::NotSetUp)
    ));
    // An expired one neither.
    let inv = e
        .admin
        .invite_user("alice", Some(std::time::Duration::from_secs(3600)))
        .unwrap();
    e.clock.set(T0 + 3600);
    assert!(matches!(
        e.auth.begin(request("alice")).unwrap(),
        Begin::Rejected(Reject::NotSetUp)
    ));
    drop(inv);
}

#[test]
fn optional_can_be_skipped_and_never_succeeds_unenrolled() {
    let e = env_policy("optional", None);
    e.admin.add_user("bob", None).unwrap();
    // No proof: as if enrollment were off: refused, or stepping aside only under nullok.
    assert!(matches!(
        e.auth.begin(request("bob")).unwrap(),
        Begin::Rejected(Reject::NotEnrolled)
    ));
    let nullok = LoginRequest {
        allow_unenrolled: true,
        ..request("bob")
    };
    assert!(matches!(e.auth.begin(nullok).unwrap(), Begin::Ignore));
    let inv = e.admin.invite_user("alice", None).unwrap();
    let (mut l, p) = begin(&e, request("alice"));
    assert!(p.text.contains("skip"), "{}", p.text);
    assert_eq!(e.auth.answer(&mut l, "skip").unwrap(), Outcome::Ignored);
    assert!(
        audit_details(&e)
            .iter()
            .any(|d| d == "not_enrolled; enroll_skipped")
    );
    // The invitation is still there for next time.
    let (mut l, _) = begin(&e, request("alice"));
    assert!(matches!(
        e.auth.answer(&mut l, inv.code.expose()).unwrap(),
        Outcome::Prompt(ref p) if p.kind == PromptKind::NewFactorCode
    ));
}

#[test]
fn required_cannot_be_skipped() {
    let e = env_policy("required", None);
    e.admin.invite_user("alice", None).unwrap();
    let (mut l, _) = begin(&e, request("alice"));
    let o = e.auth.answer(&mut l, "skip").unwrap();
    assert!(matches!(o, Outcome::Prompt(ref p) if shown(p).contains("cannot be skipped")));
    assert_eq!(lock_of(&e, "alice").codes.failures, 0, "not a guess");
}

#[test]
fn a_mailed_code_is_the_proof_where_the_admin_set_an_address() {
    let mailer = Arc::new(RecordingMailer::default());
    let e = env_policy("required", Some(mailer.clone()));
    e.admin
        .add_user("alice", Some("alice@example.com"))
        .unwrap();
    let (mut l, p) = begin(&e, request("alice"));
    assert!(
        p.text.contains("A code was sent to a***@example.com"),
        "{}",
        p.text
    );
    let mailed = mailer.last_code("alice@example.com").unwrap();
    let Outcome::Prompt(p) = e.auth.answer(&mut l, &mailed).unwrap() else {
        panic!()
    };
    assert_eq!(p.kind, PromptKind::NewFactorCode);
    let secret = secret_of(&p);
    assert!(matches!(
        e.auth.answer(&mut l, &code(&secret, T0)).unwrap(),
        Outcome::Prompt(ref p) if p.kind == PromptKind::Acknowledge
    ));
    assert!(matches!(
        e.auth.answer(&mut l, "yes").unwrap(),
        Outcome::Accepted(_)
    ));
    let f = factors(&e, "alice");
    assert_eq!(
        f.len(),
        1,
        "the placeholder the code was bound to is gone: {f:?}"
    );
    assert_eq!(
        (f[0].kind, f[0].status),
        (FactorKind::Totp, FactorStatus::Active)
    );
    // The mailed code was single use.
    let u = e.store.user(&crate::name_key("alice")).unwrap().unwrap();
    assert!(e.store.email_code(u.id).unwrap().is_none());
}

#[test]
fn over_radius_the_mailed_code_makes_email_the_factor_and_an_invitation_is_of_no_use() {
    let mailer = Arc::new(RecordingMailer::default());
    let e = env_policy("required", Some(mailer.clone()));
    e.admin.invite_user("carol", None).unwrap();
    let radius = |u: &str| LoginRequest {
        channel: Channel::Radius,
        ..request(u)
    };
    assert!(matches!(
        e.auth.begin(radius("carol")).unwrap(),
        Begin::Rejected(Reject::NotSetUp)
    ));
    let told = e.auth.refusal_message(Reject::NotSetUp, Channel::Radius);
    assert!(told.contains("cannot be set up from here"), "{told}");
    assert!(told.contains("https://help.example.com/2fa"), "{told}");
    assert!(
        !told.contains("enrollment code"),
        "a code is of no use over RADIUS: {told}"
    );
    e.admin
        .add_user("alice", Some("alice@example.com"))
        .unwrap();
    let (mut l, p) = begin(&e, radius("alice"));
    assert!(
        p.text.contains("make e-mail your second factor"),
        "{}",
        p.text
    );
    let mailed = mailer.last_code("alice@example.com").unwrap();
    // Accepted at once: no recovery codes in a Reply-Message, which crosses the network in
    // clear.
    let o = e.auth.answer(&mut l, &mailed).unwrap();
    assert!(
        matches!(
            o,
            Outcome::Accepted(Verified {
                method: Method::Email { .. },
                ..
            })
        ),
        "{o:?}"
    );
    let f = factors(&e, "alice");
    assert_eq!(
        (f[0].kind, f[0].status),
        (FactorKind::Email, FactorStatus::Active)
    );
    // The enrollment's mail does not hold the send interval against the next login.
    let (_, p) = begin(&e, radius("alice"));
    assert!(p.text.contains("A code was sent"), "{}", p.text);
}

#[test]
fn nothing_is_offered_before_the_first_factor() {
    let e = env_policy("required", None);
    e.admin.invite_user("alice", None).unwrap();
    let req = LoginRequest {
        first_factor: FirstFactor::Unproven,
        entry: Entry::Combined {
            separator: None,
            missing_code: MissingCode::Fail,
        },
        ..request("alice")
    };
    let (mut l, p) = begin(&e, req);
    assert_eq!(p.kind, PromptKind::PasswordAndCode);
    let o = e.auth.answer(&mut l, "secret123456").unwrap();
    assert!(matches!(o, Outcome::Rejected(_)), "{o:?}");
    assert!(!audit_details(&e).iter().any(|d| d.starts_with("enroll")));
}

#[test]
fn a_confirmed_email_factor_leaves_the_first_login_its_send() {
    let mailer = Arc::new(RecordingMailer::default());
    let e = env_policy("off", Some(mailer.clone()));
    e.admin
        .add_user("alice", Some("alice@example.com"))
        .unwrap();
    let en = e.admin.enroll_email("alice", None, None).unwrap();
    let c = mailer.last_code("alice@example.com").unwrap();
    e.admin.confirm_factor("alice", en.factor_id, &c).unwrap();
    let before = mailer.messages().len();
    let (_, p) = begin(&e, request("alice"));
    assert_eq!(mailer.messages().len(), before + 1, "{p:?}");
}

#[test]
fn a_lock_set_during_enrollment_ends_it() {
    let e = env_policy("required", None);
    let inv = e.admin.invite_user("alice", None).unwrap();
    let (mut l, _) = begin(&e, request("alice"));
    let Outcome::Prompt(p) = e.auth.answer(&mut l, inv.code.expose()).unwrap() else {
        panic!()
    };
    let secret = secret_of(&p);
    e.admin.lock_user("alice").unwrap();
    let o = e.auth.answer(&mut l, &code(&secret, T0)).unwrap();
    assert!(
        matches!(o, Outcome::Rejected(Reject::LockedOut { .. })),
        "{o:?}"
    );
    assert!(
        factors(&e, "alice")
            .iter()
            .all(|f| f.status == FactorStatus::Pending),
        "nothing activated"
    );
    let u = e.store.user(&crate::name_key("alice")).unwrap().unwrap();
    assert!(e.store.invite(u.id).unwrap().unwrap().used_at.is_none());
}

#[test]
fn an_answer_held_before_the_prompt_is_no_proof_and_not_counted() {
    let mailer = Arc::new(RecordingMailer::default());
    let e = env_policy("required", Some(mailer.clone()));
    e.admin
        .add_user("alice", Some("alice@example.com"))
        .unwrap();
    // RADIUS otp-only: the request carries a code before any prompt could be shown.
    let req = LoginRequest {
        channel: Channel::Radius,
        auto_send: false,
        ..request("alice")
    };
    let (mut l, _) = begin(&e, req);
    assert!(
        mailer.messages().is_empty(),
        "nothing mailed before the held answer"
    );
    let o = e.auth.answer(&mut l, "123456").unwrap();
    assert!(
        matches!(o, Outcome::Prompt(ref p) if p.text.contains("A code was sent")),
        "{o:?}"
    );
    assert_eq!(mailer.messages().len(), 1);
    assert_eq!(
        lock_of(&e, "alice").codes.failures,
        0,
        "the held answer is not counted"
    );
}

#[test]
fn required_wins_over_nullok_before_the_password_module_too() {
    let e = env_policy("required", None);
    e.admin.add_user("alice", None).unwrap();
    let req = LoginRequest {
        allow_unenrolled: true,
        first_factor: FirstFactor::Unproven,
        entry: Entry::Combined {
            separator: None,
            missing_code: MissingCode::Fail,
        },
        ..request("alice")
    };
    let (mut l, _) = begin(&e, req);
    let o = e.auth.answer(&mut l, "hunter2").unwrap();
    assert!(
        !matches!(o, Outcome::Ignored | Outcome::Accepted(_)),
        "{o:?}"
    );
}

#[test]
fn wrong_codes_typed_elsewhere_are_told_after_the_enrollment() {
    let e = env_policy("required", None);
    let inv = e.admin.invite_user("alice", None).unwrap();
    // Someone with the password guesses at the invitation in another conversation.
    let (mut g, _) = begin(&e, request("alice"));
    e.auth.answer(&mut g, "aaaa-bbbb-cccc-dddd").unwrap();
    e.auth.answer(&mut g, "aaaa-bbbb-cccc-eeee").unwrap();
    let (mut l, _) = begin(&e, request("alice"));
    let Outcome::Prompt(p) = e.auth.answer(&mut l, inv.code.expose()).unwrap() else {
        panic!()
    };
    e.auth.answer(&mut l, &code(&secret_of(&p), T0)).unwrap();
    let Outcome::Accepted(v) = e.auth.answer(&mut l, "yes").unwrap() else {
        panic!()
    };
    assert_eq!(v.wrong_codes_since_last_login, 2);
    assert!(v.notice().unwrap().contains("2 wrong codes"));
}

/// The PAM module asks local keys first (auto_send off), then `send_deferred`: the user's first
/// typed answer is then a real answer, not one held before the prompt.
#[test]
fn after_the_keys_the_first_typed_invitation_counts_as_the_proof() {
    let e = env_policy("required", None);
    let inv = e.admin.invite_user("alice", None).unwrap();
    let req = LoginRequest {
        auto_send: false,
        ..request("alice")
    };
    let (mut l, _) = begin(&e, req);
    assert_eq!(e.auth.send_deferred(&mut l).unwrap(), None);
    let o = e.auth.answer(&mut l, inv.code.expose()).unwrap();
    assert!(
        matches!(o, Outcome::Prompt(ref p) if p.kind == PromptKind::NewFactorCode),
        "{o:?}"
    );
}

/// RADIUS `otp-only` with Tessera's password: the code that came with the password was typed
/// before any enrollment prompt. It is set aside (not counted), the proof is mailed, and the
/// next answer, the mailed code, is taken as the proof.
#[test]
fn otp_only_with_a_password_mails_the_proof_and_takes_the_next_answer() {
    use base64ct::{Base64, Encoding as _};
    let mailer = Arc::new(RecordingMailer::default());
    let e = env_policy("required", Some(mailer.clone()));
    e.admin
        .add_user("alice", Some("alice@example.com"))
        .unwrap();
    e.admin.set_password("alice", Some("hunter2")).unwrap();
    let req = LoginRequest {
        channel: Channel::Radius,
        auto_send: false,
        first_factor: FirstFactor::Password,
        ..request("alice")
    };
    let (mut l, _) = begin(&e, req);
    let scrv1 = format!(
        "SCRV1:{}:{}",
        Base64::encode_string(b"hunter2"),
        Base64::encode_string(b"123456")
    );
    let o = e.auth.answer(&mut l, &scrv1).unwrap();
    assert!(
        matches!(o, Outcome::Prompt(ref p) if p.text.contains("A code was sent")),
        "{o:?}"
    );
    assert_eq!(lock_of(&e, "alice").codes.failures, 0);
    let mailed = mailer.last_code("alice@example.com").unwrap();
    let o = e.auth.answer(&mut l, &mailed).unwrap();
    assert!(
        matches!(
            o,
            Outcome::Accepted(Verified {
                method: Method::Email { .. },
                ..
            })
        ),
        "{o:?}"
    );
}

#[test]
fn a_factor_removed_before_the_acknowledgement_is_no_login() {
    let e = env_policy("required", None);
    let inv = e.admin.invite_user("alice", None).unwrap();
    let (mut l, _) = begin(&e, request("alice"));
    let Outcome::Prompt(p) = e.auth.answer(&mut l, inv.code.expose()).unwrap() else {
        panic!()
    };
    let o = e.auth.answer(&mut l, &code(&secret_of(&p), T0)).unwrap();
    assert!(matches!(o, Outcome::Prompt(ref p) if p.kind == PromptKind::Acknowledge));
    let id = factors(&e, "alice")[0].id;
    e.admin.remove_factor("alice", id).unwrap();
    let o = e.auth.answer(&mut l, "yes").unwrap();
    assert!(matches!(o, Outcome::Rejected(_)), "{o:?}");
}
