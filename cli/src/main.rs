//! `tessera`: enroll and manage Tessera users. Every decision is the core's; this binary parses
//! arguments, calls `tessera_common`, and prints the result for people (or as JSON).
#![forbid(unsafe_code)]

mod commands;
mod output;
mod prompt;

use std::process::ExitCode;

// The grammar lives in the library (for the man page and completions); `crate::args` is it.
use tessera_cli::args;

/// Exit statuses, documented in `--help`.
pub const EXIT_REJECTED: u8 = 1;
pub const EXIT_ERROR: u8 = 3;

fn main() -> ExitCode {
    let cli = tessera_cli::parse();
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
