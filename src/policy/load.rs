//! Parsing, validation (as the apiserver's) and lint of a policy document.

use super::StageSet;
use super::{
    Decision, Extensions, GroupResources, Level, Names, Policy, PolicyError, PolicyWarning, ResourceSpec, Rule, Stage,
};
use crate::yaml::{self, Document, Seg};
use std::fmt;

// Field names follow `k8s.io/apiserver/pkg/apis/audit/v1` (types.go). Unknown keys are
// collected, as the apiserver silently drops them, and reported by the lint.
struct RawPolicy {
    api_version: Option<String>,
    kind: Option<String>,
    rules: Option<Vec<RawRule>>,
    omit_stages: Option<Vec<String>>,
    omit_managed_fields: Option<bool>,
}

struct RawRule {
    level: Option<String>,
    users: Option<Vec<String>>,
    user_groups: Option<Vec<String>>,
    verbs: Option<Vec<String>>,
    resources: Option<Vec<RawGroupResources>>,
    namespaces: Option<Vec<String>>,
    non_resource_urls: Option<Vec<String>>,
    omit_stages: Option<Vec<String>>,
    omit_managed_fields: Option<bool>,
}

struct RawGroupResources {
    group: Option<String>,
    resources: Option<Vec<String>>,
    resource_names: Option<Vec<String>>,
}

const TOP_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"];
const RULE_KEYS: &[&str] = &[
    "level",
    "users",
    "userGroups",
    "verbs",
    "resources",
    "namespaces",
    "nonResourceURLs",
    "omitStages",
    "omitManagedFields",
];
const GROUP_KEYS: &[&str] = &["group", "resources", "resourceNames"];
const API_VERSIONS: &[&str] = &["audit.k8s.io/v1", "audit.k8s.io/v1beta1"];
/// Built-in API groups without a dot; every other group (CRDs included) has one.
const DOTLESS_GROUPS: &[&str] = &["apps", "autoscaling", "batch", "extensions", "policy"];

fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or_default()
}

impl RawRule {
    fn group_resources(&self) -> &[RawGroupResources] {
        self.resources.as_deref().unwrap_or_default()
    }

    /// Matches every request: no field restricts users, verbs, resources or URLs.
    fn unrestricted(&self) -> bool {
        list(&self.users).is_empty()
            && list(&self.user_groups).is_empty()
            && list(&self.verbs).is_empty()
            && list(&self.namespaces).is_empty()
            && self.group_resources().is_empty()
            && list(&self.non_resource_urls).is_empty()
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

fn rule_path(i: usize, tail: &[Seg]) -> Vec<Seg> {
    let mut p = vec![key("rules"), Seg::Index(i)];
    p.extend_from_slice(tail);
    p
}

struct Loader<'t> {
    origin: &'t str,
    doc: &'t Document,
    /// Where the policy sits in the document (inline in audit-sieve.yaml, or the root).
    prefix: &'t [Seg],
    warnings: Vec<PolicyWarning>,
}

impl Loader<'_> {
    fn line(&self, path: &[Seg]) -> Option<usize> {
        let full: Vec<Seg> = self.prefix.iter().chain(path).cloned().collect();
        self.doc.line(&full)
    }

    fn error(&self, path: &[Seg], message: String) -> PolicyError {
        PolicyError { line: self.line(path), message }
    }

    fn rule_error(&self, i: usize, tail: &[Seg], message: impl fmt::Display) -> PolicyError {
        self.error(&rule_path(i, tail), format!("rule {}: {message}", i + 1))
    }

    fn warn(&mut self, path: &[Seg], rule: Option<(usize, Level)>, message: String) {
        let line = self.line(path);
        self.warnings.push(PolicyWarning { origin: self.origin.to_owned(), line, rule, message });
    }
}

pub(super) fn load(text: &str, origin: &str, ext: Extensions) -> Result<(Policy, Vec<PolicyWarning>), PolicyError> {
    let doc = yaml::parse_as_apiserver(text)
        .map_err(|e| PolicyError { line: e.line, message: format!("cannot read the policy: {}", e.message) })?;
    load_node(&doc, &[], origin, ext)
}

