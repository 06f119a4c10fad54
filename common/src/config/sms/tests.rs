use std::path::{Path, PathBuf};

use super::gateway::json_placeholders;
#[cfg(debug_assertions)]
use super::gateway::{Ids, at_secure, test_command_dir};
use super::*;
use crate::config::Config;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/tessera/tessera.toml"), text)
}

fn sms(text: &str) -> SmsConfig {
    parse(text).unwrap().sms.unwrap()
}

/// The error's dotted key, with the whole message for a failing assertion.
fn key_of(text: &str) -> (String, String) {
    let e = parse(text).unwrap_err();
    (e.key().unwrap_or_default().to_string(), e.to_string())
}

const EMAIL: &str = "[email]\nsmtp_host = \"localhost\"\nfrom = \"t@example.com\"\n";

/// A secret file with `mode` in a temp dir; returns (dir, path).
fn secret_file(content: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gateway.secret");
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, p)
}

#[test]
fn no_sms_section_means_no_texted_codes() {
    assert!(parse("").unwrap().sms.is_none());
}

#[test]
fn the_command_gateway_parses_with_the_defaults() {
    let c = sms("[sms]\ngateway = \"command\"\ncommand = \"send-sms\"\nhostname = \"bastion\"\n");
    let SmsGateway::Command(g) = &c.gateway else {
        panic!("{:?}", c.gateway)
    };
    assert_eq!(g.name, "send-sms");
    // The test run does not set the variable: the fixed directory.
    assert_eq!(g.path(), Path::new("/usr/lib/tessera/sms/send-sms"));
    assert_eq!(c.code_length, 6);
    assert_eq!(c.lifetime, Duration::from_secs(600));
    assert_eq!(c.max_tries, 5);
    assert_eq!(c.min_interval, Duration::from_secs(60));
    assert_eq!(c.max_per_day, 10);
    assert_eq!(c.timeout, Duration::from_secs(10));
    assert_eq!(c.hostname, "bastion");
    assert_eq!(
        c.message,
        "{code} is your {host} login code. It expires in {expiry}."
    );
    let c = sms(
        "[sms]\ngateway = \"command\"\ncommand = \"sms_v2.sh\"\ncode_length = 8\n\
         lifetime = \"5m\"\nmax_tries = 3\nmin_interval = 30\nmax_per_day = 4\ntimeout = \"2s\"\n\
         message = \"Code {code} for {user} on {service}\"\n",
    );
    assert_eq!(
        (c.code_length, c.lifetime, c.max_tries, c.min_interval),
        (8, Duration::from_secs(300), 3, Duration::from_secs(30))
    );
    assert_eq!((c.max_per_day, c.timeout), (4, Duration::from_secs(2)));
}

#[test]
fn the_http_gateway_parses_form_and_basic_auth() {
    let (_d, pw) = secret_file("s3cret\n", 0o600);
    let c = sms(&format!(
        "[sms]\ngateway = \"http\"\nurl = \"https://api.example.com/2010-04-01/Accounts/AC1/Messages.json\"\n\
         body = \"form\"\ntemplate = {{ To = \"{{number}}\", From = \"+15005550006\", Body = \"{{message}}\" }}\n\
         auth = \"basic\"\nusername = \"AC1\"\nsecret_file = \"{}\"\nsuccess_status = [201]\n",
        pw.display()
    ));
    let SmsGateway::Http(g) = &c.gateway else {
        panic!("{:?}", c.gateway)
    };
    assert_eq!(g.origin, "https://api.example.com");
    assert_eq!(g.method, HttpMethod::Post);
    assert_eq!(
        g.body,
        HttpBody::Form(vec![
            ("Body".into(), "{message}".into()),
            ("From".into(), "+15005550006".into()),
            ("To".into(), "{number}".into()),
        ])
    );
    let HttpAuth::Basic { username, password } = &g.auth else {
        panic!("{:?}", g.auth)
    };
    assert_eq!(
        (username.as_str(), password.expose().as_str()),
        ("AC1", "s3cret")
    );
    assert_eq!(g.success_status, vec![201]);
    // The secret never shows in a debug print of the configuration.
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("s3cret") && debug.contains("<redacted>"),
        "{debug}"
    );
}

