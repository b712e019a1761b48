//! Who is behind a request: Kubernetes usernames and SSH keys mapped to people.
//!
//! One identity section serves both streams: `identity.users` maps an IdP subject or a
//! username to an email, `identity.ssh_keys` maps a key fingerprint to a person, and
//! `identity.map_file` holds more of both (so the map can be a ConfigMap of its own).

use crate::config::{ConfigError, Source};
use crate::streams::find_byte;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

#[derive(Debug, Default)]
pub struct Identity {
    oidc_prefixes: Vec<String>,
    users: BTreeMap<String, String>,
    ssh_keys: BTreeMap<String, String>,
    ssh_user_cas: Vec<String>,
}

/// The shape of `identity.map_file`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct MapFile {
    users: BTreeMap<String, String>,
    ssh_keys: BTreeMap<String, String>,
}

/// What kind of principal made a Kubernetes request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    Human,
    ServiceAccount,
    Node,
    /// Control-plane components and other `system:` users.
    System,
    Anonymous,
    /// No user: the apiserver records a request that failed authentication with an empty
    /// `user`, so nobody is behind it yet.
    Unauthenticated,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Human => "human",
            ActorKind::ServiceAccount => "serviceaccount",
            ActorKind::Node => "node",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
            ActorKind::Unauthenticated => "unauthenticated",
        }
    }
}

/// A Kubernetes user, classified.
#[derive(Debug, PartialEq, Eq)]
pub struct Actor<'a> {
    pub kind: ActorKind,
    /// For a ServiceAccount: namespace and name.
    pub serviceaccount: Option<(&'a str, &'a str)>,
    /// For a node: its name.
    pub node: Option<&'a str>,
    /// For a human: the IdP email, when known.
    pub email: Option<Cow<'a, str>>,
}

impl Identity {
    pub fn new(config: &crate::config::Identity, source: &Source) -> Result<Identity, ConfigError> {
        let mut identity = Identity {
            oidc_prefixes: config.oidc_prefixes.clone(),
            users: config.users.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ssh_keys: config.ssh_keys.iter().map(|(k, v)| (canonical_fingerprint(k).into_owned(), v.clone())).collect(),
            ssh_user_cas: config.ssh_user_cas.iter().map(|ca| canonical_fingerprint(ca).into_owned()).collect(),
        };
        if let Some(named) = &config.map_file {
            let path = source.resolve(named);
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::new(&shown, None, format!("identity.map_file: cannot read: {e}")))?;
            let map: MapFile = crate::yaml::parse(&text)
                .and_then(crate::yaml::from_document)
                .map_err(|e| ConfigError::new(&shown, e.line, format!("identity.map_file: {}", e.message)))?;
            // Entries written in audit-sieve.yaml win over the map file.
            for (k, v) in map.users {
                identity.users.entry(k).or_insert(v);
            }
            for (k, v) in map.ssh_keys {
                if let Some(why) = fingerprint_problem(&k) {
                    let line = crate::config::line_of_text(&text, &k);
                    return Err(ConfigError::new(&shown, line, format!("identity.map_file: ssh_keys: {k:?}: {why}")));
                }
                identity.ssh_keys.entry(canonical_fingerprint(&k).into_owned()).or_insert(v);
            }
        }
        Ok(identity)
    }

    /// Classifies a Kubernetes username and finds the person behind it.
    pub fn actor<'a>(&'a self, username: &'a str) -> Actor<'a> {
        let mut actor = Actor { kind: ActorKind::Human, serviceaccount: None, node: None, email: None };
        if username.is_empty() {
            actor.kind = ActorKind::Unauthenticated;
        } else if username == "system:anonymous" {
            actor.kind = ActorKind::Anonymous;
        } else if let Some(sa) = username.strip_prefix("system:serviceaccount:") {
            actor.kind = ActorKind::ServiceAccount;
            actor.serviceaccount = sa.split_once(':');
        } else if let Some(node) = username.strip_prefix("system:node:") {
            actor.kind = ActorKind::Node;
            actor.node = Some(node);
        } else if username.starts_with("system:") {
            actor.kind = ActorKind::System;
        } else {
            actor.email = self.email_for(username);
        }
        actor
    }

    /// The email of a human user: a mapped subject or username first, then the username
    /// itself (without a configured OIDC prefix) when it is an email.
    pub fn email_for<'a>(&'a self, username: &'a str) -> Option<Cow<'a, str>> {
        if let Some(email) = self.users.get(username) {
            return Some(Cow::Borrowed(email));
        }
        let bare = self.oidc_prefixes.iter().find_map(|p| username.strip_prefix(p.as_str())).unwrap_or(username);
        if let Some(email) = self.users.get(bare) {
            return Some(Cow::Borrowed(email));
        }
        if let Some(dex) = dex_subject(bare) {
            let (user_id, connector) = (dex.user_id(), dex.connector());
            // `connector:user_id`, then the user id alone; the key is built on the stack.
            let mut key = [0u8; 2 * DEX_ID_MAX + 1];
            let len = connector.len() + 1 + user_id.len();
            key[..connector.len()].copy_from_slice(connector.as_bytes());
            key[connector.len()] = b':';
            key[connector.len() + 1..len].copy_from_slice(user_id.as_bytes());
            let qualified = std::str::from_utf8(&key[..len]).unwrap_or_default();
            for key in [qualified, user_id] {
                if let Some(email) = self.users.get(key) {
                    return Some(Cow::Borrowed(email));
                }
            }
            if looks_like_email(user_id) {
                return Some(Cow::Owned(user_id.to_owned()));
            }
        }
        looks_like_email(bare).then_some(Cow::Borrowed(bare))
    }

    /// Whether certificates of the SSH user CA with this fingerprint name their holders.
    pub fn trusts_ssh_user_ca(&self, fingerprint: &str) -> bool {
        let fingerprint = canonical_fingerprint(fingerprint);
        self.ssh_user_cas.iter().any(|ca| *ca == *fingerprint)
    }

    /// The person a key fingerprint, as sshd logged it, belongs to.
    pub fn person_for_key(&self, fingerprint: &str) -> Option<&str> {
        self.ssh_keys.get(canonical_fingerprint(fingerprint).as_ref()).map(String::as_str)
    }
}

