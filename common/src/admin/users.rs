//! Users: add, list, show, remove, lock, unlock, first-factor passwords.

use super::{Admin, UserDetails};
use crate::base::address::validate_email;
use crate::base::names::{account_key, name_key, validate_new_user_name, validate_user_name};
use crate::error::{CoreError, InputError};
use crate::factor::password;
use crate::policy::LockState;
use crate::store::{StoreError, Tx, User, UserSummary};

impl Admin {
    /// Add a user. The name must not look like another (outer white space, invisible
    /// characters), and must not be another user's name in another spelling: `Alice` when
    /// `alice` exists is refused, naming `alice`.
    pub fn add_user(&self, name: &str, email: Option<&str>) -> Result<User, CoreError> {
        validate_new_user_name(name)?;
        if let Some(e) = email {
            validate_email(e)?;
        }
        let key = name_key(name);
        if let Some(existing) = self.store.user(&key)? {
            return Err(if existing.name == name {
                CoreError::UserExists {
                    user: existing.name,
                }
            } else {
                CoreError::NameCollision {
                    user: name.to_string(),
                    existing: existing.name,
                }
            });
        }
        match self.store.add_user(name, &key, email, self.clock.now()) {
            Ok(_) => {}
            Err(StoreError::UserExists(u)) => return Err(CoreError::UserExists { user: u }),
            Err(e) => return Err(e.into()),
        }
        self.audit(name, "user add".into());
        self.user(name)
    }

    /// Set or clear the user's e-mail address (the one enrollment codes at login go to).
    pub fn set_email(&self, name: &str, email: Option<&str>) -> Result<(), CoreError> {
        self.set_contact(name, Some(email), None)
    }

    /// Set or clear the user's phone number (E.164; where SMS codes go).
    pub fn set_phone(&self, name: &str, phone: Option<&str>) -> Result<(), CoreError> {
        self.set_contact(name, None, Some(phone))
    }

