//! The module as Fluent Bit loads it: entry points, memory, traps, fail-open behaviour.
//! Every test runs the built `.wasm` through the host that mirrors `flb_wasm.c`.

mod common;

use audit_sieve_host::{Fate, Format};
use common::*;

/// Every record of the combined Kubernetes corpus is kept or dropped by a rule, in both
/// formats; none is lost the way a trap or a bad result would lose it in Fluent Bit.
#[test]
fn corpus_events_are_never_lost() {
    let lines = corpus_lines("kubeaudit/ALL_sources_combined.ndjson");
    assert!(lines.len() > 200);
    let mut h = host();
    let (mut kept, mut dropped) = (0, 0);
    for line in &lines {
        match json(&mut h, line) {
            Fate::Kept(_) => kept += 1,
            Fate::Dropped => dropped += 1,
            Fate::Lost(why) => panic!("lost ({why}): {line}"),
        }
        let value = parse(line.as_bytes());
        match h.filter(Format::Msgpack, TAG, TIME, &to_msgpack(&value)) {
            Fate::Kept(_) | Fate::Dropped => {}
            Fate::Lost(why) => panic!("msgpack: lost ({why}): {line}"),
        }
    }
    println!("corpus: {} events, {kept} kept, {dropped} dropped by the default policy", lines.len());
    assert!(kept > 0 && dropped > 0);
}

