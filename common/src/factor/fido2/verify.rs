//! Checking an assertion (placeholder).
