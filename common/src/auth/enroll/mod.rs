//! Enrollment at login (`[policy] enroll_at_login`): an unenrolled user whose first factor is
//! proven sets up a factor in the same conversation, with a proof beyond the password.
//!
//! The proof is the administrator's invitation (`tessera user invite`), or a code e-mailed to
//! the address the administrator set for the user. Over a terminal the new factor is an
//! authenticator app: its QR code, secret and URI are shown and it stays pending until the user
//! types a code from it; the invitation is claimed in the same transaction that activates it,
//! so a user who fumbles the set-up can try again with the same invitation, and two logins can
//! never both use it. Over RADIUS (no QR code) the mailed code itself makes e-mail the factor.
//! The fresh recovery codes are shown once, right after, and must be acknowledged.
//!
//! Every wrong answer counts against the user's lockout like a wrong code; nothing is offered,
//! mailed or shown before the first factor is proven, and every step is audited.

use zeroize::Zeroizing;

use super::email::MAIL_FAILED;
mod activate;
mod mail;
mod say;

pub(super) use say::{NOT_SET_UP, NOT_SET_UP_HERE};

use super::reject::lock_reject;
use super::{Authenticator, Channel, FirstFactor, Login, Method, Outcome, Reject, Stage, prompts};
use crate::audit::AuditResult;
use crate::base::address::mask_address;
use crate::base::secret::Secret;
use crate::config::EnrollAtLogin;
use crate::error::CoreError;
use crate::factor::email;
use crate::factor::invite;
use crate::policy::Lock;
use crate::store::{FactorId, Tx, UserId};

/// The label of a factor set up at login (a pending one left by an abandoned login is replaced
/// by the next).
pub const LOGIN_APP_LABEL: &str = "app";
pub const LOGIN_EMAIL_LABEL: &str = "e-mail";

/// A pending factor set up at login and not confirmed for this long was abandoned.
const ABANDONED_SECS: u64 = 3600;

/// Acknowledgements asked for before the login gives up.
const ACKS: u32 = 3;

/// Where an enrollment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Waiting for the proof (or a request for it by e-mail, or `skip`).
    Proof,
    /// The proof checked out; waiting for the new authenticator's first code.
    Confirm,
    /// The factor is active; waiting for the recovery codes to be acknowledged.
    Acknowledge,
}

/// An enrollment in progress (part of a [`Login`]).
pub(super) struct Enrolling {
    user_id: UserId,
    optional: bool,
    /// The user's pending invitation, when there is one (and the channel can use it).
    invite: Option<crate::store::Invite>,
    /// The address the administrator set for the user.
    address: Option<String>,
    /// The invitation that checked out, claimed when the factor is activated.
    invite_hash: Option<[u8; invite::HASH_LEN]>,
    /// The pending factor being set up.
    factor: Option<FactorId>,
    /// A code was e-mailed for `factor` in this conversation.
    mailed: bool,
    step: Step,
    acks_left: u32,
    method: Option<Method>,
    /// The front-end holds the first answer already (`auto_send` off: RADIUS `otp-only`, a
    /// `--code`): it was typed before the user saw any enrollment prompt, so it is no proof,
    /// and the proof by mail waits for it.
    held: bool,
    /// Wrong codes entered elsewhere since the last login, read when the factor is activated.
    since_login: u32,
}

impl Enrolling {
    fn masked(&self) -> Option<String> {
        self.address.as_deref().map(mask_address)
    }
}

impl Authenticator {
    /// Whether this login is one enrollment at login is for: configured, an unenrolled user, the
    /// first factor proven.
    pub(super) fn enrolls_here(&self, login: &Login) -> bool {
        self.config.policy.enroll_at_login != EnrollAtLogin::Off
            && !login.enrolled
            && match login.request.first_factor {
                FirstFactor::Proven => true,
                FirstFactor::Password => login.password_checked,
                FirstFactor::Unproven => false,
            }
    }

    /// Whether an unenrolled user passes this module (`allow_unenrolled`), which `required`
    /// overrides: 2FA is mandatory, wherever the module sits in the stack.
    pub(super) fn steps_aside(&self, login: &Login) -> bool {
        !login.enrolled
            && login.request.allow_unenrolled
            && self.config.policy.enroll_at_login != EnrollAtLogin::Required
    }

