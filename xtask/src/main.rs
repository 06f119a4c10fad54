//! `cargo run -p xtask -- dist DIR`: the man pages and shell completions for the packages.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Build chores for Tessera's packages
#[derive(Debug, Parser)]
#[command(name = "xtask")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Write DIR/man/* (every man page) and DIR/completions/* (bash, zsh, fish)
    Dist {
        /// The directory to write into (created if needed; files in it are replaced)
        dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().task {
        Task::Dist { dir } => {
            for path in xtask::dist(&dir)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}
