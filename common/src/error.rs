//! Error types, one per layer, wrapped by [`CoreError`].
//!
//! A wrong code is never an error: it is a normal [`crate::auth::Reject`]. An `Err` means the
//! core could not decide (store down, corrupt row, bad config), and every front-end turns it into
//! a denial. Messages name what is wrong (file, key, user, factor) and never carry a secret.

use std::path::PathBuf;

pub use crate::config::ConfigError;
pub use crate::store::StoreError;

/// Problems with the key file that seals TOTP secrets.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path} does not exist (run `tessera init` to create it)")]
    Missing { path: PathBuf },
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} must hold exactly 32 bytes, found {len}")]
    BadLength { path: PathBuf, len: u64 },
    #[error(
        "key file {path} is readable or writable by other users (mode {mode:04o}); run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("cannot create key file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// Input that the core refuses before doing any work: a bad user name, a malformed code, an
/// out-of-range option. The message names the offending input without echoing secrets.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("invalid user name {name:?}: {why}")]
    UserName { name: String, why: &'static str },
    #[error("invalid e-mail address {0:?}")]
    Email(String),
    #[error("invalid code: {0}")]
    Code(String),
    #[error("invalid option: {0}")]
    Option(String),
    #[error("invalid google-authenticator file {path}: {why}")]
    GoogleAuth { path: String, why: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error("user {user:?} already exists")]
    UserExists { user: String },
    #[error("user {user:?} has no factor with id {id}")]
    UnknownFactor { user: String, id: i64 },
    #[error("factor {id} of user {user:?} is already active")]
    AlreadyActive { user: String, id: i64 },
    #[error("the code does not match factor {id} of user {user:?}")]
    ConfirmationFailed { user: String, id: i64 },
    #[error(
        "stored secret of factor {id} of user {user:?} cannot be decrypted (wrong key file, or the row was altered or moved)"
    )]
    SecretUnsealFailed { user: String, id: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("argon2 failed: {0}")]
    Argon2(String),
    #[error("e-mail is not configured (add an [email] section to {0})")]
    EmailNotConfigured(PathBuf),
    #[error("could not send a code by e-mail: {0}")]
    Mail(#[from] crate::mail::MailError),
    #[error("a code was sent to {masked} less than the minimum interval ago; wait until it passes")]
    EmailTooSoon { masked: String },
}

pub type CoreResult<T> = Result<T, CoreError>;
