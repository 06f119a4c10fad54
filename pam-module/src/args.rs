//! Module arguments, parsed strictly: an unknown, repeated or malformed argument is an error
//! (the caller logs it and fails closed), never silently ignored.

use std::path::PathBuf;

use tessera_common::printable;

/// Where the code comes from (google-authenticator-libpam's option names and meanings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassMode {
    /// Ask through the conversation.
    #[default]
    Prompt,
    /// Take the code from the end of PAM_AUTHTOK when it ends in one; otherwise, or when that
    /// code is wrong and tries remain, ask.
    TryFirstPass,
    /// Take the code from the end of PAM_AUTHTOK; never ask.
    UseFirstPass,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Args {
    /// `config=PATH` (absolute). Default: /etc/tessera/tessera.toml. The module never reads
    /// `TESSERA_CONFIG`: the environment of `su` or `sudo` belongs to the user.
    pub config: Option<PathBuf>,
    /// Users with no active factor pass with PAM_IGNORE (never PAM_SUCCESS).
    pub nullok: bool,
    /// More detail in syslog (never a code or a password).
    pub debug: bool,
    pub pass_mode: PassMode,
    /// Ask for "password and code" in one prompt (or, with `use_first_pass`/`try_first_pass`,
    /// read both from PAM_AUTHTOK) and hand the password to the next module as PAM_AUTHTOK.
    pub forward_pass: bool,
    /// `fido_timeout=SECONDS`: how long a login waits for a security key's touch (1–300;
    /// default: `[fido2] timeout`, 30 s).
    pub fido_timeout: Option<u32>,
    /// `nofido`: never ask a local security key in this stack.
    pub nofido: bool,
    /// `fido_any_session`: ask local keys even when the module cannot tell that the login is
    /// at this machine (no logind session, no virtual console); never for a remote one.
    pub fido_any_session: bool,
    /// `ssh_key_factor`: this is sshd's stack; an enrolled OpenSSH security key that sshd
    /// accepted (`SSH_AUTH_INFO_0`, with `AuthenticationMethods publickey,keyboard-interactive`)
    /// is the second factor.
    pub ssh_key_factor: bool,
    /// `unprivileged=ignore`: when the calling process does not run as root (a screen locker
    /// running as the user), step aside with PAM_IGNORE instead of failing closed: such a
    /// process cannot read root's store, and its verdict grants no privilege it lacks.
    pub unprivileged_ignore: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("unknown argument {0:?}")]
    Unknown(String),
    #[error("argument {0:?} given more than once")]
    Repeated(String),
    #[error("argument {0:?} needs a value ({0}=...)")]
    MissingValue(String),
    #[error("argument {0:?} takes no value")]
    UnexpectedValue(String),
    #[error("config={0:?} must be an absolute path")]
    RelativeConfig(String),
    #[error("fido_timeout={0:?} must be a whole number of seconds from 1 to 300")]
    BadTimeout(String),
    #[error(
        "unprivileged={0:?}: the only value is `ignore` (without the argument the module fails closed)"
    )]
    BadUnprivileged(String),
    #[error("arguments {0:?} and {1:?} cannot be combined")]
    Conflict(&'static str, &'static str),
}

