//! Kubernetes audit Policy (`audit.k8s.io/v1`): loading, validation, lint and evaluation.
//!
//! Evaluation reproduces the kube-apiserver's policy checker
//! (`k8s.io/apiserver/pkg/audit/policy/checker.go`): the first matching rule decides, a request
//! no rule matches gets level `None`, policy-level `omitStages` are added to every rule's, and a
//! rule's `omitManagedFields` overrides the policy-level one. Validation follows
//! `k8s.io/apiserver/pkg/apis/audit/validation` and the apiserver's policy reader, so that a policy
//! the apiserver would refuse is refused here too; likely mistakes the apiserver silently accepts
//! (unknown keys, swapped fields, no catch-all rule) are reported as warnings instead.

use crate::json::bytes_eq;
use std::fmt;

mod load;
#[cfg(test)]
mod tests;

/// How much of a request is recorded, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "None" => Level::None,
            "Metadata" => Level::Metadata,
            "Request" => Level::Request,
            "RequestResponse" => Level::RequestResponse,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stage of request handling an audit event was emitted at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::RequestReceived, Stage::ResponseStarted, Stage::ResponseComplete, Stage::Panic];

    /// Every event's stage is parsed: the names are compared eight bytes at a time
    /// ([`bytes_eq`]), not with the byte loop a slice pattern calls in wasm.
    pub fn parse(s: impl AsRef<[u8]>) -> Option<Stage> {
        let s = s.as_ref();
        Stage::ALL.into_iter().find(|stage| bytes_eq(stage.as_str().as_bytes(), s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
}

/// A set of stages, one bit per stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageSet(u8);

impl StageSet {
    pub const EMPTY: StageSet = StageSet(0);

    pub fn contains(self, s: Stage) -> bool {
        self.0 & (1 << s as u8) != 0
    }

    pub fn insert(&mut self, s: Stage) {
        self.0 |= 1 << s as u8;
    }

    #[must_use]
    pub fn with(mut self, s: Stage) -> StageSet {
        self.insert(s);
        self
    }

    #[must_use]
    pub fn union(self, other: StageSet) -> StageSet {
        StageSet(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Stage> {
        Stage::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Stage> for StageSet {
    fn from_iter<I: IntoIterator<Item = Stage>>(iter: I) -> StageSet {
        iter.into_iter().fold(StageSet::EMPTY, StageSet::with)
    }
}

/// The request an audit event records, as the apiserver's authorizer sees it.
///
/// Values are bytes: an event's plain strings (ASCII, no escapes) are matched where they
/// lie in the record, with no UTF-8 check of each; others are decoded first. The policy's
/// own strings are UTF-8, so equal bytes are the same text.
pub struct Attributes<'a> {
    /// `None` when the request had no user: an event whose `user` has no `username` (a
    /// failed authentication is recorded with `"user":{}`). As in the apiserver's checker,
    /// no rule that names users or userGroups matches it.
    pub username: Option<&'a [u8]>,
    pub groups: &'a [&'a [u8]],
    pub verb: &'a [u8],
    /// `Some` for resource requests, `None` for non-resource requests (then `path` is used).
    pub resource: Option<ResourceAttributes<'a>>,
    pub path: &'a [u8],
}

pub struct ResourceAttributes<'a> {
    /// Empty for the core group.
    pub api_group: &'a [u8],
    pub resource: &'a [u8],
    pub subresource: &'a [u8],
    /// The namespace (empty for cluster-scoped objects) and the name.
    pub scope: Scope<'a>,
}

/// A request's namespace and name: given, or read only when a rule asks for them (reading
/// them from the request path costs more than most decisions, and most rules that decide
/// are passed or failed on the user, the groups or the verb first).
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    Known {
        namespace: &'a [u8],
        name: &'a [u8],
    },
    /// `(namespace, name)`; called for each rule that asks, so it should keep its answer.
    OnDemand(&'a dyn Fn() -> (&'a [u8], &'a [u8])),
}

impl<'a> Scope<'a> {
    fn namespace(&self) -> &'a [u8] {
        match *self {
            Scope::Known { namespace, .. } => namespace,
            Scope::OnDemand(read) => read().0,
        }
    }

    fn name(&self) -> &'a [u8] {
        match *self {
            Scope::Known { name, .. } => name,
            Scope::OnDemand(read) => read().1,
        }
    }
}

/// What the policy decides for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub level: Level,
    pub omit_stages: StageSet,
    pub omit_managed_fields: bool,
    /// Index of the deciding rule, `None` when no rule matched.
    pub rule: Option<usize>,
}

