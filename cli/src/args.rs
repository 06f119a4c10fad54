//! Command-line grammar. The help text is the reference manual: keep it complete.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// What `--help` shows after the options, and the man page's sections after COMMANDS.
///
/// The layout is what xtask reads to write tessera(1): a section is a `TITLE:` line at the
/// margin with its lines indented four spaces. In a section, `TERM  text` (two spaces) or a
/// `TERM` line followed by lines indented eight spaces is an entry, lines indented deeper
/// continue an entry, other lines are paragraphs, and EXAMPLES are kept line by line.
const AFTER_HELP: &str = "\
EXIT STATUS:
    0  success (for `verify`: the code was accepted)
    1  `verify` rejected the code (wrong, replayed, locked out, not enrolled)
    2  usage error (unknown command or option)
    3  error: nothing was changed, or the decision could not be made (bad config, missing or
       locked database, missing key file, unknown user or factor, invalid input)

ENVIRONMENT:
    TESSERA_CONFIG
        The configuration file when --config is not given.

FILES:
    /etc/tessera/tessera.toml
        The configuration: --config, else $TESSERA_CONFIG, else this file. A file that sets
        only [store] path and key_file is complete; tessera.toml(5) describes every key.
    /var/lib/tessera/tessera.db
        The store (the default [store] path): users, factors, locks and the audit log.
    /etc/tessera/tessera.key
        The key (the default [store] key_file). It seals the TOTP secrets; a backup of the
        database is useless without it, so keep a copy of it apart from the backups.

EXAMPLES:
    tessera init
    tessera user add alice --email alice@example.com
    tessera enroll totp alice
    tessera verify alice
    tessera --json enroll totp alice --no-confirm
    tessera import google-authenticator /home/alice/.google_authenticator --user alice
    tessera backup /root/tessera-$(date +%F).db

SEE ALSO:
    pam_tessera(8), tessera-radiusd(8), tessera.toml(5)";

