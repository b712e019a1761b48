//! Soak: many mixed records through ONE instance, as Fluent Bit ≥ 4.1 keeps it. Linear
//! memory must stop growing once every record shape has been seen (no leak), and a
//! sample of replies must equal a fresh instance's replies to the same records (no
//! drift). `make test` runs 200,000 records; `make soak` runs 1,000,000
//! (`AUDIT_SIEVE_SOAK_RECORDS`).

mod common;

use audit_sieve_host::workload::Workload;
use audit_sieve_host::{Fate, Format};
use common::*;

struct Record {
    bytes: Vec<u8>,
    format: Format,
    /// Its reply depends on earlier records (authlog brute-force counting).
    stateful: bool,
}

/// Every workload interleaved, malformed records among them, about one in twelve in msgpack.
fn pool() -> Vec<Record> {
    let mut by_workload: Vec<(Workload, Vec<String>)> =
        Workload::ALL.iter().map(|&w| (w, w.records(400, 11))).collect();
    let malformed: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","user":{"#.to_vec(),
        b"{\"log\":\"\xff\xfe\"}".to_vec(),
        br#"{"log":"\ud800"}"#.to_vec(),
        br#"[1,2,3]"#.to_vec(),
        br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","objectRef":null,"verb":"get","stage":"ResponseComplete"}"#
            .to_vec(),
    ];
    let mut records = Vec::new();
    for i in 0..400 {
        for (w, list) in by_workload.iter_mut() {
            let bytes = std::mem::take(&mut list[i]).into_bytes();
            let format = if records.len() % 10 == 9 { Format::Msgpack } else { Format::Json };
            let bytes = if format == Format::Msgpack { to_msgpack(&parse(&bytes)) } else { bytes };
            records.push(Record { bytes, format, stateful: *w == Workload::Ssh });
        }
        let m = &malformed[i % malformed.len()];
        records.push(Record { bytes: m.clone(), format: Format::Json, stateful: false });
    }
    records
}

#[test]
fn soak_memory_is_flat_and_replies_do_not_drift() {
    let total: usize = std::env::var("AUDIT_SIEVE_SOAK_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let pool = pool();
    let mut h = host();
    let start = h.memory_size();
    // Warm-up: every record of the pool twice.
    let warm_up = 2 * pool.len();
    let (mut warm, mut lost) = (0, 0);
    let sample_every = total / 500;
    let mut sample = Vec::new();
    for i in 0..total.max(warm_up + 1) {
        let r = &pool[i % pool.len()];
        let fate = h.filter(r.format, TAG, TIME, &r.bytes);
        // A malformed record passed through as it came is refused by Fluent Bit's parser
        // as it would have been without the filter; anything else lost is the module's.
        if let Fate::Lost(why) = &fate
            && !(why == "invalid JSON format" && h.last_output == r.bytes)
        {
            lost += 1;
            eprintln!("lost ({why}): {}", String::from_utf8_lossy(&r.bytes[..r.bytes.len().min(200)]));
        }
        if i + 1 == warm_up {
            warm = h.memory_size();
        }
        if i > warm_up && i % sample_every == 0 && !r.stateful {
            sample.push((i % pool.len(), fate));
        }
    }
    let end = h.memory_size();
    println!(
        "soak: {total} records ({} distinct, {} in msgpack) through one instance; linear memory {} KiB at start, {} KiB after warm-up ({warm_up} records), {} KiB at the end",
        pool.len(),
        pool.iter().filter(|r| r.format == Format::Msgpack).count(),
        start >> 10,
        warm >> 10,
        end >> 10
    );
    assert_eq!(lost, 0, "records lost");
    assert_eq!(end, warm, "linear memory grew after warm-up");
    let mut fresh = host();
    for (index, fate) in &sample {
        let r = &pool[*index];
        assert_eq!(&fresh.filter(r.format, TAG, TIME, &r.bytes), fate, "record {index} drifted");
    }
    println!("soak: {} sampled replies identical to a fresh instance's", sample.len());
    assert!(sample.len() > 300);
}
