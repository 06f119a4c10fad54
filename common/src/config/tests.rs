use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/tessera/tessera.toml"), text)
}

#[test]
fn three_line_config_is_complete() {
    let c = parse("[store]\npath = \"/var/lib/t/db\"\nkey_file = \"/etc/t/key\"\n").unwrap();
    assert_eq!(c.store.path, PathBuf::from("/var/lib/t/db"));
    assert_eq!(c.totp.digits, 6);
    assert_eq!(c.totp.period, 30);
    assert_eq!(c.totp.window, 1);
    assert_eq!(c.policy.max_failures, 5);
    assert_eq!(c.policy.lockout, Duration::from_secs(900));
    assert_eq!(c.recovery.count, 10);
}

#[test]
fn example_config_parses_and_states_the_defaults() {
    let example = parse(include_str!("../../../packaging/tessera.toml")).unwrap();
    let defaults = parse("").unwrap();
    assert_eq!(
        format!("{:?}", example.totp),
        format!("{:?}", defaults.totp)
    );
    assert_eq!(
        format!("{:?}", example.policy),
        format!("{:?}", defaults.policy)
    );
    assert_eq!(
        format!("{:?}", example.argon2),
        format!("{:?}", defaults.argon2)
    );
    assert_eq!(example.recovery.count, defaults.recovery.count);
    assert_eq!(example.store.path, defaults.store.path);
    assert_eq!(example.store.key_file, defaults.store.key_file);
    assert_eq!(example.store.busy_timeout, defaults.store.busy_timeout);
    assert_eq!(example.audit, defaults.audit);
    assert_eq!(example.fido2, defaults.fido2);
    assert_eq!(defaults.audit.keep, Duration::from_secs(90 * 24 * 3600));
}

#[test]
fn audit_retention_is_checked() {
    let c = parse("[audit]\nkeep = \"30d\"\nmax_rows = 1000\n").unwrap();
    assert_eq!(c.audit.keep, Duration::from_secs(30 * 24 * 3600));
    assert_eq!(c.audit.max_rows, 1000);
    let e = parse("[audit]\nkeep = \"1s\"\n").unwrap_err();
    assert_eq!(e.key(), Some("audit.keep"));
    let e = parse("[audit]\nmax_rows = 0\n").unwrap_err();
    assert_eq!(e.key(), Some("audit.max_rows"));
}

