//! Policy as pure functions: state in, state out, time as a parameter. The stores only persist
//! what these return, so every store implementation locks the same way.
//!
//! - [`lockout`]: wrong second-factor codes lock the user, each lock longer than the one before,
//!   up to a ceiling past which only `tessera user unlock` ends it;
//! - the same [`Rule`] shape, with other parameters, throttles first-factor failures (RADIUS
//!   passwords, and answers the PAM module takes before the password is proven) per user and per
//!   source, without ever needing an administrator.

mod lockout;

pub use lockout::{Counter, Lock, LockState, PENDING_SECS, Rule, Rules, UNTIL_UNLOCKED};
