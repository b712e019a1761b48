//! `audit-sieve.yaml`: one file, one section per concern.
//!
//! The file is read once, before the first record, and validated whole: an error names
//! the file, the line and the reason, and the module then passes every record through
//! unchanged (it never drops on a configuration it does not understand). Unknown keys are
//! errors, because a misspelt option silently ignored is how an audit filter ends up
//! dropping what it should keep.
//!
//! Sections: `fields` (output field names), `cluster`, `limits`, `kubeaudit`,
//! `identity`, `authlog`, `auditd`, `pgaudit`. A section that is absent takes its
//! documented defaults. Files named in the configuration are resolved relative to the
//! directory of `audit-sieve.yaml`.

use crate::yaml;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The name the module looks for in each `Accessible_Paths` directory.
pub const FILE_NAME: &str = "audit-sieve.yaml";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub fields: Fields,
    pub cluster: Cluster,
    pub limits: Limits,
    pub kubeaudit: KubeAudit,
    pub identity: Identity,
    pub authlog: AuthLog,
    pub auditd: Auditd,
    pub pgaudit: PgAudit,
}

/// Where audit-sieve writes what it adds. A dotted name (`cluster.name`) is a nested field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fields {
    /// The stream name: `kubeaudit`, `authlog`, `auditd`, `pgaudit`.
    pub stream: String,
    pub cluster: String,
    /// The list of review flags (`exec`, `secret_access`, `auth_failure`, ...).
    pub review: String,
    /// Who is behind the request: kind, email, serviceaccount, ...
    pub actor: String,
    /// Also write Elastic Common Schema fields (`event.action`, `user.name`, ...).
    pub ecs: bool,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            stream: "log_type".into(),
            cluster: "cluster".into(),
            review: "review".into(),
            actor: "actor".into(),
            ecs: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// The cluster's name, written to every record of a known stream.
    pub name: String,
    /// A record field set earlier in the pipeline that holds the cluster name; it wins
    /// over `name` when the record has it.
    pub from_field: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Records larger than this pass through unchanged, unread (counted as `too_large`).
    pub max_record_bytes: usize,
}

/// 16 MiB: far above any audit event the apiserver writes, low enough that one record
/// cannot make the module grow its memory without bound.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_record_bytes: DEFAULT_MAX_RECORD_BYTES }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubeAudit {
    pub enabled: bool,
    /// A Kubernetes audit Policy file (audit.k8s.io/v1 or v1beta1), unmodified.
    pub policy_file: Option<String>,
    /// The same, inline: the whole configuration document, with the policy at
    /// `kubeaudit.policy` (kept as a document so messages give its lines).
    #[serde(skip)]
    pub policy: Option<crate::yaml::Document>,
    /// Drop events whose response code is listed (OpenShift's log forwarder does this
    /// for 404, 409, 422 and 429).
    pub omit_response_codes: Vec<u16>,
    /// Leading/trailing `*` wildcards in users, userGroups, namespaces, resourceNames.
    pub wildcards: bool,
    /// Write requestObject/responseObject as JSON strings, so a search index does not map
    /// every field of every Kubernetes object.
    pub bodies_as_strings: bool,
}

