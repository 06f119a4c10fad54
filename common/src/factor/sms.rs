//! Codes by SMS: the same code rules as e-mailed ones (see [`super::sent`]), delivered through
//! the gateway of `[sms]`.

use super::sent::{CodeRules, Delivery, SendError, send_code};
use crate::base::otp::is_code_shaped;
use crate::base::phone::mask_phone;
use crate::base::secret::MasterKey;
use crate::config::SmsConfig;
use crate::error::CoreError;
use crate::sms::{SmsContext, Texter, render_sms};
use crate::store::{FactorId, Store, UserId};

/// Whether `answer` has the shape of a texted code.
pub fn is_shaped(cfg: &SmsConfig, answer: &str) -> bool {
    is_code_shaped(answer, cfg.code_length)
}

/// Everything a send needs.
pub struct SmsSender<'a> {
    pub config: &'a SmsConfig,
    pub store: &'a dyn Store,
    pub key: &'a MasterKey,
    pub texter: &'a dyn Texter,
    pub now: u64,
}

impl SmsSender<'_> {
    /// Make a code for `factor_id`, store its hash and text it to `number`.
    pub fn send(
        &self,
        user_id: UserId,
        factor_id: FactorId,
        number: &str,
        ctx: &SmsContext<'_>,
    ) -> Result<Delivery, CoreError> {
        let c = self.config;
        let rules = CodeRules::of_sms(c);
        send_code(
            self.store,
            self.key,
            &rules,
            self.now,
            user_id,
            factor_id,
            mask_phone(number),
            &|code| {
                let message = render_sms(c, ctx, code);
                self.texter.send(number, &message).map_err(SendError::from)
            },
        )
    }
}
