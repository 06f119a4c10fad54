//! The grammar of `tessera`, as a library: the binary parses with it, and `xtask` renders the
//! man page and the shell completions from it, so the three never disagree.
#![forbid(unsafe_code)]

pub mod args;

/// The whole command line of `tessera`, as clap sees it.
pub fn command() -> clap::Command {
    // The version names the store schema too: what matters when programs share a store.
    <args::Cli as clap::CommandFactory>::command().version(tessera_common::version_line())
}

/// The command line of this process, parsed (on a usage error: clap's message, exit 2).
pub fn parse() -> args::Cli {
    use clap::FromArgMatches;
    args::Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}
