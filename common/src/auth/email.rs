//! Sent codes in the auth flow (by e-mail or SMS): when a code is sent, what the prompt says,
//! and how a failed send ends a login.
//!
//! The rule (documented in docs/email.md and docs/sms.md): once the first factor is proven, a
//! code is sent automatically when the user's preferred factor is e-mail or SMS, or when such
//! factors are all they have. Otherwise the prompt offers it: an empty answer sends one (to the
//! preferred such factor), the words `email` or `sms` choose the channel. A send within the
//! channel's `min_interval` of the previous one, or past its `max_per_day`, sends nothing (the
//! previous code stays valid). Before the first factor is proven nothing is ever sent.

use std::sync::Arc;

use super::{Authenticator, Login, Outcome, Prompt, Reject, prompts};
use crate::audit::{AuditResult, AuditSink, Severity};
use crate::base::address::mask_address;
use crate::base::phone::mask_phone;
use crate::base::text::Printable;
use crate::config::Config;
use crate::error::CoreError;
use crate::factor::email::{Delivery, MessageContext, SendError, Sender};
use crate::factor::is_usable;
use crate::factor::sms::SmsSender;
use crate::mail::{MailError, Mailer, SmtpMailer};
use crate::sms::{SmsContext, SmsError, Texter};
use crate::store::{Factor, FactorId, FactorKind, LoginData};

/// What the user is told when a code cannot be e-mailed.
pub const MAIL_FAILED: &str = "Could not send a code by email; try another method.";
/// What the user is told when a code cannot be texted.
pub const SMS_FAILED: &str = "Could not send a code by text message; try another method.";

/// Requests for an e-mailed code honoured per conversation (a client that keeps answering
/// with an empty line cannot loop forever).
pub(super) const MAX_SENDS_PER_LOGIN: u32 = 3;

/// The texter of `[sms]`, or `None` when SMS is off. One that cannot be made (a command that is
/// missing or not root's) is logged, and SMS users are then refused with [`SMS_FAILED`].
pub(super) fn texter_from_config(
    config: &Config,
    mailer: Option<Arc<dyn Mailer>>,
    sink: &dyn AuditSink,
) -> Option<Arc<dyn Texter>> {
    let cfg = config.sms.as_ref()?;
    match crate::sms::texter_from_config(cfg, mailer) {
        Ok(t) => Some(t),
        Err(e) => {
            sink.message(Severity::Error, &format!("SMS is unavailable: {e}"));
            None
        }
    }
}

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

/// An empty answer, or the word `email` or `sms`, asks for a code to be sent.
pub(super) fn is_send_request(answer: &str) -> bool {
    answer.is_empty() || requested(answer).is_some()
}

/// The channel a send request names (`None`: any, the preferred first).
fn requested(answer: &str) -> Option<FactorKind> {
    let is = |w: &str| answer.eq_ignore_ascii_case(w);
    if is("email") || is("e-mail") {
        Some(FactorKind::Email)
    } else if is("sms") || is("text") {
        Some(FactorKind::Sms)
    } else {
        None
    }
}

fn usable(d: &LoginData) -> impl Iterator<Item = &Factor> {
    d.factors.iter().filter(|f| is_usable(f))
}

fn is_sent(f: &Factor) -> bool {
    matches!(f.kind, FactorKind::Email | FactorKind::Sms)
}

/// The factor to send to without being asked: the preferred factor when it is e-mail or SMS,
/// or the first such factor when they are all the user has.
pub(super) fn auto_send_factor(d: &LoginData) -> Option<&Factor> {
    match usable(d).find(|f| f.preferred) {
        Some(p) => is_sent(p).then_some(p),
        None if usable(d).all(is_sent) => usable(d).next(),
        None => None,
    }
}

/// The factor a send request (`answer`) goes to: of the channel it names, else any; the
/// preferred one first.
pub(super) fn send_factor<'a>(d: &'a LoginData, answer: &str) -> Option<&'a Factor> {
    let want = requested(answer);
    let fits = |f: &&Factor| is_sent(f) && want.is_none_or(|k| f.kind == k);
    usable(d)
        .filter(fits)
        .find(|f| f.preferred)
        .or_else(|| usable(d).find(fits))
}

/// Another way in besides `factor_id`: another usable factor or an unused recovery code.
pub(super) fn has_alternative(d: &LoginData, factor_id: FactorId) -> bool {
    usable(d).any(|f| f.id != factor_id && f.kind != FactorKind::Fido2)
        || d.recovery.as_ref().is_some_and(|r| r.unused > 0)
}

/// What a send came to, for the flow.
pub(super) enum Mailed {
    /// Ask for the code with this prompt.
    Prompt(Prompt),
    /// The send failed (this refusal) and the user has no other way in.
    Failed(Reject),
}

