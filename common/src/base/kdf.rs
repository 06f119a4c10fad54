//! Argon2id, in one place: recovery-code hashes (raw output, peppered), first-factor passwords
//! (PHC strings) and the dummy evaluations that make every refusal cost the same.
//!
//! Every evaluation is counted per thread ([`evaluations`]), so tests can assert that two refusal
//! paths did the same work without timing them.

use std::cell::Cell;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use super::secret::{KeyError, random_bytes};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

pub const HASH_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KdfError {
    #[error("argon2 failed: {0}")]
    Argon2(String),
    #[error("stored password hash is not a valid Argon2 PHC string: {0}")]
    BadPhc(String),
    #[error(transparent)]
    Random(#[from] KeyError),
}

thread_local! {
    static EVALUATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Argon2 evaluations made on this thread so far (real and dummy alike).
#[cfg(any(test, feature = "testing"))]
pub fn evaluations() -> u64 {
    EVALUATIONS.with(Cell::get)
}

fn count() {
    EVALUATIONS.with(|c| c.set(c.get().wrapping_add(1)));
}

fn params(p: &Argon2Config, out: Option<usize>) -> Result<Params, KdfError> {
    Params::new(p.memory_kib, p.iterations, p.parallelism, out)
        .map_err(|e| KdfError::Argon2(e.to_string()))
}

/// Argon2id(`input`, `salt`) with `pepper` as the secret input: 32 raw bytes.
pub fn raw_hash(
    input: &[u8],
    salt: &[u8],
    pepper: &[u8],
    p: &Argon2Config,
) -> Result<Zeroizing<[u8; HASH_LEN]>, KdfError> {
    count();
    let a = Argon2::new_with_secret(
        pepper,
        Algorithm::Argon2id,
        Version::V0x13,
        params(p, Some(HASH_LEN))?,
    )
    .map_err(|e| KdfError::Argon2(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    a.hash_password_into(input, salt, out.as_mut())
        .map_err(|e| KdfError::Argon2(e.to_string()))?;
    Ok(out)
}

/// Hash a password into a PHC string (`$argon2id$v=19$m=…`) with a fresh salt.
pub fn phc_hash(password: &str, p: &Argon2Config) -> Result<String, KdfError> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    count();
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params(p, None)?)
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| KdfError::Argon2(e.to_string()))?;
    Ok(hash.to_string())
}

/// Check a password against a PHC string (its parameters come from the string). A malformed
/// string is an error (a corrupt row), not a mismatch.
pub fn phc_verify(password: &str, phc: &str) -> Result<bool, KdfError> {
    count();
    match Argon2::default().verify_password(password.as_bytes(), phc) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(KdfError::BadPhc(e.to_string())),
    }
}

/// Parameters cheap enough for unit tests.
#[cfg(test)]
pub(crate) const FAST: Argon2Config = Argon2Config {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// One evaluation that decides nothing, with the parameters a real check would use: for the
/// user without a password, the answer with no recovery code to match.
pub fn dummy(input: &[u8], p: &Argon2Config) {
    let _ = raw_hash(input, b"tessera-dummy-salt", b"tessera-dummy", p);
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::FAST;

    #[test]
    fn password_round_trip() {
        let h = phc_hash("correct horse", &FAST).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(phc_verify("correct horse", &h).unwrap());
        assert!(!phc_verify("wrong horse", &h).unwrap());
    }

    #[test]
    fn corrupt_phc_is_an_error_not_a_match() {
        assert!(matches!(
            phc_verify("x", "not a phc string"),
            Err(KdfError::BadPhc(_))
        ));
    }

    #[test]
    fn raw_hash_binds_input_salt_and_pepper() {
        let h = raw_hash(b"code", &[1; 16], b"pepper", &FAST).unwrap();
        assert_eq!(*h, *raw_hash(b"code", &[1; 16], b"pepper", &FAST).unwrap());
        assert_ne!(*h, *raw_hash(b"cods", &[1; 16], b"pepper", &FAST).unwrap());
        assert_ne!(*h, *raw_hash(b"code", &[2; 16], b"pepper", &FAST).unwrap());
        assert_ne!(*h, *raw_hash(b"code", &[1; 16], b"other", &FAST).unwrap());
    }

    #[test]
    fn every_evaluation_is_counted() {
        let before = evaluations();
        let h = phc_hash("pw", &FAST).unwrap();
        phc_verify("pw", &h).unwrap();
        raw_hash(b"x", &[0; 16], b"p", &FAST).unwrap();
        dummy(b"x", &FAST);
        assert_eq!(evaluations() - before, 4);
    }
}
