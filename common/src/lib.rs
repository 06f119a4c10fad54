//! Tessera core: everything that decides.
//!
//! The front-ends (`pam_tessera.so`, `tessera-radiusd`, the `tessera` CLI) translate their
//! protocol into calls on [`auth::Authenticator`] and [`admin::Admin`] and map the outcome back.
//! Nothing outside this crate compares a code, touches SQL or parses a secret.
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod combined;
pub mod config;
pub mod email_code;
pub mod error;
pub mod google_auth;
pub mod mail;
pub mod names;
pub mod otp;
pub mod password;
pub mod recovery;
pub mod secret;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::CoreError;
