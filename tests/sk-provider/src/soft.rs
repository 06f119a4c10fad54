//! The software authenticator itself, in safe code: making a key, reading a key handle, signing
//! what OpenSSH asks for. `lib.rs` only moves bytes across the C boundary.
//!
//! A key handle is `MAGIC ‖ alg ‖ SHA-256(application) ‖ secret (32 bytes)`: the private key
//! travels **in the clear** inside the handle that OpenSSH stores in the private key file. Fine
//! for a test; never for real use.

use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// sk-api.h `SSH_SK_ECDSA`.
pub const ALG_ECDSA: u32 = 0x00;
/// sk-api.h `SSH_SK_ED25519`.
pub const ALG_ED25519: u32 = 0x01;
/// sk-api.h `SSH_SK_USER_PRESENCE_REQD`: in a response, "the user was present".
pub const FLAG_USER_PRESENCE: u8 = 0x01;
/// sk-api.h `SSH_SK_USER_VERIFICATION_REQD`.
pub const FLAG_USER_VERIFICATION: u8 = 0x04;
/// sk-api.h `SSH_SK_RESIDENT_KEY`.
pub const FLAG_RESIDENT_KEY: u8 = 0x20;

/// Marks a handle as one of ours (and its layout version).
const MAGIC: &[u8; 8] = b"TSKTEST1";
const HANDLE_LEN: usize = MAGIC.len() + 1 + 32 + 32;

/// Why a request cannot be served; `lib.rs` turns each into an sk-api error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftError {
    /// A feature this provider does not have (PIN / user verification, resident keys, an
    /// algorithm, a required option): `SSH_SK_ERR_UNSUPPORTED`.
    Unsupported,
    /// Anything else (a foreign key handle, no randomness): `SSH_SK_ERR_GENERAL`.
    General,
}

/// The algorithms of sk-api.h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Ecdsa,
    Ed25519,
}

impl Alg {
    pub fn from_api(alg: u32) -> Result<Alg, SoftError> {
        match alg {
            ALG_ECDSA => Ok(Alg::Ecdsa),
            ALG_ED25519 => Ok(Alg::Ed25519),
            _ => Err(SoftError::Unsupported),
        }
    }

    fn byte(self) -> u8 {
        match self {
            Alg::Ecdsa => 0,
            Alg::Ed25519 => 1,
        }
    }
}

/// What `sk_enroll` hands back.
pub struct Enrolled {
    /// 32 bytes (Ed25519) or the 65-byte uncompressed SEC1 point (P-256).
    pub public_key: Vec<u8>,
    pub key_handle: Zeroizing<Vec<u8>>,
}

/// What `sk_sign` hands back.
pub struct Signed {
    pub flags: u8,
    pub counter: u32,
    /// Ed25519: the 64-byte signature. ECDSA: r, big-endian, 32 bytes.
    pub sig_r: Vec<u8>,
    /// ECDSA: s, big-endian, 32 bytes; Ed25519: none.
    pub sig_s: Option<Vec<u8>>,
}

/// The flags a request may carry; anything that needs a PIN or storage on a device is refused.
pub fn check_flags(flags: u8) -> Result<(), SoftError> {
    if flags & (FLAG_USER_VERIFICATION | FLAG_RESIDENT_KEY) != 0 {
        return Err(SoftError::Unsupported);
    }
    Ok(())
}

/// Make a new key for `application`, with `random` (32 bytes from the caller's source) as its
/// secret. `None` when the bytes are not a valid P-256 scalar (zero or ≥ n): draw again.
pub fn enroll_with(alg: Alg, application: &[u8], random: [u8; 32]) -> Option<Enrolled> {
    let secret = Zeroizing::new(random);
    let public_key = match alg {
        Alg::Ed25519 => ed25519_dalek::SigningKey::from_bytes(&secret)
            .verifying_key()
            .to_bytes()
            .to_vec(),
        Alg::Ecdsa => p256::ecdsa::SigningKey::from_slice(&secret[..])
            .ok()?
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec(),
    };
    let mut handle = Zeroizing::new(Vec::with_capacity(HANDLE_LEN));
    handle.extend_from_slice(MAGIC);
    handle.push(alg.byte());
    handle.extend_from_slice(&Sha256::digest(application));
    handle.extend_from_slice(&secret[..]);
    Some(Enrolled {
        public_key,
        key_handle: handle,
    })
}

/// [`enroll_with`] on fresh random bytes from the operating system.
pub fn enroll(alg: Alg, application: &[u8]) -> Result<Enrolled, SoftError> {
    // A P-256 draw fails with probability about 2^-32; a few tries always suffice.
    for _ in 0..8 {
        let mut random = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut random[..]).map_err(|_| SoftError::General)?;
        if let Some(e) = enroll_with(alg, application, *random) {
            return Ok(e);
        }
    }
    Err(SoftError::General)
}

/// The bytes a security key signs (PROTOCOL.u2f, "SSH U2F signatures"):
/// `SHA-256(application) ‖ flags ‖ counter (u32, big-endian) ‖ SHA-256(message)`.
pub fn signed_data(application: &[u8], flags: u8, counter: u32, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 1 + 4 + 32);
    out.extend_from_slice(&Sha256::digest(application));
    out.push(flags);
    out.extend_from_slice(&counter.to_be_bytes());
    out.extend_from_slice(&Sha256::digest(message));
    out
}

