//! The fuzz targets' properties (`fuzz/src/props.rs`), run without libFuzzer: every seed
//! of `fuzz/seeds/`, then a fixed number of deterministic mutations of them (xorshift,
//! fixed seed), natively. The same inputs every run, so a failure here is reproducible;
//! the open-ended search is `cargo fuzz run` (see README, "Robustness").

#[path = "../fuzz/src/props.rs"]
mod props;

mod common;

use audit_sieve_host::workload::{Rng, Workload};
use std::path::{Path, PathBuf};

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target)
}

/// `json_entry` seeds added by hand, which [`write_fuzz_seeds`] does not make and keeps as
/// they are: a libFuzzer finding (an EXECVE record whose arguments repeat) and two shapes
/// of input the generator's sources lack (journald's audit transport, a certificate login).
const HAND_KEPT_JSON_SEEDS: [&str; 3] =
    ["auditd-ausearch-execve-repeated-keys", "auditd-journald-transport", "authlog-certificate"];

#[test]
fn hand_kept_seeds_are_present() {
    for name in HAND_KEPT_JSON_SEEDS {
        let path = seeds_dir("json_entry").join(name);
        assert!(path.is_file(), "{}: missing (regenerated without it?)", path.display());
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(seeds_dir(target))
        .unwrap_or_else(|e| panic!("fuzz/seeds/{target}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(seeds.len() >= 5, "fuzz/seeds/{target} has {} files", seeds.len());
    seeds
}

/// Fragments worth inserting: JSON structure, escapes the scanners treat specially,
/// members that steer the policy decision, and msgpack markers.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00\\ud800",
    b"\xff",
    b"\xed\xa0\x80",
    b"1e999",
    b"-99999999999999999999999",
    b"null",
    b"\"kind\":\"Event\",",
    b"\"apiVersion\":\"audit.k8s.io/v1\",",
    b"\"stage\":\"ResponseComplete\",",
    b"\"verb\":\"watch\",",
    b"\"verb\":\"get\",",
    b"\"user\":{\"username\":\"system:kube-proxy\"},",
    b"\"user\":{\"username\":\"oidc:alice@example.com\",\"groups\":[\"system:authenticated\"]},",
    b"\"impersonatedUser\":{\"username\":\"bob\"},",
    b"\"objectRef\":{\"resource\":\"secrets\",\"namespace\":\"kube-system\",\"name\":\"x\"},",
    b"\"objectRef\":\"str\",",
    b"\"requestObject\":{\"metadata\":{\"managedFields\":[{}]}},",
    b"\"responseStatus\":{\"code\":404},",
    b"\"log\":\"",
    b"sshd[42]: Failed password for root from 10.0.0.1 port 22 ssh2",
    b"type=SYSCALL msg=audit(1.0:1): comm=\"cron\" key=\"noise\"",
    b"AUDIT: SESSION,1,1,WRITE,INSERT,TABLE,app.users,insert,<not logged>",
    b"\x00",
    b"\xc0",
    b"\xc4\x02\x00\x01",
    b"\xd4\x01\x07",
    b"\xdc\x00\x01",
    b"\xde\x00\x01",
    b"\xcb\x00\x00\x00\x00\x00\x00\xf8\x7f",
    b"\x81\xa1a",
    b"\x91",
    b"\xdf\xff\xff\xff\xff",
    b"\n  - level: None\n    users: [\"*\"]\n",
    b"\n&a [*a, *a]\n",
    b"!!binary",
    b"\t",
    b": ",
    b"- ",
];

const MAX_LEN: usize = 1 << 16;

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seeds[rng.below(seeds.len() as u64) as usize].clone();
    for _ in 0..1 + rng.below(4) {
        let at = |rng: &mut Rng, b: &Vec<u8>| rng.below(b.len() as u64 + 1) as usize;
        match rng.below(8) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b[i] = rng.next_u64() as u8;
            }
            2 | 3 => {
                let i = at(rng, &b);
                let token = TOKENS[rng.below(TOKENS.len() as u64) as usize];
                b.splice(i..i, token.iter().copied());
            }
            4 => {
                let i = at(rng, &b);
                let j = (i + rng.below(64) as usize).min(b.len());
                b.drain(i..j);
            }
            5 => {
                let i = at(rng, &b);
                b.truncate(i);
            }
            6 => {
                let i = at(rng, &b);
                let j = (i + rng.below(256) as usize).min(b.len());
                let copy = b[i..j].to_vec();
                let k = at(rng, &b);
                b.splice(k..k, copy);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len() as u64) as usize];
                let i = at(rng, &b);
                let j = rng.below(other.len() as u64 + 1) as usize;
                b.truncate(i);
                b.extend_from_slice(&other[j..]);
            }
        }
    }
    b.truncate(MAX_LEN);
    b
}

