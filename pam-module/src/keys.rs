//! Asking the security keys plugged into this machine, on the core's behalf: the core makes the
//! requests and checks the answer; this file only finds the keys, asks for the PIN and a touch
//! through the conversation, and waits, never longer than `fido_timeout`.
//!
//! Device reads block without a timeout (ctap-hid-fido2 waits for a touch as long as the key
//! keeps saying it is waiting), so each key is asked on a thread of its own and the login stops
//! waiting at the deadline; a thread still waiting then ends with its key's own timeout.

use std::time::{Duration, Instant};

use tessera_common::fido2::{AssertionRequest, AssertionResponse};
use tessera_fido2::{Device, DeviceError, DeviceInfo, Judged};
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
/// `judge` tells, as answers come in, what one would come to (the core's check): the first it
/// takes ends the wait; otherwise the best refused answer is handed back (to be refused once)
/// when every key has answered or the time is up.
pub fn ask_keys<C: Conversation>(
    requests: &[AssertionRequest],
    timeout: Duration,
    silent: bool,
    conv: &mut C,
    mut judge: impl FnMut(usize, &AssertionResponse) -> Judged,
) -> KeyAnswer {
    let started = Instant::now();
    let opened = tessera_fido2::with_deadline(OPEN_WAIT, tessera_fido2::open_all)
        .map(|found| found.map(with_info));
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
        .any(|(_, i)| i.as_ref().is_ok_and(DeviceInfo::pin_verifies));
    let wants_pin = requests.iter().any(|r| r.pin) || (needs_uv && pin_verifies);
    let devices: Vec<Box<dyn Device>> = devices.into_iter().map(|(d, _)| d).collect();
    // The PIN goes only to keys that hold one of the user's credentials: another user's key
    // would lose a PIN try (and, after eight, its credentials), and a hostile device would get
    // a hash of the PIN to try offline.
    let devices = if wants_pin {
        holders(devices, requests, &mut judge)
    } else {
        devices
    };
    if devices.is_empty() {
        return nothing("None of the security keys plugged in holds your credentials.".into());
    }
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
    let asked = tessera_fido2::first_answer(
        devices,
        deadline,
        move |device| ask_one(device, &requests, pin.as_deref().map(String::as_str)),
        |(index, response)| judge(*index, response),
    );
    match asked {
        Ok((index, response)) => KeyAnswer::Answered { index, response },
        Err(DeviceError::NoTouch) => nothing("The security key was not touched in time.".into()),
        Err(e) => nothing(format!("The security key gave no answer: {e}.")),
    }
}

/// How long a key may take to tell what it can (getInfo).
const INFO_WAIT: Duration = Duration::from_secs(2);

/// Each key with what it can, asked at once: a key that does not answer in time is left out,
/// and does not keep the others from being asked.
fn with_info(
    devices: Vec<Box<dyn Device>>,
) -> Vec<(Box<dyn Device>, Result<DeviceInfo, DeviceError>)> {
    tessera_fido2::on_each(devices, Instant::now() + INFO_WAIT, |d| d.info())
}

/// How long a key may take to say whether it holds a credential (no touch, no PIN).
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// The keys that prove they hold one of the user's credentials, asked silently (no touch, no
/// PIN, no verification: the key only looks its credentials up and signs): a key stays only when
/// the core finds its answer signed by one of the user's keys (`judge` not `Useless`). Another
/// user's key, a hostile device, a key that will not answer without the PIN (alwaysUv, or a
/// credential hidden by credProtect) or in time are left out and never see the PIN.
fn holders(
    devices: Vec<Box<dyn Device>>,
    requests: &[AssertionRequest],
    judge: &mut impl FnMut(usize, &AssertionResponse) -> Judged,
) -> Vec<Box<dyn Device>> {
    let probes: Vec<AssertionRequest> = requests
        .iter()
        .map(|r| AssertionRequest {
            presence: false,
            verification: false,
            pin: false,
            ..r.clone()
        })
        .collect();
    let found = tessera_fido2::on_each(devices, Instant::now() + PROBE_WAIT, move |d| {
        ask_one(d, &probes, None)
    });
    found
        .into_iter()
        // The probe's answer proves possession only; it is never a login's answer.
        .filter_map(|(device, answer)| match answer {
            Ok((index, response)) if judge(index, &response) != Judged::Useless => Some(device),
            Ok(_) | Err(_) => None,
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_common::fido2::{AttestationResponse, CredentialRequest};
    use tessera_fido2::DeviceInfo;

    /// A key whose getInfo takes `stall`.
    struct Stalling {
        name: &'static str,
        stall: Duration,
    }

    impl Device for Stalling {
        fn describe(&self) -> String {
            self.name.to_string()
        }
        fn info(&mut self) -> Result<DeviceInfo, DeviceError> {
            std::thread::sleep(self.stall);
            Ok(DeviceInfo::default())
        }
        fn make_credential(
            &mut self,
            _: &CredentialRequest,
            _: Option<&str>,
        ) -> Result<AttestationResponse, DeviceError> {
            Err(DeviceError::NoTouch)
        }
        fn get_assertion(
            &mut self,
            _: &AssertionRequest,
            _: Option<&str>,
        ) -> Result<AssertionResponse, DeviceError> {
            Err(DeviceError::NoCredentials)
        }
    }

    #[test]
    fn a_key_that_stalls_in_get_info_does_not_keep_the_others_out() {
        let devices: Vec<Box<dyn Device>> = vec![
            Box::new(Stalling {
                name: "stuck",
                stall: Duration::from_secs(30),
            }),
            Box::new(Stalling {
                name: "fine",
                stall: Duration::ZERO,
            }),
        ];
        let found = with_info(devices);
        let names: Vec<String> = found.iter().map(|(d, _)| d.describe()).collect();
        assert_eq!(names, ["fine"]);
    }
}
