//! Row mapping shared by the tables' files.

use rusqlite::Row;

use crate::base::fido2::{CoseAlg, Credential, Origin, PublicKey, UserVerification};
use crate::base::otp::TotpAlgorithm;
use crate::base::secret::Secret;
use crate::store::{Factor, FactorKind, FactorStatus, Fido2Factor, TotpState, User};

pub(super) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) const USER_COLS: &str = "id, name, email, password_hash, created_at, phone";

pub(super) fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        password_hash: r.get::<_, Option<String>>(3)?.map(Secret::new),
        created_at: to_u64(r.get(4)?),
        phone: r.get(5)?,
    })
}

pub(super) const FACTOR_COLS: &str = "id, user_id, kind, label, status, preferred, created_at, algorithm, digits, period, window, secret, last_step, address, fido_transport, fido_credential_id, fido_alg, fido_public_key, fido_rp_id, fido_presence, fido_uv, fido_pin, fido_resident, fido_backup, fido_sign_count, fido_origin";

/// A factor row before its text fields are checked.
pub(super) struct RawFactor {
    id: i64,
    user_id: i64,
    kind: String,
    label: String,
    status: String,
    preferred: bool,
    created_at: i64,
    algorithm: Option<String>,
    digits: Option<i64>,
    period: Option<i64>,
    window: Option<i64>,
    secret: Option<Vec<u8>>,
    last_step: Option<i64>,
    address: Option<String>,
    fido: RawFido,
}

/// The FIDO2 columns of a factor row.
struct RawFido {
    transport: Option<String>,
    credential_id: Option<Vec<u8>>,
    alg: Option<i64>,
    public_key: Option<Vec<u8>>,
    rp_id: Option<String>,
    presence: Option<bool>,
    uv: Option<String>,
    pin: Option<bool>,
    resident: Option<bool>,
    backup: Option<i64>,
    sign_count: Option<i64>,
    origin: Option<String>,
}

pub(super) fn factor_row(r: &Row<'_>) -> rusqlite::Result<RawFactor> {
    Ok(RawFactor {
        id: r.get(0)?,
        user_id: r.get(1)?,
        kind: r.get(2)?,
        label: r.get(3)?,
        status: r.get(4)?,
        preferred: r.get(5)?,
        created_at: r.get(6)?,
        algorithm: r.get(7)?,
        digits: r.get(8)?,
        period: r.get(9)?,
        window: r.get(10)?,
        secret: r.get(11)?,
        last_step: r.get(12)?,
        address: r.get(13)?,
        fido: RawFido {
            transport: r.get(14)?,
            credential_id: r.get(15)?,
            alg: r.get(16)?,
            public_key: r.get(17)?,
            rp_id: r.get(18)?,
            presence: r.get(19)?,
            uv: r.get(20)?,
            pin: r.get(21)?,
            resident: r.get(22)?,
            backup: r.get(23)?,
            sign_count: r.get(24)?,
            origin: r.get(25)?,
        },
    })
}

impl RawFido {
    fn check(self, id: i64) -> Result<Fido2Factor, String> {
        let bad = |what: &str| format!("factor {id}: fido2 {what}");
        let alg = self
            .alg
            .and_then(CoseAlg::from_cose)
            .ok_or_else(|| bad("algorithm"))?;
        let key = self.public_key.ok_or_else(|| bad("public key"))?;
        let rp_id = self.rp_id.ok_or_else(|| bad("rp id"))?;
        match self.transport.as_deref() {
            Some("ssh") => Ok(Fido2Factor::Ssh {
                alg,
                blob: key,
                application: rp_id,
            }),
            Some("local") => Ok(Fido2Factor::Local(Credential {
                credential_id: self.credential_id.ok_or_else(|| bad("credential id"))?,
                public_key: PublicKey::from_raw(alg, &key).ok_or_else(|| bad("public key"))?,
                rp_id,
                presence: self.presence.ok_or_else(|| bad("presence"))?,
                verification: self
                    .uv
                    .as_deref()
                    .and_then(UserVerification::parse)
                    .ok_or_else(|| bad("user verification"))?,
                pin: self.pin.ok_or_else(|| bad("pin"))?,
                resident: self.resident.ok_or_else(|| bad("resident"))?,
                backup: match self.backup {
                    None => None,
                    Some(b @ 0..=3) => Some((b & 1 != 0, b & 2 != 0)),
                    Some(_) => return Err(bad("backup flags")),
                },
                sign_count: self
                    .sign_count
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(|| bad("signature counter"))?,
                origin: self
                    .origin
                    .as_deref()
                    .and_then(Origin::parse)
                    .ok_or_else(|| bad("origin"))?,
            })),
            _ => Err(bad("transport")),
        }
    }
}

impl RawFactor {
    pub(super) fn check(self) -> Result<Factor, String> {
        let kind = match self.kind.as_str() {
            "totp" => FactorKind::Totp,
            "email" => FactorKind::Email,
            "fido2" => FactorKind::Fido2,
            "sms" => FactorKind::Sms,
            _ => return Err(format!("factor {}: kind", self.id)),
        };
        let status = match self.status.as_str() {
            "pending" => FactorStatus::Pending,
            "active" => FactorStatus::Active,
            _ => return Err(format!("factor {}: status", self.id)),
        };
        let totp = if kind == FactorKind::Totp {
            let bad = |what: &str| format!("factor {}: {what}", self.id);
            let algorithm = self
                .algorithm
                .as_deref()
                .and_then(TotpAlgorithm::parse)
                .ok_or_else(|| bad("algorithm"))?;
            let digits = self
                .digits
                .and_then(|d| u8::try_from(d).ok())
                .filter(|d| (6..=8).contains(d))
                .ok_or_else(|| bad("digits"))?;
            let period = self
                .period
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("period"))?;
            let window = match self.window {
                None => None,
                Some(w) => Some(u8::try_from(w).map_err(|_| bad("window"))?),
            };
            let sealed_secret = self.secret.ok_or_else(|| bad("secret"))?;
            Some(TotpState {
                algorithm,
                digits,
                period,
                window,
                sealed_secret,
                last_step: opt_u64(self.last_step),
            })
        } else {
            None
        };
        if matches!(kind, FactorKind::Email | FactorKind::Sms)
            && self.address.as_deref().is_none_or(str::is_empty)
        {
            return Err(format!("factor {}: address", self.id));
        }
        let fido2 = if kind == FactorKind::Fido2 {
            Some(self.fido.check(self.id)?)
        } else {
            None
        };
        Ok(Factor {
            fido2,
            id: self.id,
            user_id: self.user_id,
            kind,
            label: self.label,
            status,
            preferred: self.preferred,
            created_at: to_u64(self.created_at),
            totp,
            address: self.address,
        })
    }
}
