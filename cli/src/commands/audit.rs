use std::process::ExitCode;

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
                "{:<20} {:<16} {:<14} {:<16} {:<7} {:<9} DETAIL",
                "TIME", "USER", "SERVICE", "SOURCE", "RESULT", "METHOD"
            );
            // Every field but the time and the result may hold what a client sent (a name, a
            // Calling-Station-Id, PAM_RHOST): escaped, so that no terminal escape or new line
            // reaches the admin's terminal and no line can be forged.
            for e in &events {
                println!(
                    "{:<20} {:<16} {:<14} {:<16} {:<7} {:<9} {}",
                    time(e.at),
                    Printable::new(&e.user).to_string(),
                    Printable::new(&e.service).to_string(),
                    Printable::new(e.source.as_deref().unwrap_or("-")).to_string(),
                    e.result.as_str(),
                    Printable::new(e.method.as_deref().unwrap_or("-")).to_string(),
                    Printable::upto(e.detail.as_deref().unwrap_or(""), 300)
                );
            }
        },
    );
    Ok(ExitCode::SUCCESS)
}
