//! The client's side of Status-Server (RFC 5997), for `tessera-radiusd --health-check`: the
//! request it sends and the checks of the answer, with the same framing, Message-Authenticator
//! and Response Authenticator code the server signs its answers with.

use hmac::{KeyInit, Mac};
use radius::core::code::Code;
use subtle::ConstantTimeEq;

use super::{
    AUTHENTICATOR_LEN, CodecError, HEADER_LEN, HmacMd5, MESSAGE_AUTHENTICATOR, Request,
    message_authenticator_matches, parse, response_authenticator,
};

/// Why a datagram is not a believable answer to the request sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("malformed: {0}")]
    Malformed(CodecError),
    /// Another request's answer (a late one): not an error, wait on.
    #[error("it answers another Identifier")]
    OtherIdentifier,
    #[error("its Response Authenticator does not verify")]
    BadResponseAuthenticator,
    #[error("it carries no Message-Authenticator")]
    NoMessageAuthenticator,
    #[error("its Message-Authenticator does not verify")]
    BadMessageAuthenticator,
}

/// A Status-Server with a random Identifier and Request Authenticator (from the system's
/// CSPRNG) and a Message-Authenticator, its only attribute (RFC 5997 §3).
pub fn status_server(secret: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut random = [0u8; 1 + AUTHENTICATOR_LEN];
    tessera_common::random_bytes(&mut random).map_err(|e| CodecError::Encode(e.to_string()))?;
    let mut authenticator = [0u8; AUTHENTICATOR_LEN];
    authenticator.copy_from_slice(&random[1..]);
    status_server_with(random[0], &authenticator, secret)
}

/// [`status_server`] with a given Identifier and Request Authenticator (for the RFC example).
fn status_server_with(
    identifier: u8,
    authenticator: &[u8; AUTHENTICATOR_LEN],
    secret: &[u8],
) -> Result<Vec<u8>, CodecError> {
    const LEN: u16 = (HEADER_LEN + 2 + AUTHENTICATOR_LEN) as u16;
    let mut bytes = Vec::with_capacity(usize::from(LEN));
    bytes.extend_from_slice(&[Code::StatusServer as u8, identifier]);
    bytes.extend_from_slice(&LEN.to_be_bytes());
    bytes.extend_from_slice(authenticator);
    bytes.extend_from_slice(&[MESSAGE_AUTHENTICATOR, (2 + AUTHENTICATOR_LEN) as u8]);
    bytes.extend_from_slice(&[0u8; AUTHENTICATOR_LEN]);
    let mut mac = HmacMd5::new_from_slice(secret).map_err(|e| CodecError::Encode(e.to_string()))?;
    mac.update(&bytes);
    bytes[HEADER_LEN + 2..].copy_from_slice(&mac.finalize().into_bytes());
    Ok(bytes)
}

