//! First-factor passwords (RADIUS `first_factor = "password"`): Argon2id PHC strings.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::Argon2Config;
use crate::error::CoreError;
use crate::secret::random_bytes;

fn argon2(params: &Argon2Config) -> Result<Argon2<'static>, CoreError> {
    let p = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| CoreError::Argon2(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

/// Hash `password` into a PHC string (`$argon2id$v=19$m=…`).
pub fn hash_password(password: &str, params: &Argon2Config) -> Result<String, CoreError> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    let hash = argon2(params)?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| CoreError::Argon2(e.to_string()))?;
    Ok(hash.to_string())
}

/// Check `password` against a PHC string. The parameters come from the string itself.
/// A malformed stored hash is an error (a corrupt row), not a mismatch.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, CoreError> {
    let a = Argon2::default();
    match a.verify_password(password.as_bytes(), phc) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(CoreError::Corrupt(format!("stored password hash: {e}"))),
    }
}

/// Spend the same work as a real check, for users without a password (no timing oracle).
pub fn dummy_verify(password: &str, params: &Argon2Config) {
    if let Ok(a) = argon2(params) {
        let _ = a.hash_password_with_salt(password.as_bytes(), b"tessera-dummy-salt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Config = Argon2Config {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn password_round_trip() {
        let h = hash_password("correct horse", &FAST).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse", &h).unwrap());
        assert!(!verify_password("wrong horse", &h).unwrap());
    }

    #[test]
    fn corrupt_hash_is_an_error_not_a_match() {
        assert!(verify_password("x", "not a phc string").is_err());
    }
}
