//! Policy translation: an Access-Request becomes calls on the core's auth flow, and the outcome
//! becomes an Access-Accept, -Reject or -Challenge. The core decides everything (is the password
//! right, where the code starts, is the code valid, is the user locked); this file only chooses
//! the calls from the mode and maps the result back, in one exhaustive match.
//!
//! Runs on the blocking pool: Argon2 and SQLite are called from here, never from the packet loop.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tessera_common::{
    Authenticator, Begin, Channel, CoreError, Entry, FirstFactor, Login, LoginRequest, MissingCode,
    Outcome, Prompt, RadiusConfig, RadiusFirstFactor, RadiusMode, Reject, Verified,
};
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
    /// The datagram's source address: a challenge is answered from where it was sent.
    pub source: IpAddr,
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
    /// Ask for (another) code.
    Prompt(Box<Login>, Prompt),
    /// Refused before any factor was checked; the detail says why. Nothing is counted.
    Refused(&'static str),
    /// The login ends without a decision on a code; the prompt says what to do (`append`: a
    /// code was e-mailed, log in again with it).
    LoginAgain(Prompt, bool),
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

    /// The core's view of who logs in, through what, from where, and what the first
    /// User-Password holds in this client's mode.
    fn login_request(&self, req: &AccessRequest) -> LoginRequest {
        let r = self.radius();
        let mode = req.client.mode;
        let separator = r.separator.clone();
        LoginRequest {
            user: req.user.clone().unwrap_or_default(),
            also_known_as: None,
            service: req.client.name.clone(),
            source: req.nas.source(),
            // Per-source throttling: the VPN client's address when the NAS says it, else the NAS.
            origin: req.nas.calling_station.clone(),
            caller: None,
            user_uid: None,
            allow_unenrolled: r.allow_unenrolled,
            max_tries: match mode {
                RadiusMode::Challenge | RadiusMode::Auto => self.auth.config().policy.max_tries,
                RadiusMode::Append | RadiusMode::OtpOnly => 1,
            },
            // In otp-only the request holds the code: a new send would replace it.
            auto_send: mode != RadiusMode::OtpOnly,
            first_factor: self.first_factor(),
            entry: match mode {
                RadiusMode::OtpOnly => Entry::Code,
                RadiusMode::Challenge => Entry::Password,
                RadiusMode::Append => Entry::Combined {
                    separator,
                    missing_code: MissingCode::Fail,
                },
                RadiusMode::Auto => Entry::Combined {
                    separator,
                    missing_code: MissingCode::Ask,
                },
            },
            channel: Channel::Radius,
        }
    }

    /// How far the first factor is proven when a request arrives: checked here (`otp-only`
    /// included: the answer must be an OpenVPN `SCRV1:` string, whose password is checked before
    /// anything else), or by the NAS (`first_factor = "none"`).
    fn first_factor(&self) -> FirstFactor {
        match self.radius().first_factor {
            RadiusFirstFactor::Password => FirstFactor::Password,
            RadiusFirstFactor::None => FirstFactor::Proven,
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
        if req.state.is_none() && req.client.mode != RadiusMode::OtpOnly {
            return false;
        }
        // A challenge is only sent past the first factor; an `otp-only` request is the first
        // answer, which must carry the password where Tessera checks it.
        let first_factor = match req.state {
            Some(_) => FirstFactor::Proven,
            None => self.first_factor(),
        };
        self.auth.answer_is_quick(first_factor, text)
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
        let step = if request.user.is_empty() {
            Step::Refused("no_user_name")
        } else {
            match &req.credential {
                Credential::Pap(pw) => match std::str::from_utf8(pw) {
                    Err(_) => Step::Refused("password_not_utf8"),
                    Ok(text) => {
                        let text = Zeroizing::new(text.to_string());
                        match &req.state {
                            Some(state) => self.answer_challenge(request, &req, state, &text),
                            None => self.first_request(request, &text),
                        }
                    }
                },
                // An OTP must reach us in clear to be checked: CHAP and MS-CHAP only carry a
                // hash of it keyed by a challenge, and EAP methods are not supported. Refused on
                // sight: nothing is counted.
                Credential::Chap => Step::Refused("chap_cannot_carry_a_one_time_code"),
                Credential::MsChap => Step::Refused("mschap_cannot_carry_a_one_time_code"),
                Credential::Eap => Step::Refused("eap_not_supported"),
                // RFC 2865 §4.1 allows a State without a User-Password: the user answered the
                // challenge with nothing (radclient and some NASes send an empty answer so),
                // which asks for an e-mailed code like an empty password would.
                Credential::Missing => match &req.state {
                    Some(state) => self.answer_challenge(request, &req, state, ""),
                    None => Step::Refused("no_user_password"),
                },
                Credential::Undecodable => Step::Refused("malformed_user_password"),
            }
        };
        self.reply(step, request, req.source)
    }

    /// The first request of a login: its User-Password is what the mode says (a code, the
    /// password, or both); the core takes it from there.
    fn first_request(&self, request: &LoginRequest, text: &str) -> Step {
        let mut login = match self.auth.begin(request.clone()) {
            Err(e) => return self.error(request, e),
            Ok(Begin::Rejected(r)) => return Step::Rejected(r),
            Ok(Begin::Ignore) => return Step::Ignored,
            Ok(Begin::Prompt(login, _)) => login,
        };
        self.answer(&mut login, text).into_step(login)
    }

    fn answer_challenge(
        &self,
        request: &LoginRequest,
        req: &AccessRequest,
        state: &[u8],
        code: &str,
    ) -> Step {
        let taken = self.challenges.take(
            state,
            &request.user,
            &request.service,
            req.source,
            Instant::now(),
        );
        let mut login = match taken {
            Ok(l) => l,
            Err(e) => return Step::Refused(e.as_str()),
        };
        self.answer(&mut login, code).into_step(login)
    }

    fn answer(&self, login: &mut Login, text: &str) -> Answered {
        // `answer` reports its own errors.
        match self.auth.answer(login, text) {
            Ok(o) => Answered::Outcome(o),
            Err(e) => Answered::Error(e),
        }
    }

    fn error(&self, request: &LoginRequest, e: CoreError) -> Step {
        self.auth.report_error(request, &e);
        Step::Error(e)
    }

    /// The one place a result becomes a RADIUS reply (a challenge is bound to `source`).
    fn reply(&self, step: Step, request: &LoginRequest, source: IpAddr) -> Decision {
        let now = self.auth.now();
        let failed = || Reject::BadCode.user_message(now);
        let (reply, reason) = match step {
            Step::Accepted(v) => {
                let mut attrs = self.accept_attributes(&v.user);
                if let Some(notice) = v.notice() {
                    attrs.push(ReplyAttr::Text(codec::REPLY_MESSAGE, notice));
                }
                (
                    Reply::Accept(attrs),
                    format!("method={}", v.method.as_str()),
                )
            }
            // The core steps aside (an unenrolled user, or one who skipped optional
            // enrollment): RADIUS has no next module, so only `allow_unenrolled` lets them in.
            Step::Ignored if request.allow_unenrolled => (
                Reply::Accept(self.accept_attributes(&request.user)),
                "unenrolled_allowed".to_string(),
            ),
            Step::Ignored => (
                Reply::Reject {
                    message: self.auth.refusal_message(Reject::NotSetUp, Channel::Radius),
                },
                "not_enrolled".to_string(),
            ),
            Step::Rejected(r) => (
                Reply::Reject {
                    message: self.auth.refusal_message(r, Channel::Radius),
                },
                r.as_str().to_string(),
            ),
            Step::LoginAgain(prompt, sent) => (
                Reply::Reject {
                    message: prompt_message(&prompt),
                },
                if sent {
                    "code_sent_by_email"
                } else {
                    "email_send_interval"
                }
                .into(),
            ),
            Step::Prompt(login, prompt) => {
                let message = prompt_message(&prompt);
                let state = self.challenges.insert(
                    login,
                    &request.user,
                    &request.service,
                    source,
                    Instant::now(),
                );
                match state {
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

/// What the core answered.
enum Answered {
    Outcome(Outcome),
    Error(CoreError),
}

impl Answered {
    fn into_step(self, login: Box<Login>) -> Step {
        match self {
            Answered::Outcome(Outcome::Accepted(v)) => Step::Accepted(v),
            Answered::Outcome(Outcome::Rejected(r)) => Step::Rejected(r),
            Answered::Outcome(Outcome::Ignored) => Step::Ignored,
            Answered::Outcome(Outcome::Prompt(p)) => Step::Prompt(login, p),
            Answered::Outcome(Outcome::LoginAgain(p)) => Step::LoginAgain(p, login.code_sent()),
            Answered::Error(e) => Step::Error(e),
        }
    }
}

/// A prompt as one Reply-Message (split into attributes as long as it needs): what the user
/// must see, the information line, then the question.
fn prompt_message(prompt: &Prompt) -> String {
    let mut parts: Vec<&str> = prompt
        .messages
        .iter()
        .map(|m| m.expose().as_str())
        .collect();
    if let Some(info) = &prompt.info {
        parts.push(info);
    }
    parts.push(prompt.text.trim_end());
    parts.join(" ")
}

#[cfg(test)]
mod tests;
