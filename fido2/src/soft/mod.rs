//! A software FIDO2 key for the tests: debug builds only (the module is
//! `#[cfg(debug_assertions)]`; a release build has none of it).
//!
//! It makes real credentials (ES256 with p256, EdDSA with ed25519-dalek), answers with
//! byte-exact CTAP2 authenticatorData, a `packed` self-attestation and real signatures, and
//! keeps its whole state in one JSON file ([`SoftState`]), read at each request and written
//! after each change, so every process of a test (the CLI, the PAM module under pamtester)
//! sees the same key. [`crate::open_all`] opens one per path of
//! `TESSERA_FIDO2_TEST_DEVICE=PATH[:PATH...]`.
//!
//! Like a USB key behind ctap-hid-fido2, it signs over SHA-256 of the request's
//! `challenge` ([`tessera_common::fido2::client_data_hash`]).
//!
//! Behaviour, beyond the knobs of [`SoftOptions`]:
//! - make_credential always waits for a touch; get_assertion when presence is asked. UP is set
//!   after the touch; UV whenever a correct PIN was given (as a CTAP2 key does for a valid
//!   pinUvAuthParam, asked for verification or not), or when verification is asked and the key
//!   has built-in UV; BE and BS as the options say.
//! - A key with a PIN wants it for make_credential unless it has built-in UV; get_assertion
//!   wants one (from any key) when the request says so, as the USB path does. A wrong PIN costs a retry (8 to start; 0: blocked); a
//!   right one resets them. A PIN given to a key without one is `Unsupported`.
//! - get_assertion with an allow list answers with the first listed credential it holds for the
//!   rp id; with none, with its newest resident credential for the rp id. Neither:
//!   `NoCredentials`, at once (without waiting for a touch).
//! - A resident credential replaces the key's older one for the same rp id and user handle. A
//!   listed excluded credential it holds for the rp id: `Excluded`, at once.
//! - No file locking: two requests to one key at the same time may lose one's update.

mod keys;
mod state;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera_common::fido2::{
    AssertionRequest, AssertionResponse, AttestationResponse, CoseAlg, CredentialRequest, PublicKey,
};

pub use keys::AAGUID;
use keys::{CredentialKey, FLAG_AT, FLAG_BE, FLAG_BS, FLAG_UP, FLAG_UV};
pub use state::{
    Counter, Failure, PIN_RETRIES, SoftAlg, SoftCredential, SoftOptions, SoftState, Touch,
};

use crate::{Device, DeviceError, DeviceInfo};
use tessera_common::fido2::client_data_hash;

/// One software key: the path of its state file.
#[derive(Debug, Clone)]
pub struct SoftKey {
    path: PathBuf,
}

impl SoftKey {
    /// The key whose state is in `path`; a new one (no credentials, default options) is written
    /// there when the file does not exist.
    pub fn open(path: impl Into<PathBuf>) -> Result<SoftKey, DeviceError> {
        let path = path.into();
        state::load_or_create(&path)?;
        Ok(SoftKey { path })
    }

    /// A new key in `path` with `options` and no credentials, replacing any key there.
    pub fn create(path: impl Into<PathBuf>, options: SoftOptions) -> Result<SoftKey, DeviceError> {
        let path = path.into();
        let state = SoftState {
            options,
            ..SoftState::default()
        };
        state::save(&path, &state)?;
        Ok(SoftKey { path })
    }

    /// The whole state of the key in `path` (created if absent).
    pub fn state(path: impl AsRef<Path>) -> Result<SoftState, DeviceError> {
        state::load_or_create(path.as_ref())
    }

    /// The credentials of the key in `path`, oldest first.
    pub fn credentials(path: impl AsRef<Path>) -> Result<Vec<SoftCredential>, DeviceError> {
        Ok(SoftKey::state(path)?.credentials)
    }

