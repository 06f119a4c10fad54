//! Places for mails being sent: at most `workers` at once, taken only around the SMTP send
//! itself. A send that finds every place taken fails at once ([`MailError::Overloaded`]: the core
//! tells the user the mail failed and cancels the code) instead of waiting, so however long
//! SMTP servers hang, a worker thread never waits for a mail place, no other request waits
//! behind one, and the requests stuck in SMTP are at most `workers` (the pool has
//! [`crate::server::NO_MAIL_THREADS`] more threads).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tessera_common::{MailError, Mailer, SmsError, Texter};

/// Mails being sent, at most `max`; kept across reloads.
pub struct Places {
    busy: AtomicUsize,
    max: usize,
}

/// A mail place; dropping it frees the place.
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Places {
    pub fn new(max: usize) -> Places {
        Places {
            busy: AtomicUsize::new(0),
            max: max.max(1),
        }
    }

    fn take(&self) -> Option<Place<'_>> {
        self.busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Place(&self.busy))
    }
}

/// `inner`, with a place taken around each send.
pub struct Bounded {
    inner: Arc<dyn Mailer>,
    places: Arc<Places>,
}

impl Bounded {
    pub fn new(inner: Arc<dyn Mailer>, places: Arc<Places>) -> Bounded {
        Bounded { inner, places }
    }
}

impl Mailer for Bounded {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let Some(_place) = self.places.take() else {
            return Err(MailError::Overloaded(self.places.max));
        };
        self.inner.send(to, subject, body)
    }
}

/// A texter that takes one of the same places around each send: a gateway that hangs holds
/// workers no longer than a mail server does.
pub struct BoundedTexter {
    inner: Arc<dyn Texter>,
    places: Arc<Places>,
}

impl BoundedTexter {
    pub fn new(inner: Arc<dyn Texter>, places: Arc<Places>) -> BoundedTexter {
        BoundedTexter { inner, places }
    }
}

impl Texter for BoundedTexter {
    fn send(&self, number: &str, message: &str) -> Result<(), SmsError> {
        let Some(_place) = self.places.take() else {
            return Err(SmsError::Unavailable(format!(
                "not sent: {} codes are being sent already (the most at once)",
                self.places.max
            )));
        };
        self.inner.send(number, message)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Barrier, Mutex};

    use super::*;

    /// Blocks in `send` until released, like an SMTP server that hangs.
    struct Hanging {
        entered: Barrier,
        release: Mutex<()>,
    }

    impl Mailer for Hanging {
        fn send(&self, _: &str, _: &str, _: &str) -> Result<(), MailError> {
            self.entered.wait();
            let _released = self.release.lock();
            Ok(())
        }
    }

    #[test]
    fn a_send_past_the_places_fails_at_once_and_a_place_comes_back_after_a_send() {
        let hanging = Arc::new(Hanging {
            entered: Barrier::new(2),
            release: Mutex::new(()),
        });
        let held = hanging.release.lock().unwrap();
        let places = Arc::new(Places::new(1));
        let mailer = Arc::new(Bounded::new(hanging.clone(), places.clone()));
        let m = mailer.clone();
        let first = std::thread::spawn(move || m.send("a@example.com", "s", "b"));
        hanging.entered.wait();
        // The one place is taken by a send that hangs: the next fails without waiting.
        assert!(matches!(
            mailer.send("b@example.com", "s", "b"),
            Err(MailError::Overloaded(1))
        ));
        drop(held);
        first.join().unwrap().unwrap();
        // Its place is free again.
        let m = mailer.clone();
        let again = std::thread::spawn(move || m.send("c@example.com", "s", "b"));
        hanging.entered.wait();
        again.join().unwrap().unwrap();
    }
}
