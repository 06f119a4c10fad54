//! Checking an assertion: pure code, no device, no store.
//!
//! In this order: the credential that signed must be one the user has; the authenticator data
//! must be whole; the signature over `authenticatorData ‖ SHA-256(challenge)` must verify with that
//! credential's stored key (nothing of an unsigned answer is believed); then the rp id hash,
//! user presence and user verification from the signed flags (pam_u2f's CVE-2021-31924 was the
//! last one missing), the backup flags against enrollment, and the signature counter.
//! ctap-hid-fido2's own verifier checks the first two only.

// One `signature` crate behind both: its Verifier serves p256 and ed25519-dalek.
use p256::ecdsa::signature::Verifier as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AssertionResponse, Credential, PublicKey, UserVerification};

/// authenticatorData flags (WebAuthn §6.1).
pub const FLAG_UP: u8 = 0x01;
pub const FLAG_UV: u8 = 0x04;
pub const FLAG_BE: u8 = 0x08;
pub const FLAG_BS: u8 = 0x10;
pub const FLAG_AT: u8 = 0x40;
pub const FLAG_ED: u8 = 0x80;

/// rpIdHash (32) ‖ flags (1) ‖ signCount (4).
pub const AUTH_DATA_MIN: usize = 37;

/// Why an assertion was refused. Each is audited by name; none is a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The answering credential is none of the user's.
    UnknownCredential,
    /// The authenticator data is shorter than its fixed part.
    Truncated,
    /// The signature is not a signature of its algorithm's shape.
    MalformedSignature,
    /// The signature does not verify with the stored key.
    BadSignature,
    /// Signed for another relying party.
    RpIdMismatch,
    /// The user presence flag is missing where a touch is required.
    NoPresence,
    /// The user verification flag is missing where it is required.
    NoVerification,
    /// The backup eligibility flag differs from enrollment, or the backup state changed on a
    /// key that cannot be backed up.
    BackupChanged,
    /// The signature counter did not increase: the key may have been cloned.
    CounterNotIncreased { stored: u32, received: u32 },
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownCredential => "unknown_credential",
            Refusal::Truncated => "truncated_authenticator_data",
            Refusal::MalformedSignature => "malformed_signature",
            Refusal::BadSignature => "bad_signature",
            Refusal::RpIdMismatch => "rp_id_mismatch",
            Refusal::NoPresence => "no_user_presence",
            Refusal::NoVerification => "no_user_verification",
            Refusal::BackupChanged => "backup_flags_changed",
            Refusal::CounterNotIncreased { .. } => "counter_not_increased",
        }
    }

    /// Whether the answer was signed by the user's own key, and refused for what it signed: only
    /// such a refusal says anything about this user's login, and counts as a wrong answer. A
    /// bad or missing signature over a fresh random challenge guesses nothing (another user's
    /// key, a broken or hostile device): audited, not counted.
    pub fn after_signature(self) -> bool {
        match self {
            Refusal::RpIdMismatch
            | Refusal::NoPresence
            | Refusal::NoVerification
            | Refusal::BackupChanged
            | Refusal::CounterNotIncreased { .. } => true,
            Refusal::UnknownCredential
            | Refusal::Truncated
            | Refusal::MalformedSignature
            | Refusal::BadSignature => false,
        }
    }

    /// Whether the refusal hints at a cloned key (audited as a warning).
    pub fn possible_clone(self) -> bool {
        matches!(self, Refusal::CounterNotIncreased { .. })
    }
}

/// A verified assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Which of the credentials passed in signed.
    pub index: usize,
    /// The counter to store: the claim succeeds only if it is still newer than the stored one.
    pub sign_count: u32,
    /// The key verified its user.
    pub user_verified: bool,
}

/// The fixed part of authenticatorData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
}

/// Read the fixed part of authenticatorData.
pub fn parse_auth_data(bytes: &[u8]) -> Option<AuthData> {
    let rp_id_hash: [u8; 32] = bytes.get(..32)?.try_into().ok()?;
    let flags = *bytes.get(32)?;
    let count: [u8; 4] = bytes.get(33..37)?.try_into().ok()?;
    Some(AuthData {
        rp_id_hash,
        flags,
        sign_count: u32::from_be_bytes(count),
    })
}

