//! Runs the audit-sieve module exactly as Fluent Bit's wasm filter does, without Fluent Bit.
//!
//! The call sequence mirrors `src/wasm/flb_wasm.c` and `plugins/filter_wasm/filter_wasm.c`
//! (Fluent Bit 5.1): one instance for all records; per record, the tag (plus NUL) and the
//! record (JSON: plus NUL; msgpack: as is) are copied into the module with its exported
//! `malloc`; the function is called with six i32 arguments; the result address is
//! validated as a C string in linear memory and copied up to its NUL; both inputs are
//! freed with the module's `free`. What Fluent Bit then does with the result is modelled
//! by [`Fate`]: a JSON result must parse as an object, a msgpack result is spliced in as
//! raw bytes, a trap or an invalid address loses the record (an invalid address, the next
//! record too: WAMR leaves its exception set on the instance).
//!
//! Tests and the CLI both go through this, so what is tested is the `.wasm` users deploy.

pub mod workload;

use anyhow::{Context, Result, anyhow, bail};
use std::path::{Path, PathBuf};
use wasmtime::{Config, Engine, Instance, Linker, Memory, Module, OperatorCost, Store, Trap, TypedFunc};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// How Fluent Bit hands the record over (`Event_Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Msgpack,
}

impl Format {
    /// The exported function Fluent Bit's `Function_Name` names for this format.
    pub fn function_name(self) -> &'static str {
        match self {
            Format::Json => "audit_sieve",
            Format::Msgpack => "audit_sieve_msgpack",
        }
    }
}

/// What Fluent Bit does with a record after the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// The record continues with this body (JSON text, or msgpack bytes).
    Kept(Vec<u8>),
    /// Skipped as the module asked: an empty JSON string; in msgpack mode, the module's
    /// drop marker, which the `grep` filter after it discards.
    Dropped,
    /// Lost by accident: a trap, an invalid address, a result Fluent Bit cannot use.
    Lost(String),
}

/// The module's msgpack-mode reply for a dropped record, `{"audit_sieve":"drop"}`: that
/// mode has no drop result, so a `grep` filter after the module excludes it.
pub const MSGPACK_DROP_MARKER: &[u8] = b"\x81\xabaudit_sieve\xa4drop";

/// Where the `.wasm` is, unless `AUDIT_SIEVE_WASM` says otherwise: what `make` builds.
pub fn default_wasm_path() -> PathBuf {
    if let Some(p) = std::env::var_os("AUDIT_SIEVE_WASM") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/audit_sieve.wasm")
}

/// Options of the filter instance, named after Fluent Bit's.
#[derive(Debug, Clone)]
pub struct Options {
    pub wasm_path: PathBuf,
    /// `Accessible_Paths`: directories pre-opened for WASI, in order (guest path = host path).
    pub accessible_paths: Vec<PathBuf>,
    /// Capture the module's stderr (for tests) instead of passing it through.
    pub capture_stderr: bool,
    /// Fuel per call (wasm instructions, roughly); `None` = unlimited.
    pub fuel_per_call: Option<u64>,
}

impl Options {
    pub fn new(wasm_path: impl Into<PathBuf>) -> Options {
        Options {
            wasm_path: wasm_path.into(),
            accessible_paths: Vec::new(),
            capture_stderr: false,
            fuel_per_call: None,
        }
    }
}

struct Exports {
    memory: Memory,
    malloc: TypedFunc<u32, u32>,
    free: TypedFunc<u32, ()>,
    json: TypedFunc<(u32, u32, u32, u32, u32, u32), u32>,
    msgpack: TypedFunc<(u32, u32, u32, u32, u32, u32), u32>,
    /// Optional: reference modules for benchmarks have no report.
    stats: Option<TypedFunc<(), u32>>,
}

/// One filter instance, as Fluent Bit ≥ 4.1 keeps for the filter's lifetime.
pub struct FluentBitHost {
    store: Store<WasiP1Ctx>,
    exports: Exports,
    stderr: Option<MemoryOutputPipe>,
    fuel_per_call: Option<u64>,
    /// Fuel the last call consumed.
    pub last_fuel: u64,
    /// The bytes the last call returned (up to the NUL), whatever became of them.
    pub last_output: Vec<u8>,
    /// The exception WAMR's `validate_app_str_addr` leaves on the instance when it refuses
    /// a returned address. Fluent Bit's msgpack path does not clear it, so the next call
    /// fails with it ("Got exception running wasm code") and its record is lost.
    pending_exception: Option<String>,
}

