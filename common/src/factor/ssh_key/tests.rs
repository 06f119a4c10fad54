//! Keys made by the real ssh-keygen (OpenSSH 9.2p1, with tests/sk-provider as the security key),
//! and every way a line can be wrong.

use super::*;

/// `ssh-keygen -t ed25519-sk -C alice@example`.
const ED_LINE: &str = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIObD+KQ2YyUegEslcZKyZHQTvACF9C7ARhtv9iD5OL0KAAAABHNzaDo= alice@example\n";
/// `ssh-keygen -lf` of it.
const ED_FINGERPRINT: &str = "SHA256:mJmGtwzhwwhydIr6Rd8sUURs3rbWKtrlZW/SnmZCbNU";
/// `ssh-keygen -t ecdsa-sk -C ""`: no comment, a trailing space.
const EC_LINE: &str = "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBGVc7mjOhEFBYJ4Ty4KxfX5gXwhLYjXRHP+5DfanVYbuWoeuoaT+mKmLYDqAfINofNmyiU0dTJT3f1VBghT4fgIAAAAEc3NoOg== \n";
const EC_FINGERPRINT: &str = "SHA256:FCQ1yeCJuvH5Qt3lZRzxDMCQOnMUESRi7gbInAPI9uI";
/// `ssh-keygen -t ed25519-sk -O application=ssh:tessera -C app`.
const APP_LINE: &str = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIGIrLVN1a9jNMBEh+S/1uh7GEUAPtXAdoxwSv0uAo8r2AAAAC3NzaDp0ZXNzZXJh app";
const APP_FINGERPRINT: &str = "SHA256:0rYsTl1gIhGoN4huQbe0jUuuQTtlq2lfYxpJMFTSWfI";
/// `ssh-keygen -t ed25519`: an ordinary key.
const PLAIN_ED_LINE: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA0NEW2oEXTX6VrWhxAp4lvraD0Z8VxmTinE7B36+zpj bob";
/// `ssh-keygen -t ecdsa -b 256`.
const PLAIN_EC_LINE: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKMl9j7z9aK2v8gJkoX9dhAdn2MmI78HFMzwhlsq7z+P99XCn3iBqNFq2YihFCV/xHhFWarf51QshkXFYax93JY= bob";
/// `ssh-keygen -s ca -I alice-cert -n alice` of ED_LINE's key.
const CERT_LINE: &str = "sk-ssh-ed25519-cert-v01@openssh.com AAAAI3NrLXNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIPHTxIgUbEk0K1fKR/F0+iJkvcNnMqYQjksWZiP1CcG4AAAAIObD+KQ2YyUegEslcZKyZHQTvACF9C7ARhtv9iD5OL0KAAAABHNzaDoAAAAAAAAAAAAAAAEAAAAKYWxpY2UtY2VydAAAAAkAAAAFYWxpY2UAAAAAAAAAAP//////////AAAAAAAAAIIAAAAVcGVybWl0LVgxMS1mb3J3YXJkaW5nAAAAAAAAABdwZXJtaXQtYWdlbnQtZm9yd2FyZGluZwAAAAAAAAAWcGVybWl0LXBvcnQtZm9yd2FyZGluZwAAAAAAAAAKcGVybWl0LXB0eQAAAAAAAAAOcGVybWl0LXVzZXItcmMAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAAgUkiP2R/1cqeTgwHDbrJTkNdNM0zWFhBfIJq3d41c2u8AAABTAAAAC3NzaC1lZDI1NTE5AAAAQAnBmAkOo8NFcJ8R7s+gXQpd4tSE0jhDa2yOR0X0KJCkT+/4EYC7Hp40K4HEGC7lbfaaMe0GKRTxevWJt+6aowE= alice@example";

fn field(line: &str, n: usize) -> &str {
    line.split_whitespace().nth(n).unwrap()
}

fn blob_of(line: &str) -> Vec<u8> {
    Base64::decode_vec(field(line, 1)).unwrap()
}

fn line(key_type: &str, blob: &[u8]) -> String {
    format!("{key_type} {}", Base64::encode_string(blob))
}

