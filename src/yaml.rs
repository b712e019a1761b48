//! YAML loading without recursion on the input's nesting.
//!
//! The filter runs on a small wasm operand stack, so the YAML text is turned into a
//! `serde_yaml_ng::Value` by one loop over the events of `yaml_rust2`'s parser (itself a
//! state machine) with the open collections kept in a heap-allocated stack. Beside the value,
//! the loader records the line every node starts on, so that errors found later, while
//! deserialising the value into configuration types, can name a line.
//!
//! Nesting is limited to [`MAX_DEPTH`] levels. That limit is what keeps every later recursive
//! step bounded: serde's deserialisation of the value, `Value::clone` for aliases, and
//! `Value`'s own `Drop`, which is recursive.

use std::collections::HashMap;
use std::fmt;

use serde_yaml_ng::{Mapping, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// Deepest nesting of sequences and mappings accepted (aliases counted as expanded).
/// `serde_yaml_ng::Value`'s `Drop` is recursive; this limit is what makes dropping safe.
pub const MAX_DEPTH: usize = 64;

/// The key whose value's members are merged into its mapping.
const MERGE_KEY: &str = "<<";

/// Most nodes a document may have once its aliases are expanded.
pub const MAX_NODES: usize = 1_000_000;

/// A parsed YAML document as a `serde_yaml_ng::Value`, plus where each node came from.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    lines: Lines,
    /// What [`parse_as_apiserver`] read leniently: the line and what was done.
    pub lenient: Vec<(usize, String)>,
}

/// How a text is read: strictly (the module's own files), or as the apiserver reads an
/// audit policy file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    Strict,
    AsApiserver,
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// An error while reading YAML, with the 1-based line it concerns when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: Option<usize>,
    pub message: String,
}

impl YamlError {
    fn at(line: usize, message: impl Into<String>) -> YamlError {
        YamlError { line: Some(line), message: message.into() }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for YamlError {}

impl Document {
    /// 1-based line of the node at `path` (for a mapping entry: the line of its key); the
    /// nearest existing ancestor's line when the path does not exist.
    pub fn line(&self, path: &[Seg]) -> Option<usize> {
        self.lines.line(path)
    }
}

/// Source lines of the nodes of a document, in a flat arena (dropping it never recurses).
#[derive(Debug, Clone, Default)]
struct Lines {
    nodes: Vec<LineNode>,
    root: Option<usize>,
}

#[derive(Debug, Clone)]
struct LineNode {
    line: usize,
    kids: Kids,
}

#[derive(Debug, Clone)]
enum Kids {
    Leaf,
    Seq(Vec<usize>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone)]
struct Entry {
    /// The key as a path segment would name it; `None` for keys that are collections.
    name: Option<String>,
    key_line: usize,
    value: usize,
}

impl Lines {
    fn line(&self, path: &[Seg]) -> Option<usize> {
        let mut node = &self.nodes[self.root?];
        let mut line = node.line;
        for seg in path {
            let next = match (seg, &node.kids) {
                (Seg::Index(i), Kids::Seq(items)) => items.get(*i).map(|&n| {
                    let n = &self.nodes[n];
                    (n, n.line)
                }),
                (Seg::Key(key), Kids::Map(entries)) => entries
                    .iter()
                    .find(|e| e.name.as_deref() == Some(key.as_str()))
                    .map(|e| (&self.nodes[e.value], e.key_line)),
                _ => None,
            };
            match next {
                Some((n, l)) => {
                    node = n;
                    line = l;
                }
                None => break,
            }
        }
        Some(line)
    }

    fn push(&mut self, line: usize, kids: Kids) -> usize {
        self.nodes.push(LineNode { line, kids });
        self.nodes.len() - 1
    }
}

/// A collection still being read.
struct Frame {
    coll: Coll,
    node: usize,
    line: usize,
    anchor: usize,
    /// Height of the tallest child so far (a scalar has height 0).
    height: usize,
    /// Nodes in this collection so far, itself included.
    size: usize,
}

enum Coll {
    Seq(Vec<Value>, Vec<usize>),
    Map(Mapping, Vec<Entry>, Option<PendingKey>),
}

struct PendingKey {
    key: Value,
    name: Option<String>,
    line: usize,
}

/// A finished node, ready to be put into its parent.
struct Done {
    value: Value,
    node: usize,
    line: usize,
    height: usize,
    size: usize,
}

/// An anchored node, kept for its aliases.
struct Anchored {
    value: Value,
    node: usize,
    height: usize,
    size: usize,
}

struct Loader {
    stack: Vec<Frame>,
    root: Option<Done>,
    lines: Lines,
    anchors: HashMap<usize, Anchored>,
    total: usize,
    reading: Reading,
    lenient: Vec<(usize, String)>,
}

impl Loader {
    fn count(&mut self, nodes: usize, line: usize) -> Result<(), YamlError> {
        self.total = self.total.saturating_add(nodes);
        if self.total > MAX_NODES {
            return Err(YamlError::at(
                line,
                format!("document is too large (more than {MAX_NODES} nodes with aliases expanded)"),
            ));
        }
        Ok(())
    }

    fn open(&mut self, map: bool, anchor: usize, line: usize) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::at(line, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.count(1, line)?;
        let node = self.lines.push(line, Kids::Leaf);
        let coll = if map { Coll::Map(Mapping::new(), Vec::new(), None) } else { Coll::Seq(Vec::new(), Vec::new()) };
        self.stack.push(Frame { coll, node, line, anchor, height: 0, size: 1 });
        Ok(())
    }

    fn close(&mut self) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Err(YamlError { line: None, message: "unbalanced end of collection".into() });
        };
        let (value, kids) = match frame.coll {
            Coll::Seq(items, kids) => (Value::Sequence(items), Kids::Seq(kids)),
            Coll::Map(mut map, mut entries, pending) => {
                if let Some(key) = pending {
                    return Err(YamlError::at(key.line, "mapping key without a value"));
                }
                self.merge(&mut map, &mut entries)?;
                (Value::Mapping(map), Kids::Map(entries))
            }
        };
        self.lines.nodes[frame.node].kids = kids;
        let done = Done { value, node: frame.node, line: frame.line, height: frame.height + 1, size: frame.size };
        self.finish(done, frame.anchor)
    }