    /// Change the key in `path` (its options, a counter, the PIN retries) and write it back.
    pub fn update(
        path: impl AsRef<Path>,
        change: impl FnOnce(&mut SoftState),
    ) -> Result<(), DeviceError> {
        let path = path.as_ref();
        let mut state = state::load_or_create(path)?;
        change(&mut state);
        state::save(path, &state)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<SoftState, DeviceError> {
        state::load_or_create(&self.path)
    }

    fn save(&self, state: &SoftState) -> Result<(), DeviceError> {
        state::save(&self.path, state)
    }

    /// Check `pin` against the key's: `Ok(true)` verified, `Ok(false)` none given (and none
    /// `needed`). A wrong one costs a retry, written at once.
    fn check_pin(
        &self,
        state: &mut SoftState,
        pin: Option<&str>,
        needed: bool,
    ) -> Result<bool, DeviceError> {
        let Some(expected) = state.options.pin.clone() else {
            return match pin {
                Some(_) => Err(DeviceError::Unsupported("no PIN is set on it".into())),
                None => Ok(false),
            };
        };
        let Some(given) = pin else {
            return if needed {
                Err(DeviceError::PinRequired)
            } else {
                Ok(false)
            };
        };
        if state.pin_retries == 0 {
            return Err(DeviceError::PinBlocked);
        }
        if given == expected {
            if state.pin_retries != PIN_RETRIES {
                state.pin_retries = PIN_RETRIES;
                self.save(state)?;
            }
            return Ok(true);
        }
        state.pin_retries -= 1;
        self.save(state)?;
        match state.pin_retries {
            0 => Err(DeviceError::PinBlocked),
            n => Err(DeviceError::PinInvalid { retries: Some(n) }),
        }
    }
}

/// The software keys named by `paths` (`:`-separated, empty parts skipped), each opened (and
/// created if absent). `NoDevice` when it names none.
pub fn open_all(paths: &OsStr) -> Result<Vec<Box<dyn Device>>, DeviceError> {
    let mut keys: Vec<Box<dyn Device>> = Vec::new();
    for path in std::env::split_paths(paths) {
        if !path.as_os_str().is_empty() {
            keys.push(Box::new(SoftKey::open(path)?));
        }
    }
    if keys.is_empty() {
        return Err(DeviceError::NoDevice);
    }
    Ok(keys)
}

impl Device for SoftKey {
    fn describe(&self) -> String {
        format!("software key at {}", self.path.display())
    }

    fn info(&mut self) -> Result<DeviceInfo, DeviceError> {
        let state = self.load()?;
        Ok(DeviceInfo {
            pin_set: state.options.pin.is_some(),
            builtin_uv: state.options.uv,
        })
    }

    fn make_credential(
        &mut self,
        request: &CredentialRequest,
        pin: Option<&str>,
    ) -> Result<AttestationResponse, DeviceError> {
        let mut state = self.load()?;
        fail_as_told(&state)?;
        let needs_pin = !state.options.uv;
        let pin_verified = self.check_pin(&mut state, pin, needs_pin)?;
        let holds = |id: &Vec<u8>| {
            state
                .credentials
                .iter()
                .any(|c| c.rp_id == request.rp_id && &c.id == id)
        };
        if request.exclude_list.iter().any(holds) {
            return Err(DeviceError::Excluded);
        }
        let alg = request
            .algorithms
            .iter()
            .map(|a| SoftAlg::from(*a))
            .find(|a| state.options.algorithms.contains(a))
            .ok_or_else(|| DeviceError::Unsupported("none of the requested algorithms".into()))?;
        wait_for_touch(state.options.touch);

        let (key, secret) = CredentialKey::generate(alg)?;
        let id = keys::random::<32>()?.to_vec();
        let verified = user_verified(pin_verified, request.verification, &state.options);
        let flags = FLAG_UP | FLAG_AT | uv_flag(verified) | backup_flags(&state.options);
        let mut auth_data = keys::auth_data(&request.rp_id, flags, 0);
        auth_data.extend(keys::attested_credential_data(&id, &key.cose_key()?)?);
        let statement_sig = key.sign(&signed(&auth_data, &request.challenge));

        if request.resident {
            state.credentials.retain(|c| {
                !(c.resident && c.rp_id == request.rp_id && c.user_id == request.user_id)
            });
        }
        state.credentials.push(SoftCredential {
            id,
            rp_id: request.rp_id.clone(),
            user_id: request.user_id.clone(),
            user_name: request.user_name.clone(),
            alg,
            private_key: secret.to_vec(),
            sign_count: 0,
            resident: request.resident,
        });
        self.save(&state)?;
        Ok(AttestationResponse {
            format: "packed".into(),
            auth_data,
            statement_alg: Some(CoseAlg::from(alg).cose()),
            statement_sig,
            x5c: Vec::new(),
        })
    }

