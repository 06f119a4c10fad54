//! USB keys, through ctap-hid-fido2 (hidapi's hidraw backend).
//!
//! What the crate does that the caller must know:
//! - it sends the key SHA-256(challenge) as clientDataHash (there is no call that takes the hash
//!   itself); each request's `challenge` is passed as that challenge, so the key signs
//!   `authData ‖ SHA-256(challenge)` ([`tessera_common::fido2::client_data_hash`]);
//! - `HidApi::new()` panics when hidapi cannot start, and its parsers index without bounds
//!   checks: [`open_all`] runs under `catch_unwind`, and the requests must run on a worker
//!   thread under `catch_unwind` ([`crate::with_deadline`] does both);
//! - a read blocks until the key answers; while it waits for a touch it reads up to 500
//!   keep-alives (about 50 s) and then gives up with the keep-alive's status as its error.

use std::panic::catch_unwind;
use std::time::{Duration, Instant};

use ctap_hid_fido2::fidokey::get_assertion::get_assertion_params::GetAssertionArgs;
use ctap_hid_fido2::fidokey::make_credential::{CredentialSupportedKeyType, MakeCredentialArgs};
use ctap_hid_fido2::public_key_credential_user_entity::PublicKeyCredentialUserEntity;
use ctap_hid_fido2::{FidoKeyHid, HidInfo, HidParam, LibCfg};
use tessera_common::fido2::{
    AssertionRequest, AssertionResponse, AttestationResponse, CoseAlg, CredentialRequest,
};
use tessera_common::{Printable, printable};

use crate::{Device, DeviceError, DeviceInfo};

/// Every FIDO2 HID device plugged in, each opened. `NoDevice` when there is none; `Io` when keys
/// are present but none could be opened (the message names the first).
pub fn open_all() -> Result<Vec<Box<dyn Device>>, DeviceError> {
    catch_unwind(open_each).unwrap_or_else(|_| {
        Err(DeviceError::Io(
            "the USB HID layer failed to start (hidapi)".into(),
        ))
    })
}

fn open_each() -> Result<Vec<Box<dyn Device>>, DeviceError> {
    let config = quiet_config();
    let mut keys: Vec<Box<dyn Device>> = Vec::new();
    let mut first_failure = None;
    for found in ctap_hid_fido2::get_fidokey_devices() {
        let name = describe_found(&found);
        match FidoKeyHid::new(std::slice::from_ref(&found.param), &config) {
            Ok(key) => keys.push(Box::new(HidKey {
                key,
                name,
                info: None,
            })),
            Err(e) => {
                first_failure.get_or_insert_with(|| {
                    format!(
                        "cannot open {name} ({}; check its permissions)",
                        Printable::upto(&e.to_string(), MESSAGE_MAX)
                    )
                });
            }
        }
    }
    match (keys.is_empty(), first_failure) {
        (false, _) => Ok(keys),
        (true, Some(why)) => Err(DeviceError::Io(why)),
        (true, None) => Err(DeviceError::NoDevice),
    }
}

/// Nothing printed: no "Touch the sensor" on stdout (the front-end prompts), no traces.
fn quiet_config() -> LibCfg {
    let mut config = LibCfg::init();
    config.enable_log = false;
    config.enable_keep_alive_msg = false;
    config.keep_alive_msg = String::new();
    config
}

/// The key's name for its user. The product string is the key's own (any bytes a device
/// chooses): escaped and cut at 64 characters, like the path, before it reaches a terminal or a
/// log line.
fn describe_found(found: &HidInfo) -> String {
    let product = if found.product_string.is_empty() {
        format!("security key {:04x}:{:04x}", found.vid, found.pid)
    } else {
        printable(&found.product_string)
    };
    match &found.param {
        HidParam::Path(path) => format!("{product} at {}", printable(path)),
        HidParam::VidPid { .. } => product,
    }
}

/// One opened USB key.
struct HidKey {
    key: FidoKeyHid,
    name: String,
    /// From getInfo, asked once.
    info: Option<DeviceInfo>,
}