    /// The first factor of an unenrolled user is proven: offer enrollment, or refuse (required)
    /// or step aside (optional) when they have no proof to give here.
    pub(super) fn begin_enrollment(&self, login: &mut Login) -> Result<Outcome, CoreError> {
        let now = self.clock.now();
        let optional = self.config.policy.enroll_at_login == EnrollAtLogin::Optional;
        let Some(d) = login.data.clone() else {
            return Ok(self.no_enrollment(login, optional, "unknown_user"));
        };
        if let Some(r) = lock_reject(d.lock.lock_at(now)) {
            return Ok(self.refuse(login, r));
        }
        let terminal = login.request.channel == Channel::Terminal;
        // Over RADIUS no QR code can be shown: an invitation is of no use there.
        let invite = match terminal {
            true => self.store.invite(d.user.id)?.filter(|i| i.is_pending(now)),
            false => None,
        };
        let address = d.user.email.clone().filter(|_| self.config.email.is_some());
        if invite.is_none() && address.is_none() {
            let why = if terminal {
                "no_invitation"
            } else {
                "no_address"
            };
            return Ok(self.no_enrollment(login, optional, why));
        }
        let enrolling = Enrolling {
            user_id: d.user.id,
            optional,
            invite,
            address,
            invite_hash: None,
            factor: None,
            mailed: false,
            step: Step::Proof,
            acks_left: ACKS,
            method: None,
            held: !login.request.auto_send,
            since_login: 0,
        };
        let proofs = match (&enrolling.invite, &enrolling.address) {
            (Some(_), Some(_)) => "invitation,mail",
            (Some(_), None) => "invitation",
            (None, _) => "mail",
        };
        let masked = enrolling.masked();
        let has_invite = enrolling.invite.is_some();
        login.stage = Stage::Enroll;
        login.enroll = Some(Box::new(enrolling));
        // The configured tries, not the front-end's one per call under PAM_SILENT: every note
        // of an enrollment is shown even there.
        login.tries_left = self
            .config
            .policy
            .max_tries
            .max(1)
            .min(self.rules.codes.failures_left(d.lock.codes, now).max(1));
        self.audit_step(
            login,
            AuditResult::Admin,
            format!("enroll offered proof={proofs}"),
        );
        let channel = login.request.channel;
        let held = !login.request.auto_send;
        let prompt = match (has_invite, masked) {
            (true, m) => say::invitation(optional, m.as_deref(), channel),
            (false, Some(m)) if optional || held => {
                say::offer_mail(&m, channel, !terminal, optional)
            }
            (false, _) => return self.mail_proof(login),
        };
        login.prompt = prompt.clone();
        Ok(Outcome::Prompt(prompt))
    }

    /// No proof can be given here: refused where enrollment is required; where it is optional,
    /// as if it were off (this module steps aside only under `allow_unenrolled`: `optional`
    /// alone must not make every account Tessera does not know pass it).
    fn no_enrollment(&self, login: &Login, optional: bool, why: &str) -> Outcome {
        if optional && !login.request.allow_unenrolled {
            let e = self.event(
                login,
                AuditResult::Reject,
                None,
                Some(format!("{}; {why}", Reject::NotEnrolled.as_str())),
            );
            self.audit_only(&e);
            return Outcome::Rejected(Reject::NotEnrolled);
        }
        if optional {
            let e = self.event(
                login,
                AuditResult::Ignore,
                None,
                Some(format!("not_enrolled; {why}")),
            );
            self.audit_only(&e);
            return Outcome::Ignored;
        }
        let e = self.event(
            login,
            AuditResult::Reject,
            None,
            Some(format!("{}; {why}", Reject::NotSetUp.as_str())),
        );
        self.audit_only(&e);
        Outcome::Rejected(Reject::NotSetUp)
    }

    fn audit_step(&self, login: &Login, result: AuditResult, detail: String) {
        let e = self.event(login, result, None, Some(detail));
        self.audit_only(&e);
    }

