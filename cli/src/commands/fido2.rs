//! `enroll fido2`, `enroll ssh-key`, `import pam-u2f`: the core makes the key's request and
//! checks its answer; this file finds the keys, asks for the PIN and a touch, and prints.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tessera_common::fido2::UserVerification;
use tessera_common::{Fido2Options, read_pam_u2f_file};
use tessera_fido2::DeviceError;
use zeroize::Zeroizing;

use super::Ctx;
use crate::args::{EnrollFido2, UvArg};
use crate::output::{codes_json, print_codes};
use crate::prompt;

/// How long finding the keys may take.
const OPEN_WAIT: Duration = Duration::from_secs(5);

pub fn enroll_fido2(ctx: &Ctx<'_>, a: &EnrollFido2) -> Result<ExitCode> {
    let admin = ctx.admin()?;
    let options = Fido2Options {
        label: a.label.clone(),
        pin: a.pin,
        verification: a.user_verification.map(|v| match v {
            UvArg::Required => UserVerification::Required,
            UvArg::Preferred => UserVerification::Preferred,
            UvArg::Discouraged => UserVerification::Discouraged,
        }),
        resident: a.resident,
    };
    let pending = admin.fido2_request(&a.name, &options)?;
    let mut devices = tessera_fido2::with_deadline(OPEN_WAIT, tessera_fido2::open_all)
        .context("the security keys did not respond while being listed")?
        .map_err(explain)?;
    if devices.is_empty() {
        bail!("{}", explain(DeviceError::NoDevice));
    }
    let mut pin_set = false;
    for d in &mut devices {
        if let Ok(info) = d.info() {
            pin_set |= info.pin_verifies();
        }
    }
    // A key with a PIN set needs it to make any credential (CTAP2 keys refuse makeCredential
    // without it), also one whose logins will not ask for the PIN.
    let pin: Option<Zeroizing<String>> = if pending.wants_pin() || pin_set {
        let p = prompt::secret("PIN of the security key: ")?
            .context("no PIN given (the key needs its PIN for this enrollment)")?;
        Some(p)
    } else {
        None
    };
    if devices.len() > 1 {
        eprintln!(
            "{} security keys are plugged in: touch the one to enroll for {}.",
            devices.len(),
            a.name
        );
        for d in &devices {
            eprintln!("  {}", d.describe());
        }
    } else {
        eprintln!("Touch your security key to enroll it for {}.", a.name);
    }
    let request = pending.request.clone();
    // A PIN the credential does not need goes only to the keys that have one: a key without a
    // PIN refuses any.
    let pin_for_every_key = pending.wants_pin() || pending.needs_verification();
    let deadline = Instant::now() + ctx.config.fido2.timeout;
    let make = move |d: &mut dyn tessera_fido2::Device| {
        let pin = pin
            .as_deref()
            .map(String::as_str)
            .filter(|_| pin_for_every_key || d.info().is_ok_and(|i| i.pin_set));
        d.make_credential(&request, pin)
    };
    // Whichever key is touched first makes the credential.
    let answer =
        tessera_fido2::first_answer(devices, deadline, make, |_| tessera_fido2::Judged::Take)
            .map_err(explain)?;
    let e = admin.finish_fido2(&pending, &answer)?;
    let codes = e.confirmation.recovery_codes.as_deref();
    ctx.emit(
        json!({
            "user": e.user,
            "factor_id": e.factor_id,
            "label": e.label,
            "kind": "fido2",
            "rp_id": e.rp_id,
            "algorithm": e.algorithm.as_str(),
            "user_verified": e.user_verified,
            "status": "active",
            "recovery_codes": codes.map(codes_json),
        }),
        || {
            println!(
                "FIDO2 factor {} ({}) for {}: {} credential for {}; it is active.",
                e.factor_id,
                e.label,
                e.user,
                e.algorithm.as_str().to_uppercase(),
                e.rp_id
            );
            if let Some(c) = codes {
                print_codes(c);
            }
        },
    );
    Ok(ExitCode::SUCCESS)
}

