//! Texts that do not go: a gateway command that fails or hangs, and the send bounds (interval,
//! day), through pam_tessera.so under pamtester. The scripts and helpers are sms.rs's.

use std::io::Write;
use std::time::{Duration, Instant};

use tessera_tests::{Install, oathtool_code};

use crate::pam::{AUTH_ERR, POLICY, Service, last_audit};
use crate::sms::{
    Commands, MASKED, NUMBER, SMS_FAILED, command_config, enroll_sms, prefer, sleeping, use_command,
};

/// An installation with `extra` `[sms]` keys and bob: TOTP and SMS, SMS preferred. Returns it
/// with his TOTP secret.
fn bob_with_totp_and_sms(cmds: &Commands, extra: &str) -> (Install, String) {
    let t = Install::new(&format!("{}\n{POLICY}", command_config("record", extra)));
    let (secret, _) = t.enroll_totp("bob");
    enroll_sms(&t, cmds, "bob");
    prefer(&t, "bob", "sms");
    (t, secret)
}

fn audit_text(t: &Install, user: &str) -> String {
    t.tessera_json(&["audit", "--user", user, "--limit", "50"])
        .to_string()
}

#[test]
fn sms_failed_gateway_tells_the_user_and_the_login_goes_on_with_totp() {
    let cmds = Commands::new();
    let (t, secret) = bob_with_totp_and_sms(&cmds, "min_interval = \"0s\"");
    use_command(&t, "fail");
    let svc = Service::tessera(&t, "").with_env(&[&cmds.env_arg()]);
    let before = cmds.texts().len();

    // SMS is preferred: the text is tried at once, fails, and the code prompt follows.
    let run = svc.pamtester("bob", &format!("{}\n", oathtool_code(&secret, 0)), &[]);
    assert!(run.out.contains(SMS_FAILED), "{}", run.out);
    assert!(!run.out.contains("A code was sent"), "{}", run.out);
    assert!(run.out.contains("Verification code"), "{}", run.out);
    run.assert_ok();
    let tried = cmds.texts();
    assert_eq!(tried.len(), before + 1, "{tried:?}");
    assert_eq!(
        (
            tried[before].command.as_str(),
            tried[before].number.as_str()
        ),
        ("fail", NUMBER)
    );
    assert_eq!(last_audit(&t, "bob")["method"], "totp");

    // The audit row: a category, not the gateway's words nor the number.
    let events = t.tessera_json(&["audit", "--user", "bob", "--limit", "5"]);
    let failed = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["result"] == "error")
        .unwrap_or_else(|| panic!("no error row: {events}"))
        .clone();
    assert_eq!(failed["method"], "sms", "{failed}");
    assert_eq!(
        failed["detail"],
        format!("sms_failed to {MASKED}: command_exit_1"),
        "{failed}"
    );
    let audit = audit_text(&t, "bob");
    assert!(!audit.contains(NUMBER), "{audit}");
    assert!(!audit.contains("gw-refused"), "{audit}");
}

#[test]
fn sms_failed_gateway_refuses_when_there_is_no_other_way_in() {
    let cmds = Commands::new();
    // One recovery code: the user has one other way in, then none.
    let t = Install::new(&format!(
        "{}\n{POLICY}\n[recovery]\ncount = 1\n",
        command_config("record", "min_interval = \"0s\"")
    ));
    assert!(t.tessera(&["user", "add", "carol"]).status.success());
    let (_, codes) = enroll_sms(&t, &cmds, "carol");
    assert_eq!(codes.len(), 1);
    use_command(&t, "fail");
    let svc = Service::tessera(&t, "").with_env(&[&cmds.env_arg()]);

    // "Try another method": the recovery code.
    let run = svc.pamtester("carol", &format!("{}\n", codes[0]), &[]);
    assert!(run.out.contains(SMS_FAILED), "{}", run.out);
    run.assert_ok();
    assert_eq!(last_audit(&t, "carol")["method"], "recovery");

    // Nothing left: told, refused, not asked for a code it could never have.
    let run = svc.pamtester("carol", "", &[]);
    run.assert_pam_error(AUTH_ERR);
    assert!(run.out.contains(SMS_FAILED), "{}", run.out);
    assert!(!run.out.contains("Code: "), "{}", run.out);
    let ev = last_audit(&t, "carol");
    assert_eq!(
        (&ev["result"], &ev["method"]),
        (&"error".into(), &"sms".into()),
        "{ev}"
    );
}

