use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::Ctx;
use crate::args::FactorCommand;
use crate::output::{codes_json, factor_json, factor_line, print_codes};

pub fn run(ctx: &Ctx<'_>, cmd: &FactorCommand) -> Result<ExitCode> {
    let admin = ctx.admin()?;
    match cmd {
        FactorCommand::List { name } => {
            let factors = admin.factors(name)?;
            ctx.emit(
                json!({"user": name, "factors": factors.iter().map(factor_json).collect::<Vec<_>>()}),
                || {
                    if factors.is_empty() {
                        println!("{name} has no factors");
                    }
                    for f in &factors {
                        println!("{}", factor_line(f));
                    }
                },
            );
        }
        FactorCommand::Confirm { name, id, code } => {
            // Asked for (no echo at a terminal, a line of stdin otherwise) unless a script
            // passed --code.
            let code = match code {
                Some(c) => zeroize::Zeroizing::new(c.clone()),
                None => crate::prompt::secret("Code: ")?
                    .ok_or_else(|| anyhow::anyhow!("no code on stdin; nothing was confirmed"))?,
            };
            let c = admin.confirm_factor(name, *id, &code)?;
            ctx.emit(
                json!({
                    "user": name,
                    "factor_id": c.factor_id,
                    "status": "active",
                    "recovery_codes": c.recovery_codes.as_deref().map(codes_json),
                }),
                || {
                    println!("factor {id} of {name} is active");
                    if let Some(codes) = &c.recovery_codes {
                        print_codes(codes);
                    }
                },
            );
        }
        FactorCommand::Remove { name, id } => {
            admin.remove_factor(name, *id)?;
            ctx.emit(
                json!({"user": name, "factor_id": id, "removed": true}),
                || println!("removed factor {id} of {name}"),
            );
        }
        FactorCommand::Prefer { name, id } => {
            admin.prefer_factor(name, *id)?;
            ctx.emit(
                json!({"user": name, "factor_id": id, "preferred": true}),
                || println!("factor {id} is now {name}'s preferred factor"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