/// Loads the policy at `prefix` of a parsed document.
pub(super) fn load_node(
    doc: &Document,
    prefix: &[Seg],
    origin: &str,
    ext: Extensions,
) -> Result<(Policy, Vec<PolicyWarning>), PolicyError> {
    // What the document's reading let pass (a policy file is read as the apiserver reads
    // it) comes first, at its lines.
    let lenient = doc.lenient.iter().map(|(line, message)| PolicyWarning {
        origin: origin.to_owned(),
        line: Some(*line),
        rule: None,
        message: message.clone(),
    });
    let mut ld = Loader { origin, doc, prefix, warnings: lenient.collect() };
    if yaml::node(&doc.value, prefix).is_none_or(|v| v.is_null()) {
        return Err(PolicyError { line: None, message: "the policy is empty".to_owned() });
    }
    let mut ignored = Vec::new();
    let value = yaml::node(&doc.value, prefix).unwrap_or(&serde_yaml_ng::Value::Null);
    let raw = read_policy(value, &mut ignored).map_err(|(path, why)| {
        let shown = yaml::render_path(&path).map(|p| format!("{p}: ")).unwrap_or_default();
        PolicyError { line: ld.line(&path), message: format!("cannot read the policy: {shown}{why}") }
    })?;

    check_header(&raw, &mut ld, ext)?;
    let raw_rules = raw.rules.as_deref().unwrap_or_default();
    if raw_rules.is_empty() {
        let mut msg = "the policy has no rules, and the apiserver refuses such a policy".to_owned();
        let misspelt = ignored.iter().find_map(|p| match p.as_slice() {
            [Seg::Key(k)] if suggest(k, TOP_KEYS) == Some("rules") => Some(k),
            _ => None,
        });
        if let Some(k) = misspelt {
            msg.push_str(&format!(" (`{k}` is not a known key: did you mean `rules`?)"));
            return Err(ld.error(&[key(k)], msg));
        }
        return Err(ld.error(&[key("rules")], msg));
    }
    for (i, r) in raw_rules.iter().enumerate() {
        validate_rule(&ld, i, r)?;
    }

    let mut policy_stages = StageSet::EMPTY;
    for (j, s) in list(&raw.omit_stages).iter().enumerate() {
        let Some(stage) = Stage::parse(s) else {
            let msg = format!(
                "policy-level omitStages entry `{s}` is not one of RequestReceived, ResponseStarted, \
                 ResponseComplete, Panic"
            );
            return Err(ld.error(&[key("omitStages"), Seg::Index(j)], msg));
        };
        policy_stages.insert(stage);
    }
    let policy_omf = raw.omit_managed_fields.unwrap_or(false);
    let rules = raw_rules.iter().enumerate().map(|(i, r)| compile_rule(i, r, policy_stages, policy_omf, ext)).collect();
    let unmatched =
        Decision { level: Level::None, omit_stages: policy_stages, omit_managed_fields: policy_omf, rule: None };

    lint_unknown_keys(&mut ld, &raw, &ignored);
    for (i, r) in raw_rules.iter().enumerate() {
        lint_rule(&mut ld, i, r, ext);
    }
    lint_catch_all(&mut ld, raw_rules);
    let mut warnings = ld.warnings;
    warnings.sort_by_key(|w| w.line.unwrap_or(usize::MAX));
    Ok((Policy { rules, unmatched }, warnings))
}

