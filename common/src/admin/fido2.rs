//! FIDO2 factors: a key enrolled on this machine, in two steps around the device (the core makes
//! the request, the front-end carries it to the key, the core reads the answer).

use super::{Admin, Confirmation, validate_label};
use crate::base::secret::random_bytes;
use crate::error::{CoreError, InputError};
use crate::factor::fido2::attest::{AttestationError, read_attestation};
use crate::factor::fido2::{
    AttestationResponse, CoseAlg, Credential, CredentialRequest, Origin, UserVerification,
};
use crate::store::{FactorId, Fido2Factor};

/// How to enroll a key; `None` takes the configured default.
#[derive(Debug, Clone, Default)]
pub struct Fido2Options {
    pub label: Option<String>,
    /// Ask for the key's PIN at every login.
    pub pin: bool,
    pub verification: Option<UserVerification>,
    /// Make a resident (discoverable) credential.
    pub resident: bool,
}

/// An enrollment waiting for the key's answer.
#[derive(Debug, Clone)]
pub struct PendingFido2 {
    user: String,
    label: String,
    options: Fido2Options,
    verification: UserVerification,
    pub request: CredentialRequest,
}

impl PendingFido2 {
    /// The key must verify its user (PIN or fingerprint) now.
    pub fn needs_verification(&self) -> bool {
        self.request.verification
    }

    /// The PIN is asked for (the credential asks for it at every login).
    pub fn wants_pin(&self) -> bool {
        self.options.pin
    }
}

#[derive(Debug)]
pub struct Fido2Enrollment {
    pub user: String,
    pub factor_id: FactorId,
    pub label: String,
    pub rp_id: String,
    pub algorithm: CoseAlg,
    pub user_verified: bool,
    pub confirmation: Confirmation,
}

impl Admin {
    /// What the key must be asked to enroll a credential for `name`.
    pub fn fido2_request(&self, name: &str, o: &Fido2Options) -> Result<PendingFido2, CoreError> {
        let user = self.user(name)?;
        let label = o
            .label
            .clone()
            .unwrap_or_else(|| "security key".to_string());
        validate_label(&label)?;
        let cfg = &self.config.fido2;
        let verification = o.verification.unwrap_or(cfg.user_verification);
        if cfg.requires_uv() && verification != UserVerification::Required {
            return Err(InputError::Option(format!(
                "[fido2] user_verification = \"required\" in {}: every key must verify its user",
                self.config.source.display()
            ))
            .into());
        }
        let mut challenge = [0u8; 32];
        random_bytes(&mut challenge)?;
        let mut user_id = vec![0u8; 16];
        random_bytes(&mut user_id)?;
        let exclude_list = self
            .store
            .factors(user.id)?
            .into_iter()
            .filter_map(|f| match f.fido2 {
                Some(Fido2Factor::Local(c))
                    if c.rp_id == cfg.rp_id && !c.credential_id.is_empty() =>
                {
                    Some(c.credential_id)
                }
                _ => None,
            })
            .collect();
        Ok(PendingFido2 {
            request: CredentialRequest {
                rp_id: cfg.rp_id.clone(),
                challenge,
                // A random handle: a key that lists its credentials shows the name, never an id.
                user_id,
                user_name: user.name.clone(),
                algorithms: vec![CoseAlg::Es256, CoseAlg::EdDsa],
                resident: o.resident,
                verification: verification == UserVerification::Required || o.pin,
                exclude_list,
            },
            user: user.name,
            label,
            options: o.clone(),
            verification,
        })
    }

    /// Check the key's answer and store the credential, active (the touch was its
    /// confirmation). The first active factor of a user comes with recovery codes.
    pub fn finish_fido2(
        &self,
        pending: &PendingFido2,
        response: &AttestationResponse,
    ) -> Result<Fido2Enrollment, CoreError> {
        let user = self.user(&pending.user)?;
        let new = read_attestation(&pending.request, response).map_err(|e| match e {
            AttestationError::UnsupportedAlgorithm(_) | AttestationError::UnsupportedFormat(_) => {
                InputError::Option(format!("the key's credential cannot be used: {e}"))
            }
            _ => InputError::Option(format!("the key's answer was refused: {e}")),
        })?;
        let algorithm = new.public_key.alg();
        let credential = Credential {
            credential_id: new.credential_id,
            public_key: new.public_key,
            rp_id: pending.request.rp_id.clone(),
            presence: true,
            verification: pending.verification,
            pin: pending.options.pin,
            resident: pending.options.resident,
            backup: Some(new.backup),
            sign_count: new.sign_count,
            origin: Origin::Enrolled,
        };
        let factor_id = self.store.add_fido2_factor(
            user.id,
            &pending.label,
            &Fido2Factor::Local(credential),
            self.clock.now(),
        )?;
        self.audit(
            &user.name,
            format!(
                "enroll fido2 factor={factor_id} alg={} uv={}",
                algorithm.as_str(),
                pending.verification.as_str()
            ),
        );
        let confirmation = self.activate(&user, factor_id, None)?;
        Ok(Fido2Enrollment {
            user: user.name,
            factor_id,
            label: pending.label.clone(),
            rp_id: pending.request.rp_id.clone(),
            algorithm,
            user_verified: new.user_verified,
            confirmation,
        })
    }
}
