//! Enrollment at login by e-mail: the mailed proof, and over RADIUS the e-mail factor it makes.

use super::{ABANDONED_SECS, LOGIN_APP_LABEL, LOGIN_EMAIL_LABEL, say};
use crate::audit::AuditResult;
use crate::auth::email::MAIL_FAILED;
use crate::auth::{Authenticator, Channel, Login, Method, Outcome, Reject, prompts};
use crate::error::CoreError;
use crate::factor::email::{Delivery, MessageContext, Sender};
use crate::store::{Claim, FactorId, FactorKind, FactorStatus, StoreError, Tx, UserId};

impl Authenticator {
    /// The mailed code checked out: claim it (and, over RADIUS, activate the e-mail factor it
    /// was sent for) in one transaction.
    pub(super) fn proof_by_mail(
        &self,
        login: &mut Login,
        factor_id: FactorId,
        hash: [u8; 32],
    ) -> Result<Outcome, CoreError> {
        let user_id = self.enrolling(login)?.user_id;
        let email_factor = login.request.channel == Channel::Radius;
        let now = self.clock.now();
        let claim = Claim::PendingEmailCode { factor_id, hash };
        let mut outcome = None;
        let event = self.event(
            login,
            AuditResult::Admin,
            None,
            Some(match email_factor {
                true => format!("enroll proof=mail; factor activate factor={factor_id}"),
                false => "enroll proof=mail".to_string(),
            }),
        );
        let own = login.failed_here;
        let mut locked = None;
        let mut since = 0;
        let written = self.store.write(&mut |tx: &dyn Tx| {
            outcome = Some(false);
            let lock = tx.lock_state(user_id)?;
            locked = crate::auth::reject::lock_reject(lock.lock_at(now));
            if locked.is_some() {
                return Ok(());
            }
            since = lock.since_login;
            if !tx.claim(user_id, &claim, now)? {
                return Ok(());
            }
            if email_factor && tx.activate_factor(user_id, factor_id, None)?.is_none() {
                // Removed or activated meanwhile: the claim is rolled back with the rest.
                return Err(StoreError::RolledBack);
            }
            if email_factor {
                forgive_own_slips(tx, user_id, own)?;
            }
            tx.append_audit(&event)?;
            outcome = Some(true);
            Ok(())
        });
        ok_unless_rolled_back(written)?;
        if let Some(r) = locked {
            return Ok(self.refuse(login, r));
        }
        self.enrolling(login)?.since_login = since;
        if outcome != Some(true) {
            // Used by a parallel login, or spent meanwhile: only its holder has it.
            return Ok(self.again(login, prompts::retry_info(Reject::Expired, false), None));
        }
        self.record(&event);
        if email_factor {
            // Over RADIUS: accepted at once. Recovery codes are not shown there: a
            // Reply-Message crosses the network (and the NAS's logs) in clear.
            self.remove_other_login_factors(login, factor_id, FactorKind::Email)?;
            let ev = self.event(
                login,
                AuditResult::Admin,
                None,
                Some("recovery not_shown over radius".into()),
            );
            self.audit_only(&ev);
            return self.enrolled(login, Some(Method::Email { factor_id }), since);
        }
        self.show_authenticator(login)
    }