impl Default for KubeAudit {
    fn default() -> Self {
        KubeAudit {
            enabled: true,
            policy_file: None,
            policy: None,
            omit_response_codes: Vec::new(),
            wildcards: false,
            bodies_as_strings: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Identity {
    /// Username prefixes the apiserver's OIDC authenticator adds (`--oidc-username-prefix`);
    /// removed before the username is read as an email.
    pub oidc_prefixes: Vec<String>,
    /// A YAML file mapping subjects or usernames to emails, and SSH key fingerprints to
    /// people (same shape as `users` / `ssh_keys` below).
    pub map_file: Option<String>,
    /// Subject or username -> email.
    pub users: BTreeMap<String, String>,
    /// SSH key fingerprint (`SHA256:...`, `MD5:...`) -> email.
    pub ssh_keys: BTreeMap<String, String>,
    /// Fingerprints of the SSH user CAs whose certificates' key IDs name people (the keys
    /// of sshd's `TrustedUserCAKeys`, as `ssh-keygen -lf` prints them).
    pub ssh_user_cas: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthLog {
    pub enabled: bool,
    /// Accounts shared by several people (`ubuntu`, `ec2-user`): a login to one of them
    /// with a key that maps to nobody is flagged for review.
    pub shared_accounts: Vec<String>,
    pub brute_force: BruteForceRule,
}

impl Default for AuthLog {
    fn default() -> Self {
        AuthLog {
            enabled: true,
            shared_accounts: vec!["ubuntu".into(), "ec2-user".into(), "admin".into(), "core".into()],
            brute_force: BruteForceRule::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BruteForceRule {
    /// Failures from one source address ...
    pub failures: u32,
    /// ... within this many seconds raise the `brute_force` flag (Wazuh's classic rule).
    pub window_seconds: u64,
}

impl Default for BruteForceRule {
    fn default() -> Self {
        BruteForceRule { failures: 8, window_seconds: 120 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auditd {
    pub enabled: bool,
    /// Drop rules; a record matching any rule is dropped, and so are the records of the
    /// same event that follow it (see [`crate::streams::auditd::AuditdFilter`]).
    pub drop: Vec<crate::streams::auditd::DropRule>,
}

impl Default for Auditd {
    fn default() -> Self {
        Auditd { enabled: true, drop: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgAudit {
    pub enabled: bool,
    /// Which records to keep; records the filter does not keep are dropped.
    pub filter: Option<crate::streams::pgaudit::PgAuditFilter>,
}

impl Default for PgAudit {
    fn default() -> Self {
        PgAudit { enabled: true, filter: None }
    }
}

/// A configuration problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    file: String,
    line: Option<usize>,
    message: String,
}

impl ConfigError {
    pub fn new(file: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        ConfigError { file: file.into(), line, message: message.into() }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn line(&self) -> Option<usize> {
        self.line
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses and checks the text of an `audit-sieve.yaml`. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        // An empty file (or one holding only comments) means all defaults.
        if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            return Ok(Config::default());
        }
        let doc = yaml::parse(text).map_err(|e| ConfigError::new(file, e.line, e.message))?;
        // An inline policy is read by the policy loader, not by serde: take it out first.
        let policy_path = [yaml::Seg::Key("kubeaudit".into()), yaml::Seg::Key("policy".into())];
        let has_policy = yaml::node(&doc.value, &policy_path).is_some();
        let mut config: Config = if has_policy {
            let mut rest = doc.clone();
            if let Some(kubeaudit) = rest.value.get_mut("kubeaudit").and_then(|k| k.as_mapping_mut()) {
                kubeaudit.remove("policy");
            }
            yaml::from_node(&rest, &[])
        } else {
            yaml::from_node(&doc, &[])
        }
        .map_err(|e| ConfigError::new(file, e.line, e.message))?;
        if has_policy {
            config.kubeaudit.policy = Some(doc);
        }
        config.check(text, file)?;
        Ok(config)
    }

    /// Checks that serde cannot express.
    fn check(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let line_of = |key: &str| line_of_key(text, key);
        if let Err((key, why)) = self.fields.check_names() {
            return Err(ConfigError::new(file, line_of(key), format!("fields.{key}: {why}")));
        }
        if !self.cluster.from_field.is_empty()
            && let Err(why) = check_field_path(&self.cluster.from_field)
        {
            return Err(ConfigError::new(file, line_of("from_field"), format!("cluster.from_field: {why}")));
        }
        // The same MD5 key with and without its prefix: two people for one key.
        let keys: Vec<_> = self.identity.ssh_keys.keys().map(|k| crate::identity::canonical_fingerprint(k)).collect();
        if let Some(key) = keys.iter().enumerate().find(|(i, k)| keys[..*i].contains(k)).map(|(_, k)| k) {
            let key = key.trim_start_matches("MD5:");
            let why = format!("identity.ssh_keys: {key:?} is given twice, with and without `MD5:`");
            return Err(ConfigError::new(file, line_of_text(text, key), why));
        }
        for (section, fingerprint) in self
            .identity
            .ssh_user_cas
            .iter()
            .map(|ca| ("ssh_user_cas", ca))
            .chain(self.identity.ssh_keys.keys().map(|key| ("ssh_keys", key)))
        {
            if let Some(why) = crate::identity::fingerprint_problem(fingerprint) {
                let line = line_of_text(text, fingerprint).or_else(|| line_of(section));
                return Err(ConfigError::new(file, line, format!("identity.{section}: {fingerprint:?}: {why}")));
            }
        }
        if self.limits.max_record_bytes == 0 {
            return Err(ConfigError::new(file, line_of("max_record_bytes"), "limits.max_record_bytes must be above 0"));
        }
        if self.kubeaudit.policy.is_some() && self.kubeaudit.policy_file.is_some() {
            return Err(ConfigError::new(
                file,
                line_of("policy_file"),
                "kubeaudit: give either policy_file or policy, not both",
            ));
        }
        for code in &self.kubeaudit.omit_response_codes {
            if !(100..=599).contains(code) {
                return Err(ConfigError::new(
                    file,
                    line_of("omit_response_codes"),
                    format!("kubeaudit.omit_response_codes: {code} is not an HTTP status code"),
                ));
            }
        }
        if self.authlog.brute_force.failures == 0 || self.authlog.brute_force.window_seconds == 0 {
            return Err(ConfigError::new(
                file,
                line_of("brute_force"),
                "authlog.brute_force: failures and window_seconds must be above 0",
            ));
        }
        for (i, rule) in self.auditd.drop.iter().enumerate() {
            if let Err(why) = rule.validate() {
                return Err(ConfigError::new(
                    file,
                    line_of_list_item(text, "drop", i),
                    format!("auditd.drop[{i}]: {why}"),
                ));
            }
        }
        Ok(())
    }

    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| {
            let link = path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink());
            let hint = match link {
                true => " (a symbolic link: only what lies inside the accessible paths can be read)",
                false => "",
            };
            ConfigError::new(&shown, None, format!("cannot read: {e}{hint}"))
        })?;
        let text = String::from_utf8(text).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            ConfigError::new(&shown, Some(line), "not UTF-8 text")
        })?;
        Config::parse(&text, &shown)
    }
}

/// Members a record's own content is in: those of a Kubernetes audit event, the text of a
/// log line (`log`, `message`, journald's `MESSAGE`), and the objects the host streams add
/// (`ssh`, `sudo`, `auditd`, `pgaudit`). An added field there would replace them.
const RECORD_MEMBERS: [&str; 25] = [
    "kind",
    "apiVersion",
    "level",
    "auditID",
    "stage",
    "requestURI",
    "verb",
    "user",
    "impersonatedUser",
    "sourceIPs",
    "userAgent",
    "objectRef",
    "responseStatus",
    "requestObject",
    "responseObject",
    "requestReceivedTimestamp",
    "stageTimestamp",
    "annotations",
    "log",
    "message",
    "MESSAGE",
    "ssh",
    "sudo",
    "auditd",
    "pgaudit",
];

/// The one member of [`RECORD_MEMBERS`] a dotted field may go inside (`user.actor`): an
/// audit event's `user`, beside what the apiserver writes there (`USER_MEMBERS`), as
/// `fields.ecs` adds `user.name`. Inside the others a field would replace a text, make an
/// object that is not there (`objectRef`, `impersonatedUser`), one the module writes whole
/// (`ssh`), or put an object in a map of strings (`annotations`, which an index maps so).
const OBJECT_TO_ADD_TO: &str = "user";

/// The members of an audit event's `user` (`authentication.k8s.io/v1` UserInfo).
const USER_MEMBERS: [&str; 4] = ["username", "uid", "groups", "extra"];

/// The fields `fields.ecs` writes.
const ECS_FIELDS: [&str; 7] = [
    "event.action",
    "event.outcome",
    "user.name",
    "user.email",
    "source.ip",
    "user_agent.original",
    "orchestrator.cluster.name",
];

impl Fields {
    /// Every added field has a name of its own: none is another's, or holds or is held by
    /// another (`cluster` and `cluster.name`), and none replaces a member of the record.
    /// Otherwise one value would silently overwrite another, or a record would carry a key
    /// twice and a SIEM keep only one of them.
    fn check_names(&self) -> Result<(), (&'static str, String)> {
        let named =
            [("stream", &self.stream), ("cluster", &self.cluster), ("review", &self.review), ("actor", &self.actor)];
        for (i, &(key, path)) in named.iter().enumerate() {
            check_field_path(path).map_err(|why| (key, why))?;
            let mut parts = path.split('.');
            let top = parts.next().unwrap_or_default();
            let inside_user = match parts.next() {
                Some(member) if top == OBJECT_TO_ADD_TO => !USER_MEMBERS.contains(&member),
                _ => false,
            };
            if RECORD_MEMBERS.contains(&top) && !inside_user {
                return Err((key, format!("`{path}` would change the records' own `{top}`")));
            }
            let nests = |other: &str| {
                let (short, long) =
                    if path.len() <= other.len() { (path.as_str(), other) } else { (other, path.as_str()) };
                long.strip_prefix(short).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            };
            if let Some((other, _)) = named[..i].iter().find(|(_, other)| nests(other)) {
                return Err((key, format!("`{path}` collides with fields.{other}: each needs a name of its own")));
            }
            if let Some(ecs) = ECS_FIELDS.iter().find(|ecs| self.ecs && nests(ecs)) {
                return Err((key, format!("`{path}` collides with the ECS field `{ecs}` (fields.ecs)")));
            }
        }
        Ok(())
    }
}

/// A field name for output: dot-separated, each part non-empty, at most 4 levels.
fn check_field_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("must not be empty".into());
    }
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("`{path}` has an empty part"));
    }
    if parts.len() > 4 {
        return Err(format!("`{path}` is nested deeper than 4 levels"));
    }
    Ok(())
}

/// Splits a dotted field name into its parts.
pub fn field_path(path: &str) -> Vec<String> {
    path.split('.').map(str::to_owned).collect()
}

/// The 1-based line of the first line holding `needle`, for errors about a value.
pub(crate) fn line_of_text(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// The 1-based line of the first `key:` in the text, for errors found after parsing.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines().position(|l| l.trim_start().strip_prefix(key).is_some_and(|rest| rest.starts_with(':'))).map(|i| i + 1)
}

/// The 1-based line of item `index` of the block sequence under the first `key:`; the
/// line of `key:` itself when the list is written inline (`drop: [{comm: [cron]}]`).
fn line_of_list_item(text: &str, key: &str, index: usize) -> Option<usize> {
    let at = line_of_key(text, key)?;
    let key_line = text.lines().nth(at - 1)?;
    if !key_line.split_once(':').is_some_and(|(_, rest)| rest.trim().is_empty() || rest.trim_start().starts_with('#')) {
        return Some(at);
    }
    let mut indent = None;
    let mut seen = 0;
    for (i, line) in text.lines().enumerate().skip(at) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let this = line.len() - trimmed.len();
        if !trimmed.starts_with('-') {
            if indent.is_none_or(|d| this <= d) {
                break;
            }
            continue;
        }
        match indent {
            None => indent = Some(this),
            Some(d) if this < d => break,
            Some(d) if this > d => continue,
            Some(_) => {}
        }
        if seen == index {
            return Some(i + 1);
        }
        seen += 1;
    }
    Some(at)
}

/// Where the configuration came from, for messages and relative paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// No `audit-sieve.yaml` in any accessible directory: embedded defaults.
    Defaults,
    File(PathBuf),
}

impl Source {
    /// Resolves a path named in the configuration against the config file's directory.
    pub fn resolve(&self, named: &str) -> PathBuf {
        match self {
            Source::File(path) if Path::new(named).is_relative() => {
                path.parent().map(|d| d.join(named)).unwrap_or_else(|| PathBuf::from(named))
            }
            _ => PathBuf::from(named),
        }
    }
}

/// Finds `audit-sieve.yaml`: the first of the given directories (Fluent Bit's
/// `Accessible_Paths`, in order) that holds one. A name that is there counts even when
/// what it names cannot be reached (a symbolic link out of the accessible paths, which
/// the runtime does not follow, or a dangling one): reading it then fails loudly, instead
/// of the defaults, which drop events, standing in unannounced.
pub fn find(dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(FILE_NAME)).find(|p| p.symlink_metadata().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_comment_only_file_means_defaults() {
        for text in ["", "\n", "# nothing here\n  # nor here\n"] {
            let c = Config::parse(text, "a.yaml").unwrap();
            assert_eq!(c.fields.stream, "log_type");
            assert_eq!(c.limits.max_record_bytes, DEFAULT_MAX_RECORD_BYTES);
        }
    }

    #[test]
    fn reads_sections() {
        let c = Config::parse(
            "cluster:\n  name: prod-eu-1\nfields:\n  cluster: cluster.name\nkubeaudit:\n  omit_response_codes: [404, 429]\n",
            "a.yaml",
        )
        .unwrap();
        assert_eq!(c.cluster.name, "prod-eu-1");
        assert_eq!(c.fields.cluster, "cluster.name");
        assert_eq!(c.fields.stream, "log_type");
        assert_eq!(c.kubeaudit.omit_response_codes, vec![404, 429]);
    }

    #[test]
    fn errors_name_file_line_and_reason() {
        let cases = [
            ("cluster:\n  nam: x\n", Some(2), "cluster: unknown field `nam`"),
            ("clusters:\n  name: x\n", Some(1), "unknown field `clusters`"),
            ("limits:\n  max_record_bytes: lots\n", Some(2), "limits.max_record_bytes: invalid type"),
            ("cluster: []\n", Some(1), "cluster: invalid type: sequence, expected struct Cluster"),
            ("cluster: [\n", Some(2), "while parsing a node, did not find expected node content"),
            ("fields:\n  stream: a: b\n", Some(2), "mapping values are not allowed in this context"),
            ("fields:\n  cluster: a..b\n", Some(2), "fields.cluster: `a..b` has an empty part"),
            // Two fields in one place, or a field in place of the record's own content.
            ("fields:\n  actor: review\n", Some(2), "fields.actor: `review` collides with fields.review"),
            ("fields:\n  cluster: cluster.name\n  actor: cluster\n", Some(3), "fields.actor: `cluster` collides"),
            ("fields:\n  stream: kind\n", Some(2), "fields.stream: `kind` would change the records' own `kind`"),
            ("fields:\n  review: log.review\n", Some(2), "would change the records' own `log`"),
            ("fields:\n  actor: user\n", Some(2), "would change the records' own `user`"),
            ("fields:\n  actor: objectRef.actor\n", Some(2), "would change the records' own `objectRef`"),
            ("fields:\n  actor: ssh.actor\n", Some(2), "would change the records' own `ssh`"),
            ("fields:\n  actor: user.username\n", Some(2), "would change the records' own `user`"),
            ("fields:\n  review: annotations.review\n", Some(2), "would change the records' own `annotations`"),
            (
                "fields:\n  ecs: true\n  cluster: orchestrator.cluster\n",
                Some(3),
                "the ECS field `orchestrator.cluster.name`",
            ),
            (
                "identity:\n  ssh_keys:\n    SHA256:abc: e@example.com\n",
                Some(3),
                "identity.ssh_keys: \"SHA256:abc\": a SHA256",
            ),
            ("identity:\n  ssh_keys:\n    kzfjq: e@example.com\n", Some(3), "\"kzfjq\": not a key fingerprint"),
            ("identity:\n  ssh_user_cas: [\"MD5:AB:CD\"]\n", Some(2), "an MD5 fingerprint is"),
            (
                "identity:\n  ssh_keys:\n    \"MD5:39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84\": a@example.com\n    \
                 \"39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84\": b@example.com\n",
                Some(3),
                "is given twice, with and without `MD5:`",
            ),
            ("limits:\n  max_record_bytes: 0\n", Some(2), "limits.max_record_bytes must be above 0"),
            ("kubeaudit:\n  omit_response_codes: [40]\n", Some(2), "kubeaudit.omit_response_codes: 40 is not"),
            (
                "kubeaudit:\n  policy_file: p.yaml\n  policy: {rules: []}\n",
                Some(2),
                "kubeaudit: give either policy_file or policy",
            ),
        ];
        for (text, line, want) in cases {
            let e = Config::parse(text, "/etc/fb/audit-sieve.yaml").unwrap_err();
            assert_eq!(e.file(), "/etc/fb/audit-sieve.yaml", "{text}");
            assert_eq!(e.line(), line, "{text}: {e}");
            assert!(e.message().contains(want), "{text}: got `{}`", e.message());
            assert!(e.to_string().starts_with("/etc/fb/audit-sieve.yaml:"), "{e}");
        }
    }

    #[test]
    fn names_of_their_own_and_fingerprints_as_sshd_logs_them_are_accepted() {
        let text = "fields:\n  ecs: true\n  stream: labels.stream\n  cluster: kubernetes.cluster_name\n  \
                    review: audit.review\n  actor: user.actor\nidentity:\n  ssh_keys:\n    \
                    \"SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM\": e@example.com\n    \
                    \"MD5:39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:84\": f@example.com\n    \
                    \"39:33:99:e9:a0:dc:f2:33:a3:e5:72:3b:7c:3a:56:85\": g@example.com\n";
        let c = Config::parse(text, "a.yaml").unwrap();
        assert_eq!((c.fields.review.as_str(), c.identity.ssh_keys.len()), ("audit.review", 3));
    }

    #[test]
    fn stream_rules_are_read_and_checked() {
        let c = Config::parse(
            "auditd:\n  drop:\n    - comm: [cron]\n    - {type: [PROCTITLE], key: [\"*noise\"]}\npgaudit:\n  filter:\n    include_objects: [app.users]\n    commands: [INSERT, UPDATE, DELETE]\n    exclude_users: [app]\n",
            "a.yaml",
        )
        .unwrap();
        assert_eq!(c.auditd.drop.len(), 2);
        assert_eq!(c.auditd.drop[0].comm.as_deref(), Some(&["cron".to_owned()][..]));
        assert_eq!(c.auditd.drop[1].record_type.as_deref(), Some(&["PROCTITLE".to_owned()][..]));
        let f = c.pgaudit.filter.unwrap();
        assert_eq!(f.include_objects, vec!["app.users"]);
        assert_eq!(f.exclude_users, vec!["app"]);
        let cases = [
            ("auditd:\n  drop:\n    - comm: [cron]\n    - commm: [x]\n", Some(4), "unknown field `commm`"),
            (
                "auditd:\n  drop:\n    - comm: [cron]\n    - {}\n",
                Some(4),
                "auditd.drop[1]: auditd drop rule has no condition",
            ),
            ("auditd:\n  drop:\n  - key: [k]\n  - exe:\n      - /bin/x\n  - {}\n", Some(6), "auditd.drop[2]"),
            ("auditd:\n  drop:\n    - comm: []\n", Some(3), "`comm` is an empty list"),
            ("auditd:\n  drop: [{}]\n", Some(2), "auditd.drop[0]: auditd drop rule has no condition"),
            ("pgaudit:\n  filter:\n    include_object: [x]\n", Some(3), "unknown field `include_object`"),
        ];
        for (text, line, want) in cases {
            let e = Config::parse(text, "/etc/fb/audit-sieve.yaml").unwrap_err();
            assert_eq!(e.line(), line, "{text}: {e}");
            assert!(e.message().contains(want), "{text}: got `{}`", e.message());
        }
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let e = Config::load(Path::new("/nonexistent/audit-sieve.yaml")).unwrap_err();
        assert!(e.message().starts_with("cannot read"), "{e}");
    }

    #[test]
    fn resolves_relative_to_the_config_file() {
        let s = Source::File(PathBuf::from("/fluent-bit/etc/audit-sieve.yaml"));
        assert_eq!(s.resolve("policy.yaml"), PathBuf::from("/fluent-bit/etc/policy.yaml"));
        assert_eq!(s.resolve("/abs/p.yaml"), PathBuf::from("/abs/p.yaml"));
    }
}
