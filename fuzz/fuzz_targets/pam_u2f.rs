//! The pam_u2f mapping file importer's parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| tessera_common::fuzzing::pam_u2f(text));
