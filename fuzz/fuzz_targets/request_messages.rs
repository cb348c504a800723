//! Fuzz target `request_messages`: see `byok_providers::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| byok_providers::fuzzing::request_messages(data));