#[test]
fn the_http_gateway_parses_json_bearer_and_get() {
    let (_d, token) = secret_file("tok-123\n", 0o640);
    let c = sms(&format!(
        "[sms]\ngateway = \"http\"\nurl = \"http://127.0.0.1:8080/sms\"\nmethod = \"put\"\n\
         body = \"json\"\ntemplate = '{{\"to\": \"{{number}}\", \"text\": \"{{message}}\", \"flags\": {{\"x\": []}}}}'\n\
         auth = \"bearer\"\nsecret_file = \"{}\"\nsuccess_contains = \"queued\"\n",
        token.display()
    ));
    let SmsGateway::Http(g) = &c.gateway else {
        panic!("{:?}", c.gateway)
    };
    assert_eq!(g.method, HttpMethod::Put);
    assert_eq!(g.origin, "http://127.0.0.1:8080");
    assert!(matches!(&g.body, HttpBody::Json(t) if t.contains("\"{message}\"")));
    assert!(matches!(&g.auth, HttpAuth::Bearer(t) if t.expose() == "tok-123"));
    assert_eq!(g.success_contains.as_deref(), Some("queued"));
    assert!(g.success_status.is_empty(), "any 2xx");
    assert!(!format!("{c:?}").contains("tok-123"));
    // A GET gateway with everything in the query.
    let c = sms("[sms]\ngateway = \"http\"\nmethod = \"GET\"\n\
         url = \"https://sms.example.com:8443/send?to={digits}&text={message}\"\n");
    let SmsGateway::Http(g) = &c.gateway else {
        panic!("{:?}", c.gateway)
    };
    assert_eq!((g.method, &g.body), (HttpMethod::Get, &HttpBody::None));
    assert_eq!(g.origin, "https://sms.example.com:8443");
    // Loopback names and addresses may use plain http.
    for host in ["localhost", "127.0.0.2", "[::1]"] {
        sms(&format!(
            "[sms]\ngateway = \"http\"\nurl = \"http://{host}/s?to={{number}}&m={{message}}\"\n"
        ));
    }
}

#[test]
fn the_email_gateway_parses_with_an_email_section() {
    let c = sms(&format!(
        "{EMAIL}[sms]\ngateway = \"email\"\naddress = \"{{digits}}@sms.example.net\"\n"
    ));
    let SmsGateway::Email(g) = &c.gateway else {
        panic!("{:?}", c.gateway)
    };
    assert_eq!(g.address, "{digits}@sms.example.net");
    sms(&format!(
        "{EMAIL}[sms]\ngateway = \"email\"\naddress = \"{{number}}@sms.example.net\"\n"
    ));
}

