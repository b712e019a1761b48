//! Reference modules for `make bench`, with the same exports as audit-sieve:
//! - default: copy-through, the least a JSON-mode filter can do (the floor);
//! - feature `value`: the straightforward filter, a `serde_json::Value` parse, edit and
//!   serialise (the naive baseline);
//! - feature `touch`: copy-through after one look at every byte, eight at a time, for the
//!   bytes a JSON reader must find (`"` and `\`): the least any filter that reads the whole
//!   record can cost, whatever its parser.
//!
//! Benchmark-only code: one module instance runs on one thread, so the output buffer is a
//! plain static reached through `addr_of_mut!`.
#![allow(unsafe_code)]

use std::ptr::addr_of_mut;

static mut OUT: Vec<u8> = Vec::new();

/// # Safety
/// Fluent Bit passes a valid (pointer, length) pair into linear memory.
unsafe fn input<'a>(ptr: *const u8, len: u32) -> &'a [u8] {
    unsafe { std::slice::from_raw_parts(ptr, len as usize) }
}

fn out() -> &'static mut Vec<u8> {
    // SAFETY: single-threaded module; no reference to OUT outlives one call.
    unsafe { &mut *addr_of_mut!(OUT) }
}

#[cfg(not(any(feature = "value", feature = "touch")))]
fn process(record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(record);
}

#[cfg(feature = "touch")]
fn process(record: &[u8], out: &mut Vec<u8>) {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bit set in each zero byte (and possibly above it): enough to count with.
    let zeros = |w: u64| w.wrapping_sub(LOW) & !w & HIGH;
    let mut words = record.chunks_exact(8);
    let mut found = 0u32;
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        found += (zeros(w ^ (LOW * u64::from(b'"'))) | zeros(w ^ (LOW * u64::from(b'\\')))).count_ones();
    }
    found += words.remainder().iter().filter(|&&c| c == b'"' || c == b'\\').count() as u32;
    // The count is what a reader would act on; kept so the loop is not optimised away.
    std::hint::black_box(found);
    out.extend_from_slice(record);
}

#[cfg(feature = "value")]
fn process(record: &[u8], out: &mut Vec<u8>) {
    match serde_json::from_slice::<serde_json::Value>(record) {
        Ok(serde_json::Value::Object(mut map)) => {
            if map.contains_key("responseObject") {
                map.remove("responseObject");
            }
            map.insert("cluster".into(), "bench".into());
            let _ = serde_json::to_writer(&mut *out, &map);
        }
        _ => out.extend_from_slice(record),
    }
}

/// # Safety
/// Called by the host with valid pointers, as Fluent Bit does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn audit_sieve(
    _tag: *const u8,
    _tag_len: u32,
    _s: u32,
    _ns: u32,
    rec: *const u8,
    len: u32,
) -> *const u8 {
    let out = out();
    out.clear();
    process(unsafe { input(rec, len) }, out);
    out.push(0);
    out.as_ptr()
}

/// # Safety
/// As [`audit_sieve`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn audit_sieve_msgpack(
    _tag: *const u8,
    _tag_len: u32,
    _s: u32,
    _ns: u32,
    rec: *const u8,
    len: u32,
) -> *const u8 {
    let out = out();
    out.clear();
    out.extend_from_slice(unsafe { input(rec, len) });
    out.push(0);
    out.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn audit_sieve_stats() -> *const u8 {
    c"{}".as_ptr().cast()
}