    /// YAML's merge key, which the apiserver's reader (go-yaml) applies: `<<: *defaults`, or
    /// a list of such mappings, adds the members of each that `map` lacks, the earlier
    /// mapping's first. The added members keep the lines they were written on.
    fn merge(&self, map: &mut Mapping, entries: &mut Vec<Entry>) -> Result<(), YamlError> {
        let Some(at) = entries.iter().position(|e| e.name.as_deref() == Some(MERGE_KEY)) else { return Ok(()) };
        let entry = entries.remove(at);
        let not_mappings = || YamlError::at(entry.key_line, "a merge key (`<<`) takes a mapping or a list of mappings");
        let lines_of = |node: usize| match &self.lines.nodes[node].kids {
            Kids::Map(entries) => entries.clone(),
            _ => Vec::new(),
        };
        let sources = match map.remove(MERGE_KEY) {
            Some(Value::Mapping(source)) => vec![(source, lines_of(entry.value))],
            Some(Value::Sequence(items)) => {
                let nodes = match &self.lines.nodes[entry.value].kids {
                    Kids::Seq(nodes) => nodes.clone(),
                    _ => Vec::new(),
                };
                let mut sources = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let Value::Mapping(source) = item else { return Err(not_mappings()) };
                    sources.push((source, nodes.get(i).map(|&n| lines_of(n)).unwrap_or_default()));
                }
                sources
            }
            _ => return Err(not_mappings()),
        };
        for (source, source_lines) in sources {
            for (key, value) in source {
                if map.contains_key(&key) {
                    continue;
                }
                let name = key_name(&key);
                if let Some(line) = source_lines.iter().find(|e| e.name.is_some() && e.name == name) {
                    entries.push(line.clone());
                }
                map.insert(key, value);
            }
        }
        Ok(())
    }

    fn scalar(&mut self, value: Value, anchor: usize, line: usize) -> Result<(), YamlError> {
        self.count(1, line)?;
        let node = self.lines.push(line, Kids::Leaf);
        self.finish(Done { value, node, line, height: 0, size: 1 }, anchor)
    }

    fn alias(&mut self, id: usize, line: usize) -> Result<(), YamlError> {
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(YamlError::at(line, "alias to an unknown or unfinished anchor"));
        };
        let (height, size, source) = (anchored.height, anchored.size, anchored.node);
        if self.stack.len() + height > MAX_DEPTH {
            return Err(YamlError::at(line, format!("nested deeper than {MAX_DEPTH} levels (with aliases expanded)")));
        }
        self.count(size, line)?;
        // The copy is bounded by MAX_DEPTH, so cloning (recursive) stays shallow.
        let value = self.anchors[&id].value.clone();
        let kids = self.lines.nodes[source].kids.clone();
        let node = self.lines.push(line, kids);
        self.finish(Done { value, node, line, height, size }, 0)
    }

    fn finish(&mut self, done: Done, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            let kept = Anchored { value: done.value.clone(), node: done.node, height: done.height, size: done.size };
            self.anchors.insert(anchor, kept);
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(done);
            return Ok(());
        };
        frame.height = frame.height.max(done.height);
        frame.size = frame.size.saturating_add(done.size);
        match &mut frame.coll {
            Coll::Seq(items, kids) => {
                items.push(done.value);
                kids.push(done.node);
            }
            Coll::Map(map, entries, pending) => match pending.take() {
                None => *pending = Some(PendingKey { name: key_name(&done.value), key: done.value, line: done.line }),
                Some(key) => {
                    if map.contains_key(&key.key) {
                        let message = match &key.name {
                            Some(name) => format!("duplicate key `{name}`"),
                            None => "duplicate mapping key".to_string(),
                        };
                        if self.reading == Reading::Strict {
                            return Err(YamlError::at(key.line, message));
                        }
                        // The apiserver's strict decoding fails on it and its lenient one,
                        // which it then falls back to, keeps the last.
                        self.lenient.push((key.line, format!("{message}: the last one counts, as in the apiserver")));
                        entries.retain(|e| e.name.is_none() || e.name != key.name);
                    }
                    map.insert(key.key, done.value);
                    entries.push(Entry { name: key.name, key_line: key.line, value: done.node });
                }
            },
        }
        Ok(())
    }
}

