//! What `pam_sm_authenticate` does, independent of libpam: parse the arguments, load the
//! configuration, run the core's login flow through a [`Conversation`], and reach a
//! [`Decision`], which [`pam_code`] maps to the PAM return code in one exhaustive match.
//!
//! The core decides everything (codes, lockout, replay, enumeration-safe prompts); this file
//! only translates. The [`Authenticator`] (and with it the SQLite connection and the syslog
//! socket) is created per call and dropped before the call returns: nothing outlives a
//! conversation, nothing is shared across fork, no lock is held while the user types.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pamsm::PamError;
use tessera_common::audit::{AuditSink, Severity};
use tessera_common::auth::{Authenticator, Begin, LoginRequest, Method, Outcome, Prompt, Reject};
use tessera_common::combined::split_owned;
use tessera_common::config::{Config, DEFAULT_CONFIG_PATH};
use tessera_common::text::printable;
use zeroize::Zeroizing;

use crate::args::{self, Args, PassMode};
use crate::conv::Conversation;

/// The single prompt of `forward_pass` (google-authenticator-libpam's wording).
pub const FORWARD_PROMPT: &str = "Password & verification code: ";
/// Asked of an unenrolled user under `nullok forward_pass`, so the next module gets a password.
pub const PASSWORD_PROMPT: &str = "Password: ";
/// The core's prompt for a code when nothing else needs saying.
const DEFAULT_PROMPT: &str = "Verification code: ";
/// The answer given for `use_first_pass` when PAM_AUTHTOK holds no code: malformed for every
/// factor and not a request for an e-mailed code, so the core refuses and audits it.
const NO_CODE: &str = "-";

/// Who is logging in, from the PAM items.
#[derive(Debug, Clone)]
pub struct Session {
    /// PAM_USER; `None` when it is not valid UTF-8 (no such user can be enrolled).
    pub user: Option<String>,
    /// PAM_SERVICE.
    pub service: String,
    /// PAM_RHOST.
    pub rhost: Option<String>,
    /// PAM_SILENT: show no informational or error messages (prompts still appear).
    pub silent: bool,
}

/// How one call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accepted(Method),
    Rejected(Reject),
    /// Unenrolled user under `nullok`.
    Ignored,
    /// The module arguments are wrong.
    BadArguments,
    /// The configuration, store or key is missing, unreadable or corrupt, or the core could
    /// not decide.
    Unavailable,
    /// The application's conversation failed (no conversation, the client went away).
    ConversationFailed,
    /// The code was accepted but the password could not be handed to the next module.
    ForwardFailed,
}

/// The return-code contract (docs/pam.md has it as a table).
pub fn pam_code(decision: &Decision) -> PamError {
    match decision {
        Decision::Accepted(_) => PamError::SUCCESS,
        Decision::Rejected(reject) => match reject {
            Reject::InvalidUser
            | Reject::UnknownUser
            | Reject::NotEnrolled
            | Reject::BadCode
            | Reject::Malformed
            | Reject::Replayed
            | Reject::Expired
            | Reject::MailFailed
            | Reject::LockedOut { .. } => PamError::AUTH_ERR,
        },
        Decision::Ignored => PamError::IGNORE,
        Decision::BadArguments | Decision::Unavailable => PamError::AUTHINFO_UNAVAIL,
        Decision::ConversationFailed => PamError::CONV_ERR,
        Decision::ForwardFailed => PamError::AUTH_ERR,
    }
}