impl HidKey {
    fn builtin_uv(&mut self) -> Result<bool, DeviceError> {
        Ok(self.info()?.builtin_uv)
    }

    /// The error of a failed request, with the PIN's retries asked when the PIN was wrong.
    fn error(&self, e: &anyhow::Error, started: Instant) -> DeviceError {
        let mapped = map_error(e, started.elapsed());
        if mapped == (DeviceError::PinInvalid { retries: None }) {
            return match self.key.get_pin_retries() {
                Ok(0) => DeviceError::PinBlocked,
                Ok(n) => DeviceError::PinInvalid {
                    retries: u32::try_from(n).ok(),
                },
                Err(_) => mapped,
            };
        }
        mapped
    }
}

impl Device for HidKey {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn info(&mut self) -> Result<DeviceInfo, DeviceError> {
        if let Some(known) = self.info {
            return Ok(known);
        }
        let started = Instant::now();
        let info = self.key.get_info().map_err(|e| self.error(&e, started))?;
        let known = DeviceInfo {
            pin_set: is_option_on(&info.options, "clientPin"),
            builtin_uv: is_option_on(&info.options, "uv"),
        };
        self.info = Some(known);
        Ok(known)
    }

    fn make_credential(
        &mut self,
        request: &CredentialRequest,
        pin: Option<&str>,
    ) -> Result<AttestationResponse, DeviceError> {
        let uv = uv_option(request.verification, pin, self.builtin_uv()?);
        let args = MakeCredentialArgs {
            rpid: request.rp_id.clone(),
            challenge: request.challenge.to_vec(),
            pin,
            key_types: request.algorithms.iter().map(|a| key_type(*a)).collect(),
            uv,
            exclude_list: request.exclude_list.clone(),
            user_entity: Some(PublicKeyCredentialUserEntity::new(
                Some(&request.user_id),
                Some(&request.user_name),
                Some(&request.user_name),
            )),
            rk: Some(request.resident),
            extensions: None,
        };
        if args.key_types.is_empty() {
            return Err(DeviceError::Unsupported(
                "no algorithm was asked for".into(),
            ));
        }
        let started = Instant::now();
        let made = self
            .key
            .make_credential_with_args(&args)
            .map_err(|e| self.error(&e, started))?;
        Ok(AttestationResponse {
            // COSE alg 0 is reserved: the crate's 0 means the statement had none.
            statement_alg: (made.attstmt_alg != 0).then_some(i64::from(made.attstmt_alg)),
            format: made.fmt,
            auth_data: made.auth_data,
            statement_sig: made.attstmt_sig,
            x5c: made.attstmt_x5c,
        })
    }

    fn get_assertion(
        &mut self,
        request: &AssertionRequest,
        pin: Option<&str>,
    ) -> Result<AssertionResponse, DeviceError> {
        if request.pin && pin.is_none() {
            return Err(DeviceError::PinRequired);
        }
        let uv = uv_option(request.verification, pin, self.builtin_uv()?);
        let args = GetAssertionArgs {
            rpid: request.rp_id.clone(),
            challenge: request.challenge.to_vec(),
            pin,
            credential_ids: request.allow_list.clone(),
            up: request.presence,
            uv,
            extensions: None,
        };
        let started = Instant::now();
        let mut found = self
            .key
            .get_assertion_with_args(&args)
            .map_err(|e| self.error(&e, started))?;
        if found.is_empty() {
            return Err(DeviceError::NoCredentials);
        }
        let first = found.swap_remove(0);
        Ok(AssertionResponse {
            credential_id: (!first.credential_id.is_empty()).then_some(first.credential_id),
            auth_data: first.auth_data,
            signature: first.signature,
        })
    }
}

/// A getInfo option present and true (`clientPin`: a PIN is set; `uv`: built-in UV is ready).
fn is_option_on(options: &[(String, bool)], name: &str) -> bool {
    options.iter().any(|(n, on)| n == name && *on)
}

