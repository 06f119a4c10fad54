//! The otpauth:// Key URI and the base32 secret in it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_common::fuzzing::otpauth(data));
