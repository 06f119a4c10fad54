//! End-to-end tests: the built binaries against real peers. One test binary, a module per area.
// Test code, helpers included: a failed step must stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backup;
mod cli;
mod counting;
mod crash;
mod email;
mod email_frontends;
mod enroll;
// The software FIDO2 key exists in debug builds only.
#[cfg(debug_assertions)]
mod fido2;
mod health;
mod names;
mod pam;
mod pam_sshd;
mod radius;
mod radius_fairness;
mod sms;
mod sms_failures;
mod sms_radius;
mod soak;
mod ssh_key_factor;
mod ssh_sk;
mod storm;
mod trust;
mod upgrade;
