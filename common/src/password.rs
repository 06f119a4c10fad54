//! First-factor passwords (RADIUS `first_factor = "password"`): Argon2id PHC strings.

use crate::base::kdf::{self, Argon2Config};
use crate::error::CoreError;

/// Hash `password` into a PHC string (`$argon2id$v=19$m=…`).
pub fn hash_password(password: &str, params: &Argon2Config) -> Result<String, CoreError> {
    Ok(kdf::phc_hash(password, params)?)
}

/// Check `password` against a PHC string. A malformed stored hash is an error, not a mismatch.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, CoreError> {
    kdf::phc_verify(password, phc)
        .map_err(|e| CoreError::Corrupt(format!("stored password hash: {e}")))
}

/// Spend the same work as a real check, for users without a password (no timing oracle).
pub fn dummy_verify(password: &str, params: &Argon2Config) {
    kdf::dummy(password.as_bytes(), params);
}
