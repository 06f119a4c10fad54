//! RADIUS decoder: decode → encode → decode gives the same request; responses are well signed.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_radiusd::fuzzing::codec_round_trip(data));
