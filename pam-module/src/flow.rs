//! What `pam_sm_authenticate` does, independent of libpam: parse the arguments, load the
//! configuration, run the core's login flow through a [`Conversation`], and reach a
//! [`Decision`], which [`pam_code`] maps to the PAM return code in one exhaustive match.
//!
//! The core decides everything (codes, lockout, replay, enumeration-safe prompts); this file
//! only translates. The [`Authenticator`] (and with it the SQLite connection and the syslog
//! socket) is created per call and dropped before the call returns: nothing outlives a
//! conversation, nothing is shared across fork, no lock is held while the user types.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pamsm::PamError;
use tessera_common::{
    AuditSink, Authenticator, Begin, Channel, Config, DEFAULT_CONFIG_PATH, Entry, FirstFactor,
    KeyVerdict, Login, LoginRequest, Method, MissingCode, Outcome, Prompt, Reject, Sections,
    Severity, Trust, Verified, printable,
};
use zeroize::Zeroizing;

use crate::args::{self, Args, PassMode};
use crate::conv::Conversation;
use crate::keys::KeyAnswer;
use tessera_fido2::Judged;

/// Who is logging in, from the PAM items.
#[derive(Debug, Clone)]
pub struct Session {
    /// PAM_USER; `None` when it is not valid UTF-8 (no such user can be enrolled).
    pub user: Option<String>,
    /// The account's name as the passwd database gives it for PAM_USER (`ALICE` → `alice` under
    /// a case-insensitive directory, `alice@realm` → the mapped name), when it has one.
    pub passwd_name: Option<String>,
    /// The account's uid in the passwd database, when it has one.
    pub user_uid: Option<u32>,
    /// The passwd lookup failed (NSS error): the account may have another name.
    pub passwd_failed: bool,
    /// PAM_SERVICE.
    pub service: String,
    /// PAM_RHOST.
    pub rhost: Option<String>,
    /// The real user id of the process the module runs in (who ran `su` or `sudo`; 0 for
    /// `login` and daemons).
    pub caller_uid: u32,
    /// What the module knows of a caller that does not run as root (a screen locker); `None`
    /// for sshd, login, su, sudo and polkit's helper, which do.
    pub unprivileged: Option<Unprivileged>,
    /// PAM_SILENT: show no informational or error messages (prompts still appear).
    pub silent: bool,
    /// `SSH_AUTH_INFO_0` from the PAM environment: the methods sshd has verified.
    pub ssh_auth_info: Option<String>,
    /// PAM_TTY.
    pub tty: Option<String>,
}

