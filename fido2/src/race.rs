//! Asking several keys at once: the first answer the caller accepts wins.

use std::sync::mpsc;
use std::time::Instant;

use crate::{Device, DeviceError};

/// Run `ask` on every device, each on a thread of its own, and return the first answer that
/// `accept` takes (checked here, on the caller's thread, as answers come in). When none is taken
/// by the time every device has answered or `deadline` passed: the first answer that came (for
/// the caller to refuse, once), else the last failure (`NoTouch` at the deadline). So a key
/// that answers at once with something useless (another user's key, a broken or hostile
/// device) does not cut short the wait for the user's own key. A thread still waiting for its
/// key at the deadline is left to end on its own.
pub fn first_answer<T, F, A>(
    devices: Vec<Box<dyn Device>>,
    deadline: Instant,
    ask: F,
    mut accept: A,
) -> Result<T, DeviceError>
where
    T: Send + 'static,
    F: Fn(&mut dyn Device) -> Result<T, DeviceError> + Send + Sync + 'static,
    A: FnMut(&T) -> bool,
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
    let mut refused: Option<T> = None;
    for _ in 0..count {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(v)) if accept(&v) => return Ok(v),
            Ok(Ok(v)) => {
                refused.get_or_insert(v);
            }
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = DeviceError::NoTouch;
                break;
            }
        }
    }
    refused.ok_or(last)
}
