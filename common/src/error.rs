//! Error types, one per layer, wrapped by [`CoreError`].
//!
//! A wrong code is never an error: it is a normal [`crate::auth::Reject`]. An `Err` means the
//! core could not decide (store down, corrupt row, bad config), and every front-end turns it into
//! a denial. Messages name what is wrong (file, key, user, factor) and never carry a secret.

use std::path::PathBuf;

pub use crate::base::address::AddressError;
pub use crate::base::kdf::KdfError;
pub use crate::base::names::NameError;
pub use crate::base::phone::PhoneError;
pub use crate::base::secret::KeyError;
pub use crate::config::ConfigError;
pub use crate::store::StoreError;

/// Input that the core refuses before doing any work: a bad user name, a malformed code, an
/// out-of-range option. The message names the offending input without echoing secrets.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error(transparent)]
    Phone(#[from] PhoneError),
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
    #[error(
        "user {user:?} would be the same user as {existing:?}: names are compared without case, width or invisible characters"
    )]
    NameCollision { user: String, existing: String },
    #[error(
        "another spelling of {user:?} is stored too ({heir:?}, shadowed): removing {user:?} would let logins of the name reach {heir:?} and its factors; remove {heir:?} first (tessera user remove --shadowed), or pass --hand-over"
    )]
    WouldHandOver { user: String, heir: String },
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
    #[error(
        "the store {store} belongs to another key than {key}: its secrets cannot be unsealed and it was not made for this installation; put back the key (or the store) that belongs with it, e.g. from a backup"
    )]
    WrongKey { store: PathBuf, key: PathBuf },
    #[error("tessera init: {0}")]
    InitRefused(String),
    #[error("tessera restore: {0}")]
    RestoreRefused(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Kdf(#[from] KdfError),
    #[error("e-mail is not configured (add an [email] section to {0})")]
    EmailNotConfigured(PathBuf),
    #[error("could not send a code by e-mail: {0}")]
    Mail(#[from] crate::mail::MailError),
    #[error("could not send a code by SMS: {0}")]
    Sms(#[from] crate::sms::SmsError),
    #[error("SMS is not configured (add an [sms] section to {0})")]
    SmsNotConfigured(PathBuf),
    #[error("a code was sent to {masked} less than the minimum interval ago; wait until it passes")]
    EmailTooSoon { masked: String },
}

impl From<crate::factor::sent::SendError> for CoreError {
    fn from(e: crate::factor::sent::SendError) -> CoreError {
        match e {
            crate::factor::sent::SendError::Mail(m) => CoreError::Mail(m),
            crate::factor::sent::SendError::Sms(s) => CoreError::Sms(s),
        }
    }
}

impl From<NameError> for CoreError {
    fn from(e: NameError) -> CoreError {
        CoreError::Input(InputError::Name(e))
    }
}

impl From<PhoneError> for CoreError {
    fn from(e: PhoneError) -> CoreError {
        CoreError::Input(InputError::Phone(e))
    }
}

impl From<AddressError> for CoreError {
    fn from(e: AddressError) -> CoreError {
        CoreError::Input(InputError::Address(e))
    }
}
