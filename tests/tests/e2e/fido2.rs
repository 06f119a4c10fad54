//! FIDO2 security keys end to end: the built `tessera` CLI enrolls keys and imports a pam_u2f
//! mapping file, and pam_tessera.so under pamtester (through pam_wrapper) asks the keys at
//! login. The one stand-in is tessera-fido2's software key (debug builds only), which makes
//! real credentials and signs with real keys: each key is a JSON state file, and a process sees
//! the keys its `TESSERA_FIDO2_TEST_DEVICE` names (set per process, never for the whole test
//! binary). What a key did shows in its file: its credentials, their counters, its PIN tries.

mod pam_u2f;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_fido2::TEST_DEVICE_ENV;
use tessera_fido2::soft::{
    Counter, SoftAlg, SoftCredential, SoftKey, SoftOptions, SoftState, Touch,
};
use tessera_tests::{Install, oathtool_code, run_with_input};

use crate::pam::{Run, Service, last_audit};

/// Three tries per conversation (a refused key costs one), a relying party id of its own.
const CONFIG: &str = "[policy]\nmax_tries = 3\nmax_failures = 10\n\n\
                      [fido2]\nrp_id = \"pam://tessera-e2e\"\n";

const TOUCH: &str = "Touch your security key.";
const PIN_PROMPT: &str = "PIN for your security key: ";
const CODE_PROMPT: &str = "Verification code: ";

/// Software keys, each a state file in a temp dir of their own.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A new key without credentials.
    fn make(&self, name: &str, options: SoftOptions) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.json"));
        SoftKey::create(&path, options).unwrap();
        path
    }

    /// A new key that touches at once and has no PIN.
    fn plain(&self, name: &str) -> PathBuf {
        self.make(name, SoftOptions::default())
    }
}

fn options(change: impl FnOnce(&mut SoftOptions)) -> SoftOptions {
    let mut o = SoftOptions::default();
    change(&mut o);
    o
}

fn state(key: &Path) -> SoftState {
    SoftKey::state(key).unwrap()
}

fn credentials(key: &Path) -> Vec<SoftCredential> {
    SoftKey::credentials(key).unwrap()
}

fn set(key: &Path, change: impl FnOnce(&mut SoftOptions)) {
    SoftKey::update(key, |s| change(&mut s.options)).unwrap();
}

/// The signature counters of the key's credentials, oldest first.
fn counters(key: &Path) -> Vec<u32> {
    credentials(key).iter().map(|c| c.sign_count).collect()
}

/// `TESSERA_FIDO2_TEST_DEVICE` for these keys plugged in.
fn plugged(keys: &[&Path]) -> String {
    std::env::join_paths(keys).unwrap().into_string().unwrap()
}