    /// Add a user with a phone number too; both checked before anything is stored.
    pub fn add_user_with_phone(
        &self,
        name: &str,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<User, CoreError> {
        if let Some(p) = phone {
            crate::base::phone::validate_phone(p)?;
        }
        let user = self.add_user(name, email)?;
        if let Some(p) = phone {
            self.set_contact(&user.name, None, Some(Some(p)))?;
        }
        self.user(&user.name)
    }

    /// Change the user's e-mail address and/or phone number (`Some(None)`: clear it; `None`:
    /// leave it). Both are checked before either is stored.
    pub fn set_contact(
        &self,
        name: &str,
        email: Option<Option<&str>>,
        phone: Option<Option<&str>>,
    ) -> Result<(), CoreError> {
        let user = self.user(name)?;
        if let Some(Some(e)) = email {
            validate_email(e)?;
        }
        if let Some(Some(p)) = phone {
            crate::base::phone::validate_phone(p)?;
        }
        let what = |v: Option<&str>| if v.is_some() { "set" } else { "cleared" };
        if let Some(e) = email {
            self.store.set_email(user.id, e)?;
            self.audit(&user.name, format!("user modify email={}", what(e)));
        }
        if let Some(p) = phone {
            self.store.set_phone(user.id, p)?;
            self.audit(&user.name, format!("user modify phone={}", what(p)));
        }
        Ok(())
    }

    pub fn users(&self) -> Result<Vec<UserSummary>, CoreError> {
        Ok(self.store.users()?)
    }

    pub fn show_user(&self, name: &str) -> Result<UserDetails, CoreError> {
        let user = self.user(name)?;
        let data = self
            .store
            .user_data(user.id)?
            .ok_or_else(|| CoreError::UnknownUser(name.to_string()))?;
        Ok(UserDetails {
            factors: self.store.factors(user.id)?,
            lock: data.lock,
            recovery: data.recovery,
            invite: self.store.invite(user.id)?,
            user,
        })
    }

    /// Remove the user logins of `name` reach, and everything that is theirs. When another
    /// spelling of the name is stored too (shadowed, from before names were canonical), logins
    /// would then reach it, with its own factors: refused unless `hand_over` says so. Returns
    /// the name of the user that took the name over, if one did.
    pub fn remove_user(&self, name: &str, hand_over: bool) -> Result<Option<String>, CoreError> {
        let user = self.user(name)?;
        let key = name_key(&user.name);
        let heir = self
            .store
            .users()?
            .into_iter()
            .find(|s| s.shadowed && name_key(&s.user.name) == key);
        if let Some(h) = &heir
            && !hand_over
        {
            return Err(CoreError::WouldHandOver {
                user: user.name,
                heir: h.user.name.clone(),
            });
        }
        if !self.store.remove_user(user.id)? {
            return Err(CoreError::UnknownUser(name.to_string()));
        }
        // A new user of the name must not inherit its sources' standing or throttles.
        if heir.is_none() {
            let account = account_key(&user.name);
            self.store.write(&mut |tx: &dyn Tx| {
                tx.clear_throttle(&key)?;
                tx.clear_throttle(&account).map(drop)
            })?;
        }
        self.audit(&user.name, "user remove".into());
        if let Some(h) = heir
            && self.store.claim_name_key(h.user.id, &key)?
        {
            self.audit(
                &h.user.name,
                format!("user name taken over from removed {:?}", user.name),
            );
            return Ok(Some(h.user.name));
        }
        Ok(None)
    }

    /// Remove a user that another spelling of its name shadows (stored under exactly `name`,
    /// reached by no login).
    pub fn remove_shadowed_user(&self, name: &str) -> Result<(), CoreError> {
        validate_user_name(name)?;
        let shadowed = self
            .store
            .users()?
            .into_iter()
            .find(|s| s.shadowed && s.user.name == name)
            .ok_or_else(|| CoreError::UnknownUser(format!("{name} (shadowed)")))?;
        if !self.store.remove_user(shadowed.user.id)? {
            return Err(CoreError::UnknownUser(name.to_string()));
        }
        self.audit(name, "user remove (shadowed)".into());
        Ok(())
    }

    /// An administrative lock: every login is refused until [`Admin::unlock_user`].
    pub fn lock_user(&self, name: &str) -> Result<(), CoreError> {
        let user = self.user(name)?;
        self.store.write(&mut |tx: &dyn Tx| {
            let s = tx.lock_state(user.id)?;
            tx.put_lock_state(
                user.id,
                &LockState {
                    admin_locked: true,
                    ..s
                },
            )
        })?;
        self.audit(&user.name, "user lock".into());
        Ok(())
    }

    /// End every lock of the user (administrative, failures, escalation), the failure count,
    /// and every first-factor throttle of their name (from every source).
    pub fn unlock_user(&self, name: &str) -> Result<(), CoreError> {
        let user = self.user(name)?;
        // Logins throttle under the account part of the name (see `account_key`).
        let keys = [name_key(&user.name), account_key(&user.name)];
        let mut throttles = 0;
        self.store.write(&mut |tx: &dyn Tx| {
            let s = tx.lock_state(user.id)?;
            tx.put_lock_state(user.id, &s.unlocked())?;
            // (The same key twice finds nothing the second time.)
            throttles = tx.clear_throttle(&keys[0])? + tx.clear_throttle(&keys[1])?;
            Ok(())
        })?;
        self.audit(
            &user.name,
            format!("user unlock (throttle rows cleared: {throttles})"),
        );
        Ok(())
    }

    /// Set (or with `None`, clear) the RADIUS first-factor password.
    pub fn set_password(&self, name: &str, password: Option<&str>) -> Result<(), CoreError> {
        let user = self.user(name)?;
        let phc = match password {
            Some("") => {
                return Err(InputError::Option("the password is empty".into()).into());
            }
            Some(p) => Some(password::hash(p, &self.config.argon2)?),
            None => None,
        };
        self.store.set_password(user.id, phc.as_deref())?;
        self.audit(name, "user passwd".into());
        Ok(())
    }
}