impl Authenticator {
    /// Send a code for `factor_id` (e-mail or SMS; the first factor is proven) and say what to
    /// ask next.
    pub(super) fn mail_code(
        &self,
        login: &mut Login,
        factor_id: FactorId,
    ) -> Result<Mailed, CoreError> {
        login.code_sent = false;
        let channel = login.request.channel;
        let Some(data) = login.enrolled_data() else {
            return Err(CoreError::Corrupt(
                "a code was to be sent to an unenrolled user".into(),
            ));
        };
        let factor = usable(data)
            .find(|f| f.id == factor_id && is_sent(f))
            .ok_or_else(|| {
                CoreError::Corrupt(format!(
                    "factor {factor_id} is not a usable e-mail or SMS factor"
                ))
            })?;
        let kind = factor.kind;
        let to = factor.address.clone().unwrap_or_default();
        let now = self.clock.now();
        let sent = match kind {
            FactorKind::Sms => match (&self.config.sms, &self.texter) {
                (Some(cfg), Some(texter)) => SmsSender {
                    config: cfg,
                    store: self.store.as_ref(),
                    key: &self.key,
                    texter: texter.as_ref(),
                    now,
                }
                .send(
                    data.user.id,
                    factor_id,
                    &to,
                    &SmsContext {
                        user: &data.user.name,
                        service: &login.request.service,
                    },
                )?,
                (None, _) | (_, None) => Delivery::Failed {
                    masked: mask_phone(&to),
                    error: SendError::Sms(SmsError::Unavailable("SMS is not configured".into())),
                },
            },
            _ => match (&self.config.email, &self.mailer) {
                (Some(cfg), Some(mailer)) => Sender {
                    config: cfg,
                    store: self.store.as_ref(),
                    key: &self.key,
                    mailer: mailer.as_ref(),
                    now,
                }
                .send(
                    data.user.id,
                    factor_id,
                    &to,
                    &MessageContext {
                        user: &data.user.name,
                        service: &login.request.service,
                        source: login.request.source.as_deref(),
                    },
                )?,
                (None, _) | (_, None) => Delivery::Failed {
                    masked: mask_address(&to),
                    error: SendError::Mail(MailError::Message("e-mail is not configured".into())),
                },
            },
        };
        let (method, failed_text, failed) = match kind {
            FactorKind::Sms => ("sms", SMS_FAILED, Reject::SmsFailed),
            _ => ("email", MAIL_FAILED, Reject::MailFailed),
        };
        let alternative = has_alternative(data, factor_id);
        let code_prompt = prompts::for_code(Some(data), channel);
        let mailed = match sent {
            Delivery::Sent { masked } => {
                let e = self.event(
                    login,
                    AuditResult::Sent,
                    Some(method),
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
            } => {
                // One code per user, whichever way it went: name where the live one was sent
                // (a mail moments ago, when a text was asked for), not where this one would go.
                let went_to = self
                    .store
                    .email_code(data.user.id)?
                    .and_then(|c| usable(data).find(|f| f.id == c.factor_id))
                    .map(|f| match f.kind {
                        FactorKind::Sms => mask_phone(f.address.as_deref().unwrap_or_default()),
                        _ => mask_address(f.address.as_deref().unwrap_or_default()),
                    })
                    .unwrap_or(masked);
                Mailed::Prompt(Prompt {
                    info: Some(format!(
                        "A code was sent to {went_to} a moment ago and is still valid; enter it."
                    )),
                    ..prompts::emailed(&went_to)
                })
            }
            Delivery::TooSoon {
                retry_after,
                still_valid: false,
                ..
            } => {
                let wait = retry_after.saturating_sub(now).max(1);
                Mailed::Prompt(Prompt {
                    info: Some(prompts::send_later(wait, channel, kind == FactorKind::Sms)),
                    ..code_prompt
                })
            }
            Delivery::Failed { masked, error } => {
                // The audit row says what kind of failure; the server's words (which may quote
                // the full address or number) go to the log line only.
                let e = self.event(
                    login,
                    AuditResult::Error,
                    Some(method),
                    Some(format!(
                        "{}_failed to {masked}: {}",
                        error.channel(),
                        error.category()
                    )),
                );
                self.audit_only(&e);
                self.sink.message(
                    Severity::Error,
                    &format!(
                        "{} a code to {masked} failed, the login goes on without it: {}",
                        match kind {
                            FactorKind::Sms => "texting",
                            _ => "e-mailing",
                        },
                        Printable::upto(&error.to_string(), 300)
                    ),
                );
                if alternative {
                    Mailed::Prompt(Prompt {
                        info: Some(failed_text.to_string()),
                        after: Some(failed),
                        ..code_prompt
                    })
                } else {
                    Mailed::Failed(failed)
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
            Mailed::Failed(r) => {
                login.finished = true;
                Outcome::Rejected(r)
            }
        }))
    }
}
