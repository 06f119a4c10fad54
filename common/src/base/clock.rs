//! Time as a parameter: production code asks a [`Clock`], tests use [`FixedClock`].

#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system clock. A clock set before 1970 reads as 0, which matches no current code.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock that reads what the test set.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct FixedClock(AtomicU64);

#[cfg(any(test, feature = "testing"))]
impl FixedClock {
    pub fn new(now: u64) -> Self {
        FixedClock(AtomicU64::new(now))
    }

    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
