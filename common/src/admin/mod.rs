//! Administration: what the `tessera` CLI does, as a library, one file per noun: [`users`]
//! (add, show, lock, passwords), [`enroll`] (new factors), [`factors`] (confirm, remove, prefer),
//! [`recovery`] (codes), [`import`] (google-authenticator files), [`pam_u2f`] (reading pam_u2f
//! mapping files). The CLI only parses arguments and formats results.

mod backup;
mod enroll;
mod factors;
mod fido2;
mod fido2_import;
pub(crate) mod google_auth;
mod import;
mod invite;
mod pam_u2f;
mod recovery;
mod setup;
mod users;

pub use backup::{BackupReport, RestoreReport, backup, restore};
pub use enroll::SmsEnrollment;
pub use fido2::{Fido2Enrollment, Fido2Options, PendingFido2};
pub use fido2_import::{PamU2fImport, PamU2fImportedUser, SshKeyEnrollment};
pub use import::{read_google_authenticator_file, read_pam_u2f_file};
pub use invite::{Invitation, Replaced};
pub use pam_u2f::{
    PamU2fEntry, PamU2fError, PamU2fField, PamU2fFile, PamU2fProblem, parse_pam_u2f,
    parse_pam_u2f_lenient,
};
pub use setup::{InitReport, MigrateReport, init, migrate};

use std::sync::{Arc, OnceLock};

use crate::audit::{AuditEvent, AuditResult, AuditSink};
use crate::base::clock::{Clock, SystemClock};
use crate::base::names::{name_key, validate_user_name};
use crate::base::otp::{TotpAlgorithm, TotpParams};
use crate::base::secret::{MasterKey, Secret};
use crate::config::Config;
use crate::error::{CoreError, InputError};
use crate::mail::Mailer;
use crate::policy::LockState;
use crate::store::{Factor, FactorId, FactorStatus, RecoveryBatch, SqliteStore, Store, User};

/// How to enroll an authenticator; `None` takes the configured default. The default is a
/// pending factor that a code from the app must confirm.
#[derive(Debug, Clone, Default)]
pub struct TotpOptions {
    pub label: Option<String>,
    pub digits: Option<u8>,
    pub period: Option<u32>,
    pub algorithm: Option<TotpAlgorithm>,
    /// Activate at once, without a confirming code.
    pub activate: bool,
}

impl TotpOptions {
    /// The configured defaults, active at once (imports, set-up scripts, tests).
    pub fn activated() -> TotpOptions {
        TotpOptions {
            activate: true,
            ..TotpOptions::default()
        }
    }
}

#[derive(Debug)]
pub struct TotpEnrollment {
    pub user: String,
    pub factor_id: FactorId,
    pub label: String,
    pub secret_base32: Secret<String>,
    pub uri: Secret<String>,
    pub params: TotpParams,
    pub status: FactorStatus,
    /// Present when this enrollment made the user's first active factor.
    pub recovery_codes: Option<Vec<Secret<String>>>,
}

#[derive(Debug)]
pub struct Confirmation {
    pub factor_id: FactorId,
    pub recovery_codes: Option<Vec<Secret<String>>>,
}

#[derive(Debug, Clone)]
pub struct UserDetails {
    pub user: User,
    /// The user's invitation to enroll at login, if any (pending, used or expired).
    pub invite: Option<crate::store::Invite>,
    pub factors: Vec<Factor>,
    pub lock: LockState,
    pub recovery: Option<RecoveryBatch>,
}

#[derive(Debug)]
pub struct ImportReport {
    pub user: String,
    pub user_created: bool,
    pub factor_id: FactorId,
    pub period: u32,
    pub window: u8,
    pub scratch_codes: usize,
    /// Options of the file Tessera does not carry over, for the operator to know.
    pub notes: Vec<String>,
}

pub struct Admin {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    key: OnceLock<Arc<MasterKey>>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn AuditSink>,
    mailer: Option<Arc<dyn Mailer>>,
    texter: Option<Arc<dyn crate::sms::Texter>>,
}

#[derive(Debug)]
pub struct EmailEnrollment {
    pub user: String,
    pub factor_id: FactorId,
    pub label: String,
    pub address: String,
    /// The address as shown to users (`a***@example.com`).
    pub masked: String,
}

impl Admin {
    /// The administration of the installation `config` names: its store, the system clock,
    /// `sink` for audit lines, and the key file.
    /// The store must belong to the key in place (checked here, for every command: one that
    /// never needs the key, such as `user unlock`, must not change another installation's
    /// store either).
    pub fn open(config: Arc<Config>, sink: Arc<dyn AuditSink>) -> Result<Admin, CoreError> {
        let store = Arc::new(SqliteStore::open(&config.store)?);
        let admin = Admin::new(config, store, Arc::new(SystemClock), sink);
        admin.key()?;
        Ok(admin)
    }

    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn AuditSink>,
    ) -> Admin {
        Admin {
            config,
            store,
            key: OnceLock::new(),
            clock,
            sink,
            mailer: None,
            texter: None,
        }
    }

    /// Send e-mailed codes (enrollment confirmation) through `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Admin {
        self.mailer = Some(mailer);
        self
    }

    /// Send texted codes (enrollment confirmation) through `texter` (default: the gateway of
    /// `[sms]`, made when needed).
    pub fn with_texter(mut self, texter: Arc<dyn crate::sms::Texter>) -> Admin {
        self.texter = Some(texter);
        self
    }

    /// Use this key instead of reading the key file (tests, or a caller that already has it).
    pub fn with_key(self, key: Arc<MasterKey>) -> Admin {
        let _ = self.key.set(key);
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The key, read from the key file the first time it is needed.
    pub fn key(&self) -> Result<Arc<MasterKey>, CoreError> {
        if let Some(k) = self.key.get() {
            return Ok(k.clone());
        }
        let k = Arc::new(MasterKey::load(&self.config.store.key_file)?);
        crate::auth::check_key_binding(self.store.as_ref(), &k, &self.config.store)?;
        Ok(self.key.get_or_init(|| k).clone())
    }

    pub(super) fn audit(&self, user: &str, what: String) {
        let event = AuditEvent {
            at: self.clock.now(),
            user: user.to_string(),
            service: "tessera".to_string(),
            source: None,
            result: AuditResult::Admin,
            method: None,
            detail: Some(what),
            count: 1,
            flood: None,
        };
        crate::audit::append_or_tell(self.store.as_ref(), self.sink.as_ref(), &event);
        self.sink.record(&event);
    }

    /// The user an administrator means by `name`: the one logins of that name reach (its
    /// canonical key). A user shadowed by another spelling is reached only by
    /// [`Admin::remove_shadowed_user`].
    pub(super) fn user(&self, name: &str) -> Result<User, CoreError> {
        validate_user_name(name)?;
        self.store
            .user(&name_key(name))?
            .ok_or_else(|| CoreError::UnknownUser(name.to_string()))
    }

    pub(super) fn factor(&self, user: &User, id: FactorId) -> Result<Factor, CoreError> {
        self.store
            .factors(user.id)?
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| CoreError::UnknownFactor {
                user: user.name.clone(),
                id,
            })
    }
}

pub(super) fn validate_label(label: &str) -> Result<(), InputError> {
    if label.is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
        return Err(InputError::Option(
            "--label must be 1 to 64 characters without control characters".into(),
        ));
    }
    Ok(())
}