fn key_type(alg: CoseAlg) -> CredentialSupportedKeyType {
    match alg {
        CoseAlg::Es256 => CredentialSupportedKeyType::Ecdsa256,
        CoseAlg::EdDsa => CredentialSupportedKeyType::Ed25519,
    }
}

/// The `uv` option sent: a PIN verifies the user through pinAuth, and `uv: true` asks a key with
/// built-in UV for its own verification; left out otherwise (a key without built-in UV refuses
/// `uv: true`): the key then answers without the UV flag, and the core decides.
fn uv_option(verification: bool, pin: Option<&str>, builtin_uv: bool) -> Option<bool> {
    (verification && pin.is_none() && builtin_uv).then_some(true)
}

/// The longest error text of the crate's (or hidapi's) passed on, in characters.
const MESSAGE_MAX: usize = 200;

/// How long the crate's keep-alive loop runs before it gives up (500 reads, 100 ms apart), less
/// a margin: an error with a keep-alive's status after this long is a touch that never came.
const KEEPALIVE_GIVE_UP: Duration = Duration::from_secs(45);

/// A ctap-hid-fido2 error as a [`DeviceError`]. The crate reports a CTAP status as
/// `response_status err = 0x<hex> <name> ...`; when its keep-alive loop runs out it reports the
/// keep-alive's status the same way (0x1 processing, 0x2 waiting for a touch), which is told
/// from a real status by how long the request took. `PinInvalid` comes back without retries
/// (the caller asks the key for them).
/// The crate's error text may quote what the key sent: escaped and cut at [`MESSAGE_MAX`].
fn map_error(e: &anyhow::Error, elapsed: Duration) -> DeviceError {
    let raw = format!("{e:#}");
    let text = || Printable::upto(&raw, MESSAGE_MAX).to_string();
    let Some(status) = ctap_status(&raw) else {
        return DeviceError::Io(text());
    };
    match status {
        0x01 | 0x02 if elapsed >= KEEPALIVE_GIVE_UP => DeviceError::NoTouch,
        // CTAP2_ERR_USER_ACTION_TIMEOUT, CTAP2_ERR_ACTION_TIMEOUT
        0x2F | 0x3A => DeviceError::NoTouch,
        // CTAP2_ERR_NO_CREDENTIALS
        0x2E => DeviceError::NoCredentials,
        // CTAP2_ERR_CREDENTIAL_EXCLUDED
        0x19 => DeviceError::Excluded,
        // CTAP2_ERR_PIN_INVALID
        0x31 => DeviceError::PinInvalid { retries: None },
        // CTAP2_ERR_PIN_BLOCKED, CTAP2_ERR_PIN_AUTH_BLOCKED (until replugged)
        0x32 | 0x34 => DeviceError::PinBlocked,
        // CTAP2_ERR_PIN_REQUIRED, CTAP2_ERR_PUAT_REQUIRED
        0x36 => DeviceError::PinRequired,
        // CTAP2_ERR_UNSUPPORTED_ALGORITHM
        0x26 => DeviceError::Unsupported("none of the requested algorithms".into()),
        // CTAP2_ERR_UNSUPPORTED_OPTION, CTAP2_ERR_INVALID_OPTION
        0x2B | 0x2C => DeviceError::Unsupported(
            "an option asked for (a resident credential, user verification)".into(),
        ),
        // CTAP2_ERR_PIN_NOT_SET
        0x35 => DeviceError::Unsupported("no PIN is set on it".into()),
        _ => DeviceError::Io(text()),
    }
}

