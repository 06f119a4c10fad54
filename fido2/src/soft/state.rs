//! A software key's whole state, as the JSON file keeps it.
//!
//! ```json
//! { "options": { "touch": "yes", "uv": false, "pin": "1234", "counter": "increment",
//!                "backup_eligible": false, "backup_state": false, "fail": null,
//!                "algorithms": ["es256", "eddsa"] },
//!   "pin_retries": 8,
//!   "credentials": [ { "id": "9f…", "rp_id": "pam://host", "user_id": "…", "user_name": "alice",
//!                      "alg": "es256", "private_key": "…", "sign_count": 3, "resident": false } ] }
//! ```
//!
//! Every field may be left out (its default is used); an unknown field is an error. Bytes are
//! lowercase hex.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tessera_common::fido2::CoseAlg;

use crate::DeviceError;

/// A new key's PIN retries, as CTAP2 keys start.
pub const PIN_RETRIES: u32 = 8;

/// Everything a software key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SoftState {
    pub options: SoftOptions,
    /// PIN tries left; 0: the PIN is blocked.
    pub pin_retries: u32,
    /// Oldest first.
    pub credentials: Vec<SoftCredential>,
}

impl Default for SoftState {
    fn default() -> Self {
        SoftState {
            options: SoftOptions::default(),
            pin_retries: PIN_RETRIES,
            credentials: Vec::new(),
        }
    }
}

/// How a software key behaves: the knobs the tests turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SoftOptions {
    /// What happens when the key asks for a touch.
    pub touch: Touch,
    /// The key verifies its user itself (a fingerprint): UV without a PIN.
    pub uv: bool,
    /// The key's PIN, if one is set.
    pub pin: Option<String>,
    pub counter: Counter,
    /// The BE flag in every authenticatorData.
    pub backup_eligible: bool,
    /// The BS flag in every authenticatorData.
    pub backup_state: bool,
    /// Every make_credential and get_assertion fails so (info still answers).
    pub fail: Option<Failure>,
    /// The algorithms it can make credentials with.
    pub algorithms: Vec<SoftAlg>,
}

impl Default for SoftOptions {
    fn default() -> Self {
        SoftOptions {
            touch: Touch::Yes,
            uv: false,
            pin: None,
            counter: Counter::Increment,
            backup_eligible: false,
            backup_state: false,
            fail: None,
            algorithms: vec![SoftAlg::Es256, SoftAlg::Eddsa],
        }
    }
}

/// The user's touch. In the file: `"yes"`, `"never"`, or a delay in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TouchRepr", into = "TouchRepr")]
pub enum Touch {
    /// At once.
    Yes,
    /// Never: the request blocks until its caller gives up waiting (and the thread is left).
    Never,
    /// After this many milliseconds.
    DelayMs(u64),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum TouchRepr {
    Word(String),
    DelayMs(u64),
}

impl TryFrom<TouchRepr> for Touch {
    type Error = String;

    fn try_from(repr: TouchRepr) -> Result<Self, Self::Error> {
        match repr {
            TouchRepr::Word(w) if w == "yes" => Ok(Touch::Yes),
            TouchRepr::Word(w) if w == "never" => Ok(Touch::Never),
            TouchRepr::Word(w) => Err(format!(
                "touch must be \"yes\", \"never\" or milliseconds, not {w:?}"
            )),
            TouchRepr::DelayMs(ms) => Ok(Touch::DelayMs(ms)),
        }
    }
}

impl From<Touch> for TouchRepr {
    fn from(touch: Touch) -> Self {
        match touch {
            Touch::Yes => TouchRepr::Word("yes".into()),
            Touch::Never => TouchRepr::Word("never".into()),
            Touch::DelayMs(ms) => TouchRepr::DelayMs(ms),
        }
    }
}

/// The signature counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Counter {
    /// One more for each assertion, per credential (a new credential reports 0).
    Increment,
    /// Always 0: a key that keeps no counter.
    Zero,
    /// The stored value, never incremented: a clone replaying what it copied.
    Fixed,
}

/// An error the key returns for every request, whatever it is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    PinRequired,
    /// With the key's `pin_retries`.
    PinInvalid,
    PinBlocked,
    NoTouch,
    NoCredentials,
    Excluded,
    Unsupported,
    Io,
    /// The request panics, as ctap-hid-fido2 can: for the callers' `catch_unwind`.
    Panic,
}

/// The algorithms of a software key's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SoftAlg {
    Es256,
    Eddsa,
}

impl From<CoseAlg> for SoftAlg {
    fn from(alg: CoseAlg) -> Self {
        match alg {
            CoseAlg::Es256 => SoftAlg::Es256,
            CoseAlg::EdDsa => SoftAlg::Eddsa,
        }
    }
}

impl From<SoftAlg> for CoseAlg {
    fn from(alg: SoftAlg) -> Self {
        match alg {
            SoftAlg::Es256 => CoseAlg::Es256,
            SoftAlg::Eddsa => CoseAlg::EdDsa,
        }
    }
}

/// One credential the key made, with its private key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftCredential {
    #[serde(with = "hex")]
    pub id: Vec<u8>,
    pub rp_id: String,
    #[serde(with = "hex")]
    pub user_id: Vec<u8>,
    pub user_name: String,
    pub alg: SoftAlg,
    /// The P-256 scalar or the Ed25519 seed (32 bytes).
    #[serde(with = "hex")]
    pub private_key: Vec<u8>,
    /// The last counter value it signed with.
    pub sign_count: u32,
    /// Discoverable: found by rp id alone.
    pub resident: bool,
}

impl fmt::Debug for SoftCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SoftCredential {
            id,
            rp_id,
            user_id,
            user_name,
            alg,
            private_key: _,
            sign_count,
            resident,
        } = self;
        f.debug_struct("SoftCredential")
            .field("id", &hex::encode(id))
            .field("rp_id", rp_id)
            .field("user_id", &hex::encode(user_id))
            .field("user_name", user_name)
            .field("alg", alg)
            .field("sign_count", sign_count)
            .field("resident", resident)
            .finish_non_exhaustive()
    }
}

/// The state in `path`; a new key (written there, mode 0600) when the file does not exist.
pub fn load_or_create(path: &Path) -> Result<SoftState, DeviceError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| DeviceError::Io(format!("software key {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let state = SoftState::default();
            save(path, &state)?;
            Ok(state)
        }
        Err(e) => Err(DeviceError::Io(format!(
            "software key {}: {e}",
            path.display()
        ))),
    }
}

/// Replace the state in `path` at once (a new file, mode 0600, renamed over the old one).
pub fn save(path: &Path, state: &SoftState) -> Result<(), DeviceError> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let io = |e: std::io::Error| DeviceError::Io(format!("software key {}: {e}", path.display()));
    let mut text = serde_json::to_vec_pretty(state)
        .map_err(|e| DeviceError::Io(format!("software key {}: {e}", path.display())))?;
    text.push(b'\n');
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let temporary = Path::new(&temporary);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temporary)
        .and_then(|mut file| file.write_all(&text))
        .and_then(|()| std::fs::rename(temporary, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(temporary);
        return Err(io(e));
    }
    Ok(())
}

/// Bytes as lowercase hex in the file.
pub(crate) mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn encode(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect()
    }

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        decode(&text).ok_or_else(|| serde::de::Error::custom(format!("not hex: {text:?}")))
    }
}
