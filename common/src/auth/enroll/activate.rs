//! Enrollment at login, once the proof checked out: the new authenticator shown, its first
//! code activating it (with the invitation claimed in the same transaction), the recovery
//! codes shown and acknowledged, and the login accepted.

use super::mail::{forgive_own_slips, ok_unless_rolled_back};
use super::{LOGIN_APP_LABEL, Step, say};
use crate::audit::AuditResult;
use crate::auth::reject::lock_reject;
use crate::auth::{Authenticator, Login, Method, Outcome, Reject, Verified};
use crate::base::secret::Secret;
use crate::error::CoreError;
use crate::factor::{recovery, totp};
use crate::store::{Claim, FactorKind, FactorStatus, StoreError, Tx};

impl Authenticator {
    /// Make the new authenticator (unless the mailed proof made it already) and show it.
    pub(super) fn show_authenticator(&self, login: &mut Login) -> Result<Outcome, CoreError> {
        // A factor made for the mailed proof is replaced: its secret was never shown, and is
        // not kept in memory meanwhile.
        self.remove_login_factors(login, FactorKind::Totp)?;
        let (p, params) = self.provision_app(login)?;
        let e = self.enrolling(login)?;
        e.factor = Some(p.factor_id);
        e.mailed = false;
        e.step = Step::Confirm;
        self.audit_step(
            login,
            AuditResult::Admin,
            format!("enroll totp factor={} at login", p.factor_id),
        );
        let prompt = say::new_authenticator(&p.secret_base32, &p.uri, &params);
        login.prompt = prompt.clone();
        Ok(Outcome::Prompt(prompt))
    }

    /// A new pending authenticator for the enrolling user, with the configured parameters.
    pub(super) fn provision_app(
        &self,
        login: &Login,
    ) -> Result<(totp::Provisioned, crate::base::otp::TotpParams), CoreError> {
        let user = login
            .data
            .as_ref()
            .map(|d| &d.user)
            .ok_or_else(|| CoreError::Corrupt("enrollment without a user".into()))?;
        let params = totp::params(&self.config.totp, None, None, None)?;
        let p = totp::provision(
            self.store.as_ref(),
            &self.key,
            &self.config.totp.issuer,
            user,
            LOGIN_APP_LABEL,
            &params,
            self.clock.now(),
        )?;
        Ok((p, params))
    }

    /// The first code of the new authenticator: activates it (claiming the invitation, if that
    /// was the proof) in one transaction.
    pub(super) fn answer_confirm(
        &self,
        login: &mut Login,
        answer: &str,
    ) -> Result<Outcome, CoreError> {
        let now = self.clock.now();
        let e = self.enrolling(login)?;
        let (user_id, invite_hash) = (e.user_id, e.invite_hash);
        let Some(factor_id) = e.factor else {
            return Err(CoreError::Corrupt("confirming no factor".into()));
        };
        let user = login
            .data
            .as_ref()
            .map(|d| d.user.clone())
            .ok_or_else(|| CoreError::Corrupt("enrollment without a user".into()))?;
        let factor = self
            .store
            .factors(user_id)?
            .into_iter()
            .find(|f| f.id == factor_id && f.status == FactorStatus::Pending);
        let Some(t) = factor.and_then(|f| f.totp) else {
            // Removed meanwhile (an administrator, a parallel login).
            login.finished = true;
            return Ok(self.refuse(login, Reject::BadCode));
        };
        let step = match totp::is_shaped(&t, answer) {
            true => totp::check(
                &self.key,
                self.config.totp.window,
                &user,
                factor_id,
                &t,
                answer,
                now,
            )?,
            false => None,
        };
        let Some(step) = step else {
            return self.miss(login, false);
        };
        let detail = format!(
            "factor activate factor={factor_id} at login{}",
            if invite_hash.is_some() {
                "; invitation used"
            } else {
                ""
            }
        );
        let event = self.event(login, AuditResult::Admin, Some("totp"), Some(detail));
        let mut done = false;
        let own = login.failed_here;
        let mut locked = None;
        let mut since = 0;
        let written = self.store.write(&mut |tx: &dyn Tx| {
            done = false;
            let lock = tx.lock_state(user_id)?;
            locked = lock_reject(lock.lock_at(now));
            if locked.is_some() {
                return Ok(());
            }
            since = lock.since_login;
            if let Some(hash) = invite_hash
                && !tx.claim(user_id, &Claim::Invite { hash }, now)?
            {
                return Ok(());
            }
            if tx
                .activate_factor(user_id, factor_id, Some(step))?
                .is_none()
            {
                // Activated or removed meanwhile: the invitation's claim is rolled back.
                return Err(StoreError::RolledBack);
            }
            forgive_own_slips(tx, user_id, own)?;
            tx.append_audit(&event)?;
            done = true;
            Ok(())
        });
        ok_unless_rolled_back(written)?;
        if let Some(r) = locked {
            return Ok(self.refuse(login, r));
        }
        self.enrolling(login)?.since_login = since;
        if !done {
            // Another login used the invitation first.
            self.audit_step(
                login,
                AuditResult::Reject,
                "invitation_used_or_expired".into(),
            );
            login.finished = true;
            return Ok(Outcome::Rejected(Reject::Expired));
        }
        self.record(&event);
        // Pending factors of earlier tries are abandoned now.
        self.remove_other_login_factors(login, factor_id, FactorKind::Totp)?;
        self.enrolling(login)?.method = Some(Method::Totp { factor_id });
        self.show_recovery(login)
    }