/// Parses a single YAML document (an empty document, or only comments, is `Value::Null`).
pub fn parse(text: &str) -> Result<Document, YamlError> {
    parse_reading(text, Reading::Strict)
}

/// Parses an audit policy file as the apiserver reads one: its first document only, and a
/// key given twice in a mapping is the last one given. What was read so is listed in
/// [`Document::lenient`].
pub fn parse_as_apiserver(text: &str) -> Result<Document, YamlError> {
    parse_reading(text, Reading::AsApiserver)
}

fn parse_reading(text: &str, reading: Reading) -> Result<Document, YamlError> {
    // A leading byte order mark is not content.
    let mut parser = Parser::new_from_str(text.strip_prefix('\u{feff}').unwrap_or(text));
    let mut loader = Loader {
        stack: Vec::new(),
        root: None,
        lines: Lines::default(),
        anchors: HashMap::new(),
        total: 0,
        reading,
        lenient: Vec::new(),
    };
    let mut documents = 0usize;
    // The scanner reports an error at the end of a text without a final line break on
    // the line after it; no error is reported past the text's last line.
    let last_line = 1 + text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
    loop {
        let (event, mark) = parser.next_token().map_err(|e| scan_error(e, last_line))?;
        let line = mark.line().max(1).min(last_line);
        match event {
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 && reading == Reading::AsApiserver {
                    // The apiserver's YAML reader stops at the first document's end.
                    loader.lenient.push((
                        line,
                        "a second YAML document starts here: it is not read, as the apiserver does not read it"
                            .to_owned(),
                    ));
                    break;
                }
                if documents > 1 {
                    return Err(YamlError::at(
                        line,
                        "expected a single YAML document, found a second one starting here",
                    ));
                }
            }
            Event::Alias(id) => loader.alias(id, line)?,
            Event::Scalar(text, style, anchor, tag) => {
                let value = match yaml11_bool(&text, style, tag.as_ref(), reading) {
                    Some(b) => Value::Bool(b),
                    None => scalar_value(text, style, tag.as_ref(), line)?,
                };
                loader.scalar(value, anchor, line)?;
            }
            Event::SequenceStart(anchor, _) => loader.open(false, anchor, line)?,
            Event::MappingStart(anchor, _) => loader.open(true, anchor, line)?,
            Event::SequenceEnd | Event::MappingEnd => loader.close()?,
        }
    }
    let Loader { root, mut lines, lenient, .. } = loader;
    let value = match root {
        Some(done) => {
            lines.root = Some(done.node);
            done.value
        }
        None => {
            lines.root = Some(lines.push(1, Kids::Leaf));
            Value::Null
        }
    };
    Ok(Document { value, lines, lenient })
}

