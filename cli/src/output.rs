//! Formatting for people and for `--json`.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use tessera_common::{AuditEvent, Factor, Fido2Factor, Lock, LockState, Secret};

/// RFC 3339 UTC time for a Unix timestamp.
pub fn time(unix: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

/// A QR code of `text` drawn with half-block characters, quiet zone included.
pub fn qr(text: &str) -> Option<String> {
    tessera_common::qr_half_blocks(text)
}

pub fn lock_text(lock: &LockState, now: u64) -> String {
    let mut text = match lock.lock_at(now) {
        Lock::UntilUnlocked if lock.admin_locked => "locked by an administrator".to_string(),
        Lock::UntilUnlocked => format!(
            "locked after {} locks in a row, until `tessera user unlock`",
            lock.codes.locks
        ),
        Lock::Until(until) => format!(
            "locked until {} (lock {} in a row)",
            time(until),
            lock.codes.locks
        ),
        Lock::Open if lock.codes.failures > 0 => {
            format!("not locked ({} recent failures)", lock.codes.failures)
        }
        Lock::Open => "not locked".to_string(),
    };
    if lock.since_login > 0 {
        text.push_str(&format!(
            "; {} wrong codes since the last login",
            lock.since_login
        ));
    }
    text
}

pub fn lock_json(lock: &LockState, now: u64) -> Value {
    let state = lock.lock_at(now);
    json!({
        "locked": state.is_locked(),
        "admin_locked": lock.admin_locked,
        "locked_until": match state {
            Lock::Until(t) => Some(t),
            Lock::Open | Lock::UntilUnlocked => None,
        },
        "until_unlocked": state == Lock::UntilUnlocked,
        "failures": lock.codes.failures,
        "locks": lock.codes.locks,
        "wrong_codes_since_last_login": lock.since_login,
    })
}

pub fn factor_json(f: &Factor) -> Value {
    let mut v = json!({
        "id": f.id,
        "kind": f.kind.as_str(),
        "label": f.label,
        "status": f.status.as_str(),
        "preferred": f.preferred,
        "created_at": f.created_at,
    });
    if let Some(t) = &f.totp {
        v["algorithm"] = json!(t.algorithm.as_str());
        v["digits"] = json!(t.digits);
        v["period"] = json!(t.period);
        v["window"] = json!(t.window);
    }
    match &f.fido2 {
        Some(Fido2Factor::Local(c)) => {
            v["transport"] = json!("local");
            v["rp_id"] = json!(c.rp_id);
            v["algorithm"] = json!(c.public_key.alg().as_str());
            v["user_verification"] = json!(c.verification.as_str());
            v["presence"] = json!(c.presence);
            v["pin"] = json!(c.pin);
            v["resident"] = json!(c.resident);
            v["sign_count"] = json!(c.sign_count);
            v["origin"] = json!(c.origin.as_str());
        }
        Some(Fido2Factor::Ssh { blob, .. }) => {
            v["transport"] = json!("ssh");
            if let Ok(k) = tessera_common::ssh_key::SkPublicKey::from_blob(blob) {
                v["algorithm"] = json!(k.algorithm.ssh_name());
                v["fingerprint"] = json!(k.fingerprint());
            }
        }
        None => {}
    }
    v
}

pub fn factor_line(f: &Factor) -> String {
    let mut s = format!(
        "{:>4}  {:<6} {:<8} {}{}",
        f.id,
        f.kind.as_str(),
        f.status.as_str(),
        f.label,
        if f.preferred { " (preferred)" } else { "" }
    );
    if let Some(t) = &f.totp {
        s.push_str(&format!(
            "  [{} digits, {} s, {}]",
            t.digits, t.period, t.algorithm
        ));
    }
    if let Some(a) = &f.address {
        // The administrator's own view: the full address or number.
        s.push_str(&format!("  [{a}]"));
    }
    match &f.fido2 {
        Some(Fido2Factor::Local(c)) => s.push_str(&format!(
            "  [{}, {}, uv {}{}{}{}]",
            c.public_key.alg().as_str(),
            c.rp_id,
            c.verification.as_str(),
            if c.pin { ", pin" } else { "" },
            // pam_u2f's credentials without `+presence`: a key left plugged in signs alone.
            if c.presence { "" } else { ", no touch" },
            match c.origin {
                tessera_common::fido2::Origin::PamU2f => ", from pam_u2f",
                tessera_common::fido2::Origin::Enrolled => "",
            }
        )),
        Some(Fido2Factor::Ssh { blob, .. }) => {
            let fp = tessera_common::ssh_key::SkPublicKey::from_blob(blob)
                .map(|k| k.fingerprint())
                .unwrap_or_else(|_| "unreadable key".into());
            s.push_str(&format!("  [ssh key {fp}]"));
        }
        None => {}
    }
    s
}

pub fn audit_json(e: &AuditEvent) -> Value {
    json!({
        "at": e.at,
        "time": time(e.at),
        "user": e.user,
        "service": e.service,
        "source": e.source,
        "result": e.result.as_str(),
        "method": e.method,
        "detail": e.detail,
        "count": e.count,
    })
}

pub fn codes_json(codes: &[Secret<String>]) -> Value {
    Value::Array(codes.iter().map(|c| json!(c.expose())).collect())
}

pub fn print_codes(codes: &[Secret<String>]) {
    println!();
    println!(
        "Recovery codes — each works once; store them somewhere safe, they are not shown again:"
    );
    for c in codes {
        println!("    {}", c.expose());
    }
}

#[cfg(test)]
mod tests {
    use tessera_common::fido2::{Credential, Origin, PublicKey, UserVerification};
    use tessera_common::{FactorKind, FactorStatus};

    use super::*;

    fn fido2_factor(presence: bool) -> Factor {
        Factor {
            id: 3,
            user_id: 1,
            kind: FactorKind::Fido2,
            label: "pam_u2f 1".into(),
            status: FactorStatus::Active,
            preferred: false,
            created_at: 0,
            totp: None,
            address: None,
            fido2: Some(Fido2Factor::Local(Credential {
                credential_id: vec![1, 2, 3],
                public_key: PublicKey::EdDsa([5; 32]),
                rp_id: "pam://host".into(),
                presence,
                verification: UserVerification::Discouraged,
                pin: false,
                resident: false,
                backup: None,
                sign_count: 0,
                origin: Origin::PamU2f,
            })),
        }
    }

    #[test]
    fn a_credential_that_needs_no_touch_says_so() {
        let line = factor_line(&fido2_factor(false));
        assert!(line.contains(", no touch, from pam_u2f]"), "{line}");
        let line = factor_line(&fido2_factor(true));
        assert!(!line.contains("no touch"), "{line}");
        assert!(line.ends_with(", from pam_u2f]"), "{line}");
    }
}
