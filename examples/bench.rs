//! `make bench`: what a record costs, per workload, side by side with three reference
//! modules run in the same host in the same run:
//! - copy-through: the least a JSON-mode filter can do (the floor);
//! - touch: copy-through after one eight-bytes-at-a-time look at every byte for `"` and
//!   `\`: the least a filter that reads the whole record can do, whatever its parser;
//! - serde_json::Value: parse, edit, serialise (the straightforward filter).
//!
//! The deterministic figure is wasm instructions per record (wasmtime fuel, one unit per
//! instruction, a bulk copy or fill as one: see the host's engine settings); Fluent Bit's
//! WAMR interpreter spends roughly 2 ns on each. Records/s are wall-clock and noisy: read
//! them as ratios within one run. `BENCH_SCALE=0.1` for a quick run; `BENCH_DUMP=DIR` also
//! writes each workload's records there as NDJSON.

use audit_sieve::module::{Module, Reply};
use audit_sieve_host::workload::Workload;
use audit_sieve_host::{Fate, FluentBitHost, Format, Options, default_wasm_path};
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Run {
    fuel_per_record: f64,
    fuel_dropped: u64,
    fuel_kept: u64,
    bytes_in: f64,
    bytes_out: f64,
    kept: usize,
    dropped: usize,
    lost: usize,
    records_per_s: f64,
}

fn host(wasm: &Path, config_dir: &Path) -> FluentBitHost {
    let mut options = Options::new(wasm);
    options.accessible_paths = vec![config_dir.to_path_buf()];
    options.capture_stderr = true;
    FluentBitHost::new(&options).unwrap_or_else(|e| panic!("{}: {e:#}", wasm.display()))
}

