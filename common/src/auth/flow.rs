//! `begin` and `answer`: the login state machine (combined answers are in `combined.rs`).
//!
//! A login is at one of three stages: the password alone (RADIUS `challenge`), a password
//! followed by a code (split here), or a code. Where the first factor is proven (the PAM module
//! after the password module, a checked RADIUS password, the CLI), prompts may name the user's
//! factors, codes are mailed, a lock is told and wrong codes count against the user. Where it is
//! not (the PAM module before the password module), every user sees the same prompts, nothing
//! is mailed or revealed, and wrong answers only throttle the name from that source.

use zeroize::Zeroizing;

use super::reject::{lock_reject, miss_reject, miss_shown, retryable, stale_reject};

use super::attempt::{Committed, Counting, NameRow};
use super::email::{is_send_request, send_factor};
use super::split::parse_scrv1;
use super::{
    Authenticator, Begin, Entry, FirstFactor, Login, LoginRequest, Method, Outcome, PromptKind,
    Reject, Stage, Verified, prompts,
};
use crate::audit::AuditResult;
use crate::base::names::{account_key, name_key, validate_user_name};
use crate::error::CoreError;
use crate::factor::{Checked, Checker, Miss, is_usable};
use crate::policy::Lock;
use crate::store::LoginData;

impl Authenticator {
    /// Find the user under each spelling the request carries (the passwd name first), each as
    /// it is and as the account of its realm form (`alice@REALM`, `REALM\alice`: `alice`): the
    /// first that is enrolled, else the first that is known.
    fn resolve(&self, request: &LoginRequest) -> Result<Option<LoginData>, CoreError> {
        let mut known: Option<LoginData> = None;
        let mut seen: Vec<String> = Vec::new();
        let names = [
            request.also_known_as.as_deref(),
            Some(request.user.as_str()),
        ];
        let keys = names
            .into_iter()
            .flatten()
            .filter(|n| validate_user_name(n).is_ok())
            .flat_map(|n| [name_key(n), account_key(n)]);
        for key in keys {
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            if let Some(d) = self.store.login_data(&key)? {
                if d.factors.iter().any(is_usable) {
                    return Ok(Some(d));
                }
                known.get_or_insert(d);
            }
        }
        Ok(known)
    }

    /// Tries left in a conversation: the request's, never more than the lockout leaves.
    pub(super) fn tries_for(&self, login: &Login) -> u32 {
        let asked = login.request.max_tries.max(1);
        match (login.enrolled_data(), login.request.first_factor) {
            (Some(d), FirstFactor::Proven | FirstFactor::Password) => asked
                .min(
                    self.rules
                        .codes
                        .failures_left(d.lock.codes, self.clock.now()),
                )
                .max(1),
            _ => asked,
        }
    }

    /// Start a login: look the user up and return the first prompt.
    pub fn begin(&self, request: LoginRequest) -> Result<Begin, CoreError> {
        let now = self.clock.now();
        if validate_user_name(&request.user).is_err() {
            let e = request.event(
                &request.user,
                now,
                AuditResult::Reject,
                None,
                Some(Reject::InvalidUser.as_str().to_string()),
            );
            self.audit_only(&request.flood(e, false));
            return Ok(Begin::Rejected(Reject::InvalidUser));
        }
        let data = self.resolve(&request)?;
        // Throttled under the account the name names (the passwd spelling first, without a
        // realm: `alice@a` and `alice@b` must not be fresh buckets for alice), whatever the
        // store knows of it: the key tells nothing about enrollment.
        let throttle_key = account_key(request.also_known_as.as_deref().unwrap_or(&request.user));
        let enrolled = data
            .as_ref()
            .is_some_and(|d| d.factors.iter().any(is_usable));
        // Only a proven first factor goes straight to the code. Where Tessera checks the
        // password and the first answer is a code (RADIUS `otp-only`), that answer must carry
        // the password (`SCRV1:`), and nothing of the user (a lock, their factors) is shown
        // before it checked out.
        let code_first = match request.first_factor {
            FirstFactor::Proven => true,
            FirstFactor::Password | FirstFactor::Unproven => false,
        };
        let (stage, prompt) = match &request.entry {
            Entry::Code => (Stage::Code, prompts::neutral(PromptKind::Code)),
            Entry::Password => (Stage::Password, prompts::neutral(PromptKind::Password)),
            Entry::Combined { .. } => (
                Stage::Combined,
                prompts::neutral(PromptKind::PasswordAndCode),
            ),
        };
        let mut login = Box::new(Login {
            throttle_key,
            throttle_source: super::attempt::Source::of(&request),
            candidates: Vec::new(),
            data,
            enrolled,
            stage,
            tries_left: 1,
            sends_left: super::email::MAX_SENDS_PER_LOGIN,
            prompt,
            finished: false,
            code_sent: false,
            password: None,
            failed_here: 0,
            matched: None,
            password_checked: false,
            asked: Vec::new(),
            enroll: None,
            request,
        });
        login.tries_left = self.tries_for(&login);
        if code_first && stage == Stage::Code {
            // Nothing left to prove first: this is the point the first factor was proven at.
            match self.after_first_factor(&mut login)? {
                Outcome::Prompt(p) => return Ok(Begin::Prompt(login, p)),
                Outcome::Rejected(r) => return Ok(Begin::Rejected(r)),
                Outcome::Ignored => return Ok(Begin::Ignore),
                Outcome::Accepted(_) | Outcome::LoginAgain(_) => {
                    return Err(CoreError::Corrupt(
                        "a login decided before any answer".into(),
                    ));
                }
            }
        }
        let prompt = login.prompt.clone();
        Ok(Begin::Prompt(login, prompt))
    }