/// `tessera ARGS` with stdin `input` (never the test's own terminal) and the keys `device`
/// names (`None`: the variable removed, so only USB keys are looked for, and this machine has
/// none).
fn tessera_keys(t: &Install, device: Option<&str>, args: &[&str], input: &str) -> Output {
    let mut cmd = t.tessera_command(args);
    match device {
        Some(v) => cmd.env(TEST_DEVICE_ENV, v),
        None => cmd.env_remove(TEST_DEVICE_ENV),
    };
    run_with_input(cmd, input)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// `tessera --json enroll fido2 USER EXTRA` with `keys` plugged in; its JSON, or a panic.
fn enroll(t: &Install, keys: &[&Path], user: &str, extra: &[&str], input: &str) -> Value {
    let mut args = vec!["--json", "enroll", "fido2", user];
    args.extend_from_slice(extra);
    let out = tessera_keys(t, Some(&plugged(keys)), &args, input);
    assert!(out.status.success(), "enroll failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `tessera enroll fido2 alice EXTRA` that must fail: its stderr.
fn enroll_fails(t: &Install, device: Option<&str>, extra: &[&str], input: &str) -> String {
    let mut args = vec!["enroll", "fido2", "alice"];
    args.extend_from_slice(extra);
    let out = tessera_keys(t, device, &args, input);
    assert!(!out.status.success(), "enroll succeeded: {out:?}");
    stderr(&out)
}

/// The user's FIDO2 factors as `tessera factor list --json` shows them.
fn fido2_factors(t: &Install, user: &str) -> Vec<Value> {
    let v = t.tessera_json(&["factor", "list", user]);
    v["factors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "fido2")
        .cloned()
        .collect()
}

/// alice with a TOTP factor (what a login falls back to) and then a FIDO2 credential on `key`,
/// enrolled with `extra` and `input`; her TOTP secret.
fn alice_with(t: &Install, key: &Path, extra: &[&str], input: &str) -> String {
    let (secret, _) = t.enroll_totp("alice");
    enroll(t, &[key], "alice", extra, input);
    secret
}

/// pam_tessera with `args`, these keys plugged in. `fido_any_session`: pamtester here runs in no
/// logind session and on no virtual console, where the module otherwise asks no key (the test
/// `pam_asks_no_key_where_the_login_is_not_known_to_be_local` shows it).
fn service(t: &Install, args: &str, keys: &[&Path]) -> Service {
    let device = format!("{TEST_DEVICE_ENV}={}", plugged(keys));
    Service::tessera(t, &format!("fido_any_session {args}")).with_env(&[&device])
}

fn timed(f: impl FnOnce() -> Run) -> (Run, Duration) {
    let started = Instant::now();
    let run = f();
    (run, started.elapsed())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

// ---- enrollment through the CLI -------------------------------------------------------------

#[test]
fn cli_enrolls_a_key_for_the_default_rp_id_with_recovery_codes() {
    let t = Install::new("");
    assert!(t.tessera(&["user", "add", "alice"]).status.success());
    let keys = Keys::new();
    let key = keys.plain("a");
    let e = enroll(&t, &[&key], "alice", &[], "");
    let rp_id = format!("pam://{}", hostname());
    assert_eq!(e["kind"], "fido2", "{e}");
    assert_eq!(e["rp_id"], rp_id.as_str(), "{e}");
    assert_eq!(e["algorithm"], "es256", "{e}");
    assert_eq!(e["status"], "active", "{e}");
    assert!(e["factor_id"].as_i64().is_some(), "{e}");
    assert_eq!(
        e["recovery_codes"].as_array().map(Vec::len),
        Some(10),
        "the first factor brings recovery codes: {e}"
    );
    // The key made it for that rp id and that account.
    let made = credentials(&key);
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].rp_id, rp_id);
    assert_eq!(made[0].user_name, "alice");

    let listed = fido2_factors(&t, "alice");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let f = &listed[0];
    assert_eq!(f["id"], e["factor_id"], "{f}");
    assert_eq!(
        (&f["transport"], &f["rp_id"], &f["algorithm"]),
        (&"local".into(), &rp_id.as_str().into(), &"es256".into()),
        "{f}"
    );
    assert_eq!(
        (&f["status"], &f["origin"]),
        (&"active".into(), &"enrolled".into())
    );

    // The same key again: it already holds a credential of alice's, and refuses.
    let why = enroll_fails(&t, Some(&plugged(&[&key])), &[], "");
    assert!(why.contains("already holds a credential"), "{why}");
    assert_eq!(credentials(&key).len(), 1);
    assert_eq!(fido2_factors(&t, "alice").len(), 1);
}

#[test]
fn cli_enrolls_a_second_factor_for_the_configured_rp_id_without_new_codes() {
    let t = Install::new(CONFIG);
    t.enroll_totp("alice");
    let keys = Keys::new();
    let key = keys.make("ed", options(|o| o.algorithms = vec![SoftAlg::Eddsa]));
    let e = enroll(&t, &[&key], "alice", &["--label", "desk key"], "");
    assert_eq!(e["rp_id"], "pam://tessera-e2e", "{e}");
    assert_eq!(e["algorithm"], "eddsa", "{e}");
    assert_eq!(e["label"], "desk key", "{e}");
    assert!(e["recovery_codes"].is_null(), "not the first factor: {e}");
    assert_eq!(credentials(&key)[0].rp_id, "pam://tessera-e2e");
    let listed = fido2_factors(&t, "alice");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["label"], "desk key");
}

#[test]
fn cli_enroll_without_a_key_says_none_was_found() {
    let t = Install::new(CONFIG);
    assert!(t.tessera(&["user", "add", "alice"]).status.success());
    // No software key: USB is searched, and this machine has none. An empty value is the same
    // as none, and so is a list of no paths.
    for device in [None, Some(""), Some(":")] {
        let why = enroll_fails(&t, device, &[], "");
        assert!(
            why.contains("no FIDO2 security key found"),
            "{device:?}: {why}"
        );
    }
    assert!(fido2_factors(&t, "alice").is_empty());
}

#[test]
fn cli_enroll_gives_up_at_the_timeout_when_the_key_is_never_touched() {
    let t = Install::new("[fido2]\ntimeout = \"2s\"\n");
    assert!(t.tessera(&["user", "add", "alice"]).status.success());
    let keys = Keys::new();
    let key = keys.make("lazy", options(|o| o.touch = Touch::Never));
    let started = Instant::now();
    let why = enroll_fails(&t, Some(&plugged(&[&key])), &[], "");
    let took = started.elapsed();
    assert!(why.contains("not touched in time"), "{why}");
    assert!(why.contains("nothing was enrolled"), "{why}");
    // It waited for the touch, and not much longer than the timeout (slack for a busy machine).
    assert!(
        took >= Duration::from_millis(1900),
        "gave up after {took:?}"
    );
    assert!(took < Duration::from_secs(8), "waited {took:?}");
    assert!(credentials(&key).is_empty());
    assert!(fido2_factors(&t, "alice").is_empty());
}

#[test]
fn cli_enroll_reads_the_pin_from_stdin_and_says_how_many_tries_are_left() {
    let t = Install::new(CONFIG);
    assert!(t.tessera(&["user", "add", "alice"]).status.success());
    let keys = Keys::new();
    let key = keys.make("pin", options(|o| o.pin = Some("1234".into())));
    let device = plugged(&[&key]);

    let why = enroll_fails(&t, Some(&device), &["--pin"], "0000\n");
    assert!(
        why.contains("wrong PIN") && why.contains("7 tries left"),
        "{why}"
    );
    assert_eq!(state(&key).pin_retries, 7);
    assert!(credentials(&key).is_empty());
    assert!(fido2_factors(&t, "alice").is_empty());

    let e = enroll(&t, &[&key], "alice", &["--pin"], "1234\n");
    assert_eq!(e["user_verified"], true, "the PIN verified the user: {e}");
    assert_eq!(state(&key).pin_retries, 8, "a right PIN resets the tries");
    let listed = fido2_factors(&t, "alice");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["pin"], true, "{}", listed[0]);
}

/// A key with a PIN set needs it to make any credential (CTAP2 keys refuse makeCredential
/// without it), also one whose logins will not ask for the PIN.
#[test]
fn cli_enrolls_a_key_with_a_pin_for_logins_by_touch_alone() {
    let t = Install::new(CONFIG);
    assert!(t.tessera(&["user", "add", "alice"]).status.success());
    let keys = Keys::new();
    let key = keys.make("pin", options(|o| o.pin = Some("1234".into())));
    let out = tessera_keys(
        &t,
        Some(&plugged(&[&key])),
        &["--json", "enroll", "fido2", "alice"],
        "1234\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PIN of the security key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(credentials(&key).len(), 1);
    let listed = fido2_factors(&t, "alice");
    assert_eq!(listed[0]["pin"], false, "{}", listed[0]);

    let run = service(&t, "", &[&key]).pamtester("alice", "", &[]);
    run.assert_ok();
    assert!(!run.out.contains(PIN_PROMPT), "{}", run.out);
    assert!(run.out.contains(TOUCH), "{}", run.out);
    assert_eq!(counters(&key), [1]);

    // With a key without a PIN plugged in too, that one is not handed the PIN (it would refuse
    // any) and can be enrolled; the first key refuses, holding alice's credential already.
    let plain = keys.plain("plain");
    enroll(&t, &[&key, &plain], "alice", &[], "1234\n");
    assert_eq!(credentials(&plain).len(), 1);
    assert_eq!(credentials(&key).len(), 1);
}

#[test]
fn cli_enroll_with_two_keys_plugged_in_takes_the_one_touched() {
    let t = Install::new(CONFIG);
    assert!(t.tessera(&["user", "add", "alice"]).status.success());
    let keys = Keys::new();
    let untouched = keys.make("drawer", options(|o| o.touch = Touch::Never));
    let touched = keys.plain("hand");
    let device = plugged(&[&untouched, &touched]);
    let started = Instant::now();
    let out = tessera_keys(
        &t,
        Some(&device),
        &["--json", "enroll", "fido2", "alice"],
        "",
    );
    let took = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 security keys are plugged in"),
        "{}",
        stderr(&out)
    );
    // The touched key answered; the enrollment did not wait out the other (30 s timeout).
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(credentials(&touched).len(), 1);
    assert!(credentials(&untouched).is_empty());
    assert_eq!(fido2_factors(&t, "alice").len(), 1);

    // And that is the key that logs alice in.
    service(&t, "", &[&touched])
        .pamtester("alice", "", &[])
        .assert_ok();
    assert_eq!(counters(&touched), [1]);
}

// ---- logins through pam_tessera.so ----------------------------------------------------------

#[test]
fn pam_logs_in_with_a_touch_of_the_key_and_claims_its_counter() {
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let key = keys.plain("a");
    alice_with(&t, &key, &[], "");
    let svc = service(&t, "", &[&key]);
    for n in 1..=2u32 {
        let run = svc.pamtester("alice", "", &[]);
        run.assert_ok();
        assert!(run.out.contains(TOUCH), "{}", run.out);
        assert!(!run.out.contains(CODE_PROMPT), "{}", run.out);
        let ev = last_audit(&t, "alice");
        assert_eq!(
            (&ev["result"], &ev["method"]),
            (&"accept".into(), &"fido2".into()),
            "{ev}"
        );
        assert_eq!(counters(&key), [n]);
        assert_eq!(fido2_factors(&t, "alice")[0]["sign_count"], n);
    }
}

#[test]
fn pam_asks_for_the_pin_of_a_credential_enrolled_with_pin() {
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let key = keys.make("pin", options(|o| o.pin = Some("1234".into())));
    let secret = alice_with(&t, &key, &["--pin"], "1234\n");
    let svc = service(&t, "", &[&key]);
    svc.pamtester_pty(
        "alice",
        &[
            (PIN_PROMPT, "1234"),
            (TOUCH, ""),
            ("successfully authenticated", ""),
        ],
    )
    .assert_ok();
    assert_eq!(last_audit(&t, "alice")["method"], "fido2");
    // Two signatures: the silent look-up that tells which key may be given the PIN, then
    // the login's.
    assert_eq!(counters(&key), [2]);

    // A wrong PIN: the key says how many tries are left, and the code prompt follows.
    let code = oathtool_code(&secret, 0);
    svc.pamtester_pty(
        "alice",
        &[
            (PIN_PROMPT, "9999"),
            ("wrong PIN for the security key \\(7 tries left", ""),
            (CODE_PROMPT, &code),
            ("successfully authenticated", ""),
        ],
    )
    .assert_ok();
    assert_eq!(last_audit(&t, "alice")["method"], "totp");
    assert_eq!(state(&key).pin_retries, 7);
    // Only the silent look-up signed (no touch): nothing was signed for the login.
    assert_eq!(counters(&key), [3], "the key signed for the login");
}

#[test]
fn pam_stops_waiting_for_an_untouched_key_at_fido_timeout_then_takes_a_code() {
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let key = keys.plain("a");
    let secret = alice_with(&t, &key, &[], "");
    set(&key, |o| o.touch = Touch::Never);
    let svc = service(&t, "fido_timeout=2", &[&key]);
    let code = oathtool_code(&secret, 0);
    let (run, took) = timed(|| svc.pamtester("alice", &format!("{code}\n"), &[]));
    run.assert_ok();
    // pamtester shows information on stdout and prompts on stderr: both are there.
    assert!(run.out.contains("not touched in time"), "{}", run.out);
    assert!(run.out.contains(CODE_PROMPT), "{}", run.out);
    assert!(
        took >= Duration::from_millis(1900),
        "gave up after {took:?}"
    );
    assert!(took < Duration::from_secs(8), "waited {took:?}");
    assert_eq!(last_audit(&t, "alice")["method"], "totp");
    assert_eq!(counters(&key), [0]);
}

#[test]
fn pam_without_a_key_goes_straight_to_the_code_prompt() {
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let key = keys.plain("a");
    let secret = alice_with(&t, &key, &[], "");
    // The variable unset (USB only, and there is none here), or naming no key: nothing to say,
    // no wait (the touch timeout is 30 s).
    let unset = Service::tessera(&t, "fido_any_session").with_env(&["-u", TEST_DEVICE_ENV]);
    let nothing =
        Service::tessera(&t, "fido_any_session").with_env(&[&format!("{TEST_DEVICE_ENV}=:")]);
    for (offset, svc) in [(0, unset), (30, nothing)] {
        let code = oathtool_code(&secret, offset);
        let (run, took) = timed(|| svc.pamtester("alice", &format!("{code}\n"), &[]));
        run.assert_ok();
        assert!(run.out.contains(CODE_PROMPT), "{}", run.out);
        assert!(!run.out.contains("security key"), "{}", run.out);
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert_eq!(last_audit(&t, "alice")["method"], "totp");
    }
    assert_eq!(counters(&key), [0]);
}

#[test]
fn pam_asks_the_key_plugged_in_once_for_all_of_the_users_credentials() {
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let (home, work) = (keys.plain("home"), keys.plain("work"));
    alice_with(&t, &home, &[], "");
    enroll(&t, &[&work], "alice", &["--label", "work"], "");
    let ids: Vec<Value> = fido2_factors(&t, "alice")
        .iter()
        .map(|f| f["id"].clone())
        .collect();
    assert_eq!(ids.len(), 2);

    let run = service(&t, "", &[&work]).pamtester("alice", "", &[]);
    run.assert_ok();
    assert_eq!(run.out.matches(TOUCH).count(), 1, "{}", run.out);
    // One assertion, by the credential on the key that was there.
    assert_eq!((counters(&home), counters(&work)), (vec![0], vec![1]));
    let stored: Vec<(Value, Value)> = fido2_factors(&t, "alice")
        .iter()
        .map(|f| (f["label"].clone(), f["sign_count"].clone()))
        .collect();
    assert!(stored.contains(&("work".into(), 1.into())), "{stored:?}");
    assert!(
        stored.contains(&("security key".into(), 0.into())),
        "{stored:?}"
    );

    // The other key logs alice in as well.
    service(&t, "", &[&home])
        .pamtester("alice", "", &[])
        .assert_ok();
    assert_eq!((counters(&home), counters(&work)), (vec![1], vec![1]));
}

#[test]
fn pam_never_asks_a_local_key_for_a_remote_login() {
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let key = keys.plain("a");
    let secret = alice_with(&t, &key, &[], "");
    set(&key, |o| o.touch = Touch::Never);
    let svc = service(&t, "fido_timeout=20", &[&key]);
    let code = oathtool_code(&secret, 0);
    let (run, took) =
        timed(|| svc.pamtester("alice", &format!("{code}\n"), &["rhost=203.0.113.5"]));
    run.assert_ok();
    assert!(!run.out.contains(TOUCH), "{}", run.out);
    assert!(run.out.contains(CODE_PROMPT), "{}", run.out);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let ev = last_audit(&t, "alice");
    assert_eq!(
        (&ev["method"], &ev["source"]),
        (&"totp".into(), &"203.0.113.5".into())
    );
}

#[test]
fn pam_refuses_a_cloned_key_whose_counter_did_not_increase() {
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let key = keys.plain("a");
    let secret = alice_with(&t, &key, &[], "");
    let svc = service(&t, "", &[&key]);
    svc.pamtester("alice", "", &[]).assert_ok();
    assert_eq!(counters(&key), [1]);

    // A copy of the key replays the counter it was copied with.
    set(&key, |o| o.counter = Counter::Fixed);
    let code = oathtool_code(&secret, 0);
    let run = svc.pamtester("alice", &format!("{code}\n"), &[]);
    run.assert_ok();
    assert!(run.out.contains("answer was refused"), "{}", run.out);
    assert!(run.out.contains(CODE_PROMPT), "{}", run.out);
    assert_eq!(last_audit(&t, "alice")["method"], "totp");
    let audit = t.tessera_json(&["audit", "--user", "alice", "--limit", "10"]);
    let rows = audit["events"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|e| {
            e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("counter_not_increased"))
        })
        .unwrap_or_else(|| panic!("no refusal audited: {audit}"));
    assert_eq!(row["result"], "reject", "{row}");
    assert_eq!(fido2_factors(&t, "alice")[0]["sign_count"], 1);
}

