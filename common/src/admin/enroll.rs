//! New factors: an authenticator (TOTP), an e-mail address.

use super::{Admin, EmailEnrollment, TotpEnrollment, TotpOptions, validate_label};
use crate::base::address::validate_email;
use crate::base::otp::TotpParams;
use crate::base::secret::MasterKey;
use crate::error::{CoreError, InputError};
use crate::factor::email::{Delivery, MessageContext, Sender};
use crate::factor::totp;
use crate::store::{FactorId, FactorStatus, NewTotp, User};

impl Admin {
    pub fn enroll_totp(&self, name: &str, o: &TotpOptions) -> Result<TotpEnrollment, CoreError> {
        let user = self.user(name)?;
        let key = self.key()?;
        let params = totp::params(&self.config.totp, o.digits, o.period, o.algorithm)?;
        let label = o
            .label
            .clone()
            .unwrap_or_else(|| "authenticator".to_string());
        validate_label(&label)?;
        let p = totp::provision(
            self.store.as_ref(),
            &key,
            &self.config.totp.issuer,
            &user,
            &label,
            &params,
            self.clock.now(),
        )?;
        let factor_id = p.factor_id;
        self.audit(name, format!("enroll totp factor={factor_id}"));

        let (status, recovery_codes) = if o.activate {
            let c = self.activate(&user, factor_id, None)?;
            (FactorStatus::Active, c.recovery_codes)
        } else {
            (FactorStatus::Pending, None)
        };
        Ok(TotpEnrollment {
            user: user.name,
            factor_id,
            label,
            secret_base32: p.secret_base32,
            uri: p.uri,
            params,
            status,
            recovery_codes,
        })
    }

    #[allow(clippy::too_many_arguments)] // one private helper that mirrors NewTotp's fields
    pub(super) fn add_totp(
        &self,
        user: &User,
        key: &MasterKey,
        label: &str,
        params: &TotpParams,
        secret: &[u8],
        window: Option<u8>,
        last_step: Option<u64>,
    ) -> Result<FactorId, CoreError> {
        let new = NewTotp {
            label: label.to_string(),
            algorithm: params.algorithm,
            digits: params.digits,
            period: params.period,
            window,
            status: FactorStatus::Pending,
            last_step,
        };
        let user_id = user.id;
        let seal = |factor_id| totp::seal(key, user_id, factor_id, secret);
        Ok(self
            .store
            .add_totp_factor(user.id, &new, self.clock.now(), &seal)?)
    }

    /// Add a pending e-mail factor and send it a verification code; the factor becomes active
    /// when that code is confirmed. The address defaults to the user's e-mail address. A send
    /// that fails (or is refused by the rate limit) leaves nothing behind.
    pub fn enroll_email(
        &self,
        name: &str,
        address: Option<&str>,
        label: Option<&str>,
    ) -> Result<EmailEnrollment, CoreError> {
        let user = self.user(name)?;
        let address = match address.or(user.email.as_deref()) {
            Some(a) => a.to_string(),
            None => {
                return Err(InputError::Option(format!(
                    "user {:?} has no e-mail address: pass --address",
                    user.name
                ))
                .into());
            }
        };
        validate_email(&address)?;
        let label = label.unwrap_or("email").to_string();
        validate_label(&label)?;
        let cfg = self
            .config
            .email
            .as_ref()
            .ok_or_else(|| CoreError::EmailNotConfigured(self.config.source.clone()))?;
        let mailer = self
            .mailer
            .as_ref()
            .ok_or_else(|| CoreError::EmailNotConfigured(self.config.source.clone()))?;
        let key = self.key()?;
        let factor_id = self
            .store
            .add_email_factor(user.id, &label, &address, self.clock.now())?;
        let sent = Sender {
            config: cfg,
            store: self.store.as_ref(),
            key: &key,
            mailer: mailer.as_ref(),
            now: self.clock.now(),
        }
        .send(
            user.id,
            factor_id,
            &address,
            &MessageContext {
                user: &user.name,
                service: "tessera enroll",
                source: None,
            },
        );
        let masked = self.kept_if_sent(user.id, factor_id, sent)?;
        if user.email.is_none() {
            self.store.set_email(user.id, Some(&address))?;
        }
        self.audit(name, format!("enroll email factor={factor_id} to {masked}"));
        Ok(EmailEnrollment {
            user: user.name,
            factor_id,
            label,
            address,
            masked,
        })
    }
}

/// A pending SMS factor: a code went to the number.
#[derive(Debug)]
pub struct SmsEnrollment {
    pub user: String,
    pub factor_id: FactorId,
    pub label: String,
    pub number: String,
    /// The number as shown to users (`+44*******123`).
    pub masked: String,
}

impl Admin {
    /// Add a pending SMS factor and text it a verification code; the factor becomes active
    /// when that code is confirmed. The number defaults to the user's phone number. A send
    /// that fails (or is refused by the limits) leaves nothing behind.
    pub fn enroll_sms(
        &self,
        name: &str,
        number: Option<&str>,
        label: Option<&str>,
    ) -> Result<SmsEnrollment, CoreError> {
        let user = self.user(name)?;
        let number = match number.or(user.phone.as_deref()) {
            Some(n) => n.to_string(),
            None => {
                return Err(InputError::Option(format!(
                    "user {:?} has no phone number: pass --phone +E164 (or set one with \
                     `tessera user modify {} --phone`)",
                    user.name, user.name
                ))
                .into());
            }
        };
        crate::base::phone::validate_phone(&number)?;
        let label = label.unwrap_or("phone").to_string();
        validate_label(&label)?;
        let cfg = self
            .config
            .sms
            .as_ref()
            .ok_or_else(|| CoreError::SmsNotConfigured(self.config.source.clone()))?;
        let texter = match &self.texter {
            Some(t) => t.clone(),
            None => crate::sms::texter_from_config(cfg, self.mailer.clone())?,
        };
        let key = self.key()?;
        let factor_id = self
            .store
            .add_sms_factor(user.id, &label, &number, self.clock.now())?;
        let sent = crate::factor::sms::SmsSender {
            config: cfg,
            store: self.store.as_ref(),
            key: &key,
            texter: texter.as_ref(),
            now: self.clock.now(),
        }
        .send(
            user.id,
            factor_id,
            &number,
            &crate::sms::SmsContext {
                user: &user.name,
                service: "tessera enroll",
            },
        );
        let masked = self.kept_if_sent(user.id, factor_id, sent)?;
        if user.phone.is_none() {
            self.store.set_phone(user.id, Some(&number))?;
        }
        self.audit(name, format!("enroll sms factor={factor_id} to {masked}"));
        Ok(SmsEnrollment {
            user: user.name,
            factor_id,
            label,
            number,
            masked,
        })
    }
}

impl Admin {
    /// A new pending factor whose confirmation code went out is kept (the masked address or
    /// number returned); one whose code did not go out is removed, and the reason returned.
    fn kept_if_sent(
        &self,
        user_id: crate::store::UserId,
        factor_id: FactorId,
        sent: Result<Delivery, CoreError>,
    ) -> Result<String, CoreError> {
        match sent {
            Ok(Delivery::Sent { masked }) => Ok(masked),
            Ok(Delivery::TooSoon { masked, .. }) => {
                self.store.remove_factor(user_id, factor_id)?;
                Err(CoreError::EmailTooSoon { masked })
            }
            Ok(Delivery::Failed { error, .. }) => {
                self.store.remove_factor(user_id, factor_id)?;
                Err(error.into())
            }
            Err(e) => {
                let _ = self.store.remove_factor(user_id, factor_id);
                Err(e)
            }
        }
    }
}
