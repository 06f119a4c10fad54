//! FIDO2 factors that need no key here: an OpenSSH security key's public key, and credentials
//! brought over from a pam_u2f mapping file.

use super::pam_u2f::{PamU2fError, parse_pam_u2f_lenient};
use super::{Admin, Confirmation, validate_label};
use crate::error::{CoreError, InputError};
use crate::factor::fido2::CoseAlg;
use crate::factor::ssh_key::{SkAlgorithm, parse_public_key};
use crate::store::{FactorId, Fido2Factor};

#[derive(Debug)]
pub struct SshKeyEnrollment {
    pub user: String,
    pub factor_id: FactorId,
    pub label: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    pub algorithm: &'static str,
    pub confirmation: Confirmation,
}

/// What an import of a pam_u2f file did, per user.
#[derive(Debug, Default)]
pub struct PamU2fImport {
    pub users: Vec<PamU2fImportedUser>,
    /// Lines that could not be read (none of them imported).
    pub errors: Vec<PamU2fError>,
    /// Users of the file left out by `--user`.
    pub skipped_users: usize,
}

/// What an import of a pam_u2f file did for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PamU2fImportedUser {
    pub user: String,
    /// The user was added by the import.
    pub created: bool,
    /// The credentials imported.
    pub factor_ids: Vec<FactorId>,
    /// Credentials of the file already stored, left alone.
    pub already_present: usize,
    /// Of the credentials imported, those without `+presence`: their logins need no touch, so a
    /// key left plugged in signs without its user.
    pub without_presence: usize,
}

impl Admin {
    /// Store an OpenSSH security key (`sk-ssh-ed25519@openssh.com …`, `sk-ecdsa-sha2-nistp256@
    /// openssh.com …`) as a FIDO2 factor of `name`: with `ssh_key_factor` in sshd's stack, a
    /// login that sshd accepted with it needs no code. Active at once (the public key is all
    /// there is to confirm; the key proves itself to sshd at every login).
    pub fn enroll_ssh_key(
        &self,
        name: &str,
        line: &str,
        label: Option<&str>,
    ) -> Result<SshKeyEnrollment, CoreError> {
        let user = self.user(name)?;
        let key = parse_public_key(line)
            .map_err(|e| InputError::Option(format!("SSH public key: {e}")))?;
        let label = label
            .map(str::to_string)
            .or_else(|| key.comment.clone().filter(|c| validate_label(c).is_ok()))
            .unwrap_or_else(|| "ssh security key".to_string());
        validate_label(&label)?;
        let fingerprint = key.fingerprint();
        let duplicate =
            self.store.factors(user.id)?.into_iter().any(
                |f| matches!(&f.fido2, Some(Fido2Factor::Ssh { blob, .. }) if *blob == key.blob),
            );
        if duplicate {
            return Err(InputError::Option(format!(
                "user {:?} already has the SSH key {fingerprint}",
                user.name
            ))
            .into());
        }
        let alg = match key.algorithm {
            SkAlgorithm::Ed25519 => CoseAlg::EdDsa,
            SkAlgorithm::EcdsaP256 => CoseAlg::Es256,
        };
        let factor_id = self.store.add_fido2_factor(
            user.id,
            &label,
            &Fido2Factor::Ssh {
                alg,
                blob: key.blob.clone(),
                application: key.application.clone(),
            },
            self.clock.now(),
        )?;
        self.audit(
            &user.name,
            format!("enroll ssh-key factor={factor_id} fingerprint={fingerprint}"),
        );
        let confirmation = self.activate(&user, factor_id, None)?;
        Ok(SshKeyEnrollment {
            user: user.name,
            factor_id,
            label,
            fingerprint,
            algorithm: key.algorithm.ssh_name(),
            confirmation,
        })
    }

    /// Bring the credentials of a pam_u2f mapping file over (only `only_user`'s, when given),
    /// made for `rp_id` (pam_u2f's `origin`). Users missing here are added. Credentials already
    /// stored (the same key for the same rp id) are left alone, so a second run adds nothing.
    /// Broken lines are reported and imported for nobody; the rest goes in. Imported
    /// credentials are active at once, each user's first one with recovery codes left to
    /// `tessera recovery generate` (the admin hands them over).
    pub fn import_pam_u2f(
        &self,
        text: &str,
        only_user: Option<&str>,
        rp_id: &str,
    ) -> Result<PamU2fImport, CoreError> {
        let file = parse_pam_u2f_lenient(text, rp_id);
        let mut report = PamU2fImport {
            errors: file.errors,
            ..PamU2fImport::default()
        };
        let wanted = only_user.map(crate::base::names::name_key);
        for entry in file.entries {
            if let Some(w) = &wanted
                && crate::base::names::name_key(&entry.user) != *w
            {
                report.skipped_users += 1;
                continue;
            }
            let (user, created) = match self.user(&entry.user) {
                Ok(u) => (u, false),
                Err(CoreError::UnknownUser(_)) => (self.add_user(&entry.user, None)?, true),
                Err(e) => return Err(e),
            };
            let existing: Vec<Fido2Factor> = self
                .store
                .factors(user.id)?
                .into_iter()
                .filter_map(|f| f.fido2)
                .collect();
            let mut added = Vec::new();
            let mut already = 0;
            let mut without_presence = 0;
            for (n, cred) in entry.credentials.into_iter().enumerate() {
                let known = existing.iter().any(|e| {
                    matches!(e, Fido2Factor::Local(c)
                        if c.rp_id == cred.rp_id && c.public_key == cred.public_key)
                });
                if known {
                    already += 1;
                    continue;
                }
                if !cred.presence {
                    without_presence += 1;
                }
                let label = format!("pam_u2f {}", n + 1);
                let id = self.store.add_fido2_factor(
                    user.id,
                    &label,
                    &Fido2Factor::Local(cred),
                    self.clock.now(),
                )?;
                self.store.activate_factor(user.id, id, None)?;
                self.audit(
                    &user.name,
                    format!("import pam-u2f factor={id} line={}", entry.line),
                );
                added.push(id);
            }
            report.users.push(PamU2fImportedUser {
                user: user.name,
                created,
                factor_ids: added,
                already_present: already,
                without_presence,
            });
        }
        Ok(report)
    }
}
