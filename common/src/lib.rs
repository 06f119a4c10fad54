//! Tessera core: everything that decides.
//!
//! The front-ends (`pam_tessera.so`, `tessera-radiusd`, the `tessera` CLI) translate their
//! protocol into calls on [`auth::Authenticator`] and [`admin::Admin`] and map the outcome back.
//! Nothing outside this crate compares a code, touches SQL or parses a secret.
#![forbid(unsafe_code)]

mod base;

pub mod admin;
pub mod audit;
pub mod auth;
pub mod combined;
pub mod config;
pub mod email_code;
pub mod error;
pub mod google_auth;
pub mod mail;
pub mod password;
pub mod recovery;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use base::{clock, kdf, names, otp, secret, text};
pub use error::CoreError;