/// A 1 MiB record is copied in through the module's own malloc (the app heap is 8 KiB)
/// and comes back unchanged.
#[test]
fn one_mib_record_passes_through() {
    let record = format!(r#"{{"log":"{}"}}"#, "x".repeat(1 << 20));
    let mut h = host();
    assert_eq!(json(&mut h, &record), Fate::Kept(record.clone().into_bytes()));
    let mp = to_msgpack(&parse(record.as_bytes()));
    // In msgpack the string's length header (0x00100000) holds 0x00 bytes, so the record
    // comes back as the NUL-free envelope.
    match h.filter(Format::Msgpack, TAG, TIME, &mp) {
        Fate::Kept(bytes) => assert!(!bytes.contains(&0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deeply_nested_record_passes_through_unchanged() {
    let depth = 10_000;
    let record = format!(r#"{{"a":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let mut h = host();
    assert_eq!(json(&mut h, &record), Fate::Kept(record.clone().into_bytes()));
    // msgpack: 10k nested fixarrays of one item, no NUL byte: returned as given.
    let mut mp = vec![0x81, 0xa1, b'a'];
    mp.extend(std::iter::repeat_n(0x91, depth - 1));
    mp.push(0x90);
    assert_eq!(h.filter(Format::Msgpack, TAG, TIME, &mp), Fate::Kept(mp.clone()));
}

/// A call that traps (out of fuel here) loses its record, as in Fluent Bit, and the next
/// call works exactly as on a fresh instance: no state is left half-borrowed.
#[test]
fn a_trap_does_not_poison_the_next_call() {
    let lines = corpus_lines("kubeaudit/ALL_sources_combined.ndjson");
    let event = &lines[60];
    let mut fresh = host();
    let expected = json(&mut fresh, event);
    let mut h = host();
    // Budgets below what the event costs on this instance as it is (measured by the call
    // just before), down to one that ends in the first calls.
    for budget in [|_| 50, |_| 500, |cost| cost / 2, |cost: u64| cost - cost / 10] {
        h.set_fuel_per_call(None);
        assert_eq!(json(&mut h, event), expected);
        let fuel = budget(h.last_fuel);
        h.set_fuel_per_call(Some(fuel));
        match json(&mut h, event) {
            Fate::Lost(why) => assert!(why.contains("trap"), "{why}"),
            other => panic!("fuel {fuel}: expected a trap, got {other:?}"),
        }
        h.set_fuel_per_call(None);
        assert_eq!(json(&mut h, event), expected, "after a trap at fuel {fuel}");
    }
}

/// Linear memory stays flat over 100k calls of mixed records.
#[test]
fn memory_is_flat_over_100k_calls() {
    let mut records: Vec<String> = corpus_lines("kubeaudit/ALL_sources_combined.ndjson");
    records.push(r#"{"log":"plain line"}"#.into());
    records.push("not json".into());
    records.push(r#"{"truncated":"#.into());
    let mut h = host();
    for r in &records {
        let _ = json(&mut h, r);
    }
    let warm = h.memory_size();
    for i in 0..100_000 {
        let _ = json(&mut h, &records[i % records.len()]);
    }
    let after = h.memory_size();
    println!("linear memory: {warm} bytes after warm-up, {after} bytes after 100,000 more calls");
    assert_eq!(warm, after);
}

/// What the module cannot understand comes back byte for byte (JSON mode).
#[test]
fn records_not_understood_pass_through_unchanged() {
    let cases: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        br#"{"truncated": "#.to_vec(),
        br#"{"a":1}{"b":2}"#.to_vec(),
        b"[1,2,3]".to_vec(),
        b"\"a string\"".to_vec(),
        b"{\"bad\":\"\xff\xfe\"}".to_vec(),
        br#"{"lone":"\ud800"}"#.to_vec(),
        br#"{"big":1e999999,"neg":-123456789012345678901234567890}"#.to_vec(),
        br#"{"dup":1,"dup":2}"#.to_vec(),
        br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","objectRef":"wrong type","verb":7}"#.to_vec(),
        br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1"}"#.to_vec(),
    ];
    let mut h = host();
    for record in cases {
        let fate = h.filter(Format::Json, TAG, TIME, &record);
        assert_ne!(fate, Fate::Dropped, "{}", String::from_utf8_lossy(&record));
        assert_eq!(h.last_output, record, "{}", String::from_utf8_lossy(&record));
    }
}

#[test]
fn msgpack_not_understood_passes_through_unchanged() {
    let cases: Vec<Vec<u8>> = vec![
        vec![0x93, 0x01, 0x02, 0x03],                   // an array, not a map
        vec![0x81, 0xa1, b'b', 0xc4, 0x02, 0x01, 0x02], // bin value
        vec![0x81, 0xa1, b'e', 0xd4, 0x01, 0x07],       // ext value
        vec![0x81, 0x07, 0xa1, b'v'],                   // integer key
    ];
    let mut h = host();
    for record in cases {
        assert_eq!(h.filter(Format::Msgpack, TAG, TIME, &record), Fate::Kept(record.clone()), "{record:x?}");
    }
}

/// msgpack output that would hold a 0x00 byte (integer 0 here) is never cut: it comes back
/// as the NUL-free envelope carrying the record's JSON text.
#[test]
fn msgpack_output_with_a_nul_byte_becomes_the_envelope() {
    let record = serde_json::json!({"log": "x", "count": 0, "nested": {"ratio": 1.5}});
    let mp = to_msgpack(&record);
    assert!(mp.contains(&0));
    let mut h = host();
    let bytes = match h.filter(Format::Msgpack, TAG, TIME, &mp) {
        Fate::Kept(bytes) => bytes,
        other => panic!("{other:?}"),
    };
    assert!(!bytes.contains(&0));
    let envelope: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(envelope["audit_sieve_error"], "msgpack_output_has_nul");
    let text: String = envelope["record_json"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(parse(text.as_bytes()), record);
    // An undecodable record (bin) with a NUL byte is carried as base64.
    let bin = vec![0x81, 0xa1, b'b', 0xc4, 0x02, 0x00, 0x02];
    let bytes = match h.filter(Format::Msgpack, TAG, TIME, &bin) {
        Fate::Kept(bytes) => bytes,
        other => panic!("{other:?}"),
    };
    assert!(!bytes.contains(&0));
    let envelope: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
    let b64: String =
        envelope["record_msgpack_base64"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(b64, "gaFixAIAAg==");
}

/// An audit event returned as the envelope keeps its stream, cluster, review and actor
/// fields at the top level, where Fluent Bit routes on them (`log_type` to the
/// `kubeaudit*` index); only fields that would hold a 0x00 byte stay in the text alone.
#[test]
fn the_envelope_of_a_known_stream_keeps_its_routing_fields() {
    let mut h = host_with(Some("cluster:\n  name: prod-eu\nfields:\n  stream: labels.stream\n"), &[]);
    let event = serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": "a1", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/prod/pods/web-0/exec?command=sh", "verb": "create",
        "user": {"username": "oidc:alice@example.com", "groups": ["system:authenticated"]},
        "objectRef": {"resource": "pods", "namespace": "prod", "name": "web-0", "subresource": "exec", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 101},
        "requestReceivedTimestamp": "2026-11-22T10:00:00.000000Z",
        "stageTimestamp": "2026-11-22T10:00:00.000000Z",
        "restarts": 0,
    });
    let mp = to_msgpack(&event);
    let bytes = match h.filter(Format::Msgpack, TAG, TIME, &mp) {
        Fate::Kept(bytes) => bytes,
        other => panic!("{other:?}"),
    };
    assert!(!bytes.contains(&0));
    let envelope: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
    let text: String = envelope["record_json"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let record = parse(text.as_bytes());
    assert_eq!(record["restarts"], 0);
    assert_eq!(record["labels"]["stream"], "kubeaudit");
    for field in ["labels", "cluster", "review", "actor"] {
        assert_eq!(envelope[field], record[field], "{field}: {envelope}");
    }
    assert_eq!(envelope["cluster"], "prod-eu");
    assert!(envelope["review"].as_array().unwrap().contains(&"exec".into()), "{envelope}");
    assert_eq!(envelope["actor"]["kind"], "human", "{envelope}");
    // A record of no known stream gets nothing added, in the envelope either.
    let other = to_msgpack(&serde_json::json!({"log": "x", "count": 0}));
    let bytes = match h.filter(Format::Msgpack, TAG, TIME, &other) {
        Fate::Kept(bytes) => bytes,
        other => panic!("{other:?}"),
    };
    let envelope: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(envelope.as_object().unwrap().len(), 2, "{envelope}");
}

/// A drop in JSON mode is an empty string; in msgpack mode, which has no drop result, the
/// drop marker. Every record after a drop is filtered: in Fluent Bit an invalid address
/// (how msgpack-mode drops were once signalled) left an exception on the instance that
/// lost the next record.
#[test]
fn drops_in_both_formats_and_the_next_record_is_filtered() {
    let lines = corpus_lines("kubeaudit/ALL_sources_combined.ndjson");
    let mut h = host();
    let dropped = lines.iter().find(|l| json(&mut h, l) == Fate::Dropped).expect("the default policy drops some event");
    let mp = to_msgpack(&parse(dropped.as_bytes()));
    let other = to_msgpack(&serde_json::json!({"msg": "next"}));
    for format in [Format::Json, Format::Msgpack] {
        let (dropped, other) = match format {
            Format::Json => (dropped.as_bytes(), br#"{"msg":"next"}"#.as_slice()),
            Format::Msgpack => (mp.as_slice(), other.as_slice()),
        };
        assert_eq!(h.filter(format, TAG, TIME, dropped), Fate::Dropped, "{format:?}");
        if format == Format::Msgpack {
            assert_eq!(h.last_output, audit_sieve_host::MSGPACK_DROP_MARKER);
        }
        assert_eq!(h.filter(format, TAG, TIME, other), Fate::Kept(other.to_vec()), "{format:?}");
    }
}

/// The configuration is read at start-up; an invalid one is reported with file and
/// line, and then every record passes through unchanged (nothing dropped).
#[test]
fn invalid_configuration_is_loud_and_fails_open() {
    let mut h = host_with(Some("cluster:\n  name: prod\n  nmae: typo\n"), &[]);
    let log = h.stderr();
    assert!(log.contains("ERROR: invalid configuration:"), "{log}");
    assert!(log.contains("audit-sieve.yaml:3: cluster: unknown field `nmae`"), "{log}");
    for line in corpus_lines("kubeaudit/ALL_sources_combined.ndjson").iter().take(50) {
        assert_eq!(json(&mut h, line), Fate::Kept(line.clone().into_bytes()));
    }
    let stats = parse(h.stats().unwrap().as_bytes());
    assert_eq!(stats["passed"]["config_error"], 50);
}

#[test]
fn no_configuration_file_means_embedded_defaults() {
    let h = host();
    assert!(h.stderr().contains("embedded defaults"), "{}", h.stderr());
}

#[test]
fn configuration_is_found_in_the_accessible_paths_in_order() {
    let first = config_dir(&[]);
    let second = config_dir(&[("audit-sieve.yaml", "cluster:\n  name: second\n")]);
    let third = config_dir(&[("audit-sieve.yaml", "cluster:\n  name: third\n")]);
    let mut options = audit_sieve_host::Options::new(audit_sieve_host::default_wasm_path());
    options.accessible_paths = vec![first.to_path_buf(), second.to_path_buf(), third.to_path_buf()];
    options.capture_stderr = true;
    let mut h = audit_sieve_host::FluentBitHost::new(&options).unwrap();
    assert!(
        h.stderr().contains(&format!("configuration {}", second.join("audit-sieve.yaml").display())),
        "{}",
        h.stderr()
    );
    let line = &corpus_lines("kubeaudit/falco_trace_files/create_secret.json")[0];
    assert_eq!(kept(json(&mut h, line))["cluster"], "second");
}

/// Fuel counts wasm instructions, a bulk copy as one (as WAMR's interpreter runs it), so
/// that the bench's figures are instructions: a record passed through whole (too large)
/// costs the same whatever its size, where a per-byte count would add one per byte copied.
#[test]
fn fuel_counts_a_bulk_copy_as_one_instruction() {
    let mut h = host_with(Some("limits:\n  max_record_bytes: 1000\n"), &[]);
    let record = |len: usize| format!(r#"{{"x":"{}"}}"#, "a".repeat(len));
    let (small, large) = (record(100_000), record(200_000));
    // The buffers grow to the larger size first.
    assert_eq!(json(&mut h, &large), Fate::Kept(large.clone().into_bytes()));
    let mut fuel = |r: &str| {
        assert_eq!(json(&mut h, r), Fate::Kept(r.as_bytes().to_vec()));
        h.last_fuel
    };
    let (f_small, f_large) = (fuel(&small), fuel(&large));
    assert!(f_large.abs_diff(f_small) < 100, "100 KB: {f_small}, 200 KB: {f_large}");
}