    /// The factor is active: fresh recovery codes, shown once.
    pub(super) fn show_recovery(&self, login: &mut Login) -> Result<Outcome, CoreError> {
        let user_id = self.enrolling(login)?.user_id;
        let codes = recovery::generate_codes(self.config.recovery.count)?;
        let (batch, hashes) = recovery::new_batch(
            &codes,
            &self.key,
            &self.config.argon2,
            self.clock.now(),
            "login",
        )?;
        self.store.replace_recovery(user_id, &batch, &hashes)?;
        self.audit_step(
            login,
            AuditResult::Admin,
            format!("recovery generate count={} origin=login", codes.len()),
        );
        let e = self.enrolling(login)?;
        e.step = Step::Acknowledge;
        let elsewhere = e.since_login.saturating_sub(login.failed_here);
        let mut prompt = say::recovery_codes(&codes, login.request.channel);
        if elsewhere > 0 {
            // Told now too: an enrollment that ends without the acknowledgement still warns.
            prompt
                .messages
                .insert(0, Secret::new(say::wrong_elsewhere(elsewhere)));
        }
        login.prompt = prompt.clone();
        Ok(Outcome::Prompt(prompt))
    }

    pub(super) fn answer_ack(&self, login: &mut Login, answer: &str) -> Result<Outcome, CoreError> {
        let e = self.enrolling(login)?;
        let (method, since) = (e.method, e.since_login);
        if !answer.eq_ignore_ascii_case("yes") {
            e.acks_left = e.acks_left.saturating_sub(1);
            if e.acks_left > 0 {
                let mut p = login.prompt.clone();
                p.messages = vec![Secret::new(say::SAY_YES.to_string())];
                return Ok(Outcome::Prompt(p));
            }
            self.audit_step(
                login,
                AuditResult::Reject,
                "recovery_codes_not_acknowledged".into(),
            );
            return Ok(Outcome::Rejected(Reject::BadCode));
        }
        self.enrolled(login, method, since)
    }

    /// The enrollment is done: the login is accepted with the new factor, and audited so.
    pub(super) fn enrolled(
        &self,
        login: &Login,
        method: Option<Method>,
        since: u32,
    ) -> Result<Outcome, CoreError> {
        let (Some(method), Some(d)) = (method, login.data.as_ref()) else {
            return Err(CoreError::Corrupt("acknowledged without a factor".into()));
        };
        // The factor must still be there and active (an administrator may have removed it).
        let factor_id = match method {
            Method::Totp { factor_id } | Method::Email { factor_id } => Some(factor_id),
            _ => None,
        };
        let active = self
            .store
            .factors(d.user.id)?
            .iter()
            .any(|f| Some(f.id) == factor_id && crate::factor::is_usable(f));
        if !active {
            return Ok(self.refuse(login, Reject::BadCode));
        }
        let ev = self.event(
            login,
            AuditResult::Accept,
            Some(method.as_str()),
            Some("enrolled_at_login".into()),
        );
        self.audit_only(&ev);
        Ok(Outcome::Accepted(Verified {
            user: d.user.name.clone(),
            user_id: d.user.id,
            method,
            // Wrong codes typed elsewhere (an invitation guessed at) are told; this login's
            // own are not.
            wrong_codes_since_last_login: since.saturating_sub(login.failed_here),
        }))
    }
}
