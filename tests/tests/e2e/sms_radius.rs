//! Texted codes through tessera-radiusd: the command gateway's recording scripts (sms.rs), our
//! own raw-UDP client for byte-identical retransmissions, radclient for the rest.

use std::time::Duration;

use radius::core::code::Code;
use radius::core::rfc2865;
use tessera_tests::Install;

use crate::pam::last_audit;
use crate::radius::{Client, Radiusd, SECRET, install_with, pap, set_password, start_with_env};
use crate::sms::{
    Commands, GATEWAY_SAID, MASKED, NUMBER, SMS_FAILED, command_config, enroll_sms, use_command,
};

/// A RADIUS installation in `mode` with SMS on, and alice: SMS only, password "hunter2".
/// Returns it with her recovery codes.
fn sms_install(mode: &str, cmds: &Commands) -> (Install, Vec<String>) {
    let t = install_with(
        &format!("mode = \"{mode}\""),
        "",
        &command_config("record", "min_interval = \"0s\""),
    );
    assert!(t.tessera(&["user", "add", "alice"]).status.success());
    let (_, codes) = enroll_sms(&t, cmds, "alice");
    set_password(&t, "alice", "hunter2");
    (t, codes)
}

fn serve(t: Install, cmds: &Commands) -> Radiusd {
    let dir = cmds.dir().display().to_string();
    start_with_env(t, &[("TESSERA_SMS_COMMAND_DIR", &dir)])
}

#[test]
fn sms_radius_auto_challenge_texts_once_even_when_the_request_is_retransmitted() {
    let cmds = Commands::new();
    let (t, _) = sms_install("auto", &cmds);
    let s = serve(t, &cmds);
    let before = cmds.texts().len();

    let c = Client::new(SECRET);
    let req = c.access_request(42, "alice", "hunter2");
    let wait = Duration::from_secs(10);
    // Sent again every 3 s until answered, as a NAS does: a copy that arrives while the first
    // is in progress is dropped, one after is answered from the cache.
    let first = (0..10)
        .find_map(|_| c.exchange(&req, s.addr(), Duration::from_secs(3)))
        .unwrap_or_else(|| panic!("no answer in 30 s:\n{}", s.log()));
    let challenge = c.decode(&first, &req);
    assert_eq!(challenge.get_code(), Code::AccessChallenge, "{}", s.log());
    let message = rfc2865::lookup_reply_message(&challenge)
        .expect("a Reply-Message")
        .unwrap();
    assert!(
        message.contains(&format!("A code was sent to {MASKED}")),
        "{message}"
    );
    // The server answers only after the text went out.
    let texts = cmds.texts();
    assert_eq!(texts.len(), before + 1, "{texts:?}\n{}", s.log());
    assert_eq!(texts[before].number, NUMBER);

    // The identical request again (same id, same authenticator): the cached challenge, byte
    // for byte, and no second text.
    let again = c
        .exchange(&req, s.addr(), wait)
        .unwrap_or_else(|| panic!("no answer:\n{}", s.log()));
    assert_eq!(first, again, "the cached response, byte for byte");
    s.log_containing("retransmission answered from cache");
    assert_eq!(
        cmds.texts().len(),
        before + 1,
        "a retransmission texts nothing"
    );

    // The code answers the challenge.
    let state = rfc2865::lookup_state(&challenge).expect("State");
    let code = cmds.texts()[before].code();
    c.drain();
    let mut p = c.access_packet(43, "alice", &code);
    rfc2865::add_state(&mut p, &state);
    let answer = c.sign(p);
    let resp = c
        .exchange(&answer, s.addr(), wait)
        .unwrap_or_else(|| panic!("no answer:\n{}", s.log()));
    assert_eq!(
        c.decode(&resp, &answer).get_code(),
        Code::AccessAccept,
        "{}",
        s.log()
    );
    let ev = last_audit(&s.install, "alice");
    assert_eq!(
        (&ev["result"], &ev["method"]),
        (&"accept".into(), &"sms".into()),
        "{ev}"
    );
    assert_eq!(cmds.texts().len(), before + 1, "one text in all");
    assert!(!s.log().contains(&code), "no code in the log");
}

#[test]
fn sms_radius_append_with_a_failing_gateway_says_so_and_logs_what_it_said() {
    let cmds = Commands::new();
    let (t, codes) = sms_install("append", &cmds);
    use_command(&t, "fail");
    let s = serve(t, &cmds);
    let before = cmds.texts().len();

    let r = s.radclient("auth", SECRET, &pap("alice", "hunter2"));
    assert!(r.is("Access-Reject"), "{}", r.out);
    assert_eq!(
        r.attr("Reply-Message").as_deref(),
        Some(SMS_FAILED),
        "{}",
        r.out
    );
    assert_eq!(cmds.texts().len(), before + 1, "the gateway was tried once");
    // The log line names what the gateway said; the audit row a category only.
    let log = s.log_containing("gw-refused-7f3a");
    assert!(log.contains(GATEWAY_SAID), "{log}");
    let audit = s
        .install
        .tessera_json(&["audit", "--user", "alice", "--limit", "20"])
        .to_string();
    assert!(
        audit.contains(&format!("sms_failed to {MASKED}: command_exit_1")),
        "{audit}"
    );
    assert!(
        !audit.contains(NUMBER) && !audit.contains("gw-refused"),
        "{audit}"
    );

    // "Try another method": the password with a recovery code.
    let r = s.radclient(
        "auth",
        SECRET,
        &pap("alice", &format!("hunter2{}", codes[0])),
    );
    assert!(r.is("Access-Accept"), "{}\n{}", r.out, s.log());
}

#[test]
fn sms_radius_too_soon_tells_an_sms_only_user_how_to_ask_for_a_text() {
    let cmds = Commands::new();
    // The enrollment's text is the day's only one.
    let t = install_with(
        "mode = \"challenge\"",
        "",
        &command_config("record", "min_interval = \"0s\"\nmax_per_day = 1"),
    );
    assert!(t.tessera(&["user", "add", "alice"]).status.success());
    enroll_sms(&t, &cmds, "alice");
    set_password(&t, "alice", "hunter2");
    let s = serve(t, &cmds);
    let r = s.radclient("auth", SECRET, &pap("alice", "hunter2"));
    assert!(r.is("Access-Challenge"), "{}\n{}", r.out, s.log());
    // radclient prints quotes escaped.
    let message = r
        .attr("Reply-Message")
        .unwrap_or_default()
        .replace("\\\"", "\"");
    assert!(message.contains("A new code can be texted"), "{message}");
    // alice has no e-mail factor: the way to ask again is "sms", and the text is not a mail.
    assert!(
        !message.contains("e-mail") && !message.contains("\"email\""),
        "an SMS-only user is told about e-mail: {message}"
    );
    assert!(message.contains("answer \"sms\""), "{message}");
}
