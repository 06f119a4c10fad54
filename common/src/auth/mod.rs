//! The auth flow shared by every front-end: `begin` → prompt → `answer` → outcome.
//!
//! A front-end says who logs in, what the first answer will hold ([`Entry`]: a code, a password,
//! or a password followed by a code) and how far the first factor is proven ([`FirstFactor`]),
//! then hands every answer over as the user typed it. The core splits, checks, counts and
//! decides; the front-end maps the typed [`Outcome`] to its protocol in one exhaustive match.
//!
//! A wrong code is a normal [`Outcome::Rejected`]; an `Err` means the core could not decide and
//! the front-end must deny. Before the first factor is proven nothing is mailed, no address is
//! shown, no failure counts against the user and every user sees the same prompts.

mod attempt;
mod batch;
mod combined;
mod email;
mod enroll;
mod fido2;
mod flow;
mod housekeeping;
mod password;
mod prompts;
mod reject;
mod split;

use std::sync::Arc;

use zeroize::Zeroizing;

pub use email::{MAIL_FAILED, SMS_FAILED};
pub use fido2::KeyVerdict;
pub(crate) use housekeeping::check_key_binding;
pub use reject::Reject;
pub(crate) use split::Split;

use crate::audit::{AuditEvent, AuditResult, AuditSink, Flood, Severity};
use crate::base::clock::{Clock, SystemClock};
use crate::base::secret::MasterKey;
use crate::config::Config;
use crate::error::CoreError;
pub use crate::factor::Method;
use crate::mail::Mailer;
use crate::policy::Rules;
use crate::store::{LoginData, SqliteStore, Store, UserId};

/// How far the first factor (the password) is proven when the second is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    /// Proven before Tessera is asked: the PAM module after the password module (the documented
    /// stacks), a RADIUS client with `first_factor = "none"`, the CLI.
    Proven,
    /// Not proven, and not provable here: the PAM module before the password module
    /// (`forward_pass`, `try_first_pass`, `use_first_pass`). Nothing is mailed or revealed,
    /// and wrong answers are throttled per name and source instead of counting against the user.
    Unproven,
    /// Tessera checks the user's own password (RADIUS `first_factor = "password"`). With
    /// [`Entry::Code`] (RADIUS `otp-only`) the answer must be an OpenVPN `SCRV1:` string, whose
    /// password is checked before anything else; any other answer is a wrong password (the
    /// same work, the same throttle). Until a password has checked out nothing is mailed, no
    /// address or lock is shown and nothing counts against the user.
    Password,
}

/// What the first answer of a login holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A code (or a request for an e-mailed one).
    Code,
    /// The password alone; the code is asked for next (RADIUS `challenge`).
    Password,
    /// A password followed by a code, split by the core.
    Combined {
        /// Between password and code; `None`: the code is a suffix of a known shape.
        separator: Option<String>,
        /// What a password without a code leads to.
        missing_code: MissingCode,
    },
}

/// A combined answer that turns out to hold no code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingCode {
    /// Ask for the code (RADIUS `auto` challenges; PAM `try_first_pass` prompts). With
    /// [`FirstFactor::Password`] the split is then decided without an oracle: both readings of
    /// the input are checked as the password, always.
    Ask,
    /// A failed try (RADIUS `append`, PAM `forward_pass` and `use_first_pass`); an e-mail user
    /// whose password checked out is mailed a code to log in with again.
    Fail,
}

/// Where prompts are shown, for their wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A terminal or a PAM conversation: "press Enter" makes sense.
    Terminal,
    /// A RADIUS Reply-Message shown by a VPN client.
    Radius,
}