#[test]
fn email_section_defaults_and_checks() {
    let c = parse("[email]\nsmtp_host = \"mail.example.com\"\nfrom = \"tessera@example.com\"\n")
        .unwrap();
    let e = c.email.unwrap();
    assert_eq!(e.security, SmtpSecurity::Starttls);
    assert_eq!(e.smtp_port, 587);
    assert_eq!(e.code_length, 6);
    assert_eq!(e.lifetime, Duration::from_secs(600));
    assert_eq!(e.max_tries, 5);
    assert_eq!(e.min_interval, Duration::from_secs(60));
    assert_eq!(e.timeout, Duration::from_secs(10));
    assert!(parse("").unwrap().email.is_none());

    let e = parse("[email]\nfrom = \"a@example.com\"\n").unwrap_err();
    assert_eq!(e.key(), Some("email.smtp_host"));
    let e =
        parse("[email]\nsmtp_host = \"h\"\nfrom = \"a@example.com\"\nbody = \"no code here\"\n")
            .unwrap_err();
    assert!(
        e.to_string().contains("email.body") && e.to_string().contains("{code}"),
        "{e}"
    );
    let e = parse("[email]\nsmtp_host = \"h\"\nfrom = \"a@example.com\"\nsubject = \"{codez}\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("{codez}"), "{e}");
    let e = parse("[email]\nsmtp_host = \"h\"\nfrom = \"a@example.com\"\nsecurity = \"ssl\"\n")
        .unwrap_err();
    assert_eq!(e.key(), Some("email.security"));
    let e = parse("[email]\nsmtp_host = \"h\"\nfrom = \"a@example.com\"\npassword_file = \"/nonexistent/pw\"\nusername = \"u\"\n").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/pw"), "{e}");
    let c = parse(
        "[email]\nsmtp_host = \"h\"\nfrom = \"Tessera <a@example.com>\"\nsecurity = \"tls\"\n",
    )
    .unwrap();
    assert_eq!(c.email.unwrap().smtp_port, 465);
}

#[test]
fn example_email_block_parses_once_uncommented() {
    let example = include_str!("../../../packaging/tessera.toml");
    let from_email = &example[example.find("\n# [email]\n").unwrap()..];
    // Up to the next section's introduction.
    let block: String = from_email[..from_email[1..]
        .find("\n\n")
        .map_or(from_email.len(), |e| e + 1)]
        .lines()
        .map(|l| l.strip_prefix("# ").or(l.strip_prefix("#")).unwrap_or(l))
        // Files that do not exist here.
        .filter(|l| {
            !l.starts_with("password_file")
                && !l.starts_with("ca_file")
                && !l.starts_with("username")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let e = parse(&block).unwrap().email.unwrap();
    assert_eq!(e.smtp_host, "mail.example.com");
    assert_eq!(e.code_length, 6);
    assert!(e.body.contains("{code}"));
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let c = parse("[store]\npath = \"db/t.db\"\nkey_file = \"t.key\"\n").unwrap();
    assert_eq!(c.store.path, PathBuf::from("/etc/tessera/db/t.db"));
    assert_eq!(c.store.key_file, PathBuf::from("/etc/tessera/t.key"));
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = parse("[store]\npath = \"/x\"\n\n[totp]\ndigitz = 6\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("/etc/tessera/tessera.toml:5:"), "{msg}");
    assert!(msg.contains("digitz"), "{msg}");
    assert_eq!(e.key(), Some("totp.digitz"));
}

#[test]
fn unknown_section_is_an_error() {
    let e = parse("[stroe]\npath = \"/x\"\n").unwrap_err();
    assert!(e.to_string().contains("stroe"), "{e}");
    assert!(e.to_string().contains(":1:"), "{e}");
}

#[test]
fn wrong_type_names_the_key() {
    let e = parse("[totp]\n\ndigits = \"six\"\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(":3:"), "{msg}");
    assert!(msg.contains("digits"), "{msg}");
}

#[test]
fn out_of_range_names_line_and_key() {
    let e = parse("[totp]\nperiod = 30\ndigits = 9\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/tessera/tessera.toml:3: key `totp.digits`: 9 is out of range (allowed 6..=8)"
    );
}

#[test]
fn durations_accept_seconds_and_text() {
    let c = parse("[policy]\nlockout = \"1h\"\n").unwrap();
    assert_eq!(c.policy.lockout, Duration::from_secs(3600));
    let c = parse("[policy]\nlockout = 60\n").unwrap();
    assert_eq!(c.policy.lockout, Duration::from_secs(60));
    let e = parse("[policy]\nlockout = \"soon\"\n").unwrap_err();
    assert!(e.to_string().contains("policy.lockout"), "{e}");
}

#[test]
fn bad_algorithm_is_named() {
    let e = parse("[totp]\nalgorithm = \"md5\"\n").unwrap_err();
    assert!(e.to_string().contains("totp.algorithm"), "{e}");
}

#[test]
fn syntax_error_has_a_line() {
    let e = parse("[store]\npath = \n").unwrap_err();
    assert!(e.to_string().contains(":2:"), "{e}");
}

#[test]
fn policy_ceiling_and_first_factor_keys() {
    let c = parse(
        "[policy]\nlockout = \"10m\"\nmax_lockout = \"2h\"\nfirst_factor_max_failures = 7\nfirst_factor_lockout = \"1m\"\n",
    )
    .unwrap();
    assert_eq!(c.policy.max_lockout, Duration::from_secs(7200));
    assert_eq!(c.policy.first_factor_max_failures, 7);
    assert_eq!(c.policy.first_factor_lockout, Duration::from_secs(60));
    let defaults = parse("").unwrap().policy;
    assert_eq!(defaults.max_lockout, Duration::from_secs(24 * 3600));
    assert_eq!(defaults.first_factor_max_failures, 20);
    assert_eq!(defaults.first_factor_lockout, Duration::from_secs(300));
    // A ceiling below the first lock is refused, naming the key.
    let e = parse("[policy]\nlockout = \"1h\"\nmax_lockout = \"30m\"\n").unwrap_err();
    assert_eq!(e.key(), Some("policy.max_lockout"), "{e}");
    // A first lock longer than the default ceiling raises the ceiling with it.
    let c = parse("[policy]\nlockout = \"2d\"\n").unwrap();
    assert_eq!(c.policy.max_lockout, Duration::from_secs(2 * 24 * 3600));
}

/// A password file in a temp dir with `mode`; returns (dir, path).
fn password_file(mode: u32) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("smtp.password");
    std::fs::write(&p, "hunter2\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, p)
}

fn email_with_password(host: &str, security: &str, pw: &Path, extra: &str) -> String {
    format!(
        "[email]\nsmtp_host = \"{host}\"\nfrom = \"a@example.com\"\nsecurity = \"{security}\"\n\
         username = \"u\"\npassword_file = \"{}\"\n{extra}",
        pw.display()
    )
}

#[test]
fn plaintext_smtp_auth_to_another_host_needs_an_explicit_yes() {
    let (_d, pw) = password_file(0o600);
    let e = parse(&email_with_password("mail.example.com", "none", &pw, "")).unwrap_err();
    assert_eq!(e.key(), Some("email.security"), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("in clear") && text.contains("allow_plaintext_auth"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    // Said explicitly, or to a relay on this machine, or over TLS: accepted.
    parse(&email_with_password(
        "mail.example.com",
        "none",
        &pw,
        "allow_plaintext_auth = true\n",
    ))
    .unwrap();
    for host in ["localhost", "127.0.0.1", "::1", "[::1]"] {
        parse(&email_with_password(host, "none", &pw, "")).unwrap();
    }
    parse(&email_with_password(
        "mail.example.com",
        "starttls",
        &pw,
        "",
    ))
    .unwrap();
    // Without a password there is nothing to leak.
    parse("[email]\nsmtp_host = \"mail.example.com\"\nfrom = \"a@example.com\"\nsecurity = \"none\"\n")
        .unwrap();
}

#[test]
fn password_file_readable_by_everyone_is_refused() {
    let (_d, pw) = password_file(0o644);
    let e = parse(&email_with_password("mail.example.com", "tls", &pw, "")).unwrap_err();
    assert_eq!(e.key(), Some("email.password_file"), "{e}");
    assert!(e.to_string().contains("0644"), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let (_d, pw) = password_file(0o640);
    parse(&email_with_password("mail.example.com", "tls", &pw, "")).unwrap();
}

#[test]
fn fido2_defaults_and_errors_name_the_key() {
    let d = parse("").unwrap().fido2;
    assert!(d.rp_id.starts_with("pam://"), "{}", d.rp_id);
    assert_eq!(
        d.user_verification,
        crate::factor::fido2::UserVerification::Preferred
    );
    assert_eq!(d.timeout, Duration::from_secs(30));
    assert!(!d.requires_uv());
    let c = parse(
        "[fido2]\nrp_id = \"pam://fleet\"\nuser_verification = \"required\"\ntimeout = \"5s\"\n",
    )
    .unwrap()
    .fido2;
    assert_eq!(
        (c.rp_id.as_str(), c.requires_uv(), c.timeout),
        ("pam://fleet", true, Duration::from_secs(5))
    );
    for (text, key) in [
        (
            "[fido2]\nuser_verification = \"always\"\n",
            "fido2.user_verification",
        ),
        ("[fido2]\nrp_id = \"pam://a b\"\n", "fido2.rp_id"),
        ("[fido2]\nrp_id = \"\"\n", "fido2.rp_id"),
        ("[fido2]\ntimeout = \"0s\"\n", "fido2.timeout"),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.key(), Some(key), "{text}: {e}");
        assert!(e.to_string().contains("tessera.toml:2:"), "{e}");
    }
    assert!(parse("[fido2]\norigin = \"x\"\n").is_err());
}
