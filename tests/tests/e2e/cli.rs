//! The tessera CLI, run as a sysadmin would.
