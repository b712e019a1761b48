//! Hostile records through the built module, as Fluent Bit calls it. Each case asserts
//! its defined outcome (passed through byte for byte, processed, or dropped by a rule)
//! and that the next record is still processed exactly as on a fresh instance.
//! Record-level malformations (not JSON, not an object) are in `abi.rs`; these are the
//! ones that look like audit events or reach the limits.

mod common;

use audit_sieve_host::{Fate, FluentBitHost, Format};
use common::*;

/// A Kubernetes audit event. `object_ref` is the raw JSON of the member (or `None`);
/// `extra` is appended inside the object (starting with a comma).
fn event(verb: &str, username: &str, object_ref: Option<&str>, extra: &str) -> String {
    let object_ref = object_ref.map(|o| format!(r#","objectRef":{o}"#)).unwrap_or_default();
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"6f1c1c1e-0000-4000-8000-000000000001","stage":"ResponseComplete","requestURI":"/apis/apps/v1/namespaces/shop/deployments/web","verb":"{verb}","user":{{"username":"{username}","groups":["system:authenticated"]}}{object_ref},"responseStatus":{{"code":200}}{extra}}}"#
    )
}

const ROLEBINDING: &str = r#"{"resource":"rolebindings","namespace":"shop","name":"web","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1"}"#;
const ENDPOINTS: &str = r#"{"resource":"endpoints","namespace":"default","name":"kubernetes","apiVersion":"v1"}"#;

/// A human's update of a RoleBinding: kept at level Request by the default policy (its
/// requestObject is kept, its responseObject removed), enriched and flagged.
fn kept_event(extra: &str) -> String {
    event("update", "alice@example.com", Some(ROLEBINDING), extra)
}

/// kube-proxy watching endpoints: dropped by the default policy's first rule.
fn dropped_event(extra: &str) -> String {
    event("watch", "system:kube-proxy", Some(ENDPOINTS), extra)
}

/// The record every case is followed by, and what a fresh instance makes of it.
struct Canary {
    record: String,
    json: Fate,
    msgpack: Fate,
}

impl Canary {
    fn new() -> Canary {
        let record = corpus_lines("kubeaudit/falco_trace_files/create_secret.json").remove(0);
        let mut fresh = host();
        let json = json(&mut fresh, &record);
        let msgpack = fresh.filter(Format::Msgpack, TAG, TIME, &to_msgpack(&parse(record.as_bytes())));
        assert!(matches!(json, Fate::Kept(_)) && matches!(msgpack, Fate::Kept(_)));
        Canary { record, json, msgpack }
    }

    /// The next record, in both formats, comes out as on a fresh instance.
    fn check(&self, h: &mut FluentBitHost, after: &str) {
        assert_eq!(json(h, &self.record), self.json, "JSON record after {after}");
        let mp = to_msgpack(&parse(self.record.as_bytes()));
        assert_eq!(h.filter(Format::Msgpack, TAG, TIME, &mp), self.msgpack, "msgpack record after {after}");
    }
}

fn stats(h: &mut FluentBitHost) -> serde_json::Value {
    parse(h.stats().unwrap().as_bytes())
}

/// Passes through byte for byte (JSON mode), counted under `reason`.
fn assert_passes(h: &mut FluentBitHost, record: &[u8], reason: &str) {
    let before = stats(h)["passed"][reason].as_u64().unwrap();
    let fate = h.filter(Format::Json, TAG, TIME, record);
    assert_eq!(h.last_output, record, "{reason}: {}", String::from_utf8_lossy(&record[..record.len().min(300)]));
    assert_ne!(fate, Fate::Dropped);
    assert_eq!(stats(h)["passed"][reason], before + 1, "counted as {reason}");
}