/// Parse the arguments of a pam.d line.
pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Args, ArgError> {
    let mut args = Args::default();
    let mut seen: Vec<&str> = Vec::new();
    for item in raw {
        let item = item.as_ref();
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        let name = match name {
            "config" => "config",
            "nullok" => "nullok",
            "debug" => "debug",
            "try_first_pass" => "try_first_pass",
            "use_first_pass" => "use_first_pass",
            "forward_pass" => "forward_pass",
            "fido_timeout" => "fido_timeout",
            "nofido" => "nofido",
            "fido_any_session" => "fido_any_session",
            "ssh_key_factor" => "ssh_key_factor",
            "unprivileged" => "unprivileged",
            other => return Err(ArgError::Unknown(printable(other))),
        };
        if seen.contains(&name) {
            return Err(ArgError::Repeated(name.to_string()));
        }
        seen.push(name);
        if name == "config" {
            let v = value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ArgError::MissingValue(name.to_string()))?;
            let path = PathBuf::from(v);
            if !path.is_absolute() {
                return Err(ArgError::RelativeConfig(printable(v)));
            }
            args.config = Some(path);
            continue;
        }
        if name == "fido_timeout" {
            let v = value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ArgError::MissingValue(name.to_string()))?;
            let secs = v
                .parse::<u32>()
                .ok()
                .filter(|s| (1..=300).contains(s))
                .ok_or_else(|| ArgError::BadTimeout(printable(v)))?;
            args.fido_timeout = Some(secs);
            continue;
        }
        if name == "unprivileged" {
            match value {
                Some("ignore") => args.unprivileged_ignore = true,
                Some(v) if !v.is_empty() => return Err(ArgError::BadUnprivileged(printable(v))),
                _ => return Err(ArgError::MissingValue(name.to_string())),
            }
            continue;
        }
        if value.is_some() {
            return Err(ArgError::UnexpectedValue(name.to_string()));
        }
        match name {
            "nullok" => args.nullok = true,
            "debug" => args.debug = true,
            "forward_pass" => args.forward_pass = true,
            "nofido" => args.nofido = true,
            "fido_any_session" => args.fido_any_session = true,
            "ssh_key_factor" => args.ssh_key_factor = true,
            "try_first_pass" | "use_first_pass" => {
                if args.pass_mode != PassMode::Prompt {
                    return Err(ArgError::Conflict("try_first_pass", "use_first_pass"));
                }
                args.pass_mode = if name == "try_first_pass" {
                    PassMode::TryFirstPass
                } else {
                    PassMode::UseFirstPass
                };
            }
            // Every name above is listed in the first match; this arm is never taken.
            _ => return Err(ArgError::Unknown(printable(name))),
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprivileged_takes_only_ignore() {
        assert!(parse(&["unprivileged=ignore"]).unwrap().unprivileged_ignore);
        assert!(matches!(
            parse(&["unprivileged=allow"]),
            Err(ArgError::BadUnprivileged(_))
        ));
        assert!(matches!(
            parse(&["unprivileged"]),
            Err(ArgError::MissingValue(_))
        ));
        assert!(matches!(
            parse(&["unprivileged=ignore", "unprivileged=ignore"]),
            Err(ArgError::Repeated(_))
        ));
    }

    #[test]
    fn no_arguments_means_defaults() {
        assert_eq!(parse::<&str>(&[]), Ok(Args::default()));
    }

    #[test]
    fn every_option_is_understood() {
        let a = parse(&[
            "config=/etc/tessera/other.toml",
            "nullok",
            "debug",
            "try_first_pass",
            "forward_pass",
        ])
        .unwrap();
        assert_eq!(
            a,
            Args {
                config: Some(PathBuf::from("/etc/tessera/other.toml")),
                nullok: true,
                debug: true,
                pass_mode: PassMode::TryFirstPass,
                forward_pass: true,
                ..Args::default()
            }
        );
        assert_eq!(
            parse(&["use_first_pass"]).unwrap().pass_mode,
            PassMode::UseFirstPass
        );
    }

    #[test]
    fn unknown_argument_is_an_error() {
        assert_eq!(
            parse(&["nullok", "no_such_option"]),
            Err(ArgError::Unknown("no_such_option".into()))
        );
        // Near misses and other modules' spellings are not guessed at.
        assert!(parse(&["null_ok"]).is_err());
        assert!(parse(&["secret=/tmp/x"]).is_err());
        assert!(parse(&["NULLOK"]).is_err());
        assert!(parse(&[""]).is_err());
    }

    #[test]
    fn unknown_argument_is_printed_safely() {
        let e = parse(&["evil\n\u{1b}[2J"]).unwrap_err().to_string();
        assert!(!e.contains('\n') && !e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn repeated_arguments_are_errors() {
        assert_eq!(
            parse(&["config=/a", "config=/b"]),
            Err(ArgError::Repeated("config".into()))
        );
        assert_eq!(
            parse(&["nullok", "nullok"]),
            Err(ArgError::Repeated("nullok".into()))
        );
    }

    #[test]
    fn config_needs_an_absolute_path() {
        assert_eq!(
            parse(&["config"]),
            Err(ArgError::MissingValue("config".into()))
        );
        assert_eq!(
            parse(&["config="]),
            Err(ArgError::MissingValue("config".into()))
        );
        assert_eq!(
            parse(&["config=tessera.toml"]),
            Err(ArgError::RelativeConfig("tessera.toml".into()))
        );
    }

    #[test]
    fn flags_take_no_value() {
        assert_eq!(
            parse(&["nullok=yes"]),
            Err(ArgError::UnexpectedValue("nullok".into()))
        );
    }

    #[test]
    fn first_pass_modes_exclude_each_other() {
        assert!(matches!(
            parse(&["try_first_pass", "use_first_pass"]),
            Err(ArgError::Conflict(..))
        ));
    }

    #[test]
    fn security_key_options() {
        let a = parse(&[
            "fido_timeout=10",
            "nofido",
            "ssh_key_factor",
            "fido_any_session",
        ])
        .unwrap();
        assert_eq!(
            (
                a.fido_timeout,
                a.nofido,
                a.ssh_key_factor,
                a.fido_any_session
            ),
            (Some(10), true, true, true)
        );
        for bad in [
            "fido_timeout=0",
            "fido_timeout=301",
            "fido_timeout=5s",
            "fido_timeout=-1",
        ] {
            assert!(
                matches!(parse(&[bad]), Err(ArgError::BadTimeout(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse(&["fido_timeout"]),
            Err(ArgError::MissingValue(_))
        ));
        assert!(matches!(
            parse(&["nofido=1"]),
            Err(ArgError::UnexpectedValue(_))
        ));
        assert!(matches!(
            parse(&["fido_timeout=5", "fido_timeout=6"]),
            Err(ArgError::Repeated(_))
        ));
    }
}
