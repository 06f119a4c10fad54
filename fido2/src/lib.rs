//! The device seam for FIDO2 keys. The core ([`tessera_common::fido2`]) builds every request and
//! checks every answer; this crate only carries them to a key and back.
//!
//! - [`Device`]: one key; [`open_all`] finds every key plugged in. [`hid`] reaches USB keys
//!   through ctap-hid-fido2.
//! - [`with_deadline`]: device reads block without a timeout; every call runs on a worker thread
//!   and the caller stops waiting at its deadline.
//!
//! # What a key signs
//!
//! ctap-hid-fido2 has no call that takes a clientDataHash: it takes a "challenge" and sends the
//! key SHA-256(challenge) as the clientDataHash. Every device here is handed the request's
//! `challenge` as that, so what a key signs is `authenticatorData ‖ SHA-256(challenge)`, the
//! core's contract ([`tessera_common::fido2::client_data_hash`]), the same for a USB key and for
//! the software key.
//!
//! # The software key (debug builds only)
//!
//! In a debug build, `TESSERA_FIDO2_TEST_DEVICE=PATH[:PATH...]` (set and not empty) makes
//! [`open_all`] return software keys instead of USB keys, one per path, each with its whole state
//! (credentials and their private keys, counters, PIN, behaviour knobs) in that JSON file: the
//! `soft` module, for the tests (this machine has no USB). A release build has no software key
//! at all: the module and every path that selects it are `#[cfg(debug_assertions)]`, and the
//! variable is then ignored.
//!
//! The variable is also ignored, and the USB keys used, in a process whose real user or group
//! differs from its effective one (a setuid or setgid program such as sudo, with a debug build
//! of the PAM module in its stack): the software key creates and writes the file the variable
//! names, and the environment there is the calling user's, who would make root write a file
//! of their choosing.
#![forbid(unsafe_code)]

pub mod hid;
mod race;
#[cfg(debug_assertions)]
pub mod soft;

pub use race::{Judged, first_answer, on_each};

use std::time::Duration;

use tessera_common::fido2::{
    AssertionRequest, AssertionResponse, AttestationResponse, CredentialRequest,
};

/// What a key can do, as far as the request needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// A PIN is set on the key.
    pub pin_set: bool,
    /// The key verifies its user itself (a fingerprint), without a PIN from the host.
    pub builtin_uv: bool,
}

impl DeviceInfo {
    /// The key verifies its user with a PIN from the host: it has one and no fingerprint reader.
    pub fn pin_verifies(&self) -> bool {
        self.pin_set && !self.builtin_uv
    }
}

/// Why a key did not answer. Each says what the user should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("no FIDO2 security key found (plug one in)")]
    NoDevice,
    #[error("the security key needs its PIN")]
    PinRequired,
    #[error("wrong PIN for the security key{}", match .retries { Some(n) => format!(" ({n} tries left before it locks)"), None => String::new() })]
    PinInvalid { retries: Option<u32> },
    #[error(
        "the security key's PIN is blocked (reset the key, or unplug and replug it if it says so)"
    )]
    PinBlocked,
    #[error("the security key was not touched in time")]
    NoTouch,
    #[error("this security key holds none of your credentials")]
    NoCredentials,
    #[error("this security key already holds a credential for this account")]
    Excluded,
    #[error("the security key cannot do this: {0}")]
    Unsupported(String),
    #[error("the security key failed: {0}")]
    Io(String),
}

/// One FIDO2 key. Every implementation hands the request's `challenge` to the key the way
/// ctap-hid-fido2 does, so the key signs `authenticatorData ‖ SHA-256(challenge)`.
pub trait Device: Send {
    /// How to name the key to its user ("YubiKey 5 NFC at /dev/hidraw3").
    fn describe(&self) -> String;
    fn info(&mut self) -> Result<DeviceInfo, DeviceError>;
    /// authenticatorMakeCredential.
    fn make_credential(
        &mut self,
        request: &CredentialRequest,
        pin: Option<&str>,
    ) -> Result<AttestationResponse, DeviceError>;
    /// authenticatorGetAssertion: the first assertion (a resident request may find several; the
    /// core checks whichever comes back).
    fn get_assertion(
        &mut self,
        request: &AssertionRequest,
        pin: Option<&str>,
    ) -> Result<AssertionResponse, DeviceError>;
}

/// Run `f` on a worker thread and wait at most `deadline` for it. `None`: it did not finish in
/// time (the thread is left to end on its own) or it panicked.
pub fn with_deadline<T: Send + 'static>(
    deadline: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("tessera-fido2".into())
        .spawn(move || {
            if let Ok(v) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                let _ = tx.send(v);
            }
        })
        .ok()?;
    rx.recv_timeout(deadline).ok()
}

/// The environment variable that selects software keys in a debug build (ignored in a release
/// build).
pub const TEST_DEVICE_ENV: &str = "TESSERA_FIDO2_TEST_DEVICE";