/// A caller whose effective uid is not 0, read only for such a caller.
#[derive(Debug, Clone)]
pub struct Unprivileged {
    /// Its effective user id.
    pub euid: u32,
    /// The saved set-user-id: a program that lowered its euid can raise it back to this.
    pub saved_uid: u32,
    /// Its real, effective and saved group ids are one (not a setgid program).
    pub gids_one: bool,
    /// It holds or could raise capabilities (or they could not be read).
    pub has_capabilities: bool,
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
            | Reject::NotSetUp
            | Reject::BadPassword
            | Reject::BadCode
            | Reject::Malformed
            | Reject::Replayed
            | Reject::Expired
            | Reject::MailFailed
            | Reject::SmsFailed
            | Reject::LockedOut { .. }
            | Reject::Throttled { .. } => PamError::AUTH_ERR,
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
    if let Some(caller) = &session.unprivileged {
        return unprivileged(&args, session, caller, sink.as_ref());
    }
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

/// A caller that does not run as root cannot read the store, which is root's alone. Under
/// `unprivileged=ignore` it steps aside, but only for the screen locker's case: a process
/// checking *its own* user (PAM_USER's uid is its uid), with no way back to another uid or
/// group, no capabilities, and no remote host, whose verdict therefore grants nothing it does
/// not have. Anything else — a daemon authenticating other users, a
/// program that lowered its euid and can raise it again — fails closed, as it does without the
/// option. Nothing is read, shown or counted either way.
fn unprivileged(
    args: &Args,
    session: &Session,
    caller: &Unprivileged,
    sink: &dyn AuditSink,
) -> Decision {
    let who = format!(
        "service={} user={}: the caller runs as uid {}, not root, and cannot read the store",
        printable(&session.service),
        session.user.as_deref().map(printable).unwrap_or_default(),
        caller.euid
    );
    let why_not = if session.user_uid != Some(session.caller_uid) {
        Some("it authenticates another user than itself")
    } else if session.caller_uid != caller.euid || caller.saved_uid != caller.euid {
        Some("it can change its user id back")
    } else if !caller.gids_one {
        Some("it runs with another group id than its own (setgid)")
    } else if caller.has_capabilities {
        Some("it holds capabilities")
    } else if session.rhost.is_some() {
        // A user's own sshd (or any service of theirs) asked from elsewhere: the password alone
        // must not let a remote caller in. A screen locker sets no PAM_RHOST.
        Some("the login comes from another host (PAM_RHOST)")
    } else {
        None
    };
    match (args.unprivileged_ignore, why_not) {
        (true, None) => {
            sink.message(
                Severity::Notice,
                &format!("{who}; it checks its own user: stepping aside (unprivileged=ignore)"),
            );
            Decision::Ignored
        }
        (true, Some(why)) => {
            sink.message(
                Severity::Error,
                &format!(
                    "{who}; {why}, so unprivileged=ignore does not apply (it steps aside only for a process checking its own user, such as a screen locker); denying"
                ),
            );
            Decision::Unavailable
        }
        (false, _) => {
            sink.message(
                Severity::Error,
                &format!(
                    "{who}; denying (a screen locker runs so: `unprivileged=ignore` lets a process checking its own user pass this module with PAM_IGNORE; see pam_tessera(8))"
                ),
            );
            Decision::Unavailable
        }
    }
}

/// Load the configuration as root's: it, the store, the key and every file it names must be
/// root's and unchangeable by anyone else, or the module refuses (a compromised RADIUS server
/// must not be able to rewrite who gets into sshd and sudo). Only the sections the module uses
/// are read, so a mistake in `[radius]` cannot fail SSH and sudo logins.
fn load_config(path: &Path) -> Result<Config, String> {
    Config::load_with(path, Sections::WithoutRadius, Trust::Everything).map_err(|e| e.to_string())
}

/// Run one login on an open authenticator.
///
/// Plain prompting is for the documented stacks, where the module follows the password module:
/// the first factor is proven when the module runs. `forward_pass`, `try_first_pass` and
/// `use_first_pass` put the module *before* the password module, so nothing it does may cost or
/// reveal anything: the core is told the first factor is unproven.
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
    // Under `optional` enrollment a `skip` steps aside too.
    let may_step_aside = args.nullok
        || auth.config().policy.enroll_at_login == tessera_common::EnrollAtLogin::Optional;
    if session.passwd_failed && may_step_aside {
        // Under nullok an unknown spelling steps aside: without the passwd name it cannot be
        // told from an enrolled account's other spelling. Fail closed.
        return Decision::Unavailable;
    }
    let combined = args.forward_pass || args.pass_mode != PassMode::Prompt;
    let keys_here = local_keys_allowed(args, session);
    // An OpenSSH security key sshd may have accepted (see `keys_first`).
    let ssh_key_here =
        args.ssh_key_factor && session.rhost.is_some() && session.ssh_auth_info.is_some();
    let request = LoginRequest {
        user: user.clone(),
        also_known_as: session.passwd_name.clone(),
        service: session.service.clone(),
        source: session.rhost.clone(),
        origin: session.rhost.clone(),
        caller: Some(session.caller_uid),
        user_uid: session.user_uid,
        allow_unenrolled: args.nullok,
        // use_first_pass never asks. Under PAM_SILENT the module cannot say why it asks again,
        // so the application's own retry ("Sorry, try again.") does it: one try per call.
        max_tries: match (args.pass_mode, session.silent) {
            (PassMode::UseFirstPass, _) | (_, true) => 1,
            (PassMode::Prompt | PassMode::TryFirstPass, false) => auth.config().policy.max_tries,
        },
        // With keys to ask, a code is mailed (if at all) only once they gave nothing.
        auto_send: !(keys_here || ssh_key_here),
        first_factor: if combined {
            FirstFactor::Unproven
        } else {
            FirstFactor::Proven
        },
        entry: if combined {
            Entry::Combined {
                separator: None,
                missing_code: match args.pass_mode {
                    PassMode::TryFirstPass => MissingCode::Ask,
                    PassMode::Prompt | PassMode::UseFirstPass => MissingCode::Fail,
                },
            }
        } else {
            Entry::Code
        },
        channel: Channel::Terminal,
    };

