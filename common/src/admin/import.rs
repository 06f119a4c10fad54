//! The audit log, and bringing a google-authenticator file over.

use std::path::Path;

use super::google_auth::GoogleAuthFile;
use super::{Admin, ImportReport};
use crate::audit::AuditEvent;
use crate::base::names::validate_new_user_name;
use crate::base::otp::{TotpAlgorithm, TotpParams};
use crate::base::trust::{Access, Owners, Rule};
use crate::error::{CoreError, InputError};

/// The largest google-authenticator file read: a secret, a few options and scratch codes fit in
/// well under a kilobyte.
const MAX_GOOGLE_AUTH_LEN: u64 = 64 * 1024;

/// Read a `~/.google_authenticator` file for import, as root may: a regular file (no FIFO to hang
/// on, no device to read forever), reached without a link into someone else's directory, owned
/// by root or `owner` (the account it is imported for, when the system has one), at most 64 KiB.
/// A link planted by one user cannot make root import another user's secret.
pub fn read_google_authenticator_file(
    path: &Path,
    owner: Option<u32>,
) -> Result<zeroize::Zeroizing<String>, CoreError> {
    let rule = Rule {
        what: "google-authenticator file",
        access: Access::OwnerWrites,
        owners: owner.map_or(Owners::ROOT, Owners::root_or),
    };
    let invalid = |why: String| InputError::GoogleAuth {
        path: path.display().to_string(),
        why,
    };
    let (_, bytes) = rule
        .read(path, MAX_GOOGLE_AUTH_LEN)
        .map_err(|e| invalid(e.reason))?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| invalid("the file is not UTF-8 text".into()))?;
    Ok(zeroize::Zeroizing::new(text))
}

/// The largest pam_u2f mapping file read (a line per user, a few hundred bytes per key).
const MAX_PAM_U2F_LEN: u64 = 16 * 1024 * 1024;

/// Read a pam_u2f mapping file for import as [`read_google_authenticator_file`] reads its file:
/// a regular file, no link into another's directory, owned by root or `owner` (the user a
/// per-user `~/.config/Yubico/u2f_keys` belongs to), at most 16 MiB, UTF-8.
pub fn read_pam_u2f_file(path: &Path, owner: Option<u32>) -> Result<String, CoreError> {
    let rule = Rule {
        what: "pam_u2f mapping file",
        access: Access::OwnerWrites,
        owners: owner.map_or(Owners::ROOT, Owners::root_or),
    };
    let invalid =
        |why: String| InputError::Option(format!("pam_u2f mapping file {}: {why}", path.display()));
    let (_, bytes) = rule
        .read(path, MAX_PAM_U2F_LEN)
        .map_err(|e| invalid(e.reason))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| invalid("the file is not UTF-8 text".into()).into())
}

impl Admin {
    pub fn audit_log(&self, user: Option<&str>, limit: u32) -> Result<Vec<AuditEvent>, CoreError> {
        Ok(self.store.audit(user, limit)?)
    }

    /// Delete audit rows from before `older_than` ago (default `[audit] keep`) and the oldest
    /// beyond `[audit] max_rows`, in batches of 10 000 rows (each its own transaction, so logins
    /// go on meanwhile). The rows deleted; the pruning itself is audited.
    pub fn prune_audit(&self, older_than: Option<std::time::Duration>) -> Result<u64, CoreError> {
        let keep = older_than.unwrap_or(self.config.audit.keep);
        let before = self.clock.now().saturating_sub(keep.as_secs());
        let deleted = crate::audit::prune(
            self.store.as_ref(),
            self.sink.as_ref(),
            before,
            self.config.audit.max_rows,
            10_000,
            u32::MAX,
        )?;
        self.audit(
            "-",
            format!(
                "audit prune older_than={} deleted={deleted}",
                humantime::format_duration(keep)
            ),
        );
        Ok(deleted)
    }

    /// Bring a `~/.google_authenticator` file over: its secret becomes an active TOTP factor and
    /// its scratch codes become the user's recovery codes. The user is created if needed.
    pub fn import_google_authenticator(
        &self,
        name: &str,
        path: &Path,
        text: &str,
    ) -> Result<ImportReport, CoreError> {
        crate::base::names::validate_user_name(name)?;
        let file = GoogleAuthFile::parse(text).map_err(|why| InputError::GoogleAuth {
            path: path.display().to_string(),
            why,
        })?;
        let key = self.key()?;
        let (user, user_created) = match self.user(name) {
            Ok(u) => (u, false),
            Err(CoreError::UnknownUser(_)) => {
                validate_new_user_name(name)?;
                (self.add_user(name, None)?, true)
            }
            Err(e) => return Err(e),
        };
        let window = file.window.unwrap_or(self.config.totp.window);
        let params = TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period: file.step,
            window,
        };
        let factor_id = self.add_totp(
            &user,
            &key,
            "google-authenticator",
            &params,
            file.secret.expose(),
            file.window,
            file.last_used_step,
        )?;
        let activation = self
            .store
            .activate_factor(user.id, factor_id, None)?
            .ok_or_else(|| CoreError::Corrupt("imported factor did not activate".into()))?;
        let mut notes = file.notes.clone();
        if !file.scratch_codes.is_empty() {
            if activation.has_recovery {
                notes.push(
                    "the user's previous recovery codes were replaced by the file's scratch codes"
                        .into(),
                );
            }
            self.store_recovery(&user, &file.scratch_codes, "google-authenticator")?;
        }
        self.audit(
            name,
            format!("import google-authenticator factor={factor_id}"),
        );
        Ok(ImportReport {
            user: user.name,
            user_created,
            factor_id,
            period: file.step,
            window,
            scratch_codes: file.scratch_codes.len(),
            notes,
        })
    }
}
