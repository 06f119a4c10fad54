//! `tessera`: enroll and manage Tessera users. Every decision is the core's; this binary parses
//! arguments, calls `tessera_common`, and prints the result for people (or as JSON).
#![forbid(unsafe_code)]

mod commands;
mod output;
mod prompt;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

// The grammar lives in the library (for the man page and completions); `crate::args` is it.
use tessera_cli::args;

use crate::args::Cli;

/// Exit statuses, documented in `--help`.
pub const EXIT_REJECTED: u8 = 1;
pub const EXIT_ERROR: u8 = 3;

fn main() -> ExitCode {
    // The version names the store schema too: what matters when programs share a store.
    let matches = Cli::command()
        .version(tessera_common::version_line())
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match commands::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            if cli.json {
                let doc = serde_json::json!({ "error": format!("{e:#}") });
                println!("{doc}");
            }
            eprintln!("tessera: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
