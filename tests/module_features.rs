//! The wasm features the built module uses, against what Fluent Bit's WAMR accepts.
//!
//! Fluent Bit builds WAMR without SIMD. WAMR 1.3 (Fluent Bit 3.1.x) also refuses a
//! `call_indirect` whose table index is not the single byte 0x00 ("zero byte expected"),
//! which reference-types-era toolchains encode as a padded LEB128 unless linked with
//! `--compress-relocations`.

use wasmparser::{Operator, Parser, Payload, Validator, WasmFeatures};

fn module() -> Vec<u8> {
    let path = audit_sieve_host::default_wasm_path();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make` first", path.display()))
}

/// The features of Fluent Bit's WAMR build: the MVP plus the post-MVP proposals it
/// enables, and no SIMD.
fn wamr_features() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::FLOATS
}

#[test]
fn validates_with_the_features_fluent_bit_has() {
    let wasm = module();
    Validator::new_with_features(wamr_features()).validate_all(&wasm).expect("valid without SIMD or other proposals");
    println!("module size: {} bytes", wasm.len());
}

#[test]
fn call_indirect_table_indices_are_single_zero_bytes() {
    let wasm = module();
    let mut checked = 0;
    for payload in Parser::new(0).parse_all(&wasm) {
        let Payload::CodeSectionEntry(body) = payload.unwrap() else { continue };
        let mut ops = body.get_operators_reader().unwrap();
        while !ops.eof() {
            let (op, offset) = ops.read_with_offset().unwrap();
            if let Operator::CallIndirect { type_index, table_index } = op {
                assert_eq!(table_index, 0);
                // opcode 0x11, the type index as minimal LEB128, then the table byte 0x00.
                let type_len = leb128_len(type_index);
                let table_at = offset + 1 + type_len;
                assert_eq!(wasm[offset], 0x11);
                assert_eq!(wasm[table_at], 0x00, "padded table index at offset {table_at}");
                assert_eq!(ops.original_position(), table_at + 1, "table index longer than one byte at {table_at}");
                checked += 1;
            }
        }
    }
    println!("call_indirect instructions checked: {checked}");
    assert!(checked > 0);
}

#[test]
fn exports_what_fluent_bit_looks_up() {
    let wasm = module();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(&wasm) {
        if let Payload::ExportSection(reader) = payload.unwrap() {
            for e in reader {
                exports.push(e.unwrap().name.to_owned());
            }
        }
    }
    for name in ["audit_sieve", "audit_sieve_msgpack", "malloc", "free", "memory", "_initialize"] {
        assert!(exports.iter().any(|e| e == name), "missing export {name}: {exports:?}");
    }
}

fn leb128_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}
