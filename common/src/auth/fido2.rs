//! FIDO2 in a login: what a local key is asked, its answer, and the OpenSSH security key sshd
//! already accepted. Each ends where a typed code ends ([`Authenticator::settle`]): a verified
//! answer is claimed in the store with its audit row; a refused one counts as one wrong answer,
//! audited with why; a key that gives no answer (none plugged in, no touch in time) changes
//! nothing and the login goes on to the user's other factors.
//!
//! Only past the first factor: before the password is proven nothing may show whether a user
//! has a key, so an unproven login never asks one.

use super::attempt::Counting;
use super::{Authenticator, FirstFactor, Login, Outcome, Stage};
use crate::audit::{AuditResult, Severity};
use crate::base::secret::random_bytes;
use crate::error::CoreError;
use crate::factor::fido2::verify::{Refusal, verify_assertion};
use crate::factor::fido2::{AssertionRequest, AssertionResponse, Credential};
use crate::factor::{Checked, Method, Miss, is_usable};
use crate::store::{Claim, FactorId, Fido2Factor};

/// Shown before the code prompt when the key that answered holds none of the user's credentials.
pub const NOT_YOURS: &str =
    "That security key holds none of your credentials; enter a code instead.";

/// Shown before the code prompt when a key's answer was refused.
pub const KEY_REFUSED: &str = "The security key's answer was refused; enter a code instead.";

/// What a key's answer would come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyVerdict {
    /// It logs the user in.
    Verifies,
    /// Signed by the user's key and refused for what it signed: one wrong answer.
    Refused,
    /// Not the user's key speaking (another's, a broken device): neither.
    Useless,
}

/// One request a login sent to local keys, with the credentials it named.
#[derive(Debug, Clone)]
pub(super) struct Asked {
    request: AssertionRequest,
    credentials: Vec<(FactorId, Credential)>,
}

impl Authenticator {
    /// Whether keys may be asked in this login now: the first factor proven (or checked), at
    /// the code stage, not finished.
    fn may_use_keys(&self, login: &Login) -> bool {
        let proven = match login.request.first_factor {
            FirstFactor::Proven => true,
            FirstFactor::Password => login.password_checked,
            FirstFactor::Unproven => false,
        };
        proven && login.stage == Stage::Code && !login.finished
    }

    /// What to ask the keys plugged into this machine: one request per relying party id, each
    /// with every local credential of the user for it (one touch, whichever key the user has),
    /// over fresh random challenges the login keeps. Empty when the user has none, or keys may
    /// not be asked here. Each call replaces the previous requests.
    pub fn fido2_requests(&self, login: &mut Login) -> Result<Vec<AssertionRequest>, CoreError> {
        login.asked.clear();
        if !self.may_use_keys(login) {
            return Ok(Vec::new());
        }
        let Some(data) = login.enrolled_data() else {
            return Ok(Vec::new());
        };
        let mut asked: Vec<Asked> = Vec::new();
        for f in data.factors.iter().filter(|f| is_usable(f)) {
            let Some(Fido2Factor::Local(c)) = &f.fido2 else {
                continue;
            };
            // A resident credential is found by rp id alone, and an allow list would hide it;
            // a listed one is found only through the list. So one request of each kind per rp id.
            let resident = c.credential_id.is_empty();
            let same = |a: &Asked| {
                a.request.rp_id == c.rp_id && a.request.allow_list.is_empty() == resident
            };
            let i = match asked.iter().position(same) {
                Some(i) => i,
                None => {
                    let mut challenge = [0u8; 32];
                    random_bytes(&mut challenge)?;
                    asked.push(Asked {
                        request: AssertionRequest {
                            rp_id: c.rp_id.clone(),
                            challenge,
                            allow_list: Vec::new(),
                            presence: false,
                            verification: false,
                            pin: false,
                        },
                        credentials: Vec::new(),
                    });
                    asked.len() - 1
                }
            };
            let a = &mut asked[i];
            if !resident {
                a.request.allow_list.push(c.credential_id.clone());
            }
            a.request.presence |= c.presence;
            // Required only: `preferred` is what a key verifies on its own (a fingerprint).
            a.request.verification |= self.config.fido2.requires_uv()
                || c.verification == crate::factor::fido2::UserVerification::Required
                || c.pin;
            a.request.pin |= c.pin;
            a.credentials.push((f.id, c.clone()));
        }
        // Listed credentials first: their keys answer without a search.
        asked.sort_by_key(|a| a.request.allow_list.is_empty());
        let out = asked.iter().map(|a| a.request.clone()).collect();
        login.asked = asked;
        Ok(out)
    }

    /// A key's answer to request `index` of the last [`Authenticator::fido2_requests`]. Verified,
    /// it logs the user in (its counter claimed); refused, it is one wrong answer, audited with
    /// the reason (a counter that did not increase as a possible clone).
    pub fn fido2_answer(
        &self,
        login: &mut Login,
        index: usize,
        response: &AssertionResponse,
    ) -> Result<Outcome, CoreError> {
        let outcome = self.fido2_answer_inner(login, index, response);
        self.finish_step(login, outcome)
    }

    /// What `response` to request `index` would come to (nothing is changed: the front-end
    /// asks this of each key's answer as they come, and hands the one that verifies, else the
    /// best refused one, to [`Authenticator::fido2_answer`]).
    pub fn fido2_verdict(
        &self,
        login: &Login,
        index: usize,
        response: &AssertionResponse,
    ) -> KeyVerdict {
        let Some(asked) = login.asked.get(index) else {
            return KeyVerdict::Useless;
        };
        if !self.may_use_keys(login) {
            return KeyVerdict::Useless;
        }
        match self.check_key_answer(asked, response) {
            Ok(_) => KeyVerdict::Verifies,
            Err(why) if why.after_signature() => KeyVerdict::Refused,
            Err(_) => KeyVerdict::Useless,
        }
    }