/// Administer Tessera second-factor authentication
///
/// `tessera` is the administration tool of Tessera (second factors for SSH, sudo, console
/// logins and VPNs): it creates the store and its key, adds users, enrolls their second factors
/// (TOTP authenticator apps, codes by e-mail or SMS, FIDO2 and OpenSSH security keys, recovery
/// codes), confirms, locks and unlocks them, and shows the audit log. The PAM module
/// (pam_tessera.so) and the RADIUS server (tessera-radiusd) read the same store.
///
/// Codes are typed, not passed: `verify` and `factor confirm` ask for the code without echo at
/// a terminal and read one line of stdin otherwise (`echo CODE | tessera verify alice`).
/// --code is for scripts only: a code in the arguments shows in the process list and stays in
/// the shell history.
///
/// A user's first active factor brings recovery codes like k7qd-3mzp-x8tf ([recovery] count,
/// 10 by default). Each works once; case, spaces and dashes do not matter when typing one.
#[derive(Debug, Parser)]
// No bare `about`: that would be the package's description; the doc comment's first paragraph
// is the summary (`-h`, and the man page's NAME line), the whole of it the description.
#[command(name = "tessera", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Configuration file (default: /etc/tessera/tessera.toml)
    #[arg(long, global = true, value_name = "PATH", env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,

    /// Print one JSON document on stdout instead of text (errors: {"error": ...})
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the key file and the database (safe to re-run; never overwrites a key)
    ///
    /// Writes a 32-byte random key (mode 0600) to [store] key_file unless that file exists, and
    /// creates the SQLite database at [store] path (mode 0600, in a 0700 directory when Tessera
    /// creates it) or migrates an existing one to the current schema (after a copy, as
    /// `migrate` makes). The database records
    /// which key it belongs to; the PAM module and the RADIUS server refuse a database made for
    /// another key.
    ///
    /// A key without its database, or the reverse, is what a lost file leaves: put the lost
    /// one back from a backup (`tessera restore`). `init` refuses to create a new empty
    /// database beside an existing key unless --new-store is given (under nullok an empty
    /// store lets every user in on the password alone), and never creates a new key beside a
    /// database that holds users.
    Init {
        /// Create an empty database beside the existing key file (a deliberate fresh start)
        #[arg(long)]
        new_store: bool,
    },

    /// Add, list, show, remove, lock and unlock users; set RADIUS passwords
    #[command(subcommand)]
    User(UserCommand),

    /// Enroll a second factor for a user
    #[command(subcommand)]
    Enroll(EnrollCommand),

    /// List, confirm, remove and prefer a user's factors
    #[command(subcommand)]
    Factor(FactorCommand),

    /// Manage recovery codes
    #[command(subcommand)]
    Recovery(RecoveryCommand),

    /// Run one authentication as the PAM module would
    ///
    /// Asks for a code (without echo at a terminal; one line of stdin when it is not one),
    /// checks it exactly as a login would — replay protection, lockout and audit included —
    /// and exits 0 on accept, 1 on reject.
    Verify {
        /// User name
        name: String,
        /// For scripts only: a code here shows in the process list and the shell history
        /// (type a recovery code at the prompt instead)
        #[arg(long)]
        code: Option<String>,
        /// Service name recorded in the audit log
        #[arg(long, default_value = "tessera-verify")]
        service: String,
    },

    /// Show the audit log, newest first (or prune it: `tessera audit prune`)
    ///
    /// A row with COUNT above 1 stands for a flood folded into one row: refusals of unknown,
    /// invalid or throttled names from one source within one minute (the first name is shown).
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        action: Option<AuditCommand>,
        /// Only this user's entries
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// At most this many entries
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: u32,
    },

    /// Import second factors from another tool
    #[command(subcommand)]
    Import(ImportCommand),

    /// Copy the database to a new file, online (the key file is not included)
    ///
    /// Uses SQLite's backup API, so logins go on meanwhile. FILE is created with mode 0600 and
    /// never overwritten; the copy is integrity-checked before the command succeeds. The key
    /// file is not in the backup and the backup is useless without it: keep a copy of the key
    /// somewhere else (a backup and its key together unseal every TOTP secret).
    Backup {
        /// The backup file to create
        file: PathBuf,
    },

    /// Put a backup in place of the database (created if it was lost)
    ///
    /// The backup must pass SQLite's integrity check and belong to the key file in place; its
    /// schema is brought up to date. Other processes (the RADIUS server, logins) see the
    /// database change in one step. A database that holds users is replaced only with
    /// --replace: everything since the backup is forgotten, and recovery codes used since then
    /// become usable again (`tessera audit` shows who used one; give them new codes).
    Restore {
        /// The backup file to restore
        file: PathBuf,
        /// Replace a database that holds users
        #[arg(long)]
        replace: bool,
    },

    /// Bring the database's schema up to this version of Tessera (after an upgrade)
    ///
    /// The PAM module, the RADIUS server and every other command refuse a database whose schema
    /// is older than theirs, and say so; only `migrate` (and `init`, `restore`) change it, each
    /// migration in one transaction, so that a half-upgraded host never has one program
    /// migrate the store under another that cannot read it. The Debian packages do it once,
    /// when they are upgraded (their postinst runs `init`, which migrates). Before changing
    /// anything it checks that the database belongs to the key in place and copies it, as it
    /// is, to DATABASE.schema-N-TIME beside it (mode 0600): `tessera restore` that copy if a
    /// migration lost something. Safe to re-run: a current database is left alone. A database
    /// newer than this Tessera is refused (upgrade this host's packages instead).
    /// `tessera --version` prints the schema version this Tessera reads.
    Migrate,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (no factor yet: enroll one next)
    Add {
        /// User name
        name: String,
        /// E-mail address (for e-mailed codes, and enrollment codes at login)
        #[arg(long, value_name = "ADDR")]
        email: Option<String>,
        /// Phone number in E.164 form, e.g. +447700900123 (for codes by SMS)
        #[arg(long, value_name = "+E164")]
        phone: Option<String>,
    },
    /// Change a user's e-mail address (where e-mailed and enrollment codes go) or phone number
    Modify {
        /// User name
        name: String,
        /// The new address
        #[arg(long, value_name = "ADDR", conflicts_with = "no_email")]
        email: Option<String>,
        /// Remove the address
        #[arg(long)]
        no_email: bool,
        /// The new phone number, E.164 (e.g. +447700900123)
        #[arg(long, value_name = "+E164", conflicts_with = "no_phone")]
        phone: Option<String>,
        /// Remove the phone number
        #[arg(long)]
        no_phone: bool,
    },
    /// Invite a user to set up their second factor at their next login
    ///
    /// Prints a single-use enrollment code (stored only as a keyed hash) to hand to the user
    /// by a channel other than the password's. With `[policy] enroll_at_login` set to
    /// "optional" or "required", an unenrolled user who logs in (password first) over SSH,
    /// sudo or the console is asked for it, then shown a QR code for an authenticator app; the
    /// factor is active once they type its first code, and the invitation is then used up.
    /// The user is added when unknown. A new invitation replaces the previous one.
    Invite {
        /// User name
        name: String,
        /// How long the code is valid (e.g. 30m, 72h, 7d; default `[policy] invite_valid`, 72h)
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        valid: Option<std::time::Duration>,
        /// Withdraw the user's pending invitation instead
        #[arg(long, conflicts_with = "valid")]
        revoke: bool,
    },
    /// List users with their factor counts, recovery codes left and lock state
    List,
    /// Show one user in detail
    Show {
        /// User name
        name: String,
    },
    /// Remove a user and all their factors, recovery codes and lock state
    Remove {
        /// User name
        name: String,
        /// Remove the user stored under exactly NAME that another spelling shadows (see
        /// `user list`), not the one logins of NAME reach
        #[arg(long)]
        shadowed: bool,
        /// When another spelling of NAME is stored too (shadowed), let it take the name over:
        /// logins of NAME then reach it, with its own factors
        #[arg(long, conflicts_with = "shadowed")]
        hand_over: bool,
    },
    /// Lock a user until `user unlock` (every login is refused)
    Lock {
        /// User name
        name: String,
    },
    /// Unlock a user: clears an administrative lock, a failure lock and the failure count
    Unlock {
        /// User name
        name: String,
    },
    /// Set the user's RADIUS first-factor password (stored as an Argon2id hash)
    Passwd {
        /// User name
        name: String,
        /// Read the password from the first line of stdin instead of prompting
        #[arg(long)]
        password_stdin: bool,
        /// Remove the password instead (RADIUS password logins then fail)
        #[arg(long, conflicts_with = "password_stdin")]
        clear: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlgorithmArg {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Subcommand)]