    fn get_assertion(
        &mut self,
        request: &AssertionRequest,
        pin: Option<&str>,
    ) -> Result<AssertionResponse, DeviceError> {
        let mut state = self.load()?;
        fail_as_told(&state)?;
        if request.pin && pin.is_none() {
            return Err(DeviceError::PinRequired);
        }
        let pin_verified = self.check_pin(&mut state, pin, false)?;
        let rp_id = &request.rp_id;
        let index = if request.allow_list.is_empty() {
            state
                .credentials
                .iter()
                .rposition(|c| c.resident && &c.rp_id == rp_id)
        } else {
            request.allow_list.iter().find_map(|id| {
                state
                    .credentials
                    .iter()
                    .position(|c| &c.rp_id == rp_id && &c.id == id)
            })
        };
        let index = index.ok_or(DeviceError::NoCredentials)?;
        if request.presence {
            wait_for_touch(state.options.touch);
        }

        let verified = user_verified(pin_verified, request.verification, &state.options);
        let flags = up_flag(request.presence) | uv_flag(verified) | backup_flags(&state.options);
        let counter = state.options.counter;
        let credential = &mut state.credentials[index];
        let sign_count = match counter {
            Counter::Increment => {
                credential.sign_count = credential.sign_count.saturating_add(1);
                credential.sign_count
            }
            Counter::Zero => 0,
            Counter::Fixed => credential.sign_count,
        };
        let key = CredentialKey::from_credential(credential)?;
        let credential_id = credential.id.clone();
        let auth_data = keys::auth_data(rp_id, flags, sign_count);
        let signature = key.sign(&signed(&auth_data, &request.challenge));
        self.save(&state)?;
        Ok(AssertionResponse {
            credential_id: Some(credential_id),
            auth_data,
            signature,
        })
    }
}

impl SoftCredential {
    /// The credential's public key, as the core stores it.
    pub fn public_key(&self) -> Result<PublicKey, DeviceError> {
        Ok(CredentialKey::from_credential(self)?.public_key())
    }
}

/// What is signed: authenticatorData ‖ the clientDataHash ctap-hid-fido2 would have sent.
fn signed(auth_data: &[u8], challenge: &[u8; 32]) -> Vec<u8> {
    let mut message = auth_data.to_vec();
    message.extend_from_slice(&client_data_hash(challenge));
    message
}

/// The UV flag: a correct PIN verified the user (CTAP2 keys set UV for any valid
/// pinUvAuthParam), or the key's built-in UV did, asked for.
fn user_verified(pin_verified: bool, asked: bool, options: &SoftOptions) -> bool {
    pin_verified || (asked && options.uv)
}

fn up_flag(present: bool) -> u8 {
    if present { FLAG_UP } else { 0 }
}

fn uv_flag(verified: bool) -> u8 {
    if verified { FLAG_UV } else { 0 }
}

fn backup_flags(options: &SoftOptions) -> u8 {
    let be = if options.backup_eligible { FLAG_BE } else { 0 };
    let bs = if options.backup_state { FLAG_BS } else { 0 };
    be | bs
}

/// The touch: at once, after a delay, or never (the caller's deadline abandons this thread).
fn wait_for_touch(touch: Touch) {
    match touch {
        Touch::Yes => {}
        Touch::DelayMs(ms) => std::thread::sleep(Duration::from_millis(ms)),
        Touch::Never => loop {
            std::thread::sleep(Duration::from_millis(100));
        },
    }
}

/// The `fail` knob.
fn fail_as_told(state: &SoftState) -> Result<(), DeviceError> {
    let Some(failure) = state.options.fail else {
        return Ok(());
    };
    Err(match failure {
        Failure::PinRequired => DeviceError::PinRequired,
        Failure::PinInvalid => DeviceError::PinInvalid {
            retries: Some(state.pin_retries),
        },
        Failure::PinBlocked => DeviceError::PinBlocked,
        Failure::NoTouch => DeviceError::NoTouch,
        Failure::NoCredentials => DeviceError::NoCredentials,
        Failure::Excluded => DeviceError::Excluded,
        Failure::Unsupported => DeviceError::Unsupported("the test key was told to refuse".into()),
        Failure::Io => DeviceError::Io("the test key was told to fail".into()),
        #[allow(clippy::panic, reason = "the knob simulates ctap-hid-fido2 panicking")]
        Failure::Panic => panic!("the test key was told to panic"),
    })
}

#[cfg(test)]
mod tests;
