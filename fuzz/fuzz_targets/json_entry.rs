//! `Module::filter_json` on arbitrary bytes, one module for the whole run (its state,
//! such as brute-force counters, persists across inputs as in Fluent Bit's instance).
#![no_main]

use audit_sieve_fuzz::props;
use std::cell::RefCell;

thread_local! {
    static MODULE: RefCell<audit_sieve::module::Module> = RefCell::new(props::module());
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    MODULE.with(|m| props::check_json(&mut m.borrow_mut(), data));
});
