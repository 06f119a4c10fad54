//! Recovery codes: a fresh set, shown once.

use super::Admin;
use crate::base::secret::Secret;
use crate::error::{CoreError, InputError};
use crate::factor::recovery;
use crate::store::{RecoveryBatch, User};

impl Admin {
    /// Replace the user's recovery codes with `count` new ones, returned for display once.
    pub fn generate_recovery(
        &self,
        name: &str,
        count: Option<u32>,
    ) -> Result<Vec<Secret<String>>, CoreError> {
        let user = self.user(name)?;
        let count = count.unwrap_or(self.config.recovery.count);
        if !(1..=100).contains(&count) {
            return Err(
                InputError::Option(format!("--count {count} is out of range (1 to 100)")).into(),
            );
        }
        self.new_recovery_batch(&user, count)
    }

    pub(super) fn new_recovery_batch(
        &self,
        user: &User,
        count: u32,
    ) -> Result<Vec<Secret<String>>, CoreError> {
        let codes = recovery::generate_codes(count)?;
        self.store_recovery(user, &codes, "generated")?;
        Ok(codes)
    }

    pub(super) fn store_recovery(
        &self,
        user: &User,
        codes: &[Secret<String>],
        origin: &str,
    ) -> Result<(), CoreError> {
        let key = self.key()?;
        let salt = recovery::generate_salt()?;
        let a = self.config.argon2;
        let mut hashes = Vec::with_capacity(codes.len());
        for c in codes {
            let norm = recovery::normalize(c.expose())
                .ok_or_else(|| InputError::Code("a recovery code has an unexpected form".into()))?;
            let h = recovery::hash_code(&norm, &salt, key.recovery_pepper(), &a)?;
            hashes.push(*h);
        }
        let batch = RecoveryBatch {
            salt: salt.to_vec(),
            m_cost: a.memory_kib,
            t_cost: a.iterations,
            p_cost: a.parallelism,
            created_at: self.clock.now(),
            origin: origin.to_string(),
            total: u32::try_from(codes.len()).unwrap_or(u32::MAX),
            unused: u32::try_from(codes.len()).unwrap_or(u32::MAX),
        };
        self.store.replace_recovery(user.id, &batch, &hashes)?;
        self.audit(
            &user.name,
            format!("recovery generate count={} origin={origin}", codes.len()),
        );
        Ok(())
    }
}
