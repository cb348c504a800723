//! Fuzz target `sanitize`: see `byok_providers::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| byok_providers::fuzzing::sanitize(data));
