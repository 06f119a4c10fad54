//! Housekeeping of the store the decisions write: the key binding checked when the store is
//! opened, and the pruning of throttle and audit rows (by the RADIUS server's maintenance
//! thread, or now and then after a PAM decision).

use super::*;

/// Refuse a store that was made with another key (one made elsewhere, or replaced by an empty
/// one: under nullok that would let every user in on the password alone). A store from before
/// bindings existed takes this key's binding now.
pub(crate) fn check_key_binding(
    store: &dyn Store,
    key: &MasterKey,
    cfg: &crate::config::StoreConfig,
) -> Result<(), CoreError> {
    let stored = store.bind_key(key.binding())?;
    if key.is_binding(&stored) {
        Ok(())
    } else {
        Err(CoreError::WrongKey {
            store: cfg.path.clone(),
            key: cfg.key_file.clone(),
        })
    }
}

/// Audit-pruning batches per [`Authenticator::prune`] call: with the RADIUS server's 10 000-row
/// batches once a minute, up to 100 000 rows a minute go; with the PAM module's 200, 2 000.
pub const AUDIT_PRUNE_BATCHES: u32 = 10;

/// Where the core prunes after decisions (the PAM module), at most this often.
pub const PRUNE_EVERY_SECS: u64 = 60;

impl Authenticator {
    /// For a long-running process (the RADIUS server): housekeeping moves out of the request
    /// path; call [`Authenticator::maintain`] about once a second from a background task.
    pub fn defer_maintenance(&self) {
        self.maintenance_deferred
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.store.defer_maintenance();
    }

    /// Periodic housekeeping (see [`Authenticator::defer_maintenance`]): the store's, and
    /// throttle rows that carry nothing any more.
    pub fn maintain(&self) -> Result<(), CoreError> {
        self.store.maintain()?;
        Ok(())
    }

    /// Housekeeping: forget throttle counters that ran out (up to `limit` rows), and apply the
    /// audit retention (`[audit] keep` and `max_rows`, the rows of floods first) in batches of
    /// `limit` rows, each its own short transaction, at most [`AUDIT_PRUNE_BATCHES`] of them.
    /// The RADIUS server calls it once a minute; short-lived processes (the PAM module) at
    /// most once a minute across them all ([`Authenticator::prune_sometimes`]). The rows
    /// deleted.
    pub fn prune(&self, limit: u32) -> Result<u64, CoreError> {
        // Every throttle rule leaks and forgets alike (`Rules::new`).
        let r = self.rules.per_source;
        let removed =
            self.store
                .prune_throttle(self.clock.now(), r.decay_secs, r.quiet_secs, limit)?;
        let keep = &self.config.audit;
        let before = self.clock.now().saturating_sub(keep.keep.as_secs());
        let audit = crate::audit::prune(
            self.store.as_ref(),
            self.sink.as_ref(),
            before,
            keep.max_rows,
            limit,
            AUDIT_PRUNE_BATCHES,
        )?;
        Ok(removed + audit)
    }

    /// In a process that has not taken housekeeping over ([`Authenticator::defer_maintenance`]:
    /// the PAM module), [`Authenticator::prune`] a few rows at a time after a decision, when
    /// the store says none ran for [`PRUNE_EVERY_SECS`] (the claim is kept in the store, so
    /// short-lived processes share it). Best effort: a failure is logged, the login goes on.
    pub(super) fn prune_sometimes(&self) {
        if self
            .maintenance_deferred
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let result = self
            .store
            .claim_audit_prune(self.clock.now(), PRUNE_EVERY_SECS)
            .map_err(CoreError::from)
            .and_then(|due| if due { self.prune(200) } else { Ok(0) });
        if let Err(e) = result {
            self.sink.message(
                Severity::Warning,
                &format!("audit retention not applied this time: {e}"),
            );
        }
    }
}