/// Opt-in behaviour beyond the apiserver's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extensions {
    /// A leading and/or trailing `*` in `users`, `userGroups`, `namespaces` and `resourceNames`
    /// entries matches any text (as OpenShift's audit filter does); otherwise `*` is literal there.
    /// A policy without `apiVersion`/`kind` (an OpenShift-style rules fragment) is then accepted too.
    pub wildcards: bool,
}

/// A loaded policy, compiled for evaluation.
#[derive(Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    unmatched: Decision,
}

#[derive(Debug)]
struct Rule {
    users: Names,
    groups: Names,
    verbs: Names,
    namespaces: Names,
    resources: Vec<GroupResources>,
    urls: Vec<Box<str>>,
    decision: Decision,
    summary: Box<str>,
}

#[derive(Debug)]
struct GroupResources {
    /// `None` for `*`, any group.
    group: Option<Box<[u8]>>,
    resources: Vec<ResourceSpec>,
    names: Names,
}

/// A `resources` entry, sorted at load by its shape: most are a plain resource name,
/// matched with one comparison instead of the four the general form takes.
#[derive(Debug)]
enum ResourceSpec {
    /// `pods`: the resource, without a subresource.
    Resource(Box<[u8]>),
    /// Any other form (`*`, `pods/log`, `*/scale`, `pods/*`), read as written.
    Other(Box<str>),
}

impl ResourceSpec {
    fn new(spec: &str) -> ResourceSpec {
        if spec.contains(['/', '*']) {
            ResourceSpec::Other(spec.into())
        } else {
            ResourceSpec::Resource(spec.as_bytes().into())
        }
    }

    fn matches(&self, r: &ResourceAttributes) -> bool {
        match self {
            ResourceSpec::Resource(resource) => r.subresource.is_empty() && bytes_eq(resource, r.resource),
            ResourceSpec::Other(spec) => resource_matches(spec, r),
        }
    }
}

/// A list of names (users, groups, verbs, namespaces, resource names). Its exact entries
/// are first tested on their lengths, one bit each: most requests pass over most lists
/// on that one test.
#[derive(Debug, Default)]
struct Names {
    exact: Vec<Box<[u8]>>,
    /// Bit `n` is set when an exact entry is `n` bytes long (bit 63: 63 or more).
    exact_lengths: u64,
    /// Entries with wildcards (only with [`Extensions::wildcards`]).
    patterns: Vec<Pattern>,
}

impl Names {
    fn new(entries: &[String], wildcards: bool) -> Names {
        let mut names = Names::default();
        for entry in entries {
            match Pattern::new(entry, wildcards) {
                Pattern::Exact(name) => {
                    names.exact_lengths |= length_bit(name.len());
                    names.exact.push(name.as_bytes().into());
                }
                pattern => names.patterns.push(pattern),
            }
        }
        names
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.patterns.is_empty()
    }

    fn matches(&self, v: &[u8]) -> bool {
        (self.exact_lengths & length_bit(v.len()) != 0 && self.exact.iter().any(|name| bytes_eq(name, v)))
            || self.patterns.iter().any(|p| p.matches(v))
    }
}

fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// A precompiled list entry; only `Exact` unless wildcards are enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<str>),
    Any,
}

impl Pattern {
    fn new(s: &str, wildcards: bool) -> Pattern {
        if !wildcards || !(s.starts_with('*') || s.ends_with('*')) {
            return Pattern::Exact(s.into());
        }
        let core = s.trim_start_matches('*').trim_end_matches('*');
        match (s.starts_with('*'), s.ends_with('*')) {
            _ if core.is_empty() => Pattern::Any,
            (true, true) => Pattern::Contains(core.into()),
            (true, false) => Pattern::Suffix(core.into()),
            _ => Pattern::Prefix(core.into()),
        }
    }

    fn matches(&self, v: &[u8]) -> bool {
        match self {
            Pattern::Exact(p) => same(p, v),
            Pattern::Prefix(p) => v.get(..p.len()).is_some_and(|head| same(p, head)),
            Pattern::Suffix(p) => v.len() >= p.len() && same(p, &v[v.len() - p.len()..]),
            Pattern::Contains(p) => v.windows(p.len()).any(|w| same(p, w)),
            Pattern::Any => true,
        }
    }
}

/// A policy string (UTF-8) and request bytes: equal bytes are the same text.
fn same(a: &str, b: &[u8]) -> bool {
    bytes_eq(a.as_bytes(), b)
}