#[test]
fn pam_nofido_never_asks_a_key() {
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let key = keys.plain("a");
    let secret = alice_with(&t, &key, &[], "");
    let svc = service(&t, "nofido", &[&key]);
    let code = oathtool_code(&secret, 0);
    let run = svc.pamtester("alice", &format!("{code}\n"), &[]);
    run.assert_ok();
    assert!(!run.out.contains(TOUCH), "{}", run.out);
    assert_eq!(last_audit(&t, "alice")["method"], "totp");
    assert_eq!(counters(&key), [0]);
}

#[test]
fn pam_asks_no_key_where_the_login_is_not_known_to_be_local() {
    // No logind session and no virtual console (pamtester in the test runner): the login could
    // be a `sudo` typed in an SSH session, so the key plugged in here is not asked.
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let key = keys.plain("a");
    let secret = alice_with(&t, &key, &[], "");
    let device = format!("{TEST_DEVICE_ENV}={}", plugged(&[&key]));
    let svc = Service::tessera(&t, "").with_env(&[&device]);
    let code = oathtool_code(&secret, 0);
    let run = svc.pamtester("alice", &format!("{code}\n"), &["tty=/dev/pts/7"]);
    run.assert_ok();
    assert!(!run.out.contains(TOUCH), "{}", run.out);
    assert_eq!(last_audit(&t, "alice")["method"], "totp");
    assert_eq!(counters(&key), [0]);
    // PAM_TTY alone is whatever the application says: a virtual console named by it, outside
    // that console's getty, is not proof either.
    let code = oathtool_code(&secret, 30);
    let run = svc.pamtester("alice", &format!("{code}\n"), &["tty=/dev/tty3"]);
    run.assert_ok();
    assert!(!run.out.contains(TOUCH), "{}", run.out);
    assert_eq!(counters(&key), [0]);
}

#[test]
fn pam_gives_the_pin_only_to_the_key_that_holds_the_credential() {
    let t = Install::new(CONFIG);
    let keys = Keys::new();
    let key = keys.make("pin", options(|o| o.pin = Some("1234".into())));
    // Another user's key, with a PIN of its own, plugged in beside it.
    let other = keys.make("other", options(|o| o.pin = Some("0000".into())));
    alice_with(&t, &key, &["--pin"], "1234\n");
    let svc = service(&t, "", &[&other, &key]);
    svc.pamtester_pty(
        "alice",
        &[
            (PIN_PROMPT, "1234"),
            (TOUCH, ""),
            ("successfully authenticated", ""),
        ],
    )
    .assert_ok();
    assert_eq!(last_audit(&t, "alice")["method"], "fido2");
    // Had it been given alice's PIN, the other key would have lost a try.
    assert_eq!(state(&other).pin_retries, 8);
    assert_eq!(state(&key).pin_retries, 8);
}