/// A device failure as the person at the terminal should read it.
fn explain(e: DeviceError) -> anyhow::Error {
    match e {
        DeviceError::NoDevice => {
            anyhow::anyhow!(
                "no FIDO2 security key found: plug one into this machine and run this again"
            )
        }
        DeviceError::NoTouch => anyhow::anyhow!(
            "the security key was not touched in time ([fido2] timeout); nothing was enrolled"
        ),
        DeviceError::PinRequired => {
            anyhow::anyhow!("the security key needs its PIN: run this again with --pin")
        }
        DeviceError::Excluded => anyhow::anyhow!(
            "this security key already holds a credential of this user; use another key, or remove the old factor first"
        ),
        other => anyhow::anyhow!("{other}; nothing was enrolled"),
    }
}

pub fn enroll_ssh_key(
    ctx: &Ctx<'_>,
    name: &str,
    key: &str,
    label: Option<&str>,
) -> Result<ExitCode> {
    let e = ctx.admin()?.enroll_ssh_key(name, key, label)?;
    let codes = e.confirmation.recovery_codes.as_deref();
    ctx.emit(
        json!({
            "user": e.user,
            "factor_id": e.factor_id,
            "label": e.label,
            "kind": "fido2",
            "transport": "ssh",
            "algorithm": e.algorithm,
            "fingerprint": e.fingerprint,
            "status": "active",
            "recovery_codes": codes.map(codes_json),
        }),
        || {
            println!(
                "SSH security key {} ({}, {}) for {}; it is active.",
                e.factor_id, e.label, e.fingerprint, e.user
            );
            println!(
                "sshd needs `AuthenticationMethods publickey,keyboard-interactive` and pam_tessera needs `ssh_key_factor` (docs/pam.md)."
            );
            if let Some(c) = codes {
                print_codes(c);
            }
        },
    );
    Ok(ExitCode::SUCCESS)
}

/// The warning for `count` imported credentials of `user` without `+presence`.
fn no_touch_warning(user: &str, count: usize) -> String {
    let (credentials, need) = if count == 1 {
        ("credential", "needs")
    } else {
        ("credentials", "need")
    };
    format!(
        "{count} {credentials} of {user} {need} no touch (no +presence in the file): a key left \
         plugged in signs without the user"
    )
}

pub fn import_pam_u2f(
    ctx: &Ctx<'_>,
    file: &Path,
    user: Option<&str>,
    origin: Option<&str>,
) -> Result<ExitCode> {
    // A per-user file belongs to that user's account, when the system has one.
    let owner = user
        .and_then(|u| nix::unistd::User::from_name(u).ok().flatten())
        .map(|u| u.uid.as_raw());
    let text = read_pam_u2f_file(file, owner)?;
    let rp_id = origin.map_or_else(|| ctx.config.fido2.rp_id.clone(), str::to_string);
    let r = ctx.admin()?.import_pam_u2f(&text, user, &rp_id)?;
    let errors: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
    ctx.emit(
        json!({
            "rp_id": rp_id,
            "users": r.users.iter().map(|u| json!({
                "user": u.user,
                "user_created": u.created,
                "factor_ids": u.factor_ids,
                "already_present": u.already_present,
                "without_presence": u.without_presence,
            })).collect::<Vec<_>>(),
            "errors": errors,
        }),
        || {
            for u in &r.users {
                if u.created {
                    println!("created user {}", u.user);
                }
                println!(
                    "{}: {} credential(s) imported for {rp_id}{}",
                    u.user,
                    u.factor_ids.len(),
                    if u.already_present > 0 {
                        format!(", {} already present", u.already_present)
                    } else {
                        String::new()
                    }
                );
            }
            if r.users.is_empty() {
                println!("nothing imported");
            }
        },
    );
    // On stderr, with --json too: a credential that needs no touch is worth a second look.
    for u in r.users.iter().filter(|u| u.without_presence > 0) {
        eprintln!(
            "tessera: warning: {}",
            no_touch_warning(&u.user, u.without_presence)
        );
    }
    for e in &errors {
        eprintln!("tessera: {}: {e}", file.display());
    }
    if user.is_some() && r.users.is_empty() && errors.is_empty() {
        bail!(
            "{}: no line for user {:?}",
            file.display(),
            user.unwrap_or_default()
        );
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_no_touch_warning_counts_the_credentials() {
        assert_eq!(
            no_touch_warning("alice", 2),
            "2 credentials of alice need no touch (no +presence in the file): a key left plugged \
             in signs without the user"
        );
        assert!(no_touch_warning("bob", 1).starts_with("1 credential of bob needs no touch"));
    }
}
