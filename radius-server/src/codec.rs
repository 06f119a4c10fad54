//! Bytes: RADIUS packets in and out. The `radius` crate decodes and encodes attributes and
//! un-hides User-Password; this module adds what it lacks: strict framing checks on the raw
//! datagram, Message-Authenticator (RFC 2869 §5.14, RFC 3579 §3.2) verification with a
//! constant-time comparison, and signing of every response (Message-Authenticator first, then
//! the Response Authenticator over the signed bytes). The health check's side of Status-Server
//! (a request to send, and the checks of its answer) is in `probe`.

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use radius::core::avp::AVP;
use radius::core::code::Code;
use radius::core::packet::Packet;
use radius::core::rfc2865;
use zeroize::Zeroizing;

type HmacMd5 = hmac::Hmac<Md5>;

/// Largest RADIUS packet (RFC 2865 §3; RFC 7930 raises it only for TCP/TLS).
pub const MAX_PACKET: usize = 4096;
pub const HEADER_LEN: usize = 20;
/// Room a reply keeps for its own attributes (Message-Authenticator, Reply-Message, State,
/// Class, Filter-Id, timeouts): what is echoed (Proxy-State) may use the rest of a packet.
pub const REPLY_ROOM: usize = 1024;
/// Most Proxy-State a request may ask to be echoed, headers included. RFC 2865 allows several
/// (one per proxy on the way); real proxies add a few dozen bytes each. Past it a request is
/// refused before anything is decided: every answer kept for retransmissions holds the echo.
pub const MAX_ECHO: usize = 1024;
const _: () = assert!(HEADER_LEN + REPLY_ROOM + MAX_ECHO <= MAX_PACKET);
pub const AUTHENTICATOR_LEN: usize = 16;

pub const USER_NAME: u8 = 1;
pub const USER_PASSWORD: u8 = 2;
pub const CHAP_PASSWORD: u8 = 3;
pub const REPLY_MESSAGE: u8 = 18;
pub const STATE: u8 = 24;
pub const CLASS: u8 = 25;
pub const VENDOR_SPECIFIC: u8 = 26;
pub const SESSION_TIMEOUT: u8 = 27;
pub const IDLE_TIMEOUT: u8 = 28;
pub const CALLING_STATION_ID: u8 = 31;
pub const NAS_IDENTIFIER: u8 = 32;
pub const PROXY_STATE: u8 = 33;
pub const FILTER_ID: u8 = 11;
pub const EAP_MESSAGE: u8 = 79;
pub const MESSAGE_AUTHENTICATOR: u8 = 80;
pub const NAS_IPV6_ADDRESS: u8 = 95;
/// Microsoft's vendor id (MS-CHAP attributes are its vendor-specific attributes).
pub const VENDOR_MICROSOFT: u32 = 311;

/// Why a datagram was dropped before any policy saw it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("datagram of {0} bytes is shorter than a RADIUS header")]
    TooShort(usize),
    #[error("header length {0} is outside 20..=4096")]
    BadLength(usize),
    #[error("header length {header} exceeds the {received} bytes received")]
    Truncated { header: usize, received: usize },
    #[error("attribute at offset {0} has an invalid length or overruns the packet")]
    AttributeOverflow(usize),
    #[error("Message-Authenticator must be 18 bytes long and appear at most once")]
    BadMessageAuthenticatorAttribute,
    #[error("cannot decode: {0}")]
    Decode(String),
    #[error("cannot encode the response: {0}")]
    Encode(String),
}

/// A request whose framing is valid. Holds its exact bytes for Message-Authenticator checks.
pub struct Request {
    raw: Vec<u8>,
    packet: Packet,
    /// Offset of the Message-Authenticator value (16 bytes) in `raw`, if present.
    ma_value_at: Option<usize>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("code", &self.code())
            .field("identifier", &self.identifier())
            .field("len", &self.raw.len())
            .finish_non_exhaustive()
    }
}

/// Check the framing of `datagram` and decode it. Octets past the header's length are padding
/// and ignored (RFC 2865 §3); fewer octets than it says, or attributes that overrun, are errors.
pub fn parse(datagram: &[u8], secret: &[u8]) -> Result<Request, CodecError> {
    if datagram.len() < HEADER_LEN {
        return Err(CodecError::TooShort(datagram.len()));
    }
    let len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if !(HEADER_LEN..=MAX_PACKET).contains(&len) {
        return Err(CodecError::BadLength(len));
    }
    if datagram.len() < len {
        return Err(CodecError::Truncated {
            header: len,
            received: datagram.len(),
        });
    }
    let raw = datagram[..len].to_vec();
    let mut ma_value_at = None;
    let mut i = HEADER_LEN;
    while i < len {
        if len - i < 2 {
            return Err(CodecError::AttributeOverflow(i));
        }
        let (typ, alen) = (raw[i], usize::from(raw[i + 1]));
        if alen < 2 || i + alen > len {
            return Err(CodecError::AttributeOverflow(i));
        }
        if typ == MESSAGE_AUTHENTICATOR {
            if alen != 2 + AUTHENTICATOR_LEN || ma_value_at.is_some() {
                return Err(CodecError::BadMessageAuthenticatorAttribute);
            }
            ma_value_at = Some(i + 2);
        }
        i += alen;
    }
    let packet = Packet::decode(&raw, secret).map_err(|e| CodecError::Decode(e.to_string()))?;
    Ok(Request {
        raw,
        packet,
        ma_value_at,
    })
}