    let mut login = match auth.begin(request.clone()) {
        Ok(Begin::Prompt(login, _)) => login,
        Ok(Begin::Ignore) => return Decision::Ignored,
        Ok(Begin::Rejected(reject)) => return rejected(auth, reject, conv),
        Err(e) => {
            auth.report_error(&request, &e);
            return Decision::Unavailable;
        }
    };
    // A security key first: an OpenSSH one sshd accepted, else one plugged in here.
    match keys_first(auth, args, session, conv, &mut login, keys_here) {
        Ok(Some(decision)) => return decision,
        Ok(None) => {}
        Err(()) => return Decision::ConversationFailed,
    }
    if keys_here || ssh_key_here {
        match auth.send_deferred(&mut login) {
            Ok(None | Some(Outcome::Prompt(_))) => {}
            Ok(Some(Outcome::Rejected(r))) => return rejected(auth, r, conv),
            Ok(Some(Outcome::Accepted(_) | Outcome::Ignored | Outcome::LoginAgain(_))) | Err(_) => {
                return Decision::Unavailable;
            }
        }
    }
    let mut prompt = auth.current_prompt(&login).clone();
    // try_first_pass / use_first_pass: the first answer is PAM_AUTHTOK (absent: empty).
    let mut from_token = match args.pass_mode {
        PassMode::Prompt => None,
        PassMode::TryFirstPass | PassMode::UseFirstPass => Some(
            conv.authtok()
                .unwrap_or_else(|| Zeroizing::new(String::new())),
        ),
    };

    loop {
        let answer = match from_token.take() {
            Some(token) => token,
            None if args.pass_mode == PassMode::UseFirstPass => {
                // Not reached (one try, nothing to ask after it), but never ask here.
                return Decision::Rejected(prompt.after.unwrap_or(Reject::BadCode));
            }
            None => match ask(session, conv, &prompt) {
                Ok(a) => a,
                Err(()) => return Decision::ConversationFailed,
            },
        };
        match auth.answer(&mut login, &answer) {
            Ok(Outcome::Accepted(verified)) => {
                return accepted(&mut login, &verified, session, conv);
            }
            Ok(Outcome::Ignored) => {
                if let Some(pw) = login.take_password()
                    && conv.set_authtok(&pw).is_err()
                {
                    return Decision::ForwardFailed;
                }
                return Decision::Ignored;
            }
            Ok(Outcome::Rejected(reject)) => return rejected(auth, reject, conv),
            Ok(Outcome::Prompt(next)) => prompt = next,
            // Only RADIUS `append` logins end this way.
            Ok(Outcome::LoginAgain(_)) => return Decision::Rejected(Reject::BadCode),
            // The core has logged and audited it.
            Err(_) => return Decision::Unavailable,
        }
    }
}

/// The second factor checked out: hand on the password (`forward_pass`), tell the notice.
fn accepted<C: Conversation>(
    login: &mut Login,
    verified: &Verified,
    session: &Session,
    conv: &mut C,
) -> Decision {
    if let Some(pw) = login.take_password()
        && conv.set_authtok(&pw).is_err()
    {
        return Decision::ForwardFailed;
    }
    if let Some(notice) = verified.notice() {
        // A warning the user must see, even where PAM_SILENT hides information.
        let _ = if session.silent {
            conv.error(&notice)
        } else {
            conv.info(&notice)
        };
    }
    Decision::Accepted(verified.method)
}

