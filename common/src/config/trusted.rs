//! Loading the configuration in a process that decides who gets in as root.
//!
//! The PAM module runs inside sshd, sudo and login. Whoever can write its configuration, the
//! store or key it names, or a certificate or password it reads, can log in as anyone, so each
//! of them must be root's and unchangeable by anyone else ([`crate::base::trust`]). The
//! configuration is read once, from the descriptor that was checked. The CLI run as root applies
//! the rule to the configuration file only: a configuration of the user's own choosing could make
//! root read and send any file (`password_file`).

use std::borrow::Cow;
use std::path::Path;

use super::{Config, ConfigError, Validator, sections};
use crate::base::trust::{Access, Rule, resolve_for_creation};

/// The longest configuration file read (the packaged one, every key commented, is ~10 KiB).
const MAX_CONFIG_LEN: u64 = 1 << 20;

/// Which sections a front-end reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sections {
    All,
    /// Everything but `[radius]`: what the PAM module uses. A mistake in the RADIUS server's
    /// part of a shared file then cannot break SSH and sudo.
    WithoutRadius,
}

/// How far the files are trusted before they are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The files are read as they are (the RADIUS server, the CLI of an ordinary user).
    AsGiven,
    /// The configuration file must be root's ([`Rule`]); the store and key it names may be
    /// another account's (the RADIUS server's), but are reached through no link that account
    /// could have placed.
    ConfigFile,
    /// The configuration and every file it names must be root's: the store (with its `-wal`,
    /// `-shm` and directory), the key (readable by root alone), `ca_file`, `password_file` and
    /// `secret_file`.
    Everything,
}

impl Trust {
    /// For the CLI: [`Trust::ConfigFile`] when running as root, else [`Trust::AsGiven`] (an
    /// ordinary user reads only what they may read anyway).
    pub fn for_cli() -> Trust {
        if rustix::process::geteuid().is_root() {
            Trust::ConfigFile
        } else {
            Trust::AsGiven
        }
    }
}

pub(super) const CONFIG_RULE: Rule = Rule::root("config file", Access::OwnerWrites);
pub(super) const PASSWORD_RULE: Rule = Rule::root("[email] password_file", Access::OwnerOnly);
pub(super) const CA_RULE: Rule = Rule::root("[email] ca_file", Access::OwnerWrites);
pub(super) const SMS_SECRET_RULE: Rule = Rule::root("[sms] secret_file", Access::OwnerOnly);
pub(super) const SMS_CA_RULE: Rule = Rule::root("[sms] ca_file", Access::OwnerWrites);
const STORE_RULE: Rule = Rule::root("store", Access::OwnerWrites);
const KEY_RULE: Rule = Rule::root("key file", Access::OwnerOnly);

impl Config {
    /// Load `path` with the given sections and trust. Paths in the result are the resolved
    /// ones that were checked, so what is opened later is what was checked.
    pub fn load_with(path: &Path, sections: Sections, trust: Trust) -> Result<Config, ConfigError> {
        let text = match trust {
            Trust::AsGiven => {
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?
            }
            Trust::ConfigFile | Trust::Everything => {
                if let Err(source) = std::fs::symlink_metadata(path) {
                    return Err(ConfigError::Read {
                        path: path.to_path_buf(),
                        source,
                    });
                }
                let (_, bytes) = CONFIG_RULE.read(path, MAX_CONFIG_LEN)?;
                String::from_utf8(bytes.to_vec()).map_err(|_| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    line: 1,
                    key: None,
                    message: "the file is not UTF-8 text".into(),
                })?
            }
        };
        let text = select(path, &text, sections)?;
        let validator = Validator {
            path,
            text: &text,
            trust_files: trust == Trust::Everything,
            // Its mode decides whether an inline secret in it is warned about.
            mode: std::fs::metadata(path)
                .ok()
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions())),
        };
        let mut config = validator.parse_and_build()?;
        match trust {
            Trust::AsGiven => {}
            Trust::ConfigFile => {
                // Root administers a store that may be another account's (the RADIUS
                // server's): that account must not be able to lead root, by a link, to
                // another store or key (the PAM module's) and have root change it there.
                for (rule, path) in [
                    (STORE_RULE, &mut config.store.path),
                    (KEY_RULE, &mut config.store.key_file),
                ] {
                    *path =
                        resolve_for_creation(path).map_err(|reason| rule.error(path, reason))?;
                }
            }
            Trust::Everything => {
                config.store.path = STORE_RULE.check_database(&config.store.path)?;
                config.store.key_file = KEY_RULE.check(&config.store.key_file)?;
            }
        }
        Ok(config)
    }
}

fn select<'t>(path: &Path, text: &'t str, sections: Sections) -> Result<Cow<'t, str>, ConfigError> {
    match sections {
        Sections::All => Ok(Cow::Borrowed(text)),
        Sections::WithoutRadius => sections::without_table(text, "radius")
            .map(Cow::Owned)
            .map_err(|u| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: u.line,
                key: None,
                message: "a value in [radius] that spans lines (a string, an array or a table) is never closed"
                    .into(),
            }),
    }
}

impl Validator<'_> {
    /// Read a file holding a secret (`password_file`), opened once: through [`PASSWORD_RULE`]
    /// when the files are trusted, else as it is but never one every user can read (checked on
    /// the open file). The error is the whole message, naming the file, never its content.
    pub(super) fn read_secret_file(
        &self,
        path: &Path,
    ) -> Result<zeroize::Zeroizing<String>, String> {
        self.read_secret_file_as(&PASSWORD_RULE, path)
    }

    /// As [`Validator::read_secret_file`], through `rule` when the files are trusted (the
    /// rule names the key in its errors).
    pub(super) fn read_secret_file_as(
        &self,
        rule: &Rule,
        path: &Path,
    ) -> Result<zeroize::Zeroizing<String>, String> {
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;
        let cannot = |why: String| format!("cannot read {}: {why}", path.display());
        let bytes = if self.trust_files {
            rule.read(path, 64 * 1024).map_err(|e| cannot(e.reason))?.1
        } else {
            let mut f = std::fs::File::open(path).map_err(|e| cannot(e.to_string()))?;
            let mode = f
                .metadata()
                .map_err(|e| cannot(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o004 != 0 {
                return Err(format!(
                    "{} is readable by every user (mode {:04o}): `chmod 600` it (or 640 for a group)",
                    path.display(),
                    mode & 0o7777
                ));
            }
            let mut bytes = zeroize::Zeroizing::new(Vec::new());
            f.read_to_end(&mut bytes)
                .map_err(|e| cannot(e.to_string()))?;
            bytes
        };
        String::from_utf8(bytes.to_vec())
            .map(zeroize::Zeroizing::new)
            .map_err(|_| cannot("the file is not UTF-8 text".to_string()))
    }
}