impl Request {
    pub fn code(&self) -> Code {
        self.packet.get_code()
    }

    pub fn identifier(&self) -> u8 {
        self.packet.get_identifier()
    }

    pub fn authenticator(&self) -> [u8; AUTHENTICATOR_LEN] {
        let mut a = [0u8; AUTHENTICATOR_LEN];
        a.copy_from_slice(&self.raw[4..HEADER_LEN]);
        a
    }

    /// The decoded packet, for the fuzz targets' round trip.
    #[cfg(feature = "fuzzing")]
    pub fn packet(&self) -> &Packet {
        &self.packet
    }

    /// The request's bytes, as far as its header's length (padding dropped).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn has_message_authenticator(&self) -> bool {
        self.ma_value_at.is_some()
    }

    /// HMAC-MD5 over the packet with the Message-Authenticator value zeroed, keyed with the
    /// shared secret, compared in constant time. `false` when absent.
    pub fn verify_message_authenticator(&self, secret: &[u8]) -> bool {
        self.ma_value_at.is_some_and(|at| {
            message_authenticator_matches(&self.raw, at, &self.raw[4..HEADER_LEN], secret)
        })
    }

    pub fn has(&self, typ: u8) -> bool {
        self.packet.lookup(typ).is_some()
    }

    /// A text attribute, lossily decoded (for names and log fields, never secrets).
    pub fn text(&self, typ: u8) -> Option<String> {
        self.packet
            .lookup(typ)
            .map(|a| String::from_utf8_lossy(&a.encode_bytes()).into_owned())
    }

    pub fn bytes(&self, typ: u8) -> Option<Vec<u8>> {
        self.packet.lookup(typ).map(AVP::encode_bytes)
    }

    pub fn user_name(&self) -> Option<String> {
        self.text(USER_NAME)
    }

    pub fn nas_ip(&self) -> Option<String> {
        if let Some(Ok(ip)) = rfc2865::lookup_nas_ip_address(&self.packet) {
            return Some(ip.to_string());
        }
        let v6 = self.bytes(NAS_IPV6_ADDRESS)?;
        let octets: [u8; 16] = v6.try_into().ok()?;
        Some(std::net::Ipv6Addr::from(octets).to_string())
    }

    /// The un-hidden User-Password (RFC 2865 §5.2), trailing NUL padding removed. `None` when
    /// absent; `Some(Err)` when its length is not a multiple of 16 in 16..=128.
    pub fn user_password(&self) -> Option<Result<Zeroizing<Vec<u8>>, CodecError>> {
        let avp = self.packet.lookup(USER_PASSWORD)?;
        let len = avp.encode_bytes().len();
        if len % 16 != 0 {
            return Some(Err(CodecError::Decode(format!(
                "User-Password of {len} bytes is not a multiple of 16"
            ))));
        }
        Some(
            avp.encode_user_password(self.packet.get_secret(), &self.raw[4..HEADER_LEN])
                .map(Zeroizing::new)
                .map_err(|e| CodecError::Decode(e.to_string())),
        )
    }

    /// Vendor ids of the Vendor-Specific attributes present.
    pub fn vendors(&self) -> Vec<u32> {
        self.packet
            .lookup_all(VENDOR_SPECIFIC)
            .iter()
            .filter_map(|a| {
                let b = a.encode_bytes();
                (b.len() >= 4).then(|| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            })
            .collect()
    }

    /// Bytes the response must echo (its Proxy-State attributes, headers included).
    pub fn echoed_len(&self) -> usize {
        self.proxy_states().iter().map(|p| 2 + p.len()).sum()
    }

    /// Whether the Proxy-State to echo is within [`MAX_ECHO`], which leaves every reply
    /// [`REPLY_ROOM`] for its own attributes in a packet. Checked before anything is decided,
    /// so a request whose answer could not be sent (or kept) never spends a code.
    pub fn echo_fits(&self) -> bool {
        self.echoed_len() <= MAX_ECHO
    }

    /// Proxy-State attributes, copied unmodified into the response (RFC 2865 §5.33).
    fn proxy_states(&self) -> Vec<Vec<u8>> {
        self.packet
            .lookup_all(PROXY_STATE)
            .into_iter()
            .map(AVP::encode_bytes)
            .collect()
    }
}