/// Before any code: an OpenSSH security key that sshd accepted (`ssh_key_factor`), then the
/// keys plugged into this machine when `keys_here` ([`local_keys_allowed`]: whoever sits at
/// this machine must not be asked to touch a key for someone else's login). `Some`:
/// decided here; `None`: on to the code prompt (the login's current prompt, which says why
/// when a key's answer was refused). `Err`: the conversation failed.
fn keys_first<C: Conversation>(
    auth: &Authenticator,
    args: &Args,
    session: &Session,
    conv: &mut C,
    login: &mut Login,
    keys_here: bool,
) -> Result<Option<Decision>, ()> {
    let decided = |o: Result<Outcome, _>, login: &mut Login, conv: &mut C| match o {
        Ok(Outcome::Accepted(v)) => Some(accepted(login, &v, session, conv)),
        Ok(Outcome::Rejected(r)) => Some(rejected(auth, r, conv)),
        Ok(Outcome::Ignored) => Some(Decision::Ignored),
        Ok(Outcome::LoginAgain(_)) => Some(Decision::Rejected(Reject::BadCode)),
        Ok(Outcome::Prompt(_)) => None,
        Err(_) => Some(Decision::Unavailable),
    };
    // Only sshd sets SSH_AUTH_INFO_0, and sshd always sets PAM_RHOST: a stack without it is
    // not sshd's, whatever its line says, and an earlier module could have set the variable.
    if args.ssh_key_factor
        && session.rhost.is_some()
        && let Some(info) = &session.ssh_auth_info
    {
        // sshd_config without publickey first leaves the variable out: nothing to check.
        let accepted = tessera_common::ssh_key::accepted_keys(info);
        match auth.ssh_key_answer(login, &accepted) {
            Ok(Some(o)) => {
                if let Some(d) = decided(Ok(o), login, conv) {
                    return Ok(Some(d));
                }
            }
            Ok(None) => {}
            Err(_) => return Ok(Some(Decision::Unavailable)),
        }
    }
    if !keys_here {
        return Ok(None);
    }
    let requests = match auth.fido2_requests(login) {
        Ok(r) if r.is_empty() => return Ok(None),
        Ok(r) => r,
        Err(e) => {
            auth.report_error(login.request(), &e);
            return Ok(Some(Decision::Unavailable));
        }
    };
    let timeout = args.fido_timeout.map_or(auth.config().fido2.timeout, |s| {
        Duration::from_secs(u64::from(s))
    });
    let answer = {
        let login: &Login = login;
        crate::keys::ask_keys(&requests, timeout, session.silent, conv, |i, r| match auth
            .fido2_verdict(login, i, r)
        {
            KeyVerdict::Verifies => Judged::Take,
            KeyVerdict::Refused => Judged::Refused,
            KeyVerdict::Useless => Judged::Useless,
        })
    };
    match answer {
        KeyAnswer::Answered { index, response } => {
            let o = auth.fido2_answer(login, index, &response);
            Ok(decided(o, login, conv))
        }
        KeyAnswer::Nothing { tell } => {
            if let Some(t) = tell
                && !session.silent
            {
                conv.info(&t).map_err(drop)?;
            }
            Ok(None)
        }
        KeyAnswer::ConversationFailed => Err(()),
    }
}

/// Whether this stack may ask the keys plugged into this machine: not with `nofido`, never for
/// a remote login, and only when the login is known to be at this machine (a local logind
/// session, a virtual console) unless `fido_any_session` says every login of the stack is.
pub fn local_keys_allowed(args: &Args, session: &Session) -> bool {
    use crate::locality::{Locality, of_this_process};
    if args.nofido {
        return false;
    }
    match of_this_process(
        session.rhost.as_deref(),
        session.tty.as_deref(),
        session.caller_uid,
    ) {
        Locality::Local => true,
        Locality::Unknown => args.fido_any_session,
        Locality::Remote => false,
    }
}

/// Show what the user needs to answer (always), the note before the prompt (unless
/// PAM_SILENT), and read an answer.
fn ask<C: Conversation>(
    session: &Session,
    conv: &mut C,
    prompt: &Prompt,
) -> Result<Zeroizing<String>, ()> {
    for m in &prompt.messages {
        // Under PAM_SILENT (sudo) only error messages are shown: a QR code and the recovery
        // codes are what the user cannot go on without.
        if session.silent {
            conv.error(m.expose()).map_err(drop)?;
        } else {
            conv.info(m.expose()).map_err(drop)?;
        }
    }
    if let Some(info) = &prompt.info {
        match prompt.after {
            // What the user must know (the mail failed: use another way) is told even under
            // PAM_SILENT, as an error message.
            Some(r) if r.must_tell() => conv.error(info).map_err(drop)?,
            Some(_) | None if !session.silent => conv.info(info).map_err(drop)?,
            Some(_) | None => {}
        }
    }
    conv.prompt(&prompt.text, prompt.echo).map_err(drop)
}

/// A refusal. What the user must know (a lock, a throttle, a code already used, a failed mail)
/// is told as an error message, even under PAM_SILENT (sudo authenticates with PAM_SILENT and
/// shows error messages); every other reason looks the same.
fn rejected<C: Conversation>(auth: &Authenticator, reject: Reject, conv: &mut C) -> Decision {
    if reject.must_tell() {
        // Best effort: the answer is a refusal whether or not the message got through.
        let _ = conv.error(&auth.refusal_message(reject, Channel::Terminal));
    }
    Decision::Rejected(reject)
}

#[cfg(test)]
mod tests;
