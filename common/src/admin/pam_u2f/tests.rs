//! Lines written as pamu2fcfg writes them, with real keys made from fixed bytes.

use base64ct::{Base64, Base64UrlUnpadded, Encoding};

use super::*;

const RP: &str = "pam://host.example";

/// The P-256 point `04 ‖ x ‖ y` of a key made from `seed`.
fn p256_point(seed: u8) -> Vec<u8> {
    let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
    sk.verifying_key().to_sec1_point(false).as_bytes().to_vec()
}

fn ed25519_key(seed: u8) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
        .verifying_key()
        .to_bytes()
}

fn key_handle(seed: u8) -> Vec<u8> {
    (0..64)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i))
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// A credential as pamu2fcfg ≥ 1.1 prints it.
fn es256_cred(seed: u8, options: &str) -> String {
    let point = p256_point(seed);
    let kh = b64(&key_handle(seed));
    format!("{kh},{},es256,{options}", b64(&point[1..]))
}

fn eddsa_cred(seed: u8, options: &str) -> String {
    let kh = b64(&key_handle(seed));
    format!("{kh},{},eddsa,{options}", b64(&ed25519_key(seed)))
}

/// A credential as pamu2fcfg before 1.1 printed it: websafe key handle, hex point.
fn old_cred(seed: u8) -> String {
    let hex: String = p256_point(seed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{},{hex}",
        Base64UrlUnpadded::encode_string(&key_handle(seed))
    )
}

fn parse(text: &str) -> Vec<PamU2fEntry> {
    parse_pam_u2f(text, RP).unwrap()
}

#[test]
fn pam_u2f_reads_a_new_format_es256_line() {
    let entries = parse(&format!("alice:{}\n", es256_cred(1, "+presence")));
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!((e.user.as_str(), e.line), ("alice", 1));
    assert!(e.superseded.is_empty());
    let c = &e.credentials[0];
    assert_eq!(c.credential_id, key_handle(1));
    assert_eq!(c.public_key.as_bytes(), p256_point(1).as_slice());
    assert_eq!(c.rp_id, RP);
    assert!(c.presence && !c.pin && !c.resident);
    assert_eq!(c.verification, UserVerification::Discouraged);
    assert_eq!(
        (c.backup, c.sign_count, c.origin),
        (None, 0, Origin::PamU2f)
    );
}

#[test]
fn pam_u2f_reads_an_eddsa_key_and_a_65_byte_point() {
    let point = b64(&p256_point(2));
    let kh = b64(&key_handle(2));
    let text = format!("bob:{}:{kh},{point},es256,+presence\n", eddsa_cred(3, ""));
    let c = &parse(&text)[0].credentials;
    assert_eq!(c[0].public_key, PublicKey::EdDsa(ed25519_key(3)));
    assert!(!c[0].presence);
    assert_eq!(c[1].public_key.as_bytes(), p256_point(2).as_slice());
}

#[test]
fn pam_u2f_reads_several_credentials_of_both_formats_on_one_line() {
    let text = format!(
        "carol:{}:{}:{}::\n",
        old_cred(4),
        es256_cred(5, "+presence+pin"),
        eddsa_cred(6, "+verification")
    );
    let c = &parse(&text)[0].credentials;
    assert_eq!(c.len(), 3, "empty pieces between `:` are skipped");
    assert_eq!(c[0].credential_id, key_handle(4));
    assert_eq!(c[1].credential_id, key_handle(5));
    assert_eq!(c[2].credential_id, key_handle(6));
    assert!(c[1].pin && c[1].presence);
    assert_eq!(c[2].verification, UserVerification::Required);
}

#[test]
fn pam_u2f_old_format_is_es256_with_presence() {
    let c = &parse(&format!("dave:{}", old_cred(7)))[0].credentials[0];
    assert_eq!(c.public_key.as_bytes(), p256_point(7).as_slice());
    assert_eq!(c.credential_id, key_handle(7));
    assert!(c.presence && !c.pin && !c.resident);
    assert_eq!(c.verification, UserVerification::Discouraged);
}

