//! RADIUS requests as a NAS sends them, for the e2e tests and the load tool: the `radius`
//! crate's codec, plus the Message-Authenticator (RFC 3579 §3.2) it does not add itself.

use hmac::{KeyInit, Mac};
use radius::core::avp::AVP;
use radius::core::code::Code;
use radius::core::packet::Packet;
use radius::core::rfc2865;

type HmacMd5 = hmac::Hmac<md5::Md5>;

/// Builds and signs requests with one shared secret.
pub struct Signer {
    pub secret: Vec<u8>,
}

impl Signer {
    pub fn new(secret: &str) -> Signer {
        Signer {
            secret: secret.as_bytes().to_vec(),
        }
    }

    /// An Access-Request with User-Name and User-Password (hidden with the secret), not yet
    /// signed: add attributes, then [`Signer::sign`].
    pub fn access_packet(&self, id: u8, user: &str, password: &str) -> Packet {
        let mut p = Packet::new_with_identifier(Code::AccessRequest, &self.secret, id);
        rfc2865::add_user_name(&mut p, user);
        rfc2865::add_user_password(&mut p, password.as_bytes()).expect("a User-Password");
        p
    }

    /// [`Signer::access_packet`], signed.
    pub fn access_request(&self, id: u8, user: &str, password: &str) -> Vec<u8> {
        self.sign(self.access_packet(id, user, password))
    }

    pub fn status_server(&self, id: u8) -> Vec<u8> {
        self.sign(Packet::new_with_identifier(
            Code::StatusServer,
            &self.secret,
            id,
        ))
    }

    /// Encode with a Message-Authenticator (RFC 3579 §3.2): HMAC-MD5 over the packet with the
    /// attribute zeroed, keyed with the shared secret.
    pub fn sign(&self, mut p: Packet) -> Vec<u8> {
        p.add(AVP::from_bytes(80, &[0u8; 16]));
        let mut bytes = p.encode().expect("an encodable packet");
        self.resign(&mut bytes);
        bytes
    }

    /// A signed request (from [`Signer::sign`]) given another Request Authenticator, and signed
    /// again: a packet that shares another's cache key (its User-Password no longer decodes to
    /// what it was hidden from).
    pub fn with_authenticator(&self, mut request: Vec<u8>, authenticator: &[u8]) -> Vec<u8> {
        request[4..20].copy_from_slice(authenticator);
        self.resign(&mut request);
        request
    }

    /// Recompute the Message-Authenticator, the last attribute.
    fn resign(&self, bytes: &mut [u8]) {
        let at = bytes.len() - 16;
        bytes[at..].fill(0);
        let mut mac = HmacMd5::new_from_slice(&self.secret).expect("any key length");
        mac.update(bytes);
        let tag = mac.finalize().into_bytes();
        bytes[at..].copy_from_slice(&tag);
    }
}