fn check_header(raw: &RawPolicy, ld: &mut Loader, ext: Extensions) -> Result<(), PolicyError> {
    const NEEDED: &str = "the apiserver needs `apiVersion: audit.k8s.io/v1` and `kind: Policy`";
    match (&raw.api_version, &raw.kind) {
        (None, None) if ext.wildcards => {
            ld.warn(
                &[],
                None,
                format!("no `apiVersion` and `kind`: read as a rules-only policy fragment, but {NEEDED}"),
            );
            return Ok(());
        }
        (None, None) => {
            return Err(PolicyError {
                line: Some(1),
                message: format!("`apiVersion` and `kind` are missing: {NEEDED}"),
            });
        }
        (None, Some(_)) => {
            return Err(PolicyError { line: Some(1), message: format!("`apiVersion` is missing: {NEEDED}") });
        }
        (Some(_), None) => return Err(PolicyError { line: Some(1), message: format!("`kind` is missing: {NEEDED}") }),
        (Some(v), Some(k)) => {
            if !API_VERSIONS.contains(&v.as_str()) {
                return Err(ld.error(&[key("apiVersion")], format!("unsupported apiVersion `{v}`: {NEEDED}")));
            }
            if k != "Policy" {
                return Err(ld.error(&[key("kind")], format!("unsupported kind `{k}`: {NEEDED}")));
            }
            if v != API_VERSIONS[0] {
                let message = format!(
                    "`{v}` is read as `{0}`, but apiservers refuse it since Kubernetes 1.24: use `{0}`",
                    API_VERSIONS[0]
                );
                ld.warn(&[key("apiVersion")], None, message);
            }
        }
    }
    Ok(())
}

/// `k8s.io/apiserver/pkg/apis/audit/validation`: the first problem found.
fn validate_rule(ld: &Loader, i: usize, r: &RawRule) -> Result<(), PolicyError> {
    match r.level.as_deref() {
        None | Some("") => return Err(ld.rule_error(i, &[], "`level` is required")),
        Some(l) if Level::parse(l).is_none() => {
            let msg = format!("level `{l}` is not one of None, Metadata, Request, RequestResponse");
            return Err(ld.rule_error(i, &[key("level")], msg));
        }
        Some(_) => {}
    }
    for (j, url) in list(&r.non_resource_urls).iter().enumerate() {
        let at = [key("nonResourceURLs"), Seg::Index(j)];
        if url == "*" {
            continue;
        }
        if !url.starts_with('/') {
            return Err(ld.rule_error(i, &at, format_args!("nonResourceURLs entry `{url}` must begin with `/`")));
        }
        let mut body = url.chars();
        body.next_back();
        if body.as_str().contains('*') {
            let msg = format_args!("nonResourceURLs entry `{url}` may have `*` only as its final character");
            return Err(ld.rule_error(i, &at, msg));
        }
    }
    for (j, gr) in r.group_resources().iter().enumerate() {
        let group = gr.group.as_deref().unwrap_or_default();
        // `*` is every group, as the apiserver reads it.
        if !group.is_empty() && group != "*" && !is_dns_subdomain(group) {
            let msg = format_args!(
                "resources group `{group}` is not a valid API group name (a lowercase DNS subdomain such as \
                 `rbac.authorization.k8s.io`, without a version)"
            );
            return Err(ld.rule_error(i, &[key("resources"), Seg::Index(j), key("group")], msg));
        }
        if !list(&gr.resource_names).is_empty() && list(&gr.resources).is_empty() {
            let msg = format_args!("resources entry {} has resourceNames but no resources, which it needs", j + 1);
            return Err(ld.rule_error(i, &[key("resources"), Seg::Index(j), key("resourceNames")], msg));
        }
    }
    for (j, s) in list(&r.omit_stages).iter().enumerate() {
        if Stage::parse(s).is_none() {
            let msg = format_args!(
                "omitStages entry `{s}` is not one of RequestReceived, ResponseStarted, ResponseComplete, Panic"
            );
            return Err(ld.rule_error(i, &[key("omitStages"), Seg::Index(j)], msg));
        }
    }
    if !list(&r.non_resource_urls).is_empty() && (!r.group_resources().is_empty() || !list(&r.namespaces).is_empty()) {
        let msg = "a rule cannot apply to both resources/namespaces and nonResourceURLs";
        return Err(ld.rule_error(i, &[key("nonResourceURLs")], msg));
    }
    Ok(())
}

/// RFC 1123 subdomain, as `NameIsDNSSubdomain`.
fn is_dns_subdomain(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty() && alnum(b[0]) && alnum(b[b.len() - 1]) && b.iter().all(|&c| alnum(c) || c == b'-')
        })
}