/// Every FIDO2 key plugged in, each ready for one request. `NoDevice` when there is none.
///
/// In a debug build with [`TEST_DEVICE_ENV`] set and not empty: the software keys it names,
/// whatever is plugged in; unless the process runs setuid or setgid (see the crate doc).
pub fn open_all() -> Result<Vec<Box<dyn Device>>, DeviceError> {
    #[cfg(debug_assertions)]
    if let Some(paths) = soft_paths(std::env::var_os(TEST_DEVICE_ENV), &Ids::of_process()) {
        return soft::open_all(&paths);
    }
    hid::open_all()
}

/// The real and effective user and group ids of a process.
#[cfg(debug_assertions)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ids {
    uid: u32,
    euid: u32,
    gid: u32,
    egid: u32,
    /// The kernel's AT_SECURE: the program gained privileges at exec (setuid, setgid, file
    /// capabilities), whatever the ids say now.
    secure: bool,
}

#[cfg(debug_assertions)]
impl Ids {
    fn of_process() -> Ids {
        use rustix::process::{getegid, geteuid, getgid, getuid};
        Ids {
            uid: getuid().as_raw(),
            euid: geteuid().as_raw(),
            gid: getgid().as_raw(),
            egid: getegid().as_raw(),
            // Unreadable: assume the worst.
            secure: std::fs::read("/proc/self/auxv").map_or(true, |a| at_secure(&a)),
        }
    }

    /// Setuid, setgid or otherwise privileged at exec: the environment is another user's, not
    /// to be trusted with paths.
    fn privileged(&self) -> bool {
        self.uid != self.euid || self.gid != self.egid || self.secure
    }
}

/// AT_SECURE in an auxiliary vector (`/proc/self/auxv`: native-endian word pairs, type then
/// value, ending at AT_NULL). Not found: not secure.
#[cfg(debug_assertions)]
fn at_secure(auxv: &[u8]) -> bool {
    const AT_NULL: usize = 0;
    const AT_SECURE: usize = 23;
    const WORD: usize = std::mem::size_of::<usize>();
    let word = |b: &[u8]| b.try_into().map(usize::from_ne_bytes).unwrap_or(AT_NULL);
    for pair in auxv.chunks_exact(2 * WORD) {
        match word(&pair[..WORD]) {
            AT_NULL => break,
            AT_SECURE => return word(&pair[WORD..]) != 0,
            _ => {}
        }
    }
    false
}

/// The value of [`TEST_DEVICE_ENV`] when it selects software keys: set, not empty, and the
/// process neither setuid nor setgid.
#[cfg(debug_assertions)]
fn soft_paths(var: Option<std::ffi::OsString>, ids: &Ids) -> Option<std::ffi::OsString> {
    var.filter(|v| !v.is_empty() && !ids.privileged())
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[test]
    fn the_test_key_variable_is_ignored_when_setuid_or_setgid() {
        let ids = |uid, euid, gid, egid| Ids {
            uid,
            euid,
            gid,
            egid,
            secure: false,
        };
        let var = || Some(std::ffi::OsString::from("/tmp/key.json"));
        let plain = ids(1000, 1000, 1000, 1000);
        assert_eq!(soft_paths(var(), &plain), var());
        assert_eq!(soft_paths(var(), &ids(0, 0, 0, 0)), var(), "root itself");
        assert_eq!(soft_paths(None, &plain), None);
        assert_eq!(soft_paths(Some("".into()), &plain), None);
        for setid in [
            ids(1000, 0, 1000, 1000),
            ids(1000, 1000, 1000, 0),
            ids(1000, 0, 1000, 0),
            ids(0, 1000, 0, 0),
            ids(1000, 1000, 1000, 42),
        ] {
            assert_eq!(soft_paths(var(), &setid), None, "{setid:?}");
        }
        // Privileged at exec with equal ids (file capabilities; sudo leaving the real gid).
        let caps = Ids {
            secure: true,
            ..plain
        };
        assert_eq!(soft_paths(var(), &caps), None);
    }

    #[test]
    fn at_secure_is_read_from_the_auxiliary_vector() {
        let vector = |pairs: &[(usize, usize)]| -> Vec<u8> {
            pairs
                .iter()
                .flat_map(|(t, v)| [t.to_ne_bytes(), v.to_ne_bytes()].concat())
                .collect()
        };
        assert!(at_secure(&vector(&[(6, 4096), (23, 1), (0, 0)])));
        assert!(!at_secure(&vector(&[(6, 4096), (23, 0), (0, 0)])));
        assert!(
            !at_secure(&vector(&[(6, 4096), (0, 0), (23, 1)])),
            "after AT_NULL"
        );
        assert!(!at_secure(&[]));
        // This test process is not privileged.
        let me = Ids::of_process();
        assert!(!me.secure, "{me:?}");
    }
}
