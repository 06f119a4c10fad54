//! The auth flow shared by every front-end: `begin` → prompt → `answer` → outcome.
//!
//! A wrong code is a normal [`Outcome::Rejected`]; an `Err` means the core could not decide and
//! the front-end must deny. Unknown and unenrolled users get the same prompt and the same
//! rejection as enrolled ones (no user enumeration), except under `allow_unenrolled` (PAM
//! `nullok`, RADIUS `allow_unenrolled`), where they get [`Begin::Ignore`] — never an accept.

use std::sync::Arc;

use zeroize::Zeroizing;

mod batch;
mod email;

pub use email::MAIL_FAILED;

use crate::audit::{AuditEvent, AuditResult, AuditSink, Severity};
use crate::base::clock::{Clock, SystemClock};
use crate::base::names::validate_user_name;
use crate::base::otp::{TotpParams, is_code_shaped, totp_match};
use crate::base::secret::{MasterKey, SealContext};
use crate::config::Config;
use crate::email_code;
use crate::error::CoreError;
use crate::mail::Mailer;
use crate::recovery;
use crate::store::{
    Attempt, AttemptOutcome, Claim, Factor, FactorId, FactorKind, FactorStatus, LockPolicy,
    LoginData, SqliteStore, Store, UserId,
};

/// Who is logging in, through what, from where.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    pub user: String,
    /// PAM service (`sshd`, `sudo`) or RADIUS client name.
    pub service: String,
    /// Remote host or calling station, when known.
    pub source: Option<String>,
    /// Let users with no active factor pass this module (`Begin::Ignore`).
    pub allow_unenrolled: bool,
    /// Wrong answers allowed in this conversation (at least 1).
    pub max_tries: u32,
    /// E-mail a code at `begin` when e-mail is the user's preferred or only factor. Set it to
    /// `false` when the front-end already holds the answer (a code typed with the password, a
    /// `--code` argument): a new send would replace the very code being checked.
    pub auto_send: bool,
}

impl LoginRequest {
    /// The audit event of a decision about this login.
    fn event(
        &self,
        at: u64,
        result: AuditResult,
        method: Option<String>,
        detail: Option<String>,
    ) -> AuditEvent {
        AuditEvent {
            at,
            user: self.user.clone(),
            service: self.service.clone(),
            source: self.source.clone(),
            result,
            method,
            detail,
        }
    }
}

/// Something to show the user and read an answer for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// Shown before the prompt (e.g. "Invalid code, try again."), if anything.
    pub info: Option<String>,
    pub text: String,
    /// Whether the answer may be echoed (never for codes).
    pub echo: bool,
    /// The refusal of the previous answer, when this prompt asks again.
    pub after: Option<Reject>,
}

/// Why a login was refused. Front-ends show the same text for all of these (except the lock
/// and a failed e-mail send, which the user must be told about) and log the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The name is not a valid user name.
    InvalidUser,
    UnknownUser,
    NotEnrolled,
    BadCode,
    /// Not a code of any accepted shape.
    Malformed,
    Replayed,
    /// The e-mailed code expired.
    Expired,
    /// A code could not be e-mailed and the user has no other way in.
    MailFailed,
    /// Locked until this time (`None`: locked by an administrator until unlocked).
    LockedOut {
        until: Option<u64>,
    },
}

impl Reject {
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::InvalidUser => "invalid_user",
            Reject::UnknownUser => "unknown_user",
            Reject::NotEnrolled => "not_enrolled",
            Reject::BadCode => "bad_code",
            Reject::Malformed => "malformed_code",
            Reject::Replayed => "replayed",
            Reject::Expired => "expired",
            Reject::MailFailed => "mail_failed",
            Reject::LockedOut { .. } => "locked_out",
        }
    }

    /// The message for the person logging in. Only a lock is told apart.
    pub fn user_message(self, now: u64) -> String {
        match self {
            Reject::LockedOut { until: Some(until) } => {
                let minutes = until.saturating_sub(now).div_ceil(60).max(1);
                format!(
                    "Too many failed attempts: the account is locked for {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )
            }
            Reject::LockedOut { until: None } => {
                "The account is locked; ask an administrator to unlock it.".to_string()
            }
            Reject::MailFailed => MAIL_FAILED.to_string(),
            Reject::InvalidUser
            | Reject::UnknownUser
            | Reject::NotEnrolled
            | Reject::BadCode
            | Reject::Malformed
            | Reject::Replayed
            | Reject::Expired => "Verification failed.".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp { factor_id: FactorId },
    Email { factor_id: FactorId },
    Recovery { remaining: u32 },
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp { .. } => "totp",
            Method::Email { .. } => "email",
            Method::Recovery { .. } => "recovery",
        }
    }
}