/// An RFC 4251 string.
fn string(bytes: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

fn blob(fields: &[&[u8]]) -> Vec<u8> {
    fields.iter().flat_map(|f| string(f)).collect()
}

fn ed_point() -> Vec<u8> {
    parse_public_key(ED_LINE).unwrap().public_key
}

fn ec_point() -> Vec<u8> {
    parse_public_key(EC_LINE).unwrap().public_key
}

// ---- good keys ------------------------------------------------------------------------------

#[test]
fn ed25519_sk_key_from_ssh_keygen_parses_with_its_fingerprint() {
    let k = parse_public_key(ED_LINE).unwrap();
    assert_eq!(k.algorithm, SkAlgorithm::Ed25519);
    assert_eq!(k.algorithm.ssh_name(), "sk-ssh-ed25519@openssh.com");
    assert_eq!(k.blob, blob_of(ED_LINE));
    assert_eq!(k.public_key.len(), 32);
    assert_eq!(k.application, "ssh:");
    assert_eq!(k.comment.as_deref(), Some("alice@example"));
    assert_eq!(k.fingerprint(), ED_FINGERPRINT);
}

#[test]
fn ecdsa_sk_key_from_ssh_keygen_parses_with_its_fingerprint() {
    let k = parse_public_key(EC_LINE).unwrap();
    assert_eq!(k.algorithm, SkAlgorithm::EcdsaP256);
    assert_eq!(k.algorithm.ssh_name(), "sk-ecdsa-sha2-nistp256@openssh.com");
    assert_eq!((k.public_key.len(), k.public_key[0]), (65, 4));
    assert_eq!(k.application, "ssh:");
    assert_eq!(k.comment, None, "a trailing space is no comment");
    assert_eq!(k.fingerprint(), EC_FINGERPRINT);
}

#[test]
fn a_key_for_another_application_keeps_it() {
    let k = parse_public_key(APP_LINE).unwrap();
    assert_eq!(k.application, "ssh:tessera");
    assert_eq!(k.fingerprint(), APP_FINGERPRINT);
}

#[test]
fn tabs_and_spaces_between_fields_and_in_the_comment_are_kept_apart() {
    let spaced = format!(
        "  {}\t {}   my  key\t2 \n",
        field(ED_LINE, 0),
        field(ED_LINE, 1)
    );
    let k = parse_public_key(&spaced).unwrap();
    assert_eq!(k.blob, blob_of(ED_LINE));
    assert_eq!(k.comment.as_deref(), Some("my  key\t2"));
}

#[test]
fn from_blob_reads_the_wire_form_without_a_comment() {
    let k = SkPublicKey::from_blob(&blob_of(EC_LINE)).unwrap();
    assert_eq!(k, parse_public_key(EC_LINE).unwrap());
    assert_eq!(
        SkPublicKey::from_blob(&blob_of(PLAIN_ED_LINE)),
        Err(SshKeyError::NotSecurityKey("ssh-ed25519".into()))
    );
}

// ---- refused types --------------------------------------------------------------------------

#[test]
fn an_ordinary_ed25519_key_is_refused_naming_its_type() {
    let e = parse_public_key(PLAIN_ED_LINE).unwrap_err();
    assert_eq!(e, SshKeyError::NotSecurityKey("ssh-ed25519".into()));
    let text = e.to_string();
    assert!(text.starts_with("ssh-ed25519 keys cannot be"), "{text}");
    assert!(text.contains("only security-key (sk-*) keys"), "{text}");
    assert!(!text.contains(field(PLAIN_ED_LINE, 1)), "{text}");
}

#[test]
fn other_ordinary_types_are_refused() {
    assert_eq!(
        parse_public_key(PLAIN_EC_LINE),
        Err(SshKeyError::NotSecurityKey("ecdsa-sha2-nistp256".into()))
    );
    assert_eq!(
        parse_public_key("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x"),
        Err(SshKeyError::NotSecurityKey("ssh-rsa".into()))
    );
    // A type that is garbage is named, made printable.
    let e = parse_public_key("sk-\u{1b}[31m AAAA").unwrap_err();
    assert!(
        matches!(&e, SshKeyError::NotSecurityKey(t) if !t.contains('\u{1b}')),
        "{e:?}"
    );
}

#[test]
fn a_security_key_certificate_is_refused() {
    assert_eq!(
        parse_public_key(CERT_LINE),
        Err(SshKeyError::Certificate(
            "sk-ssh-ed25519-cert-v01@openssh.com".into()
        ))
    );
}

#[test]
fn an_authorized_keys_options_prefix_is_refused() {
    let with_options = format!("no-touch-required,from=\"10.0.0.1\" {ED_LINE}");
    let e = parse_public_key(&with_options).unwrap_err();
    assert!(matches!(e, SshKeyError::Options(_)), "{e:?}");
    assert!(!e.to_string().contains(field(ED_LINE, 1)));
}

// ---- malformed lines and blobs --------------------------------------------------------------

#[test]
fn empty_and_incomplete_lines_are_refused() {
    assert_eq!(parse_public_key(""), Err(SshKeyError::Empty));
    assert_eq!(parse_public_key(" \t\n"), Err(SshKeyError::Empty));
    assert_eq!(
        parse_public_key("sk-ssh-ed25519@openssh.com  \n"),
        Err(SshKeyError::MissingKey(ED25519_SK.into()))
    );
    assert_eq!(
        parse_public_key(&"a".repeat(MAX_LINE + 1)),
        Err(SshKeyError::TooLong)
    );
}

#[test]
fn garbage_base64_is_refused() {
    for bad in [
        "AAAA!!!!",
        "AAAAGnNrLXNzaC1lZDI1NTE",
        "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA===",
        "AAAAAB==",
        "%%%",
        "AAAAGnNr=LXNz",
    ] {
        assert_eq!(
            parse_public_key(&format!("{ED25519_SK} {bad} c")),
            Err(SshKeyError::Base64),
            "{bad}"
        );
    }
}

#[test]
fn a_truncated_blob_is_refused_naming_the_field() {
    let full = blob_of(ED_LINE);
    let cases = [
        (2, "key type"),
        (10, "key type"),
        (4 + 26 + 3, "public key"),
        (4 + 26 + 4 + 31, "public key"),
        (4 + 26 + 4 + 32 + 4, "application"),
        (full.len() - 1, "application"),
    ];
    for (len, field) in cases {
        assert_eq!(
            parse_public_key(&line(ED25519_SK, &full[..len])),
            Err(SshKeyError::Truncated(field)),
            "cut at {len}"
        );
    }
    // A length past the end, however large, is only "truncated".
    let huge = [
        &string(ED25519_SK.as_bytes())[..],
        &[0xff, 0xff, 0xff, 0xff, 1],
    ]
    .concat();
    assert_eq!(
        SkPublicKey::from_blob(&huge),
        Err(SshKeyError::Truncated("public key"))
    );
}

#[test]
fn trailing_bytes_after_the_key_are_refused() {
    let mut b = blob_of(EC_LINE);
    b.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        parse_public_key(&line(ECDSA_SK, &b)),
        Err(SshKeyError::TrailingBytes(4))
    );
}

