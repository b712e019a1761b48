//! The Fluent Bit ABI: the only unsafe code of the crate.
//!
//! Fluent Bit (`plugins/filter_wasm`, `src/wasm/flb_wasm.c`) calls an exported function
//! per record with `(tag_ptr, tag_len, time_sec, time_nsec, record_ptr, record_len)`, all
//! u32, and reads the returned pointer as a NUL-terminated string, which it copies. It
//! copies the inputs in with the module's exported `malloc` (the C library's, exported
//! by the linker flags in `.cargo/config.toml`) and frees them after the call; the reply
//! belongs to the module and must stay valid until the next call.
//!
//! Ownership at each hand-over:
//! - inputs: allocated by the host through our `malloc`, borrowed here for the call only;
//! - reply: the module's output buffer ([`Module::output`]), reused by the next call;
//! - a trap (fuel, a bug) leaves no borrow behind: the instance slot is a plain cell,
//!   not a `RefCell`, and every call resets its per-call state first.

use crate::module::{LOG_PREFIX, Module};
use std::cell::UnsafeCell;
use std::path::PathBuf;

/// The one module instance. `UnsafeCell`, not `RefCell`: a `RefCell` borrowed when a call
/// traps stays borrowed, and every later call would then panic and lose its record.
struct Instance(UnsafeCell<Option<Module>>);

// SAFETY: wasm32-wasip1 modules are single-threaded.
unsafe impl Sync for Instance {}

static INSTANCE: Instance = Instance(UnsafeCell::new(None));

/// The module, started on first use.
fn module() -> &'static mut Module {
    // SAFETY: single-threaded, and the host never enters an export while another export
    // runs (no export calls back into the host in a way that re-enters), so this is the
    // only live reference for the duration of the call.
    let slot = unsafe { &mut *INSTANCE.0.get() };
    slot.get_or_insert_with(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{LOG_PREFIX} BUG: {info}; Fluent Bit loses this record, later records are processed");
        }));
        Module::start(&preopened_dirs())
    })
}

/// Borrows `len` bytes at `ptr` of the module's memory.
///
/// # Safety
/// `ptr..ptr+len` must be memory the host wrote the input to for this call.
unsafe fn input<'a>(ptr: *const u8, len: u32) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the caller guarantees the range; u32 fits usize on wasm32.
    unsafe { std::slice::from_raw_parts(ptr, len as usize) }
}

/// `Event_Format json`.
///
/// # Safety
/// Called by the host with pointers to inputs it copied into this module's memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn audit_sieve(
    _tag: *const u8,
    _tag_len: u32,
    time_sec: u32,
    _time_nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    let m = module();
    // SAFETY: per this function's contract.
    let record = unsafe { input(record, record_len) };
    m.filter_json(record, time_sec);
    m.output().as_ptr()
}

/// `Event_Format msgpack`.
///
/// # Safety
/// Called by the host with pointers to inputs it copied into this module's memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn audit_sieve_msgpack(
    _tag: *const u8,
    _tag_len: u32,
    time_sec: u32,
    _time_nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    let m = module();
    // SAFETY: per this function's contract.
    let record = unsafe { input(record, record_len) };
    // A dropped record's reply is the drop marker: never an invalid address (see
    // `MSGPACK_DROP_MARKER`).
    m.filter_msgpack(record, time_sec);
    m.output().as_ptr()
}

/// Counters and the per-rule report as a NUL-terminated JSON string (for `audit-sieve
/// run`; Fluent Bit never calls it). Valid until the next call.
#[unsafe(no_mangle)]
pub extern "C" fn audit_sieve_stats() -> *const u8 {
    module().stats_json().as_ptr()
}

/// WASI reactor initialisation: WAMR and wasmtime call it once per instance, before the
/// first record, so the configuration is read and checked at start-up. (Hosts that
/// don't call it get the same on the first record.)
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the linker-generated constructor runner; a reactor calls it once, first.
    unsafe { __wasm_call_ctors() };
    module();
}

#[repr(C)]
struct Prestat {
    tag: u8,
    name_len: u32,
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn fd_prestat_get(fd: u32, buf: *mut Prestat) -> u16;
    fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: u32) -> u16;
}

/// The directories the host pre-opened (Fluent Bit's `Accessible_Paths`), in order.
fn preopened_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    // Pre-opened descriptors start at 3 and are contiguous; the first failure ends them.
    for fd in 3..3 + 256 {
        let mut stat = Prestat { tag: u8::MAX, name_len: 0 };
        // SAFETY: `stat` is a valid out-parameter of the prestat layout.
        if unsafe { fd_prestat_get(fd, &mut stat) } != 0 {
            break;
        }
        if stat.tag != 0 {
            continue;
        }
        let mut name = vec![0u8; stat.name_len as usize];
        // SAFETY: `name` has exactly the length the host reported.
        if unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), stat.name_len) } != 0 {
            continue;
        }
        // Some hosts include a trailing NUL in the length.
        while name.last() == Some(&0) {
            name.pop();
        }
        if let Ok(name) = String::from_utf8(name) {
            dirs.push(PathBuf::from(name));
        }
    }
    dirs
}
