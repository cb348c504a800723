//! Fuzz target `answers`: see `byok_providers::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| byok_providers::fuzzing::answers(data));