#[test]
fn the_type_inside_must_be_the_type_outside() {
    // An ECDSA blob under the Ed25519 name, and the other way round.
    let e = parse_public_key(&line(ED25519_SK, &blob_of(EC_LINE))).unwrap_err();
    assert_eq!(
        e,
        SshKeyError::TypeMismatch {
            outer: ED25519_SK.into(),
            inner: ECDSA_SK.into()
        }
    );
    assert!(parse_public_key(&line(ECDSA_SK, &blob_of(ED_LINE))).is_err());
    // An ordinary key's blob dressed as a security key.
    assert_eq!(
        parse_public_key(&line(ED25519_SK, &blob_of(PLAIN_ED_LINE))),
        Err(SshKeyError::TypeMismatch {
            outer: ED25519_SK.into(),
            inner: "ssh-ed25519".into()
        })
    );
}

#[test]
fn an_ecdsa_key_must_be_a_p256_point_named_nistp256() {
    let point = ec_point();
    let with = |curve: &[u8], point: &[u8]| {
        SkPublicKey::from_blob(&blob(&[ECDSA_SK.as_bytes(), curve, point, b"ssh:"]))
    };
    assert!(with(b"nistp256", &point).is_ok());
    assert_eq!(
        with(b"nistp384", &point),
        Err(SshKeyError::WrongCurve("nistp384".into()))
    );
    let bad = SshKeyError::BadPoint(SkAlgorithm::EcdsaP256);
    // Off the curve: y changed.
    let mut off = point.clone();
    off[64] ^= 1;
    assert_eq!(with(b"nistp256", &off), Err(bad.clone()));
    // Compressed, or no point at all.
    let mut compressed = vec![2 + (point[64] & 1)];
    compressed.extend_from_slice(&point[1..33]);
    assert_eq!(with(b"nistp256", &compressed), Err(bad.clone()));
    assert_eq!(with(b"nistp256", &[0]), Err(bad.clone()));
    assert_eq!(with(b"nistp256", &[4; 65]), Err(bad));
}