/// The engine settings: fuel metering, and no wasm features Fluent Bit's WAMR build lacks
/// (no SIMD), so a module that would not load there does not load here.
///
/// Fuel counts one unit per wasm instruction executed, bulk copies and fills included:
/// wasmtime's default charges `memory.copy`, `memory.fill` and `memory.init` one unit per
/// byte as well, but WAMR's interpreter runs each as one instruction over a native
/// `memmove`/`memset`. Counted per byte, copying a 1 KB record would weigh as much as a
/// thousand interpreted instructions (about 2 µs in Fluent Bit) instead of tens of
/// nanoseconds.
fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.consume_fuel(true);
    let mut cost = OperatorCost::new();
    cost.variable.memory_copy_per_byte = 0;
    cost.variable.memory_fill_per_byte = 0;
    cost.variable.memory_init_per_byte = 0;
    config.operator_cost(cost);
    config.wasm_relaxed_simd(false);
    config.wasm_simd(false);
    Ok(Engine::new(&config)?)
}

impl FluentBitHost {
    /// Loads and instantiates the module, runs its `_initialize` (as WAMR does for a
    /// reactor), and looks up the exports Fluent Bit uses.
    pub fn new(options: &Options) -> Result<FluentBitHost> {
        let engine = engine()?;
        let module = Module::from_file(&engine, &options.wasm_path)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("loading {}", options.wasm_path.display()))?;
        let mut wasi = WasiCtxBuilder::new();
        for dir in &options.accessible_paths {
            let guest = dir.to_str().ok_or_else(|| anyhow!("path is not UTF-8: {}", dir.display()))?;
            wasi.preopened_dir(dir, guest, FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("Accessible_Paths: {}", dir.display()))?;
        }
        let stderr = if options.capture_stderr {
            let pipe = MemoryOutputPipe::new(1 << 20);
            wasi.stderr(pipe.clone());
            Some(pipe)
        } else {
            wasi.inherit_stderr();
            None
        };
        let mut store = Store::new(&engine, wasi.build_p1());
        store.set_fuel(u64::MAX)?;
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |cx| cx)?;
        let instance = linker.instantiate(&mut store, &module)?;
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ()).map_err(anyhow::Error::from).context("_initialize")?;
        }
        let exports = Exports::find(&instance, &mut store)?;
        Ok(FluentBitHost {
            store,
            exports,
            stderr,
            fuel_per_call: options.fuel_per_call,
            last_fuel: 0,
            last_output: Vec::new(),
            pending_exception: None,
        })
    }

    /// What the module wrote to stderr so far (with `capture_stderr`).
    pub fn stderr(&self) -> String {
        self.stderr.as_ref().map(|p| String::from_utf8_lossy(&p.contents()).into_owned()).unwrap_or_default()
    }

    /// Bytes of linear memory the instance has.
    pub fn memory_size(&self) -> usize {
        self.exports.memory.data_size(&self.store)
    }

    /// Sets the fuel of each following call (`None`: unlimited).
    pub fn set_fuel_per_call(&mut self, fuel: Option<u64>) {
        self.fuel_per_call = fuel;
    }

    /// Filters one record the way Fluent Bit does and says what becomes of it.
    pub fn filter(&mut self, format: Format, tag: &str, time: (u32, u32), record: &[u8]) -> Fate {
        match self.call(format, tag, time, record) {
            Ok(fate) => fate,
            Err(e) => Fate::Lost(format!("{e:#}")),
        }
    }

    fn call(&mut self, format: Format, tag: &str, time: (u32, u32), record: &[u8]) -> Result<Fate> {
        self.store.set_fuel(self.fuel_per_call.unwrap_or(u64::MAX))?;
        let fuel_before = self.store.get_fuel()?;
        // flb_wasm.c: dup_data(tag, tag_len + 1); dup_data(record, record_len + 1) in JSON
        // mode, record_len in msgpack mode.
        let mut tag_copy = tag.as_bytes().to_vec();
        tag_copy.push(0);
        let mut record_copy = record.to_vec();
        if format == Format::Json {
            record_copy.push(0);
        }
        let tag_ptr = self.dup_data(&tag_copy)?;
        let record_ptr = self.dup_data(&record_copy)?;
        let func = match format {
            Format::Json => self.exports.json.clone(),
            Format::Msgpack => self.exports.msgpack.clone(),
        };
        let args = (tag_ptr, tag.len() as u32, time.0, time.1, record_ptr, record.len() as u32);
        let result = func.call(&mut self.store, args);
        self.last_fuel = fuel_before.saturating_sub(self.store.get_fuel().unwrap_or(0));
        let result = match (result, self.pending_exception.take()) {
            // The call ran, but WAMR reports the exception still set on the instance;
            // Fluent Bit logs it, clears it and skips the record.
            (Ok(_), Some(pending)) => Err(format!("exception left by the previous call: {pending}")),
            (Ok(addr), None) => self.read_c_string(addr).inspect_err(|_| {
                self.pending_exception = Some("out of bounds memory access".into());
            }),
            (Err(e), _) => {
                let why = match e.downcast_ref::<Trap>() {
                    Some(trap) => format!("trap: {trap}"),
                    None => format!("trap: {e:#}"),
                };
                Err(why)
            }
        };
        // Inputs are freed on success and on failure alike; give the free calls fuel of
        // their own so a call that ran out does not leak them.
        self.store.set_fuel(u64::MAX)?;
        self.exports.free.call(&mut self.store, tag_ptr)?;
        self.exports.free.call(&mut self.store, record_ptr)?;
        self.last_output.clear();
        let output = match result {
            Ok(ok) => ok,
            Err(why) => return Ok(Fate::Lost(why)),
        };
        self.last_output.extend_from_slice(&output);
        Ok(match format {
            Format::Json => {
                if output.is_empty() {
                    Fate::Dropped
                } else if is_json_object(&output) {
                    Fate::Kept(output)
                } else {
                    Fate::Lost("invalid JSON format".into())
                }
            }
            Format::Msgpack => match output {
                ref bytes if bytes == MSGPACK_DROP_MARKER => Fate::Dropped,
                ref bytes if is_one_msgpack_value(bytes) => Fate::Kept(output),
                _ => Fate::Lost("msgpack result is not one whole value: the chunk would be corrupt".into()),
            },
        })
    }

    /// `wasm_runtime_module_dup_data`: allocate with the module's malloc and copy in.
    fn dup_data(&mut self, bytes: &[u8]) -> Result<u32> {
        let ptr = self.exports.malloc.call(&mut self.store, bytes.len() as u32)?;
        if ptr == 0 {
            bail!("module malloc({}) failed", bytes.len());
        }
        self.exports.memory.write(&mut self.store, ptr as usize, bytes)?;
        Ok(ptr)
    }

    /// `wasm_runtime_validate_app_str_addr` + `strdup`: a NUL-terminated string inside
    /// linear memory, else an invalid address.
    fn read_c_string(&self, addr: u32) -> std::result::Result<Vec<u8>, String> {
        let data = self.exports.memory.data(&self.store);
        let tail = data.get(addr as usize..).filter(|t| !t.is_empty());
        match tail.and_then(|t| t.iter().position(|&b| b == 0).map(|n| t[..n].to_vec())) {
            Some(s) => Ok(s),
            None => Err(format!("returned value is invalid (address {addr:#x})")),
        }
    }

    /// The module's counters and per-rule report (JSON).
    pub fn stats(&mut self) -> Result<String> {
        self.store.set_fuel(u64::MAX)?;
        let stats = self.exports.stats.clone().ok_or_else(|| anyhow!("the module exports no `audit_sieve_stats`"))?;
        let addr = stats.call(&mut self.store, ())?;
        let bytes = self.read_c_string(addr).map_err(|e| anyhow!(e))?;
        Ok(String::from_utf8(bytes)?)
    }
}