fn run_host(host: &mut FluentBitHost, format: Format, records: &[Vec<u8>]) -> Run {
    let (mut fuel, mut bytes_in, mut bytes_out) = (0u64, 0usize, 0usize);
    let (mut fuel_dropped, mut fuel_kept) = (0u64, 0u64);
    let (mut kept, mut dropped, mut lost) = (0, 0, 0);
    let start = Instant::now();
    for r in records {
        match host.filter(format, "kube.audit", (1_763_800_000, 0), r) {
            Fate::Kept(out) => {
                kept += 1;
                bytes_out += out.len();
                fuel_kept += host.last_fuel;
            }
            Fate::Dropped => {
                dropped += 1;
                fuel_dropped += host.last_fuel;
            }
            Fate::Lost(_) => lost += 1,
        }
        fuel += host.last_fuel;
        bytes_in += r.len();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = records.len() as f64;
    Run {
        fuel_per_record: fuel as f64 / n,
        fuel_dropped,
        fuel_kept,
        bytes_in: bytes_in as f64 / n,
        bytes_out: bytes_out as f64 / n,
        kept,
        dropped,
        lost,
        records_per_s: n / secs,
    }
}

fn run_native(config_dir: &Path, records: &[Vec<u8>]) -> f64 {
    let mut module = Module::start(&[config_dir.to_path_buf()]);
    let start = Instant::now();
    let mut kept = 0usize;
    for r in records {
        if module.filter_json(r, 0) == Reply::Output {
            kept += module.output().len();
        }
    }
    std::hint::black_box(kept);
    records.len() as f64 / start.elapsed().as_secs_f64()
}

fn to_msgpack(json: &[u8]) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(json).expect("generated records are JSON");
    rmp_serde::to_vec(&v).expect("msgpack")
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scale: f64 = std::env::var("BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let config_dir = root.join("bench");
    let sieve = default_wasm_path();
    let copy: PathBuf = root.join("build/baseline_copy.wasm");
    let value: PathBuf = root.join("build/baseline_value.wasm");
    let touch: PathBuf = root.join("build/baseline_touch.wasm");
    for m in [&sieve, &copy, &touch, &value] {
        let size = std::fs::metadata(m).unwrap_or_else(|e| panic!("{}: {e} (run `make bench`)", m.display())).len();
        println!("module {:<28} {:>8} bytes", m.file_name().unwrap_or_default().to_string_lossy(), size);
    }
    println!("config: {}", config_dir.join("audit-sieve.yaml").display());
    println!();
    println!(
        "{:<24} {:>7} {:>9} {:>9} {:>9} {:>11} {:>10} {:>10} {:>10} {:>8} {:>8} {:>10} {:>10} {:>11}",
        "workload (json mode)",
        "records",
        "bytes in",
        "bytes out",
        "kept",
        "instr/rec",
        "copy",
        "touch",
        "Value",
        "÷copy",
        "÷touch",
        "rec/s host",
        "copy rec/s",
        "rec/s native"
    );
    let mut sieve_host = host(&sieve, &config_dir);
    let mut copy_host = host(&copy, &config_dir);
    let mut value_host = host(&value, &config_dir);
    let mut touch_host = host(&touch, &config_dir);
    for workload in Workload::ALL {
        let base = if workload == Workload::LargeBodies { 4_000.0 } else { 40_000.0 };
        let n = ((base * scale) as usize).max(100);
        let records: Vec<Vec<u8>> = workload.records(n, 42).into_iter().map(String::into_bytes).collect();
        if let Some(dir) = std::env::var_os("BENCH_DUMP") {
            // The same records as NDJSON, to run them through other hosts (e.g. WAMR).
            let name = workload.name().split(' ').next().unwrap_or("records").to_owned();
            let text: Vec<u8> = records.iter().flat_map(|r| r.iter().copied().chain([b'\n'])).collect();
            std::fs::write(Path::new(&dir).join(format!("{name}.ndjson")), text).expect("BENCH_DUMP");
        }
        let s = run_host(&mut sieve_host, Format::Json, &records);
        let c = run_host(&mut copy_host, Format::Json, &records);
        let v = run_host(&mut value_host, Format::Json, &records);
        let t = run_host(&mut touch_host, Format::Json, &records);
        let native = run_native(&config_dir, &records);
        assert_eq!(s.lost + c.lost + v.lost + t.lost, 0, "{}: a record was lost", workload.name());
        println!(
            "{:<24} {:>7} {:>9.0} {:>9.0} {:>8.1}% {:>11.0} {:>10.0} {:>10.0} {:>10.0} {:>7.2}x {:>7.2}x {:>10.0} {:>10.0} {:>11.0}",
            workload.name(),
            n,
            s.bytes_in,
            s.bytes_out * s.kept as f64 / n as f64,
            100.0 * s.kept as f64 / n as f64,
            s.fuel_per_record,
            c.fuel_per_record,
            t.fuel_per_record,
            v.fuel_per_record,
            s.fuel_per_record / c.fuel_per_record,
            s.fuel_per_record / t.fuel_per_record,
            s.records_per_s,
            c.records_per_s,
            native,
        );
        if matches!(workload, Workload::StandardMix | Workload::NestedMix) {
            let per = |fuel: u64, n: usize| if n == 0 { 0.0 } else { fuel as f64 / n as f64 };
            println!(
                "  of which {} dropped at {:.0} instr/rec, {} kept at {:.0} instr/rec",
                s.dropped,
                per(s.fuel_dropped, s.dropped),
                s.kept,
                per(s.fuel_kept, s.kept)
            );
        }
    }

    println!();
    println!("msgpack mode (Event_Format msgpack), same records converted:");
    println!(
        "{:<24} {:>11} {:>10} {:>8} {:>11} {:>14}",
        "workload", "instr/rec", "copy", "÷copy", "json instr", "copy cut at NUL"
    );
    for workload in [Workload::StandardMix, Workload::Chatter, Workload::Kept, Workload::LargeBodies, Workload::Ssh] {
        let n = ((10_000.0 * scale) as usize).max(100);
        let json: Vec<Vec<u8>> = workload.records(n, 42).into_iter().map(String::into_bytes).collect();
        let packed: Vec<Vec<u8>> = json.iter().map(|r| to_msgpack(r)).collect();
        let s = run_host(&mut sieve_host, Format::Msgpack, &packed);
        let c = run_host(&mut copy_host, Format::Msgpack, &packed);
        let j = run_host(&mut sieve_host, Format::Json, &json);
        // The copy-through module hands msgpack back verbatim, so Fluent Bit would cut
        // every record holding a 0x00 byte: its figure is a floor, not a working filter.
        assert_eq!(s.lost, 0, "{}: a record was lost", workload.name());
        println!(
            "{:<24} {:>11.0} {:>10.0} {:>7.2}x {:>11.0} {:>13.1}%",
            workload.name(),
            s.fuel_per_record,
            c.fuel_per_record,
            s.fuel_per_record / c.fuel_per_record,
            j.fuel_per_record,
            100.0 * c.lost as f64 / n as f64
        );
    }

    println!();
    println!(
        "linear memory after the run: audit-sieve {} KiB, copy-through {} KiB, Value {} KiB",
        sieve_host.memory_size() / 1024,
        copy_host.memory_size() / 1024,
        value_host.memory_size() / 1024
    );
}