/// The whole of `pam_sm_authenticate` after the PAM items were read.
pub fn authenticate<C: Conversation>(
    raw_args: &[String],
    session: &Session,
    conv: &mut C,
    sink: Arc<dyn AuditSink>,
) -> Decision {
    let args = match args::parse(raw_args) {
        Ok(a) => a,
        Err(e) => {
            sink.message(
                Severity::Error,
                &format!(
                    "service={}: invalid module arguments: {e}; denying (see pam_tessera in docs/pam.md)",
                    printable(&session.service)
                ),
            );
            return Decision::BadArguments;
        }
    };
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let config = match load_config(&path) {
        Ok(c) => c,
        Err(why) => {
            sink.message(
                Severity::Error,
                &format!("service={}: {why}; denying", printable(&session.service)),
            );
            return Decision::Unavailable;
        }
    };
    let auth = match Authenticator::from_config(Arc::new(config), sink.clone()) {
        Ok(a) => a,
        Err(e) => {
            sink.message(
                Severity::Error,
                &format!("service={}: {e}; denying", printable(&session.service)),
            );
            return Decision::Unavailable;
        }
    };
    let decision = run(&auth, &args, session, conv);
    if args.debug {
        sink.message(
            Severity::Info,
            &format!(
                "debug: service={} user={} decision={decision:?} pam={:?}",
                printable(&session.service),
                session.user.as_deref().map(printable).unwrap_or_default(),
                pam_code(&decision)
            ),
        );
    }
    // `auth` drops here: the store's connections and the syslog socket close before PAM
    // returns to the application.
    decision
}

/// Load the configuration, refusing a file that someone other than root could have written:
/// it names the store and the key that decide who gets in.
fn load_config(path: &Path) -> Result<Config, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    check_trusted(path, &meta)?;
    Config::load(path).map_err(|e| e.to_string())
}