/// `serde_yaml_ng::from_value`, with an error that names the path and line of the problem.
pub fn from_document<T: serde::de::DeserializeOwned>(doc: Document) -> Result<T, YamlError> {
    let Document { value, lines, .. } = doc;
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| path_error(err, &[], |p| lines.line(p)))
}

/// Deserialises the node at `prefix` of `doc` like [`from_document`], leaving `doc` as
/// it is (lines in errors are the document's).
pub fn from_node<T: serde::de::DeserializeOwned>(doc: &Document, prefix: &[Seg]) -> Result<T, YamlError> {
    let value = node(&doc.value, prefix).cloned().unwrap_or(serde_yaml_ng::Value::Null);
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| path_error(err, prefix, |p| doc.line(p)))
}

/// The node at `path`, if there is one.
pub fn node<'v>(value: &'v serde_yaml_ng::Value, path: &[Seg]) -> Option<&'v serde_yaml_ng::Value> {
    let mut at = value;
    for seg in path {
        at = match seg {
            Seg::Key(k) => at.as_mapping()?.get(k.as_str())?,
            Seg::Index(i) => at.as_sequence()?.get(*i)?,
        };
    }
    Some(at)
}

fn path_error(
    err: serde_path_to_error::Error<serde_yaml_ng::Error>,
    prefix: &[Seg],
    line: impl Fn(&[Seg]) -> Option<usize>,
) -> YamlError {
    let mut path = Vec::new();
    for seg in err.path().iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
            serde_path_to_error::Segment::Map { key } => path.push(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => path.push(Seg::Key(variant.clone())),
            serde_path_to_error::Segment::Unknown => break,
        }
    }
    let inner = err.into_inner().to_string();
    // An unknown field is named in the message; the path should end at its parent, while the
    // line should be the field's own.
    let mut shown = path.len();
    if let Some(rest) = inner.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        let field = Seg::Key(rest[..end].to_string());
        if path.last() == Some(&field) {
            shown -= 1;
        } else {
            path.push(field);
        }
    }
    let message = match render_path(&path[..shown]) {
        Some(shown) => format!("{shown}: {inner}"),
        None => inner,
    };
    let full: Vec<Seg> = prefix.iter().cloned().chain(path).collect();
    YamlError { line: line(&full), message }
}

/// A path as `a.b[2].c`; `None` for the empty path.
pub fn render_path(path: &[Seg]) -> Option<String> {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) if out.is_empty() => out.push_str(key),
            Seg::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Seg::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    (!path.is_empty()).then_some(out)
}

fn scan_error(err: ScanError, last_line: usize) -> YamlError {
    let line = marker_line(err.marker()).min(last_line);
    let info = err.info();
    // The scanner has its own, higher limit on flow nesting; it may trip before the events
    // reach the loader when the scanner reads ahead.
    if info == "recursion limit exceeded" {
        return YamlError::at(line, format!("nested deeper than {MAX_DEPTH} levels"));
    }
    YamlError::at(line, info.to_string())
}

fn marker_line(mark: &Marker) -> usize {
    mark.line().max(1)
}

/// How a path segment names a mapping key.
fn key_name(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_string()),
        _ => None,
    }
}

const YAML_TAG_PREFIX: &str = "tag:yaml.org,2002:";

fn scalar_value(text: String, style: TScalarStyle, tag: Option<&Tag>, line: usize) -> Result<Value, YamlError> {
    // Standard tags (`!!str`, `!!int`, ...) are applied; any other tag is ignored.
    let standard = tag.and_then(|tag| {
        let full = format!("{}{}", tag.handle, tag.suffix);
        full.strip_prefix(YAML_TAG_PREFIX).map(str::to_string)
    });
    let invalid = |what: &str| YamlError::at(line, format!("invalid value `{text}` for a {what}"));
    match standard.as_deref() {
        Some("bool") => parse_bool(&text).map(Value::Bool).ok_or_else(|| invalid("!!bool")),
        Some("int") => match parse_int(&text) {
            Some(Ok(n)) => Ok(Value::Number(n)),
            Some(Err(())) => Err(out_of_range(&text, line)),
            None => Err(invalid("!!int")),
        },
        Some("float") => parse_f64(&text).map(|f| Value::Number(Number::from(f))).ok_or_else(|| invalid("!!float")),
        Some("null") => {
            if text.is_empty() || is_null(&text) {
                Ok(Value::Null)
            } else {
                Err(invalid("!!null"))
            }
        }
        Some(_) => Ok(Value::String(text)),
        None if style == TScalarStyle::Plain => resolve_plain(text, line),
        None => Ok(Value::String(text)),
    }
}

