//! The `[audit]` section: how long audit rows are kept, and how many at most.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::validate::{RawDuration, Validator};

/// `[audit]`: retention of the audit table. Rows older than `keep` are pruned, and beyond
/// `max_rows` the oldest go first, whatever their age: unauthenticated input can add rows, and
/// a full disk would then fail every login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub keep: Duration,
    pub max_rows: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            keep: Duration::from_secs(90 * 24 * 3600),
            max_rows: 5_000_000,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    keep: Option<RawDuration>,
    max_rows: Option<i64>,
}

impl Validator<'_> {
    pub(super) fn audit(&self, a: RawAudit) -> Result<AuditConfig, ConfigError> {
        let d = AuditConfig::default();
        Ok(AuditConfig {
            keep: self.duration(
                "audit",
                "keep",
                a.keep,
                d.keep,
                Duration::from_secs(3600),
                Duration::from_secs(20 * 366 * 24 * 3600),
            )?,
            max_rows: self.int("audit", "max_rows", a.max_rows, d.max_rows, 100..=i64::MAX)?,
        })
    }
}
