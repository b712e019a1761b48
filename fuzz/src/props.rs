//! What every input must satisfy, whatever its bytes. Shared by the libFuzzer targets
//! (`fuzz/fuzz_targets/`) and the deterministic mutation loop of `tests/fuzz_loop.rs`,
//! which runs with `make test`. A violated property panics, which both report as a crash.
//!
//! JSON mode (`Event_Format json`):
//! - a drop (empty reply) happens only when the `dropped` counter says a rule asked for it;
//! - a record that is not rewritten comes back byte for byte (counted as unchanged or as
//!   passed through, with a reason);
//! - a rewritten record is a JSON object whenever the input was one (its grammar checked
//!   with serde_json, without its recursion limit), and is at most [`json_bound`] bytes.
//!
//! msgpack mode (`Event_Format msgpack`):
//! - a drop is the drop marker, never an invalid address;
//! - the reply never holds a 0x00 byte (Fluent Bit reads it with `strlen`);
//! - it is exactly one msgpack value whenever the input was one;
//! - not rewritten and not enveloped: byte for byte the input;
//! - an envelope carries the record whole (its JSON text, or its bytes in base64) and
//!   its headers add at most [`envelope_overhead`], besides at most four top-level copies of
//!   fields added to a rewritten record; any reply is at most [`msgpack_bound`].
//!
//! Configuration: parsing any text, building the engine from what parses, and loading any
//! text as a policy, never panics; an error names the file, a line inside the text (or
//! none) and a reason.

use audit_sieve::config::{Config, Source};
use audit_sieve::filter::Engine;
use audit_sieve::module::{MSGPACK_DROP_MARKER, Module, Reply, Stats};
use audit_sieve::msgpack;
use audit_sieve::policy::{Extensions, Policy};

/// Record time handed to every call (the brute-force window reads it).
pub const TIME: u32 = 1_763_630_000;

/// A configuration with every feature on: the embedded default policy with wildcards,
/// a cluster name, identity maps and OIDC prefixes, response codes to omit, brute-force
/// detection, auditd drop rules and a pgaudit filter.
pub const CONFIG: &str = r#"
cluster:
  name: fuzz-cluster
kubeaudit:
  wildcards: true
  omit_response_codes: [404, 429]
identity:
  oidc_prefixes: ["oidc:", "https://dex.example.com#"]
  users:
    "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs": alice@example.com
    bob: bob@example.com
  ssh_keys:
    "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU": carol@example.com
authlog:
  brute_force: {failures: 3, window_seconds: 60}
auditd:
  drop:
    - comm: [cron]
    - {type: [PROCTITLE], key: ["*noise"]}
pgaudit:
  filter:
    include_objects: [app.users]
    commands: [INSERT, UPDATE, DELETE]
    exclude_users: [app]
"#;

/// The module the targets feed, built from [`CONFIG`].
pub fn module() -> Module {
    let config = Config::parse(CONFIG, "fuzz/audit-sieve.yaml").expect("the fuzz configuration is valid");
    let module = Module::with_config(&config, Source::Defaults);
    assert!(module.engine().is_some(), "the fuzz configuration builds an engine: {:?}", module.status);
    module
}

/// Most bytes a rewritten JSON record can have: each added field is either from the
/// configuration (cluster name, emails: a few dozen bytes here) or copied from parts of
/// the record (the actor's name is the username, the impersonated one another member; an
/// auditd EXECVE record's arguments twice, as `argv` and as `command`), so at most the
/// record three times plus 4 KiB of field names, flags and configured values.
pub fn json_bound(input_len: usize) -> usize {
    3 * input_len + 4096
}

/// Bytes the envelope adds to the text it carries: the map, its error member and key
/// (at most 69 bytes with the array header) and at most 3 bytes of header per chunk.
/// Chunks hold at most 65,535 bytes and their count avoids a zero byte in its header:
/// up to 15, then at least 257, so at most `len / 0xff00 + 258` of them.
pub fn envelope_overhead(text_len: usize) -> usize {
    69 + 3 * (text_len / 0xff00 + 258)
}

