//! `Module::filter_msgpack` on arbitrary bytes, one module for the whole run.
#![no_main]

use audit_sieve_fuzz::props;
use std::cell::RefCell;

thread_local! {
    static MODULE: RefCell<audit_sieve::module::Module> = RefCell::new(props::module());
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    MODULE.with(|m| props::check_msgpack(&mut m.borrow_mut(), data));
});
