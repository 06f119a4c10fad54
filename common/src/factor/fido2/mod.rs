//! FIDO2 security keys: what a key is asked, what it answers, and the checks on the answer.
//!
//! The core never talks to a device. A front-end asks [`crate::Authenticator`] for an
//! [`AssertionRequest`] (the core picks the challenge and the allow list), hands it to a device
//! behind its own seam, and gives the raw [`AssertionResponse`] back; [`verify::verify_assertion`]
//! decides, as pure code. Enrollment works the same way with a [`CredentialRequest`] and an
//! [`AttestationResponse`] ([`attest::read_attestation`]).
//!
//! There is no browser and so no clientDataJSON: a key is handed 32 random bytes (the
//! `challenge`) as the client data and signs `authenticatorData ‖ SHA-256(challenge)`, which is
//! what ctap-hid-fido2 sends (it has no call that takes a clientDataHash) and what libfido2's
//! `fido_assert_set_clientdata` does. [`client_data_hash`] is that hash, for every check.
//! Credentials imported from pam_u2f sign the same way when Tessera asks them.

pub mod attest;
#[cfg(test)]
pub(crate) mod testkey;
pub mod verify;

use std::fmt;

use zeroize::Zeroizing;

pub use crate::base::fido2::{CoseAlg, Credential, Origin, PublicKey, UserVerification};

/// What one device is asked to sign: every credential of the user for one rp id.
#[derive(Clone, PartialEq, Eq)]
pub struct AssertionRequest {
    pub rp_id: String,
    /// Fresh random bytes from the core, kept by the login until the answer comes back: the
    /// client data, whose SHA-256 the key signs.
    pub challenge: [u8; 32],
    /// The credential ids the key may answer with (empty: a resident credential for `rp_id`).
    pub allow_list: Vec<Vec<u8>>,
    /// Ask for a touch.
    pub presence: bool,
    /// The key must verify its user (a credential or the policy requires it).
    pub verification: bool,
    /// A PIN must be given (one of the credentials asks for it).
    pub pin: bool,
}

impl fmt::Debug for AssertionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionRequest")
            .field("rp_id", &self.rp_id)
            .field("credentials", &self.allow_list.len())
            .field("presence", &self.presence)
            .field("verification", &self.verification)
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

/// What a device answered to an [`AssertionRequest`], unparsed.
#[derive(Clone, PartialEq, Eq)]
pub struct AssertionResponse {
    /// The credential that signed (a device may leave it out when the allow list had one).
    pub credential_id: Option<Vec<u8>>,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
}

impl fmt::Debug for AssertionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionResponse")
            .field(
                "credential_id_len",
                &self.credential_id.as_ref().map(Vec::len),
            )
            .field("auth_data_len", &self.auth_data.len())
            .field("signature_len", &self.signature.len())
            .finish()
    }
}

/// What a key is asked to make at enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRequest {
    pub rp_id: String,
    pub challenge: [u8; 32],
    /// The user handle stored on a resident credential (random, not the name).
    pub user_id: Vec<u8>,
    /// The account's name, shown by keys that list their credentials.
    pub user_name: String,
    /// Algorithms the core accepts, preferred first.
    pub algorithms: Vec<CoseAlg>,
    pub resident: bool,
    pub verification: bool,
    /// Credentials the user already has on this rp id: a key holding one refuses.
    pub exclude_list: Vec<Vec<u8>>,
}

/// What a device answered to a [`CredentialRequest`], unparsed.
#[derive(Clone, PartialEq, Eq)]
pub struct AttestationResponse {
    /// The attestation statement format (`packed`, `fido-u2f`, `none`).
    pub format: String,
    /// authenticatorData with the attested credential data.
    pub auth_data: Vec<u8>,
    /// The statement's `alg` (packed).
    pub statement_alg: Option<i64>,
    pub statement_sig: Vec<u8>,
    /// The statement's certificates, leaf first (empty: self attestation).
    pub x5c: Vec<Vec<u8>>,
}

impl fmt::Debug for AttestationResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestationResponse")
            .field("format", &self.format)
            .field("auth_data_len", &self.auth_data.len())
            .field("statement_alg", &self.statement_alg)
            .field("certificates", &self.x5c.len())
            .finish_non_exhaustive()
    }
}

/// The clientDataHash a key signs for `challenge`.
pub fn client_data_hash(challenge: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(challenge).into()
}

/// A PIN typed for a key, wiped when dropped.
pub type Pin = Zeroizing<String>;
