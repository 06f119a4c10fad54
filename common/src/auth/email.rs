//! E-mail in the auth flow: when a code is sent, what the prompt says, and how a failed send
//! ends a login.
//!
//! The rule (documented in docs/email.md): once the first factor is proven, a code is e-mailed
//! automatically when the user's preferred factor is e-mail, or when e-mail is all they have.
//! Otherwise the prompt offers it: an empty answer or the word `email` sends one. A send within
//! `[email] min_interval` of the previous one sends nothing (the previous code stays valid).
//! Before the first factor is proven nothing is ever sent.

use std::sync::Arc;

use super::{Authenticator, Login, Outcome, Prompt, Reject, prompts};
use crate::audit::{AuditResult, AuditSink, Severity};
use crate::base::address::mask_address;
use crate::base::text::Printable;
use crate::config::Config;
use crate::error::CoreError;
use crate::factor::email::{Delivery, MessageContext, Sender};
use crate::factor::is_usable;
use crate::mail::{MailError, Mailer, SmtpMailer};
use crate::store::{Factor, FactorId, FactorKind, LoginData};

/// What the user is told when a code cannot be e-mailed.
pub const MAIL_FAILED: &str = "Could not send a code by email; try another method.";

/// Requests for an e-mailed code honoured per conversation (a client that keeps answering
/// with an empty line cannot loop forever).
pub(super) const MAX_SENDS_PER_LOGIN: u32 = 3;

/// The SMTP mailer of `[email]`, or `None` when e-mail is off. A mailer that cannot be built
/// (an unreadable `ca_file`) is logged, and e-mail users are then refused with [`MAIL_FAILED`].
pub(super) fn mailer_from_config(config: &Config, sink: &dyn AuditSink) -> Option<Arc<dyn Mailer>> {
    let cfg = config.email.as_ref()?;
    match SmtpMailer::new(cfg) {
        Ok(m) => Some(Arc::new(m)),
        Err(e) => {
            sink.message(Severity::Error, &format!("e-mail is unavailable: {e}"));
            None
        }
    }
}

/// An empty answer or the word `email` asks for a code by e-mail.
pub(super) fn is_send_request(answer: &str) -> bool {
    answer.is_empty()
        || answer.eq_ignore_ascii_case("email")
        || answer.eq_ignore_ascii_case("e-mail")
}

fn usable(d: &LoginData) -> impl Iterator<Item = &Factor> {
    d.factors.iter().filter(|f| is_usable(f))
}

/// The e-mail factor to send to without being asked: the preferred factor when it is e-mail,
/// or the first e-mail factor when e-mail is all the user has.
pub(super) fn auto_send_factor(d: &LoginData) -> Option<&Factor> {
    match usable(d).find(|f| f.preferred) {
        Some(p) => (p.kind == FactorKind::Email).then_some(p),
        None if usable(d).all(|f| f.kind == FactorKind::Email) => usable(d).next(),
        None => None,
    }
}

/// The e-mail factor a send request goes to: the preferred one if it is e-mail, else the first.
pub(super) fn send_factor(d: &LoginData) -> Option<&Factor> {
    usable(d)
        .find(|f| f.kind == FactorKind::Email && f.preferred)
        .or_else(|| usable(d).find(|f| f.kind == FactorKind::Email))
}

/// Another way in besides e-mail: a usable non-e-mail factor or an unused recovery code.
pub(super) fn has_alternative(d: &LoginData) -> bool {
    usable(d).any(|f| f.kind != FactorKind::Email)
        || d.recovery.as_ref().is_some_and(|r| r.unused > 0)
}

/// What a send came to, for the flow.
pub(super) enum Mailed {
    /// Ask for the code with this prompt.
    Prompt(Prompt),
    /// The mail failed and the user has no other way in.
    Failed,
}