    /// The prompt the login is currently at.
    pub fn current_prompt<'a>(&self, login: &'a Login) -> &'a super::Prompt {
        &login.prompt
    }

    /// Check one answer, as the user typed it: a code, the password, or a password followed by
    /// a code, as the login's stage expects.
    pub fn answer(&self, login: &mut Login, text: &str) -> Result<Outcome, CoreError> {
        if login.finished {
            return Ok(Outcome::Rejected(Reject::BadCode));
        }
        login.code_sent = false;
        let outcome = match login.stage {
            Stage::Password => self.answer_password(login, text),
            Stage::Combined => self.answer_combined(login, text),
            Stage::Code => self.answer_code_stage(login, text),
            Stage::Enroll => self.answer_enroll(login, text),
        };
        self.finish_step(login, outcome)
    }

    /// Where a step leaves the login: at its next prompt, finished, or failed (reported; the
    /// front-end denies).
    pub(super) fn finish_step(
        &self,
        login: &mut Login,
        outcome: Result<Outcome, CoreError>,
    ) -> Result<Outcome, CoreError> {
        match outcome {
            Ok(o) => {
                match &o {
                    Outcome::Prompt(p) => login.prompt = p.clone(),
                    Outcome::Accepted(_)
                    | Outcome::Rejected(_)
                    | Outcome::Ignored
                    | Outcome::LoginAgain(_) => login.finished = true,
                }
                Ok(o)
            }
            Err(e) => {
                login.finished = true;
                self.report_error(&login.request, &e);
                Err(e)
            }
        }
    }

    /// An answer where a code alone is expected.
    fn answer_code_stage(&self, login: &mut Login, text: &str) -> Result<Outcome, CoreError> {
        let counting = self.counting(login);
        // Before the password, a throttled name costs no check (as in a combined answer).
        if counting == Counting::Throttle
            && let Some(until) = self.throttled_until(login, NameRow::Unproven)?
        {
            return Ok(self.refuse(login, Reject::Throttled { until }));
        }
        // Where Tessera checks passwords and none has checked out yet (RADIUS `otp-only` with
        // `first_factor = "password"`), the answer must carry one: an OpenVPN static-challenge
        // answer, whose response is the code. Anything else is a wrong password.
        if self.awaits_password(login) {
            return self.answer_password_and_code(login, text, counting);
        }
        // Otherwise the password was checked elsewhere (or already, before a challenge).
        match parse_scrv1(text) {
            Some((_, code)) => self.answer_code(login, &code, counting),
            None => self.answer_code(login, text, counting),
        }
    }

    /// A code-stage answer that must carry the user's password (`SCRV1:`): the password is
    /// checked first, then, once it checked out, what anyone past the first factor meets (an
    /// unenrolled user steps aside, a lock is told) and the code. An answer without a password
    /// (a bare code, `email`, nothing) is refused as a wrong password at a wrong password's
    /// cost: one Argon2 evaluation against no hash, the source throttled, nothing counted
    /// against the user or shown of them.
    fn answer_password_and_code(
        &self,
        login: &mut Login,
        text: &str,
        counting: Counting,
    ) -> Result<Outcome, CoreError> {
        let Some((password, code)) = parse_scrv1(text) else {
            return match self.check_password(login, None, 1)? {
                Err(o) => Ok(o),
                Ok(_) => Err(CoreError::Corrupt(
                    "no password checked out as a password".into(),
                )),
            };
        };
        if let Err(o) = self.first_factor(login, &[password.as_str()], 1)? {
            return Ok(o);
        }
        login.password = Some(password);
        match self.after_first_factor(login)? {
            // Enrollment at login: the code that came with the password was typed before any
            // enrollment prompt (set aside); its first prompt, the proof mail sent if it waited.
            Outcome::Prompt(p) if login.stage == Stage::Enroll => {
                Ok(self.release_held(login)?.unwrap_or(Outcome::Prompt(p)))
            }
            Outcome::Prompt(_) => self.answer_code(login, &code, counting),
            o @ (Outcome::Accepted(_)
            | Outcome::Rejected(_)
            | Outcome::Ignored
            | Outcome::LoginAgain(_)) => Ok(o),
        }
    }

    /// Tessera checks the user's password and none has checked out in this login yet: nothing
    /// may be mailed or shown.
    fn awaits_password(&self, login: &Login) -> bool {
        match login.request.first_factor {
            FirstFactor::Password => !login.password_checked,
            FirstFactor::Proven | FirstFactor::Unproven => false,
        }
    }

    fn counting(&self, login: &Login) -> Counting {
        match login.request.first_factor {
            FirstFactor::Unproven => Counting::Throttle,
            FirstFactor::Proven | FirstFactor::Password => Counting::User,
        }
    }

    pub(super) fn audit_ignore(&self, login: &Login) {
        let detail = if login.data.is_none() {
            Reject::UnknownUser
        } else {
            Reject::NotEnrolled
        };
        let e = self.event(
            login,
            AuditResult::Ignore,
            None,
            Some(detail.as_str().to_string()),
        );
        self.audit_only(&e);
    }

    pub(super) fn refuse(&self, login: &Login, r: Reject) -> Outcome {
        let known = login.data.is_some();
        // A throttle anyone can earn: one of a flood, and a name nobody has is marked so.
        let detail = match r {
            Reject::Throttled { .. } if !known => {
                format!("{}; {}", r.as_str(), Reject::UnknownUser.as_str())
            }
            _ => r.as_str().to_string(),
        };
        let e = self.event(login, AuditResult::Reject, None, Some(detail));
        let e = match r {
            Reject::Throttled { .. } => login.request.flood(e, known),
            _ => e,
        };
        self.audit_only(&e);
        Outcome::Rejected(r)
    }

    /// Where a login with its first factor proven ends before any code: an unenrolled user is
    /// offered enrollment (`[policy] enroll_at_login`) or steps aside (when allowed), a locked
    /// user is told.
    pub(super) fn stop_after_first_factor(
        &self,
        login: &mut Login,
    ) -> Result<Option<Outcome>, CoreError> {
        if self.enrolls_here(login) {
            return self.begin_enrollment(login).map(Some);
        }
        if self.steps_aside(login) {
            self.audit_ignore(login);
            return Ok(Some(Outcome::Ignored));
        }
        let Some(d) = login.enrolled_data() else {
            return Ok(None);
        };
        let Some(r) = lock_reject(d.lock.lock_at(self.clock.now())) else {
            return Ok(None);
        };
        Ok(Some(self.refuse(login, r)))
    }

    /// From here the login asks for a code: the user's prompt, and the tries the lockout leaves.
    pub(super) fn ask_for_code(&self, login: &mut Login) {
        login.stage = Stage::Code;
        login.tries_left = self.tries_for(login);
        login.prompt = prompts::for_code(login.enrolled_data(), login.request.channel);
    }

    /// The first factor is proven: an unenrolled user steps aside (when allowed), a locked user
    /// is told, anyone else is asked for a code (mailed at once when e-mail is their preferred
    /// or only factor).
    pub(super) fn after_first_factor(&self, login: &mut Login) -> Result<Outcome, CoreError> {
        if let Some(o) = self.stop_after_first_factor(login)? {
            return Ok(o);
        }
        self.ask_for_code(login);
        if login.request.auto_send
            && !self.awaits_password(login)
            && let Some(o) = self.send_preferred(login)?
        {
            return Ok(o);
        }
        Ok(Outcome::Prompt(login.prompt.clone()))
    }

    /// The password alone (RADIUS `challenge`): checked (unless proven elsewhere), then the code
    /// is asked for.
    fn answer_password(&self, login: &mut Login, text: &str) -> Result<Outcome, CoreError> {
        if login.request.first_factor == FirstFactor::Password {
            let pw = Zeroizing::new(text.to_string());
            if let Err(o) = self.first_factor(login, &[pw.as_str()], 1)? {
                return Ok(o);
            }
        }
        self.after_first_factor(login)
    }

    /// A code (or a request for an e-mailed one), counted as `counting` says.
    pub(super) fn answer_code(
        &self,
        login: &mut Login,
        text: &str,
        counting: Counting,
    ) -> Result<Outcome, CoreError> {
        let answer = Zeroizing::new(text.trim().to_string());
        // Before a password checked out, a request for mail is a wrong code like any other.
        if counting == Counting::User
            && is_send_request(&answer)
            && login.sends_left > 0
            && !self.awaits_password(login)
        {
            let factor = login
                .enrolled_data()
                .and_then(|d| send_factor(d, &answer))
                .map(|f| f.id);
            if let Some(factor_id) = factor {
                login.sends_left -= 1;
                return Ok(match self.mail_code(login, factor_id)? {
                    super::email::Mailed::Prompt(p) => Outcome::Prompt(p),
                    super::email::Mailed::Failed(r) => Outcome::Rejected(r),
                });
            }
        }
        self.decide(login, &[answer], counting)
    }

    /// Decide an answer, read as each of `codes` (one, or every code a split before the
    /// password could make): the first that matches, else one miss, counted as `counting` says.
    pub(super) fn decide(
        &self,
        login: &mut Login,
        codes: &[Zeroizing<String>],
        counting: Counting,
    ) -> Result<Outcome, CoreError> {
        let now = self.clock.now();
        login.tries_left = login.tries_left.saturating_sub(1);
        login.matched = None;
        let checker = Checker {
            config: &self.config,
            store: self.store.as_ref(),
            key: &self.key,
        };
        let mut checked = None;
        let mut shaped = false;
        for (i, code) in codes.iter().enumerate() {
            let c = checker.check_answer(
                login.enrolled_data(),
                code.trim(),
                now,
                counting == Counting::User,
            )?;
            match c {
                Checked::Misses { miss, .. } if codes.len() > 1 => shaped |= miss == Miss::Wrong,
                Checked::Misses { .. } | Checked::Matches { .. } | Checked::Stale(_) => {
                    login.matched = Some(i);
                    checked = Some(c);
                    break;
                }
            }
        }
        let checked = checked.unwrap_or(Checked::Misses {
            miss: if shaped { Miss::Wrong } else { Miss::Malformed },
            email_tried: false,
        });
        if !matches!(checked, Checked::Matches { .. }) {
            login.matched = None;
        }
        self.settle(login, checked, counting, None)
    }

    /// Commit what an answer turned out to be (consume its claim, or count the miss), audit it,
    /// and say what comes next. `note`: what the audit detail of a miss adds (why a key's
    /// answer was refused).
    pub(super) fn settle(
        &self,
        login: &mut Login,
        checked: Checked,
        counting: Counting,
        note: Option<&str>,
    ) -> Result<Outcome, CoreError> {
        let unproven = counting == Counting::Throttle;
        let why = note;
        let event_for = |c: &Committed| {
            let note = if unproven {
                "; before_first_factor"
            } else {
                ""
            };
            let (result, method, detail) = match c {
                Committed::Accepted { method, .. } => {
                    (AuditResult::Accept, Some(method.as_str()), None)
                }
                Committed::Stale(stale) => (
                    AuditResult::Reject,
                    None,
                    Some(format!("{}{note}", stale_reject(*stale).as_str())),
                ),
                Committed::Failed { miss, lock } => (
                    AuditResult::Reject,
                    None,
                    Some(format!(
                        "{}{}{}{note}",
                        miss_reject(*miss, login).as_str(),
                        why.map(|w| format!("; {w}")).unwrap_or_default(),
                        match (lock, unproven) {
                            (Lock::Open, _) => "",
                            (_, false) => "; locked_out",
                            (_, true) => "; throttled",
                        }
                    )),
                ),
                Committed::Locked(_) => {
                    (AuditResult::Reject, None, Some(format!("locked_out{note}")))
                }
                Committed::Throttled(_) if login.data.is_none() => (
                    AuditResult::Reject,
                    None,
                    Some(format!("throttled; {}", Reject::UnknownUser.as_str())),
                ),
                Committed::Throttled(_) => (AuditResult::Reject, None, Some("throttled".into())),
            };
            let e = self.event(login, result, method, detail);
            // A refusal for a name nobody has, or a throttle: anyone can cause it.
            match (result, login.data.is_some(), c) {
                (AuditResult::Reject, false, _) => login.request.flood(e, false),
                (AuditResult::Reject, true, Committed::Throttled(_)) => {
                    login.request.flood(e, true)
                }
                _ => e,
            }
        };
        let committed = self.commit_answer(login, &checked, counting, &event_for)?;
        self.record(&event_for(&committed));
        let (reject, shown) = match committed {
            Committed::Accepted {
                method,
                since_login,
            } => {
                let Some(d) = login.enrolled_data() else {
                    return Err(CoreError::Corrupt("accepted without a user".into()));
                };
                // A retry after a first answer whose code was wrong (`try_first_pass`): hand on
                // the password of the split whose code has the accepted factor's length.
                if login.password.is_none() && !login.candidates.is_empty() {
                    let want = match method {
                        Method::Totp { factor_id } => d
                            .factors
                            .iter()
                            .find(|f| f.id == factor_id)
                            .and_then(|f| f.totp.as_ref())
                            .map(|t| usize::from(t.digits)),
                        Method::Recovery { .. } => Some(crate::factor::recovery::PRINTED_LEN),
                        Method::Email { .. }
                        | Method::Sms { .. }
                        | Method::Fido2 { .. }
                        | Method::SshKey { .. } => None,
                    };
                    let candidates = std::mem::take(&mut login.candidates);
                    login.password = candidates
                        .into_iter()
                        .find(|(n, _)| Some(*n) == want)
                        .map(|(_, p)| p);
                }
                let d = login
                    .enrolled_data()
                    .ok_or_else(|| CoreError::Corrupt("accepted without a user".into()))?;
                return Ok(Outcome::Accepted(Verified {
                    user: d.user.name.clone(),
                    user_id: d.user.id,
                    method,
                    // The user knows about their own slips in this conversation.
                    wrong_codes_since_last_login: since_login.saturating_sub(login.failed_here),
                }));
            }
            Committed::Stale(stale) => (stale_reject(stale), stale_reject(stale)),
            Committed::Failed { miss, lock } => {
                if counting == Counting::User {
                    login.failed_here = login.failed_here.saturating_add(1);
                }
                // A lock is told at once; a throttle (which any source can earn) at the next
                // attempt, as for a wrong password.
                let r = match (lock, unproven) {
                    (Lock::Open, _) | (_, true) => miss_reject(miss, login),
                    (l, false) => lock_reject(l).unwrap_or(Reject::BadCode),
                };
                (r, miss_shown(miss))
            }
            // Before the first factor is proven a lock is not told.
            Committed::Locked(_) if unproven => (Reject::BadCode, Reject::BadCode),
            Committed::Locked(l) => {
                let r = lock_reject(l).unwrap_or(Reject::BadCode);
                (r, r)
            }
            Committed::Throttled(until) => {
                let r = Reject::Throttled { until };
                (r, r)
            }
        };
        if retryable(reject) && login.tries_left > 0 {
            let mut p = login.prompt.clone();
            p.after = Some(reject);
            p.info = Some(prompts::retry_info(shown, unproven).to_string());
            return Ok(Outcome::Prompt(p));
        }
        Ok(Outcome::Rejected(reject))
    }
}
