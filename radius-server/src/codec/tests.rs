use super::*;

pub(super) const RFC_SECRET: &[u8] = b"xyzzy5461";

/// RFC 2865 §7.1: Access-Request for "nemo", password "arctangent".
const RFC2865_7_1_REQUEST: [u8; 56] = [
    0x01, 0x00, 0x00, 0x38, 0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb,
    0x98, 0xf4, 0x22, 0x7a, 0x01, 0x06, 0x6e, 0x65, 0x6d, 0x6f, 0x02, 0x12, 0x0d, 0xbe, 0x70, 0x8d,
    0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a, 0x0a, 0xee, 0x04, 0x06, 0xc0, 0xa8,
    0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x03,
];

/// RFC 2865 §7.1: the Access-Accept answering it.
const RFC2865_7_1_RESPONSE: [u8; 38] = [
    0x02, 0x00, 0x00, 0x26, 0x86, 0xfe, 0x22, 0x0e, 0x76, 0x24, 0xba, 0x2a, 0x10, 0x05, 0xf6, 0xbf,
    0x9b, 0x55, 0xe0, 0xb2, 0x06, 0x06, 0x00, 0x00, 0x00, 0x01, 0x0f, 0x06, 0x00, 0x00, 0x00, 0x00,
    0x0e, 0x06, 0xc0, 0xa8, 0x01, 0x03,
];

/// RFC 5997 §6.1: Status-Server with Message-Authenticator, id 218.
pub(super) const RFC5997_6_1_STATUS_SERVER: [u8; 38] = [
    0x0c, 0xda, 0x00, 0x26, 0x8a, 0x54, 0xf4, 0x68, 0x6f, 0xb3, 0x94, 0xc5, 0x28, 0x66, 0xe3, 0x02,
    0x18, 0x5d, 0x06, 0x23, 0x50, 0x12, 0x5a, 0x66, 0x5e, 0x2e, 0x1e, 0x84, 0x11, 0xf3, 0xe2, 0x43,
    0x82, 0x20, 0x97, 0xc8, 0x4f, 0xa3,
];

#[test]
fn rfc2865_7_1_user_password_is_unhidden() {
    let r = parse(&RFC2865_7_1_REQUEST, RFC_SECRET).unwrap();
    assert_eq!(r.code(), Code::AccessRequest);
    assert_eq!(r.user_name().as_deref(), Some("nemo"));
    assert_eq!(r.nas_ip().as_deref(), Some("192.168.1.16"));
    let pw = r.user_password().unwrap().unwrap();
    assert_eq!(pw.as_slice(), b"arctangent");
    assert!(!r.has_message_authenticator());
}

#[test]
fn rfc2865_7_1_response_authenticator_is_byte_exact() {
    let ra = response_authenticator(
        &RFC2865_7_1_RESPONSE,
        &RFC2865_7_1_REQUEST[4..20],
        RFC_SECRET,
    );
    assert_eq!(&ra[..], &RFC2865_7_1_RESPONSE[4..20]);
}

#[test]
fn rfc5997_6_1_message_authenticator_verifies() {
    let r = parse(&RFC5997_6_1_STATUS_SERVER, RFC_SECRET).unwrap();
    assert_eq!(r.code(), Code::StatusServer);
    assert_eq!(r.identifier(), 218);
    assert!(r.has_message_authenticator());
    assert!(r.verify_message_authenticator(RFC_SECRET));
    assert!(
        !r.verify_message_authenticator(b"xyzzy5462"),
        "wrong secret"
    );
}

#[test]
fn tampered_message_authenticator_or_header_fails() {
    for i in [1usize, 5, 25, 37] {
        let mut p = RFC5997_6_1_STATUS_SERVER;
        p[i] ^= 0x01;
        let r = parse(&p, RFC_SECRET).unwrap();
        assert!(
            !r.verify_message_authenticator(RFC_SECRET),
            "byte {i} flipped still verified"
        );
    }
}

