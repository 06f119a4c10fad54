//! The grammar of `tessera`, as a library: the binary parses with it, and `xtask` renders the
//! man page and the shell completions from it, so the three never disagree.
#![forbid(unsafe_code)]

pub mod args;

/// The whole command line of `tessera`, as clap sees it.
pub fn command() -> clap::Command {
    <args::Cli as clap::CommandFactory>::command()
}
