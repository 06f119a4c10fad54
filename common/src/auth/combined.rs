//! A password followed by a code in one answer: RADIUS `append` and `auto`, OpenVPN's
//! `SCRV1:`, and the PAM module's `forward_pass`, `try_first_pass` and `use_first_pass`.
//!
//! With the first factor checked here (RADIUS), the split follows the user's code lengths and,
//! in `auto`, both readings are checked as the password. Before the first factor is proven
//! (PAM), the split follows a rule that knows nothing of the user: every split a code could make
//! is tried.

use zeroize::Zeroizing;

use super::attempt::{Counting, NameRow};
use super::email::send_factor;
use super::split::{parse_scrv1, split_candidates, split_combined};
use super::{
    Authenticator, Entry, FirstFactor, Login, MissingCode, Outcome, PromptKind, Reject, Stage,
    prompts,
};
use crate::audit::AuditResult;
use crate::error::CoreError;
use crate::factor::code_lengths;

impl Authenticator {
    /// A password followed by a code.
    pub(super) fn answer_combined(
        &self,
        login: &mut Login,
        text: &str,
    ) -> Result<Outcome, CoreError> {
        let (separator, missing) = match &login.request.entry {
            Entry::Combined {
                separator,
                missing_code,
            } => (separator.clone(), *missing_code),
            Entry::Code | Entry::Password => (None, MissingCode::Fail),
        };
        let whole = Zeroizing::new(text.to_string());
        let scrv1 = parse_scrv1(text);
        let lengths = code_lengths(&self.config, login.enrolled_data());
        let split = match &scrv1 {
            Some(_) => None,
            None => split_combined(text, separator.as_deref(), &lengths),
        };
        let read = |s: &super::Split<'_>| {
            (
                Zeroizing::new(s.password.to_string()),
                Zeroizing::new(s.code.to_string()),
            )
        };
        let (password, code): (Zeroizing<String>, Option<Zeroizing<String>>) = match (scrv1, &split)
        {
            (Some((p, c)), _) => (p, Some(c)),
            (None, Some(s)) => {
                let (p, c) = read(s);
                (p, Some(c))
            }
            (None, None) => (whole.clone(), None),
        };
        match login.request.first_factor {
            FirstFactor::Password => {
                // `auto`: decided without an oracle. Both readings of the input are checked as
                // the password, always (two Argon2 evaluations, whatever the input and the
                // user): the part before a code-shaped suffix, and the whole.
                let auto = missing == MissingCode::Ask;
                let (password, code) = if auto && split.is_some() {
                    match self.first_factor(login, &[password.as_str(), whole.as_str()], 2)? {
                        Err(o) => return Ok(o),
                        Ok(Some(0)) => (password, code),
                        Ok(_) => (whole, None),
                    }
                } else {
                    let evaluations = if auto { 2 } else { 1 };
                    if let Err(o) = self.first_factor(login, &[password.as_str()], evaluations)? {
                        return Ok(o);
                    }
                    (password, code)
                };
                login.password = Some(password);
                self.after_combined(login, code, missing)
            }
            FirstFactor::Proven => {
                login.password = Some(password);
                self.after_combined(login, code, missing)
            }
            FirstFactor::Unproven => {
                if let Some(until) = self.throttled_until(login, NameRow::Unproven)? {
                    return Ok(self.refuse(login, Reject::Throttled { until }));
                }
                if self.steps_aside(login) {
                    // No factor, so no code to take off: all of it is the password.
                    login.password = Some(whole);
                    self.audit_ignore(login);
                    return Ok(Outcome::Ignored);
                }
                // Where the code starts is read by a rule that knows nothing of the user (their
                // factors' lengths would show who is enrolled, and how): every split a code
                // could make is tried.
                let candidates: Vec<(Zeroizing<String>, Zeroizing<String>)> =
                    match parse_scrv1(text) {
                        Some(pair) => vec![pair],
                        None => split_candidates(text).iter().map(read).collect(),
                    };
                if candidates.is_empty() {
                    return match missing {
                        // No code in it: the input is the password as it is (nothing to hand on).
                        MissingCode::Ask => {
                            login.stage = Stage::Code;
                            login.prompt = prompts::neutral(PromptKind::Code);
                            Ok(Outcome::Prompt(login.prompt.clone()))
                        }
                        MissingCode::Fail => {
                            self.decide(login, &[Zeroizing::new(String::new())], Counting::Throttle)
                        }
                    };
                }
                if missing == MissingCode::Ask {
                    // The password came with the first answer: ask again for the code alone.
                    login.stage = Stage::Code;
                    login.prompt = prompts::neutral(PromptKind::Code);
                }
                let (passwords, codes): (Vec<_>, Vec<_>) = candidates.into_iter().unzip();
                let outcome = self.decide(login, &codes, Counting::Throttle)?;
                match (&outcome, login.matched) {
                    (Outcome::Accepted(_), Some(i)) => {
                        login.password = passwords.into_iter().nth(i);
                    }
                    // Asked again for the code alone: which password to hand on then depends on
                    // the code that is accepted (its length picks the split).
                    (Outcome::Prompt(_), _) => {
                        login.candidates = codes.iter().map(|c| c.len()).zip(passwords).collect();
                    }
                    (_, _) => {}
                }
                Ok(outcome)
            }
        }
    }

    /// The first factor of a combined answer is proven: check its code, or deal with its
    /// absence.
    fn after_combined(
        &self,
        login: &mut Login,
        code: Option<Zeroizing<String>>,
        missing: MissingCode,
    ) -> Result<Outcome, CoreError> {
        let Some(code) = code else {
            return match missing {
                MissingCode::Ask => self.after_first_factor(login),
                MissingCode::Fail => self.missing_code(login),
            };
        };
        if let Some(o) = self.stop_after_first_factor(login)? {
            return Ok(o);
        }
        // Asked again, it is for the code alone: the password is proven.
        self.ask_for_code(login);
        self.answer_code(login, &code, Counting::User)
    }

    /// A proven password with no code where one was required (RADIUS `append`): an e-mail user
    /// is mailed one to log in with again; for anyone else it is a failed try.
    fn missing_code(&self, login: &mut Login) -> Result<Outcome, CoreError> {
        if let Some(o) = self.stop_after_first_factor(login)? {
            return Ok(o);
        }
        login.stage = Stage::Code;
        let factor = login
            .enrolled_data()
            .and_then(|d| send_factor(d, ""))
            .map(|f| f.id);
        let Some(factor_id) = factor else {
            return self.answer_code(login, "", Counting::User);
        };
        Ok(match self.mail_code(login, factor_id)? {
            super::email::Mailed::Prompt(p)
                if matches!(p.after, Some(Reject::MailFailed | Reject::SmsFailed)) =>
            {
                Outcome::Rejected(p.after.unwrap_or(Reject::MailFailed))
            }
            super::email::Mailed::Prompt(p) => {
                if !login.code_sent {
                    let e = self.event(
                        login,
                        AuditResult::Reject,
                        Some("email"),
                        Some("email_send_interval".to_string()),
                    );
                    self.audit_only(&e);
                }
                Outcome::LoginAgain(p)
            }
            super::email::Mailed::Failed(r) => Outcome::Rejected(r),
        })
    }
}