impl Exports {
    fn find(instance: &Instance, store: &mut Store<WasiP1Ctx>) -> Result<Exports> {
        let memory =
            instance.get_memory(&mut *store, "memory").ok_or_else(|| anyhow!("the module exports no `memory`"))?;
        let func = |store: &mut Store<WasiP1Ctx>, name: &str| {
            instance.get_func(&mut *store, name).ok_or_else(|| anyhow!("the module exports no `{name}`"))
        };
        Ok(Exports {
            memory,
            malloc: func(store, "malloc")?
                .typed(&*store)
                .map_err(anyhow::Error::from)
                .context("`malloc` must be (i32) -> i32")?,
            free: func(store, "free")?
                .typed(&*store)
                .map_err(anyhow::Error::from)
                .context("`free` must be (i32) -> ()")?,
            json: func(store, Format::Json.function_name())?.typed(&*store).map_err(anyhow::Error::from)?,
            msgpack: func(store, Format::Msgpack.function_name())?.typed(&*store)?,
            stats: match instance.get_func(&mut *store, "audit_sieve_stats") {
                Some(f) => Some(f.typed(&*store)?),
                None => None,
            },
        })
    }
}

/// `flb_pack_json` + `root_type == JSMN_OBJECT`: the text must be one JSON object.
/// Fluent Bit reads it with yyjson and `YYJSON_READ_ALLOW_INVALID_UNICODE |
/// YYJSON_READ_REPLACE_INVALID_UNICODE`: invalid UTF-8 and escaped lone surrogates become
/// U+FFFD where serde_json refuses them, so they are replaced first. Both refuse a number
/// no double holds (`1e999`) and malformed text.
fn is_json_object(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let text = replace_lone_surrogates(&text);
    let mut de = serde_json::Deserializer::from_str(&text);
    de.disable_recursion_limit();
    let de = serde_stacker::Deserializer::new(&mut de);
    match <serde_json::Value as serde::Deserialize>::deserialize(de) {
        Ok(v) => v.is_object(),
        Err(_) => false,
    }
}