/// The booleans of YAML 1.1, which the apiserver's reader (go-yaml v2) resolves and YAML
/// 1.2 does not (`omitManagedFields: yes`; `users: [on]` is then no list of strings, for
/// the apiserver as here): untagged plain scalars of a policy file only.
fn yaml11_bool(text: &str, style: TScalarStyle, tag: Option<&Tag>, reading: Reading) -> Option<bool> {
    if reading != Reading::AsApiserver || style != TScalarStyle::Plain || tag.is_some() {
        return None;
    }
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn out_of_range(text: &str, line: usize) -> YamlError {
    YamlError::at(line, format!("integer `{text}` is out of range"))
}

/// Resolves an untagged plain scalar the way serde_yaml_ng does.
fn resolve_plain(text: String, line: usize) -> Result<Value, YamlError> {
    if text.is_empty() || is_null(&text) {
        return Ok(Value::Null);
    }
    if let Some(b) = parse_bool(&text) {
        return Ok(Value::Bool(b));
    }
    match parse_int(&text) {
        Some(Ok(n)) => return Ok(Value::Number(n)),
        Some(Err(())) => return Err(out_of_range(&text, line)),
        None => {}
    }
    if !digits_but_not_number(&text)
        && let Some(f) = parse_f64(&text)
    {
        return Ok(Value::Number(Number::from(f)));
    }
    Ok(Value::String(text))
}

fn is_null(text: &str) -> bool {
    matches!(text, "null" | "Null" | "NULL" | "~")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// An integer as a Number; `Some(Err(()))` for an integer too large for 64 bits.
fn parse_int(text: &str) -> Option<Result<Number, ()>> {
    if let Some(n) = parse_unsigned(text, u64::from_str_radix) {
        return Some(Ok(Number::from(n)));
    }
    if let Some(n) = parse_negative(text, i64::from_str_radix) {
        return Some(Ok(Number::from(n)));
    }
    if parse_unsigned(text, u128::from_str_radix).is_some() || parse_negative(text, i128::from_str_radix).is_some() {
        return Some(Err(()));
    }
    None
}

type Radix<T> = fn(&str, u32) -> Result<T, std::num::ParseIntError>;

fn parse_unsigned<T>(text: &str, from_str_radix: Radix<T>) -> Option<T> {
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unsigned.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(n) = from_str_radix(rest, radix) {
                return Some(n);
            }
        }
    }
    if unsigned.starts_with(['+', '-']) || digits_but_not_number(text) {
        return None;
    }
    from_str_radix(unsigned, 10).ok()
}

fn parse_negative<T>(text: &str, from_str_radix: Radix<T>) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = text.strip_prefix(prefix)
            && let Ok(n) = from_str_radix(&format!("-{rest}"), radix)
        {
            return Some(n);
        }
    }
    if digits_but_not_number(text) {
        return None;
    }
    from_str_radix(text, 10).ok()
}