/// Verify `signature` over `message` with `key`.
pub(super) fn check_signature(
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Refusal> {
    match key {
        PublicKey::Es256(point) => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| Refusal::BadSignature)?;
            let sig = p256::ecdsa::Signature::from_der(signature)
                .map_err(|_| Refusal::MalformedSignature)?;
            vk.verify(message, &sig).map_err(|_| Refusal::BadSignature)
        }
        PublicKey::EdDsa(raw) => {
            let vk =
                ed25519_dalek::VerifyingKey::from_bytes(raw).map_err(|_| Refusal::BadSignature)?;
            let sig = ed25519_dalek::Signature::from_slice(signature)
                .map_err(|_| Refusal::MalformedSignature)?;
            // Strict: no small-order keys, no malleable signatures.
            vk.verify_strict(message, &sig)
                .map_err(|_| Refusal::BadSignature)
        }
    }
}

/// The credentials an answer may come from: the one it names, else (a resident credential,
/// whose id the store does not know) each resident one of the user's.
fn candidates(
    credentials: &[Credential],
    response: &AssertionResponse,
) -> Result<Vec<usize>, Refusal> {
    let named = |id: &[u8]| {
        credentials
            .iter()
            .position(|c| !c.credential_id.is_empty() && bool::from(c.credential_id.ct_eq(id)))
    };
    let residents = || -> Vec<usize> {
        (0..credentials.len())
            .filter(|&i| credentials[i].credential_id.is_empty())
            .collect()
    };
    let found = match &response.credential_id {
        Some(id) => match named(id) {
            Some(i) => vec![i],
            None => residents(),
        },
        // A key may leave the id out when the allow list held one credential.
        None if credentials.len() == 1 => vec![0],
        None => residents(),
    };
    if found.is_empty() {
        return Err(Refusal::UnknownCredential);
    }
    Ok(found)
}

/// Check `response` to a request with `challenge` for `credentials` (the user's
/// credentials of the one rp id the request named). `require_uv`: the policy requires user
/// verification whatever the credential says.
pub fn verify_assertion(
    credentials: &[Credential],
    response: &AssertionResponse,
    challenge: &[u8; 32],
    require_uv: bool,
) -> Result<Verified, Refusal> {
    let found = candidates(credentials, response)?;
    let auth = parse_auth_data(&response.auth_data).ok_or(Refusal::Truncated)?;
    let mut message = Vec::with_capacity(response.auth_data.len() + 32);
    message.extend_from_slice(&response.auth_data);
    message.extend_from_slice(&super::client_data_hash(challenge));
    // Malformed only when the signature fits none of the candidates' algorithms.
    let mut last = Refusal::MalformedSignature;
    let mut signer = None;
    for i in found {
        match check_signature(&credentials[i].public_key, &message, &response.signature) {
            Ok(()) => {
                signer = Some(i);
                break;
            }
            Err(Refusal::MalformedSignature) => {}
            Err(e) => last = e,
        }
    }
    let index = signer.ok_or(last)?;
    let cred = &credentials[index];
    let rp_hash: [u8; 32] = Sha256::digest(cred.rp_id.as_bytes()).into();
    if !bool::from(rp_hash.ct_eq(&auth.rp_id_hash)) {
        return Err(Refusal::RpIdMismatch);
    }
    if cred.presence && auth.flags & FLAG_UP == 0 {
        return Err(Refusal::NoPresence);
    }
    let user_verified = auth.flags & FLAG_UV != 0;
    // A credential that asks for the PIN is verified by it: the key must say so (pam_u2f's
    // `+pin`, and CVE-2021-31924 was this flag going unchecked).
    let uv_needed = require_uv || cred.verification == UserVerification::Required || cred.pin;
    if uv_needed && !user_verified {
        return Err(Refusal::NoVerification);
    }
    if let Some((be, bs)) = cred.backup {
        let now_be = auth.flags & FLAG_BE != 0;
        let now_bs = auth.flags & FLAG_BS != 0;
        // BE is fixed for a credential's life; BS may move only where BE is set.
        if now_be != be || (!be && now_bs != bs) {
            return Err(Refusal::BackupChanged);
        }
    }
    counter_ok(cred.sign_count, auth.sign_count)?;
    Ok(Verified {
        index,
        sign_count: auth.sign_count,
        user_verified,
    })
}

/// A key that keeps no counter says 0 every time (fine while the stored one is 0 too); any
/// other counter must increase.
pub fn counter_ok(stored: u32, received: u32) -> Result<(), Refusal> {
    if (stored == 0 && received == 0) || received > stored {
        Ok(())
    } else {
        Err(Refusal::CounterNotIncreased { stored, received })
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