#[test]
fn an_ed25519_key_must_be_32_bytes_of_a_valid_point() {
    let with = |key: &[u8]| SkPublicKey::from_blob(&blob(&[ED25519_SK.as_bytes(), key, b"ssh:"]));
    assert!(with(&ed_point()).is_ok());
    assert_eq!(with(&ed_point()[..31]), Err(SshKeyError::Ed25519Length(31)));
    assert_eq!(with(&[0; 33]), Err(SshKeyError::Ed25519Length(33)));
    // Of the small encodings, those that are no point on the curve are refused.
    let mut refused = 0;
    for y in 2..64u8 {
        let mut key = [0u8; 32];
        key[0] = y;
        let valid = ed25519_dalek::VerifyingKey::from_bytes(&key).is_ok();
        assert_eq!(with(&key).is_ok(), valid, "y = {y}");
        refused += usize::from(!valid);
    }
    assert!(refused > 0);
}

#[test]
fn the_application_must_be_text() {
    let with =
        |app: &[u8]| SkPublicKey::from_blob(&blob(&[ED25519_SK.as_bytes(), &ed_point(), app]));
    assert_eq!(with(b""), Err(SshKeyError::BadText("application")));
    assert_eq!(with(b"ssh:\0x"), Err(SshKeyError::BadText("application")));
    assert_eq!(
        with(&[0xff, 0xfe]),
        Err(SshKeyError::BadText("application"))
    );
}

#[test]
fn a_comment_with_control_characters_is_refused() {
    let l = format!("{} {} evil\u{1b}[2J", field(ED_LINE, 0), field(ED_LINE, 1));
    assert_eq!(parse_public_key(&l), Err(SshKeyError::BadComment));
}

#[test]
fn no_error_message_echoes_the_key() {
    let b = blob_of(ED_LINE);
    let mut trailing = b.clone();
    trailing.push(0);
    let lines = [
        line(ED25519_SK, &b[..b.len() - 1]),
        line(ED25519_SK, &trailing),
        line(ECDSA_SK, &b),
        format!("{} {} \u{7}", field(ED_LINE, 0), field(ED_LINE, 1)),
        format!("ssh-ed25519 {}", field(ED_LINE, 1)),
        format!("from=\"x\" {ED_LINE}"),
    ];
    for l in &lines {
        let text = parse_public_key(l).unwrap_err().to_string();
        let encoded = field(l, 1);
        assert!(!text.contains(encoded), "{text}");
        assert!(!text.contains(&encoded[..20]), "{text}");
    }
}

// ---- SSH_AUTH_INFO_0 ------------------------------------------------------------------------

/// The line sshd writes for a key it accepted (tests/tests/e2e/ssh_sk.rs checks it against the
/// real sshd): `publickey TYPE BASE64`.
fn sshd_line(public_key: &str) -> String {
    format!(
        "publickey {} {}",
        field(public_key, 0),
        field(public_key, 1)
    )
}

