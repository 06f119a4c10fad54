//! Invitations to enroll at login, and replacing a lost authenticator.

use std::time::Duration;

use super::Admin;
use crate::base::secret::Secret;
use crate::error::{CoreError, InputError};
use crate::factor::{invite, is_usable};
use crate::store::{FactorId, FactorKind};

/// A new invitation: the code is shown once and stored only as a keyed hash.
#[derive(Debug)]
pub struct Invitation {
    pub user: String,
    /// The user did not exist and was added.
    pub user_created: bool,
    pub code: Secret<String>,
    pub expires_at: u64,
    /// The user already has a usable factor: the invitation only matters once they have none.
    pub already_enrolled: bool,
}

/// What replacing a user's authenticators did.
#[derive(Debug)]
pub struct Replaced {
    pub removed: Vec<FactorId>,
    /// The fresh recovery codes (the old ones stop working).
    pub recovery_codes: Vec<Secret<String>>,
}

impl Admin {
    /// Invite `name` to enroll at their next login (`[policy] enroll_at_login`), for `valid`
    /// (default `[policy] invite_valid`). The user is added when unknown. A new invitation
    /// replaces the previous one.
    pub fn invite_user(
        &self,
        name: &str,
        valid: Option<Duration>,
    ) -> Result<Invitation, CoreError> {
        let valid = valid.unwrap_or(self.config.policy.invite_valid);
        if valid < Duration::from_secs(60) || valid > Duration::from_secs(90 * 24 * 3600) {
            return Err(
                InputError::Option("--valid must be between 1 minute and 90 days".into()).into(),
            );
        }
        let (user, user_created) = match self.user(name) {
            Ok(u) => (u, false),
            Err(CoreError::UnknownUser(_)) => (self.add_user(name, None)?, true),
            Err(e) => return Err(e),
        };
        let key = self.key()?;
        let code = invite::generate()?;
        let normalized = invite::normalize(code.expose())
            .ok_or_else(|| CoreError::Corrupt("a new invitation does not read back".into()))?;
        let hash = invite::hash(&key, user.id, &normalized);
        let now = self.clock.now();
        let expires_at = now.saturating_add(valid.as_secs());
        self.store.put_invite(user.id, &hash, now, expires_at)?;
        self.audit(
            &user.name,
            format!("user invite valid={}s", valid.as_secs()),
        );
        let already_enrolled = self.store.factors(user.id)?.iter().any(is_usable);
        Ok(Invitation {
            user: user.name,
            user_created,
            code,
            expires_at,
            already_enrolled,
        })
    }

    /// Withdraw `name`'s invitation. `false` when none was pending.
    pub fn revoke_invite(&self, name: &str) -> Result<bool, CoreError> {
        let user = self.user(name)?;
        let revoked = self.store.revoke_invite(user.id, self.clock.now())?;
        self.audit(&user.name, format!("user invite revoke pending={revoked}"));
        Ok(revoked)
    }

    /// The lost phone: remove `name`'s other authenticators (TOTP factors) now that `keep` is
    /// active, and give fresh recovery codes (the old ones may have been kept with the phone).
    pub fn replace_authenticators(
        &self,
        name: &str,
        keep: FactorId,
    ) -> Result<Replaced, CoreError> {
        let user = self.user(name)?;
        let kept = self.factor(&user, keep)?;
        if kept.kind != FactorKind::Totp || !is_usable(&kept) {
            return Err(InputError::Option(format!(
                "factor {keep} of {} is not an active authenticator: confirm it first",
                user.name
            ))
            .into());
        }
        let mut removed = Vec::new();
        for f in self.store.factors(user.id)? {
            if f.kind == FactorKind::Totp
                && f.id != keep
                && self.store.remove_factor(user.id, f.id)?
            {
                self.audit(
                    &user.name,
                    format!("factor remove factor={} replaced_by={keep}", f.id),
                );
                removed.push(f.id);
            }
        }
        let recovery_codes = self.new_recovery_batch(&user, self.config.recovery.count)?;
        Ok(Replaced {
            removed,
            recovery_codes,
        })
    }
}
