//! The command line of tessera-radiusd. In the library so that xtask renders the man page and
//! the shell completions from the definitions the binary parses with.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};

/// What `--help` shows after the options, and the man page's sections after OPTIONS (the
/// layout xtask reads is described beside `tessera`'s, in cli/src/args.rs).
const AFTER_HELP: &str = "\
SIGNALS:
    SIGHUP
        Re-read the configuration: clients, secrets (their files too), modes, reply
        attributes, policy and the store. Requests in flight finish with the configuration
        they started with, and outstanding challenges stay valid. A broken file is logged and
        the running configuration kept. listen, workers, max_in_flight,
        max_in_flight_per_client, dedup_window, state_lifetime and the max_challenges keys
        take effect at the next start.
    SIGTERM, SIGINT
        Stop receiving, answer the requests in flight (for up to 10 seconds), exit.

EXIT STATUS:
    0  stopped by SIGTERM or SIGINT, --check found everything in order, or --health-check
       got a valid answer
    1  failed while running (a listen address could not be bound, the runtime did not start),
       or --health-check got no valid answer (Docker reserves 2)
    2  usage error, or the configuration, a client secret, the store or the key is missing
       or invalid

ENVIRONMENT:
    TESSERA_CONFIG
        The configuration file when --config is not given.

FILES:
    /etc/tessera/tessera.toml
        The configuration: --config, else $TESSERA_CONFIG, else this file; its [radius]
        section and [[radius.clients]] tables are described in tessera.toml(5).
    /etc/tessera/radiusd.toml
        The configuration the packaged systemd unit passes with --config: the server's own,
        naming a store and key under /var/lib/tessera-radiusd, owned by the server's account
        (the PAM module refuses a store that any account but root could write).

SEE ALSO:
    tessera(1), tessera.toml(5), pam_tessera(8), radclient(1)";

/// RADIUS server that demands a Tessera second factor
///
/// tessera-radiusd makes VPN concentrators, firewalls and other network access servers (NAS)
/// that speak RADIUS ask for a password and a second factor. It answers PAP Access-Requests
/// from the clients listed in [[radius.clients]]: it checks the user's first factor (an
/// Argon2id password set with `tessera user passwd`, or none when the NAS checks the password
/// itself) and a second factor — a TOTP code, a code sent by e-mail or SMS, or a recovery
/// code — appended to the password or asked for with an Access-Challenge ([radius] mode).
///
/// It reads the same configuration format and store as the PAM module and the `tessera`
/// command: enrollment, lockout, replay protection and the audit log are shared with them.
/// Message-Authenticator is required by default (BlastRADIUS, CVE-2024-3596); a retransmitted
/// request is answered from a cache and never burns a code or sends a second mail. Every
/// decision goes to stderr (the journal under systemd), to syslog (authpriv) and to the audit
/// table; passwords, codes and secrets never do.
#[derive(Debug, Parser)]
// The doc comment's first paragraph is the summary (`-h`, the man page's NAME line), the whole
// of it the description.
#[command(name = "tessera-radiusd", version, after_long_help = AFTER_HELP)]
pub struct Args {
    /// Configuration file (default: $TESSERA_CONFIG, else /etc/tessera/tessera.toml)
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Check the configuration (and that the client secrets, the store and the key open), then
    /// exit
    #[arg(long)]
    pub check: bool,
    /// Ask the running server with a Status-Server (RFC 5997) sent to the first `listen`
    /// address (0.0.0.0 and [::] as loopback) as the client covering that address; exit 0 on a
    /// valid Access-Accept, else 1 with the reason on stderr (a container's HEALTHCHECK)
    #[arg(long, conflicts_with = "check")]
    pub health_check: bool,
    /// With --health-check: the [[radius.clients]] entry expected to cover that address
    #[arg(long, value_name = "NAME", requires = "health_check")]
    pub client: Option<String>,
    /// With --health-check: how long to wait for the answer
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2s",
        requires = "health_check",
        value_parser = crate::health::parse_timeout
    )]
    pub timeout: Duration,
}

/// The whole command line of `tessera-radiusd`, as clap sees it.
pub fn command() -> clap::Command {
    // The version names the store schema too: what matters when programs share a store.
    Args::command().version(tessera_common::version_line())
}

/// The command line of this process, parsed (on a usage error: clap's message, exit 2).
pub fn parse() -> Args {
    use clap::FromArgMatches;
    Args::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}