/// `text` with each `\\u` escape of a lone UTF-16 surrogate written `\\ufffd`.
fn replace_lone_surrogates(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("\\u") {
        return text.into();
    }
    let unit = |at: usize| {
        let hex = text.get(at..at + 6)?.strip_prefix("\\u")?;
        u16::from_str_radix(hex, 16).ok().filter(|_| hex.bytes().all(|c| c.is_ascii_hexdigit()))
    };
    let (b, mut out, mut i) = (text.as_bytes(), String::with_capacity(text.len()), 0);
    let mut copied = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let len = match unit(i) {
            Some(0xd800..=0xdbff) if unit(i + 6).is_some_and(|lo| (0xdc00..=0xdfff).contains(&lo)) => 12,
            Some(0xd800..=0xdfff) => {
                out.push_str(&text[copied..i]);
                out.push_str("\\ufffd");
                copied = i + 6;
                6
            }
            // Another escape: its second character is never the start of one.
            _ => 2,
        };
        i += len;
    }
    out.push_str(&text[copied..]);
    out.into()
}

/// Exactly one msgpack value, nothing after it (Fluent Bit appends the bytes unchecked as
/// the body, so anything else corrupts the chunk).
fn is_one_msgpack_value(bytes: &[u8]) -> bool {
    let mut cursor = std::io::Cursor::new(bytes);
    let ok = msgpack_skip(&mut cursor).is_some();
    ok && cursor.position() as usize == bytes.len()
}

