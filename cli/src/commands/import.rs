use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use tessera_common::read_google_authenticator_file;

use super::Ctx;
use crate::args::ImportCommand;

pub fn run(ctx: &Ctx<'_>, cmd: &ImportCommand) -> Result<ExitCode> {
    let (file, user) = match cmd {
        ImportCommand::GoogleAuthenticator { file, user } => (file, user),
        ImportCommand::PamU2f { file, user, origin } => {
            return super::fido2::import_pam_u2f(ctx, file, user.as_deref(), origin.as_deref());
        }
    };
    // The file belongs to the account of the same name, when the system has one.
    let owner = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw());
    let text = read_google_authenticator_file(file, owner)?;
    let r = ctx
        .admin()?
        .import_google_authenticator(user, file, &text)?;
    ctx.emit(
        json!({
            "user": r.user,
            "user_created": r.user_created,
            "factor_id": r.factor_id,
            "status": "active",
            "period": r.period,
            "window": r.window,
            "scratch_codes": r.scratch_codes,
            "notes": r.notes,
        }),
        || {
            if r.user_created {
                println!("created user {}", r.user);
            }
            println!(
                "imported TOTP factor {} for {} ({} s period, window ±{}); it is active",
                r.factor_id, r.user, r.period, r.window
            );
            println!(
                "{} scratch code(s) imported as recovery codes",
                r.scratch_codes
            );
            for n in &r.notes {
                println!("note: {n}");
            }
        },
    );
    Ok(ExitCode::SUCCESS)
}