    /// The one check of a key's answer to `asked`, for [`Authenticator::fido2_verdict`] and
    /// [`Authenticator::fido2_answer`] alike.
    fn check_key_answer(
        &self,
        asked: &Asked,
        response: &AssertionResponse,
    ) -> Result<crate::factor::fido2::verify::Verified, Refusal> {
        let creds: Vec<Credential> = asked.credentials.iter().map(|(_, c)| c.clone()).collect();
        let require_uv = self.config.fido2.requires_uv();
        verify_assertion(&creds, response, &asked.request.challenge, require_uv)
    }

    fn fido2_answer_inner(
        &self,
        login: &mut Login,
        index: usize,
        response: &AssertionResponse,
    ) -> Result<Outcome, CoreError> {
        if !self.may_use_keys(login) || index >= login.asked.len() {
            return Err(CoreError::Corrupt(
                "a security key's answer to nothing this login asked".into(),
            ));
        }
        // Each challenge is answered once.
        let asked = login.asked.swap_remove(index);
        login.asked.clear();
        let verdict = self.check_key_answer(&asked, response);
        if let Err(why) = verdict
            && !why.after_signature()
        {
            // Not the user's key speaking (someone else's key plugged in here, a broken or
            // hostile device): nothing of the user's was tried, so nothing is counted. Audited.
            let e = self.event(
                login,
                AuditResult::Reject,
                None,
                Some(format!("fido2 {}; not counted", why.as_str())),
            );
            self.audit_only(&e);
            let mut p = login.prompt.clone();
            p.info = Some(
                if why == Refusal::UnknownCredential {
                    NOT_YOURS
                } else {
                    KEY_REFUSED
                }
                .to_string(),
            );
            return Ok(Outcome::Prompt(p));
        }
        login.tries_left = login.tries_left.saturating_sub(1);
        match verdict {
            Ok(v) => {
                let factor_id = asked.credentials[v.index].0;
                let checked = Checked::Matches {
                    claim: Claim::Fido2Count {
                        factor_id,
                        count: v.sign_count,
                    },
                    method: Method::Fido2 { factor_id },
                };
                self.settle(login, checked, Counting::User, None)
            }
            Err(why) => {
                if why.possible_clone() {
                    self.sink.message(
                        Severity::Warning,
                        &format!(
                            "user={}: a security key answered with a signature counter that did not increase: it may have been cloned; refused",
                            crate::base::text::printable(login.audit_name())
                        ),
                    );
                }
                let checked = Checked::Misses {
                    miss: Miss::Wrong,
                    email_tried: false,
                };
                let note = format!("fido2 {}", why.as_str());
                Ok(
                    match self.settle(login, checked, Counting::User, Some(&note))? {
                        Outcome::Prompt(mut p) => {
                            p.info = Some(KEY_REFUSED.to_string());
                            Outcome::Prompt(p)
                        }
                        o => o,
                    },
                )
            }
        }
    }

    /// The e-mailed code a login did not send when it began because the front-end asked the
    /// keys first (it began with `auto_send` off): sent now, when e-mail is the user's preferred
    /// factor and the login is past the first factor. `None`: nothing to send; the login stays
    /// at its prompt.
    pub fn send_deferred(&self, login: &mut Login) -> Result<Option<Outcome>, CoreError> {
        // An enrollment waits for no answer the front-end holds: the keys were asked (none,
        // the user has no factor), and what comes next is typed at its prompt.
        if login.stage == Stage::Enroll && !login.finished {
            return match self.release_held(login) {
                Ok(None) => Ok(None),
                Ok(Some(o)) => self.finish_step(login, Ok(o)).map(Some),
                Err(e) => self.finish_step(login, Err(e)).map(Some),
            };
        }
        if !self.may_use_keys(login) {
            return Ok(None);
        }
        match self.send_preferred(login) {
            Ok(None) => Ok(None),
            Ok(Some(o)) => self.finish_step(login, Ok(o)).map(Some),
            Err(e) => self.finish_step(login, Err(e)).map(Some),
        }
    }

    /// sshd's accepted public keys (from `SSH_AUTH_INFO_0`, as wire blobs): when one is an
    /// enrolled OpenSSH security key of the user, that is the second factor and the login is
    /// decided here. `None`: no enrolled key among them (the login goes on to the prompt, and
    /// nothing was counted or written).
    pub fn ssh_key_answer(
        &self,
        login: &mut Login,
        accepted: &[Vec<u8>],
    ) -> Result<Option<Outcome>, CoreError> {
        if !self.may_use_keys(login) {
            return Ok(None);
        }
        let Some(data) = login.enrolled_data() else {
            return Ok(None);
        };
        let found = data
            .factors
            .iter()
            .filter(|f| is_usable(f))
            .find_map(|f| match &f.fido2 {
                Some(Fido2Factor::Ssh { blob, .. })
                    if crate::factor::ssh_key::matches(blob, accepted) =>
                {
                    Some(f.id)
                }
                _ => None,
            });
        let Some(factor_id) = found else {
            return Ok(None);
        };
        let checked = Checked::Matches {
            claim: Claim::SshKey { factor_id },
            method: Method::SshKey { factor_id },
        };
        login.tries_left = login.tries_left.saturating_sub(1);
        let outcome = self.settle(login, checked, Counting::User, None);
        self.finish_step(login, outcome).map(Some)
    }
}