/// A fingerprint as the module keeps and compares it: an MD5 one always with its `MD5:`
/// prefix, which sshd before 6.8 logs without (as a configuration may give it too).
pub fn canonical_fingerprint(fingerprint: &str) -> Cow<'_, str> {
    let bare = !fingerprint.starts_with("SHA256:") && !fingerprint.starts_with("MD5:") && fingerprint.contains(':');
    match bare {
        true => Cow::Owned(format!("MD5:{fingerprint}")),
        false => Cow::Borrowed(fingerprint),
    }
}

/// Why `fingerprint` cannot be one that sshd logs (`SHA256:` and 43 base64 characters, or
/// `MD5:` and 16 colon-separated lowercase hex pairs, as `ssh-keygen -lf` prints them; the
/// pairs alone, as sshd before 6.8 logs them), or
/// `None`. A key that sshd never logs would be looked up in vain: the person behind it
/// would silently never be named.
pub fn fingerprint_problem(fingerprint: &str) -> Option<&'static str> {
    if let Some(base64) = fingerprint.strip_prefix("SHA256:") {
        let valid = base64.len() == 43 && base64.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/');
        return (!valid).then_some("a SHA256 fingerprint is `SHA256:` and 43 base64 characters, without `=` padding");
    }
    // sshd before 6.8 logs an MD5 fingerprint bare (`39:33:...`).
    if let Some(hex) = fingerprint.strip_prefix("MD5:").or(Some(fingerprint).filter(|f| f.len() == 47)) {
        let pairs: Vec<&[u8]> = hex.as_bytes().split(|&c| c == b':').collect();
        let valid = pairs.len() == 16
            && pairs.iter().all(|p| p.len() == 2 && p.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
        return (!valid).then_some("an MD5 fingerprint is `MD5:` and 16 colon-separated lowercase hex pairs");
    }
    Some("not a key fingerprint (`SHA256:...` or `MD5:...`, as `ssh-keygen -lf` prints it)")
}

