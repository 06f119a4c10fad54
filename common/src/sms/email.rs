//! `gateway = "email"`: a mail through the `[email]` settings to an address made from the
//! number (`{number}` or `{digits}`, without the `+`), the message as its body and no subject
//! (most gateways put the subject in front of the text).

use std::sync::Arc;

use super::{SmsError, Texter, check_input, digits};
use crate::base::text::fill_template;
use crate::mail::Mailer;

pub struct EmailTexter {
    mailer: Arc<dyn Mailer>,
    address: String,
}

impl EmailTexter {
    /// `address`: the template, checked at load.
    pub fn new(mailer: Arc<dyn Mailer>, address: &str) -> EmailTexter {
        EmailTexter {
            mailer,
            address: address.to_string(),
        }
    }
}

impl Texter for EmailTexter {
    fn send(&self, number: &str, message: &str) -> Result<(), SmsError> {
        check_input(number, message)?;
        let to = fill_template(&self.address, |name| match name {
            "number" => Some(number),
            "digits" => Some(digits(number)),
            _ => None,
        });
        Ok(self.mailer.send(&to, "", message)?)
    }
}
