//! Fuzz target `config`: see `byok_server::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| byok_server::fuzzing::config(data));