#[test]
fn each_bad_key_is_named_with_its_line() {
    let (_d, pw) = secret_file("pw\n", 0o600);
    let pw = pw.display();
    let http = "[sms]\ngateway = \"http\"\n";
    let ok_url = "url = \"https://api.example.com/send\"\n";
    let form = "body = \"form\"\ntemplate = { to = \"{number}\", text = \"{message}\" }\n";
    for (text, key, says) in [
        (
            "[sms]\ncommand = \"x\"\n".to_string(),
            "sms.gateway",
            "is required",
        ),
        (
            "[sms]\ngateway = \"twilio\"\n".to_string(),
            "sms.gateway",
            "\"twilio\" is not one of",
        ),
        (
            "[sms]\ngateway = \"command\"\n".to_string(),
            "sms.command",
            "is required",
        ),
        (
            "[sms]\ngateway = \"command\"\ncommand = \"/usr/local/bin/sms\"\n".to_string(),
            "sms.command",
            "no '/'",
        ),
        (
            "[sms]\ngateway = \"command\"\ncommand = \"..\"\n".to_string(),
            "sms.command",
            "file name",
        ),
        (
            "[sms]\ngateway = \"command\"\ncommand = \"../bin/sh\"\n".to_string(),
            "sms.command",
            "file name",
        ),
        (
            "[sms]\ngateway = \"command\"\ncommand = \"x\"\nurl = \"https://a.example/\"\n"
                .to_string(),
            "sms.url",
            "is for gateway = \"http\"",
        ),
        (
            format!("{http}url = \"http://sms.example.com/send\"\n{form}"),
            "sms.url",
            "loopback",
        ),
        (
            format!("{http}url = \"ftp://sms.example.com/send\"\n{form}"),
            "sms.url",
            "not https",
        ),
        (
            format!("{http}url = \"https://{{digits}}.example.com/x\"\n{form}"),
            "sms.url",
            "never in the host",
        ),
        (
            format!("{http}url = \"https://user:pw@sms.example.com/x\"\n{form}"),
            "sms.url",
            "secret_file",
        ),
        (
            format!("{http}url = \"https://sms.example.com/x?k={{key}}\"\n{form}"),
            "sms.url",
            "{key}",
        ),
        (
            format!(
                "{http}{ok_url}body = \"json\"\ntemplate = '{{\"to\": {{number}}, \"text\": \"{{message}}\"}}'\n"
            ),
            "sms.template",
            "not JSON",
        ),
        (
            format!(
                "{http}{ok_url}body = \"json\"\ntemplate = '{{\"to\": \"{{number}}\", \"text\": \"{{message}}\"'\n"
            ),
            "sms.template",
            "not JSON",
        ),
        (
            format!("{http}{ok_url}body = \"json\"\ntemplate = {{ to = \"{{number}}\" }}\n"),
            "sms.template",
            "needs the JSON as a string",
        ),
        (
            format!("{http}{ok_url}body = \"form\"\ntemplate = {{ to = \"{{number}}\" }}\n"),
            "sms.template",
            "put {message}",
        ),
        (
            format!(
                "{http}{ok_url}body = \"form\"\ntemplate = {{ to = \"{{phone}}\", t = \"{{message}}\" }}\n"
            ),
            "sms.template",
            "{phone}",
        ),
        (
            format!("{http}{ok_url}body = \"xml\"\n"),
            "sms.body",
            "\"xml\" is not one of",
        ),
        (
            format!("{http}{ok_url}method = \"GET\"\n{form}"),
            "sms.body",
            "GET request carries no body",
        ),
        (
            format!("{http}{ok_url}method = \"DELETE\"\n{form}"),
            "sms.method",
            "\"DELETE\"",
        ),
        (
            format!("{http}{ok_url}{form}auth = \"basic\"\nsecret_file = \"{pw}\"\n"),
            "sms.username",
            "required with auth = \"basic\"",
        ),
        (
            format!("{http}{ok_url}{form}auth = \"basic\"\nusername = \"u\"\n"),
            "sms.secret_file",
            "is required",
        ),
        (
            format!("{http}{ok_url}{form}username = \"u\"\n"),
            "sms.username",
            "only with auth",
        ),
        (
            format!("{http}{ok_url}{form}auth = \"digest\"\n"),
            "sms.auth",
            "\"digest\"",
        ),
        (
            format!("{http}{ok_url}{form}auth = \"bearer\"\nsecret_file = \"/nonexistent/t\"\n"),
            "sms.secret_file",
            "/nonexistent/t",
        ),
        (
            format!("{http}{ok_url}{form}success_status = [200, 700]\n"),
            "sms.success_status",
            "700",
        ),
        (
            format!("{http}{ok_url}{form}success_status = []\n"),
            "sms.success_status",
            "empty",
        ),
        (
            format!("{http}{ok_url}{form}ca_file = \"/nonexistent/ca.pem\"\n"),
            "sms.ca_file",
            "/nonexistent/ca.pem",
        ),
        (
            "[sms]\ngateway = \"email\"\naddress = \"{number}@sms.example.net\"\n".to_string(),
            "sms.gateway",
            "add an [email] section",
        ),
        (
            format!("{EMAIL}[sms]\ngateway = \"email\"\naddress = \"sms@example.net\"\n"),
            "sms.address",
            "{number} or {digits}",
        ),
        (
            format!("{EMAIL}[sms]\ngateway = \"email\"\naddress = \"{{number}}\"\n"),
            "sms.address",
            "does not make an e-mail address",
        ),
        (
            format!("{EMAIL}[sms]\ngateway = \"email\"\naddress = \"{{message}}@x.example\"\n"),
            "sms.address",
            "{message}",
        ),
        (
            "[sms]\ngateway = \"command\"\ncommand = \"x\"\nmessage = \"Your login to {host}\"\n"
                .to_string(),
            "sms.message",
            "must contain {code}",
        ),
        (
            "[sms]\ngateway = \"command\"\ncommand = \"x\"\nmessage = \"{code} from {source}\"\n"
                .to_string(),
            "sms.message",
            "{source}",
        ),
        (
            "[sms]\ngateway = \"command\"\ncommand = \"x\"\ncode_length = 4\n".to_string(),
            "sms.code_length",
            "out of range",
        ),
        (
            "[sms]\ngateway = \"command\"\ncommand = \"x\"\nmax_per_day = 0\n".to_string(),
            "sms.max_per_day",
            "out of range",
        ),
        (
            "[sms]\ngateway = \"command\"\ncommand = \"x\"\ntimeout = \"5m\"\n".to_string(),
            "sms.timeout",
            "out of range",
        ),
    ] {
        let (got, message) = key_of(&text);
        assert_eq!(got, key, "{text}\n→ {message}");
        assert!(message.contains(says), "{text}\n→ {message}");
        // The line is the key's own (or the section's when the key is absent).
        let line: usize = message.split(':').nth(1).unwrap().parse().unwrap();
        let want = text
            .lines()
            .position(|l| l.starts_with(&format!("{} ", key.trim_start_matches("sms."))))
            .or_else(|| text.lines().position(|l| l == "[sms]"))
            .unwrap()
            + 1;
        assert_eq!(line, want, "{text}\n→ {message}");
    }
}