fn compile_rule(i: usize, r: &RawRule, policy_stages: StageSet, policy_omf: bool, ext: Extensions) -> Rule {
    let names = |v: &Option<Vec<String>>| Names::new(list(v), ext.wildcards);
    let strs = |v: &Option<Vec<String>>| list(v).iter().map(|s| s.as_str().into()).collect();
    let level = r.level.as_deref().and_then(Level::parse).unwrap_or(Level::None);
    let own: StageSet = list(&r.omit_stages).iter().filter_map(Stage::parse).collect();
    Rule {
        users: names(&r.users),
        groups: names(&r.user_groups),
        // Verbs are matched as written: `*` is no wildcard for the apiserver.
        verbs: Names::new(list(&r.verbs), false),
        namespaces: names(&r.namespaces),
        resources: r
            .group_resources()
            .iter()
            .map(|gr| GroupResources {
                group: match gr.group.as_deref().unwrap_or_default() {
                    "*" => None,
                    group => Some(group.as_bytes().into()),
                },
                resources: list(&gr.resources).iter().map(|spec| ResourceSpec::new(spec)).collect(),
                names: names(&gr.resource_names),
            })
            .collect(),
        urls: strs(&r.non_resource_urls),
        decision: Decision {
            level,
            omit_stages: own.union(policy_stages),
            omit_managed_fields: r.omit_managed_fields.unwrap_or(policy_omf),
            rule: Some(i),
        },
        summary: summarize(level, r).into(),
    }
}

fn summarize(level: Level, r: &RawRule) -> String {
    let mut s = format!("{level}:");
    let mut field = |name: &str, items: &mut dyn Iterator<Item = String>| {
        let joined: Vec<String> = items.collect();
        if !joined.is_empty() {
            s.push_str(&format!(" {name}={}", joined.join(",")));
        }
    };
    let shown = |v: &String| if v.is_empty() { "\"\"".to_owned() } else { v.clone() };
    field("users", &mut list(&r.users).iter().map(shown));
    field("groups", &mut list(&r.user_groups).iter().map(shown));
    field("verbs", &mut list(&r.verbs).iter().map(shown));
    field("namespaces", &mut list(&r.namespaces).iter().map(shown));
    let resources = r.group_resources().iter().flat_map(|gr| {
        let group = gr.group.as_deref().unwrap_or_default();
        let names = list(&gr.resource_names);
        let names = if names.is_empty() { String::new() } else { format!("[{}]", names.join("|")) };
        let res = list(&gr.resources);
        let res: Vec<&str> = if res.is_empty() { vec!["*"] } else { res.iter().map(String::as_str).collect() };
        res.into_iter()
            .map(move |x| if group.is_empty() { format!("{x}{names}") } else { format!("{x}.{group}{names}") })
            .collect::<Vec<_>>()
    });
    field("resources", &mut resources.into_iter());
    field("urls", &mut list(&r.non_resource_urls).iter().cloned());
    field("omitStages", &mut list(&r.omit_stages).iter().cloned());
    field("omitManagedFields", &mut r.omit_managed_fields.map(|b| b.to_string()).into_iter());
    if r.unrestricted() {
        s.push_str(" (every request)");
    }
    s
}

