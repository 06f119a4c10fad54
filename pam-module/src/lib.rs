//! `pam_tessera.so`: makes sshd (keyboard-interactive), sudo, su and console logins ask for a
//! Tessera second factor.
//!
//! A thin adapter: `ffi` is the PAM boundary (the only `unsafe` code), `conv` the conversation,
//! `args` the module arguments, `flow` the translation between PAM and the core's login flow
//! (`tessera_common::auth`). The module opens the SQLite store itself on every call; no daemon
//! has to run. See docs/pam.md for the options and the return-code contract.
#![deny(unsafe_code)]

pub mod args;
pub mod conv;
#[allow(unsafe_code)]
// the PAM boundary: exported hooks, libpam calls; each block has a SAFETY note
mod ffi;
pub mod flow;
pub mod keys;
pub mod locality;
pub mod passwd;