/// `local@domain.tld`, as an address is written, not text around one: the local part of
/// RFC 5322's dot-atom characters and a domain of letters, digits and hyphens in dotted
/// labels (non-ASCII letters allowed in both). Spaces, brackets, quotes and commas are
/// refused, so a display name an IdP user may edit (`Mallory (ceo@example.com)`) is never
/// taken for an address. Checked bytewise, one table lookup a byte: the `str` pattern
/// searchers cost a human's event about 500 instructions.
fn looks_like_email(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(at) = find_byte(b, b'@', 0) else { return false };
    let (local, domain) = (&b[..at], &b[at + 1..]);
    if local.is_empty() || !local.iter().all(|&c| EMAIL_BYTES[usize::from(c)] & IN_LOCAL != 0) {
        return false;
    }
    // Dotted labels, none empty, at least two.
    let (mut label, mut dots) = (0, 0);
    for &c in domain {
        match c {
            b'.' if label > 0 => (label, dots) = (0, dots + 1),
            _ if EMAIL_BYTES[usize::from(c)] & IN_DOMAIN != 0 => label += 1,
            _ => return false,
        }
    }
    label > 0 && dots > 0
}

/// [`EMAIL_BYTES`] bits: a byte an address may hold before its `@`, after it (outside dots).
const IN_LOCAL: u8 = 1;
const IN_DOMAIN: u8 = 2;

/// What each byte may be in an address, one table lookup per byte.
const EMAIL_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        // Letters, digits and hyphens (non-ASCII letters too) on both sides; RFC 5322's
        // dot-atom marks before the `@` only.
        let both = b.is_ascii_alphanumeric() || b >= 0x80 || b == b'-';
        let local_mark =
            matches!(b, b'.' | b'!' | b'#'..=b'\'' | b'*' | b'+' | b'/' | b'=' | b'?' | b'^'..=b'`' | b'{'..=b'~');
        table[c] = if both {
            IN_LOCAL | IN_DOMAIN
        } else if local_mark {
            IN_LOCAL
        } else {
            0
        };
        c += 1;
    }
    table
};

/// The longest user or connector id a Dex subject is read with (a one-byte length).
const DEX_ID_MAX: usize = 0x7f;

/// A decoded Dex subject: its ids are ranges of the decoded bytes, checked as UTF-8.
pub struct DexSubject {
    bytes: Vec<u8>,
    user_id: Range<usize>,
    connector: Range<usize>,
}

impl DexSubject {
    pub fn user_id(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.user_id.clone()]).unwrap_or_default()
    }

    pub fn connector(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.connector.clone()]).unwrap_or_default()
    }
}