/// The known key closest to an unknown one, if it is likely a typo of it.
fn suggest(unknown: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (edit_distance(&unknown.to_ascii_lowercase(), &k.to_ascii_lowercase()), *k))
        .filter(|&(d, k)| d == 0 || (d <= 2 && k.len() > 3))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn lint_unknown_keys(ld: &mut Loader, raw: &RawPolicy, ignored: &[Vec<Seg>]) {
    let rules = raw.rules.as_deref().unwrap_or_default();
    for path in ignored {
        let level_of = |i: usize| rules.get(i).and_then(|r| r.level.as_deref()).and_then(Level::parse);
        let (unknown, known, rule, prefix, consequence) = match path.as_slice() {
            [Seg::Key(k)] => {
                let consequence = |s: &str| match s {
                    "omitStages" if raw.omit_stages.is_none() => Some("no stage is omitted policy-wide"),
                    "omitManagedFields" if raw.omit_managed_fields.is_none() => {
                        Some("managed fields are kept unless a rule omits them")
                    }
                    _ => None,
                };
                (k, TOP_KEYS, None, String::new(), suggest(k, TOP_KEYS).and_then(consequence))
            }
            [Seg::Key(r), Seg::Index(i), Seg::Key(k)] if r == "rules" => {
                let rule = &rules[*i];
                let consequence = |s: &str| match s {
                    "users" if rule.users.is_none() => Some("this rule matches every user"),
                    "userGroups" if rule.user_groups.is_none() => Some("this rule matches every user group"),
                    "verbs" if rule.verbs.is_none() => Some("this rule matches every verb"),
                    "namespaces" if rule.namespaces.is_none() => Some("this rule matches every namespace"),
                    "resources" if rule.resources.is_none() => Some("this rule matches every resource"),
                    "nonResourceURLs" if rule.non_resource_urls.is_none() => Some("this rule matches every URL"),
                    "omitStages" if rule.omit_stages.is_none() => Some("this rule omits only the policy-level stages"),
                    "omitManagedFields" if rule.omit_managed_fields.is_none() => {
                        Some("the policy-level omitManagedFields applies")
                    }
                    _ => None,
                };
                (
                    k,
                    RULE_KEYS,
                    level_of(*i).map(|l| (*i, l)),
                    String::new(),
                    suggest(k, RULE_KEYS).and_then(consequence),
                )
            }
            [Seg::Key(r), Seg::Index(i), Seg::Key(res), Seg::Index(j), Seg::Key(k)]
                if r == "rules" && res == "resources" =>
            {
                let gr = &rules[*i].group_resources()[*j];
                let consequence = |s: &str| match s {
                    "group" if gr.group.is_none() => Some("this entry selects the core group \"\""),
                    "resources" if gr.resources.is_none() => Some("this entry matches every resource of its group"),
                    "resourceNames" if gr.resource_names.is_none() => Some("this entry matches every object name"),
                    _ => None,
                };
                let prefix = format!("resources entry {}: ", j + 1);
                (k, GROUP_KEYS, level_of(*i).map(|l| (*i, l)), prefix, suggest(k, GROUP_KEYS).and_then(consequence))
            }
            _ => continue,
        };
        let mut msg = format!("{prefix}unknown key `{unknown}` is ignored, as the apiserver ignores it");
        if let Some(s) = suggest(unknown, known) {
            msg.push_str(&format!(" (did you mean `{s}`?)"));
        }
        if let Some(c) = consequence {
            msg.push_str(": ");
            msg.push_str(c);
        }
        ld.warn(path, rule, msg);
    }
}

fn lint_rule(ld: &mut Loader, i: usize, r: &RawRule, ext: Extensions) {
    let Some(level) = r.level.as_deref().and_then(Level::parse) else { return };
    let rule = Some((i, level));
    for (j, gr) in r.group_resources().iter().enumerate() {
        let group = gr.group.as_deref().unwrap_or_default();
        let group_looks_resource =
            !group.is_empty() && group != "*" && !group.contains('.') && !DOTLESS_GROUPS.contains(&group);
        let dotted = list(&gr.resources).iter().find(|x| x.split('/').next().is_some_and(|res| res.contains('.')));
        let at = [key("resources"), Seg::Index(j)];
        let msg = match (group_looks_resource, dotted) {
            (true, Some(res)) => format!(
                "resources entry {}: group `{group}` looks like a resource and resource `{res}` like an API group: \
                 they seem swapped, so this entry matches no request of either",
                j + 1
            ),
            (true, None) => format!(
                "resources entry {}: group `{group}` looks like a resource, not an API group (only the built-in \
                 groups {} have no dot; the core group is \"\")",
                j + 1,
                DOTLESS_GROUPS.join(", ")
            ),
            (false, Some(res)) => format!(
                "resources entry {}: resource `{res}` looks like an API group, not a resource (resource names \
                 have no dot): it belongs under `group`",
                j + 1
            ),
            (false, None) => continue,
        };
        let tail = if group_looks_resource { key("group") } else { key("resources") };
        ld.warn(&rule_path(i, &[at[0].clone(), at[1].clone(), tail]), rule, msg);
    }
    if ext.wildcards {
        return;
    }
    let mut fields: Vec<(&str, Vec<Seg>, &[String])> = vec![
        ("users", vec![key("users")], list(&r.users)),
        ("userGroups", vec![key("userGroups")], list(&r.user_groups)),
        ("namespaces", vec![key("namespaces")], list(&r.namespaces)),
    ];
    for (j, gr) in r.group_resources().iter().enumerate() {
        fields.push((
            "resourceNames",
            vec![key("resources"), Seg::Index(j), key("resourceNames")],
            list(&gr.resource_names),
        ));
    }
    for (name, tail, entries) in fields {
        if let Some(e) = entries.iter().find(|e| e.contains('*')) {
            let msg = format!(
                "{name} entry `{e}` contains `*`, which the apiserver matches literally (wildcards are not enabled)"
            );
            ld.warn(&rule_path(i, &tail), rule, msg);
        }
    }
}

