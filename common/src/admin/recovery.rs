//! Recovery codes: a fresh set, shown once.

use super::Admin;
use crate::base::secret::Secret;
use crate::error::{CoreError, InputError};
use crate::factor::recovery;
use crate::store::User;

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
        let (batch, hashes) =
            recovery::new_batch(codes, &key, &self.config.argon2, self.clock.now(), origin)?;
        self.store.replace_recovery(user.id, &batch, &hashes)?;
        self.audit(
            &user.name,
            format!("recovery generate count={} origin={origin}", codes.len()),
        );
        Ok(())
    }
}
