//! Administration: what the `tessera` CLI does, as a library. Enrollment, confirmation,
//! recovery codes, locks, import. The CLI only parses arguments and formats results.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::audit::{AuditEvent, AuditResult, AuditSink};
use crate::base::address::validate_email;
use crate::base::clock::Clock;
use crate::base::names::validate_user_name;
use crate::base::otp::{TotpParams, generate_secret, otpauth_uri, to_base32};
use crate::base::secret::{MasterKey, SealContext, Secret};
use crate::config::{Config, TotpAlgorithm};
use crate::email_code::{MessageContext, Sender, Sent};
use crate::error::{CoreError, InputError};
use crate::google_auth::GoogleAuthFile;
use crate::mail::Mailer;
use crate::recovery;
use crate::store::{
    Factor, FactorId, FactorKind, FactorStatus, LockState, NewTotp, RecoveryBatch, SqliteStore,
    Store, StoreError, User, UserSummary,
};

/// What `tessera init` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitReport {
    pub key_created: bool,
    pub database_created: bool,
}

/// Create the key file (never overwritten) and the database (migrated if it exists).
pub fn init(config: &Config) -> Result<InitReport, CoreError> {
    let key_created = MasterKey::create(&config.store.key_file)?;
    // Check the key is usable before creating anything else.
    MasterKey::load(&config.store.key_file)?;
    let (_, database_created) = SqliteStore::create(&config.store)?;
    Ok(InitReport {
        key_created,
        database_created,
    })
}

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
        }
    }

    /// Send e-mailed codes (enrollment confirmation) through `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Admin {
        self.mailer = Some(mailer);
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
        Ok(self.key.get_or_init(|| k).clone())
    }

    fn audit(&self, user: &str, what: String) {
        let event = AuditEvent {
            at: self.clock.now(),
            user: user.to_string(),
            service: "tessera".to_string(),
            source: None,
            result: AuditResult::Admin,
            method: None,
            detail: Some(what),
        };
        let _ = self.store.append_audit(&event);
        self.sink.record(&event);
    }

    fn user(&self, name: &str) -> Result<User, CoreError> {
        validate_user_name(name)?;
        self.store
            .user(name)?
            .ok_or_else(|| CoreError::UnknownUser(name.to_string()))
    }

    fn factor(&self, user: &User, id: FactorId) -> Result<Factor, CoreError> {
        self.store
            .factors(user.id)?
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| CoreError::UnknownFactor {
                user: user.name.clone(),
                id,
            })
    }

    // ---- users ---------------------------------------------------------------------------

    pub fn add_user(&self, name: &str, email: Option<&str>) -> Result<User, CoreError> {
        validate_user_name(name)?;
        if let Some(e) = email {
            validate_email(e)?;
        }
        match self.store.add_user(name, email, self.clock.now()) {
            Ok(_) => {}
            Err(StoreError::UserExists(u)) => return Err(CoreError::UserExists { user: u }),
            Err(e) => return Err(e.into()),
        }
        self.audit(name, "user add".into());
        self.user(name)
    }

    pub fn users(&self) -> Result<Vec<UserSummary>, CoreError> {
        Ok(self.store.users()?)
    }

    pub fn show_user(&self, name: &str) -> Result<UserDetails, CoreError> {
        let user = self.user(name)?;
        let data = self
            .store
            .login_data(name)?
            .ok_or_else(|| CoreError::UnknownUser(name.to_string()))?;
        Ok(UserDetails {
            factors: self.store.factors(user.id)?,
            lock: data.lock,
            recovery: data.recovery,
            user,
        })
    }

    pub fn remove_user(&self, name: &str) -> Result<(), CoreError> {
        let user = self.user(name)?;
        if !self.store.remove_user(user.id)? {
            return Err(CoreError::UnknownUser(name.to_string()));
        }
        self.audit(name, "user remove".into());
        Ok(())
    }

    pub fn lock_user(&self, name: &str) -> Result<(), CoreError> {
        let user = self.user(name)?;
        self.store.set_admin_lock(user.id, true)?;
        self.audit(name, "user lock".into());
        Ok(())
    }

    /// Clear an administrative lock, a failure lock and the failure count.
    pub fn unlock_user(&self, name: &str) -> Result<(), CoreError> {
        let user = self.user(name)?;
        self.store.set_admin_lock(user.id, false)?;
        self.audit(name, "user unlock".into());
        Ok(())
    }

    /// Set (or with `None`, clear) the RADIUS first-factor password.
    pub fn set_password(&self, name: &str, password: Option<&str>) -> Result<(), CoreError> {
        let user = self.user(name)?;
        let phc = match password {
            Some("") => {
                return Err(InputError::Option("the password is empty".into()).into());
            }
            Some(p) => Some(crate::password::hash_password(p, &self.config.argon2)?),
            None => None,
        };
        self.store.set_password(user.id, phc.as_deref())?;
        self.audit(name, "user passwd".into());
        Ok(())
    }

    // ---- factors ---------------------------------------------------------------------------

    pub fn enroll_totp(&self, name: &str, o: &TotpOptions) -> Result<TotpEnrollment, CoreError> {
        let user = self.user(name)?;
        let key = self.key()?;
        let t = &self.config.totp;
        let params = TotpParams {
            algorithm: o.algorithm.unwrap_or(t.algorithm),
            digits: o.digits.unwrap_or(t.digits),
            period: o.period.unwrap_or(t.period),
            window: t.window,
        };
        if !(6..=8).contains(&params.digits) {
            return Err(InputError::Option(format!(
                "--digits {} is out of range (6 to 8)",
                params.digits
            ))
            .into());
        }
        if !(10..=300).contains(&params.period) {
            return Err(InputError::Option(format!(
                "--period {} is out of range (10 to 300 seconds)",
                params.period
            ))
            .into());
        }
        let label = o
            .label
            .clone()
            .unwrap_or_else(|| "authenticator".to_string());
        validate_label(&label)?;
        let secret = generate_secret(params.algorithm)?;
        let factor_id = self.add_totp(&user, &key, &label, &params, secret.expose(), None, None)?;

        let secret_base32 = to_base32(secret.expose());
        let account = format!("{}@{}", user.name, host_name());
        let uri = otpauth_uri(&t.issuer, &account, secret_base32.expose(), &params);
        self.audit(name, format!("enroll totp factor={factor_id}"));

        let (status, recovery_codes) = if o.activate {
            let c = self.activate(&user, factor_id, None)?;
            (FactorStatus::Active, c.recovery_codes)
        } else {
            (FactorStatus::Pending, None)
        };
        Ok(TotpEnrollment {
            user: user.name,
            factor_id,
            label,
            secret_base32,
            uri,
            params,
            status,
            recovery_codes,
        })
    }

    #[allow(clippy::too_many_arguments)] // one private helper that mirrors NewTotp's fields
    fn add_totp(
        &self,
        user: &User,
        key: &MasterKey,
        label: &str,
        params: &TotpParams,
        secret: &[u8],
        window: Option<u8>,
        last_step: Option<u64>,
    ) -> Result<FactorId, CoreError> {
        let new = NewTotp {
            label: label.to_string(),
            algorithm: params.algorithm,
            digits: params.digits,
            period: params.period,
            window,
            status: FactorStatus::Pending,
            last_step,
        };
        let user_id = user.id;
        let seal = |factor_id| {
            key.seal(
                SealContext {
                    purpose: "totp",
                    user_id,
                    factor_id,
                },
                secret,
            )
        };
        Ok(self
            .store
            .add_totp_factor(user.id, &new, self.clock.now(), &seal)?)
    }

    /// Add a pending e-mail factor and send it a verification code; the factor becomes active
    /// when that code is confirmed. The address defaults to the user's e-mail address. A send
    /// that fails (or is refused by the rate limit) leaves nothing behind.
    pub fn enroll_email(
        &self,
        name: &str,
        address: Option<&str>,
        label: Option<&str>,
    ) -> Result<EmailEnrollment, CoreError> {
        let user = self.user(name)?;
        let address = match address.or(user.email.as_deref()) {
            Some(a) => a.to_string(),
            None => {
                return Err(InputError::Option(format!(
                    "user {:?} has no e-mail address: pass --address",
                    user.name
                ))
                .into());
            }
        };
        validate_email(&address)?;
        let label = label.unwrap_or("email").to_string();
        validate_label(&label)?;
        let cfg = self
            .config
            .email
            .as_ref()
            .ok_or_else(|| CoreError::EmailNotConfigured(self.config.source.clone()))?;
        let mailer = self
            .mailer
            .as_ref()
            .ok_or_else(|| CoreError::EmailNotConfigured(self.config.source.clone()))?;
        let key = self.key()?;
        let factor_id = self
            .store
            .add_email_factor(user.id, &label, &address, self.clock.now())?;
        let sent = Sender {
            config: cfg,
            store: self.store.as_ref(),
            key: &key,
            mailer: mailer.as_ref(),
            now: self.clock.now(),
        }
        .send(
            user.id,
            factor_id,
            &address,
            &MessageContext {
                user: &user.name,
                service: "tessera enroll",
                source: None,
            },
        );
        let masked = match sent {
            Ok(Sent::Sent { masked }) => masked,
            Ok(Sent::TooSoon { masked, .. }) => {
                self.store.remove_factor(user.id, factor_id)?;
                return Err(CoreError::EmailTooSoon { masked });
            }
            Ok(Sent::Failed { error, .. }) => {
                self.store.remove_factor(user.id, factor_id)?;
                return Err(error.into());
            }
            Err(e) => {
                let _ = self.store.remove_factor(user.id, factor_id);
                return Err(e);
            }
        };
        if user.email.is_none() {
            self.store.set_email(user.id, Some(&address))?;
        }
        self.audit(name, format!("enroll email factor={factor_id} to {masked}"));
        Ok(EmailEnrollment {
            user: user.name,
            factor_id,
            label,
            address,
            masked,
        })
    }

    /// Confirm a pending factor with a code from it.
    pub fn confirm_factor(
        &self,
        name: &str,
        factor_id: FactorId,
        code: &str,
    ) -> Result<Confirmation, CoreError> {
        let user = self.user(name)?;
        let factor = self.factor(&user, factor_id)?;
        if factor.status == FactorStatus::Active {
            return Err(CoreError::AlreadyActive {
                user: user.name,
                id: factor_id,
            });
        }
        let code = code.trim();
        let step = match (&factor.kind, &factor.totp) {
            (FactorKind::Totp, Some(t)) => {
                if !crate::base::otp::is_code_shaped(code, t.digits) {
                    return Err(InputError::Code(format!(
                        "factor {factor_id} expects {} digits",
                        t.digits
                    ))
                    .into());
                }
                let key = self.key()?;
                crate::auth::match_totp_factor(
                    &key,
                    self.config.totp.window,
                    &user,
                    factor_id,
                    t,
                    code,
                    self.clock.now(),
                )?
                .ok_or(CoreError::ConfirmationFailed {
                    user: user.name.clone(),
                    id: factor_id,
                })?
            }
            (FactorKind::Email, _) => {
                let digits = self.config.email.as_ref().map_or(6, |e| e.code_length);
                if !crate::base::otp::is_code_shaped(code, digits) {
                    return Err(InputError::Code(format!(
                        "factor {factor_id} expects the {digits}-digit code from the e-mail"
                    ))
                    .into());
                }
                let key = self.key()?;
                let hash = crate::email_code::hash_code(key.email_code_key(), user.id, code);
                if !self
                    .store
                    .confirm_email_code(user.id, factor_id, &hash, self.clock.now())?
                {
                    return Err(CoreError::ConfirmationFailed {
                        user: user.name,
                        id: factor_id,
                    });
                }
                return self.activate(&user, factor_id, None);
            }
            (FactorKind::Totp | FactorKind::Fido2, _) => {
                return Err(CoreError::Corrupt(format!(
                    "factor {factor_id} of user {:?} cannot be confirmed with a code",
                    user.name
                )));
            }
        };
        self.activate(&user, factor_id, Some(step))
    }

    fn activate(
        &self,
        user: &User,
        factor_id: FactorId,
        step: Option<u64>,
    ) -> Result<Confirmation, CoreError> {
        let activation = self
            .store
            .activate_factor(user.id, factor_id, step)?
            .ok_or_else(|| CoreError::ConfirmationFailed {
                user: user.name.clone(),
                id: factor_id,
            })?;
        self.audit(&user.name, format!("factor activate factor={factor_id}"));
        let recovery_codes = if activation.first_active && !activation.has_recovery {
            Some(self.new_recovery_batch(user, self.config.recovery.count)?)
        } else {
            None
        };
        Ok(Confirmation {
            factor_id,
            recovery_codes,
        })
    }

    pub fn factors(&self, name: &str) -> Result<Vec<Factor>, CoreError> {
        let user = self.user(name)?;
        Ok(self.store.factors(user.id)?)
    }

    pub fn remove_factor(&self, name: &str, factor_id: FactorId) -> Result<(), CoreError> {
        let user = self.user(name)?;
        if !self.store.remove_factor(user.id, factor_id)? {
            return Err(CoreError::UnknownFactor {
                user: user.name,
                id: factor_id,
            });
        }
        self.audit(name, format!("factor remove factor={factor_id}"));
        Ok(())
    }

    pub fn prefer_factor(&self, name: &str, factor_id: FactorId) -> Result<(), CoreError> {
        let user = self.user(name)?;
        if !self.store.set_preferred(user.id, factor_id)? {
            return Err(CoreError::UnknownFactor {
                user: user.name,
                id: factor_id,
            });
        }
        self.audit(name, format!("factor prefer factor={factor_id}"));
        Ok(())
    }

    // ---- recovery codes ----------------------------------------------------------------------

    /// Replace the user's recovery codes with `count` new ones, returned for display once.
    pub fn generate_recovery(
        &self,
        name: &str,
        count: Option<u32>,
    ) -> Result<Vec<Secret<String>>, CoreError> {
        let user = self.user(name)?;
        let count = count.unwrap_or(self.config.recovery.count);
        if !(1..=100).contains(&count) {
            return Err(
                InputError::Option(format!("--count {count} is out of range (1 to 100)")).into(),
            );
        }
        self.new_recovery_batch(&user, count)
    }

    fn new_recovery_batch(
        &self,
        user: &User,
        count: u32,
    ) -> Result<Vec<Secret<String>>, CoreError> {
        let codes = recovery::generate_codes(count)?;
        self.store_recovery(user, &codes, "generated")?;
        Ok(codes)
    }

    fn store_recovery(
        &self,
        user: &User,
        codes: &[Secret<String>],
        origin: &str,
    ) -> Result<(), CoreError> {
        let key = self.key()?;
        let salt = recovery::generate_salt()?;
        let a = self.config.argon2;
        let mut hashes = Vec::with_capacity(codes.len());
        for c in codes {
            let norm = recovery::normalize(c.expose())
                .ok_or_else(|| InputError::Code("a recovery code has an unexpected form".into()))?;
            let h = recovery::hash_code(&norm, &salt, key.recovery_pepper(), &a)?;
            hashes.push(*h);
        }
        let batch = RecoveryBatch {
            salt: salt.to_vec(),
            m_cost: a.memory_kib,
            t_cost: a.iterations,
            p_cost: a.parallelism,
            created_at: self.clock.now(),
            origin: origin.to_string(),
            total: u32::try_from(codes.len()).unwrap_or(u32::MAX),
            unused: u32::try_from(codes.len()).unwrap_or(u32::MAX),
        };
        self.store.replace_recovery(user.id, &batch, &hashes)?;
        self.audit(
            &user.name,
            format!("recovery generate count={} origin={origin}", codes.len()),
        );
        Ok(())
    }

    // ---- audit, import -------------------------------------------------------------------

    pub fn audit_log(&self, user: Option<&str>, limit: u32) -> Result<Vec<AuditEvent>, CoreError> {
        Ok(self.store.audit(user, limit)?)
    }

    /// Bring a `~/.google_authenticator` file over: its secret becomes an active TOTP factor and
    /// its scratch codes become the user's recovery codes. The user is created if needed.
    pub fn import_google_authenticator(
        &self,
        name: &str,
        path: &Path,
        text: &str,
    ) -> Result<ImportReport, CoreError> {
        validate_user_name(name)?;
        let file = GoogleAuthFile::parse(text).map_err(|why| InputError::GoogleAuth {
            path: path.display().to_string(),
            why,
        })?;
        let key = self.key()?;
        let (user, user_created) = match self.store.user(name)? {
            Some(u) => (u, false),
            None => (self.add_user(name, None)?, true),
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

fn validate_label(label: &str) -> Result<(), InputError> {
    if label.is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
        return Err(InputError::Option(
            "--label must be 1 to 64 characters without control characters".into(),
        ));
    }
    Ok(())
}

fn host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
