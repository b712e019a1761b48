//! The state of one module instance, and the two event formats Fluent Bit hands over.
//!
//! Safe Rust: [`crate::abi`] turns the host's pointers into slices and calls
//! [`Module::filter_json`] / [`Module::filter_msgpack`], which leave the reply in the
//! module-owned output buffer.

use crate::config::{Config, ConfigError, Source};
use crate::filter::{Engine, Outcome, PassReason};
use crate::json;
use crate::msgpack;
use std::path::PathBuf;

/// What the host should get back.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The record is dropped. The output buffer holds what says so, NUL-terminated: in
    /// JSON mode an empty string; in msgpack mode [`MSGPACK_DROP_MARKER`].
    Drop,
    /// The output buffer holds the reply, NUL-terminated.
    Output,
}

/// msgpack mode's reply for a record a rule drops: the map `{"audit_sieve":"drop"}`, for a
/// `grep` filter after the module to exclude (`Exclude audit_sieve ^drop$`). That mode has
/// no drop result: an empty reply becomes an empty, corrupt body, and an invalid address,
/// which Fluent Bit skips, leaves WAMR's "out of bounds memory access" exception set on
/// the instance, so that the next record's call fails and that record is lost.
pub const MSGPACK_DROP_MARKER: &[u8] = b"\x81\xabaudit_sieve\xa4drop";

/// Where the configuration came from, as reported at start-up and in the stats.
#[derive(Debug)]
pub enum ConfigStatus {
    Defaults,
    File(PathBuf),
    /// Invalid: every record passes through unchanged.
    Invalid(ConfigError),
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub records: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub dropped: u64,
    pub unchanged: u64,
    pub rewritten: u64,
    /// Passed through untouched, by [`PassReason`] (index in `PassReason::ALL`).
    pub passed: [u64; 8],
    /// msgpack results returned as the NUL-free envelope.
    pub envelopes: u64,
}

pub struct Module {
    engine: Option<Engine>,
    pub status: ConfigStatus,
    pub warnings: Vec<String>,
    pub stats: Stats,
    /// The reply handed to the host; valid until the next call.
    out: Vec<u8>,
    /// Working buffers, reused across calls.
    work: Vec<u8>,
    json_in: Vec<u8>,
}

/// Prefix of every line the module writes to stderr (Fluent Bit's log).
pub const LOG_PREFIX: &str = "[audit-sieve]";

impl Module {
    /// Start-up: finds `audit-sieve.yaml` in the accessible directories (in order),
    /// loads and checks it, and reports problems on stderr.
    pub fn start(dirs: &[PathBuf]) -> Module {
        let module = match crate::config::find(dirs) {
            Some(path) => match Config::load(&path) {
                Ok(config) => Module::with_config(&config, Source::File(path)),
                Err(e) => Module::invalid(e),
            },
            None => Module::with_config(&Config::default(), Source::Defaults),
        };
        module.report();
        module
    }

    /// Builds the module from a parsed configuration (`source` resolves the files it names).
    pub fn with_config(config: &Config, source: Source) -> Module {
        match Engine::new(config, &source) {
            Ok((engine, warnings)) => {
                let status = match source {
                    Source::Defaults => ConfigStatus::Defaults,
                    Source::File(p) => ConfigStatus::File(p),
                };
                Module::new(Some(engine), status, warnings)
            }
            Err(e) => Module::invalid(e),
        }
    }

    fn invalid(e: ConfigError) -> Module {
        Module::new(None, ConfigStatus::Invalid(e), Vec::new())
    }

    fn new(engine: Option<Engine>, status: ConfigStatus, warnings: Vec<String>) -> Module {
        Module {
            engine,
            status,
            warnings,
            stats: Stats::default(),
            out: Vec::new(),
            work: Vec::new(),
            json_in: Vec::new(),
        }
    }

