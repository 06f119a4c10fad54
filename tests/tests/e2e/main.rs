//! End-to-end tests: the built binaries against real peers. One test binary, a module per area.

mod cli;