impl Rule {
    fn matches(&self, a: &Attributes) -> bool {
        if !self.users.is_empty() && !a.username.is_some_and(|name| self.users.matches(name)) {
            return false;
        }
        if !self.groups.is_empty() && (a.username.is_none() || !a.groups.iter().any(|g| self.groups.matches(g))) {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.matches(a.verb) {
            return false;
        }
        if !self.namespaces.is_empty() || !self.resources.is_empty() {
            return self.matches_resource(a);
        }
        if !self.urls.is_empty() {
            return a.resource.is_none() && self.urls.iter().any(|spec| path_matches(a.path, spec));
        }
        true
    }

    /// The namespace and the name are tested last: they may have to be read from the
    /// request path (see [`Scope`]), and most requests a rule names no resource of fail it
    /// on the group and resource alone.
    fn matches_resource(&self, a: &Attributes) -> bool {
        let Some(r) = &a.resource else { return false };
        let resource_ok = self.resources.is_empty()
            || self.resources.iter().filter(|gr| gr.group.as_ref().is_none_or(|g| bytes_eq(g, r.api_group))).any(
                |gr| {
                    gr.resources.is_empty()
                        || (gr.resources.iter().any(|spec| spec.matches(r))
                            && (gr.names.is_empty() || gr.names.matches(r.scope.name())))
                },
            );
        // Cluster-scoped objects have the namespace "", which a `""` entry matches.
        resource_ok && (self.namespaces.is_empty() || self.namespaces.matches(r.scope.namespace()))
    }
}

/// `*`, an exact path, or a prefix given by a spec ending in `*`.
fn path_matches(path: &[u8], spec: &str) -> bool {
    spec == "*" || same(spec, path) || (spec.ends_with('*') && path.starts_with(spec.trim_end_matches('*').as_bytes()))
}

/// `*`, `resource`, `resource/subresource`, `*/subresource` or `resource/*`.
fn resource_matches(spec: &str, r: &ResourceAttributes) -> bool {
    if spec == "*" || combined_eq(spec, r.resource, r.subresource) {
        return true;
    }
    if !r.subresource.is_empty() && spec.strip_prefix("*/").is_some_and(|sub| same(sub, r.subresource)) {
        return true;
    }
    spec.strip_suffix("/*").is_some_and(|resource| same(resource, r.resource))
}

/// `spec == resource` or `spec == resource + "/" + subresource`, without building the string.
fn combined_eq(spec: &str, resource: &[u8], subresource: &[u8]) -> bool {
    if subresource.is_empty() {
        return same(spec, resource);
    }
    let spec = spec.as_bytes();
    spec.strip_prefix(resource).and_then(|rest| rest.strip_prefix(b"/")) == Some(subresource)
}

impl Policy {
    /// Loads and validates a policy; `origin` names the text in warnings.
    pub fn from_yaml(text: &str, origin: &str, ext: Extensions) -> Result<(Policy, Vec<PolicyWarning>), PolicyError> {
        load::load(text, origin, ext)
    }

    /// Loads the policy found at `prefix` of an already parsed YAML document (a policy
    /// written inline in `audit-sieve.yaml`); lines in messages are the document's.
    pub fn from_node(
        doc: &crate::yaml::Document,
        prefix: &[crate::yaml::Seg],
        origin: &str,
        ext: Extensions,
    ) -> Result<(Policy, Vec<PolicyWarning>), PolicyError> {
        load::load_node(doc, prefix, origin, ext)
    }

    /// Decides a request; allocation-free.
    pub fn evaluate(&self, a: &Attributes) -> Decision {
        self.rules.iter().find(|r| r.matches(a)).map_or(self.unmatched, |r| r.decision)
    }

    pub fn rules_len(&self) -> usize {
        self.rules.len()
    }

    pub fn rule_level(&self, i: usize) -> Level {
        self.rules[i].decision.level
    }

    /// One line, e.g. `None: users=system:kube-proxy verbs=watch resources=endpoints,services`.
    pub fn describe_rule(&self, i: usize) -> String {
        self.rules[i].summary.to_string()
    }

    /// The built-in policy (`default-policy.yaml`).
    pub fn default_policy() -> Policy {
        let text = include_str!("default-policy.yaml");
        Policy::from_yaml(text, "default-policy.yaml", Extensions::default()).expect("the built-in policy is valid").0
    }
}

/// Something the apiserver accepts but that is probably not what the author meant.
#[derive(Debug, Clone)]
pub struct PolicyWarning {
    origin: String,
    line: Option<usize>,
    /// 0-based rule index and its level.
    rule: Option<(usize, Level)>,
    message: String,
}

impl PolicyWarning {
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// 0-based index of the rule the warning is about.
    pub fn rule(&self) -> Option<usize> {
        self.rule.map(|(i, _)| i)
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some((i, level)) = self.rule {
            write!(f, ": rule {} (level {level})", i + 1)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a policy was refused (the apiserver would refuse it too).
#[derive(Debug, Clone)]
pub struct PolicyError {
    line: Option<usize>,
    message: String,
}

impl PolicyError {
    /// 1-based line in the policy text, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PolicyError {}