#[test]
fn pam_u2f_old_format_reads_padding_either_alphabet_and_upper_case_hex() {
    let kh = key_handle(8);
    let hex: String = p256_point(8).iter().map(|b| format!("{b:02X}")).collect();
    for handle in [
        Base64UrlUnpadded::encode_string(&kh),
        base64ct::Base64Url::encode_string(&kh),
        b64(&kh),
    ] {
        let c = &parse(&format!("dave:{handle},{hex}"))[0].credentials[0];
        assert_eq!(c.credential_id, kh, "{handle}");
    }
}

#[test]
fn pam_u2f_star_is_a_resident_credential() {
    let pk = b64(&p256_point(9)[1..]);
    let c = &parse(&format!("erin:*,{pk},es256,+presence+pin"))[0].credentials[0];
    assert!(c.resident && c.credential_id.is_empty() && c.pin);
}

#[test]
fn pam_u2f_options_set_presence_verification_and_pin() {
    let cases = [
        ("", false, false, false),
        ("+presence", true, false, false),
        ("+verification", false, true, false),
        ("+pin", false, false, true),
        ("+presence+verification", true, true, false),
        ("+presence+pin", true, false, true),
        ("+pin+presence", true, false, true),
        ("+presence+verification+pin", true, true, true),
    ];
    for (options, presence, verification, pin) in cases {
        let c = &parse(&format!("u:{}", es256_cred(10, options)))[0].credentials[0];
        let uv = c.verification == UserVerification::Required;
        assert_eq!(
            (c.presence, uv, c.pin),
            (presence, verification, pin),
            "{options:?}"
        );
    }
    // Three fields: options left out, as pam_u2f reads "Empty attributes".
    let three = es256_cred(10, "");
    let three = three.trim_end_matches(',');
    let c = &parse(&format!("u:{three}"))[0].credentials[0];
    assert!(!c.presence && !c.pin);
}

#[test]
fn pam_u2f_cose_type_is_compared_without_case() {
    let text = es256_cred(11, "+presence").replace(",es256,", ",ES256,");
    let text = format!(
        "u:{text}:{}",
        eddsa_cred(12, "").replace(",eddsa,", ",EdDSA,")
    );
    assert_eq!(parse(&text)[0].credentials.len(), 2);
}

#[test]
fn pam_u2f_last_line_of_a_user_wins() {
    let text = format!(
        "alice:{}\nbob:{}\nalice:{}\n",
        es256_cred(13, "+presence"),
        es256_cred(14, "+presence"),
        eddsa_cred(15, "+presence")
    );
    let entries = parse(&text);
    let users: Vec<_> = entries.iter().map(|e| (e.user.as_str(), e.line)).collect();
    assert_eq!(users, [("bob", 2), ("alice", 3)]);
    assert_eq!(entries[1].superseded, [1]);
    assert_eq!(entries[1].credentials[0].credential_id, key_handle(15));
}

#[test]
fn pam_u2f_user_names_are_kept_as_written() {
    let text = format!("Alice:{}\nalice:{}\n", old_cred(16), old_cred(17));
    let users: Vec<_> = parse(&text).into_iter().map(|e| e.user).collect();
    assert_eq!(users, ["Alice", "alice"]);
}

#[test]
fn pam_u2f_broken_last_line_drops_the_user_with_an_error_naming_them() {
    let text = format!("alice:{}\nalice:{},zz\n", old_cred(18), old_cred(19));
    let file = parse_pam_u2f_lenient(&text, RP);
    assert!(file.entries.is_empty(), "line 1 is not brought back");
    assert_eq!(file.errors.len(), 1);
    let e = &file.errors[0];
    assert_eq!(
        (e.line, e.user.as_deref(), e.credential),
        (2, Some("alice"), Some(1))
    );
    assert_eq!(e.superseded_by, None);
}

#[test]
fn pam_u2f_broken_earlier_line_is_reported_as_replaced() {
    let text = format!("alice:{},zz\nalice:{}\n", old_cred(18), old_cred(19));
    let file = parse_pam_u2f_lenient(&text, RP);
    assert_eq!(file.entries.len(), 1);
    assert_eq!(file.entries[0].superseded, [1]);
    assert_eq!(file.errors[0].superseded_by, Some(2));
    assert!(
        file.errors[0]
            .to_string()
            .ends_with("(replaced by line 2 for the same user)")
    );
    // The whole-file parse refuses it all the same.
    assert_eq!(parse_pam_u2f(&text, RP).unwrap_err().line, 1);
}