/// An attribute of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyAttr {
    Text(u8, String),
    Bytes(u8, Vec<u8>),
    U32(u8, u32),
}

/// Encode a response to `request`: Message-Authenticator first, then `attrs` and any
/// Proxy-State, then sign (RFC 3579 §3.2: the HMAC covers the packet with the Request
/// Authenticator in the header) and set the Response Authenticator (RFC 2865 §3).
pub fn encode_response(
    request: &Request,
    code: Code,
    attrs: &[ReplyAttr],
    secret: &[u8],
) -> Result<Vec<u8>, CodecError> {
    let mut p = request.packet.make_response_packet(code);
    p.add(AVP::from_bytes(
        MESSAGE_AUTHENTICATOR,
        &[0u8; AUTHENTICATOR_LEN],
    ));
    for a in attrs {
        match a {
            ReplyAttr::Text(t, s) => {
                // Long Reply-Messages are split across attributes (RFC 2865 §5.18).
                for chunk in split_text(s, 253) {
                    p.add(AVP::from_string(*t, chunk));
                }
            }
            ReplyAttr::Bytes(t, b) => p.add(AVP::from_bytes(*t, b)),
            ReplyAttr::U32(t, v) => p.add(AVP::from_u32(*t, *v)),
        }
    }
    for ps in request.proxy_states() {
        p.add(AVP::from_bytes(PROXY_STATE, &ps));
    }
    let mut bytes = p.encode().map_err(|e| CodecError::Encode(e.to_string()))?;
    sign(&mut bytes, &request.raw[4..HEADER_LEN], secret)?;
    Ok(bytes)
}

/// Fill in the Message-Authenticator (the first attribute, zeroed) and the Response
/// Authenticator of an encoded response.
fn sign(bytes: &mut [u8], request_authenticator: &[u8], secret: &[u8]) -> Result<(), CodecError> {
    let ma = HEADER_LEN + 2;
    if bytes.len() < ma + AUTHENTICATOR_LEN || bytes[HEADER_LEN] != MESSAGE_AUTHENTICATOR {
        return Err(CodecError::Encode(
            "Message-Authenticator is not first".into(),
        ));
    }
    bytes[4..HEADER_LEN].copy_from_slice(request_authenticator);
    bytes[ma..ma + AUTHENTICATOR_LEN].fill(0);
    let mut mac = HmacMd5::new_from_slice(secret).map_err(|e| CodecError::Encode(e.to_string()))?;
    mac.update(bytes);
    let tag = mac.finalize().into_bytes();
    bytes[ma..ma + AUTHENTICATOR_LEN].copy_from_slice(&tag);
    let ra = response_authenticator(bytes, request_authenticator, secret);
    bytes[4..HEADER_LEN].copy_from_slice(&ra);
    Ok(())
}

/// HMAC-MD5, keyed with the shared secret, over `raw` with `authenticator` in the header (a
/// request's own, or for a response the Request Authenticator it answers) and the
/// Message-Authenticator value at `at` zeroed, compared in constant time.
fn message_authenticator_matches(
    raw: &[u8],
    at: usize,
    authenticator: &[u8],
    secret: &[u8],
) -> bool {
    let Ok(mut mac) = HmacMd5::new_from_slice(secret) else {
        return false;
    };
    mac.update(&raw[..4]);
    mac.update(authenticator);
    mac.update(&raw[HEADER_LEN..at]);
    mac.update(&[0u8; AUTHENTICATOR_LEN]);
    mac.update(&raw[at + AUTHENTICATOR_LEN..]);
    mac.verify_slice(&raw[at..at + AUTHENTICATOR_LEN]).is_ok()
}

/// MD5(Code + Identifier + Length + Request Authenticator + Attributes + Secret).
pub fn response_authenticator(
    response: &[u8],
    request_authenticator: &[u8],
    secret: &[u8],
) -> [u8; AUTHENTICATOR_LEN] {
    let mut h = Md5::new();
    h.update(&response[..4]);
    h.update(request_authenticator);
    h.update(&response[HEADER_LEN..]);
    h.update(secret);
    h.finalize().into()
}

/// Pieces of at most `max` bytes, cut at character boundaries.
fn split_text(s: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (a, b) = rest.split_at(cut);
        out.push(a);
        rest = b;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

mod probe;
pub use probe::{AnswerError, check_answer, status_server};

#[cfg(test)]
mod tests;