#[test]
fn an_unknown_key_in_sms_is_refused() {
    let (key, message) =
        key_of("[sms]\ngateway = \"command\"\ncommand = \"x\"\nverify_tls = false\n");
    assert_eq!(key, "sms.verify_tls", "{message}");
    assert!(message.contains(":4:"), "{message}");
}

#[test]
fn a_secret_file_others_can_read_is_refused_and_never_quoted() {
    let (_d, token) = secret_file("tok-123\n", 0o644);
    let (key, message) = key_of(&format!(
        "[sms]\ngateway = \"http\"\nurl = \"https://a.example.com/?to={{number}}&m={{message}}\"\n\
         auth = \"bearer\"\nsecret_file = \"{}\"\n",
        token.display()
    ));
    assert_eq!(key, "sms.secret_file", "{message}");
    assert!(message.contains("0644"), "{message}");
    assert!(!message.contains("tok-123"), "{message}");
    let (_d, empty) = secret_file("\n", 0o600);
    let (key, message) = key_of(&format!(
        "[sms]\ngateway = \"http\"\nurl = \"https://a.example.com/?to={{number}}&m={{message}}\"\n\
         auth = \"bearer\"\nsecret_file = \"{}\"\n",
        empty.display()
    ));
    assert_eq!(key, "sms.secret_file", "{message}");
    assert!(message.contains("is empty"), "{message}");
    // A token that would break the header line.
    let (_d, spaced) = secret_file("tok 123\n", 0o600);
    let (key, _) = key_of(&format!(
        "[sms]\ngateway = \"http\"\nurl = \"https://a.example.com/?to={{number}}&m={{message}}\"\n\
         auth = \"bearer\"\nsecret_file = \"{}\"\n",
        spaced.display()
    ));
    assert_eq!(key, "sms.secret_file");
}

#[test]
fn json_placeholders_are_the_bare_names_in_braces() {
    let names: Vec<&str> =
        json_placeholders("{\"a\": \"{number}\", \"b\": {\"c\": \"{message}\"}, \"d\": {}}")
            .collect();
    assert_eq!(names, ["number", "message"]);
}

