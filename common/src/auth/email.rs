//! E-mail in the auth flow: when a code is sent, what the prompt says, and how a failed send
//! ends a login.
//!
//! The rule (documented in docs/email.md): a code is e-mailed automatically when the user's
//! preferred factor is e-mail, or when e-mail is all they have. Otherwise the prompt offers it:
//! an empty answer or the word `email` sends one. A send within `[email] min_interval` of the
//! previous one sends nothing (the previous code stays valid).

use std::sync::Arc;

use super::{Authenticator, Login, Outcome, Prompt, Reject, is_usable};
use crate::audit::{AuditResult, AuditSink, Severity};
use crate::config::Config;
use crate::email_code::{MessageContext, Sender, Sent};
use crate::error::CoreError;
use crate::mail::{Mailer, SmtpMailer};
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
fn has_alternative(d: &LoginData) -> bool {
    usable(d).any(|f| f.kind != FactorKind::Email)
        || d.recovery.as_ref().is_some_and(|r| r.unused > 0)
}

/// The first prompt. One factor: "Verification code: ". Several: one prompt that accepts any of
/// them, the preferred one named.
pub(super) fn prompt_text(data: Option<&LoginData>) -> String {
    const PLAIN: &str = "Verification code: ";
    let Some(d) = data else {
        return PLAIN.to_string();
    };
    let totps: Vec<&Factor> = usable(d).filter(|f| f.kind == FactorKind::Totp).collect();
    let has_email = usable(d).any(|f| f.kind == FactorKind::Email);
    let recovery = d.recovery.as_ref().is_some_and(|b| b.unused > 0);
    match (totps.first(), has_email) {
        (None, false) => PLAIN.to_string(),
        (Some(_), false) if totps.len() == 1 => PLAIN.to_string(),
        (Some(first), false) => format!(
            "Verification code (authenticator \"{}\" or another{}): ",
            first.label,
            if recovery { ", or a recovery code" } else { "" }
        ),
        (None, true) => "Verification code (press Enter to get one by email): ".to_string(),
        (Some(first), true) => format!(
            "Verification code from authenticator \"{}\" (or press Enter to get one by email{}): ",
            first.label,
            if recovery {
                ", or use a recovery code"
            } else {
                ""
            }
        ),
    }
}

impl Authenticator {
    /// E-mail a code for `factor_id` and return the prompt to enter it, or the end of the login
    /// when the mail cannot be sent and the user has no other way in.
    pub(super) fn email_code_prompt(
        &self,
        login: &mut Login,
        factor_id: FactorId,
    ) -> Result<Outcome, CoreError> {
        login.code_sent = false;
        let Some(data) = login.data.as_ref() else {
            return Ok(Outcome::Rejected(Reject::NotEnrolled));
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
                    user: &login.request.user,
                    service: &login.request.service,
                    source: login.request.source.as_deref(),
                },
            )?,
            (None, _) | (_, None) => Sent::Failed {
                masked: crate::email_code::mask_address(&address),
                error: crate::mail::MailError::Message("e-mail is not configured".into()),
            },
        };
        let was_sent = matches!(sent, Sent::Sent { .. });
        let outcome = match sent {
            Sent::Sent { masked } => {
                self.audit_only(
                    &login.request,
                    AuditResult::Sent,
                    Some("email"),
                    &format!("code sent to {masked}"),
                );
                Outcome::Prompt(Prompt {
                    info: None,
                    text: format!("A code was sent to {masked}. Code: "),
                    echo: false,
                    after: None,
                })
            }
            Sent::TooSoon {
                masked,
                still_valid: true,
                ..
            } => Outcome::Prompt(Prompt {
                info: Some(format!(
                    "A code was sent to {masked} a moment ago and is still valid; enter it."
                )),
                text: format!("A code was sent to {masked}. Code: "),
                echo: false,
                after: None,
            }),
            Sent::TooSoon {
                retry_after,
                still_valid: false,
                ..
            } => {
                let wait = retry_after.saturating_sub(self.clock.now()).max(1);
                Outcome::Prompt(Prompt {
                    info: Some(format!(
                        "A new code can be e-mailed in {wait} s; press Enter then, or use another method."
                    )),
                    text: prompt_text(Some(data)),
                    echo: false,
                    after: None,
                })
            }
            Sent::Failed { masked, error } => {
                self.audit_only(
                    &login.request,
                    AuditResult::Error,
                    Some("email"),
                    &format!("mail_failed to {masked}: {error}"),
                );
                if has_alternative(data) {
                    Outcome::Prompt(Prompt {
                        info: Some(MAIL_FAILED.to_string()),
                        text: prompt_text(Some(data)),
                        echo: false,
                        // Tells a front-end that cannot ask again (RADIUS append mode) that
                        // nothing was sent.
                        after: Some(Reject::MailFailed),
                    })
                } else {
                    Outcome::Rejected(Reject::MailFailed)
                }
            }
        };
        login.code_sent = was_sent;
        Ok(outcome)
    }
}
