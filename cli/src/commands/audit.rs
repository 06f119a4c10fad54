use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

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
            for e in &events {
                println!(
                    "{:<20} {:<16} {:<14} {:<16} {:<7} {:<9} {}",
                    time(e.at),
                    e.user.escape_debug().to_string(),
                    e.service.escape_debug().to_string(),
                    e.source.as_deref().unwrap_or("-"),
                    e.result.as_str(),
                    e.method.as_deref().unwrap_or("-"),
                    e.detail.as_deref().unwrap_or("")
                );
            }
        },
    );
    Ok(ExitCode::SUCCESS)
}