/// Runs `check` on every seed and on `executions` mutations; returns the count.
fn run(target: &str, seed: u64, executions: usize, mut check: impl FnMut(&[u8])) -> usize {
    let seeds = seeds(target);
    let mut rng = Rng::new(seed);
    let inputs = seeds.iter().cloned().chain(std::iter::repeat_with(|| mutate(&mut rng, &seeds)).take(executions));
    for input in inputs {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
        if let Err(panic) = result {
            eprintln!("{target}: failing input ({} bytes): {:?}", input.len(), String::from_utf8_lossy(&input));
            eprintln!("{target}: as bytes: {input:?}");
            std::panic::resume_unwind(panic);
        }
    }
    println!("{target}: {} seeds + {executions} mutated inputs, every property held", seeds.len());
    seeds.len() + executions
}

#[test]
fn json_entry_properties_hold() {
    let mut m = props::module();
    run("json_entry", 0x5eed_0001, 60_000, |input| props::check_json(&mut m, input));
    let s = &m.stats;
    println!(
        "json_entry: {} dropped, {} rewritten, {} unchanged, passed {:?}",
        s.dropped, s.rewritten, s.unchanged, s.passed
    );
    // The mutations reach every outcome, not only the parser's rejections.
    assert!(s.dropped > 100 && s.rewritten > 1000 && s.unchanged > 100, "{s:?}");
}

#[test]
fn msgpack_entry_properties_hold() {
    let mut m = props::module();
    run("msgpack_entry", 0x5eed_0002, 60_000, |input| props::check_msgpack(&mut m, input));
    let s = &m.stats;
    println!(
        "msgpack_entry: {} dropped, {} rewritten, {} enveloped, passed {:?}",
        s.dropped, s.rewritten, s.envelopes, s.passed
    );
    assert!(s.dropped > 10 && s.rewritten > 1000 && s.envelopes > 1000, "{s:?}");
}

#[test]
fn config_properties_hold() {
    run("config", 0x5eed_0003, 15_000, props::check_config);
}

