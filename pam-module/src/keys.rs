//! Asking the security keys plugged into this machine, on the core's behalf: the core makes the
//! requests and checks the answer; this file only finds the keys, asks for the PIN and a touch
//! through the conversation, and waits, never longer than `fido_timeout`.
//!
//! Device reads block without a timeout (ctap-hid-fido2 waits for a touch as long as the key
//! keeps saying it is waiting), so each key is asked on a thread of its own and the login stops
//! waiting at the deadline; a thread still waiting then ends with its key's own timeout.

use std::time::{Duration, Instant};

use tessera_common::fido2::{AssertionRequest, AssertionResponse};
use tessera_fido2::{Device, DeviceError};
use zeroize::Zeroizing;

use crate::conv::Conversation;

/// What the keys gave.
#[derive(Debug)]
pub enum KeyAnswer {
    /// A key answered request `index`.
    Answered {
        index: usize,
        response: AssertionResponse,
    },
    /// No key answered: say why (or nothing, when there was no key at all) and go on to codes.
    Nothing { tell: Option<String> },
    /// The application's conversation failed.
    ConversationFailed,
}

pub const TOUCH: &str = "Touch your security key.";

/// How long finding the keys may take (enumeration, reading each key's info).
const OPEN_WAIT: Duration = Duration::from_secs(3);

/// Ask every key plugged in for any of `requests`, waiting at most `timeout` for a touch.
/// `accept` tells, as answers come in, whether one would log the user in (the core's check):
/// the first it takes ends the wait; otherwise the first answer is handed back (to be refused)
/// when every key has answered or the time is up.
pub fn ask_keys<C: Conversation>(
    requests: &[AssertionRequest],
    timeout: Duration,
    silent: bool,
    conv: &mut C,
    mut accept: impl FnMut(usize, &AssertionResponse) -> bool,
) -> KeyAnswer {
    let started = Instant::now();
    let opened = tessera_fido2::with_deadline(OPEN_WAIT, || {
        tessera_fido2::open_all().map(|devices| {
            devices
                .into_iter()
                .map(|mut d| {
                    let info = d.info();
                    (d, info)
                })
                .collect::<Vec<_>>()
        })
    });
    let devices = match opened {
        Some(Ok(d)) if !d.is_empty() => d,
        // No key: nothing to say, the code prompt follows at once.
        Some(Ok(_)) | Some(Err(DeviceError::NoDevice)) => return KeyAnswer::Nothing { tell: None },
        Some(Err(e)) => return nothing(format!("The security key cannot be used: {e}.")),
        None => return nothing("The security key did not respond.".to_string()),
    };
    // A PIN when a credential asks for one, or when verification is required and a key has a
    // PIN but no fingerprint reader.
    let needs_uv = requests.iter().any(|r| r.verification);
    let pin_verifies = devices
        .iter()
        .any(|(_, i)| matches!(i, Ok(i) if i.pin_set && !i.builtin_uv));
    let wants_pin = requests.iter().any(|r| r.pin) || (needs_uv && pin_verifies);
    let pin: Option<Zeroizing<String>> = if wants_pin {
        match conv.prompt("PIN for your security key: ", false) {
            Ok(p) if p.is_empty() => return KeyAnswer::Nothing { tell: None },
            Ok(p) => Some(p),
            Err(_) => return KeyAnswer::ConversationFailed,
        }
    } else {
        None
    };
    // An instruction the user must see to log in: under PAM_SILENT (sudo) as an error message,
    // which applications show.
    let told = if silent {
        conv.error(TOUCH)
    } else {
        conv.info(TOUCH)
    };
    if told.is_err() {
        return KeyAnswer::ConversationFailed;
    }
    // The wait for the touch is `timeout`, counted from the start, or from the PIN when one was
    // typed (the time spent typing it is not the key's).
    let deadline = if pin.is_some() {
        Instant::now() + timeout
    } else {
        started + timeout
    };
    let requests = requests.to_vec();
    let devices = devices.into_iter().map(|(d, _)| d).collect();
    let asked = tessera_fido2::first_answer(
        devices,
        deadline,
        move |device| ask_one(device, &requests, pin.as_deref().map(String::as_str)),
        |(index, response)| accept(*index, response),
    );
    match asked {
        Ok((index, response)) => KeyAnswer::Answered { index, response },
        Err(DeviceError::NoTouch) => nothing("The security key was not touched in time.".into()),
        Err(e) => nothing(format!("The security key gave no answer: {e}.")),
    }
}

fn nothing(text: String) -> KeyAnswer {
    KeyAnswer::Nothing { tell: Some(text) }
}

/// One key, each request in turn (one per relying party): the first it answers.
fn ask_one(
    device: &mut dyn Device,
    requests: &[AssertionRequest],
    pin: Option<&str>,
) -> Result<(usize, AssertionResponse), DeviceError> {
    let mut last = DeviceError::NoCredentials;
    for (index, request) in requests.iter().enumerate() {
        match device.get_assertion(request, pin) {
            Ok(response) => return Ok((index, response)),
            // Another request (rp id) may be this key's.
            Err(DeviceError::NoCredentials) => {}
            Err(e) => {
                last = e;
                break;
            }
        }
    }
    Err(last)
}
