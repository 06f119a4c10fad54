//! The PAM conversation, as the flow sees it: ask (echo off or on), tell, and read or replace
//! PAM_AUTHTOK. [`PamConversation`] implements it on a real PAM handle through `ffi`; tests use
//! a scripted one.

use pamsm::Pam;
use zeroize::Zeroizing;

use crate::ffi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConvError {
    #[error("the application gave no conversation function")]
    NoConversation,
    #[error("the conversation failed (PAM error {0})")]
    Failed(i32),
    #[error("the conversation returned no answer")]
    NoAnswer,
    #[error("text for the conversation contains a NUL byte")]
    Nul,
    #[error("cannot set PAM_AUTHTOK (PAM error {0})")]
    SetItem(i32),
}

/// What the flow needs from the application.
pub trait Conversation {
    /// Ask a question; the answer arrives in a zeroizing buffer.
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<String>, ConvError>;
    /// Show information (PAM_TEXT_INFO).
    fn info(&mut self, text: &str) -> Result<(), ConvError>;
    /// Show an error (PAM_ERROR_MSG).
    fn error(&mut self, text: &str) -> Result<(), ConvError>;
    /// PAM_AUTHTOK as a previous module left it, if any.
    fn authtok(&mut self) -> Option<Zeroizing<String>>;
    /// Replace PAM_AUTHTOK (the password handed on to the next module).
    fn set_authtok(&mut self, value: &str) -> Result<(), ConvError>;
}

/// Message styles of `struct pam_message` (Linux-PAM `_pam_types.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    PromptEchoOff = 1,
    PromptEchoOn = 2,
    ErrorMsg = 3,
    TextInfo = 4,
}

/// The conversation of a live PAM handle.
pub struct PamConversation<'a> {
    pub pamh: &'a Pam,
}

/// A reply as bytes (already copied out of PAM's buffer, which was wiped and freed) as text.
/// Invalid UTF-8 cannot be a code: it becomes an empty answer, which the core refuses.
fn into_text(mut bytes: Zeroizing<Vec<u8>>) -> Zeroizing<String> {
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(s) => Zeroizing::new(s),
        Err(e) => {
            // Wipe the bytes the error handed back.
            let _ = Zeroizing::new(e.into_bytes());
            Zeroizing::new(String::new())
        }
    }
}

impl Conversation for PamConversation<'_> {
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<String>, ConvError> {
        let style = if echo {
            Style::PromptEchoOn
        } else {
            Style::PromptEchoOff
        };
        let reply = ffi::converse(self.pamh, style, text)?;
        reply.map(into_text).ok_or(ConvError::NoAnswer)
    }

    fn info(&mut self, text: &str) -> Result<(), ConvError> {
        ffi::converse(self.pamh, Style::TextInfo, text).map(drop)
    }

    fn error(&mut self, text: &str) -> Result<(), ConvError> {
        ffi::converse(self.pamh, Style::ErrorMsg, text).map(drop)
    }

    fn authtok(&mut self) -> Option<Zeroizing<String>> {
        ffi::authtok(self.pamh).map(into_text)
    }

    fn set_authtok(&mut self, value: &str) -> Result<(), ConvError> {
        ffi::set_authtok(self.pamh, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_that_are_not_utf8_become_empty_answers() {
        assert_eq!(
            into_text(Zeroizing::new(vec![0x31, 0xff, 0x32])).as_str(),
            ""
        );
        assert_eq!(
            into_text(Zeroizing::new(b"123456".to_vec())).as_str(),
            "123456"
        );
    }
}
