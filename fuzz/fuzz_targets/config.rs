//! `Config::parse` + `Engine::new`, and `Policy::from_yaml`, on arbitrary text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    audit_sieve_fuzz::props::check_config(data);
});
