//! tessera-radiusd's parts, behind the binary in `main.rs` (wiring only).
//!
//! A library so that the fuzz targets in `fuzz/` can reach the codec and the handler (through
//! the hidden `fuzzing` module, feature `fuzzing`), and xtask the command line (`command`, for
//! the man page and the completions); nothing else is meant to depend on it.
#![forbid(unsafe_code)]

mod admission;
mod args;
mod batch;
mod cache;
mod challenge;
mod clients;
mod codec;
mod handler;
mod health;
mod log;
mod mail;
mod server;
mod slow;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

// The public interface is:
pub use args::{Args, command, parse};
pub use health::HealthCheck;
pub use log::Log;
pub use server::{NO_MAIL_THREADS, Server, bind, workers};