/// Debug builds only: a release build has no test directory at all.
#[cfg(debug_assertions)]
#[test]
fn the_test_directory_variable_is_ignored_when_privileged() {
    let ids = |uid, euid, gid, egid, secure| Ids {
        uid,
        euid,
        gid,
        egid,
        secure,
    };
    let var = || Some(std::ffi::OsString::from("/tmp/sms-scripts"));
    let plain = ids(1000, 1000, 1000, 1000, false);
    assert_eq!(
        test_command_dir(var(), &plain),
        Some(PathBuf::from("/tmp/sms-scripts"))
    );
    assert_eq!(
        test_command_dir(var(), &ids(0, 0, 0, 0, false)),
        Some(PathBuf::from("/tmp/sms-scripts"))
    );
    assert_eq!(test_command_dir(Some("".into()), &plain), None);
    assert_eq!(test_command_dir(None, &plain), None);
    for privileged in [
        ids(1000, 0, 1000, 1000, false),
        ids(1000, 1000, 1000, 0, false),
        ids(1000, 1000, 1000, 1000, true),
    ] {
        assert_eq!(test_command_dir(var(), &privileged), None, "{privileged:?}");
    }
    let vector = |pairs: &[(usize, usize)]| -> Vec<u8> {
        pairs
            .iter()
            .flat_map(|(t, v)| [t.to_ne_bytes(), v.to_ne_bytes()].concat())
            .collect()
    };
    assert!(at_secure(&vector(&[(6, 4096), (23, 1), (0, 0)])));
    assert!(!at_secure(&vector(&[(6, 4096), (23, 0), (0, 0)])));
    assert!(!at_secure(&vector(&[(0, 0), (23, 1)])), "after AT_NULL");
    assert!(
        !Ids::of_process().secure,
        "this test process is not privileged"
    );
}

/// The packaged example's `[sms]` block, uncommented, keeping the lines `keep` accepts.
fn example_block(keep: impl Fn(&str) -> bool) -> String {
    let example = include_str!("../../../../packaging/tessera.toml");
    let block = &example[example.find("\n# [sms]\n").unwrap()..];
    let block = &block[..block[1..].find("\n\n").map_or(block.len(), |e| e + 1)];
    block
        .lines()
        .map(|l| l.strip_prefix("# ").or(l.strip_prefix("#")).unwrap_or(l))
        .filter(|l| keep(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn key_is(line: &str, keys: &[&str]) -> bool {
    keys.iter().any(|k| line.starts_with(&format!("{k} ")))
}

#[test]
fn the_example_sms_block_parses_once_uncommented_and_states_the_defaults() {
    const HTTP: &[&str] = &[
        "url",
        "method",
        "body",
        "template",
        "auth",
        "username",
        "secret_file",
        "success_status",
        "success_contains",
        "ca_file",
    ];
    // As it stands: the command gateway.
    let text = example_block(|l| !key_is(l, HTTP) && !key_is(l, &["address"]));
    let c = sms(&text);
    let defaults = sms("[sms]\ngateway = \"command\"\ncommand = \"send-sms\"\n");
    assert_eq!(
        format!(
            "{:?}",
            SmsConfig {
                hostname: defaults.hostname.clone(),
                ..c.clone()
            }
        ),
        format!("{defaults:?}"),
        "{text}"
    );
    assert_eq!(c.hostname, "bastion.example.com");
    // Its http keys, with the form template, are real keys with valid values.
    let text = example_block(|l| {
        !key_is(l, &["command", "address", "secret_file", "ca_file"])
            && !l.starts_with("template = '")
    })
    .replace("gateway = \"command\"", "gateway = \"http\"")
    .replace("auth = \"basic\"", "auth = \"none\"")
    .replace("username = ", "# username = ");
    let c = sms(&text);
    let SmsGateway::Http(g) = &c.gateway else {
        panic!("{:?}", c.gateway)
    };
    assert_eq!(g.success_status, [201]);
    assert!(
        matches!(&g.body, HttpBody::Form(f) if f.len() == 3),
        "{:?}",
        g.body
    );
    // And the JSON template too.
    let text = example_block(|l| {
        !key_is(
            l,
            &[
                "command",
                "address",
                "secret_file",
                "ca_file",
                "auth",
                "username",
            ],
        ) && !l.starts_with("template = {")
    })
    .replace("gateway = \"command\"", "gateway = \"http\"")
    .replace("body = \"form\"", "body = \"json\"");
    assert!(
        matches!(&sms(&text).gateway, SmsGateway::Http(g) if matches!(g.body, HttpBody::Json(_)))
    );
    // The e-mail gateway's address, with [email].
    let text = example_block(|l| !key_is(l, HTTP) && !key_is(l, &["command"]))
        .replace("gateway = \"command\"", "gateway = \"email\"");
    assert!(matches!(
        &sms(&format!("{EMAIL}{text}")).gateway,
        SmsGateway::Email(g) if g.address == "{digits}@sms.example.net"
    ));
}