#[test]
fn pam_u2f_a_line_without_credentials_replaces_earlier_ones() {
    let text = format!("alice:{}\nalice\n", old_cred(20));
    let file = parse_pam_u2f_lenient(&text, RP);
    assert!(file.entries.is_empty());
    assert_eq!(file.errors[0].problem, PamU2fProblem::NoCredentials);
    assert_eq!(file.errors[0].line, 2);
}

#[test]
fn pam_u2f_skips_comments_and_blank_lines_and_reads_crlf() {
    let text = format!(
        "# made by pamu2fcfg\r\n\r\n   \n  # indented\nalice:{}\r\n",
        es256_cred(21, "+presence")
    );
    let entries = parse(&text);
    assert_eq!(entries[0].line, 5);
    assert!(entries[0].credentials[0].presence);
}

#[test]
fn pam_u2f_errors_name_the_field_and_the_line() {
    let kh = b64(&key_handle(22));
    let pk = b64(&p256_point(22)[1..]);
    let ed = b64(&ed25519_key(22));
    let old_kh = Base64UrlUnpadded::encode_string(&key_handle(22));
    let hex: String = p256_point(22).iter().map(|b| format!("{b:02x}")).collect();
    let off_curve = b64(&[1u8; 64]);
    let bad_ed = (0u8..=255)
        .find(|n| ed25519_dalek::VerifyingKey::from_bytes(&[*n; 32]).is_err())
        .unwrap();
    let bad_ed = b64(&[bad_ed; 32]);
    let long_kh = b64(&[7u8; 1024]);
    use PamU2fField::*;
    use PamU2fProblem as P;
    let cases: Vec<(String, P)> = vec![
        (format!("u:{kh}!,{pk},es256,"), P::NotBase64(KeyHandle)),
        (format!("u:{kh},{pk}$,es256,"), P::NotBase64(PublicKey)),
        (format!("u:{old_kh},{}g", &hex[1..]), P::NotHex),
        (format!("u:{old_kh},{}", &hex[1..]), P::NotHex),
        (
            format!("u:{old_kh},{}", &hex[2..]),
            wrong(CoseAlg::Es256, 64, "65 bytes (04‖x‖y)"),
        ),
        (
            format!("u:{kh},{},es256,", b64(&[4u8; 63])),
            wrong_es256(63),
        ),
        (
            format!("u:{kh},{},eddsa,", b64(&[4u8; 31])),
            wrong(CoseAlg::EdDsa, 31, "32 bytes"),
        ),
        (
            format!("u:{kh},{off_curve},es256,"),
            P::InvalidKey(CoseAlg::Es256),
        ),
        (
            format!("u:{kh},{},es256,", b64(&[5u8; 65])),
            P::InvalidKey(CoseAlg::Es256),
        ),
        (
            format!("u:{kh},{bad_ed},eddsa,"),
            P::InvalidKey(CoseAlg::EdDsa),
        ),
        (
            format!("u:{kh},{pk},es384,"),
            P::UnknownCoseType(Some("es384".into())),
        ),
        (format!("u:{kh},{pk},{pk},"), P::UnknownCoseType(None)),
        (format!("u:{kh},{ed},rs256,+presence"), P::Rs256),
        (format!("u:{kh},{ed},RS256,+presence"), P::Rs256),
        (format!("u:{kh}"), P::Missing(PublicKey)),
        (format!("u:{kh},,es256,"), P::Empty(PublicKey)),
        (format!("u:,{pk},es256,"), P::Empty(KeyHandle)),
        (format!("u:{kh},{pk},,+presence"), P::Empty(CoseType)),
        (
            format!("u:{kh},{pk},es256,+presence,{kh}"),
            P::TooManyFields,
        ),
        (
            format!("u:{kh},{pk},es256,+touch"),
            P::UnknownOption(Some("+touch".into())),
        ),
        (
            format!("u:{kh},{pk},es256,presence"),
            P::UnknownOption(Some("presence".into())),
        ),
        (
            format!("u:{kh},{pk},es256,+presence++pin"),
            P::UnknownOption(None),
        ),
        (format!("u:{kh},{pk},es256,+{pk}"), P::UnknownOption(None)),
        (format!("u:*,{hex}"), P::ResidentOldFormat),
        (format!("u:{long_kh},{pk},es256,"), P::KeyHandleTooLong),
        (format!("u:=,{pk},es256,"), P::NotBase64(KeyHandle)),
        (format!(":{kh},{pk},es256,"), P::MissingUser),
        (format!("{kh},{pk},es256,+presence"), P::MissingUser),
        (
            format!("{}:{kh},{pk},es256,", "a".repeat(257)),
            P::UserTooLong,
        ),
        ("u:".into(), P::NoCredentials),
        ("u".into(), P::NoCredentials),
    ];
    for (line, expected) in cases {
        let text = format!("# header\nok:{}\n{line}\n", old_cred(23));
        let file = parse_pam_u2f_lenient(&text, RP);
        assert_eq!(file.entries.len(), 1, "{line}: the other line still reads");
        let [e] = file.errors.as_slice() else {
            panic!("{line}: {:?}", file.errors)
        };
        assert_eq!(e.problem, expected, "{line}");
        assert_eq!(e.line, 3, "{line}");
        assert_eq!(parse_pam_u2f(&text, RP).unwrap_err(), *e);
        // No field of the credentials is quoted, whatever it holds.
        let shown = e.to_string();
        let creds = line.split_once(':').map_or(line.as_str(), |(_, c)| c);
        for field in creds.split([':', ',', '+']).filter(|f| f.len() > 12) {
            assert!(!shown.contains(field), "{shown} quotes {field}");
        }
    }
}

