//! One record in, one outcome out: the pipeline every stream goes through.
//!
//! The record is checked (size, UTF-8, JSON object), its stream recognised, the stream's
//! rules applied, and the common fields (stream, cluster, actor, review flags) added. A
//! record that is not understood passes through unchanged with the reason counted; only a
//! rule can drop a record.

use crate::config::{Config, ConfigError, Source, field_path};
use crate::ecs::Ecs;
use crate::hoststreams::{HostStreams, Verdict};
use crate::identity::Identity;
use crate::json::{self, Edits, Key};
use crate::kubeaudit::{self, KubeAudit};
use crate::policy::{Extensions, Policy};
use std::borrow::Cow;

/// Why a record passed through untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassReason {
    TooLarge,
    NotUtf8,
    NotJson,
    NotAnObject,
    /// msgpack mode: the body is not a map.
    NotAMap,
    /// msgpack mode: a value JSON cannot carry (bin, ext, non-string keys, NaN).
    NotRepresentable,
    /// The configuration is invalid; every record passes through.
    ConfigError,
    /// An audit event carried in a container log line's string, nested deeper than Fluent
    /// Bit can hold a record ([`FLUENT_BIT_MAX_DEPTH`]): the line passes through as it is.
    TooDeep,
}

impl PassReason {
    pub const ALL: [PassReason; 8] = [
        PassReason::TooLarge,
        PassReason::NotUtf8,
        PassReason::NotJson,
        PassReason::NotAnObject,
        PassReason::NotAMap,
        PassReason::NotRepresentable,
        PassReason::ConfigError,
        PassReason::TooDeep,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PassReason::TooLarge => "too_large",
            PassReason::NotUtf8 => "not_utf8",
            PassReason::NotJson => "not_json",
            PassReason::NotAnObject => "not_an_object",
            PassReason::NotAMap => "not_a_map",
            PassReason::NotRepresentable => "not_representable",
            PassReason::ConfigError => "config_error",
            PassReason::TooDeep => "too_deep",
        }
    }
}

/// The deepest record Fluent Bit can hold, the record's own map counting 1: its msgpack
/// reader (msgpack-c, built with `MSGPACK_EMBED_STACK_SIZE=64`) cannot read a chunk past a
/// record nested deeper inside its `[[time, metadata], body]` entry, and so loses that
/// record and every later one in the chunk (seen in Fluent Bit 5.1.1: a body 63 deep
/// passed, 64 deep lost the chunk's rest).
pub const FLUENT_BIT_MAX_DEPTH: usize = 63;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A rule asked for the record to be dropped.
    Drop,
    /// Understood, nothing to change (not a known stream, or a stream left as it is).
    Unchanged,
    /// The output buffer holds the new record.
    Rewritten,
    /// Not understood: returned byte for byte.
    PassThrough(PassReason),
}

/// Output field names, split and written as JSON once at start-up.
struct FieldPaths {
    stream: Vec<Key>,
    cluster: Vec<Key>,
    review: Vec<Key>,
    actor: Vec<Key>,
}

pub struct Engine {
    fields: FieldPaths,
    /// The top-level members the added fields live in (the first part of each field path,
    /// once each): what the msgpack envelope copies to its top level.
    routing_fields: Vec<String>,
    cluster_name: String,
    /// `cluster_name` as a JSON string, written once.
    cluster_json: Vec<u8>,
    cluster_from: Option<Vec<String>>,
    max_record_bytes: usize,
    identity: Identity,
    pub kubeaudit: Option<KubeAudit>,
    /// Elastic Common Schema values of the current record, when `fields.ecs` asks for them.
    ecs: Option<Ecs>,
    hoststreams: HostStreams,
    scratch: Scratch,
    /// The event a container log record carries as a string, decoded by the walk that
    /// listed its members ([`kubeaudit::walk_container_log`]).
    carried: json::Decoded,
}

/// Buffers reused from one audit event to the next, so that reading an event allocates
/// nothing once they have grown.
#[derive(Default)]
struct Scratch {
    members: Vec<json::Member>,
    edits: Edits,
    review: Vec<&'static str>,
    actor: Vec<u8>,
    /// The members of a record that is no audit event, when the audit-event walk read
    /// them all; left alone by [`Scratch::clear`], emptied for each record.
    record_members: Vec<json::Member>,
}

impl Scratch {
    fn clear(&mut self) {
        self.members.clear();
        self.edits.clear();
        self.review.clear();
        self.actor.clear();
    }
}

