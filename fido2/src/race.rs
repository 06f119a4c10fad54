//! Asking several keys at once: the first answer the caller accepts wins.

use std::sync::mpsc;
use std::time::Instant;

use crate::{Device, DeviceError};

/// What the caller makes of an answer, as it comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Judged {
    /// Not the user's key speaking: kept only when nothing better comes.
    Useless,
    /// The user's key, refused: kept for the caller to refuse (once) when nothing verifies.
    Refused,
    /// Take it: the wait ends.
    Take,
}

/// Run `ask` on every device, each on a thread of its own, and return the first answer that
/// `judge` takes (checked here, on the caller's thread, as answers come in). When none is taken
/// by the time every device has answered or `deadline` passed: the first of the best judged
/// (a refused answer of the user's key before a useless one), else the last failure
/// (`NoTouch` at the deadline). So a key
/// that answers at once with something useless (another user's key, a broken or hostile
/// device) does not cut short the wait for the user's own key. A thread still waiting for its
/// key at the deadline is left to end on its own.
pub fn first_answer<T, F, A>(
    devices: Vec<Box<dyn Device>>,
    deadline: Instant,
    ask: F,
    mut judge: A,
) -> Result<T, DeviceError>
where
    T: Send + 'static,
    F: Fn(&mut dyn Device) -> Result<T, DeviceError> + Send + Sync + 'static,
    A: FnMut(&T) -> Judged,
{
    if devices.is_empty() {
        return Err(DeviceError::NoDevice);
    }
    let ask = std::sync::Arc::new(ask);
    let (tx, rx) = mpsc::channel::<Result<T, DeviceError>>();
    let count = devices.len();
    for mut device in devices {
        let (worker_tx, ask) = (tx.clone(), ask.clone());
        let spawned = std::thread::Builder::new()
            .name("tessera-key".into())
            .spawn(move || {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ask(device.as_mut())))
                        .unwrap_or_else(|_| Err(DeviceError::Io("the key's driver failed".into())));
                let _ = worker_tx.send(result);
            });
        if spawned.is_err() {
            let _ = tx.send(Err(DeviceError::Io("cannot start a thread".into())));
        }
    }
    drop(tx);
    let mut last = DeviceError::NoTouch;
    let mut kept: Option<(Judged, T)> = None;
    for _ in 0..count {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(v)) => match judge(&v) {
                Judged::Take => return Ok(v),
                j if kept.as_ref().is_none_or(|(k, _)| j > *k) => kept = Some((j, v)),
                _ => {}
            },
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = DeviceError::NoTouch;
                break;
            }
        }
    }
    kept.map(|(_, v)| v).ok_or(last)
}

/// Run `ask` on every device at once, each on a thread of its own, and give back each device
/// with its result, for those that finished by `deadline` (a device still busy then, or one
/// whose driver panicked, is left out: it cannot keep the others from being used).
pub fn on_each<T, F>(
    devices: Vec<Box<dyn Device>>,
    deadline: Instant,
    ask: F,
) -> Vec<(Box<dyn Device>, T)>
where
    T: Send + 'static,
    F: Fn(&mut dyn Device) -> T + Send + Sync + 'static,
{
    let ask = std::sync::Arc::new(ask);
    let (tx, rx) = mpsc::channel::<(Box<dyn Device>, T)>();
    let count = devices.len();
    for mut device in devices {
        let (tx, ask) = (tx.clone(), ask.clone());
        let _ = std::thread::Builder::new()
            .name("tessera-key".into())
            .spawn(move || {
                let found =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ask(device.as_mut())));
                if let Ok(v) = found {
                    let _ = tx.send((device, v));
                }
            });
    }
    drop(tx);
    let mut out = Vec::new();
    for _ in 0..count {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(found) => out.push(found),
            Err(_) => break,
        }
    }
    out
}
