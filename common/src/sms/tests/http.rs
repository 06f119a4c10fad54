//! The HTTP gateway against a real HTTP server on loopback (tests/scripts/http_gateway.py).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{NUMBER, parse};
use crate::sms::{SmsError, Texter, texter_from_config};

/// The gateway script, running; stopped and reaped when dropped.
struct Gateway {
    child: Child,
    port: u16,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start(modes: &[&str]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("requests.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scripts/http_gateway.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&record)
            .args(modes)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/scripts/http_gateway.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the gateway printed {line:?}, not its port"));
        Gateway {
            child,
            port,
            record,
            _dir: dir,
        }
    }

    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn only_request(&self) -> Value {
        let mut all = self.requests();
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A secret file (0600) in its own directory.
fn secret(content: &str) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("secret");
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    (dir, p)
}

fn texter(section: &str) -> std::sync::Arc<dyn Texter> {
    texter_from_config(
        &parse(&format!("[sms]\ngateway = \"http\"\n{section}")),
        None,
    )
    .unwrap()
}

/// Every character a form or URL must encode: `&`, `=`, `+`, `%`, `#`, `?`, spaces, a line end,
/// quotes and letters outside ASCII.
const AWKWARD: &str = "123456 & more=yes + 100% #1? \"ünï\" ✓\nline two";

#[test]
fn a_form_body_is_urlencoded_and_basic_auth_sent() {
    let gw = Gateway::start(&["status=201", "body={\"status\": \"queued\"}"]);
    let (_d, pw) = secret("s3cret:with colon\n");
    let t = texter(&format!(
        "url = \"{}\"\nbody = \"form\"\n\
         template = {{ To = \"{{number}}\", From = \"Tessera\", Body = \"{{message}}\" }}\n\
         auth = \"basic\"\nusername = \"AC1\"\nsecret_file = \"{}\"\n\
         success_status = [200, 201]\nsuccess_contains = \"queued\"\n",
        gw.url("/2010-04-01/Accounts/AC1/Messages.json"),
        pw.display()
    ));
    t.send(NUMBER, AWKWARD).unwrap();
    let r = gw.only_request();
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/2010-04-01/Accounts/AC1/Messages.json");
    assert_eq!(
        r["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    // base64("AC1:s3cret:with colon")
    assert_eq!(
        r["headers"]["authorization"],
        "Basic QUMxOnMzY3JldDp3aXRoIGNvbG9u"
    );
    assert_eq!(r["form"]["Body"], serde_json::json!([AWKWARD]));
    assert_eq!(r["form"]["To"], serde_json::json!([NUMBER]));
    assert_eq!(r["form"]["From"], serde_json::json!(["Tessera"]));
    // Sorted fields, `+` for a space, `%2B` for a plus.
    let body = r["body"].as_str().unwrap();
    assert!(
        body.starts_with("Body=123456+%26+more%3Dyes+%2B+100%25+%231%3F+"),
        "{body}"
    );
    assert!(body.ends_with("&From=Tessera&To=%2B447700900123"), "{body}");
}

#[test]
fn a_json_body_escapes_every_value_and_bearer_auth_is_sent() {
    let gw = Gateway::start(&["ok"]);
    let (_d, token) = secret("tok-123.abc\n");
    let t = texter(&format!(
        "url = \"{}\"\nmethod = \"PUT\"\nbody = \"json\"\n\
         template = '{{\"to\": \"{{number}}\", \"text\": \"{{message}}\", \"opts\": {{\"flash\": false}}}}'\n\
         auth = \"bearer\"\nsecret_file = \"{}\"\n",
        gw.url("/v1/sms"),
        token.display()
    ));
    // A message that closes its string to add fields, and spells the placeholders: it stays
    // one string, verbatim.
    let injection = "\", \"to\": \"+19005550100\", \"admin\": true, \"x\": \"{number} {message}";
    let message = format!("quote \" backslash \\ tab\t{AWKWARD} {injection}");
    t.send(NUMBER, &message).unwrap();
    let r = gw.only_request();
    assert_eq!(r["method"], "PUT");
    assert_eq!(r["headers"]["content-type"], "application/json");
    assert_eq!(r["headers"]["authorization"], "Bearer tok-123.abc");
    assert!(r.get("json_error").is_none(), "{r:#}");
    let json = &r["json"];
    assert_eq!(json["text"], message.as_str(), "{json:#}");
    assert_eq!(json["to"], NUMBER);
    assert_eq!(json["opts"], serde_json::json!({"flash": false}));
    assert_eq!(
        json.as_object().unwrap().len(),
        3,
        "nothing injected: {json:#}"
    );
}

#[test]
fn a_get_gateway_gets_the_values_percent_encoded_in_the_query() {
    let gw = Gateway::start(&["body=OK: sent"]);
    let t = texter(&format!(
        "method = \"GET\"\nurl = \"{}\"\nsuccess_contains = \"OK\"\n",
        gw.url("/send?user=tessera&to={digits}&full={number}&text={message}")
    ));
    t.send(NUMBER, AWKWARD).unwrap();
    let r = gw.only_request();
    assert_eq!(r["method"], "GET");
    assert_eq!(r["query"]["to"], serde_json::json!(["447700900123"]));
    assert_eq!(r["query"]["full"], serde_json::json!([NUMBER]));
    assert_eq!(r["query"]["text"], serde_json::json!([AWKWARD]));
    assert_eq!(r["query"]["user"], serde_json::json!(["tessera"]));
    assert!(r["headers"].get("authorization").is_none());
}

#[test]
fn success_status_and_success_contains_are_honoured() {
    let form = "body = \"form\"\ntemplate = { to = \"{number}\", text = \"{message}\" }\n";
    // Any 2xx by default.
    let gw = Gateway::start(&["status=202", "body=accepted"]);
    texter(&format!("url = \"{}\"\n{form}", gw.url("/")))
        .send(NUMBER, "1")
        .unwrap();
    // A listed status only.
    let e = texter(&format!(
        "url = \"{}\"\n{form}success_status = [200]\n",
        gw.url("/")
    ))
    .send(NUMBER, "1")
    .unwrap_err();
    assert!(
        matches!(e, SmsError::HttpStatus { status: 202, .. }),
        "{e:?}"
    );
    // A non-2xx that the gateway uses for success, when listed.
    let gw = Gateway::start(&["status=302"]);
    texter(&format!(
        "url = \"{}\"\n{form}success_status = [302]\n",
        gw.url("/")
    ))
    .send(NUMBER, "1")
    .unwrap();
    // The body must hold the text.
    let gw = Gateway::start(&["body={\"error\": \"no credit\"}"]);
    let e = texter(&format!(
        "url = \"{}\"\n{form}success_contains = \"queued\"\n",
        gw.url("/")
    ))
    .send(NUMBER, "1")
    .unwrap_err();
    assert!(
        matches!(&e, SmsError::HttpTextMissing { status: 200, reply, .. } if reply.contains("no credit")),
        "{e:?}"
    );
    assert_eq!(e.category(), "http_text_missing");
}

#[test]
fn a_refusing_gateway_is_told_by_status_and_its_text_stays_out_of_the_category() {
    let gw = Gateway::start(&[
        "status=500",
        "body=Internal error for +447700900123 (token tok-9)\nsecond line",
    ]);
    let t = texter(&format!(
        "url = \"{}\"\nbody = \"form\"\ntemplate = {{ to = \"{{number}}\", text = \"{{message}}\" }}\n",
        gw.url("/send?key=tok-9")
    ));
    let e = t.send(NUMBER, "123456 is your code").unwrap_err();
    let SmsError::HttpStatus {
        status,
        reply,
        gateway,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*status, 500);
    assert_eq!(reply, "Internal error for +447700900123 (token tok-9)");
    assert_eq!(gateway, &format!("http://127.0.0.1:{}", gw.port));
    assert_eq!(e.category(), "http_status_500");
    let text = e.to_string();
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(
        !text.contains("key=") && !text.contains("123456 is"),
        "{text}"
    );
}

#[test]
fn a_hanging_gateway_times_out_within_the_bound() {
    let gw = Gateway::start(&["hang"]);
    let t = texter(&format!(
        "url = \"{}\"\nbody = \"form\"\ntemplate = {{ to = \"{{number}}\", text = \"{{message}}\" }}\ntimeout = \"1s\"\n",
        gw.url("/")
    ));
    let started = Instant::now();
    let e = t.send(NUMBER, "123456").unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, SmsError::Timeout { .. }), "{e:?}");
    assert_eq!(e.category(), "timeout");
    assert!(
        took < Duration::from_millis(2500),
        "took {took:?} with timeout = 1s"
    );
    assert_eq!(gw.requests().len(), 1, "the request reached the gateway");
}

#[test]
fn a_redirect_is_not_followed() {
    let elsewhere = Gateway::start(&["ok"]);
    let gw = Gateway::start(&[&format!("redirect={}", elsewhere.url("/stolen"))]);
    let (_d, token) = secret("tok-123\n");
    let t = texter(&format!(
        "url = \"{}\"\nbody = \"form\"\ntemplate = {{ to = \"{{number}}\", text = \"{{message}}\" }}\n\
         auth = \"bearer\"\nsecret_file = \"{}\"\n",
        gw.url("/"),
        token.display()
    ));
    let e = t.send(NUMBER, "123456").unwrap_err();
    assert!(
        matches!(e, SmsError::HttpStatus { status: 302, .. }),
        "{e:?}"
    );
    assert_eq!(gw.requests().len(), 1);
    assert!(
        elsewhere.requests().is_empty(),
        "{:#?}",
        elsewhere.requests()
    );
}

#[test]
fn nothing_listening_is_a_connection_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = texter(&format!(
        "url = \"http://127.0.0.1:{port}/\"\nbody = \"form\"\ntemplate = {{ to = \"{{number}}\", text = \"{{message}}\" }}\n"
    ));
    let e = t.send(NUMBER, "123456").unwrap_err();
    assert_eq!(e.category(), "connection", "{e:?}");
}

/// A CA and a certificate for 127.0.0.1 it signed, made with openssl in `dir`; returns the
/// paths of the CA, the server's certificate and key.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    run(&[
        &["req", "-x509", "-new", "-nodes"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Test SMS CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat());
    run(&[
        &["req", "-new", "-nodes"][..],
        &ec,
        &[
            "-keyout",
            "gw.key",
            "-out",
            "gw.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("gw.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "gw.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "gw.pem",
        "-days",
        "2",
        "-extfile",
        "gw.ext",
    ]);
    (dir.join("ca.pem"), dir.join("gw.pem"), dir.join("gw.key"))
}

#[test]
fn tls_is_always_verified_and_ca_file_names_the_roots() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let gw = Gateway::start(&[&format!("tls={}:{}", cert.display(), key.display())]);
    let section = format!(
        "url = \"https://127.0.0.1:{}/send\"\nbody = \"form\"\ntemplate = {{ to = \"{{number}}\", text = \"{{message}}\" }}\n",
        gw.port
    );
    // Not signed by a root the built-in list holds: refused, nothing sent.
    let e = texter(&section).send(NUMBER, "123456").unwrap_err();
    assert!(matches!(e, SmsError::Tls { .. }), "{e:?}");
    assert_eq!(e.category(), "tls");
    assert!(gw.requests().is_empty());
    // With its CA named, delivered over TLS.
    texter(&format!("{section}ca_file = \"{}\"\n", ca.display()))
        .send(NUMBER, "123456")
        .unwrap();
    let r = gw.only_request();
    assert_eq!(r["form"]["text"], serde_json::json!(["123456"]));
    // A ca_file that holds no certificate is told when the texter is made.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = texter_from_config(
        &parse(&format!(
            "[sms]\ngateway = \"http\"\n{section}ca_file = \"{}\"\n",
            empty.display()
        )),
        None,
    )
    .err()
    .unwrap();
    assert_eq!(e.category(), "ca_file", "{e:?}");
}