pub enum EnrollCommand {
    /// Enroll a TOTP authenticator app
    ///
    /// Prints the otpauth:// URI, the base32 secret and a QR code to scan. When stdin is a
    /// terminal it then asks for a code from the app to confirm the enrollment; otherwise the
    /// factor stays pending until `tessera factor confirm NAME ID --code CODE`, unless
    /// --no-confirm activates it at once. The first active factor of a user brings a fresh set
    /// of recovery codes, printed once.
    Totp(EnrollTotp),

    /// Enroll an e-mail address for one-time codes
    ///
    /// Sends a verification code to the address (default: the user's e-mail address) through the
    /// SMTP server of [email]. When stdin is a terminal it asks for that code; otherwise the
    /// factor stays pending until `tessera factor confirm NAME ID --code CODE`. A user may have
    /// several addresses. The first active factor of a user brings recovery codes.
    Email {
        /// User name
        name: String,
        /// The address (default: the user's e-mail address)
        #[arg(long, value_name = "ADDR")]
        address: Option<String>,
        /// A label for this factor (default "email")
        #[arg(long, value_name = "L")]
        label: Option<String>,
    },

    /// Enroll a phone number for one-time codes by SMS
    ///
    /// Texts a verification code to the number (default: the user's phone number) through the
    /// gateway of [sms]. When stdin is a terminal it asks for that code; otherwise the factor
    /// stays pending until `tessera factor confirm NAME ID --code CODE`. The same code rules as
    /// e-mail: random digits, stored as keyed hashes, single use, an expiry, limited tries, a
    /// send interval and a daily bound. The first active factor of a user brings recovery codes.
    Sms {
        /// User name
        name: String,
        /// The number, E.164 (default: the user's phone number)
        #[arg(long, value_name = "+E164")]
        phone: Option<String>,
        /// A label for this factor (default "phone")
        #[arg(long, value_name = "L")]
        label: Option<String>,
    },

    /// Enroll a FIDO2 security key plugged into this machine (sudo, su, console logins)
    ///
    /// Makes a credential on the key for the relying party id of `[fido2] rp_id` (default
    /// pam://HOSTNAME; kept with the credential, so renaming the host later breaks nothing),
    /// checks the key's attestation signature and stores the credential id, the public key
    /// (ES256 or EdDSA), the options, the backup flags and the signature counter. Touch the key
    /// when asked. With several keys plugged in, the one touched is enrolled. A user may have
    /// several keys; a login asks all of them at once. Active at once; the first active factor
    /// of a user brings recovery codes. The key's PIN is read without echo at a terminal, else
    /// as one line from stdin.
    #[command(name = "fido2")]
    Fido2(EnrollFido2),

