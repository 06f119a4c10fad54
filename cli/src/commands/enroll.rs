use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use serde_json::json;
use tessera_common::CoreError;
use tessera_common::FactorStatus;
use tessera_common::Secret;
use tessera_common::SmtpMailer;
use tessera_common::TotpAlgorithm;
use tessera_common::{Admin, TotpOptions};

use super::Ctx;
use crate::args::{AlgorithmArg, EnrollCommand, EnrollTotp};
use crate::output::{codes_json, print_codes, qr};
use crate::prompt;

/// Confirmation attempts at the terminal before leaving the factor pending.
const CONFIRM_TRIES: u32 = 3;

pub fn run(ctx: &Ctx<'_>, cmd: &EnrollCommand) -> Result<ExitCode> {
    match cmd {
        EnrollCommand::Totp(a) => totp(ctx, a),
        EnrollCommand::Email {
            name,
            address,
            label,
        } => email(ctx, name, address.as_deref(), label.as_deref()),
        EnrollCommand::Sms { name, phone, label } => {
            sms(ctx, name, phone.as_deref(), label.as_deref())
        }
        EnrollCommand::Fido2(a) => super::fido2::enroll_fido2(ctx, a),
        EnrollCommand::SshKey { name, key, label } => {
            super::fido2::enroll_ssh_key(ctx, name, key, label.as_deref())
        }
    }
}

/// The admin with the mailer of `[email]` (e-mailed codes, and an e-mail-to-SMS gateway).
fn admin_with_mailer(ctx: &Ctx<'_>) -> Result<Admin> {
    let mut admin = ctx.admin()?;
    if let Some(cfg) = &ctx.config.email {
        admin = admin.with_mailer(Arc::new(SmtpMailer::new(cfg)?));
    }
    Ok(admin)
}

fn email(
    ctx: &Ctx<'_>,
    name: &str,
    address: Option<&str>,
    label: Option<&str>,
) -> Result<ExitCode> {
    let admin = admin_with_mailer(ctx)?;
    let e = admin.enroll_email(name, address, label)?;
    let sent = Sent {
        user: &e.user,
        factor_id: e.factor_id,
        label: &e.label,
        what: "E-mail",
        how: "sent",
        to_masked: &e.masked,
        to: ("address", &e.address),
        from: "e-mail",
    };
    sent.confirm(ctx, &admin)
}

fn sms(ctx: &Ctx<'_>, name: &str, phone: Option<&str>, label: Option<&str>) -> Result<ExitCode> {
    let admin = admin_with_mailer(ctx)?;
    let e = admin.enroll_sms(name, phone, label)?;
    let sent = Sent {
        user: &e.user,
        factor_id: e.factor_id,
        label: &e.label,
        what: "SMS",
        how: "texted",
        to_masked: &e.masked,
        to: ("phone", &e.number),
        from: "text message",
    };
    sent.confirm(ctx, &admin)
}

/// A pending factor whose confirmation code was sent (e-mail, SMS): told, confirmed at a
/// terminal, reported.
struct Sent<'a> {
    user: &'a str,
    factor_id: i64,
    label: &'a str,
    what: &'a str,
    how: &'a str,
    to_masked: &'a str,
    /// The JSON key and the full address or number.
    to: (&'a str, &'a str),
    /// Where the code is read from, for the prompts.
    from: &'a str,
}

impl Sent<'_> {
    fn confirm(&self, ctx: &Ctx<'_>, admin: &Admin) -> Result<ExitCode> {
        if !ctx.cli.json {
            println!(
                "{} factor {} ({}) for {}: a verification code was {} to {}",
                self.what, self.factor_id, self.label, self.user, self.how, self.to_masked
            );
        }
        let mut status = FactorStatus::Pending;
        let mut codes = None;
        let asked = format!("Code from the {}", self.from);
        if prompt::stdin_is_terminal()
            && let Some(c) = confirm_interactively(admin, self.user, self.factor_id, &asked)?
        {
            status = FactorStatus::Active;
            codes = c;
        }
        let mut doc = json!({
            "user": self.user,
            "factor_id": self.factor_id,
            "label": self.label,
            "status": status.as_str(),
            "recovery_codes": codes.as_deref().map(codes_json),
        });
        doc[self.to.0] = json!(self.to.1);
        ctx.emit(doc, || {
            print_outcome(
                status,
                self.user,
                self.factor_id,
                &format!("the code from the {}", self.from),
                codes.as_deref(),
            )
        });
        Ok(ExitCode::SUCCESS)
    }
}