#[test]
fn accepted_keys_picks_the_security_keys_among_several_methods() {
    // As sshd 9.2 wrote it for `AuthenticationMethods publickey,publickey,keyboard-interactive`
    // (an ordinary key, then a security key), with lines of the other methods around them.
    let info = format!(
        "password\n{}\n{}\nhostbased {} {} client user \"bob\", client host \"h\"\n{}\n\
         keyboard-interactive/pam\n",
        sshd_line(PLAIN_ED_LINE),
        sshd_line(EC_LINE),
        field(ED_LINE, 0),
        field(ED_LINE, 1),
        sshd_line(ED_LINE),
    );
    assert_eq!(
        accepted_keys(&info),
        vec![blob_of(EC_LINE), blob_of(ED_LINE)]
    );
    // The last line need not end in a newline.
    assert_eq!(accepted_keys(&sshd_line(APP_LINE)), vec![blob_of(APP_LINE)]);
}

#[test]
fn accepted_keys_skips_certificates_other_methods_and_malformed_lines() {
    let ed = field(ED_LINE, 1);
    let cert = field(CERT_LINE, 1);
    let skipped = [
        // A certificate of the enrolled key: its blob is the certificate's.
        format!("publickey sk-ssh-ed25519-cert-v01@openssh.com {cert}"),
        // Other methods with the same key text.
        format!("hostbased {ED25519_SK} {ed}"),
        format!("publickey/x {ED25519_SK} {ed}"),
        format!("Publickey {ED25519_SK} {ed}"),
        format!("publickey-hostbound-v00@openssh.com {ED25519_SK} {ed}"),
        // Anything but single spaces, or anything after the key.
        format!(" publickey {ED25519_SK} {ed}"),
        format!("publickey  {ED25519_SK} {ed}"),
        format!("publickey {ED25519_SK}  {ed}"),
        format!("publickey {ED25519_SK} {ed} "),
        format!("publickey {ED25519_SK} {ed}\r"),
        format!("publickey {ED25519_SK}\t{ed}"),
        format!("publickey {ED25519_SK} {ed} signature count = 1"),
        format!("publickey {ED25519_SK} {ed} alice@example"),
        // The name and the blob disagree; the blob is no key; there is no blob.
        format!("publickey {ECDSA_SK} {ed}"),
        format!("publickey {ED25519_SK} {}", &ed[..ed.len() - 4]),
        format!("publickey {ED25519_SK} not-base64"),
        format!("publickey {ED25519_SK} "),
        format!("publickey {ED25519_SK}"),
        // An ordinary key.
        sshd_line(PLAIN_ED_LINE),
        sshd_line(PLAIN_EC_LINE),
    ];
    for l in &skipped {
        assert!(accepted_keys(l).is_empty(), "{l:?}");
        // Skipping one line does not lose the others.
        let mixed = format!("{l}\n{}\n", sshd_line(ED_LINE));
        assert_eq!(accepted_keys(&mixed), vec![blob_of(ED_LINE)], "{l:?}");
    }
    assert!(accepted_keys("").is_empty());
    assert!(accepted_keys("\n\n").is_empty());
}

#[test]
fn matches_finds_the_enrolled_blob_and_nothing_else() {
    let ed = blob_of(ED_LINE);
    let ec = blob_of(EC_LINE);
    assert!(matches(&ed, &[ec.clone(), ed.clone()]));
    assert!(matches(&ec, std::slice::from_ref(&ec)));
    assert!(!matches(&ed, std::slice::from_ref(&ec)));
    assert!(!matches(&ed, &[]));
    assert!(!matches(&ed, &[ed[..ed.len() - 1].to_vec()]));
    assert!(!matches(&ed[..ed.len() - 1], std::slice::from_ref(&ed)));
    let info = format!("{}\n", sshd_line(ED_LINE));
    let enrolled = parse_public_key(ED_LINE).unwrap();
    assert!(matches(&enrolled.blob, &accepted_keys(&info)));
    let other = parse_public_key(APP_LINE).unwrap();
    assert!(!matches(&other.blob, &accepted_keys(&info)));
}