/// Sign `message` for `application` with the key in `key_handle`, as a touched security key
/// would: the user-presence flag set, `counter` as the signature counter.
pub fn sign(
    alg: Alg,
    application: &[u8],
    key_handle: &[u8],
    message: &[u8],
    counter: u32,
) -> Result<Signed, SoftError> {
    let secret = read_handle(alg, application, key_handle)?;
    let flags = FLAG_USER_PRESENCE;
    let data = signed_data(application, flags, counter, message);
    let (sig_r, sig_s) = match alg {
        Alg::Ed25519 => {
            let key = ed25519_dalek::SigningKey::from_bytes(&secret);
            (key.sign(&data).to_bytes().to_vec(), None)
        }
        Alg::Ecdsa => {
            let key =
                p256::ecdsa::SigningKey::from_slice(&secret[..]).map_err(|_| SoftError::General)?;
            // ECDSA with SHA-256 over the data, as sshd checks it (ssh-ecdsa-sk.c).
            let sig: p256::ecdsa::Signature = key.sign(&data);
            let (r, s) = sig.split_bytes();
            (r.to_vec(), Some(s.to_vec()))
        }
    };
    Ok(Signed {
        flags,
        counter,
        sig_r,
        sig_s,
    })
}

/// The secret in a handle this provider made for this algorithm and application. A handle for
/// another application is refused, as a real authenticator refuses a credential of another
/// relying party.
fn read_handle(
    alg: Alg,
    application: &[u8],
    handle: &[u8],
) -> Result<Zeroizing<[u8; 32]>, SoftError> {
    if handle.len() != HANDLE_LEN || !handle.starts_with(MAGIC) {
        return Err(SoftError::General);
    }
    let rest = &handle[MAGIC.len()..];
    if rest[0] != alg.byte() || rest[1..33] != Sha256::digest(application)[..] {
        return Err(SoftError::General);
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(&rest[33..]);
    Ok(secret)
}

/// A signature counter without a state file: the clock, in seconds. It grows from one login to
/// the next (sshd only records it; nothing here needs it strictly increasing).
pub fn clock_counter() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed step stops the test

    use super::*;
    use ed25519_dalek::Verifier as _;

    const APP: &[u8] = b"ssh:";

    #[test]
    fn ed25519_signature_verifies_over_the_u2f_data() {
        let e = enroll(Alg::Ed25519, APP).unwrap();
        let s = sign(Alg::Ed25519, APP, &e.key_handle, b"msg", 7).unwrap();
        assert_eq!((s.flags, s.counter, s.sig_s.is_none()), (1, 7, true));
        let pk: [u8; 32] = e.public_key.as_slice().try_into().unwrap();
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&s.sig_r).unwrap();
        vk.verify(&signed_data(APP, 1, 7, b"msg"), &sig).unwrap();
        assert!(vk.verify(&signed_data(APP, 1, 7, b"other"), &sig).is_err());
    }

    #[test]
    fn ecdsa_signature_verifies_over_the_u2f_data() {
        let e = enroll(Alg::Ecdsa, APP).unwrap();
        assert_eq!((e.public_key.len(), e.public_key[0]), (65, 4));
        let s = sign(Alg::Ecdsa, APP, &e.key_handle, b"msg", 9).unwrap();
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&e.public_key).unwrap();
        let r: [u8; 32] = s.sig_r.as_slice().try_into().unwrap();
        let s_: [u8; 32] = s.sig_s.unwrap().as_slice().try_into().unwrap();
        let sig = p256::ecdsa::Signature::from_scalars(r, s_).unwrap();
        vk.verify(&signed_data(APP, 1, 9, b"msg"), &sig).unwrap();
    }

    #[test]
    fn a_handle_is_refused_for_another_application_or_algorithm() {
        let e = enroll(Alg::Ed25519, APP).unwrap();
        assert!(sign(Alg::Ed25519, b"ssh:other", &e.key_handle, b"m", 1).is_err());
        assert!(sign(Alg::Ecdsa, APP, &e.key_handle, b"m", 1).is_err());
        assert!(sign(Alg::Ed25519, APP, &e.key_handle[1..], b"m", 1).is_err());
    }

    #[test]
    fn pin_and_resident_keys_are_unsupported() {
        assert_eq!(check_flags(FLAG_USER_PRESENCE), Ok(()));
        assert_eq!(
            check_flags(FLAG_USER_VERIFICATION),
            Err(SoftError::Unsupported)
        );
        assert_eq!(check_flags(FLAG_RESIDENT_KEY), Err(SoftError::Unsupported));
        assert_eq!(Alg::from_api(2), Err(SoftError::Unsupported));
    }

    #[test]
    fn an_invalid_p256_scalar_is_drawn_again() {
        assert!(enroll_with(Alg::Ecdsa, APP, [0; 32]).is_none());
        assert!(enroll_with(Alg::Ecdsa, APP, [0xff; 32]).is_none());
    }
}
