//! A user's factors: confirm a pending one, list, remove, prefer.

use super::{Admin, Confirmation};
use crate::error::{CoreError, InputError};
use crate::factor::{email, totp};
use crate::store::{Factor, FactorId, FactorKind, FactorStatus, User};

impl Admin {
    /// Confirm a pending factor with a code from it.
    /// Confirm a pending factor with a code from it: the same check a login makes
    /// ([`totp::check`], [`email::confirm`]); a wrong code spends one of an e-mailed code's tries.
    pub fn confirm_factor(
        &self,
        name: &str,
        factor_id: FactorId,
        code: &str,
    ) -> Result<Confirmation, CoreError> {
        let user = self.user(name)?;
        let factor = self.factor(&user, factor_id)?;
        if factor.status == FactorStatus::Active {
            return Err(CoreError::AlreadyActive {
                user: user.name,
                id: factor_id,
            });
        }
        let code = code.trim();
        let now = self.clock.now();
        let failed = || CoreError::ConfirmationFailed {
            user: user.name.clone(),
            id: factor_id,
        };
        match (&factor.kind, &factor.totp) {
            (FactorKind::Totp, Some(t)) => {
                if !totp::is_shaped(t, code) {
                    return Err(InputError::Code(format!(
                        "factor {factor_id} expects {} digits",
                        t.digits
                    ))
                    .into());
                }
                let key = self.key()?;
                let step = totp::check(
                    &key,
                    self.config.totp.window,
                    &user,
                    factor_id,
                    t,
                    code,
                    now,
                )?
                .ok_or_else(failed)?;
                self.activate(&user, factor_id, Some(step))
            }
            (FactorKind::Email | FactorKind::Sms, _) => {
                let (length, from) = match factor.kind {
                    FactorKind::Sms => (self.config.sms.as_ref().map(|c| c.code_length), "text"),
                    _ => (self.config.email.as_ref().map(|c| c.code_length), "e-mail"),
                };
                let digits = length.unwrap_or(6);
                if !crate::base::otp::is_code_shaped(code, digits) {
                    return Err(InputError::Code(format!(
                        "factor {factor_id} expects the {digits}-digit code from the {from}"
                    ))
                    .into());
                }
                let key = self.key()?;
                if !email::confirm(self.store.as_ref(), &key, user.id, factor_id, code, now)? {
                    return Err(failed());
                }
                self.activate(&user, factor_id, None)
            }
            (FactorKind::Totp | FactorKind::Fido2, _) => Err(CoreError::Corrupt(format!(
                "factor {factor_id} of user {:?} cannot be confirmed with a code",
                user.name
            ))),
        }
    }

    pub(super) fn activate(
        &self,
        user: &User,
        factor_id: FactorId,
        step: Option<u64>,
    ) -> Result<Confirmation, CoreError> {
        let activation = self
            .store
            .activate_factor(user.id, factor_id, step)?
            .ok_or_else(|| CoreError::ConfirmationFailed {
                user: user.name.clone(),
                id: factor_id,
            })?;
        self.audit(&user.name, format!("factor activate factor={factor_id}"));
        let recovery_codes = if activation.first_active && !activation.has_recovery {
            Some(self.new_recovery_batch(user, self.config.recovery.count)?)
        } else {
            None
        };
        Ok(Confirmation {
            factor_id,
            recovery_codes,
        })
    }

    pub fn factors(&self, name: &str) -> Result<Vec<Factor>, CoreError> {
        let user = self.user(name)?;
        Ok(self.store.factors(user.id)?)
    }

    pub fn remove_factor(&self, name: &str, factor_id: FactorId) -> Result<(), CoreError> {
        let user = self.user(name)?;
        if !self.store.remove_factor(user.id, factor_id)? {
            return Err(CoreError::UnknownFactor {
                user: user.name,
                id: factor_id,
            });
        }
        self.audit(name, format!("factor remove factor={factor_id}"));
        Ok(())
    }

    pub fn prefer_factor(&self, name: &str, factor_id: FactorId) -> Result<(), CoreError> {
        let user = self.user(name)?;
        if !self.store.set_preferred(user.id, factor_id)? {
            return Err(CoreError::UnknownFactor {
                user: user.name,
                id: factor_id,
            });
        }
        self.audit(name, format!("factor prefer factor={factor_id}"));
        Ok(())
    }
}