#[test]
fn truncated_events() {
    let canary = Canary::new();
    let mut h = host();
    // Cut inside the bodies of an event the policy keeps: the event is validated in full
    // before it is edited, so it passes through as it came.
    let kept = kept_event(r#","requestObject":{"spec":{"replicas":3}}"#);
    let cut = &kept.as_bytes()[..kept.len() - 10];
    assert_passes(&mut h, cut, "not_json");
    canary.check(&mut h, "a truncated kept event");
    // Cut after every member the decision reads, of an event a rule drops: the rule has
    // decided, and the event is dropped (its bodies are never read).
    let dropped = dropped_event(r#","requestObject":{"spec":{"replicas":3}}"#);
    assert_eq!(json(&mut h, &dropped), Fate::Dropped);
    let cut = &dropped.as_bytes()[..dropped.len() - 10];
    assert_eq!(h.filter(Format::Json, TAG, TIME, cut), Fate::Dropped);
    canary.check(&mut h, "a truncated dropped event");
    // Cut before the decision is known: passes through.
    let cut = &dropped.as_bytes()[..120];
    assert_passes(&mut h, cut, "not_json");
    canary.check(&mut h, "an event cut before its decision");
    // Invalid among the members the decision reads (a bare word, a trailing comma in the
    // user's groups, a number with a leading zero in objectRef, text or no comma after the
    // last of them): the walk that reads them checks them,
    // so a rule's drop never rests on text that is not JSON.
    for (valid, invalid) in [
        (r#""level":"RequestResponse""#, r#""level":RequestResponse"#),
        (r#""system:authenticated"]"#, r#""system:authenticated",]"#),
        (r#""apiVersion":"v1"}"#, r#""apiVersion":01}"#),
        // Right after the member the decision is made on: text, or a missing comma.
        (r#""apiVersion":"v1"},"#, r#""apiVersion":"v1"} x,"#),
        (r#""apiVersion":"v1"},"#, r#""apiVersion":"v1"} "#),
    ] {
        let bad = dropped.replacen(valid, invalid, 1);
        assert_ne!(bad, dropped, "{invalid}");
        assert_passes(&mut h, bad.as_bytes(), "not_json");
        canary.check(&mut h, invalid);
    }
    // Text after the object, around an event carried in `log`: not JSON, passes through.
    let wrapped = format!(r#"{{"log":{}}}"#, serde_json::to_string(&kept_event("")).unwrap());
    assert!(matches!(json(&mut h, &wrapped), Fate::Kept(_)));
    for junk in [" x", "{}", r#","kubernetes":{}}"#] {
        assert_passes(&mut h, format!("{wrapped}{junk}").as_bytes(), "not_json");
        canary.check(&mut h, junk);
    }
}

#[test]
fn invalid_utf8_lone_surrogates_and_nul_in_strings() {
    let canary = Canary::new();
    let mut h = host();
    // Raw invalid UTF-8 inside a kept event's body: passes through byte for byte.
    let mut bad = kept_event(r#","requestObject":{"note":"??"}"#).into_bytes();
    let at = bad.len() - 5;
    bad[at] = 0xff;
    bad[at + 1] = 0xfe;
    assert_passes(&mut h, &bad, "not_utf8");
    canary.check(&mut h, "invalid UTF-8");
    // The same around an event carried in a container log's `log` string: a raw invalid
    // byte in the wrapper (the event is valid), or in the event's string.
    let carried = serde_json::to_string(&kept_event("")).unwrap();
    let wrapped = format!(r#"{{"time":"t","stream":"stdout","log":{carried}}}"#).into_bytes();
    assert!(matches!(json(&mut h, std::str::from_utf8(&wrapped).unwrap()), Fate::Kept(_)));
    let find = |word: &[u8]| wrapped.windows(word.len()).position(|w| w == word).unwrap() + 3;
    let (at_stream, at_event) = (find(b"stdout"), find(b"update"));
    for at in [at_stream, at_event] {
        let mut bad = wrapped.clone();
        bad[at] = 0xff;
        assert_passes(&mut h, &bad, "not_utf8");
        canary.check(&mut h, "invalid UTF-8 around a carried event");
    }
    // A lone surrogate escape is read as U+FFFD: the event is processed and the escape
    // is carried to the output as written (Fluent Bit's parser reads it as U+FFFD too).
    let lone = kept_event(r#","requestObject":{"note":"\ud800 and \udc00"}"#);
    assert!(matches!(json(&mut h, &lone), Fate::Kept(_)));
    let out = String::from_utf8(h.last_output.clone()).unwrap();
    assert!(out.contains(r#""note":"\ud800 and \udc00""#), "{out}");
    assert!(out.contains(r#""log_type":"kubeaudit""#), "{out}");
    canary.check(&mut h, "lone surrogates");
    // `\u0000` in a string: processed; the escape stays an escape, so the JSON reply holds
    // no 0x00 byte and Fluent Bit's strdup reads it whole.
    let nul = kept_event(r#","requestObject":{"note":"a\u0000b"}"#);
    let out = kept(json(&mut h, &nul));
    assert_eq!(out["log_type"], "kubeaudit");
    assert!(h.last_output.windows(8).any(|w| w == br"a\u0000b"));
    // msgpack: the string holds a real 0x00 byte, so the reply is the envelope, whole.
    let mp = to_msgpack(&parse(nul.as_bytes()));
    match h.filter(Format::Msgpack, TAG, TIME, &mp) {
        Fate::Kept(bytes) => {
            assert!(!bytes.contains(&0));
            let env: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(env["audit_sieve_error"], "msgpack_output_has_nul");
            let text: String = env["record_json"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
            let record = parse(text.as_bytes());
            assert_eq!(record["requestObject"]["note"], "a\u{0}b");
            assert_eq!(record["log_type"], "kubeaudit");
        }
        other => panic!("{other:?}"),
    }
    canary.check(&mut h, "a NUL in a string");
}

/// The limit is 16 MiB (`limits.max_record_bytes`): a 10 MiB event is processed, a
/// 17 MiB one passes through unread, byte for byte, counted as too large.
#[test]
fn records_below_and_above_the_size_limit() {
    let canary = Canary::new();
    let mut h = host();
    let below = kept_event(&format!(r#","requestObject":{{"data":"{}"}}"#, "x".repeat(10 << 20)));
    assert!(below.len() > 10 << 20 && below.len() < 16 << 20);
    let out = kept(json(&mut h, &below));
    // Processed whole: the body the policy keeps (level Request) is carried, enriched.
    assert_eq!(out["log_type"], "kubeaudit");
    assert_eq!(out["review"], serde_json::json!(["rbac_change"]));
    assert_eq!(out["requestObject"]["data"].as_str().unwrap().len(), 10 << 20);
    canary.check(&mut h, "a 10 MiB event");
    let secret = event(
        "get",
        "alice@example.com",
        Some(r#"{"resource":"secrets","namespace":"shop","name":"db","apiVersion":"v1"}"#),
        &format!(r#","responseObject":{{"data":"{}"}}"#, "x".repeat(10 << 20)),
    );
    let out = kept(json(&mut h, &secret));
    assert!(out.get("responseObject").is_none(), "secret bodies are stripped (Metadata)");
    assert_eq!(out["level"], "Metadata");
    assert!(h.last_output.len() < 4096);
    let above = kept_event(&format!(r#","responseObject":{{"data":"{}"}}"#, "x".repeat(17 << 20)));
    assert_passes(&mut h, above.as_bytes(), "too_large");
    canary.check(&mut h, "a 17 MiB event");
    println!("linear memory after 10 MiB and 17 MiB records: {} MiB", h.memory_size() >> 20);
}

#[test]
fn huge_objects_and_deep_nesting() {
    let canary = Canary::new();
    let mut h = host();
    let keys: Vec<String> = (0..100_000).map(|i| format!(r#""k{i}":{i}"#)).collect();
    let wide = format!("{{{}}}", keys.join(","));
    assert_eq!(json(&mut h, &wide), Fate::Kept(wide.clone().into_bytes()), "not an event: unchanged");
    canary.check(&mut h, "a 100k-key record");
    let wide_event = kept_event(&format!(r#","requestObject":{{{}}}"#, keys.join(",")));
    let out = kept(json(&mut h, &wide_event));
    assert_eq!(out["requestObject"].as_object().unwrap().len(), 100_000);
    assert_eq!(out["actor"]["email"], "alice@example.com");
    canary.check(&mut h, "an event with a 100k-key body");
    // 10k levels inside requestObject: walked without recursion (8 KiB wasm stack in
    // Fluent Bit), processed, the body carried as written.
    let depth = 10_000;
    let deep_body = format!(r#"{}{{"a":1}}{}"#, r#"{"n":["#.repeat(depth), "]}".repeat(depth));
    let deep = kept_event(&format!(r#","requestObject":{deep_body}"#));
    match json(&mut h, &deep) {
        Fate::Kept(out) => {
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(&deep_body));
            assert!(text.contains(r#""log_type":"kubeaudit""#));
        }
        other => panic!("{other:?}"),
    }
    canary.check(&mut h, "a 10k-deep requestObject");
    // The same under a rule that drops: dropped, the body never read.
    assert_eq!(json(&mut h, &dropped_event(&format!(r#","requestObject":{deep_body}"#))), Fate::Dropped);
    canary.check(&mut h, "a dropped 10k-deep event");
}

/// Duplicate members: the first one counts, for the decision and for the fields the
/// module adds; the record's text (both members) is otherwise kept as written.
#[test]
fn duplicate_keys_first_one_wins() {
    let canary = Canary::new();
    let mut h = host();
    // verb: watch (first) then delete: decided as a kube-proxy watch, dropped.
    let watch_first = dropped_event(r#","verb":"delete""#);
    assert_eq!(json(&mut h, &watch_first), Fate::Dropped);
    canary.check(&mut h, "duplicate verbs");
    // delete first, then watch: decided as a delete, kept with both members.
    let delete_first = event("delete", "system:kube-proxy", Some(ENDPOINTS), r#","verb":"watch""#);
    match json(&mut h, &delete_first) {
        Fate::Kept(out) => {
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(r#""verb":"delete""#) && text.contains(r#""verb":"watch""#), "{text}");
        }
        other => panic!("{other:?}"),
    }
    // Two users: the actor is the first.
    let two_users = kept_event(r#","user":{"username":"mallory@example.com"}"#);
    assert_eq!(kept(json(&mut h, &two_users))["actor"]["email"], "alice@example.com");
    canary.check(&mut h, "duplicate users");
}

#[test]
fn numbers_beyond_i64_and_f64() {
    let canary = Canary::new();
    let mut h = host();
    let numbers = r#""big":123456789012345678901234567890,"neg":-123456789012345678901234567890,"tiny":1e-999"#;
    // Numbers are never converted: carried as written.
    let record = kept_event(&format!(r#","requestObject":{{{numbers}}}"#));
    let out = kept(json(&mut h, &record));
    assert_eq!(out["log_type"], "kubeaudit");
    let text = String::from_utf8(h.last_output.clone()).unwrap();
    assert!(text.contains(numbers), "numbers are carried as written: {text}");
    canary.check(&mut h, "numbers beyond i64");
    // A number no double holds: Fluent Bit's parser refuses the text, so the module does
    // not read it as JSON (Fluent Bit never renders one; a reply holding it would be lost).
    for record in
        [kept_event(r#","requestObject":{"huge":1e999}"#), kept_event("").replace(r#""code":200"#, r#""code":-1e999"#)]
    {
        assert_passes(&mut h, record.as_bytes(), "not_json");
        canary.check(&mut h, "a number beyond f64");
    }
    // A dropped event's body is not read.
    assert_eq!(json(&mut h, &dropped_event(r#","requestObject":{"huge":1e999}"#)), Fate::Dropped);
    // The same event carried in a container log's `log` string, where a pod can write it:
    // the line passes through as it is instead of being unwrapped into a reply that
    // Fluent Bit would refuse.
    let carried = serde_json::to_string(&kept_event(r#","requestObject":{"huge":1e999}"#)).unwrap();
    let line = format!(r#"{{"time":"t","stream":"stdout","log":{carried}}}"#);
    assert_eq!(json(&mut h, &line), Fate::Kept(line.clone().into_bytes()));
    canary.check(&mut h, "a number beyond f64 in a log string");
}

/// `objectRef` of the wrong type is not a resource: the event is decided as a
/// non-resource request on its URI; it is never lost.
#[test]
fn object_ref_of_the_wrong_type() {
    let canary = Canary::new();
    let mut h = host();
    for object_ref in [r#""deployments""#, r#"["deployments"]"#, "null", "42", "{}"] {
        // A human's update: kept (the catch-all rule), enriched.
        let record = event("update", "alice@example.com", Some(object_ref), "");
        let out = kept(json(&mut h, &record));
        assert_eq!(out["objectRef"], parse(object_ref.as_bytes()), "carried as written");
        assert_eq!(out["actor"]["email"], "alice@example.com", "{object_ref}");
        canary.check(&mut h, object_ref);
        // kube-proxy's watch with no usable objectRef: the resource rule does not match.
        let record = event("watch", "system:kube-proxy", Some(object_ref), "");
        assert!(matches!(json(&mut h, &record), Fate::Kept(_)), "{object_ref}");
        canary.check(&mut h, object_ref);
    }
}

/// Events missing members: without stage or verb an event is not an audit event and
/// passes through byte for byte; without user or objectRef it is decided on what it has.
#[test]
fn events_missing_members() {
    let canary = Canary::new();
    let mut h = host();
    let bare = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1"}"#;
    assert_eq!(json(&mut h, bare), Fate::Kept(bare.as_bytes().to_vec()));
    canary.check(&mut h, "a bare event");
    let mp = to_msgpack(&parse(bare.as_bytes()));
    assert_eq!(h.filter(Format::Msgpack, TAG, TIME, &mp), Fate::Kept(mp.clone()));
    let no_user = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/namespaces/a/pods/b","objectRef":{"resource":"pods","namespace":"a","name":"b"}}"#;
    let out = kept(json(&mut h, no_user));
    assert_eq!(out["log_type"], "kubeaudit");
    canary.check(&mut h, "an event without user");
    let wrong_types =
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":7,"verb":["get"],"user":"root","requestURI":{}}"#;
    assert!(matches!(json(&mut h, wrong_types), Fate::Kept(_)));
    canary.check(&mut h, "an event of wrong member types");
}

#[test]
fn msgpack_that_json_cannot_carry() {
    let canary = Canary::new();
    let mut h = host();
    let event_json = parse(kept_event("").as_bytes());
    let mut event_mp = to_msgpack(&event_json);
    // Append a bin member to the event's map (fixmap count + 1).
    assert_eq!(event_mp[0] & 0xf0, 0x80);
    event_mp[0] += 1;
    event_mp.extend_from_slice(&[0xa3, b'b', b'i', b'n', 0xc4, 0x03, 1, 2, 3]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("nil", vec![0xc0]),
        ("string", vec![0xa3, b'a', b'b', b'c']),
        ("array of maps", vec![0x91, 0x80]),
        ("top-level ext", vec![0xd4, 0x01, 0x07]),
        ("nil key", vec![0x81, 0xc0, 0x01]),
        ("map key", vec![0x81, 0x80, 0x01]),
        ("event with a bin member", event_mp),
        ("float NaN", vec![0x81, 0xa1, b'f', 0xcb, 0x7f, 0xf8, 1, 1, 1, 1, 1, 1]),
    ];
    for (what, record) in cases {
        assert!(!record.contains(&0), "{what}");
        assert_eq!(h.filter(Format::Msgpack, TAG, TIME, &record), Fate::Kept(record.clone()), "{what}");
        canary.check(&mut h, what);
    }
    let s = stats(&mut h);
    assert!(s["passed"]["not_a_map"].as_u64().unwrap() >= 3, "{s}");
    assert!(s["passed"]["not_representable"].as_u64().unwrap() >= 4, "{s}");
}
