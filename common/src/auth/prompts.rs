//! What prompts say, by kind and channel. Before the first factor is proven every user gets the
//! same words ([`neutral`]); after it, the prompt may name the user's factors.

use super::{Channel, Prompt, PromptKind, Reject};
use crate::factor::is_usable;
use crate::store::{Factor, FactorKind, LoginData};

/// The prompt for a code when nothing else needs saying.
pub(super) const CODE: &str = "Verification code: ";
pub(super) const PASSWORD: &str = "Password: ";
/// google-authenticator-libpam's wording for `forward_pass`.
pub(super) const PASSWORD_AND_CODE: &str = "Password & verification code: ";

pub(super) fn prompt(kind: PromptKind, text: String) -> Prompt {
    Prompt {
        kind,
        info: None,
        text,
        echo: false,
        after: None,
        messages: Vec::new(),
    }
}

/// The same prompt for every user: nothing about their factors.
pub(super) fn neutral(kind: PromptKind) -> Prompt {
    let text = match kind {
        PromptKind::Password => PASSWORD,
        PromptKind::PasswordAndCode => PASSWORD_AND_CODE,
        PromptKind::Code
        | PromptKind::CodeOrEmail
        | PromptKind::EmailedCode
        | PromptKind::EnrollmentCode
        | PromptKind::NewFactorCode
        | PromptKind::Acknowledge => CODE,
    };
    prompt(kind, text.to_string())
}

/// How to ask for a sent code on this channel, for a user with e-mail and/or SMS factors.
fn ask_for_code(channel: Channel, email: bool, sms: bool) -> &'static str {
    match (channel, email, sms) {
        (Channel::Terminal, true, true) => {
            "press Enter to get one by email, or type \"sms\" for a text message"
        }
        (Channel::Terminal, false, true) => "press Enter to get one by text message",
        (Channel::Terminal, _, false) => "press Enter to get one by email",
        (Channel::Radius, true, true) => "answer \"email\" or \"sms\" to get one sent",
        (Channel::Radius, false, true) => "answer \"sms\" to get one by text message",
        (Channel::Radius, _, false) => "answer \"email\" to get one by email",
    }
}

/// The prompt for a code once the first factor is proven. One factor: "Verification code: ".
/// Several: one prompt that accepts any of them, naming the preferred one.
pub(super) fn for_code(data: Option<&LoginData>, channel: Channel) -> Prompt {
    let Some(d) = data else {
        return neutral(PromptKind::Code);
    };
    let usable = || d.factors.iter().filter(|f| is_usable(f));
    let totps: Vec<&Factor> = usable().filter(|f| f.kind == FactorKind::Totp).collect();
    let has_email = usable().any(|f| f.kind == FactorKind::Email);
    let has_sms = usable().any(|f| f.kind == FactorKind::Sms);
    let recovery = d.recovery.as_ref().is_some_and(|b| b.unused > 0);
    let ask = ask_for_code(channel, has_email, has_sms);
    match (totps.first(), has_email || has_sms) {
        (None, false) => neutral(PromptKind::Code),
        (Some(_), false) if totps.len() == 1 => neutral(PromptKind::Code),
        (Some(first), false) => prompt(
            PromptKind::Code,
            format!(
                "Verification code (authenticator \"{}\" or another{}): ",
                first.label,
                if recovery { ", or a recovery code" } else { "" }
            ),
        ),
        (None, true) => prompt(
            PromptKind::CodeOrEmail,
            format!("Verification code ({ask}): "),
        ),
        (Some(first), true) => prompt(
            PromptKind::CodeOrEmail,
            format!(
                "Verification code from authenticator \"{}\" (or {ask}{}): ",
                first.label,
                if recovery {
                    ", or use a recovery code"
                } else {
                    ""
                }
            ),
        ),
    }
}

/// The prompt after a code was e-mailed to `masked`.
pub(super) fn emailed(masked: &str) -> Prompt {
    prompt(
        PromptKind::EmailedCode,
        format!("A code was sent to {masked}. Code: "),
    )
}

/// A new code can be sent in `wait` seconds.
/// `sms`: it would be texted (and is asked for with `sms`), else e-mailed.
pub(super) fn send_later(wait: u64, channel: Channel, sms: bool) -> String {
    match (channel, sms) {
        (Channel::Terminal, false) => format!(
            "A new code can be e-mailed in {wait} s; press Enter then, or use another method."
        ),
        (Channel::Radius, false) => format!(
            "A new code can be e-mailed in {wait} s; answer \"email\" then, or use another method."
        ),
        (Channel::Terminal, true) => format!(
            "A new code can be texted in {wait} s; type \"sms\" then, or use another method."
        ),
        (Channel::Radius, true) => format!(
            "A new code can be texted in {wait} s; answer \"sms\" then, or use another method."
        ),
    }
}

/// The note before asking again after `r`. `neutral`: the same words for every wrong answer
/// (before the first factor is proven, the shape of the user's codes is not told).
pub(super) fn retry_info(r: Reject, neutral: bool) -> &'static str {
    match r {
        Reject::Replayed => "That code was already used; wait for the next one.",
        Reject::Malformed if !neutral => "That is not a valid code; try again.",
        Reject::Expired if !neutral => "That code has expired; ask for a new one.",
        Reject::Malformed
        | Reject::Expired
        | Reject::InvalidUser
        | Reject::UnknownUser
        | Reject::NotEnrolled
        | Reject::NotSetUp
        | Reject::BadPassword
        | Reject::BadCode
        | Reject::MailFailed
        | Reject::SmsFailed
        | Reject::LockedOut { .. }
        | Reject::Throttled { .. } => "Invalid code, try again.",
    }
}