fn lint_catch_all(ld: &mut Loader, rules: &[RawRule]) {
    let level = |i: usize| rules[i].level.as_deref().and_then(Level::parse).unwrap_or(Level::None);
    let last = rules.len() - 1;
    match rules.iter().position(RawRule::unrestricted) {
        None => ld.warn(
            &rule_path(last, &[]),
            Some((last, level(last))),
            "no rule matches every request (the last rule has restrictions): a request no rule matches is dropped \
             (level None), as on the apiserver"
                .to_owned(),
        ),
        Some(k) if k < last => {
            let msg = if k + 1 == last {
                format!("this rule can never match: rule {} before it matches every request", k + 1)
            } else {
                format!(
                    "rules {} to {} can never match: rule {} before them matches every request",
                    k + 2,
                    last + 1,
                    k + 1
                )
            };
            ld.warn(&rule_path(k + 1, &[]), Some((k + 1, level(k + 1))), msg);
        }
        Some(_) => {}
    }
}

// The policy document is read by hand rather than through serde: serde's nested visitors
// cost a deep chain of wasm frames per level, and start-up must fit Fluent Bit's default
// 8 KiB wasm stack. The schema is small and fixed, so this code's own depth is too.

type ReadError = (Vec<Seg>, String);

fn describe(v: &serde_yaml_ng::Value) -> String {
    use serde_yaml_ng::Value as V;
    match v {
        V::Null => "null".to_owned(),
        V::Bool(b) => format!("boolean `{b}`"),
        V::Number(n) => format!("number `{n}`"),
        V::String(s) => format!("string {s:?}"),
        V::Sequence(_) => "sequence".to_owned(),
        V::Mapping(_) => "map".to_owned(),
        V::Tagged(_) => "tagged value".to_owned(),
    }
}

fn invalid(path: &[Seg], v: &serde_yaml_ng::Value, want: &str) -> ReadError {
    (path.to_vec(), format!("invalid type: {}, expected {want}", describe(v)))
}

fn child(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

/// The members of a mapping as (key, value), with unknown keys (not in `known`) recorded.
fn members<'v>(
    v: &'v serde_yaml_ng::Value,
    path: &[Seg],
    known: &[&str],
    ignored: &mut Vec<Vec<Seg>>,
) -> Result<Vec<(&'v str, &'v serde_yaml_ng::Value)>, ReadError> {
    let map = v.as_mapping().ok_or_else(|| invalid(path, v, "a map"))?;
    let mut out = Vec::with_capacity(map.len());
    for (k, value) in map {
        let Some(k) = k.as_str() else { return Err(invalid(path, k, "a string key")) };
        if known.contains(&k) {
            out.push((k, value));
        } else {
            ignored.push(child(path, Seg::Key(k.to_owned())));
        }
    }
    Ok(out)
}

fn string(v: &serde_yaml_ng::Value, path: &[Seg]) -> Result<Option<String>, ReadError> {
    match v {
        serde_yaml_ng::Value::Null => Ok(None),
        serde_yaml_ng::Value::String(s) => Ok(Some(s.clone())),
        other => Err(invalid(path, other, "a string")),
    }
}

fn boolean(v: &serde_yaml_ng::Value, path: &[Seg]) -> Result<Option<bool>, ReadError> {
    match v {
        serde_yaml_ng::Value::Null => Ok(None),
        serde_yaml_ng::Value::Bool(b) => Ok(Some(*b)),
        other => Err(invalid(path, other, "a boolean")),
    }
}