fn wrong(alg: CoseAlg, len: usize, expected: &'static str) -> PamU2fProblem {
    PamU2fProblem::WrongKeyLength { alg, len, expected }
}

fn wrong_es256(len: usize) -> PamU2fProblem {
    wrong(CoseAlg::Es256, len, "64 bytes (x‖y) or 65 (04‖x‖y)")
}

#[test]
fn pam_u2f_error_messages_read_as_a_sentence() {
    let text = format!("alice:{}:AAAA,{}", old_cred(24), b64(&[1u8; 64]));
    let e = parse_pam_u2f(&format!("{text},es256,\n"), RP).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1 (user alice, credential 2): the public key is not a P-256 point"
    );
    let e = parse_pam_u2f("\n\nbob:x,y,rs256,\n", RP).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 3 (user bob, credential 1): RS256 keys are not supported"
    );
    let e = parse_pam_u2f("x,y,es256,\n", RP).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1: the line does not start with a user name and `:`"
    );
}

#[test]
fn pam_u2f_reads_a_whole_file_as_a_site_would_have_it() {
    let text = format!(
        "# /etc/u2f_mappings, central mapping file\n\
         root:{}:{}\n\
         alice:{}\n\
         \n\
         # bob has two keys, one resident\n\
         bob:{}:*,{},eddsa,+presence+pin\n\
         carol:{}\n\
         alice:{}:{}\n\
         mallory:{},eddsa,+presence\n",
        es256_cred(30, "+presence"),
        es256_cred(31, "+presence+verification"),
        old_cred(32),
        eddsa_cred(33, "+presence"),
        b64(&ed25519_key(34)),
        es256_cred(35, ""),
        old_cred(36),
        es256_cred(37, "+presence+pin"),
        b64(&key_handle(38)),
    );
    let file = parse_pam_u2f_lenient(&text, RP);
    let users: Vec<_> = file
        .entries
        .iter()
        .map(|e| (e.user.as_str(), e.line, e.credentials.len()))
        .collect();
    assert_eq!(
        users,
        [
            ("root", 2, 2),
            ("bob", 6, 2),
            ("carol", 7, 1),
            ("alice", 8, 2)
        ]
    );
    assert_eq!(file.entries[3].superseded, [3]);
    assert!(file.entries[1].credentials[1].resident);
    assert!(!file.entries[2].credentials[0].presence);
    let [e] = file.errors.as_slice() else {
        panic!("{:?}", file.errors)
    };
    assert_eq!((e.line, e.user.as_deref()), (9, Some("mallory")));
    // The key left out: its COSE type reads as the key and the options as the COSE type.
    assert_eq!(e.problem, PamU2fProblem::UnknownCoseType(None));
}