/// The CTAP status in one of the crate's `response_status err = 0x..` messages.
fn ctap_status(text: &str) -> Option<u8> {
    const MARK: &str = "response_status err = 0x";
    let rest = &text[text.find(MARK)? + MARK.len()..];
    let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    u8::from_str_radix(&hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_error(status: &str) -> anyhow::Error {
        anyhow::anyhow!("response_status err = {status}")
    }

    #[test]
    fn no_key_plugged_in_is_no_device() {
        // This machine has no USB: hidraw lists nothing.
        assert_eq!(open_all().err(), Some(DeviceError::NoDevice));
    }

    #[test]
    fn ctap_statuses_map_to_what_the_user_should_do() {
        let quick = Duration::from_millis(5);
        let cases = [
            (
                "0x2F CTAP2_ERR_USER_ACTION_TIMEOUT   Timeout",
                DeviceError::NoTouch,
            ),
            (
                "0x2E CTAP2_ERR_NO_CREDENTIALS    No valid",
                DeviceError::NoCredentials,
            ),
            ("0x19 CTAP2_ERR_CREDENTIAL_EXCLUDED", DeviceError::Excluded),
            (
                "0x31 CTAP2_ERR_PIN_INVALID   PIN Invalid.",
                DeviceError::PinInvalid { retries: None },
            ),
            (
                "0x32 CTAP2_ERR_PIN_BLOCKED PIN Blocked.",
                DeviceError::PinBlocked,
            ),
            ("0x34 CTAP2_ERR_PIN_AUTH_BLOCKED", DeviceError::PinBlocked),
            ("0x36 CTAP2_ERR_PIN_REQUIRED", DeviceError::PinRequired),
        ];
        for (text, expected) in cases {
            assert_eq!(map_error(&status_error(text), quick), expected, "{text}");
        }
        let other = map_error(&status_error("0x27 CTAP2_ERR_OPERATION_DENIED"), quick);
        assert!(matches!(other, DeviceError::Io(t) if t.contains("OPERATION_DENIED")));
        let plain = map_error(&anyhow::anyhow!("read err = 0xFE"), quick);
        assert_eq!(plain, DeviceError::Io("read err = 0xFE".into()));
    }

    #[test]
    fn what_the_device_names_itself_is_escaped_and_cut() {
        let found = |product: &str| HidInfo {
            pid: 0x0407,
            vid: 0x1050,
            product_string: product.into(),
            info: String::new(),
            param: HidParam::Path("/dev/hidraw3".into()),
        };
        assert_eq!(
            describe_found(&found("YubiKey 5 NFC")),
            "YubiKey 5 NFC at /dev/hidraw3"
        );
        assert_eq!(
            describe_found(&found("")),
            "security key 1050:0407 at /dev/hidraw3"
        );
        let hostile = describe_found(&found("Key\u{1b}]0;owned\u{7}\u{1b}[2J\r\nroot ok"));
        assert_eq!(
            hostile,
            "Key\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\r\\nroot ok at /dev/hidraw3"
        );
        assert!(!hostile.chars().any(char::is_control), "{hostile:?}");
        let long = describe_found(&found(&"K".repeat(1000)));
        assert_eq!(long, format!("{}… at /dev/hidraw3", "K".repeat(64)));

        let e = map_error(
            &anyhow::anyhow!("bad answer \u{1b}[31m{}", "x".repeat(500)),
            Duration::ZERO,
        );
        let DeviceError::Io(text) = e else {
            panic!("{e:?}");
        };
        assert!(text.starts_with("bad answer \\u{1b}[31m"), "{text}");
        assert!(
            text.ends_with('…') && text.len() < 2 * MESSAGE_MAX,
            "{text}"
        );
    }

    #[test]
    fn keepalive_status_is_no_touch_only_after_the_crate_gave_up_waiting() {
        let upneeded = status_error("0x2 CTAP1_ERR_INVALID_PARAMETER");
        assert_eq!(
            map_error(&upneeded, Duration::from_secs(50)),
            DeviceError::NoTouch
        );
        assert!(matches!(
            map_error(&upneeded, Duration::from_millis(20)),
            DeviceError::Io(_)
        ));
    }

    #[test]
    fn uv_is_asked_of_the_key_only_when_it_has_builtin_uv_and_no_pin_is_given() {
        assert_eq!(uv_option(true, None, true), Some(true));
        assert_eq!(uv_option(true, None, false), None);
        assert_eq!(uv_option(true, Some("1234"), true), None);
        assert_eq!(uv_option(false, None, true), None);
    }
}