/// Who is logging in, through what, from where.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// The name as presented.
    pub user: String,
    /// Another spelling of the same account (the PAM module: the name the passwd database
    /// gives). The user is found under either.
    pub also_known_as: Option<String>,
    /// PAM service (`sshd`, `sudo`) or RADIUS client name.
    pub service: String,
    /// Remote host or calling station, when known (audit).
    pub source: Option<String>,
    /// Where attempts come from, for per-source throttling (an address); `None`: the service.
    pub origin: Option<String>,
    /// The real user id of the process asking (the PAM module: `getuid()`), when known. It tells
    /// apart logins without an address: an account's own `sudo` from another account's
    /// `su alice`, and both from the console's `login` (run as root).
    pub caller: Option<u32>,
    /// The account's uid (the PAM module: from the passwd database), when known: with
    /// `caller`, tells the account asking for itself (its own `sudo`) from another.
    pub user_uid: Option<u32>,
    /// Let users with no active factor pass this module ([`Begin::Ignore`] / [`Outcome::Ignored`]).
    pub allow_unenrolled: bool,
    /// Wrong answers allowed in this conversation (at least 1; never more than the lockout
    /// leaves).
    pub max_tries: u32,
    /// E-mail a code at once when e-mail is the user's preferred or only factor. `false` when the
    /// front-end already holds the answer (a `--code` argument, an `otp-only` request): a new
    /// send would replace the very code being checked.
    pub auto_send: bool,
    pub first_factor: FirstFactor,
    pub entry: Entry,
    pub channel: Channel,
}

impl LoginRequest {
    /// A request for a code, with the first factor proven and the defaults of a terminal.
    pub fn code(user: &str, service: &str) -> LoginRequest {
        LoginRequest {
            user: user.to_string(),
            also_known_as: None,
            service: service.to_string(),
            source: None,
            origin: None,
            caller: None,
            user_uid: None,
            allow_unenrolled: false,
            max_tries: 1,
            auto_send: false,
            first_factor: FirstFactor::Proven,
            entry: Entry::Code,
            channel: Channel::Terminal,
        }
    }

    fn event(
        &self,
        user: &str,
        at: u64,
        result: AuditResult,
        method: Option<&str>,
        detail: Option<String>,
    ) -> AuditEvent {
        AuditEvent {
            at,
            user: user.to_string(),
            service: self.service.clone(),
            source: self.source.clone(),
            result,
            method: method.map(str::to_string),
            detail,
            count: 1,
            flood: None,
        }
    }

    /// Mark `event`, a refusal anyone can cause without an account, as one of a flood
    /// ([`AuditEvent::flood`]): it folds with the others from the same place (the origin, one
    /// key per place; else the source) within the minute. `known`: the account exists, and its
    /// name is part of the fold.
    fn flood(&self, mut event: AuditEvent, known: bool) -> AuditEvent {
        let place = self.origin.as_deref().or(self.source.as_deref());
        event.flood = Some(Flood {
            origin: place.and_then(crate::base::origin::origin_key),
            per_name: known,
        });
        event
    }
}

/// What a prompt asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// A code from one of the user's factors.
    Code,
    /// A code, or an empty answer (or `email`) for one by e-mail.
    CodeOrEmail,
    /// The code just e-mailed (or one e-mailed moments ago).
    EmailedCode,
    /// The password alone.
    Password,
    /// The password followed by a code.
    PasswordAndCode,
    /// Enrollment at login: an invitation from the administrator, or the code just e-mailed
    /// as proof (or a request for one, or `skip` where enrollment is optional).
    EnrollmentCode,
    /// Enrollment at login: the first code of the new factor, which activates it.
    NewFactorCode,
    /// A yes, once the user has saved what the messages showed (the recovery codes). Echoed.
    Acknowledge,
}

/// Something to show the user and read an answer for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    /// Shown before the prompt (e.g. "Invalid code, try again."), if anything.
    pub info: Option<String>,
    pub text: String,
    /// Whether the answer may be echoed (never for codes or passwords).
    pub echo: bool,
    /// The refusal of the previous answer, when this prompt asks again.
    pub after: Option<Reject>,
    /// Shown before `info`, one conversation message each, and even where messages are
    /// otherwise suppressed (PAM_SILENT): what the user needs to answer at all (a new factor's
    /// QR code, secret and URI; the recovery codes). Secrets: never logged.
    pub messages: Vec<crate::base::secret::Secret<String>>,
}

/// Proof of a passed second factor; only this crate can build one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    pub user: String,
    pub user_id: UserId,
    pub method: Method,
    /// Wrong codes entered for this user since their previous successful login.
    pub wrong_codes_since_last_login: u32,
}

