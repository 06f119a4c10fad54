use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tessera_common::Printable;

use super::Ctx;
use crate::output::{audit_json, time};

pub fn run(ctx: &Ctx<'_>, user: Option<&str>, limit: u32) -> Result<ExitCode> {
    let events = ctx.admin()?.audit_log(user, limit)?;
    ctx.emit(
        json!({"events": events.iter().map(audit_json).collect::<Vec<_>>()}),
        || {
            println!(
                "{:<20} {:<16} {:<14} {:<16} {:<7} {:<9} {:>5} DETAIL",
                "TIME", "USER", "SERVICE", "SOURCE", "RESULT", "METHOD", "COUNT"
            );
            // Every field but the time and the result may hold what a client sent (a name, a
            // Calling-Station-Id, PAM_RHOST): escaped, so that no terminal escape or new line
            // reaches the admin's terminal and no line can be forged.
            for e in &events {
                println!(
                    "{:<20} {:<16} {:<14} {:<16} {:<7} {:<9} {:>5} {}",
                    time(e.at),
                    Printable::field(&e.user).to_string(),
                    Printable::field(&e.service).to_string(),
                    Printable::field(e.source.as_deref().unwrap_or("-")).to_string(),
                    e.result.as_str(),
                    Printable::field(e.method.as_deref().unwrap_or("-")).to_string(),
                    e.count,
                    Printable::upto(e.detail.as_deref().unwrap_or(""), 300)
                );
            }
        },
    );
    Ok(ExitCode::SUCCESS)
}

pub fn prune(ctx: &Ctx<'_>, older_than: Option<Duration>) -> Result<ExitCode> {
    let keep = older_than.unwrap_or(ctx.config.audit.keep);
    let deleted = ctx.admin()?.prune_audit(Some(keep))?;
    ctx.emit(
        json!({"deleted": deleted, "older_than_secs": keep.as_secs(), "max_rows": ctx.config.audit.max_rows}),
        || {
            println!(
                "deleted {deleted} audit row(s) older than {} or beyond the newest {}",
                humantime::format_duration(keep),
                ctx.config.audit.max_rows
            )
        },
    );
    Ok(ExitCode::SUCCESS)
}