    /// E-mail a code as the proof, for a new pending factor (an authenticator over a terminal,
    /// e-mail itself over RADIUS).
    pub(super) fn mail_proof(&self, login: &mut Login) -> Result<Outcome, CoreError> {
        let now = self.clock.now();
        let e = self.enrolling(login)?;
        let (user_id, optional, address) = (e.user_id, e.optional, e.address.clone());
        let (Some(address), Some(cfg), Some(mailer)) = (address, &self.config.email, &self.mailer)
        else {
            return Ok(self.again(login, MAIL_FAILED, Some(Reject::MailFailed)));
        };
        // The interval holds across logins: a code sent moments ago by another is not resent.
        if let Some(c) = self.store.email_code(user_id)? {
            let next = c.sent_at.saturating_add(cfg.min_interval.as_secs());
            if now < next {
                let info = prompts::send_later(next - now, login.request.channel, false);
                return Ok(self.again(login, &info, None));
            }
        }
        let email_factor = login.request.channel == Channel::Radius;
        let kind = match email_factor {
            true => FactorKind::Email,
            false => FactorKind::Totp,
        };
        self.remove_login_factors(login, kind)?;
        let factor_id = match email_factor {
            true => self
                .store
                .add_email_factor(user_id, LOGIN_EMAIL_LABEL, &address, now)?,
            // A placeholder the code is bound to: the authenticator shown after the proof is a
            // fresh one.
            false => self.provision_app(login)?.0.factor_id,
        };
        let name = login.audit_name().to_string();
        let sent = Sender {
            config: cfg,
            store: self.store.as_ref(),
            key: &self.key,
            mailer: mailer.as_ref(),
            now,
        }
        .send(
            user_id,
            factor_id,
            &address,
            &MessageContext {
                user: &name,
                service: &login.request.service,
                source: login.request.source.as_deref(),
            },
        )?;
        let e = self.enrolling(login)?;
        e.factor = Some(factor_id);
        match sent {
            Delivery::Sent { masked } => {
                e.mailed = true;
                login.code_sent = true;
                let ev = self.event(
                    login,
                    AuditResult::Sent,
                    Some("email"),
                    Some(format!("enrollment code sent to {masked}")),
                );
                self.audit_only(&ev);
                let prompt = say::mailed(&masked, optional, email_factor);
                login.prompt = prompt.clone();
                Ok(Outcome::Prompt(prompt))
            }
            Delivery::TooSoon { retry_after, .. } => {
                // Refused by the day's bound: the placeholder goes (one per login otherwise).
                self.store.remove_factor(user_id, factor_id)?;
                self.enrolling(login)?.factor = None;
                let info = prompts::send_later(
                    retry_after.saturating_sub(now).max(1),
                    login.request.channel,
                    false,
                );
                Ok(self.again(login, &info, None))
            }
            Delivery::Failed { masked, error } => {
                self.store.remove_factor(user_id, factor_id)?;
                self.enrolling(login)?.factor = None;
                let ev = self.event(
                    login,
                    AuditResult::Error,
                    Some("email"),
                    Some(format!("mail_failed to {masked}: {}", error.category())),
                );
                self.audit_only(&ev);
                let has_invite = self.enrolling(login)?.invite.is_some();
                if has_invite {
                    return Ok(self.again(login, MAIL_FAILED, Some(Reject::MailFailed)));
                }
                login.finished = true;
                Ok(Outcome::Rejected(Reject::MailFailed))
            }
        }
    }

    /// The factor `keep` is active: the pending ones of `kind` earlier tries left are removed.
    pub(super) fn remove_other_login_factors(
        &self,
        login: &Login,
        keep: FactorId,
        kind: FactorKind,
    ) -> Result<(), CoreError> {
        let Some(e) = login.enroll.as_deref() else {
            return Ok(());
        };
        for f in self.store.factors(e.user_id)? {
            if f.id != keep
                && f.kind == kind
                && f.status == FactorStatus::Pending
                && f.label == login_label(kind)
            {
                self.store.remove_factor(e.user_id, f.id)?;
            }
        }
        Ok(())
    }

    /// Remove this login's own placeholder factor of `kind`, and the pending ones of `kind` that
    /// earlier logins set up and abandoned (older than [`ABANDONED_SECS`]: a login in another
    /// terminal at the same time keeps its own).
    pub(super) fn remove_login_factors(
        &self,
        login: &Login,
        kind: FactorKind,
    ) -> Result<(), CoreError> {
        let Some(e) = login.enroll.as_deref() else {
            return Ok(());
        };
        let label = login_label(kind);
        let now = self.clock.now();
        for f in self.store.factors(e.user_id)? {
            let ours = e.factor == Some(f.id);
            let abandoned = f.created_at.saturating_add(ABANDONED_SECS) <= now;
            if f.kind == kind
                && f.status == FactorStatus::Pending
                && f.label == label
                && (ours || abandoned)
            {
                self.store.remove_factor(e.user_id, f.id)?;
            }
        }
        Ok(())
    }
}

/// A write's result, with a rollback on purpose ([`StoreError::RolledBack`]) taken as done (its
/// flag says what became of it).
pub(super) fn ok_unless_rolled_back(r: Result<(), StoreError>) -> Result<(), StoreError> {
    match r {
        Err(StoreError::RolledBack) => Ok(()),
        other => other,
    }
}

/// The label of a factor of `kind` set up at login.
fn login_label(kind: FactorKind) -> &'static str {
    match kind {
        FactorKind::Email | FactorKind::Sms => LOGIN_EMAIL_LABEL,
        FactorKind::Totp | FactorKind::Fido2 => LOGIN_APP_LABEL,
    }
}

/// The enrolling login succeeded: its own wrong answers are forgiven as any login's are
/// ([`crate::policy::LockState::after_success`]), in the activation's transaction.
pub(super) fn forgive_own_slips(tx: &dyn Tx, user_id: UserId, own: u32) -> Result<(), StoreError> {
    let lock = tx.lock_state(user_id)?;
    let next = lock.after_success(own);
    if next != lock {
        tx.put_lock_state(user_id, &next)?;
    }
    Ok(())
}
