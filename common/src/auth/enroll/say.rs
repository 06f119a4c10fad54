//! What enrollment at login says, by channel. Only shown once the first factor is proven.

use crate::auth::{Channel, Prompt, PromptKind, prompts};
use crate::base::otp::TotpParams;
use crate::base::qr;
use crate::base::secret::Secret;
use zeroize::Zeroizing;

/// The refusal of an unenrolled user who must enroll and cannot here.
pub(crate) const NOT_SET_UP: &str = "Two-factor authentication is required for this account but \
     is not set up, and cannot be set up here without an enrollment code: ask your administrator \
     for one.";
/// The same where nothing can be set up (a VPN client).
pub(crate) const NOT_SET_UP_HERE: &str =
    "Two-factor authentication is not set up for this account, and cannot be set up from here.";

/// The most bytes of one conversation message (Linux-PAM's PAM_MAX_MSG_SIZE is 512).
const MESSAGE_BYTES: usize = 480;

fn header(optional: bool) -> String {
    if optional {
        "Two-factor authentication is not set up for your account yet.".to_string()
    } else {
        "Two-factor authentication must be set up for your account before you can log in."
            .to_string()
    }
}

fn ask_mail(channel: Channel) -> &'static str {
    match channel {
        Channel::Terminal => "press Enter",
        Channel::Radius => "answer \"email\"",
    }
}

/// Ask for the administrator's invitation.
pub(super) fn invitation(optional: bool, masked: Option<&str>, channel: Channel) -> Prompt {
    let mut or = Vec::new();
    if let Some(m) = masked {
        or.push(format!("{} to get one by e-mail at {m}", ask_mail(channel)));
    }
    if optional {
        or.push("type \"skip\" to do it later".to_string());
    }
    let text = match or.is_empty() {
        true => "Enrollment code from your administrator: ".to_string(),
        false => format!(
            "Enrollment code from your administrator (or {}): ",
            or.join(", or ")
        ),
    };
    Prompt {
        messages: vec![Secret::new(header(optional))],
        ..prompts::prompt(PromptKind::EnrollmentCode, text)
    }
}

/// Offer a code by e-mail as the proof (optional enrollment: only on request; required: where
/// the front-end held an answer before any prompt, and the mail waits for the next).
pub(super) fn offer_mail(
    masked: &str,
    channel: Channel,
    for_email_factor: bool,
    optional: bool,
) -> Prompt {
    let what = if for_email_factor {
        "make e-mail your second factor"
    } else {
        "set it up now"
    };
    let text = match optional {
        true => format!(
            "To {what}, {} for a code by e-mail at {masked}; or type \"skip\": ",
            ask_mail(channel)
        ),
        false => format!(
            "To {what}, {} for a code by e-mail at {masked}: ",
            ask_mail(channel)
        ),
    };
    Prompt {
        messages: vec![Secret::new(header(optional))],
        ..prompts::prompt(PromptKind::EnrollmentCode, text)
    }
}

/// The proof was e-mailed to `masked`.
pub(super) fn mailed(masked: &str, optional: bool, for_email_factor: bool) -> Prompt {
    let what = if for_email_factor {
        "make e-mail your second factor"
    } else {
        "set up two-factor authentication"
    };
    Prompt {
        messages: vec![Secret::new(header(optional))],
        ..prompts::prompt(
            PromptKind::EnrollmentCode,
            format!("A code was sent to {masked}. Enter it to {what}: "),
        )
    }
}

/// `secret` (base32) in groups of four, as apps show and people type it.
fn grouped(secret: &str) -> String {
    let mut out = String::with_capacity(secret.len() + secret.len() / 4);
    for (i, c) in secret.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Show the new authenticator (QR code, secret, URI) and ask for its first code. The QR code
/// starts on a line of its own: sshd's client puts `(user@host) ` before what it shows.
pub(super) fn new_authenticator(
    secret_base32: &Secret<String>,
    uri: &Secret<String>,
    params: &TotpParams,
) -> Prompt {
    let mut messages = Vec::new();
    messages.push(Secret::new(
        "\nScan this QR code with your authenticator app (Google Authenticator, FreeOTP, Aegis, \
         1Password, ...):"
            .to_string(),
    ));
    if let Some(q) = qr::half_blocks(uri.expose()).map(Zeroizing::new) {
        for part in qr::in_messages(&q, MESSAGE_BYTES) {
            messages.push(Secret::new(part));
        }
    }
    let by_hand = Zeroizing::new(grouped(secret_base32.expose()));
    messages.push(Secret::new(format!(
        "Or enter this key by hand: {} (time-based, {}, {} digits, every {} s)",
        by_hand.as_str(),
        params.algorithm.as_str().to_uppercase(),
        params.digits,
        params.period
    )));
    messages.push(Secret::new(format!(
        "Or open this link on the phone: {}",
        uri.expose()
    )));
    Prompt {
        messages,
        ..prompts::prompt(
            PromptKind::NewFactorCode,
            "Code from the app, to finish: ".to_string(),
        )
    }
}

/// Show the recovery codes and ask for a yes.
pub(super) fn recovery_codes(codes: &[Secret<String>], channel: Channel) -> Prompt {
    let mut text =
        "Your recovery codes: each logs in once if you lose your phone or key. They are \
                    shown only now: save them somewhere safe (not on the phone)."
            .to_string();
    for pair in codes.chunks(2) {
        text.push('\n');
        text.push_str("   ");
        for c in pair {
            text.push_str("  ");
            text.push_str(c.expose());
        }
    }
    let messages = qr::in_messages(&text, MESSAGE_BYTES)
        .into_iter()
        .map(Secret::new)
        .collect();
    let verb = match channel {
        Channel::Terminal => "Type",
        Channel::Radius => "Answer",
    };
    Prompt {
        messages,
        echo: true,
        ..prompts::prompt(
            PromptKind::Acknowledge,
            format!("{verb} \"yes\" once you have saved them: "),
        )
    }
}

/// Wrong codes entered for the account elsewhere before this enrollment (someone guessing at
/// the invitation).
pub(super) fn wrong_elsewhere(n: u32) -> String {
    format!(
        "Warning: {n} wrong code{} entered for your account before this login; if it was not \
         you, tell your administrator.",
        if n == 1 { " was" } else { "s were" }
    )
}

/// Asked again for the acknowledgement.
pub(super) const SAY_YES: &str =
    "The codes will not be shown again; type \"yes\" once you have saved them.";
/// `skip` where enrollment is required.
pub(super) const NO_SKIP: &str = "Two-factor authentication is required; it cannot be skipped.";
/// An invitation that was used or has expired (only its holder can know it).
pub(super) const STALE_INVITATION: &str =
    "That enrollment code was already used or has expired; ask your administrator for a new one.";
/// A wrong answer at an enrollment prompt.
pub(super) const WRONG: &str = "Invalid code, try again.";
