//! TOTP factors (authenticator apps): the parameters of a new factor, sealing its secret, and the
//! one check of a code against a factor — used by logins (a prompt answer, a code after a
//! password) and by the confirmation of a pending factor alike.

use crate::base::names::host_name;
use crate::base::otp::{
    TotpAlgorithm, TotpParams, generate_secret, is_code_shaped, otpauth_uri, to_base32, totp_match,
};
use crate::base::secret::{KeyError, MasterKey, SealContext, Secret};
use crate::config::TotpConfig;
use crate::error::{CoreError, InputError};
use crate::store::{FactorId, FactorStatus, FactorStore, NewTotp, TotpState, User, UserId};

/// The seal context of a factor's secret: bound to the user and the factor.
fn context(user_id: UserId, factor_id: FactorId) -> SealContext<'static> {
    SealContext {
        purpose: "totp",
        user_id,
        factor_id,
    }
}

/// Encrypt a new factor's secret.
pub fn seal(
    key: &MasterKey,
    user_id: UserId,
    factor_id: FactorId,
    secret: &[u8],
) -> Result<Vec<u8>, KeyError> {
    key.seal(context(user_id, factor_id), secret)
}

/// A new pending authenticator: what the user's app needs (the secret as base32, the
/// `otpauth://` URI), and the factor's id.
#[derive(Debug)]
pub struct Provisioned {
    pub factor_id: FactorId,
    pub secret_base32: Secret<String>,
    pub uri: Secret<String>,
}

/// Store a new pending TOTP factor for `user` with a fresh secret (sealed, bound to the factor)
/// and return what the app needs. It is activated by a code from it.
pub fn provision(
    store: &dyn FactorStore,
    key: &MasterKey,
    issuer: &str,
    user: &User,
    label: &str,
    params: &TotpParams,
    now: u64,
) -> Result<Provisioned, CoreError> {
    let secret = generate_secret(params.algorithm)?;
    let new = NewTotp {
        label: label.to_string(),
        algorithm: params.algorithm,
        digits: params.digits,
        period: params.period,
        window: None,
        status: FactorStatus::Pending,
        last_step: None,
    };
    let user_id = user.id;
    let seal_it = |factor_id| seal(key, user_id, factor_id, secret.expose());
    let factor_id = store.add_totp_factor(user.id, &new, now, &seal_it)?;
    let secret_base32 = to_base32(secret.expose());
    let account = format!("{}@{}", user.name, host_name());
    let uri = otpauth_uri(issuer, &account, secret_base32.expose(), params);
    Ok(Provisioned {
        factor_id,
        secret_base32,
        uri,
    })
}

/// The parameters of a new factor: the options given, else the configured defaults; out of range
/// is an input error naming the option.
pub fn params(
    cfg: &TotpConfig,
    digits: Option<u8>,
    period: Option<u32>,
    algorithm: Option<TotpAlgorithm>,
) -> Result<TotpParams, InputError> {
    let p = TotpParams {
        algorithm: algorithm.unwrap_or(cfg.algorithm),
        digits: digits.unwrap_or(cfg.digits),
        period: period.unwrap_or(cfg.period),
        window: cfg.window,
    };
    if !(6..=8).contains(&p.digits) {
        return Err(InputError::Option(format!(
            "--digits {} is out of range (6 to 8)",
            p.digits
        )));
    }
    if !(10..=300).contains(&p.period) {
        return Err(InputError::Option(format!(
            "--period {} is out of range (10 to 300 seconds)",
            p.period
        )));
    }
    Ok(p)
}

/// Whether `answer` has the shape of this factor's codes.
pub fn is_shaped(t: &TotpState, answer: &str) -> bool {
    is_code_shaped(answer, t.digits)
}

/// Does `code` match factor `factor_id` of `user` at `now`? The matched time step (for the
/// caller to claim: replay protection), or `None`. A secret that does not decrypt is an error:
/// fail closed.
pub fn check(
    key: &MasterKey,
    default_window: u8,
    user: &User,
    factor_id: FactorId,
    t: &TotpState,
    code: &str,
    now: u64,
) -> Result<Option<u64>, CoreError> {
    let params = TotpParams {
        algorithm: t.algorithm,
        digits: t.digits,
        period: t.period,
        window: t.window.unwrap_or(default_window),
    };
    let secret: Secret<Vec<u8>> = key
        .unseal(context(user.id, factor_id), &t.sealed_secret)
        .ok_or_else(|| CoreError::SecretUnsealFailed {
            user: user.name.clone(),
            id: factor_id,
        })?;
    Ok(totp_match(&params, secret.expose(), code, now))
}