fn strings(v: &serde_yaml_ng::Value, path: &[Seg]) -> Result<Option<Vec<String>>, ReadError> {
    match v {
        serde_yaml_ng::Value::Null => Ok(None),
        serde_yaml_ng::Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                serde_yaml_ng::Value::String(s) => Ok(s.clone()),
                // The apiserver reads YAML as JSON, where a null item of a list of strings
                // is the empty string.
                serde_yaml_ng::Value::Null => Ok(String::new()),
                other => Err(invalid(&child(path, Seg::Index(i)), other, "a string")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(invalid(path, other, "a sequence")),
    }
}

fn read_policy(v: &serde_yaml_ng::Value, ignored: &mut Vec<Vec<Seg>>) -> Result<RawPolicy, ReadError> {
    let mut p = RawPolicy { api_version: None, kind: None, rules: None, omit_stages: None, omit_managed_fields: None };
    for (k, value) in members(v, &[], TOP_KEYS, ignored)? {
        let at = [Seg::Key(k.to_owned())];
        match k {
            "apiVersion" => p.api_version = string(value, &at)?,
            "kind" => p.kind = string(value, &at)?,
            "omitStages" => p.omit_stages = strings(value, &at)?,
            "omitManagedFields" => p.omit_managed_fields = boolean(value, &at)?,
            "rules" => {
                p.rules = match value {
                    serde_yaml_ng::Value::Null => None,
                    serde_yaml_ng::Value::Sequence(items) => Some(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, r)| read_rule(r, &[key("rules"), Seg::Index(i)], ignored))
                            .collect::<Result<_, _>>()?,
                    ),
                    other => return Err(invalid(&at, other, "a sequence")),
                }
            }
            // metadata: any content, as for any object's metadata.
            _ => {}
        }
    }
    Ok(p)
}

fn read_rule(v: &serde_yaml_ng::Value, path: &[Seg], ignored: &mut Vec<Vec<Seg>>) -> Result<RawRule, ReadError> {
    let mut r = RawRule {
        level: None,
        users: None,
        user_groups: None,
        verbs: None,
        resources: None,
        namespaces: None,
        non_resource_urls: None,
        omit_stages: None,
        omit_managed_fields: None,
    };
    for (k, value) in members(v, path, RULE_KEYS, ignored)? {
        let at = child(path, Seg::Key(k.to_owned()));
        match k {
            "level" => r.level = string(value, &at)?,
            "users" => r.users = strings(value, &at)?,
            "userGroups" => r.user_groups = strings(value, &at)?,
            "verbs" => r.verbs = strings(value, &at)?,
            "namespaces" => r.namespaces = strings(value, &at)?,
            "nonResourceURLs" => r.non_resource_urls = strings(value, &at)?,
            "omitStages" => r.omit_stages = strings(value, &at)?,
            "omitManagedFields" => r.omit_managed_fields = boolean(value, &at)?,
            "resources" => {
                r.resources = match value {
                    serde_yaml_ng::Value::Null => None,
                    serde_yaml_ng::Value::Sequence(items) => Some(
                        items
                            .iter()
                            .enumerate()
                            .map(|(j, g)| read_group(g, &child(&at, Seg::Index(j)), ignored))
                            .collect::<Result<_, _>>()?,
                    ),
                    other => return Err(invalid(&at, other, "a sequence")),
                }
            }
            _ => {}
        }
    }
    Ok(r)
}

fn read_group(
    v: &serde_yaml_ng::Value,
    path: &[Seg],
    ignored: &mut Vec<Vec<Seg>>,
) -> Result<RawGroupResources, ReadError> {
    let mut g = RawGroupResources { group: None, resources: None, resource_names: None };
    for (k, value) in members(v, path, GROUP_KEYS, ignored)? {
        let at = child(path, Seg::Key(k.to_owned()));
        match k {
            "group" => g.group = string(value, &at)?,
            "resources" => g.resources = strings(value, &at)?,
            "resourceNames" => g.resource_names = strings(value, &at)?,
            _ => {}
        }
    }
    Ok(g)
}