#[test]
fn sms_hung_gateway_is_killed_at_the_timeout_and_not_run_again_within_the_interval() {
    let cmds = Commands::new();
    let (t, secret) = bob_with_totp_and_sms(&cmds, "min_interval = \"60s\"\ntimeout = \"1s\"");
    // The authenticator first: the text only on request.
    prefer(&t, "bob", "totp");
    use_command(&t, "hang");
    let svc = Service::tessera(&t, "").with_env(&[&cmds.env_arg()]);
    let before = cmds.texts().len();

    let code = oathtool_code(&secret, 0);
    let started = Instant::now();
    let run = svc.pamtester_pty(
        "bob",
        &[
            ("Verification code from authenticator", "sms"),
            (&regex_escape(SMS_FAILED), ""),
            // Asked for a code again: a second request, within min_interval.
            ("Verification code from authenticator", "sms"),
            (r"A new code can be \S+ in \d+ s", ""),
            ("Verification code from authenticator", &code),
        ],
    );
    let took = started.elapsed();
    run.assert_ok();
    assert!(
        took < Duration::from_secs(15),
        "a hung gateway held the login {took:?}"
    );
    let runs = cmds.texts();
    assert_eq!(runs.len(), before + 1, "one run of the gateway: {runs:?}");
    assert_eq!(runs[before].command, "hang");
    // Its whole group was killed: the sleep it started is gone.
    let sleepers = cmds.sleepers();
    assert_eq!(sleepers.len(), 1, "{sleepers:?}");
    assert!(
        !sleeping(sleepers[0]),
        "the gateway's sleep {} is still running",
        sleepers[0]
    );
    let audit = audit_text(&t, "bob");
    assert!(
        audit.contains(&format!("sms_failed to {MASKED}: timeout")),
        "{audit}"
    );
    assert_eq!(last_audit(&t, "bob")["method"], "totp");
}

#[test]
fn sms_daily_bound_refuses_the_third_text_and_says_when() {
    let cmds = Commands::new();
    let t = Install::new(&format!(
        "{}\n{POLICY}",
        command_config("record", "min_interval = \"1s\"\nmax_per_day = 2")
    ));
    assert!(t.tessera(&["user", "add", "dave"]).status.success());
    // Text 1 of the day: the enrollment's.
    enroll_sms(&t, &cmds, "dave");
    let svc = Service::tessera(&t, "").with_env(&[&cmds.env_arg()]);
    // Past the interval: only the day's bound can refuse what follows.
    std::thread::sleep(Duration::from_millis(1100));

    // Text 2: the login's, and its code lets the user in.
    let run = svc.pamtester_talking("dave", &[], |stdin| {
        let code = cmds.wait_for(2)[1].code();
        stdin.write_all(format!("{code}\n").as_bytes()).unwrap();
    });
    run.assert_ok();
    assert_eq!(cmds.texts().len(), 2);
    std::thread::sleep(Duration::from_millis(1100));

    // Request 3: nothing texted; the user is told when a code can be sent again.
    let run = svc.pamtester("dave", "000000\n", &[]);
    run.assert_pam_error(AUTH_ERR);
    assert!(!run.out.contains("A code was sent"), "{}", run.out);
    let wait = run
        .out
        .split("A new code can be ")
        .nth(1)
        .and_then(|rest| rest.split(" in ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no \"A new code can be ... in N s\":\n{}", run.out));
    // The day's bound (from the first text), not the one-second interval.
    assert!(
        (86_000..=86_400).contains(&wait),
        "told to wait {wait} s:\n{}",
        run.out
    );
    assert_eq!(cmds.texts().len(), 2, "no third text in the day");
}

/// `text` as a Python regular expression matching itself.
fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ' ' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}