/// Proof of a passed second factor; only this crate can build one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    pub user: String,
    pub user_id: UserId,
    pub method: Method,
}

#[derive(Debug)]
pub enum Begin {
    Prompt(Box<Login>, Prompt),
    /// Unenrolled user under `allow_unenrolled`: this module steps aside.
    Ignore,
    Rejected(Reject),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted(Verified),
    Rejected(Reject),
    /// Ask again (after a wrong answer, when tries remain).
    Prompt(Prompt),
}

/// One login in progress.
#[derive(Debug)]
pub struct Login {
    request: LoginRequest,
    /// `None` for an unknown or unenrolled user: they are prompted, then refused.
    data: Option<LoginData>,
    unknown_user: bool,
    tries_left: u32,
    /// Requests for an e-mailed code still honoured in this conversation.
    sends_left: u32,
    prompt: Prompt,
    finished: bool,
    /// The last request for an e-mailed code did send one (not refused by the send interval).
    code_sent: bool,
}

impl Login {
    pub fn request(&self) -> &LoginRequest {
        &self.request
    }

    /// Whether the last step e-mailed a code: `false` when the e-mail factor's send interval
    /// refused a new one (the prompt then says so). For front-ends that end the login after a
    /// send (RADIUS append mode), to tell "a code was sent" from "no new code yet" in their log.
    pub fn code_sent(&self) -> bool {
        self.code_sent
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// The one verification API. Holds what a decision needs; cheap to share behind an `Arc`.
pub struct Authenticator {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    key: Arc<MasterKey>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn AuditSink>,
    mailer: Option<Arc<dyn Mailer>>,
}

impl Authenticator {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        key: Arc<MasterKey>,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn AuditSink>,
    ) -> Authenticator {
        Authenticator {
            config,
            store,
            key,
            clock,
            sink,
            mailer: None,
        }
    }

    /// Send e-mailed codes through `mailer` (without one, e-mail factors cannot get codes).
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Authenticator {
        self.mailer = Some(mailer);
        self
    }

    /// Open the store and read the key named by `config`, with the system clock. Fails (and the
    /// front-end must deny) when either is missing, unreadable or corrupt.
    pub fn from_config(
        config: Arc<Config>,
        sink: Arc<dyn AuditSink>,
    ) -> Result<Authenticator, CoreError> {
        let store = Arc::new(SqliteStore::open(&config.store)?);
        let key = Arc::new(MasterKey::load(&config.store.key_file)?);
        let mailer = email::mailer_from_config(&config, sink.as_ref());
        let mut auth = Authenticator::new(config, store, key, Arc::new(SystemClock), sink);
        auth.mailer = mailer;
        Ok(auth)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// For a long-running process (the RADIUS server): housekeeping moves out of the request
    /// path; call [`Authenticator::maintain`] about once a second from a background task.
    pub fn defer_maintenance(&self) {
        self.store.defer_maintenance();
    }

    /// Periodic housekeeping (see [`Authenticator::defer_maintenance`]).
    pub fn maintain(&self) -> Result<(), CoreError> {
        Ok(self.store.maintain()?)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Check a first-factor password (RADIUS `first_factor = "password"`). Costs one Argon2
    /// evaluation whether or not the user exists or has a password, so timing tells nothing.
    /// A wrong password is audited but does not count toward the second-factor lockout.
    pub fn check_password(
        &self,
        request: &LoginRequest,
        password: &str,
    ) -> Result<bool, CoreError> {
        if validate_user_name(&request.user).is_err() {
            crate::password::dummy_verify(password, &self.config.argon2);
            return Ok(false);
        }
        let user = self.store.user(&request.user)?;
        let ok = match user.as_ref().and_then(|u| u.password_hash.as_ref()) {
            Some(phc) => crate::password::verify_password(password, phc.expose())?,
            None => {
                crate::password::dummy_verify(password, &self.config.argon2);
                false
            }
        };
        if !ok {
            self.audit_only(
                request,
                AuditResult::Reject,
                Some("password"),
                "bad_password",
            );
        }
        Ok(ok)
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Start a login: look the user up, check the lock, and return the first prompt.
    pub fn begin(&self, request: LoginRequest) -> Result<Begin, CoreError> {
        if validate_user_name(&request.user).is_err() {
            self.audit_only(
                &request,
                AuditResult::Reject,
                None,
                Reject::InvalidUser.as_str(),
            );
            return Ok(Begin::Rejected(Reject::InvalidUser));
        }
        let now = self.clock.now();
        let data = self.store.login_data(&request.user)?;
        let unknown_user = data.is_none();
        let enrolled = data.filter(|d| d.factors.iter().any(is_usable));

        if enrolled.is_none() && request.allow_unenrolled {
            let detail = if unknown_user {
                Reject::UnknownUser
            } else {
                Reject::NotEnrolled
            };
            self.audit_only(&request, AuditResult::Ignore, None, detail.as_str());
            return Ok(Begin::Ignore);
        }
        if let Some(d) = &enrolled
            && let Some(until) = d.lock.locked_at(now)
        {
            let reject = Reject::LockedOut { until };
            self.audit_only(&request, AuditResult::Reject, None, reject.as_str());
            return Ok(Begin::Rejected(reject));
        }
        let mut login = Box::new(Login {
            prompt: Prompt {
                info: None,
                text: email::prompt_text(enrolled.as_ref()),
                echo: false,
                after: None,
            },
            tries_left: request.max_tries.max(1),
            sends_left: email::MAX_SENDS_PER_LOGIN,
            request,
            data: enrolled,
            unknown_user,
            finished: false,
            code_sent: false,
        });
        if login.request.auto_send
            && let Some(Outcome::Rejected(r)) = self.send_preferred_email(&mut login)?
        {
            return Ok(Begin::Rejected(r));
        }
        let prompt = login.prompt.clone();
        Ok(Begin::Prompt(login, prompt))
    }

    /// E-mail a code now if e-mail is the user's preferred or only factor (the rule `begin`
    /// applies under `auto_send`). For front-ends that begin without `auto_send` and check a first
    /// factor before anything may be sent: call this once the password checked out. Returns the
    /// prompt that replaced the login's current one, the end of the login when the mail failed and
    /// there is no other way in, or `None` when nothing was to be sent.
    pub fn send_preferred_email(&self, login: &mut Login) -> Result<Option<Outcome>, CoreError> {
        let factor = login
            .data
            .as_ref()
            .and_then(email::auto_send_factor)
            .map(|f| f.id);
        let Some(factor_id) = factor else {
            return Ok(None);
        };
        let outcome = self.email_code_prompt(login, factor_id)?;
        match &outcome {
            Outcome::Prompt(p) => login.prompt = p.clone(),
            Outcome::Rejected(_) | Outcome::Accepted(_) => login.finished = true,
        }
        Ok(Some(outcome))
    }

    /// The prompt the login is currently at.
    pub fn current_prompt<'a>(&self, login: &'a Login) -> &'a Prompt {
        &login.prompt
    }

    /// Check one answer.
    pub fn answer(&self, login: &mut Login, text: &str) -> Result<Outcome, CoreError> {
        if login.finished {
            return Ok(Outcome::Rejected(Reject::BadCode));
        }
        let answer = Zeroizing::new(text.trim().to_string());
        login.code_sent = false;
        if email::is_send_request(&answer) && login.sends_left > 0 {
            let factor = login
                .data
                .as_ref()
                .and_then(email::send_factor)
                .map(|f| f.id);
            if let Some(factor_id) = factor {
                login.sends_left -= 1;
                let outcome = self.email_code_prompt(login, factor_id);
                match &outcome {
                    Ok(Outcome::Prompt(p)) => login.prompt = p.clone(),
                    Ok(Outcome::Rejected(_) | Outcome::Accepted(_)) | Err(_) => {
                        login.finished = true
                    }
                }
                return outcome;
            }
        }
        login.tries_left = login.tries_left.saturating_sub(1);
        let outcome = match &login.data {
            None => self.answer_unenrolled(login, &answer),
            Some(data) => self.answer_enrolled(login, data, &answer),
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                login.finished = true;
                self.report_error(&login.request, &e);
                return Err(e);
            }
        };
        Ok(match outcome {
            Outcome::Rejected(r) if retryable(r) && login.tries_left > 0 => {
                let mut p = login.prompt.clone();
                p.after = Some(r);
                p.info = Some(
                    match r {
                        Reject::Replayed => "That code was already used; wait for the next one.",
                        Reject::Malformed => "That is not a valid code; try again.",
                        Reject::Expired => "That code has expired; ask for a new one.",
                        _ => "Invalid code, try again.",
                    }
                    .to_string(),
                );
                Outcome::Prompt(p)
            }
            o @ (Outcome::Accepted(_) | Outcome::Rejected(_) | Outcome::Prompt(_)) => {
                login.finished = true;
                o
            }
        })
    }

    fn answer_unenrolled(&self, login: &Login, answer: &str) -> Result<Outcome, CoreError> {
        // Spend what an enrolled user's check of this answer would cost.
        if let Some(n) = recovery::normalize(answer) {
            let _ = recovery::hash_code(
                &n,
                &[0u8; recovery::SALT_LEN],
                self.key.recovery_pepper(),
                &self.config.argon2,
            );
        }
        let reject = if login.unknown_user {
            Reject::UnknownUser
        } else {
            Reject::NotEnrolled
        };
        self.audit_only(&login.request, AuditResult::Reject, None, reject.as_str());
        Ok(Outcome::Rejected(reject))
    }

    fn answer_enrolled(
        &self,
        login: &Login,
        data: &LoginData,
        answer: &str,
    ) -> Result<Outcome, CoreError> {
        let now = self.clock.now();
        let user_id = data.user.id;
        let mut claim: Option<Claim> = None;
        let mut method: Option<Method> = None;
        let mut shaped = false;

        for f in data.factors.iter().filter(|f| is_usable(f)) {
            let Some(t) = &f.totp else { continue };
            if !is_code_shaped(answer, t.digits) {
                continue;
            }
            shaped = true;
            let matched = match_totp_factor(
                &self.key,
                self.config.totp.window,
                &data.user,
                f.id,
                t,
                answer,
                now,
            )?;
            if let Some(step) = matched {
                claim = Some(Claim::TotpStep {
                    factor_id: f.id,
                    step,
                });
                method = Some(Method::Totp { factor_id: f.id });
                break;
            }
        }

        let mut email_tried = false;
        let mut expired = false;
        if claim.is_none()
            && let Some(cfg) = &self.config.email
            && data
                .factors
                .iter()
                .any(|f| is_usable(f) && f.kind == FactorKind::Email)
            && is_code_shaped(answer, cfg.code_length)
        {
            shaped = true;
            if let Some(outstanding) = self.store.email_code(user_id)?.filter(|c| c.tries_left > 0)
            {
                if outstanding.expires_at <= now {
                    expired = true;
                } else {
                    let hash = email_code::hash_code(self.key.email_code_key(), user_id, answer);
                    if email_code::hashes_equal(&hash, &outstanding.hash) {
                        claim = Some(Claim::EmailCode { hash });
                        method = Some(Method::Email {
                            factor_id: outstanding.factor_id,
                        });
                    } else {
                        email_tried = true;
                    }
                }
            }
        }

        let mut remaining = 0;
        if claim.is_none()
            && let Some(batch) = data.recovery.as_ref().filter(|b| b.unused > 0)
            && let Some(norm) = recovery::normalize(answer)
        {
            shaped = true;
            let params = crate::config::Argon2Config {
                memory_kib: batch.m_cost,
                iterations: batch.t_cost,
                parallelism: batch.p_cost,
            };
            let hash =
                recovery::hash_code(&norm, &batch.salt, self.key.recovery_pepper(), &params)?;
            let stored = self.store.recovery_hashes(user_id)?;
            if let Some(code_id) = recovery::find_match(hash.as_ref(), &stored) {
                claim = Some(Claim::RecoveryCode { code_id });
                remaining = u32::try_from(stored.len())
                    .unwrap_or(u32::MAX)
                    .saturating_sub(1);
                method = Some(Method::Recovery { remaining });
            }
        }

        let failure_reason = if expired {
            Reject::Expired
        } else if shaped {
            Reject::BadCode
        } else {
            Reject::Malformed
        };
        let attempt = Attempt {
            user_id,
            now,
            claim,
            policy: LockPolicy {
                max_failures: self.config.policy.max_failures,
                lockout_secs: self.config.policy.lockout.as_secs(),
            },
            email_tried,
        };
        let event_for = |o: &AttemptOutcome| {
            let (result, detail) = match o {
                AttemptOutcome::Accepted => (AuditResult::Accept, None),
                AttemptOutcome::Replayed { locked_until, .. } => (
                    AuditResult::Reject,
                    Some(lock_detail(Reject::Replayed, *locked_until)),
                ),
                AttemptOutcome::Failed { locked_until, .. } => (
                    AuditResult::Reject,
                    Some(lock_detail(failure_reason, *locked_until)),
                ),
                AttemptOutcome::Locked { .. } => (
                    AuditResult::Reject,
                    Some(Reject::LockedOut { until: None }.as_str().to_string()),
                ),
            };
            login
                .request
                .event(now, result, method.map(|m| m.as_str().to_string()), detail)
        };
        let outcome = self.store.commit_attempt(&attempt, &event_for)?;
        self.record(&event_for(&outcome));

        Ok(match outcome {
            AttemptOutcome::Accepted => Outcome::Accepted(Verified {
                user: data.user.name.clone(),
                user_id,
                method: match method {
                    Some(Method::Recovery { .. }) => Method::Recovery { remaining },
                    Some(m @ (Method::Totp { .. } | Method::Email { .. })) => m,
                    None => return Err(CoreError::Corrupt("accepted without a method".into())),
                },
            }),
            AttemptOutcome::Replayed {
                locked_until: Some(until),
                ..
            }
            | AttemptOutcome::Failed {
                locked_until: Some(until),
                ..
            } => Outcome::Rejected(Reject::LockedOut { until: Some(until) }),
            AttemptOutcome::Replayed {
                locked_until: None, ..
            } => Outcome::Rejected(Reject::Replayed),
            AttemptOutcome::Failed {
                locked_until: None, ..
            } => Outcome::Rejected(failure_reason),
            AttemptOutcome::Locked { until } => Outcome::Rejected(Reject::LockedOut { until }),
        })
    }

    /// Write an audit row and a syslog line for a decision that changed no state.
    fn audit_only(
        &self,
        request: &LoginRequest,
        result: AuditResult,
        method: Option<&str>,
        detail: &str,
    ) {
        let event = request.event(
            self.clock.now(),
            result,
            method.map(str::to_string),
            Some(detail.to_string()),
        );
        if let Err(e) = self.store.append_audit(&event) {
            self.sink
                .message(Severity::Error, &format!("cannot write audit row: {e}"));
        }
        self.record(&event);
    }

    /// Log that the core could not decide for `request` (the front-end denies). Best effort: the
    /// store may be what failed.
    pub fn report_error(&self, request: &LoginRequest, error: &CoreError) {
        let event = self.error_event(request, error);
        let _ = self.store.append_audit(&event);
        self.record(&event);
    }

    fn error_event(&self, request: &LoginRequest, error: &CoreError) -> AuditEvent {
        request.event(
            self.clock.now(),
            AuditResult::Error,
            None,
            Some(error.to_string()),
        )
    }

    /// Audit a refusal the front-end decided on its own, before any factor was checked (an
    /// unusable request: CHAP, a missing password, an unknown or expired challenge State).
    /// `detail` names why and must not carry anything secret.
    pub fn report_refusal(&self, request: &LoginRequest, detail: &str) {
        self.audit_only(request, AuditResult::Reject, None, detail);
    }
}

fn lock_detail(reason: Reject, locked_until: Option<u64>) -> String {
    match locked_until {
        Some(_) => format!("{}; locked_out", reason.as_str()),
        None => reason.as_str().to_string(),
    }
}

/// Does `code` match TOTP factor `factor_id` of `user` at `now`? Unseals the factor's secret
/// (an error, fail closed, when it does not decrypt) and returns the matched time step.
pub(crate) fn match_totp_factor(
    key: &MasterKey,
    default_window: u8,
    user: &crate::store::User,
    factor_id: FactorId,
    t: &crate::store::TotpState,
    code: &str,
    now: u64,
) -> Result<Option<u64>, CoreError> {
    let params = TotpParams {
        algorithm: t.algorithm,
        digits: t.digits,
        period: t.period,
        window: t.window.unwrap_or(default_window),
    };
    let ctx = SealContext {
        purpose: "totp",
        user_id: user.id,
        factor_id,
    };
    let secret =
        key.unseal(ctx, &t.sealed_secret)
            .ok_or_else(|| CoreError::SecretUnsealFailed {
                user: user.name.clone(),
                id: factor_id,
            })?;
    Ok(totp_match(&params, secret.expose(), code, now))
}

/// A factor that can answer a login today.
pub(crate) fn is_usable(f: &Factor) -> bool {
    f.status == FactorStatus::Active
        && match f.kind {
            FactorKind::Totp => f.totp.is_some(),
            FactorKind::Email => f.address.is_some(),
            FactorKind::Fido2 => false,
        }
}

fn retryable(r: Reject) -> bool {
    match r {
        Reject::BadCode
        | Reject::Malformed
        | Reject::Replayed
        | Reject::Expired
        | Reject::UnknownUser
        | Reject::NotEnrolled => true,
        Reject::InvalidUser | Reject::MailFailed | Reject::LockedOut { .. } => false,
    }
}

mod combined;

pub use combined::Combined;

#[cfg(test)]
mod tests;
