use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::Ctx;
use crate::args::UserCommand;
use crate::output::{factor_json, factor_line, lock_json, lock_text, time};
use crate::prompt;

pub fn run(ctx: &Ctx<'_>, cmd: &UserCommand) -> Result<ExitCode> {
    let admin = ctx.admin()?;
    let now = ctx.now();
    match cmd {
        UserCommand::Add { name, email, phone } => {
            let u = admin.add_user_with_phone(name, email.as_deref(), phone.as_deref())?;
            ctx.emit(
                json!({"user": u.name, "id": u.id, "email": u.email, "phone": phone}),
                || {
                    println!(
                        "added user {}; next: tessera enroll totp {}",
                        u.name, u.name
                    )
                },
            );
        }
        UserCommand::Modify {
            name,
            email,
            no_email,
            phone,
            no_phone,
        } => {
            let email_change = email.is_some() || *no_email;
            let phone_change = phone.is_some() || *no_phone;
            if !email_change && !phone_change {
                anyhow::bail!(
                    "nothing to change: give --email ADDR, --no-email, --phone +E164 or --no-phone"
                );
            }
            admin.set_contact(
                name,
                email_change.then_some(email.as_deref()),
                phone_change.then_some(phone.as_deref()),
            )?;
            ctx.emit(
                json!({"user": name, "email": email, "phone": phone}),
                || {
                    match (email_change, email) {
                        (true, Some(e)) => println!("e-mail address of {name} set to {e}"),
                        (true, None) => println!("e-mail address of {name} removed"),
                        (false, _) => {}
                    }
                    match (phone_change, phone) {
                        (true, Some(p)) => println!("phone number of {name} set to {p}"),
                        (true, None) => println!("phone number of {name} removed"),
                        (false, _) => {}
                    }
                },
            );
        }
        UserCommand::Invite {
            name,
            valid,
            revoke,
        } => {
            if *revoke {
                let was = admin.revoke_invite(name)?;
                ctx.emit(json!({"user": name, "revoked": was}), || {
                    if was {
                        println!("invitation of {name} withdrawn");
                    } else {
                        println!("{name} had no pending invitation");
                    }
                });
                return Ok(ExitCode::SUCCESS);
            }
            let i = admin.invite_user(name, *valid)?;
            let policy = ctx.config.policy.enroll_at_login;
            ctx.emit(
                json!({
                    "user": i.user,
                    "user_created": i.user_created,
                    "code": i.code.expose(),
                    "expires_at": i.expires_at,
                    "already_enrolled": i.already_enrolled,
                    "enroll_at_login": policy.as_str(),
                }),
                || {
                    if i.user_created {
                        println!("added user {}", i.user);
                    }
                    println!("Enrollment code for {}: {}", i.user, i.code.expose());
                    println!(
                        "Valid until {}, once. Give it to {} by a channel other than their \
                         password's; at their next SSH, sudo or console login they enter it \
                         and set up an authenticator app.",
                        time(i.expires_at),
                        i.user
                    );
                    if i.already_enrolled {
                        println!(
                            "note: {} already has an active factor; the code is asked for only \
                             once they have none.",
                            i.user
                        );
                    }
                    if policy == tessera_common::EnrollAtLogin::Off {
                        println!(
                            "note: [policy] enroll_at_login is \"off\" in {}: set it to \
                             \"optional\" or \"required\" for the code to be asked for.",
                            ctx.config.source.display()
                        );
                    }
                },
            );
        }
        UserCommand::List => {
            let users = admin.users()?;
            let doc: Vec<_> = users
                .iter()
                .map(|s| {
                    json!({
                        "user": s.user.name,
                        "email": s.user.email,
                        "active_factors": s.active_factors,
                        "pending_factors": s.pending_factors,
                        "recovery_codes_left": s.recovery_unused,
                        "has_password": s.user.password_hash.is_some(),
                        "lock": lock_json(&s.lock, now),
                        "shadowed": s.shadowed,
                    })
                })
                .collect();
            ctx.emit(json!({ "users": doc }), || {
                println!(
                    "{:<24} {:>6} {:>7} {:>8}  LOCK",
                    "USER", "ACTIVE", "PENDING", "RECOVERY"
                );
                for s in &users {
                    println!(
                        "{:<24} {:>6} {:>7} {:>8}  {}",
                        s.user.name,
                        s.active_factors,
                        s.pending_factors,
                        s.recovery_unused.map_or("-".to_string(), |n| n.to_string()),
                        lock_text(&s.lock, now)
                    );
                }
                for s in users.iter().filter(|s| s.shadowed) {
                    println!(
                        "warning: {} has the same name as another user but for case, width or \
                         invisible characters; logins reach the other one. Remove it with \
                         `tessera user remove --shadowed '{}'` once nothing of it is needed.",
                        s.user.name, s.user.name
                    );
                }
            });
        }
        UserCommand::Show { name } => {
            let d = admin.show_user(name)?;
            let recovery = d.recovery.as_ref().map(|r| {
                json!({"total": r.total, "unused": r.unused, "created_at": r.created_at, "origin": r.origin})
            });
            ctx.emit(
                json!({
                    "user": d.user.name,
                    "id": d.user.id,
                    "email": d.user.email,
                    "phone": d.user.phone,
                    "created_at": d.user.created_at,
                    "has_password": d.user.password_hash.is_some(),
                    "lock": lock_json(&d.lock, now),
                    "factors": d.factors.iter().map(factor_json).collect::<Vec<_>>(),
                    "recovery_codes": recovery,
                    "invitation": d.invite.as_ref().map(|i| json!({
                        "created_at": i.created_at,
                        "expires_at": i.expires_at,
                        "used_at": i.used_at,
                        "pending": i.is_pending(now),
                    })),
                }),
                || {
                    println!("user:      {}", d.user.name);
                    println!("email:     {}", d.user.email.as_deref().unwrap_or("-"));
                    println!("phone:     {}", d.user.phone.as_deref().unwrap_or("-"));
                    println!("created:   {}", time(d.user.created_at));
                    println!(
                        "password:  {}",
                        if d.user.password_hash.is_some() {
                            "set"
                        } else {
                            "not set"
                        }
                    );
                    println!("lock:      {}", lock_text(&d.lock, now));
                    match &d.recovery {
                        Some(r) => println!(
                            "recovery:  {} of {} codes unused ({})",
                            r.unused, r.total, r.origin
                        ),
                        None => println!("recovery:  none"),
                    }
                    match &d.invite {
                        Some(i) if i.is_pending(now) => println!(
                            "invited:   pending, valid until {} (issued {})",
                            time(i.expires_at),
                            time(i.created_at)
                        ),
                        Some(i) => match i.used_at {
                            Some(u) => println!("invited:   used {}", time(u)),
                            None => println!("invited:   expired {}", time(i.expires_at)),
                        },
                        None => {}
                    }
                    println!("factors:");
                    if d.factors.is_empty() {
                        println!("    none (enroll one: tessera enroll totp {})", d.user.name);
                    }
                    for f in &d.factors {
                        println!("  {}", factor_line(f));
                    }
                },
            );
        }
        UserCommand::Remove {
            name,
            shadowed,
            hand_over,
        } => {
            let heir = if *shadowed {
                admin.remove_shadowed_user(name)?;
                None
            } else {
                admin.remove_user(name, *hand_over)?
            };
            if let Some(h) = &heir {
                eprintln!("{h} takes the name over: logins of {name} now reach it");
            }
            ctx.emit(
                json!({"user": name, "removed": true, "name_taken_over_by": heir}),
                || println!("removed user {name}"),
            );
        }
        UserCommand::Lock { name } => {
            admin.lock_user(name)?;
            ctx.emit(json!({"user": name, "locked": true}), || {
                println!("locked {name}: every login is refused until `tessera user unlock {name}`")
            });
        }
        UserCommand::Unlock { name } => {
            admin.unlock_user(name)?;
            ctx.emit(json!({"user": name, "locked": false}), || {
                println!("unlocked {name}")
            });
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            clear,
        } => {
            if *clear {
                admin.set_password(name, None)?;
            } else {
                // Fail on an unknown user before asking for a password.
                admin.show_user(name)?;
                let pw = prompt::new_password(*password_stdin)?;
                admin.set_password(name, Some(&pw))?;
            }
            ctx.emit(json!({"user": name, "password_set": !clear}), || {
                if *clear {
                    println!("password of {name} removed");
                } else {
                    println!("password of {name} set");
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
