//! The configuration parser: any text gives a `Config` or an error, and a syntax error points
//! at a line of the text.
#![no_main]

use std::path::Path;

use tessera_common::{Config, ConfigError};

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Err(ConfigError::Syntax { line, .. }) = Config::parse(Path::new("/fuzz/t.toml"), text) {
        let lines = text.split('\n').count();
        assert!((1..=lines).contains(&line), "line {line} of {lines}");
    }
});