    /// Enroll an OpenSSH security key (sk-ssh-ed25519, sk-ecdsa-sha2-nistp256) for SSH logins
    ///
    /// Takes the key's public line as in its .pub file (`ssh-keygen -t ed25519-sk` makes one).
    /// With `AuthenticationMethods publickey,keyboard-interactive` in sshd_config and
    /// `ssh_key_factor` on pam_tessera's line in /etc/pam.d/sshd, a login that sshd accepted
    /// with this key needs no code: the key's touch is the second factor. Ordinary ssh-ed25519
    /// or RSA keys are refused (a file on disk is not a second factor).
    #[command(name = "ssh-key")]
    SshKey {
        /// User name
        name: String,
        /// The public key line: 'sk-ssh-ed25519@openssh.com AAAA... comment'
        key: String,
        /// A label (default: the key's comment)
        #[arg(long, value_name = "L")]
        label: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UvArg {
    Required,
    Preferred,
    Discouraged,
}

#[derive(Debug, Args)]
pub struct EnrollFido2 {
    /// User name
    pub name: String,
    /// A label for this key (default "security key")
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
    /// Ask for the key's PIN at every login (and now)
    #[arg(long)]
    pub pin: bool,
    /// Whether the key must verify its user (PIN or fingerprint) at every login (default:
    /// `[fido2] user_verification`)
    #[arg(long, value_enum, value_name = "UV")]
    pub user_verification: Option<UvArg>,
    /// Make a resident (discoverable) credential, stored on the key
    #[arg(long)]
    pub resident: bool,
}

#[derive(Debug, Args)]
pub struct EnrollTotp {
    /// User name
    pub name: String,
    /// A label for this factor (e.g. "phone")
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
    /// Code length, 6 to 8 (default: [totp] digits)
    #[arg(long, value_name = "N")]
    pub digits: Option<u8>,
    /// Seconds per code, 10 to 300 (default: [totp] period)
    #[arg(long, value_name = "S")]
    pub period: Option<u32>,
    /// HMAC algorithm (default: [totp] algorithm). Many apps only support sha1.
    #[arg(long, value_enum)]
    pub algorithm: Option<AlgorithmArg>,
    /// Activate without asking for a confirming code
    #[arg(long)]
    pub no_confirm: bool,
    /// The phone was lost or replaced: once this authenticator is active, remove the user's
    /// other authenticators and replace their recovery codes (the old ones may have been kept
    /// with the phone). Needs the code confirmed here (a terminal) or --no-confirm
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Subcommand)]
pub enum FactorCommand {
    /// List a user's factors
    List {
        /// User name
        name: String,
    },
    /// Activate a pending factor with a code from it
    ///
    /// The code is asked for without echo at a terminal, or read as one line from stdin.
    Confirm {
        /// User name
        name: String,
        /// Factor id (the ID column of `tessera factor list`)
        id: i64,
        /// For scripts only: a code here shows in the process list and the shell history
        #[arg(long)]
        code: Option<String>,
    },
    /// Remove a factor
    Remove {
        /// User name
        name: String,
        /// Factor id (the ID column of `tessera factor list`)
        id: i64,
    },
    /// Make a factor the preferred one (prompted for first)
    Prefer {
        /// User name
        name: String,
        /// Factor id (the ID column of `tessera factor list`)
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Delete old audit rows now (the RADIUS server does it once a minute by itself)
    ///
    /// Deletes the rows older than --older-than (default: `[audit] keep`), and the oldest rows
    /// beyond `[audit] max_rows`, in batches, while logins go on.
    Prune {
        /// Age past which rows go, e.g. "30d" or "12h"
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        older_than: Option<std::time::Duration>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Replace the user's recovery codes with new ones, printed once
    Generate {
        /// User name
        name: String,
        /// How many codes (default: [recovery] count)
        #[arg(long, value_name = "N")]
        count: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a ~/.google_authenticator file (TOTP secret and scratch codes)
    ///
    /// The secret becomes an active TOTP factor (its STEP_SIZE and WINDOW_SIZE kept, used time
    /// steps from DISALLOW_REUSE honoured) and the scratch codes become the user's recovery
    /// codes, so the user keeps their authenticator app. The user is created if needed. HOTP
    /// (counter-based) files are refused.
    #[command(name = "google-authenticator")]
    GoogleAuthenticator {
        /// The file to read
        file: PathBuf,
        /// Tessera user to import into
        #[arg(long, value_name = "NAME")]
        user: String,
    },

    /// Import a pam_u2f mapping file (pamu2fcfg's output: user:keyHandle,publicKey,type,options)
    ///
    /// Every credential of every user in the file (or only --user's) becomes an active FIDO2
    /// factor, so users keep their keys: ES256 and EdDSA keys, resident credentials (`*`),
    /// the options +presence, +verification and +pin, and the old two-field lines. As in
    /// pam_u2f, a user's last line wins. Users missing here are added. Running it again adds
    /// nothing twice. Lines that cannot be read are reported by number and imported for nobody,
    /// and the exit status is then 1; the others are imported. Then give each new user
    /// recovery codes (`tessera recovery generate NAME`).
    #[command(name = "pam-u2f")]
    PamU2f {
        /// The mapping file (e.g. /etc/u2f_mappings or ~/.config/Yubico/u2f_keys)
        file: PathBuf,
        /// Import only this user's line
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// pam_u2f's origin= (the relying party id the keys were made for); default: pam://HOSTNAME
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
    },
}