#[test]
fn response_is_signed_with_message_authenticator_first() {
    let req = parse(&RFC5997_6_1_STATUS_SERVER, RFC_SECRET).unwrap();
    let resp = encode_response(
        &req,
        Code::AccessAccept,
        &[ReplyAttr::Text(REPLY_MESSAGE, "ok".into())],
        RFC_SECRET,
    )
    .unwrap();
    assert_eq!(resp[0], 2);
    assert_eq!(resp[1], 218);
    assert_eq!(
        usize::from(u16::from_be_bytes([resp[2], resp[3]])),
        resp.len()
    );
    assert_eq!(resp[20], MESSAGE_AUTHENTICATOR);
    assert_eq!(resp[21], 18);
    // Response Authenticator over the final bytes.
    let ra = response_authenticator(&resp, &RFC5997_6_1_STATUS_SERVER[4..20], RFC_SECRET);
    assert_eq!(&resp[4..20], &ra[..]);
    // Message-Authenticator: HMAC-MD5 with the Request Authenticator in the header.
    let mut check = resp.clone();
    check[4..20].copy_from_slice(&RFC5997_6_1_STATUS_SERVER[4..20]);
    check[22..38].fill(0);
    let mut mac = HmacMd5::new_from_slice(RFC_SECRET).unwrap();
    mac.update(&check);
    assert_eq!(&mac.finalize().into_bytes()[..], &resp[22..38]);
    // And the radius crate, as a client, calls it authentic.
    assert!(Packet::is_authentic_response(
        &resp,
        &RFC5997_6_1_STATUS_SERVER,
        RFC_SECRET
    ));
}

#[test]
fn proxy_state_is_copied_into_the_response() {
    let mut p = Packet::new_with_identifier(Code::AccessRequest, RFC_SECRET, 7);
    p.add(AVP::from_bytes(PROXY_STATE, b"hop-1"));
    p.add(AVP::from_bytes(PROXY_STATE, b"hop-2"));
    let bytes = p.encode().unwrap();
    let req = parse(&bytes, RFC_SECRET).unwrap();
    let resp = encode_response(&req, Code::AccessReject, &[], RFC_SECRET).unwrap();
    let back = Packet::decode(&resp, RFC_SECRET).unwrap();
    let states: Vec<Vec<u8>> = back
        .lookup_all(PROXY_STATE)
        .into_iter()
        .map(AVP::encode_bytes)
        .collect();
    assert_eq!(states, vec![b"hop-1".to_vec(), b"hop-2".to_vec()]);
}

/// An Access-Request carrying `n` Proxy-State attributes of `len` bytes each.
fn with_proxy_states(n: usize, len: usize) -> Request {
    let mut p = Packet::new_with_identifier(Code::AccessRequest, RFC_SECRET, 7);
    for i in 0..n {
        p.add(AVP::from_bytes(PROXY_STATE, &vec![b'a' + i as u8; len]));
    }
    parse(&p.encode().unwrap(), RFC_SECRET).unwrap()
}

#[test]
fn a_reply_that_cannot_echo_its_proxy_state_is_known_before_deciding() {
    // 15 × 255 = 3825 bytes to echo: a request of 3845 bytes, whose reply cannot fit.
    let big = with_proxy_states(15, 253);
    assert_eq!(big.echoed_len(), 15 * 255);
    assert!(!big.echo_fits());
    // Encoding it anyway with a few attributes of our own fails (the codec's own limit): the
    // answer could never have been sent.
    let attrs = [
        ReplyAttr::Text(CLASS, "c".repeat(253)),
        ReplyAttr::Text(FILTER_ID, "f".repeat(253)),
    ];
    let err = encode_response(&big, Code::AccessAccept, &attrs, RFC_SECRET).unwrap_err();
    assert!(matches!(err, CodecError::Encode(_)), "{err}");
    // At the limit (MAX_ECHO), REPLY_ROOM is left for the reply's own attributes.
    assert_eq!(with_proxy_states(8, 126).echoed_len(), MAX_ECHO);
    assert!(with_proxy_states(8, 126).echo_fits());
    let edge = with_proxy_states(4, 253);
    assert!(edge.echo_fits());
    assert!(!with_proxy_states(5, 203).echo_fits(), "1025 bytes");
    let longest = [
        ReplyAttr::Text(
            REPLY_MESSAGE,
            "m".repeat(REPLY_ROOM - 2 * 255 - 18 - 12 - 10),
        ),
        ReplyAttr::Text(CLASS, "c".repeat(253)),
        ReplyAttr::Text(FILTER_ID, "f".repeat(253)),
        ReplyAttr::U32(SESSION_TIMEOUT, 1),
        ReplyAttr::U32(IDLE_TIMEOUT, 1),
    ];
    let resp = encode_response(&edge, Code::AccessAccept, &longest, RFC_SECRET).unwrap();
    assert!(resp.len() <= MAX_PACKET, "{}", resp.len());
}

