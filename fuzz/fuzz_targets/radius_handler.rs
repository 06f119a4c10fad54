//! The whole request path (datagram → decision → signed reply) over one temporary SQLite store.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_radiusd::fuzzing::handle(data));
