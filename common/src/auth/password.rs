//! The first factor Tessera checks itself: the user's RADIUS password (Argon2id), counted as in
//! flight before the work and settled after, so parallel checks cannot pass the throttle.

use super::{Authenticator, Login, Outcome, Reject};
use crate::audit::AuditResult;
use crate::error::CoreError;
use crate::factor::password;

impl Authenticator {
    /// Check the user's Tessera password against `candidates`, spending `evaluations` Argon2
    /// evaluations whatever happens. `Err(outcome)`: the login ends there (throttled, or a wrong
    /// password, counted).
    pub(super) fn first_factor(
        &self,
        login: &mut Login,
        candidates: &[&str],
        evaluations: usize,
    ) -> Result<Result<Option<usize>, Outcome>, CoreError> {
        self.check_password(login, Some(candidates), evaluations)
    }

    /// [`Authenticator::first_factor`]; `None`: the answer carried no password, which is
    /// refused like a wrong one, with the same work (dummy evaluations, as for a user without
    /// a password) and the same counting.
    pub(super) fn check_password(
        &self,
        login: &mut Login,
        candidates: Option<&[&str]>,
        evaluations: usize,
    ) -> Result<Result<Option<usize>, Outcome>, CoreError> {
        // Counted as in flight before the check, in the transaction that found the name not
        // throttled: checks running in parallel cannot get past the limit.
        let begun = match self.begin_first_factor(login)? {
            Ok(begun) => begun,
            Err(until) => return Ok(Err(self.refuse(login, Reject::Throttled { until }))),
        };
        let (phc, candidates) = match candidates {
            Some(c) => (
                login
                    .data
                    .as_ref()
                    .and_then(|d| d.user.password_hash.as_ref())
                    .map(|p| p.expose().as_str()),
                c,
            ),
            None => (None, &[][..]),
        };
        let found = match password::check(phc, candidates, evaluations, &self.config.argon2) {
            Ok(f) => f,
            Err(e) => {
                // Could not decide: the check counts as a failure (fail closed).
                let _ = self.settle_first_factor(login, begun, false);
                return Err(e);
            }
        };
        self.settle_first_factor(login, begun, found.is_some())?;
        if found.is_none() {
            // The failure that throttles is still refused as a wrong password; the throttle is
            // told at the next attempt. The audit row (the admin's, never the user's) says
            // when the name is nobody's: a spray of made-up names then folds into one row per
            // place per minute (`AuditEvent::flood`).
            let detail = match login.data {
                Some(_) => Reject::BadPassword.as_str().to_string(),
                None => format!(
                    "{}; {}",
                    Reject::BadPassword.as_str(),
                    Reject::UnknownUser.as_str()
                ),
            };
            let e = self.event(login, AuditResult::Reject, Some("password"), Some(detail));
            let e = match login.data {
                Some(_) => e,
                None => login.request.flood(e, false),
            };
            self.audit_only(&e);
            return Ok(Err(Outcome::Rejected(Reject::BadPassword)));
        }
        login.password_checked = true;
        Ok(Ok(found))
    }
}
