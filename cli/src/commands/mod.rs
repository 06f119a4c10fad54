//! One module per noun; each turns parsed arguments into core calls and prints the result.

mod audit;
mod enroll;
mod factor;
mod fido2;
mod import;
mod recovery;
mod user;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tessera_common::{Admin, Clock, Config, Sections, SyslogSink, SystemClock, Trust};

use crate::args::{AuditCommand, Cli, Command};

pub struct Ctx<'a> {
    pub cli: &'a Cli,
    pub config: Arc<Config>,
}

impl Ctx<'_> {
    pub fn admin(&self) -> Result<Admin> {
        Ok(Admin::open(
            self.config.clone(),
            Arc::new(SyslogSink::new("tessera")),
        )?)
    }

    pub fn now(&self) -> u64 {
        SystemClock.now()
    }

    /// Print `doc` with --json, else run `text`.
    pub fn emit(&self, doc: Value, text: impl FnOnce()) {
        if self.cli.json {
            println!("{doc}");
        } else {
            text();
        }
    }
}

pub fn run(cli: &Cli) -> Result<ExitCode> {
    let path = Config::resolve_path(cli.config.as_deref());
    // As root, a configuration someone else could write would make root read and send any
    // file it names (`password_file`): refused, as the PAM module refuses it.
    let loaded = Config::load_with(&path, Sections::All, Trust::for_cli());
    let untrusted = matches!(loaded, Err(tessera_common::ConfigError::Untrusted(_)));
    let config = Arc::new(loaded.with_context(|| {
        if untrusted {
            "running as root, tessera reads only a configuration that root alone can change"
                .to_string()
        } else if path.exists() {
            "the configuration is invalid".to_string()
        } else {
            format!(
                "no configuration at {} (pass --config, set TESSERA_CONFIG, or copy packaging/tessera.toml there)",
                path.display()
            )
        }
    })?);
    let ctx = Ctx { cli, config };
    match &cli.command {
        Command::Init { new_store } => init(&ctx, *new_store),
        Command::User(c) => user::run(&ctx, c),
        Command::Enroll(c) => enroll::run(&ctx, c),
        Command::Factor(c) => factor::run(&ctx, c),
        Command::Recovery(c) => recovery::run(&ctx, c),
        Command::Verify {
            name,
            code,
            service,
        } => verify::run(&ctx, name, code.as_deref(), service),
        Command::Audit {
            action: Some(AuditCommand::Prune { older_than }),
            ..
        } => audit::prune(&ctx, *older_than),
        Command::Audit {
            action: None,
            user,
            limit,
        } => audit::run(&ctx, user.as_deref(), *limit),
        Command::Import(c) => import::run(&ctx, c),
        Command::Backup { file } => backup(&ctx, file),
        Command::Restore { file, replace } => restore(&ctx, file, *replace),
        Command::Migrate => migrate(&ctx),
    }
}

fn migrate(ctx: &Ctx<'_>) -> Result<ExitCode> {
    let r = tessera_common::migrate(&ctx.config)?;
    let path = &ctx.config.store.path;
    ctx.emit(
        json!({
            "database": path,
            "schema_was": r.from,
            "schema": r.to,
            "copy_before_migration": r.copy_before_migration,
        }),
        || {
            if r.from == r.to {
                println!("database: {} (schema {}, up to date)", path.display(), r.to);
            } else {
                println!(
                    "database: {} (schema {} migrated to {})",
                    path.display(),
                    r.from,
                    r.to
                );
                if let Some(copy) = &r.copy_before_migration {
                    println!(
                        "copy before the migration: {} (`tessera restore` it if something is missing)",
                        copy.display()
                    );
                }
            }
        },
    );
    Ok(ExitCode::SUCCESS)
}

fn init(ctx: &Ctx<'_>, new_store: bool) -> Result<ExitCode> {
    let report = tessera_common::init(&ctx.config, new_store)?;
    let store = &ctx.config.store;
    ctx.emit(
        json!({
            "key_file": store.key_file,
            "key_created": report.key_created,
            "database": store.path,
            "database_created": report.database_created,
            "schema": tessera_common::SCHEMA_VERSION,
            "schema_was": report.migrated_from,
            "copy_before_migration": report.copy_before_migration,
        }),
        || {
            let verb = |created| if created { "created" } else { "kept existing" };
            println!(
                "key file: {} ({})",
                store.key_file.display(),
                verb(report.key_created)
            );
            let schema = tessera_common::SCHEMA_VERSION;
            let state = match (report.database_created, report.migrated_from) {
                (true, _) => format!("created, schema {schema}"),
                (false, Some(from)) => format!("existing, schema {from} migrated to {schema}"),
                (false, None) => format!("existing, schema {schema}, up to date"),
            };
            println!("database: {} ({state})", store.path.display());
            if let Some(copy) = &report.copy_before_migration {
                println!("copy before the migration: {}", copy.display());
            }
        },
    );
    Ok(ExitCode::SUCCESS)
}

fn backup(ctx: &Ctx<'_>, file: &std::path::Path) -> Result<ExitCode> {
    let r = tessera_common::backup(&ctx.config, file, ctx.now())?;
    ctx.emit(
        json!({
            "backup": r.path,
            "users": r.users,
            "schema_version": r.schema_version,
            "key_file": r.key_file,
        }),
        || {
            println!(
                "backup: {} ({} user(s), schema version {}, integrity ok, mode 0600)",
                r.path.display(),
                r.users,
                r.schema_version
            );
            println!(
                "the key file is not in the backup: keep a copy of {} apart from it",
                r.key_file.display()
            );
        },
    );
    Ok(ExitCode::SUCCESS)
}

fn restore(ctx: &Ctx<'_>, file: &std::path::Path, replace: bool) -> Result<ExitCode> {
    let r = tessera_common::restore(&ctx.config, file, replace)?;
    let taken = r.backed_up_at.map(|t| {
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
            .to_string()
    });
    ctx.emit(
        json!({
            "database": r.database,
            "database_created": r.database_created,
            "users_before": r.users_before,
            "users": r.users,
            "schema_version": r.schema_version,
            "backed_up_at": r.backed_up_at,
            "audit_rows_kept": r.audit_rows_kept,
            "users_changed_since": r.users_changed_since,
        }),
        || {
            println!(
                "restored {} into {} ({} user(s); {})",
                file.display(),
                r.database.display(),
                r.users,
                if r.database_created {
                    "the database was created".to_string()
                } else {
                    format!("it held {} user(s) before", r.users_before)
                }
            );
            println!(
                "everything since the backup{} is undone: enrollments, removed factors, locks, \
                 used recovery codes (those work again: give their users new ones)",
                taken
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            );
            if r.audit_rows_kept > 0 {
                println!(
                    "{} audit row(s) written since the backup were kept",
                    r.audit_rows_kept
                );
            }
            if !r.users_changed_since.is_empty() {
                println!(
                    "changed since the backup (check them): {}",
                    r.users_changed_since
                        .iter()
                        .map(|u| tessera_common::printable(u).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        },
    );
    Ok(ExitCode::SUCCESS)
}
