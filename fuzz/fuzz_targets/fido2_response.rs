//! A security key's answers (assertions and attestations) as an untrusted device gives them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_common::fuzzing::fido2_response(data));
