//! xtask's integration tests: one binary, a module per area.
// Test code, helpers included: a failed step must stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dist;