/// The stream names written to the stream field.
pub mod streams {
    pub const KUBEAUDIT: &str = "kubeaudit";
}

impl Engine {
    /// Builds the engine from a parsed configuration, reading the files it names.
    /// Returns the lint warnings to report at start-up.
    pub fn new(config: &Config, source: &Source) -> Result<(Engine, Vec<String>), ConfigError> {
        let mut warnings = Vec::new();
        let identity = Identity::new(&config.identity, source)?;
        let kubeaudit = if config.kubeaudit.enabled {
            let ext = Extensions { wildcards: config.kubeaudit.wildcards };
            let policy = load_policy(config, source, ext, &mut warnings)?;
            Some(KubeAudit::new(
                policy,
                config.kubeaudit.omit_response_codes.clone(),
                config.kubeaudit.bodies_as_strings,
            ))
        } else {
            None
        };
        let [stream, cluster, review, actor] =
            [&config.fields.stream, &config.fields.cluster, &config.fields.review, &config.fields.actor]
                .map(|p| field_path(p));
        let mut routing_fields: Vec<String> = Vec::new();
        for path in [&stream, &cluster, &review, &actor] {
            if let Some(top) = path.first()
                && !routing_fields.contains(top)
            {
                routing_fields.push(top.clone());
            }
        }
        let keys = |path: Vec<String>| path.iter().map(|part| Key::new(part)).collect();
        let fields =
            FieldPaths { stream: keys(stream), cluster: keys(cluster), review: keys(review), actor: keys(actor) };
        let mut cluster_json = Vec::new();
        json::write_str(&mut cluster_json, &config.cluster.name);
        let hoststreams = HostStreams::new(config).map_err(|e| ConfigError::new(source_name(source), None, e))?;
        let engine = Engine {
            fields,
            routing_fields,
            cluster_name: config.cluster.name.clone(),
            cluster_json,
            cluster_from: (!config.cluster.from_field.is_empty()).then(|| field_path(&config.cluster.from_field)),
            max_record_bytes: config.limits.max_record_bytes,
            identity,
            kubeaudit,
            hoststreams,
            ecs: config.fields.ecs.then(Ecs::default),
            scratch: Scratch::default(),
            carried: json::Decoded::default(),
        };
        Ok((engine, warnings))
    }

    /// The top-level members the added fields live in, for the msgpack envelope.
    pub fn routing_fields(&self) -> &[String] {
        &self.routing_fields
    }

    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    /// Processes one JSON record. On [`Outcome::Rewritten`] the new record is in `out`.
    /// `time_sec` is the record time Fluent Bit passes (used by the brute-force window).
    pub fn process_json(&mut self, record: &[u8], time_sec: u32, out: &mut Vec<u8>) -> Outcome {
        if record.len() > self.max_record_bytes {
            return Outcome::PassThrough(PassReason::TooLarge);
        }
        // The common case first: the record is an audit event (tail with a JSON parser).
        // It is read on its bytes, as far as the decision needs. A container log line (a
        // host line, or an event as a string in it) is told by its first key and walked
        // once, its event decoded on the way.
        let start = json::skip_ws(record, 0);
        let mut walked = None;
        self.scratch.record_members.clear();
        self.carried.clear();
        let object = record.get(start) == Some(&b'{');
        if object
            && self.kubeaudit.is_some()
            && kubeaudit::walk_container_log(record, start, &mut self.scratch.record_members, &mut self.carried)
        {
            walked = Some(start);
        } else if object {
            match self.kube_event(record, start, record.len(), None, out) {
                Ok(Some(outcome)) => return outcome,
                // Not an audit event. When the walk went to its end, the object is checked
                // and its member list serves the rest (no second walk); what follows the
                // object must be whitespace.
                Ok(None) if self.kubeaudit.is_some() => {
                    let Scratch { members, record_members, .. } = &mut self.scratch;
                    std::mem::swap(members, record_members);
                    if let Some(last) = record_members.last() {
                        let after = json::skip_ws(record, last.value.end) + 1;
                        if !only_whitespace(&record[after..]) {
                            return Outcome::PassThrough(PassReason::NotJson);
                        }
                        walked = Some(start);
                    }
                }
                Ok(None) => {}
                Err(reason) => return Outcome::PassThrough(reason),
            }
        }
        // A container log line whose event the walk decoded is read as bytes from here on, and
        // `json::is_utf8` checks it at half the cost of `str::from_utf8`; any other record is
        // read as text (host lines are parsed as text).
        let text = match self.carried.is_empty() {
            true => std::str::from_utf8(record).ok(),
            false => None,
        };
        if text.is_none() && !json::is_utf8(record) {
            return Outcome::PassThrough(PassReason::NotUtf8);
        }
        // A record that is returned unchanged needs no more checking; one that is rewritten
        // is validated by the rewrite itself.
        let start = match walked.map_or_else(|| json::validate_object(record), Ok) {
            Ok(start) => start,
            Err(json::JsonError::NotAnObject) => return Outcome::PassThrough(PassReason::NotAnObject),
            Err(_) => return Outcome::PassThrough(PassReason::NotJson),
        };
        // An event carried as a JSON string in `log` or `message` (tail without a parser).
        let carried = std::mem::take(&mut self.carried);
        let outcome = self.carried_event(record, start, &carried, out);
        self.carried = carried;
        if let Some(outcome) = outcome {
            return outcome;
        }
        // Checked as UTF-8 above: only a line that carried no event is converted here.
        match text.or_else(|| std::str::from_utf8(record).ok()) {
            Some(text) => self.host_stream(text, start, time_sec, out),
            None => Outcome::PassThrough(PassReason::NotUtf8),
        }
    }