impl Authenticator {
    /// E-mail a code for `factor_id` (the first factor is proven) and say what to ask next.
    pub(super) fn mail_code(
        &self,
        login: &mut Login,
        factor_id: FactorId,
    ) -> Result<Mailed, CoreError> {
        login.code_sent = false;
        let channel = login.request.channel;
        let Some(data) = login.enrolled_data() else {
            return Err(CoreError::Corrupt(
                "a code was to be mailed to an unenrolled user".into(),
            ));
        };
        let factor = usable(data).find(|f| f.id == factor_id).ok_or_else(|| {
            CoreError::Corrupt(format!("factor {factor_id} is not a usable e-mail factor"))
        })?;
        let address = factor.address.clone().unwrap_or_default();
        let sent = match (&self.config.email, &self.mailer) {
            (Some(cfg), Some(mailer)) => Sender {
                config: cfg,
                store: self.store.as_ref(),
                key: &self.key,
                mailer: mailer.as_ref(),
                now: self.clock.now(),
            }
            .send(
                data.user.id,
                factor_id,
                &address,
                &MessageContext {
                    user: &data.user.name,
                    service: &login.request.service,
                    source: login.request.source.as_deref(),
                },
            )?,
            (None, _) | (_, None) => Delivery::Failed {
                masked: mask_address(&address),
                error: MailError::Message("e-mail is not configured".into()),
            },
        };
        let alternative = has_alternative(data);
        let code_prompt = prompts::for_code(Some(data), channel);
        let mailed = match sent {
            Delivery::Sent { masked } => {
                let e = self.event(
                    login,
                    AuditResult::Sent,
                    Some("email"),
                    Some(format!("code sent to {masked}")),
                );
                self.audit_only(&e);
                login.code_sent = true;
                Mailed::Prompt(prompts::emailed(&masked))
            }
            Delivery::TooSoon {
                masked,
                still_valid: true,
                ..
            } => Mailed::Prompt(Prompt {
                info: Some(format!(
                    "A code was sent to {masked} a moment ago and is still valid; enter it."
                )),
                ..prompts::emailed(&masked)
            }),
            Delivery::TooSoon {
                retry_after,
                still_valid: false,
                ..
            } => {
                let wait = retry_after.saturating_sub(self.clock.now()).max(1);
                Mailed::Prompt(Prompt {
                    info: Some(prompts::send_later(wait, channel)),
                    ..code_prompt
                })
            }
            Delivery::Failed { masked, error } => {
                // The audit row says what kind of failure; the server's words (which may quote
                // the full address) go to the log line only.
                let e = self.event(
                    login,
                    AuditResult::Error,
                    Some("email"),
                    Some(format!("mail_failed to {masked}: {}", error.category())),
                );
                self.audit_only(&e);
                self.sink.message(
                    Severity::Error,
                    &format!(
                        "e-mailing a code to {masked} failed, the login goes on without it: {}",
                        Printable::upto(&error.to_string(), 300)
                    ),
                );
                if alternative {
                    Mailed::Prompt(Prompt {
                        info: Some(MAIL_FAILED.to_string()),
                        after: Some(Reject::MailFailed),
                        ..code_prompt
                    })
                } else {
                    Mailed::Failed
                }
            }
        };
        Ok(mailed)
    }

    /// E-mail a code now if e-mail is the user's preferred or only factor (the first factor is
    /// proven): the prompt to ask next, the end of the login when the mail failed and there is
    /// no other way in, or `None` when nothing was to be sent.
    pub(super) fn send_preferred(&self, login: &mut Login) -> Result<Option<Outcome>, CoreError> {
        let factor = login
            .enrolled_data()
            .and_then(auto_send_factor)
            .map(|f| f.id);
        let Some(factor_id) = factor else {
            return Ok(None);
        };
        Ok(Some(match self.mail_code(login, factor_id)? {
            Mailed::Prompt(p) => {
                login.prompt = p.clone();
                Outcome::Prompt(p)
            }
            Mailed::Failed => {
                login.finished = true;
                Outcome::Rejected(Reject::MailFailed)
            }
        }))
    }
}
