use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::Ctx;
use crate::args::RecoveryCommand;
use crate::output::{codes_json, print_codes};

pub fn run(ctx: &Ctx<'_>, cmd: &RecoveryCommand) -> Result<ExitCode> {
    let RecoveryCommand::Generate { name, count } = cmd;
    let codes = ctx.admin()?.generate_recovery(name, *count)?;
    ctx.emit(
        json!({"user": name, "recovery_codes": codes_json(&codes)}),
        || {
            println!("New recovery codes for {name}; the previous ones no longer work.");
            print_codes(&codes);
        },
    );
    Ok(ExitCode::SUCCESS)
}