impl Verified {
    /// What the user should be told after logging in: wrong codes since the last login (none of
    /// the peers tells this), recovery codes running out.
    pub fn notice(&self) -> Option<String> {
        let mut parts = Vec::new();
        match self.wrong_codes_since_last_login {
            0 => {}
            1 => parts.push(
                "Warning: 1 wrong code was entered for your account since your last login."
                    .to_string(),
            ),
            n => parts.push(format!(
                "Warning: {n} wrong codes were entered for your account since your last login."
            )),
        }
        if let Method::Recovery { remaining } = self.method
            && remaining <= 3
        {
            parts.push(format!(
                "{remaining} recovery code{} left.",
                if remaining == 1 { "" } else { "s" }
            ));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }
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
    /// Ask again (after a wrong answer when tries remain, after the password, after a send).
    Prompt(Prompt),
    /// Unenrolled user under `allow_unenrolled`, once their first factor checked out.
    Ignored,
    /// The login ends here without a decision on a code: the prompt says what the user should
    /// do (RADIUS `append`: a code was e-mailed, log in again with it).
    LoginAgain(Prompt),
}

/// Where a login is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Password,
    Combined,
    Code,
    /// Enrollment at login ([`Login::enroll`] says where).
    Enroll,
}

/// One login in progress.
pub struct Login {
    request: LoginRequest,
    /// The key first-factor failures are throttled under: the name as presented (its passwd
    /// spelling first), whatever the store knows of it.
    throttle_key: String,
    /// The source they are throttled from.
    throttle_source: attempt::Source,
    /// Before the password, the passwords each split of the first answer would hand on, with
    /// the length of the code after them (to hand the right one on after a retry).
    candidates: Vec<(usize, Zeroizing<String>)>,
    /// The user, when known.
    data: Option<LoginData>,
    /// The user has a usable factor.
    enrolled: bool,
    stage: Stage,
    tries_left: u32,
    /// Requests for an e-mailed code still honoured in this conversation.
    sends_left: u32,
    prompt: Prompt,
    finished: bool,
    /// The last step e-mailed a code.
    code_sent: bool,
    /// The password half of a combined answer, for the front-end to hand on (PAM).
    password: Option<Zeroizing<String>>,
    /// Wrong codes counted in this conversation (left out of the notice at its success).
    failed_here: u32,
    /// Which of the readings of the last answer matched.
    matched: Option<usize>,
    /// The user's Tessera password checked out in this login ([`FirstFactor::Password`]).
    password_checked: bool,
    /// What local security keys were last asked, with the challenges they must sign.
    asked: Vec<fido2::Asked>,
    /// Enrollment at login, once offered.
    enroll: Option<Box<enroll::Enrolling>>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.request.user)
            .field("service", &self.request.service)
            .field("stage", &self.stage)
            .field("tries_left", &self.tries_left)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Login {
    pub fn request(&self) -> &LoginRequest {
        &self.request
    }

    /// Whether the last step e-mailed a code (`false` when the send interval refused one).
    pub fn code_sent(&self) -> bool {
        self.code_sent
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The password typed before the code, for the next PAM module (taken once).
    pub fn take_password(&mut self) -> Option<Zeroizing<String>> {
        self.password.take()
    }

    /// The name for audit rows: the stored user's, else the one presented.
    fn audit_name(&self) -> &str {
        self.data
            .as_ref()
            .map_or(&self.request.user, |d| &d.user.name)
    }

    /// The enrolled user's data, for checks (`None` for unknown and unenrolled users).
    fn enrolled_data(&self) -> Option<&LoginData> {
        self.data.as_ref().filter(|_| self.enrolled)
    }
}

/// The one verification API. Holds what a decision needs; cheap to share behind an `Arc`.
pub struct Authenticator {
    config: Arc<Config>,
    rules: Rules,
    store: Arc<dyn Store>,
    key: Arc<MasterKey>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn AuditSink>,
    mailer: Option<Arc<dyn Mailer>>,
    texter: Option<Arc<dyn crate::sms::Texter>>,
    /// The process prunes on its own schedule ([`Authenticator::defer_maintenance`]).
    maintenance_deferred: std::sync::atomic::AtomicBool,
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
            rules: config.policy.rules(),
            config,
            store,
            key,
            clock,
            sink,
            mailer: None,
            texter: None,
            maintenance_deferred: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Send e-mailed codes through `mailer` (without one, e-mail factors cannot get codes).
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Authenticator {
        self.mailer = Some(mailer);
        self
    }

    /// Send texted codes through `texter` (without one, SMS factors cannot get codes).
    pub fn with_texter(mut self, texter: Arc<dyn crate::sms::Texter>) -> Authenticator {
        self.texter = Some(texter);
        self
    }

    /// The texter codes are sent through, if any (a front-end may wrap it).
    pub fn texter(&self) -> Option<Arc<dyn crate::sms::Texter>> {
        self.texter.clone()
    }

    /// The mailer codes are sent through, if any (a front-end may wrap it, e.g. to bound the
    /// sends in progress, and hand it back with [`Authenticator::with_mailer`]).
    pub fn mailer(&self) -> Option<Arc<dyn Mailer>> {
        self.mailer.clone()
    }

    /// Open the store and read the key named by `config`, with the system clock. Fails (and the
    /// front-end must deny) when either is missing, unreadable or corrupt.
    pub fn from_config(
        config: Arc<Config>,
        sink: Arc<dyn AuditSink>,
    ) -> Result<Authenticator, CoreError> {
        let store = Arc::new(SqliteStore::open(&config.store)?);
        let key = Arc::new(MasterKey::load(&config.store.key_file)?);
        check_key_binding(store.as_ref(), &key, &config.store)?;
        let mailer = email::mailer_from_config(&config, sink.as_ref());
        let texter = email::texter_from_config(&config, mailer.clone(), sink.as_ref());
        let mut auth = Authenticator::new(config, store, key, Arc::new(SystemClock), sink);
        auth.mailer = mailer;
        auth.texter = texter;
        Ok(auth)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Write an audit row and a syslog line for a decision that changed no state. A row the
    /// store does not take (disk full, read-only) is said lost, with what it said, on the sink.
    fn audit_only(&self, event: &AuditEvent) {
        crate::audit::append_or_tell(self.store.as_ref(), self.sink.as_ref(), event);
        self.record(event);
    }

    /// What to tell the user about refusal `r` on `channel`: [`Reject::user_message`], and for
    /// [`Reject::NotSetUp`] what to do and where (`[policy] enroll_help`).
    pub fn refusal_message(&self, r: Reject, channel: Channel) -> String {
        let text = match (r, channel) {
            // Over RADIUS nothing can be set up, whatever the user holds.
            (Reject::NotSetUp, Channel::Radius) => enroll::NOT_SET_UP_HERE.to_string(),
            _ => r.user_message(self.clock.now()),
        };
        match (r, &self.config.policy.enroll_help) {
            (Reject::NotSetUp, Some(help)) => format!("{text} {help}"),
            _ => text,
        }
    }

    /// Log that the core could not decide for `request` (the front-end denies). Best effort: the
    /// store may be what failed.
    pub fn report_error(&self, request: &LoginRequest, error: &CoreError) {
        let event = self.error_event(request, error);
        crate::audit::append_or_tell(self.store.as_ref(), self.sink.as_ref(), &event);
        self.record(&event);
    }

    fn error_event(&self, request: &LoginRequest, error: &CoreError) -> AuditEvent {
        request.event(
            &request.user,
            self.clock.now(),
            AuditResult::Error,
            None,
            Some(error.to_string()),
        )
    }

    /// Audit a refusal the front-end decided on its own, before any factor was checked (an
    /// unusable request: CHAP, a missing password, an unknown or expired challenge State).
    /// `detail` names why and must not carry anything secret. Nothing is counted.
    pub fn report_refusal(&self, request: &LoginRequest, detail: &str) {
        let event = request.event(
            &request.user,
            self.clock.now(),
            AuditResult::Reject,
            None,
            Some(detail.to_string()),
        );
        // Before any check, whoever sent it: one of a flood, the name left out.
        self.audit_only(&request.flood(event, false));
    }
}

#[cfg(test)]
mod tests;
