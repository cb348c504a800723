//! Fuzz target `sse_decoder`: see `byok_providers::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| byok_providers::fuzzing::sse_decoder(data));