fn check_trusted(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    if !meta.is_file() {
        return Err(format!("config file {} is not a file", path.display()));
    }
    if meta.uid() != 0 {
        return Err(format!(
            "config file {} is owned by uid {}, not root",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "config file {} is writable by group or others (mode {:04o}); run `chmod go-w {}`",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    Ok(())
}

/// Run one login on an open authenticator.
pub fn run<C: Conversation>(
    auth: &Authenticator,
    args: &Args,
    session: &Session,
    conv: &mut C,
) -> Decision {
    let Some(user) = &session.user else {
        // The core never sees a name it could not store; there is nothing to enumerate.
        return Decision::Rejected(Reject::InvalidUser);
    };
    let config = auth.config();
    // What may end a combined "password+code": a recovery code as printed (`xxxx-xxxx-xxxx`),
    // or a code of the configured TOTP or e-mail length.
    let shapes: Vec<u8> = std::iter::once(config.totp.digits)
        .chain(config.email.as_ref().map(|e| e.code_length))
        .collect();
    // try_first_pass / use_first_pass: the first answer comes from PAM_AUTHTOK.
    let mut from_token = match args.pass_mode {
        PassMode::Prompt => None,
        PassMode::TryFirstPass | PassMode::UseFirstPass => Some(
            conv.authtok()
                .and_then(|tok| split_owned(&tok, None, &shapes))
                .map(|(password, code)| Parts { password, code }),
        ),
    };
    let request = LoginRequest {
        user: user.clone(),
        service: session.service.clone(),
        source: session.rhost.clone(),
        allow_unenrolled: args.nullok,
        // use_first_pass never asks, so it has one try.
        max_tries: match args.pass_mode {
            PassMode::UseFirstPass => 1,
            PassMode::Prompt | PassMode::TryFirstPass => config.policy.max_tries,
        },
        // Mail a code at once (e-mail preferred or only factor) only when the user will be
        // asked: not when the code is already in hand, nor under use_first_pass.
        auto_send: match (&from_token, args.pass_mode) {
            (Some(Some(_)), _) | (_, PassMode::UseFirstPass) => false,
            (Some(None) | None, PassMode::Prompt | PassMode::TryFirstPass) => true,
        },
    };

    let (mut login, mut prompt) = match auth.begin(request.clone()) {
        Ok(Begin::Prompt(login, prompt)) => (login, prompt),
        Ok(Begin::Ignore) => return ignore(args, conv),
        Ok(Begin::Rejected(reject)) => return rejected(reject, auth.now(), session, conv),
        Err(e) => {
            auth.report_error(&request, &e);
            return Decision::Unavailable;
        }
    };

    loop {
        let (answer, password) = match (from_token.take(), args.pass_mode) {
            (Some(Some(c)), _) => (c.code, Some(c.password)),
            // No code at the end of PAM_AUTHTOK and no asking allowed: a failed try.
            (Some(None), PassMode::UseFirstPass) => (Zeroizing::new(NO_CODE.to_string()), None),
            (Some(None) | None, PassMode::Prompt | PassMode::TryFirstPass)
            | (None, PassMode::UseFirstPass) => match ask(args, session, conv, &prompt, &shapes) {
                Ok(a) => a,
                Err(()) => return Decision::ConversationFailed,
            },
        };
        match auth.answer(&mut login, &answer) {
            Ok(Outcome::Accepted(verified)) => {
                if let Some(pw) = password
                    && conv.set_authtok(&pw).is_err()
                {
                    return Decision::ForwardFailed;
                }
                return Decision::Accepted(verified.method);
            }
            Ok(Outcome::Rejected(reject)) => return rejected(reject, auth.now(), session, conv),
            Ok(Outcome::Prompt(next)) => {
                if args.pass_mode == PassMode::UseFirstPass {
                    // Not reached (one try, no mail requests), but never ask here.
                    return Decision::Rejected(next.after.unwrap_or(Reject::BadCode));
                }
                prompt = next;
            }
            // The core has logged and audited it.
            Err(_) => return Decision::Unavailable,
        }
    }
}

/// A combined answer taken apart.
struct Parts {
    password: Zeroizing<String>,
    code: Zeroizing<String>,
}

/// Show the prompt (and the note before it) and read an answer: the code, and under
/// `forward_pass` the password typed before it.
#[allow(clippy::type_complexity)] // a pair of zeroizing buffers, named at the call site
fn ask<C: Conversation>(
    args: &Args,
    session: &Session,
    conv: &mut C,
    prompt: &Prompt,
    shapes: &[u8],
) -> Result<(Zeroizing<String>, Option<Zeroizing<String>>), ()> {
    if let Some(info) = &prompt.info
        && !session.silent
    {
        conv.info(info).map_err(drop)?;
    }
    if args.forward_pass {
        // The core's own prompt says more than "Verification code" when it has e-mailed a code:
        // show it before the combined prompt.
        if prompt.text != DEFAULT_PROMPT && !session.silent {
            conv.info(prompt.text.trim_end()).map_err(drop)?;
        }
        let reply = conv.prompt(FORWARD_PROMPT, false).map_err(drop)?;
        Ok(match split_owned(&reply, None, shapes) {
            Some((password, code)) => (code, Some(password)),
            // No code at the end (only a password): an empty answer, which asks for a code by
            // e-mail when the user has that factor and is a failed try otherwise; nothing is
            // handed on.
            None => (Zeroizing::new(String::new()), None),
        })
    } else {
        let reply = conv.prompt(&prompt.text, prompt.echo).map_err(drop)?;
        Ok((reply, None))
    }
}

/// Unenrolled user under `nullok`: step aside. With `forward_pass` the next module still needs
/// a password, so ask for one and hand it on.
fn ignore<C: Conversation>(args: &Args, conv: &mut C) -> Decision {
    if args.forward_pass && args.pass_mode == PassMode::Prompt {
        let Ok(password) = conv.prompt(PASSWORD_PROMPT, false) else {
            return Decision::ConversationFailed;
        };
        if conv.set_authtok(&password).is_err() {
            return Decision::ForwardFailed;
        }
    }
    Decision::Ignored
}

/// A refusal. Only a lock and a failed mail are told to the user; every other reason looks the
/// same.
fn rejected<C: Conversation>(
    reject: Reject,
    now: u64,
    session: &Session,
    conv: &mut C,
) -> Decision {
    match reject {
        Reject::LockedOut { .. } | Reject::MailFailed if !session.silent => {
            // Best effort: the answer is a refusal whether or not the message got through.
            let _ = conv.error(&reject.user_message(now));
        }
        Reject::LockedOut { .. }
        | Reject::MailFailed
        | Reject::Expired
        | Reject::InvalidUser
        | Reject::UnknownUser
        | Reject::NotEnrolled
        | Reject::BadCode
        | Reject::Malformed
        | Reject::Replayed => {}
    }
    Decision::Rejected(reject)
}

#[cfg(test)]
mod tests;