    /// The outcome for the audit event carried as a string in a [`kubeaudit::CARRIERS`]
    /// member of the (checked) record `text`, if it carries one; `carried` may hold that
    /// string decoded.
    fn carried_event(
        &mut self,
        record: &[u8],
        start: usize,
        carried: &json::Decoded,
        out: &mut Vec<u8>,
    ) -> Option<Outcome> {
        for key in kubeaudit::CARRIERS {
            let known = &self.scratch.record_members;
            let found = match known.is_empty() {
                true => json::find_member(record, start, key).ok().flatten(),
                false => known.iter().find(|m| m.key_is(record, key)).copied(),
            };
            let Some(m) = found else { continue };
            // Decoded as bytes: the record is UTF-8, so the event is.
            let Some(inner) = carried.value_of(&m).map(Cow::Borrowed).or_else(|| m.value_bytes(record)) else {
                continue;
            };
            let inner_text = inner.trim_ascii();
            if !inner_text.starts_with(b"{") {
                continue;
            }
            match self.kube_event(inner_text, 0, record.len(), Some((record, start, key)), out) {
                Ok(Some(outcome)) => return Some(outcome),
                Err(PassReason::TooDeep) => return Some(Outcome::PassThrough(PassReason::TooDeep)),
                _ => {}
            }
        }
        None
    }