    fn enrolling<'a>(&self, login: &'a mut Login) -> Result<&'a mut Enrolling, CoreError> {
        login
            .enroll
            .as_deref_mut()
            .ok_or_else(|| CoreError::Corrupt("an enrollment answer without an enrollment".into()))
    }

    /// The front-end holds no answer any more (it asked the keys first, or the answer it held
    /// was set aside): the proof mail that waited goes now, where a mail is the only proof and
    /// enrollment is required. `None`: nothing to send; the login stays at its prompt.
    pub(super) fn release_held(&self, login: &mut Login) -> Result<Option<Outcome>, CoreError> {
        let e = self.enrolling(login)?;
        if !std::mem::take(&mut e.held) {
            return Ok(None);
        }
        if e.invite.is_none() && e.address.is_some() && !e.optional {
            return self.mail_proof(login).map(Some);
        }
        Ok(None)
    }

    /// An answer during enrollment.
    pub(super) fn answer_enroll(
        &self,
        login: &mut Login,
        text: &str,
    ) -> Result<Outcome, CoreError> {
        let answer = Zeroizing::new(text.trim().to_string());
        // A lock set meanwhile (an administrator, a lockout reached in a parallel login) ends
        // the enrollment at any step.
        let user_id = self.enrolling(login)?.user_id;
        let Some(now_data) = self.store.user_data(user_id)? else {
            // Removed meanwhile: nothing to enroll.
            login.finished = true;
            return Ok(self.refuse(login, Reject::UnknownUser));
        };
        if let Some(r) = lock_reject(now_data.lock.lock_at(self.clock.now())) {
            return Ok(self.refuse(login, r));
        }
        if self.enrolling(login)?.held {
            // Typed before any enrollment prompt: not a proof. Ask.
            return Ok(self
                .release_held(login)?
                .unwrap_or_else(|| Outcome::Prompt(login.prompt.clone())));
        }
        match self.enrolling(login)?.step {
            Step::Proof => self.answer_proof(login, &answer),
            Step::Confirm => self.answer_confirm(login, &answer),
            Step::Acknowledge => self.answer_ack(login, &answer),
        }
    }

    fn answer_proof(&self, login: &mut Login, answer: &str) -> Result<Outcome, CoreError> {
        let now = self.clock.now();
        let e = self.enrolling(login)?;
        let (optional, has_address, user_id) = (e.optional, e.address.is_some(), e.user_id);
        if answer.eq_ignore_ascii_case("skip") {
            if optional {
                self.audit_step(
                    login,
                    AuditResult::Ignore,
                    "not_enrolled; enroll_skipped".into(),
                );
                return Ok(Outcome::Ignored);
            }
            return Ok(self.again(login, say::NO_SKIP, None));
        }
        let asks_mail = answer.is_empty()
            || answer.eq_ignore_ascii_case("email")
            || answer.eq_ignore_ascii_case("e-mail");
        if asks_mail && has_address {
            if login.sends_left == 0 {
                return Ok(self.again(login, MAIL_FAILED, Some(Reject::MailFailed)));
            }
            login.sends_left -= 1;
            return self.mail_proof(login);
        }
        let key = self.key.clone();
        let e = self.enrolling(login)?;
        match invite::check(&key, user_id, e.invite.as_ref(), answer, now) {
            invite::Checked::Matches { hash } => {
                e.invite_hash = Some(hash);
                self.audit_step(login, AuditResult::Admin, "enroll proof=invitation".into());
                return self.show_authenticator(login);
            }
            invite::Checked::Stale => {
                self.audit_step(
                    login,
                    AuditResult::Reject,
                    "invitation_used_or_expired".into(),
                );
                return Ok(self.again(login, say::STALE_INVITATION, Some(Reject::Expired)));
            }
            invite::Checked::Wrong => {}
        }
        let mailed_for = e.factor.filter(|_| e.mailed);
        let checked = email::check(self.store.as_ref(), &key, user_id, answer, now)?;
        match (checked, mailed_for) {
            (email::Checked::Matches { hash, factor_id }, Some(ours)) if factor_id == ours => {
                self.proof_by_mail(login, ours, hash)
            }
            (email::Checked::Expired | email::Checked::Spent, Some(_)) => {
                self.audit_step(login, AuditResult::Reject, "expired; enrolling".into());
                Ok(self.again(login, prompts::retry_info(Reject::Expired, false), None))
            }
            (email::Checked::Wrong, Some(_)) => self.miss(login, true),
            (_, _) => self.miss(login, false),
        }
    }

    /// Ask the same again with `info` before it (not counted, but a try of the conversation).
    fn again(&self, login: &mut Login, info: &str, after: Option<Reject>) -> Outcome {
        login.tries_left = login.tries_left.saturating_sub(1);
        if login.tries_left == 0 {
            return Outcome::Rejected(after.unwrap_or(Reject::BadCode));
        }
        let mut p = login.prompt.clone();
        // Told as a message, not a note: shown even under PAM_SILENT (sudo), where the user
        // would otherwise not know why they are asked again.
        p.messages = vec![Secret::new(info.to_string())];
        p.after = after;
        Outcome::Prompt(p)
    }

    /// A wrong proof or a wrong first code: counted against the user like a wrong code
    /// (spending a try of the mailed code when it was checked against one).
    fn miss(&self, login: &mut Login, email_tried: bool) -> Result<Outcome, CoreError> {
        let now = self.clock.now();
        let user_id = self.enrolling(login)?.user_id;
        let rules = self.rules;
        let base = self.event(
            login,
            AuditResult::Reject,
            None,
            Some(format!("{}; enrolling", Reject::BadCode.as_str())),
        );
        let mut lock = Lock::Open;
        let mut written = base.clone();
        self.store.write(&mut |tx: &dyn Tx| {
            if email_tried {
                tx.spend_email_try(user_id)?;
            }
            let next = tx.lock_state(user_id)?.after_failure(&rules, now);
            tx.put_lock_state(user_id, &next)?;
            lock = next.lock_at(now);
            written = base.clone();
            if lock.is_locked() {
                written.detail = Some(format!(
                    "{}; enrolling; locked_out",
                    Reject::BadCode.as_str()
                ));
            }
            tx.append_audit(&written)
        })?;
        self.record(&written);
        login.failed_here = login.failed_here.saturating_add(1);
        login.tries_left = login.tries_left.saturating_sub(1);
        if let Some(r) = lock_reject(lock) {
            return Ok(Outcome::Rejected(r));
        }
        if login.tries_left == 0 {
            return Ok(Outcome::Rejected(Reject::BadCode));
        }
        let mut p = login.prompt.clone();
        p.messages = vec![Secret::new(say::WRONG.to_string())];
        p.after = Some(Reject::BadCode);
        Ok(Outcome::Prompt(p))
    }
}
