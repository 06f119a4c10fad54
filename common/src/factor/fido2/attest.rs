//! Reading a new credential (placeholder).
