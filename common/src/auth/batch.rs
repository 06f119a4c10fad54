//! Group commit for a burst of quick decisions (the RADIUS server's `otp-only` storm): many
//! logins decided in one store transaction, so the store writes and syncs once per burst, and
//! one connection's page cache stays warm for all of them.
//!
//! Only quick work belongs in a batch: the store's write lock is held throughout, so an Argon2
//! evaluation (a recovery code) or a mail (a request for an e-mailed code) would hold up every
//! other login, here and in other processes. [`Authenticator::answer_is_quick`] tells them apart.

use std::cell::RefCell;

use super::{Authenticator, email};
use crate::audit::{AuditEvent, AuditResult};
use crate::error::CoreError;
use crate::factor::recovery;

thread_local! {
    /// Audit events of decisions in this thread's open batch: reported only once it committed.
    static DEFERRED: RefCell<Option<Vec<AuditEvent>>> = const { RefCell::new(None) };
}

/// Clears the deferred events when the batch ends, a panic included.
struct Deferring;

impl Drop for Deferring {
    fn drop(&mut self) {
        DEFERRED.with(|d| d.borrow_mut().take());
    }
}

impl Authenticator {
    /// Run `f`, which makes decisions with [`Authenticator::begin`] and
    /// [`Authenticator::answer`] on this thread, as one store transaction. `Ok` carries what `f`
    /// returned, and only then are its outcomes real: on `Err` nothing was kept (no code was
    /// consumed, no failure counted, no audit row written) and the front-end must deny every
    /// login decided inside and report the error for each (see [`Authenticator::report_error`]).
    /// Syslog lines for the decisions are sent once the batch committed.
    pub fn batch<R>(&self, f: impl FnOnce() -> R) -> Result<R, CoreError> {
        if DEFERRED.with(|d| d.borrow().is_some()) {
            // Nested: part of the outer batch.
            return Ok(f());
        }
        DEFERRED.with(|d| *d.borrow_mut() = Some(Vec::new()));
        let _deferring = Deferring;
        let mut f = Some(f);
        let mut out = None;
        let result = self.store.batch(&mut || {
            if let Some(f) = f.take() {
                out = Some(f());
            }
        });
        let events = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
        result?;
        for event in &events {
            self.sink.record(event);
        }
        out.ok_or_else(|| CoreError::Corrupt("batch did not run".into()))
    }

    /// [`Authenticator::report_error`] for every login of a batch that could not commit: the
    /// audit rows go in one store transaction (one wait on a locked store, not one per login;
    /// best effort, the store is likely what failed), and every event goes to the sink.
    pub fn report_batch_error(&self, requests: &[super::LoginRequest], error: &CoreError) {
        let events: Vec<AuditEvent> = requests
            .iter()
            .map(|r| self.error_event(r, error))
            .collect();
        let _ = self.store.batch(&mut || {
            for event in &events {
                if self.store.append_audit(event).is_err() {
                    break;
                }
            }
        });
        for event in &events {
            self.sink.record(event);
        }
    }

    /// Whether an answer where a code alone is expected can be decided without slow work, so
    /// that it may be decided inside a [`Authenticator::batch`]: not a request for an e-mailed
    /// code (a mail), not shaped like a recovery code (an Argon2 evaluation, made even for users
    /// without recovery codes), and not an answer that must carry the user's password.
    /// `first_factor` is how far the first factor is proven when the answer arrives: the
    /// request's for the first answer of a login, [`super::FirstFactor::Proven`] for the
    /// answer to a challenge (one is sent only past the first factor). With
    /// [`super::FirstFactor::Password`] the answer is checked as a password first, with Argon2
    /// (an `SCRV1:` answer's password, or a dummy evaluation for an answer without one).
    pub fn answer_is_quick(&self, first_factor: super::FirstFactor, answer: &str) -> bool {
        match first_factor {
            super::FirstFactor::Password => return false,
            super::FirstFactor::Proven | super::FirstFactor::Unproven => {}
        }
        // An unenrolled user may be mid-enrollment (a mail, Argon2 for recovery codes): with
        // enrollment at login on, nothing is decided inside a batch.
        if self.config.policy.enroll_at_login != crate::config::EnrollAtLogin::Off {
            return false;
        }
        let code = super::split::parse_scrv1(answer);
        let answer = code.as_ref().map_or(answer, |(_, c)| c.as_str()).trim();
        !email::is_send_request(answer) && recovery::normalize(answer).is_none()
    }

    /// Report an audit event to the sink now, or when the open batch commits. Every decision
    /// comes through here: where the process has not taken housekeeping over (the PAM module),
    /// the audit retention runs now and then ([`Authenticator::prune_sometimes`]).
    pub(super) fn record(&self, event: &AuditEvent) {
        let deferred = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
            Some(events) => {
                events.push(event.clone());
                true
            }
            None => false,
        });
        if !deferred {
            self.sink.record(event);
            // Not after an error: the store may be what failed.
            if event.result != AuditResult::Error {
                self.prune_sometimes();
            }
        }
    }
}
