//! Policy translation: an Access-Request becomes calls on the core's auth flow, and the outcome
//! becomes an Access-Accept, -Reject or -Challenge. The core decides everything (is the password
//! right, where the code starts, is the code valid, is the user locked); this file only chooses
//! the calls from the mode and maps the result back, in one exhaustive match.
//!
//! Runs on the blocking pool: Argon2 and SQLite are called from here, never from the packet loop.

use std::sync::Arc;
use std::time::Instant;

use tessera_common::auth::{
    Authenticator, Begin, Combined, Login, LoginRequest, Outcome, Prompt, Reject, Verified,
};
use tessera_common::combined::parse_scrv1;
use tessera_common::config::{FirstFactor, RadiusConfig, RadiusMode};
use tessera_common::error::CoreError;
use zeroize::Zeroizing;

use crate::challenge::{Challenges, STATE_LEN};
use crate::clients::Client;
use crate::codec::{self, ReplyAttr};

/// What the NAS says about where the login comes from (for logs and audit only).
#[derive(Debug, Clone, Default)]
pub struct Nas {
    pub ip: Option<String>,
    pub identifier: Option<String>,
    pub calling_station: Option<String>,
}

impl Nas {
    /// The audit `source`: `cs=…,nas_ip=…,nas_id=…` with the fields present.
    pub fn source(&self) -> Option<String> {
        let mut out = String::new();
        for (k, v) in [
            ("cs", &self.calling_station),
            ("nas_ip", &self.ip),
            ("nas_id", &self.identifier),
        ] {
            if let Some(v) = v {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(k);
                out.push('=');
                out.push_str(v);
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// How the request tries to authenticate.
pub enum Credential {
    /// PAP: the un-hidden User-Password.
    Pap(Zeroizing<Vec<u8>>),
    Chap,
    MsChap,
    Eap,
    Missing,
    /// A User-Password whose length is not valid.
    Undecodable,
}

pub struct AccessRequest {
    pub client: Arc<Client>,
    pub user: Option<String>,
    pub credential: Credential,
    pub state: Option<Vec<u8>>,
    pub nas: Nas,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Accept(Vec<ReplyAttr>),
    Reject {
        message: String,
    },
    Challenge {
        state: [u8; STATE_LEN],
        message: String,
    },
}

#[derive(Debug)]
pub struct Decision {
    pub reply: Reply,
    pub user: String,
    /// Why, for the log line (a reject variant, `method=totp`, …); never secret.
    pub reason: String,
}

impl Decision {
    /// Denied with the reply that tells nothing ("Verification failed."); `reason` is for the
    /// log line. The reply of a request the server could not decide (fail closed).
    pub fn denied(user: String, reason: String) -> Decision {
        Decision {
            reply: Reply::Reject {
                message: Reject::BadCode.user_message(0),
            },
            user,
            reason,
        }
    }

    pub fn result(&self) -> &'static str {
        match self.reply {
            Reply::Accept(_) => "accept",
            Reply::Reject { .. } => "reject",
            Reply::Challenge { .. } => "challenge",
        }
    }
}

/// Where a request ended up, before it is turned into a reply.
enum Step {
    Accepted(Verified),
    /// Unenrolled user let through under `allow_unenrolled`.
    Ignored,
    Rejected(Reject),
    BadPassword,
    /// Ask for (another) code.
    Prompt(Box<Login>, Prompt),
    /// Refused before any factor was checked; the detail says why.
    Refused(&'static str),
    /// Append mode without a code: a code was e-mailed (`true`), or not yet because one was
    /// sent moments ago (`false`); the reject tells the user which.
    Sent(String, bool),
    Error(CoreError),
}

pub struct Handler {
    auth: Arc<Authenticator>,
    challenges: Arc<Challenges>,
}

impl Handler {
    pub fn new(auth: Arc<Authenticator>, challenges: Arc<Challenges>) -> Handler {
        Handler { auth, challenges }
    }

    pub fn auth(&self) -> &Arc<Authenticator> {
        &self.auth
    }

    fn radius(&self) -> &RadiusConfig {
        &self.auth.config().radius
    }

    /// The core's view of who logs in, through what, from where.
    fn login_request(&self, req: &AccessRequest) -> LoginRequest {
        LoginRequest {
            user: req.user.clone().unwrap_or_default(),
            service: req.client.name.clone(),
            source: req.nas.source(),
            allow_unenrolled: self.radius().allow_unenrolled,
            max_tries: match req.client.mode {
                RadiusMode::Challenge | RadiusMode::Auto => self.auth.config().policy.max_tries,
                RadiusMode::Append | RadiusMode::OtpOnly => 1,
            },
            // Nothing may be e-mailed before the first factor checks out (`send_preferred_email`
            // does it then), and a code in hand must not be replaced by a new one.
            auto_send: false,
        }
    }

    /// Whether deciding `req` is quick work that may share a store transaction with others
    /// ([`Handler::decide_batch`]): a code alone (an `otp-only` client, or the answer to a
    /// challenge), so no password to check with Argon2, and a code the core calls quick (not a
    /// recovery code, not a request for an e-mailed one).
    pub fn is_quick(&self, req: &AccessRequest) -> bool {
        let Credential::Pap(pw) = &req.credential else {
            return false;
        };
        let Ok(text) = std::str::from_utf8(pw) else {
            return false;
        };
        if req.user.as_deref().is_none_or(str::is_empty) {
            return false;
        }
        if req.state.is_some() {
            return self.auth.answer_is_quick(text);
        }
        if req.client.mode != RadiusMode::OtpOnly {
            return false;
        }
        match parse_scrv1(text) {
            Some((_, code)) => self.auth.answer_is_quick(&code),
            None => self.auth.answer_is_quick(text),
        }
    }

    /// Decide quick requests (see [`Handler::is_quick`]) in one store transaction: one commit
    /// for all. When it cannot commit, every one of them is denied and the error audited for
    /// each (nothing decided inside was kept); a panic denies them all too.
    pub fn decide_batch(&self, requests: Vec<AccessRequest>) -> Vec<Decision> {
        let logins: Vec<LoginRequest> = requests.iter().map(|r| self.login_request(r)).collect();
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.auth.batch(|| {
                requests
                    .into_iter()
                    .zip(&logins)
                    .map(|(r, login)| self.decide_as(r, login))
                    .collect::<Vec<_>>()
            })
        }));
        let denied_all = |reason: &str| {
            logins
                .iter()
                .map(|l| Decision::denied(l.user.clone(), reason.to_string()))
                .collect()
        };
        match decided {
            Ok(Ok(decisions)) => decisions,
            Ok(Err(e)) => {
                self.auth.report_batch_error(&logins, &e);
                denied_all(&format!("error: {e}"))
            }
            // The panic hook has written what happened.
            Err(_) => denied_all("internal_error"),
        }
    }

    pub fn decide(&self, req: AccessRequest) -> Decision {
        let request = self.login_request(&req);
        self.decide_as(req, &request)
    }

    /// [`Handler::decide`] with the request's [`LoginRequest`] already made.
    fn decide_as(&self, req: AccessRequest, request: &LoginRequest) -> Decision {
        let mode = req.client.mode;
        let user = request.user.clone();
        let step = if user.is_empty() {
            Step::Refused("no_user_name")
        } else {
            match &req.credential {
                Credential::Pap(pw) => match std::str::from_utf8(pw) {
                    Err(_) => Step::Refused("password_not_utf8"),
                    Ok(text) => match &req.state {
                        Some(state) => self.answer_challenge(request, state, text),
                        None => self.first_request(mode, request, text),
                    },
                },
                // An OTP must reach us in clear to be checked: CHAP and MS-CHAP only carry a
                // hash of it keyed by a challenge, and EAP methods are not supported.
                Credential::Chap => Step::Refused("chap_cannot_carry_a_one_time_code"),
                Credential::MsChap => Step::Refused("mschap_cannot_carry_a_one_time_code"),
                Credential::Eap => Step::Refused("eap_not_supported"),
                // RFC 2865 §4.1 allows a State without a User-Password: the user answered the
                // challenge with nothing (radclient and some NASes send an empty answer so),
                // which asks for an e-mailed code like an empty password would.
                Credential::Missing => match &req.state {
                    Some(state) => self.answer_challenge(request, state, ""),
                    None => Step::Refused("no_user_password"),
                },
                Credential::Undecodable => Step::Refused("malformed_user_password"),
            }
        };
        self.reply(step, request)
    }

    fn first_request(&self, mode: RadiusMode, request: &LoginRequest, text: &str) -> Step {
        let (login, prompt) = match self.auth.begin(request.clone()) {
            Err(e) => return self.error(request, e),
            Ok(Begin::Rejected(r)) => return Step::Rejected(r),
            Ok(Begin::Ignore) => return self.unenrolled(mode, request, text),
            Ok(Begin::Prompt(login, prompt)) => (login, prompt),
        };
        match mode {
            RadiusMode::OtpOnly => {
                let code = match parse_scrv1(text) {
                    Some((_, code)) => code,
                    None => Zeroizing::new(text.to_string()),
                };
                self.answer(login, &code)
            }
            RadiusMode::Challenge => match self.first_factor(request, text) {
                Ok(true) => self.challenge(login, prompt),
                Ok(false) => Step::BadPassword,
                Err(e) => self.error(request, e),
            },
            RadiusMode::Append | RadiusMode::Auto => {
                let auto = mode == RadiusMode::Auto;
                let separator = self.radius().separator.as_deref();
                let combined = match self.auth.read_combined(&login, text, separator, auto) {
                    Ok(c) => c,
                    Err(e) => return self.error(request, e),
                };
                let (password, code) = match combined {
                    Combined::PasswordAndCode { password, code } => (password, Some(code)),
                    Combined::PasswordOnly(password) => (password, None),
                };
                match self.first_factor(request, &password) {
                    Ok(true) => {}
                    Ok(false) => return Step::BadPassword,
                    Err(e) => return self.error(request, e),
                }
                match (code, auto) {
                    (Some(code), _) => self.answer(login, &code),
                    (None, true) => self.challenge(login, prompt),
                    // No code where one was required: an e-mail user is sent one (and told so in
                    // an Access-Reject: an append-mode NAS cannot show a challenge); for anyone
                    // else the core counts and audits a missing code.
                    (None, false) => match self.answer(login, "") {
                        // The mail failed, but the user has another way in (the login goes on
                        // where a prompt can follow): nothing was sent, say so.
                        Step::Prompt(_, p) if p.after == Some(Reject::MailFailed) => {
                            Step::Rejected(Reject::MailFailed)
                        }
                        Step::Prompt(login, p) => Step::Sent(prompt_message(&p), login.code_sent()),
                        other => other,
                    },
                }
            }
        }
    }

    /// An unenrolled user under `allow_unenrolled`: the first factor alone decides.
    fn unenrolled(&self, mode: RadiusMode, request: &LoginRequest, text: &str) -> Step {
        if mode == RadiusMode::OtpOnly || self.radius().first_factor == FirstFactor::None {
            return Step::Ignored;
        }
        let password = match parse_scrv1(text) {
            Some((password, _)) => password,
            None => Zeroizing::new(text.to_string()),
        };
        match self.first_factor(request, &password) {
            Ok(true) => Step::Ignored,
            Ok(false) => Step::BadPassword,
            Err(e) => self.error(request, e),
        }
    }

    /// The password checked out: challenge for the code, e-mailing one first when e-mail is the
    /// user's preferred or only factor.
    fn challenge(&self, mut login: Box<Login>, prompt: Prompt) -> Step {
        match self.auth.send_preferred_email(&mut login) {
            Ok(None) => Step::Prompt(login, prompt),
            Ok(Some(Outcome::Prompt(p))) => Step::Prompt(login, p),
            Ok(Some(Outcome::Rejected(r))) => Step::Rejected(r),
            Ok(Some(Outcome::Accepted(v))) => Step::Accepted(v),
            Err(e) => Step::Error(e),
        }
    }

    fn answer_challenge(&self, request: &LoginRequest, state: &[u8], code: &str) -> Step {
        let login =
            match self
                .challenges
                .take(state, &request.user, &request.service, Instant::now())
            {
                Ok(l) => l,
                Err(e) => return Step::Refused(e.as_str()),
            };
        self.answer(login, code)
    }

    fn answer(&self, mut login: Box<Login>, code: &str) -> Step {
        // `answer` reports its own errors.
        match self.auth.answer(&mut login, code) {
            Ok(Outcome::Accepted(v)) => Step::Accepted(v),
            Ok(Outcome::Rejected(r)) => Step::Rejected(r),
            Ok(Outcome::Prompt(p)) => Step::Prompt(login, p),
            Err(e) => Step::Error(e),
        }
    }

    fn first_factor(&self, request: &LoginRequest, password: &str) -> Result<bool, CoreError> {
        match self.radius().first_factor {
            FirstFactor::None => Ok(true),
            FirstFactor::Password => self.auth.check_password(request, password),
        }
    }

    fn error(&self, request: &LoginRequest, e: CoreError) -> Step {
        self.auth.report_error(request, &e);
        Step::Error(e)
    }

    /// The one place a result becomes a RADIUS reply.
    fn reply(&self, step: Step, request: &LoginRequest) -> Decision {
        let failed = || Reject::BadCode.user_message(self.auth.now());
        let (reply, reason) = match step {
            Step::Accepted(v) => (
                Reply::Accept(self.accept_attributes(&v.user)),
                format!("method={}", v.method.as_str()),
            ),
            Step::Ignored => (
                Reply::Accept(self.accept_attributes(&request.user)),
                "unenrolled_allowed".to_string(),
            ),
            Step::Rejected(r) => (
                Reply::Reject {
                    message: r.user_message(self.auth.now()),
                },
                r.as_str().to_string(),
            ),
            Step::BadPassword => (Reply::Reject { message: failed() }, "bad_password".into()),
            Step::Sent(message, true) => (Reply::Reject { message }, "code_sent_by_email".into()),
            // The core audited a send; a refusal to send again it did not: do it here.
            Step::Sent(message, false) => {
                self.auth.report_refusal(request, "email_send_interval");
                (Reply::Reject { message }, "email_send_interval".into())
            }
            Step::Prompt(login, prompt) => {
                let message = prompt_message(&prompt);
                match self
                    .challenges
                    .insert(login, &request.user, &request.service, Instant::now())
                {
                    Some(state) => (Reply::Challenge { state, message }, "challenge".into()),
                    None => {
                        self.auth
                            .report_refusal(request, "too_many_pending_challenges");
                        (
                            Reply::Reject { message: failed() },
                            "too_many_pending_challenges".into(),
                        )
                    }
                }
            }
            Step::Refused(why) => {
                self.auth.report_refusal(request, why);
                (Reply::Reject { message: failed() }, why.to_string())
            }
            Step::Error(e) => (Reply::Reject { message: failed() }, format!("error: {e}")),
        };
        Decision {
            reply,
            user: request.user.clone(),
            reason,
        }
    }

    fn accept_attributes(&self, user: &str) -> Vec<ReplyAttr> {
        let Some(r) = self.radius().reply_for(user) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(c) = &r.class {
            out.push(ReplyAttr::Bytes(codec::CLASS, c.as_bytes().to_vec()));
        }
        if let Some(f) = &r.filter_id {
            out.push(ReplyAttr::Text(codec::FILTER_ID, f.clone()));
        }
        if let Some(s) = r.session_timeout {
            out.push(ReplyAttr::U32(codec::SESSION_TIMEOUT, s));
        }
        if let Some(s) = r.idle_timeout {
            out.push(ReplyAttr::U32(codec::IDLE_TIMEOUT, s));
        }
        out
    }
}

/// A prompt as one Reply-Message: the information line, then the question.
fn prompt_message(prompt: &Prompt) -> String {
    match &prompt.info {
        Some(info) => format!("{info} {}", prompt.text.trim_end()),
        None => prompt.text.trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests;