    /// Runs `f` with the buffers reused from record to record (the ECS values and the
    /// scratch, emptied) taken out of the engine, and puts them back afterwards.
    fn with_buffers<R>(&mut self, f: impl FnOnce(&mut Self, Option<&mut Ecs>, &mut Scratch) -> R) -> R {
        let mut ecs = self.ecs.take();
        if let Some(e) = ecs.as_mut() {
            e.clear();
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let result = f(self, ecs.as_mut(), &mut scratch);
        self.ecs = ecs;
        self.scratch = scratch;
        result
    }

    /// sshd/sudo/su, auditd and pgaudit lines (see [`crate::hoststreams`]).
    fn host_stream(&mut self, text: &str, start: usize, time_sec: u32, out: &mut Vec<u8>) -> Outcome {
        self.with_buffers(|engine, ecs, scratch| engine.host_stream_with(text, start, time_sec, out, ecs, scratch))
    }

    fn host_stream_with(
        &mut self,
        text: &str,
        start: usize,
        time_sec: u32,
        out: &mut Vec<u8>,
        mut ecs: Option<&mut Ecs>,
        scratch: &mut Scratch,
    ) -> Outcome {
        let Scratch { edits, review, actor, record_members, .. } = scratch;
        // The record's members when a walk has listed them all already (the object and
        // what follows it checked then).
        let known = (!record_members.is_empty()).then_some(&record_members[..]);
        let verdict = self.hoststreams.process(
            text,
            start,
            known,
            time_sec,
            &self.identity,
            edits,
            review,
            actor,
            ecs.as_deref_mut(),
        );
        match verdict {
            None => Outcome::Unchanged,
            Some(Verdict::Drop) => Outcome::Drop,
            Some(Verdict::Keep(stream)) => {
                let b = text.as_bytes();
                self.common_fields(b, start, None, stream, review, actor, ecs.as_deref(), edits);
                out.clear();
                let complete = match known {
                    Some(members) => json::rewrite_members(b, members, edits, out).is_ok(),
                    None => json::rewrite_object(b, start, edits, out).is_ok_and(|end| only_whitespace(&b[end..])),
                };
                if complete {
                    Outcome::Rewritten
                } else {
                    out.clear();
                    Outcome::PassThrough(PassReason::NotJson)
                }
            }
        }
    }

    /// Handles a Kubernetes audit event at `start` of `b`; `Ok(None)` if it is not one.
    /// `wrapper` is the enclosing record when the event came as a string in its `key`:
    /// the output is then the event's members followed by the wrapper's other members.
    fn kube_event(
        &mut self,
        b: &[u8],
        start: usize,
        record_len: usize,
        wrapper: Option<(&[u8], usize, &str)>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Outcome>, PassReason> {
        self.with_buffers(|engine, ecs, scratch| {
            engine.kube_event_with(b, start, record_len, wrapper, out, ecs, scratch)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn kube_event_with(
        &mut self,
        b: &[u8],
        start: usize,
        record_len: usize,
        wrapper: Option<(&[u8], usize, &str)>,
        out: &mut Vec<u8>,
        mut ecs: Option<&mut Ecs>,
        scratch: &mut Scratch,
    ) -> Result<Option<Outcome>, PassReason> {
        let Some(kube) = self.kubeaudit.as_mut() else { return Ok(None) };
        let Scratch { members, edits, review, actor, record_members } = scratch;
        let Some(verdict) =
            kube.process(b, start, &self.identity, members, edits, review, actor, ecs.as_deref_mut())?
        else {
            return Ok(None);
        };
        let stats_index = verdict.rule.unwrap_or(kube.rule_stats.len() - 1);
        let stats = &mut kube.rule_stats[stats_index];
        stats.matched += 1;
        stats.bytes_in += record_len as u64;
        if verdict.drop {
            stats.dropped += 1;
            return Ok(Some(Outcome::Drop));
        }
        if verdict.stripped {
            stats.stripped += 1;
        }
        let text = verdict.text;
        let kind = crate::filter::streams::KUBEAUDIT;
        self.common_fields(text, start, wrapper, kind, review, actor, ecs.as_deref(), edits);
        if let Some((outer, outer_start, key)) = wrapper {
            // Carry the wrapper's other members (Kubernetes metadata, tags) along, unless the
            // event has a member of that name. Both member lists are at hand when the walks
            // listed them: neither the wrapper's long string nor the event is read again.
            let mut failed = false;
            // The places of the dotted fields' edits applied to the wrapper's objects.
            let mut merged = Vec::new();
            // The fields the module adds, appended before the wrapper's members are.
            let own_fields = edits.appended();
            let mut carry = |m: &json::Member| {
                if m.key_is(outer, key) || edits.appends_member(outer, m, own_fields) {
                    // A field the module adds replaces the wrapper's member of that name, as
                    // it replaces a record's own. A key the wrapper has twice stays twice.
                    return;
                }
                let name = json::unescape_bytes(&outer[m.key.start..m.key.end]);
                // The record is UTF-8 (checked): never lossy.
                let name = String::from_utf8_lossy(&name);
                if members.iter().any(|own| own.key_is(text, &name)) {
                    return;
                }
                let value = &outer[m.value.start..m.value.end];
                // The object a dotted field goes in (`kubernetes.cluster_name`): the wrapper's
                // (each copy of it), with the field added; over a scalar, the field's object.
                let edited = edits.nested(outer, m).map(|(place, inner)| {
                    let (object, at) =
                        if value.first() == Some(&b'{') { (outer, m.value.start) } else { (&b"{}"[..], 0) };
                    let mut edited = Vec::new();
                    failed |= json::rewrite_object(object, at, inner, &mut edited).is_err();
                    merged.push(place);
                    edited
                });
                edits.append(&name, edited.as_deref().unwrap_or(value));
            };
            if record_members.is_empty() {
                let _ = json::Members::over(outer, outer_start).map(|mut walk| {
                    while let Ok(Some(m)) = walk.next_member() {
                        carry(&m);
                    }
                });
            } else {
                record_members.iter().for_each(carry);
            }
            edits.forget_nested(&merged);
            if failed {
                return Err(PassReason::NotJson);
            }
        }
        // The rewrite validates every member it copies; whatever follows the object must be
        // whitespace. Anything else: the record passes through untouched.
        out.clear();
        let complete =
            only_whitespace(&text[verdict.end..]) && json::rewrite_members(text, members, edits, out).is_ok();
        if !complete {
            out.clear();
            return Err(PassReason::NotJson);
        }
        // An event carried in a string becomes the record: Fluent Bit must be able to hold
        // it. The reply is measured, not the event: stripped bodies are not in it. (A record
        // Fluent Bit handed over whole, it holds already.)
        let too_deep = wrapper.is_some() && json::nesting_exceeds(out, FLUENT_BIT_MAX_DEPTH);
        if let Some(kube) = self.kubeaudit.as_mut() {
            // A line left as it is goes on whole.
            kube.rule_stats[stats_index].bytes_out += if too_deep { record_len } else { out.len() } as u64;
        }
        if too_deep {
            out.clear();
            return Err(PassReason::TooDeep);
        }
        Ok(Some(Outcome::Rewritten))
    }

    /// Stream, cluster, actor and review fields, common to every stream.
    #[allow(clippy::too_many_arguments)]
    fn common_fields(
        &self,
        text: &[u8],
        start: usize,
        wrapper: Option<(&[u8], usize, &str)>,
        stream: &str,
        review: &[&'static str],
        actor: &[u8],
        ecs: Option<&Ecs>,
        edits: &mut Edits,
    ) {
        edits.set_path_with(&self.fields.stream, |out| write_own_name(out, stream));
        let from_record = self.cluster_from.as_ref().and_then(|path| {
            lookup_string(text, start, path)
                .or_else(|| wrapper.and_then(|(outer, outer_start, _)| lookup_string(outer, outer_start, path)))
        });
        let cluster = from_record.as_deref().unwrap_or(&self.cluster_name);
        match &from_record {
            _ if cluster.is_empty() => {}
            Some(from_record) => edits.set_path_str(&self.fields.cluster, from_record),
            None => edits.set_path(&self.fields.cluster, &self.cluster_json),
        }
        if let Some(ecs) = ecs {
            ecs.write(Some(cluster), edits);
        }
        if !actor.is_empty() {
            edits.set_path(&self.fields.actor, actor);
        }
        if !review.is_empty() {
            edits.set_path_with(&self.fields.review, |list| {
                list.push(b'[');
                for (i, flag) in review.iter().enumerate() {
                    if i > 0 {
                        list.push(b',');
                    }
                    write_own_name(list, flag);
                }
                list.push(b']');
            });
        }
    }
}

/// A name of the module's own (a stream, a review flag), plain ASCII: written as a JSON
/// string without looking for what to escape.
fn write_own_name(out: &mut Vec<u8>, name: &str) {
    debug_assert!(name.bytes().all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\\'), "{name}");
    out.reserve(name.len() + 2);
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
}

fn source_name(source: &Source) -> String {
    match source {
        Source::File(p) => p.display().to_string(),
        Source::Defaults => "audit-sieve.yaml".to_owned(),
    }
}

fn only_whitespace(rest: &[u8]) -> bool {
    json::skip_ws(rest, 0) == rest.len()
}

/// A string at a dotted path of the object at `start`.
fn lookup_string(b: &[u8], start: usize, path: &[String]) -> Option<String> {
    let mut at = start;
    for (i, part) in path.iter().enumerate() {
        let m = json::find_member(b, at, part).ok()??;
        if i + 1 == path.len() {
            return m.value_str_at(b).map(|s| s.into_owned());
        }
        if b[m.value.start] != b'{' {
            return None;
        }
        at = m.value.start;
    }
    None
}

fn load_policy(
    config: &Config,
    source: &Source,
    ext: Extensions,
    warnings: &mut Vec<String>,
) -> Result<Policy, ConfigError> {
    let (loaded, origin) = if let Some(named) = &config.kubeaudit.policy_file {
        let path = source.resolve(named);
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::new(&shown, None, format!("kubeaudit.policy_file: cannot read: {e}")))?;
        (Policy::from_yaml(&text, &shown, ext), shown)
    } else if let Some(doc) = &config.kubeaudit.policy {
        // Inline: lines are those of audit-sieve.yaml itself.
        let origin = match source {
            Source::File(p) => p.display().to_string(),
            Source::Defaults => "audit-sieve.yaml".to_owned(),
        };
        let at = [crate::yaml::Seg::Key("kubeaudit".into()), crate::yaml::Seg::Key("policy".into())];
        (Policy::from_node(doc, &at, &origin, ext), origin)
    } else {
        return Ok(Policy::default_policy());
    };
    let (policy, lint) = loaded.map_err(|e| ConfigError::new(&origin, e.line(), e.message()))?;
    warnings.extend(lint.iter().map(|w| w.to_string()));
    Ok(policy)
}