/// Decodes a Dex subject: base64 (standard or URL alphabet, padding optional) of a
/// protobuf message with the user id in field 1 and the connector id in field 2.
pub fn dex_subject(subject: &str) -> Option<DexSubject> {
    if subject.len() < 8 || !subject.starts_with('C') {
        // Field 1, wire type 2 is byte 0x0a, whose base64 starts with 'C'.
        return None;
    }
    let bytes = base64_decode(subject)?;
    let mut fields: [Option<Range<usize>>; 2] = [None, None];
    let mut i = 0;
    while i < bytes.len() {
        let tag = bytes[i];
        let len = usize::from(*bytes.get(i + 1)?);
        if len > DEX_ID_MAX {
            return None; // ids of 128 bytes or more are not expected
        }
        let value = i + 2..i + 2 + len;
        std::str::from_utf8(bytes.get(value.clone())?).ok()?;
        let slot = match tag {
            0x0a => 0,
            0x12 => 1,
            _ => return None,
        };
        fields[slot] = Some(value);
        i += 2 + len;
    }
    let [Some(user_id), Some(connector)] = fields else { return None };
    Some(DexSubject { bytes, user_id, connector })
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().take_while(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(users: &[(&str, &str)], prefixes: &[&str]) -> Identity {
        Identity {
            oidc_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            users: users.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ssh_keys: BTreeMap::new(),
            ssh_user_cas: Vec::new(),
        }
    }

    #[test]
    fn classifies_actors() {
        let id = identity(&[], &["oidc:"]);
        let cases = [
            ("system:anonymous", ActorKind::Anonymous),
            ("system:serviceaccount:kube-system:coredns", ActorKind::ServiceAccount),
            ("system:node:worker-1", ActorKind::Node),
            ("system:kube-scheduler", ActorKind::System),
            ("oidc:alice@example.com", ActorKind::Human),
            ("minikube-user", ActorKind::Human),
            // A request that failed authentication: `"user":{}`.
            ("", ActorKind::Unauthenticated),
        ];
        for (user, kind) in cases {
            assert_eq!(id.actor(user).kind, kind, "{user}");
        }
        assert_eq!(
            id.actor("system:serviceaccount:kube-system:coredns").serviceaccount,
            Some(("kube-system", "coredns"))
        );
        assert_eq!(id.actor("system:node:worker-1").node, Some("worker-1"));
    }

    // A Dex subject for user id "08a8684b-db88-4b73-90a9-3cd1661f5466", connector "local".
    const DEX_SUB: &str = "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs";

    #[test]
    fn decodes_dex_subjects() {
        let dex = dex_subject(DEX_SUB).unwrap();
        assert_eq!((dex.user_id(), dex.connector()), ("08a8684b-db88-4b73-90a9-3cd1661f5466", "local"));
        assert!(dex_subject("alice@example.com").is_none());
        assert!(dex_subject("Cnot-base64!!").is_none());
    }

    #[test]
    fn emails_are_addresses_not_text_around_one() {
        for (s, want) in [
            ("alice@example.com", true),
            ("a@b.c", true),
            ("é@exämple.org", true),
            ("first.last+audit@eu-1.example.co.uk", true),
            ("o'brien@example.com", true),
            // What an editable display name or a free-text key ID may hold.
            ("x alice@example.com", false),
            ("Mallory (ceo@example.com)", false),
            ("<ceo@example.com>", false),
            ("ceo@example.com, ops", false),
            ("\"ceo\"@example.com", false),
            ("ceo@example.com\t", false),
            ("a@.c", false),
            ("a@b..c", false),
            ("a@b.c.", false),
            ("a@b_c.d", false),
            ("@example.com", false),
            ("alice@localhost", false),
            ("a.b@c", false),
            ("a@b@c.d", false),
            ("a@b.c@", false),
            ("", false),
            ("no-at.example.com", false),
        ] {
            assert_eq!(looks_like_email(s), want, "{s}");
        }
    }

    #[test]
    fn dex_subjects_map_by_connector_then_user_id() {
        // User id "08a8684b-db88-4b73-90a9-3cd1661f5466": mapped by the id alone.
        let id = identity(&[("08a8684b-db88-4b73-90a9-3cd1661f5466", "eve@example.com")], &[]);
        assert_eq!(id.email_for(DEX_SUB).as_deref(), Some("eve@example.com"));
        // User id "carol@example.com", connector "ldap": the id is the email when unmapped.
        let sub = "ChFjYXJvbEBleGFtcGxlLmNvbRIEbGRhcA";
        assert_eq!(identity(&[], &[]).email_for(sub).as_deref(), Some("carol@example.com"));
        let mapped = identity(&[("ldap:carol@example.com", "c.r@example.org")], &[]);
        assert_eq!(mapped.email_for(sub).as_deref(), Some("c.r@example.org"));
    }

    #[test]
    fn finds_emails() {
        let id = identity(
            &[("local:08a8684b-db88-4b73-90a9-3cd1661f5466", "eve@example.com"), ("bob", "bob@example.com")],
            &["oidc:", "dex:"],
        );
        let email = |u: &str| id.email_for(u).map(|e| e.into_owned());
        assert_eq!(email("oidc:alice@example.com").as_deref(), Some("alice@example.com"));
        assert_eq!(email("alice@example.com").as_deref(), Some("alice@example.com"));
        assert_eq!(email(&format!("dex:{DEX_SUB}")).as_deref(), Some("eve@example.com"));
        assert_eq!(email("oidc:bob").as_deref(), Some("bob@example.com"));
        assert_eq!(email("minikube-user"), None);
        assert_eq!(email("oidc:not-an-email@localhost"), None);
    }
}