/// Most bytes of any msgpack reply: the JSON text of a msgpack record is at most
/// 6 × its bytes + 2 (a control character in a string becomes `\u0001`); a rewrite at
/// most triples it plus 4 KiB ([`json_bound`]); its msgpack is at most 2.25 × that text
/// (`1e9,` becomes a 9-byte float), and the envelope at most 3 × (non-ASCII as `\uXXXX`)
/// plus [`envelope_overhead`].
pub fn msgpack_bound(input_len: usize) -> usize {
    let json = json_bound(6 * input_len + 2);
    // The envelope's top-level copies of added fields: msgpack of part of the same text.
    let tags = 3 * json;
    3 * json + tags + envelope_overhead(3 * json)
}

fn passed(s: &Stats) -> u64 {
    s.passed.iter().sum()
}

/// Checks one JSON-mode call.
pub fn check_json(m: &mut Module, input: &[u8]) {
    let before = m.stats.clone();
    let reply = m.filter_json(input, TIME);
    let after = m.stats.clone();
    let out = m.output();
    assert_eq!(out.last(), Some(&0), "the reply is NUL-terminated");
    let body = &out[..out.len() - 1];
    assert_eq!(after.records, before.records + 1);
    match reply {
        Reply::Drop => {
            assert_eq!(after.dropped, before.dropped + 1, "a drop is counted as a rule's drop");
            assert!(body.is_empty(), "a drop is an empty string");
        }
        Reply::Output if after.rewritten > before.rewritten => {
            assert!(
                body.len() <= json_bound(input.len()),
                "rewritten record of {} bytes from {} bytes",
                body.len(),
                input.len()
            );
            if is_json_object(input) {
                assert!(
                    is_json_object(body),
                    "rewritten record is not a JSON object: {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        Reply::Output => {
            assert_eq!(after.dropped, before.dropped);
            assert_eq!(
                after.unchanged + passed(&after),
                before.unchanged + passed(&before) + 1,
                "the outcome is counted"
            );
            assert!(body == input, "a record not rewritten comes back byte for byte");
        }
    }
}

/// Checks one msgpack-mode call.
pub fn check_msgpack(m: &mut Module, input: &[u8]) {
    let before = m.stats.clone();
    let reply = m.filter_msgpack(input, TIME);
    let after = m.stats.clone();
    if reply == Reply::Drop {
        assert_eq!(after.dropped, before.dropped + 1, "a drop is counted as a rule's drop");
        let out = m.output();
        assert_eq!(out, [MSGPACK_DROP_MARKER, &[0]].concat(), "a drop is the drop marker");
        return;
    }
    assert_eq!(after.dropped, before.dropped);
    let out = m.output();
    assert_eq!(out.last(), Some(&0), "the reply is NUL-terminated");
    let body = &out[..out.len() - 1];
    assert!(!body.contains(&0), "msgpack reply holds a 0x00 byte: {body:x?}");
    assert!(body.len() <= msgpack_bound(input.len()), "{} bytes from {}", body.len(), input.len());
    let rewritten = after.rewritten > before.rewritten;
    if after.envelopes > before.envelopes {
        assert!(is_one_msgpack_value(body), "the envelope is one msgpack value");
        let Envelope { key, text, chunks, tags, tag_bytes } = read_envelope(body).expect("a well-formed envelope");
        assert!(body.len() <= text.len() + tag_bytes + envelope_overhead(text.len()), "{chunks} chunks");
        assert!(rewritten || tags == 0, "only a rewritten record has added fields to copy");
        assert!(tags <= 4, "the stream, cluster, review and actor fields at most");
        assert!(text.is_ascii());
        if key == msgpack::ENVELOPE_MSGPACK_KEY {
            assert!(!rewritten, "a rewritten record is carried as JSON");
            assert_eq!(text, base64(input), "the envelope carries the record's bytes");
        } else {
            assert_eq!(key, msgpack::ENVELOPE_JSON_KEY);
            assert!(is_json_object(text.as_bytes()), "the envelope's JSON is an object: {text}");
            if !rewritten {
                let mut json = Vec::new();
                msgpack::to_json(input, &mut json).expect("enveloped JSON comes from a readable record");
                let json = String::from_utf8(json).expect("to_json writes UTF-8");
                assert_eq!(text, msgpack::ascii_json(&json), "the envelope carries the record's JSON");
            }
        }
    } else if rewritten {
        assert!(is_one_msgpack_value(body), "a rewritten record is one msgpack value");
    } else {
        assert!(body == input, "a record not rewritten comes back byte for byte");
    }
    if is_one_msgpack_value(input) {
        assert!(is_one_msgpack_value(body), "one value in, one value out");
    }
}

/// Checks the configuration loader, the engine built from it and the policy loader.
pub fn check_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // YAML breaks lines at LF, CRLF and a lone CR; an error at the end of the text may
    // name the line after the last break.
    let breaks =
        text.bytes().filter(|&b| b == b'\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
    let last_line = breaks + 1;
    let check = |file: &str, expected: &str, line: Option<usize>, message: &str| {
        assert_eq!(file, expected, "errors name the file");
        assert!(!message.trim().is_empty(), "errors give a reason");
        if let Some(line) = line {
            assert!((1..=last_line).contains(&line), "line {line} of a text of {last_line} lines: {message}");
        }
    };
    match Config::parse(text, "fuzz/audit-sieve.yaml") {
        Ok(mut config) => {
            // Only the text is under test: files it names are not opened.
            config.kubeaudit.policy_file = None;
            config.identity.map_file = None;
            if let Err(e) = Engine::new(&config, &Source::File("/nonexistent/fuzz/audit-sieve.yaml".into())) {
                check(e.file(), "/nonexistent/fuzz/audit-sieve.yaml", e.line(), e.message());
            }
        }
        Err(e) => check(e.file(), "fuzz/audit-sieve.yaml", e.line(), e.message()),
    }
    for wildcards in [false, true] {
        if let Err(e) = Policy::from_yaml(text, "fuzz/policy.yaml", Extensions { wildcards }) {
            check("fuzz/policy.yaml", "fuzz/policy.yaml", e.line(), e.message());
        }
    }
}

/// One JSON object, read by serde_json without a recursion limit (on a grown stack).
pub fn is_json_object(bytes: &[u8]) -> bool {
    // The grammar only (`IgnoredAny`): a number of any size is JSON (RFC 8259) and is
    // carried as written, though no f64 holds `2E666…`, which a `Value` would refuse.
    let opens_object = bytes.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b'{');
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let value = <serde::de::IgnoredAny as serde::Deserialize>::deserialize(serde_stacker::Deserializer::new(&mut de));
    opens_object && std::str::from_utf8(bytes).is_ok() && value.is_ok() && de.end().is_ok()
}

/// Exactly one well-formed msgpack value and nothing after it (iterative).
pub fn is_one_msgpack_value(b: &[u8]) -> bool {
    msgpack_value_end(b, 0) == Some(b.len())
}

/// The end of the one well-formed msgpack value at `start` (iterative).
pub fn msgpack_value_end(b: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    let mut pending: u64 = 1;
    let be = |pos: &mut usize, n: usize| -> Option<u64> {
        let s = b.get(*pos..pos.checked_add(n)?)?;
        *pos += n;
        Some(s.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    };
    let skip = |pos: &mut usize, n: u64| -> Option<()> {
        let end = pos.checked_add(usize::try_from(n).ok()?)?;
        (end <= b.len()).then(|| *pos = end)
    };
    while pending > 0 {
        pending -= 1;
        let &m = b.get(pos)?;
        pos += 1;
        let ok = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Some(()),
            0x80..=0x8f => {
                pending += 2 * u64::from(m & 0x0f);
                Some(())
            }
            0x90..=0x9f => {
                pending += u64::from(m & 0x0f);
                Some(())
            }
            0xa0..=0xbf => skip(&mut pos, u64::from(m & 0x1f)),
            0xc1 => None,
            0xc4 | 0xd9 => be(&mut pos, 1).and_then(|n| skip(&mut pos, n)),
            0xc5 | 0xda => be(&mut pos, 2).and_then(|n| skip(&mut pos, n)),
            0xc6 | 0xdb => be(&mut pos, 4).and_then(|n| skip(&mut pos, n)),
            0xc7 => be(&mut pos, 1).and_then(|n| skip(&mut pos, n + 1)),
            0xc8 => be(&mut pos, 2).and_then(|n| skip(&mut pos, n + 1)),
            0xc9 => be(&mut pos, 4).and_then(|n| skip(&mut pos, n + 1)),
            0xca | 0xce | 0xd2 => skip(&mut pos, 4),
            0xcb | 0xcf | 0xd3 => skip(&mut pos, 8),
            0xcc | 0xd0 => skip(&mut pos, 1),
            0xcd | 0xd1 => skip(&mut pos, 2),
            0xd4 => skip(&mut pos, 2),
            0xd5 => skip(&mut pos, 3),
            0xd6 => skip(&mut pos, 5),
            0xd7 => skip(&mut pos, 9),
            0xd8 => skip(&mut pos, 17),
            0xdc => be(&mut pos, 2).map(|n| pending += n),
            0xdd => be(&mut pos, 4).map(|n| pending += n),
            0xde => be(&mut pos, 2).map(|n| pending += 2 * n),
            0xdf => be(&mut pos, 4).map(|n| pending += 2 * n),
        };
        ok?;
    }
    Some(pos)
}

/// An envelope read by [`read_envelope`].
pub struct Envelope {
    /// `record_json` or `record_msgpack_base64`.
    pub key: String,
    /// The chunks joined.
    pub text: String,
    pub chunks: usize,
    /// How many members were copied to the top level, and their bytes.
    pub tags: usize,
    pub tag_bytes: usize,
}

/// Reads `{audit_sieve_error: msgpack_output_has_nul, <tags>, key: [chunks]}`.
pub fn read_envelope(b: &[u8]) -> Option<Envelope> {
    let mut pos = 0;
    let byte = |pos: &mut usize| -> Option<u8> {
        let x = *b.get(*pos)?;
        *pos += 1;
        Some(x)
    };
    let str_at = |pos: &mut usize| -> Option<String> {
        let m = byte(pos)?;
        let len = match m {
            0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => usize::from(byte(pos)?),
            0xda => (usize::from(byte(pos)?) << 8) | usize::from(byte(pos)?),
            _ => return None,
        };
        let s = b.get(*pos..*pos + len)?;
        *pos += len;
        String::from_utf8(s.to_vec()).ok()
    };
    let members = match byte(&mut pos)? {
        m @ 0x82..=0x8f => usize::from(m & 0x0f),
        _ => return None,
    };
    if str_at(&mut pos)? != msgpack::ENVELOPE_ERROR_KEY || str_at(&mut pos)? != msgpack::ENVELOPE_ERROR {
        return None;
    }
    let tags_start = pos;
    for _ in 2..members {
        str_at(&mut pos)?;
        pos = msgpack_value_end(b, pos)?;
    }
    let tag_bytes = pos - tags_start;
    let key = str_at(&mut pos)?;
    let m = byte(&mut pos)?;
    let n = match m {
        0x90..=0x9f => usize::from(m & 0x0f),
        0xdc => (usize::from(byte(&mut pos)?) << 8) | usize::from(byte(&mut pos)?),
        _ => return None,
    };
    let mut text = String::new();
    for _ in 0..n {
        text.push_str(&str_at(&mut pos)?);
    }
    (pos == b.len()).then_some(Envelope { key, text, chunks: n, tags: members - 2, tag_bytes })
}

/// Standard base64 with padding, as the envelope writes it.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() { char::from(A[((n >> (18 - 6 * i)) & 63) as usize]) } else { '=' });
        }
    }
    out
}
