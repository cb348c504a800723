//! Fuzz target `vault_blob`: see `byok_vault::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| byok_vault::fuzzing::vault_blob(data));