/// Check `datagram` as the answer to `request` (the bytes sent): framing, the Identifier, the
/// Response Authenticator (RFC 2865 §3), then the Message-Authenticator, which must be present
/// (RFC 5997 §3) and is computed with the Request Authenticator in the header (RFC 3579 §3.2).
/// The code is the caller's to judge, once the answer is known to be authentic.
pub fn check_answer(
    datagram: &[u8],
    request: &[u8],
    secret: &[u8],
) -> Result<Request, AnswerError> {
    let answer = parse(datagram, secret).map_err(AnswerError::Malformed)?;
    let request_authenticator = request
        .get(4..HEADER_LEN)
        .ok_or(AnswerError::Malformed(CodecError::TooShort(request.len())))?;
    if request.get(1) != Some(&answer.identifier()) {
        return Err(AnswerError::OtherIdentifier);
    }
    let expected = response_authenticator(&answer.raw, request_authenticator, secret);
    if !bool::from(expected.ct_eq(&answer.raw[4..HEADER_LEN])) {
        return Err(AnswerError::BadResponseAuthenticator);
    }
    let Some(at) = answer.ma_value_at else {
        return Err(AnswerError::NoMessageAuthenticator);
    };
    if !message_authenticator_matches(&answer.raw, at, request_authenticator, secret) {
        return Err(AnswerError::BadMessageAuthenticator);
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::{RFC_SECRET, RFC5997_6_1_STATUS_SERVER};
    use crate::codec::{ReplyAttr, encode_response};

    /// RFC 5997 §6.1: the Access-Accept answering [`RFC5997_6_1_STATUS_SERVER`] (no attributes).
    const RFC5997_6_1_ACCEPT: [u8; 20] = [
        0x02, 0xda, 0x00, 0x14, 0xef, 0x0d, 0x55, 0x2a, 0x4b, 0xf2, 0xd6, 0x93, 0xec, 0x2b, 0x6f,
        0xe8, 0xb5, 0x41, 0x1d, 0x66,
    ];

    fn rfc_request_authenticator() -> [u8; AUTHENTICATOR_LEN] {
        RFC5997_6_1_STATUS_SERVER[4..HEADER_LEN].try_into().unwrap()
    }

    #[test]
    fn rfc5997_6_1_status_server_is_byte_exact() {
        let p = status_server_with(218, &rfc_request_authenticator(), RFC_SECRET).unwrap();
        assert_eq!(p, RFC5997_6_1_STATUS_SERVER);
    }

    #[test]
    fn rfc5997_6_1_answer_authenticates_but_lacks_a_message_authenticator() {
        let r = check_answer(&RFC5997_6_1_ACCEPT, &RFC5997_6_1_STATUS_SERVER, RFC_SECRET);
        // Past the Response Authenticator check: the RFC's answer predates RFC 5997 §3's MUST.
        assert_eq!(r.err(), Some(AnswerError::NoMessageAuthenticator));
        let r = check_answer(
            &RFC5997_6_1_ACCEPT,
            &RFC5997_6_1_STATUS_SERVER,
            b"xyzzy5462",
        );
        assert_eq!(r.err(), Some(AnswerError::BadResponseAuthenticator));
    }

    #[test]
    fn random_requests_differ_and_verify_on_the_server_side() {
        let a = status_server(b"s3cret").unwrap();
        let b = status_server(b"s3cret").unwrap();
        assert_ne!(a[4..HEADER_LEN], b[4..HEADER_LEN]);
        let r = parse(&a, b"s3cret").unwrap();
        assert_eq!(r.code(), Code::StatusServer);
        assert!(r.verify_message_authenticator(b"s3cret"));
        assert!(!r.verify_message_authenticator(b"other"));
    }

    /// The server's own signed answer passes; each altered part is named.
    #[test]
    fn server_answers_pass_and_tampering_is_named() {
        let secret = b"s3cret";
        let request = status_server(secret).unwrap();
        let req = parse(&request, secret).unwrap();
        let attrs = [ReplyAttr::Text(crate::codec::REPLY_MESSAGE, "up".into())];
        let answer = encode_response(&req, Code::AccessAccept, &attrs, secret).unwrap();
        let ok = check_answer(&answer, &request, secret).unwrap();
        assert_eq!(ok.code(), Code::AccessAccept);
        assert_eq!(ok.text(crate::codec::REPLY_MESSAGE).as_deref(), Some("up"));

        assert_eq!(
            check_answer(&answer, &request, b"wrong").err(),
            Some(AnswerError::BadResponseAuthenticator)
        );
        let mut other_id = answer.clone();
        other_id[1] = other_id[1].wrapping_add(1);
        assert_eq!(
            check_answer(&other_id, &request, secret).err(),
            Some(AnswerError::OtherIdentifier)
        );
        // A changed Message-Authenticator with a Response Authenticator recomputed over it:
        // only the Message-Authenticator check can catch it.
        let mut forged = answer.clone();
        forged[HEADER_LEN + 2] ^= 1;
        let ra = response_authenticator(&forged, &request[4..HEADER_LEN], secret);
        forged[4..HEADER_LEN].copy_from_slice(&ra);
        assert_eq!(
            check_answer(&forged, &request, secret).err(),
            Some(AnswerError::BadMessageAuthenticator)
        );
        assert!(matches!(
            check_answer(&answer[..10], &request, secret),
            Err(AnswerError::Malformed(CodecError::TooShort(10)))
        ));
    }
}