#[test]
fn long_reply_message_is_split() {
    let req = parse(&RFC2865_7_1_REQUEST, RFC_SECRET).unwrap();
    let text = "é".repeat(200);
    let resp = encode_response(
        &req,
        Code::AccessReject,
        &[ReplyAttr::Text(REPLY_MESSAGE, text.clone())],
        RFC_SECRET,
    )
    .unwrap();
    let back = Packet::decode(&resp, RFC_SECRET).unwrap();
    let joined: Vec<u8> = back
        .lookup_all(REPLY_MESSAGE)
        .into_iter()
        .flat_map(AVP::encode_bytes)
        .collect();
    assert_eq!(String::from_utf8(joined).unwrap(), text);
}

#[test]
fn malformed_datagrams_are_refused() {
    assert_eq!(
        parse(&RFC2865_7_1_REQUEST[..19], RFC_SECRET).unwrap_err(),
        CodecError::TooShort(19)
    );
    let mut p = RFC2865_7_1_REQUEST.to_vec();
    p[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(
        parse(&p, RFC_SECRET).unwrap_err(),
        CodecError::BadLength(19)
    );
    p[2..4].copy_from_slice(&4097u16.to_be_bytes());
    assert_eq!(
        parse(&p, RFC_SECRET).unwrap_err(),
        CodecError::BadLength(4097)
    );
    // Header says more than was received.
    let mut p = RFC2865_7_1_REQUEST.to_vec();
    p[2..4].copy_from_slice(&60u16.to_be_bytes());
    assert!(matches!(
        parse(&p, RFC_SECRET).unwrap_err(),
        CodecError::Truncated { .. }
    ));
    // An attribute claiming more bytes than remain.
    let mut p = RFC2865_7_1_REQUEST.to_vec();
    p[21] = 0x40;
    assert_eq!(
        parse(&p, RFC_SECRET).unwrap_err(),
        CodecError::AttributeOverflow(20)
    );
    // An attribute of length 1, and a lone type byte at the end.
    let mut p = RFC2865_7_1_REQUEST.to_vec();
    p[21] = 0x01;
    assert!(matches!(
        parse(&p, RFC_SECRET).unwrap_err(),
        CodecError::AttributeOverflow(_)
    ));
    let mut p = RFC2865_7_1_REQUEST.to_vec();
    p.push(0x01);
    p[2..4].copy_from_slice(&57u16.to_be_bytes());
    assert!(matches!(
        parse(&p, RFC_SECRET).unwrap_err(),
        CodecError::AttributeOverflow(56)
    ));
}

#[test]
fn padding_after_the_header_length_is_ignored() {
    let mut p = RFC2865_7_1_REQUEST.to_vec();
    p.extend_from_slice(&[0xff; 10]);
    let r = parse(&p, RFC_SECRET).unwrap();
    assert_eq!(r.user_name().as_deref(), Some("nemo"));
}

#[test]
fn two_message_authenticators_or_a_short_one_are_refused() {
    let mut p = RFC5997_6_1_STATUS_SERVER.to_vec();
    p.extend_from_slice(&RFC5997_6_1_STATUS_SERVER[20..38]);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        parse(&p, RFC_SECRET).unwrap_err(),
        CodecError::BadMessageAuthenticatorAttribute
    );
    let mut p = RFC2865_7_1_REQUEST.to_vec();
    p.extend_from_slice(&[MESSAGE_AUTHENTICATOR, 6, 0, 0, 0, 0]);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        parse(&p, RFC_SECRET).unwrap_err(),
        CodecError::BadMessageAuthenticatorAttribute
    );
}

#[test]
fn user_password_of_a_bad_length_is_an_error() {
    let mut p = Packet::new_with_identifier(Code::AccessRequest, RFC_SECRET, 7);
    p.add(AVP::from_bytes(USER_PASSWORD, &[1u8; 17]));
    let bytes = p.encode().unwrap();
    let req = parse(&bytes, RFC_SECRET).unwrap();
    assert!(req.user_password().unwrap().is_err());
}

#[test]
fn text_splits_at_character_boundaries() {
    assert_eq!(split_text("", 3), Vec::<&str>::new());
    assert_eq!(split_text("abcdef", 3), vec!["abc", "def"]);
    assert_eq!(split_text("aéb", 2), vec!["a", "é", "b"]);
}