fn totp(ctx: &Ctx<'_>, a: &EnrollTotp) -> Result<ExitCode> {
    let admin = ctx.admin()?;
    let options = TotpOptions {
        label: a.label.clone(),
        digits: a.digits,
        period: a.period,
        algorithm: a.algorithm.map(|x| match x {
            AlgorithmArg::Sha1 => TotpAlgorithm::Sha1,
            AlgorithmArg::Sha256 => TotpAlgorithm::Sha256,
            AlgorithmArg::Sha512 => TotpAlgorithm::Sha512,
        }),
        activate: a.no_confirm,
    };
    if a.replace && !a.no_confirm && !prompt::stdin_is_terminal() {
        anyhow::bail!(
            "--replace removes the old authenticators only once the new one is confirmed: run \
             it at a terminal (it asks for a code from the new app), or add --no-confirm"
        );
    }
    // Other authenticators the user has now (the lost-phone case when --replace is not given).
    let others: Vec<_> = admin
        .factors(&a.name)?
        .into_iter()
        .filter(|f| f.kind == tessera_common::FactorKind::Totp && f.status == FactorStatus::Active)
        .collect();
    let e = admin.enroll_totp(&a.name, &options)?;

    if !ctx.cli.json {
        println!("TOTP factor {} ({}) for {}", e.factor_id, e.label, e.user);
        println!();
        println!("Scan this QR code with the authenticator app:");
        if let Some(q) = qr(e.uri.expose()) {
            println!("{q}");
        }
        println!("or enter this secret by hand: {}", e.secret_base32.expose());
        println!(
            "({}, {} digits, every {} seconds)",
            e.params.algorithm.as_str().to_uppercase(),
            e.params.digits,
            e.params.period
        );
        println!("otpauth URI: {}", e.uri.expose());
    }

    let mut status = e.status;
    let mut codes = e.recovery_codes;
    // Confirm interactively when a person is there to type a code.
    if status == FactorStatus::Pending
        && prompt::stdin_is_terminal()
        && let Some(c) = confirm_interactively(&admin, &e.user, e.factor_id, "Code from the app")?
    {
        status = FactorStatus::Active;
        codes = c;
    }
    let mut replaced = Vec::new();
    if a.replace && status == FactorStatus::Active {
        let r = admin.replace_authenticators(&e.user, e.factor_id)?;
        replaced = r.removed;
        codes = Some(r.recovery_codes);
    } else if a.replace {
        eprintln!(
            "The new authenticator was not confirmed: nothing was replaced. Run the command again \
             when the user has the new phone at hand."
        );
    }

    ctx.emit(
        json!({
            "user": e.user,
            "factor_id": e.factor_id,
            "label": e.label,
            "replaced": replaced,
            "status": status.as_str(),
            "secret": e.secret_base32.expose(),
            "uri": e.uri.expose(),
            "algorithm": e.params.algorithm.as_str(),
            "digits": e.params.digits,
            "period": e.params.period,
            "recovery_codes": codes.as_deref().map(codes_json),
        }),
        || {
            println!();
            if !replaced.is_empty() {
                let ids: Vec<String> = replaced.iter().map(|i| i.to_string()).collect();
                println!(
                    "Removed the old authenticator{} (factor {}); the old recovery codes no \
                     longer work.",
                    if ids.len() == 1 { "" } else { "s" },
                    ids.join(", ")
                );
            } else if !a.replace && !others.is_empty() {
                let f = &others[0];
                println!(
                    "note: {} also has authenticator \"{}\" (factor {}). If that phone was lost, \
                     run this again with --replace: it removes the old one and gives fresh \
                     recovery codes.",
                    e.user, f.label, f.id
                );
            }
            print_outcome(
                status,
                &e.user,
                e.factor_id,
                "a code from the app",
                codes.as_deref(),
            );
        },
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether the new factor is active (and its recovery codes, if any), or how to confirm it.
fn print_outcome(
    status: FactorStatus,
    user: &str,
    factor_id: i64,
    code_from: &str,
    codes: Option<&[Secret<String>]>,
) {
    match status {
        FactorStatus::Active => println!("The factor is active."),
        FactorStatus::Pending => println!(
            "The factor is pending: confirm it with {code_from}:\n    tessera factor confirm {user} {factor_id}   (it asks for the code)"
        ),
    }
    if let Some(c) = codes {
        print_codes(c);
    }
}

/// Ask for a code until it confirms the factor; `Ok(None)` leaves it pending.
fn confirm_interactively(
    admin: &Admin,
    user: &str,
    factor_id: i64,
    what: &str,
) -> Result<Option<Option<Vec<Secret<String>>>>> {
    for _ in 0..CONFIRM_TRIES {
        let Some(code) = prompt::visible(&format!("\n{what} to confirm (empty to skip): "))? else {
            return Ok(None);
        };
        if code.trim().is_empty() {
            return Ok(None);
        }
        match admin.confirm_factor(user, factor_id, &code) {
            Ok(c) => return Ok(Some(c.recovery_codes)),
            Err(CoreError::ConfirmationFailed { .. }) => {
                eprintln!("That code does not match; try again.")
            }
            Err(CoreError::Input(e)) => eprintln!("{e}"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}
