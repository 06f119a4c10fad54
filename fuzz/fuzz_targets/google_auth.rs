//! The google-authenticator file importer's parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| tessera_common::fuzzing::google_auth(text));