/// Skips one msgpack value, iteratively; `None` if it is malformed or truncated.
fn msgpack_skip(c: &mut std::io::Cursor<&[u8]>) -> Option<()> {
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let marker = rmp::decode::read_marker(c).ok()?;
        use rmp::Marker as M;
        let skip = |c: &mut std::io::Cursor<&[u8]>, n: u64| -> Option<()> {
            let end = c.position().checked_add(n)?;
            (end <= c.get_ref().len() as u64).then(|| c.set_position(end))
        };
        let be = |c: &mut std::io::Cursor<&[u8]>, n: usize| -> Option<u64> {
            let mut v = 0u64;
            for _ in 0..n {
                let mut b = [0u8; 1];
                std::io::Read::read_exact(c, &mut b).ok()?;
                v = (v << 8) | u64::from(b[0]);
            }
            Some(v)
        };
        match marker {
            M::FixPos(_) | M::FixNeg(_) | M::Null | M::True | M::False => {}
            M::U8 | M::I8 => skip(c, 1)?,
            M::U16 | M::I16 => skip(c, 2)?,
            M::U32 | M::I32 | M::F32 => skip(c, 4)?,
            M::U64 | M::I64 | M::F64 => skip(c, 8)?,
            M::FixStr(n) => skip(c, u64::from(n))?,
            M::Str8 | M::Bin8 => {
                let n = be(c, 1)?;
                skip(c, n)?
            }
            M::Str16 | M::Bin16 => {
                let n = be(c, 2)?;
                skip(c, n)?
            }
            M::Str32 | M::Bin32 => {
                let n = be(c, 4)?;
                skip(c, n)?
            }
            M::FixArray(n) => pending += u64::from(n),
            M::Array16 => pending += be(c, 2)?,
            M::Array32 => pending += be(c, 4)?,
            M::FixMap(n) => pending += 2 * u64::from(n),
            M::Map16 => pending += 2 * be(c, 2)?,
            M::Map32 => pending += 2 * be(c, 4)?,
            M::FixExt1 => skip(c, 2)?,
            M::FixExt2 => skip(c, 3)?,
            M::FixExt4 => skip(c, 5)?,
            M::FixExt8 => skip(c, 9)?,
            M::FixExt16 => skip(c, 17)?,
            M::Ext8 => {
                let n = be(c, 1)?;
                skip(c, n + 1)?
            }
            M::Ext16 => {
                let n = be(c, 2)?;
                skip(c, n + 1)?
            }
            M::Ext32 => {
                let n = be(c, 4)?;
                skip(c, n + 1)?
            }
            M::Reserved => return None,
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_whole_msgpack_values() {
        assert!(is_one_msgpack_value(&[0x80]));
        assert!(is_one_msgpack_value(&[0x81, 0xa1, b'a', 0x00]));
        assert!(is_one_msgpack_value(&[0x91, 0x01]));
        assert!(!is_one_msgpack_value(&[0x81, 0xa1, b'a']));
        assert!(!is_one_msgpack_value(&[0x81, 0xa1, b'a', 0x01, 0x01]));
        assert!(!is_one_msgpack_value(&[]));
    }

    #[test]
    fn recognises_json_objects() {
        assert!(is_json_object(br#"{"a":[1]}"#));
        assert!(!is_json_object(b"[1]"));
        assert!(!is_json_object(br#"{"a":"#));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(20_000), "]".repeat(20_000));
        assert!(is_json_object(deep.as_bytes()));
        // As Fluent Bit's yyjson reads them: invalid UTF-8 and lone surrogates are replaced,
        // a number no double holds and a trailing comma are refused.
        assert!(is_json_object(b"{\"a\":\"\xff\"}"));
        assert!(is_json_object(br#"{"a":"\ud800 \udc00 \ud800\u0041"}"#));
        assert!(!is_json_object(br#"{"a":1e999}"#));
        assert!(!is_json_object(br#"{"a":1,}"#));
        assert!(!is_json_object(b"{\"a\":1\xff}"));
    }

    #[test]
    fn replaces_lone_surrogate_escapes_only() {
        let cases = [
            (r#""\ud800""#, r#""\ufffd""#),
            (r#""\udfff x""#, r#""\ufffd x""#),
            (r#""\ud800\u0041""#, r#""\ufffd\u0041""#),
            (r#""\ud83d\ude00""#, r#""\ud83d\ude00""#),
            (r#""\\ud800""#, r#""\\ud800""#),
            (r#""\\\ud800""#, r#""\\\ufffd""#),
            (r#""\ud8""#, r#""\ud8""#),
            (r#""\""#, r#""\""#),
        ];
        for (text, want) in cases {
            assert_eq!(replace_lone_surrogates(text), want, "{text}");
        }
    }
}