/// The property checks themselves catch what they are meant to catch.
#[test]
fn the_checks_reject_bad_replies() {
    assert!(props::is_json_object(br#"{"a":[1,{"b":null}]}"#));
    assert!(props::is_json_object(br#" {"code":2E6666666666666666666666666666600} "#));
    assert!(!props::is_json_object(br#"{"a":1"#));
    assert!(!props::is_json_object(br#"{"a":1}x"#));
    assert!(!props::is_json_object(br#"{"a":01}"#));
    assert!(!props::is_json_object(b"{\"a\":\"\xff\"}"));
    assert!(!props::is_json_object(b"[1]"));
    assert!(props::is_one_msgpack_value(&[0x82, 0xa1, b'a', 0x01, 0xa1, b'b', 0x90]));
    assert!(!props::is_one_msgpack_value(&[0x82, 0xa1, b'a', 0x01]));
    assert!(!props::is_one_msgpack_value(&[0x80, 0x80]));
    assert!(!props::is_one_msgpack_value(&[0xdc, 0xff, 0xff]));
    assert_eq!(props::base64(&[0, 0xff, 0x10, 0x80]), "AP8QgA==");
    let mut envelope = Vec::new();
    audit_sieve::msgpack::nul_free_envelope(
        audit_sieve::msgpack::ENVELOPE_JSON_KEY,
        r#"{"a":0}"#,
        &Default::default(),
        &mut envelope,
    );
    let e = props::read_envelope(&envelope).unwrap();
    assert_eq!((e.key.as_str(), e.text.as_str(), e.chunks, e.tags), ("record_json", r#"{"a":0}"#, 1, 0));
    let tag = vec![0xa8, b'l', b'o', b'g', b'_', b't', b'y', b'p', b'e', 0xa1, b'k'];
    let tags = audit_sieve::msgpack::EnvelopeTags { bytes: tag.clone(), count: 1 };
    let mut envelope = Vec::new();
    audit_sieve::msgpack::nul_free_envelope(audit_sieve::msgpack::ENVELOPE_JSON_KEY, "{}", &tags, &mut envelope);
    let e = props::read_envelope(&envelope).unwrap();
    assert_eq!((e.text.as_str(), e.tags, e.tag_bytes), ("{}", 1, tag.len()));
}

/// Writes `fuzz/seeds/` (run with `--ignored` after changing the selection): short
/// lines of the shared corpus, one record of each workload, the hostile cases, and the
/// hand-kept seeds ([`HAND_KEPT_JSON_SEEDS`]) as they were.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let mut json: Vec<(String, Vec<u8>)> = Vec::new();
    let short = |path: &str, n: usize| -> Vec<String> {
        common::corpus_lines(path).into_iter().filter(|l| l.len() < 2500).take(n).collect()
    };
    let kube = common::corpus_lines("kubeaudit/ALL_sources_combined.ndjson");
    let mut verbs = std::collections::BTreeSet::new();
    for line in kube.iter().filter(|l| l.len() < 3000) {
        let v = common::parse(line.as_bytes());
        let key = format!("{}-{}", v["verb"], v["objectRef"]["resource"]);
        if verbs.len() < 12 && verbs.insert(key) {
            json.push((format!("kube-{:02}", verbs.len()), line.clone().into_bytes()));
        }
    }
    let wrap = |line: &str| {
        let mut v = Vec::new();
        v.extend_from_slice(br#"{"log":"#);
        v.extend_from_slice(serde_json::to_string(line).unwrap().as_bytes());
        v.push(b'}');
        v
    };
    for (i, l) in short("authlog/crowdsec_hub_sshd-logs.log", 3).iter().enumerate() {
        json.push((format!("authlog-{i}"), wrap(l)));
    }
    for (i, l) in short("auditd/laurel_record-login.log", 3).iter().enumerate() {
        json.push((format!("auditd-{i}"), wrap(l)));
    }
    for w in Workload::ALL {
        let r = w.records(1, 3).remove(0);
        if r.len() < 8000 {
            json.push((format!("workload-{}", w.name().replace([' ', '(', ')', '+'], "")), r.into_bytes()));
        }
    }
    let event = |extra: &str| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/a/configmaps/b","verb":"update","user":{{"username":"oidc:alice@example.com"}},"objectRef":{{"resource":"configmaps","namespace":"a","name":"b","apiVersion":"v1"}},"responseStatus":{{"code":200}}{extra}}}"#
        )
    };
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", event("").as_bytes()[..200].to_vec()),
        ("control-escape", event(r#","x":"\u0001\t""#).into_bytes()),
        ("lone-surrogate", event(r#","x":"\ud800""#).into_bytes()),
        ("nul-escape", event(r#","x":"a\u0000b""#).into_bytes()),
        ("duplicate-verb", event(r#","verb":"watch""#).into_bytes()),
        ("big-numbers", event(r#","n":1e999,"m":-123456789012345678901234567890"#).into_bytes()),
        ("objectref-string", event("").replace(r#""objectRef":{"#, r#""objectRef":"x","o":{"#).into_bytes()),
        ("minimal-event", br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1"}"#.to_vec()),
        (
            "nested-request",
            event(&format!(r#","requestObject":{{"a":{}{}}}"#, "[".repeat(300), "]".repeat(300))).into_bytes(),
        ),
        ("event-in-log", wrap(&event("")).to_vec()),
        // A container log as the CRI parser gives it, and one whose quotes are `\u0022`.
        (
            "event-in-cri-log",
            format!(
                r#"{{"time":"2026-11-22T10:00:00.1Z","stream":"stdout","_p":"F","log":{}}}"#,
                serde_json::to_string(&format!("{}\n", event(""))).unwrap()
            )
            .into_bytes(),
        ),
        (
            "event-in-log-unicode-quotes",
            String::from_utf8(wrap(&event(""))).unwrap().replace(r#"\""#, r"\u0022").into_bytes(),
        ),
        // JSON, though no f64 holds the number: carried as written when the event is unwrapped.
        ("event-in-log-huge-number", wrap(&event("").replace(":200}", ":2E6666666666666666666666666666600}"))),
    ];
    for (name, bytes) in hostile {
        json.push((format!("hostile-{name}"), bytes));
    }
    let mut raw_invalid = event(",\"x\":\"??\"").into_bytes();
    let at = raw_invalid.len() - 4;
    raw_invalid[at] = 0xff;
    json.push(("hostile-raw-invalid-utf8".into(), raw_invalid));

    for name in HAND_KEPT_JSON_SEEDS {
        let kept = std::fs::read(seeds_dir("json_entry").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        json.push((name.to_owned(), kept));
    }

    let write = |target: &str, files: &[(String, Vec<u8>)]| {
        let dir = seeds_dir(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    };
    write("json_entry", &json);

    let mut mp: Vec<(String, Vec<u8>)> = json
        .iter()
        .filter_map(|(name, bytes)| {
            let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
            Some((name.clone(), common::to_msgpack(&v)))
        })
        .collect();
    mp.push(("hostile-array".into(), vec![0x93, 0x01, 0x02, 0x03]));
    mp.push(("hostile-bin".into(), vec![0x81, 0xa1, b'b', 0xc4, 0x02, 0x00, 0x02]));
    mp.push(("hostile-ext".into(), vec![0x81, 0xa1, b'e', 0xd4, 0x01, 0x07]));
    mp.push(("hostile-int-key".into(), vec![0x81, 0x07, 0xa1, b'v']));
    mp.push(("hostile-zero".into(), vec![0x81, 0xa1, b'z', 0x00]));
    write("msgpack_entry", &mp);

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config: Vec<(String, Vec<u8>)> = vec![
        ("fuzz-config.yaml".into(), props::CONFIG.as_bytes().to_vec()),
        ("example.yaml".into(), std::fs::read(root.join("fluent-bit/audit-sieve.yaml")).unwrap()),
        ("default-policy.yaml".into(), std::fs::read(root.join("src/policy/default-policy.yaml")).unwrap()),
        ("inline-policy.yaml".into(),
            b"kubeaudit:\n  wildcards: true\n  policy:\n    apiVersion: audit.k8s.io/v1\n    kind: Policy\n    omitStages: [RequestReceived]\n    rules:\n      - level: None\n        users: [\"system:*\"]\n      - level: Metadata\n        resources: [{group: \"\", resources: [secrets]}]\n        omitManagedFields: true\n".to_vec()),
        ("unknown-key.yaml".into(), b"cluster:\n  name: prod\n  nmae: typo\n".to_vec()),
        ("bad-level.yaml".into(), b"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Everything\n".to_vec()),
        ("anchors.yaml".into(), b"a: &a [1, 2]\nb: [*a, *a, *a]\ncluster: {name: *a}\n".to_vec()),
    ];
    write("config", &config);
}
