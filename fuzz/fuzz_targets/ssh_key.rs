//! OpenSSH security-key public key lines and sshd's SSH_AUTH_INFO_0.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| tessera_common::fuzzing::ssh_key(text));