    fn report(&self) {
        match &self.status {
            ConfigStatus::Defaults => {
                eprintln!("{LOG_PREFIX} no {} in the accessible paths: embedded defaults", crate::config::FILE_NAME)
            }
            ConfigStatus::File(p) => eprintln!("{LOG_PREFIX} configuration {}", p.display()),
            ConfigStatus::Invalid(e) => {
                eprintln!("{LOG_PREFIX} ERROR: invalid configuration: {e}");
                eprintln!("{LOG_PREFIX} ERROR: every record passes through unchanged until this is fixed");
            }
        }
        for w in &self.warnings {
            eprintln!("{LOG_PREFIX} warning: {w}");
        }
    }

    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// The reply (NUL-terminated) after a call that returned [`Reply::Output`].
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Resets per-call state; called first thing on every entry, so a call that trapped
    /// half-way leaves nothing that affects the next one.
    fn begin(&mut self, record_len: usize) {
        self.out.clear();
        self.work.clear();
        self.json_in.clear();
        self.stats.records += 1;
        self.stats.bytes_in += record_len as u64;
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Drop => self.stats.dropped += 1,
            Outcome::Unchanged => self.stats.unchanged += 1,
            Outcome::Rewritten => self.stats.rewritten += 1,
            Outcome::PassThrough(reason) => {
                let i = PassReason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
                self.stats.passed[i] += 1;
            }
        }
    }

    fn finish(&mut self) -> Reply {
        self.stats.bytes_out += self.out.len() as u64;
        self.out.push(0);
        Reply::Output
    }

    /// `Event_Format json`: the record is JSON text; an empty reply drops it.
    pub fn filter_json(&mut self, record: &[u8], time_sec: u32) -> Reply {
        self.begin(record.len());
        let outcome = match self.engine.as_mut() {
            Some(engine) => engine.process_json(record, time_sec, &mut self.work),
            None => Outcome::PassThrough(PassReason::ConfigError),
        };
        self.count(outcome);
        match outcome {
            Outcome::Drop => {
                self.out.push(0);
                Reply::Drop
            }
            Outcome::Rewritten => {
                std::mem::swap(&mut self.out, &mut self.work);
                self.finish()
            }
            Outcome::Unchanged | Outcome::PassThrough(_) => {
                self.out.extend_from_slice(record);
                self.finish()
            }
        }
    }

    /// `Event_Format msgpack`: the record is a msgpack map. The reply is msgpack that
    /// must hold no 0x00 byte (Fluent Bit reads it with `strlen`); a record that would is
    /// returned as the NUL-free envelope (see [`crate::msgpack`]).
    pub fn filter_msgpack(&mut self, record: &[u8], time_sec: u32) -> Reply {
        self.begin(record.len());
        let converted = msgpack::to_json(record, &mut self.json_in);
        let outcome = match (&converted, self.engine.as_mut()) {
            (_, None) => Outcome::PassThrough(PassReason::ConfigError),
            (_, Some(engine)) if record.len() > engine.max_record_bytes() => Outcome::PassThrough(PassReason::TooLarge),
            (Err(msgpack::MsgpackError::NotAMap), _) => Outcome::PassThrough(PassReason::NotAMap),
            (Err(_), _) => Outcome::PassThrough(PassReason::NotRepresentable),
            (Ok(()), Some(engine)) => engine.process_json(&self.json_in, time_sec, &mut self.work),
        };
        self.count(outcome);
        match outcome {
            Outcome::Drop => {
                self.out.extend_from_slice(MSGPACK_DROP_MARKER);
                self.out.push(0);
                return Reply::Drop;
            }
            Outcome::Rewritten => {
                let text = std::str::from_utf8(&self.work).unwrap_or_default();
                if msgpack::from_json(text, &mut self.out).is_err() {
                    // Our own JSON always converts; fail open if it did not.
                    self.out.clear();
                    self.out.extend_from_slice(record);
                }
            }
            Outcome::Unchanged | Outcome::PassThrough(_) => self.out.extend_from_slice(record),
        }
        if self.out.contains(&0) {
            self.envelope(outcome, converted.is_ok(), record);
        }
        self.finish()
    }

    /// Replaces the reply, which holds a 0x00 byte, with the NUL-free envelope.
    fn envelope(&mut self, outcome: Outcome, converted: bool, record: &[u8]) {
        self.stats.envelopes += 1;
        let out = std::mem::take(&mut self.out);
        let json_text = match outcome {
            Outcome::Rewritten => std::str::from_utf8(&self.work).ok(),
            _ if converted => std::str::from_utf8(&self.json_in).ok(),
            _ => None,
        };
        // The stream, cluster, review and actor fields where Fluent Bit routes on them.
        let tags = match (outcome, &self.engine) {
            (Outcome::Rewritten, Some(engine)) => msgpack::envelope_tags(&out, engine.routing_fields()),
            _ => msgpack::EnvelopeTags::default(),
        };
        let mut envelope = Vec::new();
        match json_text {
            Some(text) => {
                msgpack::nul_free_envelope(msgpack::ENVELOPE_JSON_KEY, &msgpack::ascii_json(text), &tags, &mut envelope)
            }
            None => msgpack::nul_free_envelope(msgpack::ENVELOPE_MSGPACK_KEY, &base64(record), &tags, &mut envelope),
        }
        self.out = envelope;
        drop(out);
    }

    /// The counters and the per-rule dry-run report, as JSON (for the CLI).
    pub fn stats_json(&mut self) -> &[u8] {
        let s = &self.stats;
        let mut o = String::new();
        o.push_str(&format!(
            "{{\"records\":{},\"bytes_in\":{},\"bytes_out\":{},\"dropped\":{},\"unchanged\":{},\"rewritten\":{},\"msgpack_envelopes\":{},\"passed\":{{",
            s.records, s.bytes_in, s.bytes_out, s.dropped, s.unchanged, s.rewritten, s.envelopes
        ));
        for (i, reason) in PassReason::ALL.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str(&format!("\"{}\":{}", reason.as_str(), s.passed[i]));
        }
        o.push_str("},\"config\":");
        let mut quoted = Vec::new();
        let config = match &self.status {
            ConfigStatus::Defaults => "embedded defaults".to_owned(),
            ConfigStatus::File(p) => p.display().to_string(),
            ConfigStatus::Invalid(e) => format!("invalid: {e}"),
        };
        json::write_str(&mut quoted, &config);
        o.push_str(std::str::from_utf8(&quoted).unwrap_or("\"\""));
        o.push_str(",\"rules\":[");
        if let Some(kube) = self.engine.as_ref().and_then(|e| e.kubeaudit.as_ref()) {
            let policy = kube.policy();
            for (i, r) in kube.rule_stats.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                let (level, description) = if i < policy.rules_len() {
                    (policy.rule_level(i).as_str(), policy.describe_rule(i))
                } else {
                    ("None", "no rule matched".to_owned())
                };
                let mut d = Vec::new();
                json::write_str(&mut d, &description);
                o.push_str(&format!(
                    "{{\"index\":{},\"level\":\"{}\",\"description\":{},\"matched\":{},\"dropped\":{},\"stripped\":{},\"bytes_in\":{},\"bytes_out\":{}}}",
                    if i < policy.rules_len() { i.to_string() } else { "null".to_owned() },
                    level,
                    std::str::from_utf8(&d).unwrap_or("\"\""),
                    r.matched,
                    r.dropped,
                    r.stripped,
                    r.bytes_in,
                    r.bytes_out
                ));
            }
        }
        o.push_str("]}");
        self.out.clear();
        self.out.extend_from_slice(o.as_bytes());
        self.out.push(0);
        &self.out
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_encodes() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0, 0xff, 0x10, 0x80]), "AP8QgA==");
    }
}
