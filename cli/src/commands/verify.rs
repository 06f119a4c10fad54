use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use serde_json::json;
use tessera_common::SyslogSink;
use tessera_common::{Authenticator, Begin, LoginRequest, Method, Outcome, Reject};

use super::Ctx;
use crate::EXIT_REJECTED;
use crate::prompt;

pub fn run(ctx: &Ctx<'_>, name: &str, code: Option<&str>, service: &str) -> Result<ExitCode> {
    let auth =
        Authenticator::from_config(ctx.config.clone(), Arc::new(SyslogSink::new("tessera")))?;
    // The administrator runs this as root: the first factor counts as proven, so wrong codes
    // count against the user exactly as at a login.
    let request = LoginRequest {
        // A given --code is one answer; prompting allows the configured retries.
        max_tries: if code.is_some() {
            1
        } else {
            ctx.config.policy.max_tries
        },
        // A given --code must not be replaced by a freshly mailed one.
        auto_send: code.is_none(),
        ..LoginRequest::code(name, service)
    };
    let (mut login, mut prompt_now) = match auth.begin(request)? {
        Begin::Prompt(l, p) => (l, p),
        Begin::Rejected(r) => return Ok(rejected(ctx, r, auth.now())),
        Begin::Ignore => bail!("unexpected: an unenrolled user was let through"),
    };
    let mut given = code.map(str::to_string);
    loop {
        if let Some(info) = &prompt_now.info {
            eprintln!("{info}");
        }
        let answer = match given.take() {
            Some(c) => zeroize::Zeroizing::new(c),
            None => match prompt::secret(&prompt_now.text)? {
                Some(a) => a,
                // End of input after a refused answer: that refusal stands.
                None => match prompt_now.after {
                    Some(r) => return Ok(rejected(ctx, r, auth.now())),
                    None => bail!("no answer on stdin; nothing was checked"),
                },
            },
        };
        match auth.answer(&mut login, &answer)? {
            Outcome::Accepted(v) => {
                let remaining = match v.method {
                    Method::Recovery { remaining } => Some(remaining),
                    Method::Totp { .. }
                    | Method::Email { .. }
                    | Method::Sms { .. }
                    | Method::Fido2 { .. }
                    | Method::SshKey { .. } => None,
                };
                let method = v.method.as_str();
                let notice = v.notice();
                ctx.emit(
                    json!({
                        "user": v.user,
                        "result": "accept",
                        "method": method,
                        "recovery_codes_left": remaining,
                        "wrong_codes_since_last_login": v.wrong_codes_since_last_login,
                    }),
                    || {
                        println!("accepted ({method})");
                        if let Some(n) = &notice {
                            println!("{n}");
                        }
                        if let Some(n) = remaining {
                            println!("{n} recovery code(s) left; generate new ones with `tessera recovery generate {}`", v.user);
                        }
                    },
                );
                return Ok(ExitCode::SUCCESS);
            }
            Outcome::Rejected(r) => return Ok(rejected(ctx, r, auth.now())),
            Outcome::Prompt(p) => prompt_now = p,
            Outcome::Ignored | Outcome::LoginAgain(_) => {
                bail!("unexpected: the login ended without a decision on the code")
            }
        }
    }
}

fn rejected(ctx: &Ctx<'_>, r: Reject, now: u64) -> ExitCode {
    let message = r.user_message(now);
    ctx.emit(
        json!({"result": "reject", "reason": r.as_str(), "message": message}),
        || println!("rejected: {message} ({})", r.as_str()),
    );
    ExitCode::from(EXIT_REJECTED)
}