fn parse_f64(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => text,
    };
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return Some(f64::INFINITY);
    }
    if matches!(text, "-.inf" | "-.Inf" | "-.INF") {
        return Some(f64::NEG_INFINITY);
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Leading zeros followed by digits only make a string in YAML 1.2 (`0755`, `-007`).
fn digits_but_not_number(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn reference(text: &str) -> Value {
        let mut value =
            serde_yaml_ng::from_str::<Value>(text).unwrap_or_else(|e| panic!("reference failed on {text:?}: {e}"));
        value.apply_merge().unwrap_or_else(|e| panic!("reference merge failed on {text:?}: {e}"));
        value
    }

    fn assert_same(text: &str) {
        let ours = parse(text).unwrap_or_else(|e| panic!("parse failed on {text:?}: {e}")).value;
        assert_eq!(ours, reference(text), "input: {text:?}");
    }

    const SNIPPETS: &[&str] = &[
        "",
        "# only a comment\n",
        "---\n",
        "--- # comment\n...\n",
        "a: 1\nb: two\n",
        "a:\n  b:\n    c: d\n",
        "- 1\n- 2\n- three\n",
        "{a: 1, b: [x, y], c: {d: e}}",
        "[1, [2, [3, []]], {}]",
        "key: value # trailing comment\n# full line\nother: 2\n",
        "s1: 'single ''quoted'''\ns2: \"double \\\"q\\\" \\t\\u00e9\"\ns3: plain text here\n",
        "q1: '123'\nq2: \"true\"\nq3: 'null'\nq4: ''\n",
        "lit: |\n  line one\n  line two\nfold: >\n  folded\n  text\n\n  para\nkeep: |+\n  kept\n\nstrip: |-\n  stripped\n",
        "i: 42\nneg: -17\nplus: +5\nhex: 0x1F\noct: 0o17\nbin: 0b101\nbig: 18446744073709551615\nmin: -9223372036854775808\n",
        "f: 1.5\ne: 6.02e23\nneg: -0.25\ninf: .inf\nninf: -.inf\npinf: +.INF\ndot: .5\n",
        "z: 0755\nz2: -007\nz3: 0\nz4: 00\nv: 1.2.3\nver: v1\ndate: 2024-01-01\n",
        "t: true\nf: false\nT: True\nF: FALSE\ny: yes\nn: no\non: on\n",
        "n1: null\nn2: ~\nn3:\nn4: Null\nn5: NULL\n",
        "anchor: &a {x: 1, y: [1, 2]}\ncopy: *a\nlist: [*a, *a]\n",
        "base: &b hello\nref: *b\n",
        "seq: &s\n  - a\n  - b\nagain: *s\n",
        "? complex key\n: value\n",
        "1: one\n2.5: two\ntrue: yes\n~: nothing\n",
        "str: !!str 123\nstr2: !!str true\nint: !!int 7\nfloat: !!float 1\nbool: !!bool false\nnul: !!null null\n",
        "- name: a\n  items:\n  - x\n  - y\n- name: b\n  items: []\n",
        "url: http://example.com:8080/path?q=1\ncolon: a:b\nhash: a#b\n",
        "unicode: \"caf\\u00e9 ✓\"\nraw: café ✓\n",
        "multi: this is\n  a multi line\n  plain scalar\n",
        "empty_map: {}\nempty_seq: []\n",
        "---\nexplicit: start\n...\n",
        "- - - deep\n    - er\n  - x\n",
        "spaces in key: v\n\"quoted key\": 1\n'single': 2\n",
        "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
        "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 3\n",
        "rules:\n- level: None\n  <<: &sys {users: [a], verbs: [watch]}\n- <<: *sys\n  level: Metadata\n",
        "a: 1\r\nb:\r\n  - 2\r\n",
        "\u{feff}a: 1\n",
        "- {name: a, v: [1, 2]}\n- [x, {y: z}]\n",
        "a: \"multi\n  line\"\nb: 'x\n\n  y'\n",
        "k: '-'\nk2: -x\nk3: a - b\n",
    ];

    #[test]
    fn snippets_match_serde_yaml_ng() {
        for text in SNIPPETS {
            assert_same(text);
        }
    }

    #[test]
    fn errors_at_the_end_name_a_line_of_the_text() {
        // Without a final line break the scanner's position is past the last line.
        for (text, line) in [("cluster:\n  name: prod\n  nmae", 3), ("a: 1\rb: [", 2), ("a: [\n", 2)] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
        }
        // Nor is a node placed there (an empty value at the very end).
        let doc = parse("a:\n  - x\n  -").unwrap();
        assert_eq!(doc.line(&[Seg::Key("a".into()), Seg::Index(1)]), Some(3));
    }

    #[test]
    fn nan_is_a_float() {
        let doc = parse("a: .nan\nb: .NaN").unwrap();
        for key in ["a", "b"] {
            assert!(doc.value[key].as_f64().unwrap().is_nan());
        }
    }

    #[test]
    fn quoted_and_block_scalars_are_strings() {
        let doc = parse("a: '1'\nb: \"~\"\nc: |\n  true\nd: >\n  3.5\n").unwrap();
        assert_eq!(doc.value["a"], Value::String("1".into()));
        assert_eq!(doc.value["b"], Value::String("~".into()));
        assert_eq!(doc.value["c"], Value::String("true\n".into()));
        assert_eq!(doc.value["d"], Value::String("3.5\n".into()));
    }

    #[test]
    fn custom_tags_are_ignored() {
        let doc = parse("a: !custom 5\nb: !thing {x: 1}\nc: !t 'q'\n").unwrap();
        assert_eq!(doc.value, reference("a: 5\nb: {x: 1}\nc: 'q'\n"));
    }

    #[test]
    fn invalid_standard_tag_values() {
        let err = parse("a: 1\nb: !!int abc\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("!!int"), "{err}");
        assert!(parse("a: !!bool maybe").is_err());
        assert!(parse("a: 99999999999999999999999").unwrap_err().message.contains("out of range"));
    }

    const POLICY: &str = "\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  - level: None
    users: [\"system:kube-proxy\"]
    verbs: [watch]
  - level: None
    userGroups: [\"system:nodes\"]
  - level: Metadata
    resources:
      - group: \"\"
        resources: [secrets, configmaps]
  - level: Request
    namespaces:
      - kube-system
    verbs: [\"get\", \"list\"]
  - level: Metadata # catch-all
";

    #[test]
    fn policy_matches_serde_yaml_ng() {
        assert_same(POLICY);
    }

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }

    #[test]
    fn lines_of_paths() {
        let doc = parse(POLICY).unwrap();
        assert_eq!(doc.line(&[]), Some(1));
        assert_eq!(doc.line(&[key("kind")]), Some(2));
        assert_eq!(doc.line(&[key("rules")]), Some(5));
        assert_eq!(doc.line(&[key("rules"), Seg::Index(0)]), Some(6));
        assert_eq!(doc.line(&[key("rules"), Seg::Index(3), key("namespaces")]), Some(16));
        assert_eq!(doc.line(&[key("rules"), Seg::Index(3), key("namespaces"), Seg::Index(0)]), Some(17));
        assert_eq!(doc.line(&[key("rules"), Seg::Index(3), key("verbs"), Seg::Index(1)]), Some(18));
        assert_eq!(
            doc.line(&[key("rules"), Seg::Index(2), key("resources"), Seg::Index(0), key("resources")]),
            Some(14)
        );
        assert_eq!(doc.line(&[key("rules"), Seg::Index(4), key("level")]), Some(19));
        // Missing paths fall back to the nearest ancestor.
        assert_eq!(doc.line(&[key("rules"), Seg::Index(3), key("nope"), Seg::Index(2)]), Some(15));
        assert_eq!(doc.line(&[key("rules"), Seg::Index(99)]), Some(5));
        assert_eq!(doc.line(&[key("missing")]), Some(1));
        assert_eq!(doc.line(&[key("kind"), Seg::Index(0)]), Some(2));
    }

    #[test]
    fn lines_through_aliases_and_keys() {
        let doc = parse("a: &x\n  b: 1\n  c: 2\n\n\nd: *x\n7: seven\n").unwrap();
        assert_eq!(doc.line(&[key("d")]), Some(6));
        assert_eq!(doc.line(&[key("d"), key("c")]), Some(3));
        assert_eq!(doc.line(&[key("7")]), Some(7));
        assert_eq!(parse("").unwrap().line(&[key("a")]), Some(1));
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cluster {
        name: String,
        from_field: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        cluster: Cluster,
        #[serde(default)]
        rules: Vec<Rule>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Rule {
        level: String,
        #[serde(default)]
        verbs: Vec<String>,
    }

    #[test]
    fn from_document_ok() {
        let doc = parse("cluster:\n  name: prod\nrules:\n  - level: None\n    verbs: [get]\n").unwrap();
        let config: Config = from_document(doc).unwrap();
        assert_eq!(config.cluster.name, "prod");
        assert_eq!(config.rules[0].verbs, ["get"]);
    }

    #[test]
    fn from_document_unknown_field() {
        let doc = parse("# config\ncluster:\n  nmae: prod\n").unwrap();
        let err = from_document::<Config>(doc).unwrap_err();
        assert_eq!(err.message, "cluster: unknown field `nmae`, expected `name` or `from_field`");
        assert_eq!(err.line, Some(3), "{err}");
        assert_eq!(err.to_string(), format!("line 3: {}", err.message));
    }

    #[test]
    fn from_document_invalid_type() {
        let text = "cluster:\n  name: prod\nrules:\n  - level: None\n  - level: Metadata\n    verbs: {a: 1}\n";
        let err = from_document::<Config>(parse(text).unwrap()).unwrap_err();
        assert!(err.message.starts_with("rules[1].verbs: invalid type"), "{err}");
        assert_eq!(err.line, Some(6), "{err}");
        let err = from_document::<Config>(parse("cluster:\n  from_field: x\n").unwrap()).unwrap_err();
        assert!(err.message.contains("missing field `name`"), "{err}");
        assert_eq!(err.line, Some(1), "{err}");
    }

    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new().stack_size(64 * 1024).spawn(f).unwrap().join().unwrap()
    }

    #[test]
    fn very_deep_inputs_fail_cleanly_on_a_small_stack() {
        let inputs = ["[".repeat(100_000), "{a: ".repeat(100_000), format!("{}x\n", "- ".repeat(100_000))];
        for input in inputs {
            let err = on_small_stack(move || parse(&input).unwrap_err());
            assert!(err.message.contains("nested deeper than 64 levels"), "{err}");
            assert_eq!(err.line, Some(1));
        }
        let mut block = String::new();
        for depth in 0..100_000usize {
            block.push_str(&" ".repeat(depth % 2000));
            block.push_str("- \n");
        }
        let err = on_small_stack(move || parse(&block).unwrap_err());
        assert!(err.message.contains("nested deeper"), "{err}");
    }

    #[test]
    fn nesting_limit_is_64() {
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        // Built, read and dropped on the small stack.
        let depth = on_small_stack(move || {
            let doc = parse(&ok).unwrap();
            let mut depth = 0;
            let mut node = &doc.value;
            while let Some(first) = node.as_sequence().map(|s| s.first()) {
                depth += 1;
                match first {
                    Some(inner) => node = inner,
                    None => break,
                }
            }
            depth
        });
        assert_eq!(depth, 64);
        let err = parse(&format!("{}{}", "[".repeat(65), "]".repeat(65))).unwrap_err();
        assert!(err.message.contains("nested deeper than 64 levels"), "{err}");
        let mut block = String::new();
        for depth in 0..65 {
            block.push_str(&format!("{}k{depth}:\n", " ".repeat(depth)));
        }
        let err = parse(&block).unwrap_err();
        assert!(err.message.contains("nested deeper than 64 levels"), "{err}");
        assert_eq!(err.line, Some(65));
        // Aliases count as expanded.
        let text = format!("a: &x {}{}\nb: [*x]\n", "[".repeat(63), "]".repeat(63));
        assert!(parse(&text).unwrap_err().message.contains("nested deeper"));
    }

    #[test]
    fn duplicate_keys() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.message, "duplicate key `a`");
        assert_eq!(err.line, Some(3));
        let err = parse("top:\n  - {x: 1, x: 2}\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(serde_yaml_ng::from_str::<Value>("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn multiple_documents() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("single YAML document"), "{err}");
        let err = parse("---\na: 1\n...\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
    }

    #[test]
    fn alias_bomb() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("too large"), "{err}");
    }

    #[test]
    fn syntax_errors_are_readable() {
        let err = parse("a: 1\nb: c: d\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("mapping values are not allowed"), "{err}");
        let err = parse("a:\n  b: 1\n c: 2\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("did not find expected key"), "{err}");
        let err = parse("a: *nope\n").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }

    fn compare_file(path: &std::path::Path) -> bool {
        let Ok(text) = std::fs::read_to_string(path) else { return false };
        let ours = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let theirs: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(ours.value, theirs, "{}", path.display());
        true
    }

    #[test]
    fn real_files_match_serde_yaml_ng() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/kubeaudit/policies");
        let mut compared = 0;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "yaml" || e == "yml") && compare_file(&path) {
                    compared += 1;
                }
            }
        }
        for file in ["/work/main/fluent-bit/audit-sieve.yaml", "/work/main/src/policy/default-policy.yaml"] {
            if compare_file(std::path::Path::new(file)) {
                compared += 1;
            }
        }
        eprintln!("compared {compared} files");
    }
}
