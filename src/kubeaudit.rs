//! Kubernetes API audit events (`audit.k8s.io/v1` and `v1beta1` Event).
//!
//! Each event is decided by the configured audit Policy exactly as the apiserver's policy
//! checker would decide the request it records ([`crate::policy`]); then:
//! - level None, an omitted stage or an omitted response code drops the event;
//! - Metadata removes `requestObject` and `responseObject`, Request removes
//!   `responseObject`, and the event's `level` is lowered to match; an event already at or
//!   below the decided level keeps what it has (nothing is invented);
//! - omitManagedFields removes `metadata.managedFields` from the bodies (list items too);
//! - the actor (who is behind the request) and review flags are added.
//!
//! Only the members the decision needs are decoded; bodies are never parsed, only
//! edited in place when a rule asks for it.

use crate::ecs::{self, Ecs};
use crate::filter::PassReason;
use crate::identity::{Actor, ActorKind, Identity};
use crate::json::{self, Change, Decoded, Edits, JsonError, Member, Members, Name, Span};
use crate::policy::{Attributes, Decision, Level, Policy, ResourceAttributes, Scope, Stage};
use crate::request_info;
use crate::streams::find_bytes;
use std::borrow::Cow;
use std::cell::OnceCell;

/// What the policy engine did, per rule, for the dry-run report.
#[derive(Debug, Default, Clone)]
pub struct RuleStats {
    pub matched: u64,
    pub dropped: u64,
    pub stripped: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

pub struct KubeAudit {
    policy: Policy,
    omit_response_codes: Vec<u16>,
    bodies_as_strings: bool,
    /// One entry per policy rule, then one for events no rule matched.
    pub rule_stats: Vec<RuleStats>,
}

/// The members of an event the module reads.
#[derive(Default)]
struct EventMembers {
    kind: Option<Member>,
    api_version: Option<Member>,
    audit_id: Option<Member>,
    level: Option<Member>,
    stage: Option<Member>,
    request_uri: Option<Member>,
    verb: Option<Member>,
    user: Option<Member>,
    impersonated_user: Option<Member>,
    object_ref: Option<Member>,
    response_status: Option<Member>,
    source_ips: Option<Member>,
    user_agent: Option<Member>,
    request_object: Option<Member>,
    response_object: Option<Member>,
    annotations: Option<Member>,
    /// Members of `user`, `objectRef` and `responseStatus`, read in the same walk.
    username: Option<Member>,
    groups: Option<Member>,
    /// `user.extra`: for a pod's ServiceAccount token, the pod and its node.
    user_extra: Option<Member>,
    api_group: Option<Member>,
    resource: Option<Member>,
    subresource: Option<Member>,
    namespace: Option<Member>,
    name: Option<Member>,
    code: Option<Member>,
    /// Which of the decision's inputs have been read ([`decision_inputs`]).
    seen: u8,
}

/// The objects whose members are read in the same walk as the event's.
fn is_read_inside(name: Name) -> bool {
    matches!(name, names::USER | names::OBJECT_REF | names::RESPONSE_STATUS)
}

impl EventMembers {
    /// Reads members from `walk` into `all` until `enough` says the decision's inputs are
    /// known, or to the end of the object.
    fn absorb(
        &mut self,
        walk: &mut Members,
        all: &mut Vec<Member>,
        enough: impl Fn(&Self) -> bool,
    ) -> Result<(), JsonError> {
        loop {
            let outer_seen = self.seen;
            let mut inner = |outer: Name, name: Name, m: Member| self.take_inner(outer, name, m, outer_seen);
            let Some((name, m)) = walk.next_named_reading(is_read_inside, &mut inner)? else { return Ok(()) };
            all.push(m);
            self.take(name, m);
            if enough(self) {
                // Stopping here: the member just read must still be followed by what JSON
                // allows, or no decision rests on it.
                return walk.check_separator();
            }
        }
    }

    /// A member of `user`, `objectRef` or `responseStatus` (of the first of each: `seen` is
    /// [`EventMembers::seen`] before the outer member).
    #[inline(always)]
    fn take_inner(&mut self, outer: Name, name: Name, m: Member, seen: u8) {
        use decision_inputs as needed;
        let user_seen = seen & needed::USER != 0;
        let object_ref_seen = seen & needed::OBJECT_REF != 0;
        let status_seen = seen & needed::RESPONSE_STATUS != 0;
        let slot = match (outer, name) {
            (names::USER, names::USERNAME) if !user_seen => &mut self.username,
            (names::USER, names::GROUPS) if !user_seen => &mut self.groups,
            (names::USER, names::EXTRA) if !user_seen => &mut self.user_extra,
            (names::OBJECT_REF, names::API_GROUP) if !object_ref_seen => &mut self.api_group,
            (names::OBJECT_REF, names::RESOURCE) if !object_ref_seen => &mut self.resource,
            (names::OBJECT_REF, names::SUBRESOURCE) if !object_ref_seen => &mut self.subresource,
            (names::OBJECT_REF, names::NAMESPACE) if !object_ref_seen => &mut self.namespace,
            (names::OBJECT_REF, names::NAME) if !object_ref_seen => &mut self.name,
            (names::RESPONSE_STATUS, names::CODE) if !status_seen => &mut self.code,
            _ => return,
        };
        slot.get_or_insert(m);
    }

    /// A top-level member: the first of each name is kept.
    #[inline(always)]
    fn take(&mut self, name: Name, m: Member) {
        use decision_inputs as needed;
        // Keys of audit events are plain ASCII; an escaped key is never one of them.
        let (slot, input) = match name {
            names::KIND => (&mut self.kind, needed::KIND),
            names::API_VERSION => (&mut self.api_version, needed::VERSION),
            names::AUDIT_ID => (&mut self.audit_id, needed::VERSION),
            names::LEVEL => (&mut self.level, 0),
            names::STAGE => (&mut self.stage, needed::STAGE),
            names::REQUEST_URI => (&mut self.request_uri, needed::REQUEST_URI),
            names::VERB => (&mut self.verb, needed::VERB),
            names::USER => (&mut self.user, needed::USER),
            names::IMPERSONATED_USER => (&mut self.impersonated_user, 0),
            names::OBJECT_REF => (&mut self.object_ref, needed::OBJECT_REF),
            names::RESPONSE_STATUS => (&mut self.response_status, needed::RESPONSE_STATUS),
            names::SOURCE_IPS => (&mut self.source_ips, 0),
            names::USER_AGENT => (&mut self.user_agent, 0),
            names::REQUEST_OBJECT => (&mut self.request_object, 0),
            names::RESPONSE_OBJECT => (&mut self.response_object, 0),
            names::ANNOTATIONS => (&mut self.annotations, 0),
            _ => return,
        };
        slot.get_or_insert(m);
        self.seen |= input;
    }

    /// An audit Event: `kind: Event` with an `audit.k8s.io` apiVersion, or (as in early
    /// captures) no apiVersion but an auditID. Core `v1` Events are not audit events.
    fn is_audit_event(&self, b: &[u8]) -> bool {
        if self.stage.is_none() || self.verb.is_none() || raw(b, self.kind) != Some(b"\"Event\"") {
            return false;
        }
        match raw(b, self.api_version) {
            Some(v) => v.starts_with(b"\"audit.k8s.io/"),
            None => self.audit_id.is_some(),
        }
    }

    /// Whether everything the policy decision reads has been seen. The apiserver writes
    /// `objectRef` and `responseStatus` after the user, verb and URI, and the bodies after
    /// them: a dropped event's bodies are never scanned. (A non-resource request has no
    /// `objectRef`, so it is read to its end.)
    fn decidable(&self, need_code: bool) -> bool {
        use decision_inputs as needed;
        let all = needed::KIND
            | needed::VERSION
            | needed::STAGE
            | needed::VERB
            | needed::USER
            | needed::OBJECT_REF
            | needed::REQUEST_URI;
        let all = if need_code { all | needed::RESPONSE_STATUS } else { all };
        self.seen & all == all
    }
}

/// Bits of [`EventMembers::seen`]: one test after each member says whether the decision
/// can be made.
mod decision_inputs {
    pub const KIND: u8 = 1;
    /// `apiVersion` or, in early captures, `auditID`.
    pub const VERSION: u8 = 2;
    pub const STAGE: u8 = 4;
    pub const VERB: u8 = 8;
    pub const USER: u8 = 16;
    pub const OBJECT_REF: u8 = 32;
    pub const RESPONSE_STATUS: u8 = 64;
    /// The path the request's namespace and name are resolved from ([`crate::request_info`]).
    pub const REQUEST_URI: u8 = 128;
}

/// The member names the module reads.
mod names {
    use crate::json::Name;
    pub const KIND: Name = Name::of("kind");
    pub const API_VERSION: Name = Name::of("apiVersion");
    pub const AUDIT_ID: Name = Name::of("auditID");
    pub const LEVEL: Name = Name::of("level");
    pub const STAGE: Name = Name::of("stage");
    pub const REQUEST_URI: Name = Name::of("requestURI");
    pub const VERB: Name = Name::of("verb");
    pub const USER: Name = Name::of("user");
    pub const OBJECT_REF: Name = Name::of("objectRef");
    pub const RESPONSE_STATUS: Name = Name::of("responseStatus");
    pub const IMPERSONATED_USER: Name = Name::of("impersonatedUser");
    pub const SOURCE_IPS: Name = Name::of("sourceIPs");
    pub const USER_AGENT: Name = Name::of("userAgent");
    pub const REQUEST_OBJECT: Name = Name::of("requestObject");
    pub const RESPONSE_OBJECT: Name = Name::of("responseObject");
    pub const ANNOTATIONS: Name = Name::of("annotations");
    pub const USERNAME: Name = Name::of("username");
    pub const GROUPS: Name = Name::of("groups");
    pub const EXTRA: Name = Name::of("extra");
    pub const API_GROUP: Name = Name::of("apiGroup");
    pub const RESOURCE: Name = Name::of("resource");
    pub const SUBRESOURCE: Name = Name::of("subresource");
    pub const NAMESPACE: Name = Name::of("namespace");
    pub const NAME: Name = Name::of("name");
    pub const CODE: Name = Name::of("code");
}

/// The members of a container log record whose string may carry an event, in the order
/// they are tried: the docker parser's `log`, the CRI parser's `message`.
pub const CARRIERS: [&str; 2] = ["log", "message"];

/// Walks the object at `start` of `b` to its end in one pass when it starts as a container
/// log line does ([`starts_a_container_log`]): lists its members in `members` and decodes
/// the first event string of a [`CARRIERS`] member into `carried`, so that the string is
/// read once, not scanned and then decoded. `false` (both left empty) for any other
/// record, one with a `kind` (it may be an audit event itself) or one that is not valid
/// JSON: the audit-event walk ([`KubeAudit::process`]) then reads it, as it reads every
/// other record. Inlined: as a call, its first test cost every audit event about 30
/// instructions.
#[inline(always)]
pub fn walk_container_log(b: &[u8], start: usize, members: &mut Vec<Member>, carried: &mut Decoded) -> bool {
    if !starts_a_container_log(b, start) {
        return false;
    }
    let mut walk_to_end = || {
        let mut walk = Members::over(b, start).ok()?;
        while let Some((name, m)) = walk.next_member_decoding(carried, is_carrier).ok()? {
            if name == names::KIND {
                return None;
            }
            members.push(m);
        }
        walk.end().filter(|&end| json::skip_ws(b, end) == b.len())
    };
    let walked = walk_to_end().is_some();
    if !walked {
        members.clear();
        carried.clear();
    }
    walked
}

/// Whether `name` is one of the [`CARRIERS`].
fn is_carrier(name: Name) -> bool {
    const LOG: Name = Name::of(CARRIERS[0]);
    const MESSAGE: Name = Name::of(CARRIERS[1]);
    matches!(name, LOG | MESSAGE)
}

/// Whether the object at `start` of `b` starts as Fluent Bit renders a container log line
/// from its docker or CRI parser: `{"log":`, `{"time":`, `{"stream"`, `{"message` (an
/// audit event starts with `{"kind"`). One word compared, not a key read: every record
/// is tested.
fn starts_a_container_log(b: &[u8], start: usize) -> bool {
    /// The first bytes of a word, and the mask that keeps them.
    const fn head(s: &[u8]) -> (u64, u64) {
        let (mut value, mut i) = (0, 0);
        while i < s.len() {
            value |= (s[i] as u64) << (8 * i);
            i += 1;
        }
        (value, u64::MAX >> (64 - 8 * s.len()))
    }
    const HEADS: [(u64, u64); 4] = [head(b"\"log\":"), head(b"\"time\":"), head(b"\"stream\""), head(b"\"message")];
    let Some(word) = b.get(start + 1..).and_then(<[u8]>::first_chunk::<8>) else { return false };
    let word = u64::from_le_bytes(*word);
    HEADS.iter().any(|&(value, mask)| word & mask == value)
}

fn raw(b: &[u8], m: Option<Member>) -> Option<&[u8]> {
    m.map(|m| &b[m.value.start..m.value.end])
}

/// The string value of a member as UTF-8 bytes: borrowed from the record when the string
/// is plain ASCII (the common case: no per-string UTF-8 check), decoded otherwise; `None`
/// when absent, not a string or not UTF-8.
fn bytes_value(b: &[u8], m: Option<Member>) -> Option<Cow<'_, [u8]>> {
    let m = m?;
    if m.value_plain {
        // The walk saw it: no second look.
        return Some(Cow::Borrowed(&b[m.value.start + 1..m.value.end - 1]));
    }
    json::str_bytes_at(b, m.value)
}

/// An HTTP status code written as a JSON number (digits only).
fn status_code(raw: &[u8]) -> Option<u16> {
    if raw.is_empty() || raw.len() > 5 {
        return None;
    }
    raw.iter().try_fold(0u16, |n, &c| {
        let digit = c.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u16::from(digit))
    })
}

/// The members of a small object (user, objectRef) with these names, in one walk.
fn object_members<const N: usize>(b: &[u8], object: Option<Member>, names: [&[u8]; N]) -> [Option<Member>; N] {
    let mut found = [None; N];
    let Some(object) = object.filter(|o| b[o.value.start] == b'{') else { return found };
    let Ok(mut members) = Members::over(b, object.value.start) else { return found };
    while let Ok(Some(m)) = members.next_member() {
        let key = &b[m.key.start..m.key.end];
        if let Some(i) = names.iter().position(|n| *n == key) {
            found[i].get_or_insert(m);
        }
    }
    found
}

/// The string items of an array member (a user's groups) as in [`bytes_value`].
fn string_items<'t>(b: &'t [u8], array: Option<Member>, mut each: impl FnMut(Cow<'t, [u8]>)) {
    let Some(array) = array.filter(|a| b[a.value.start] == b'[') else { return };
    let _ = json::array_items_bytes(b, array.value.start, |item: Span, plain| {
        if plain {
            each(Cow::Borrowed(&b[item.start + 1..item.end - 1]));
        } else if let Some(s) = json::str_bytes_at(b, item) {
            each(s);
        }
    });
}

/// What the module does with one audit event.
pub struct Verdict<'t> {
    pub drop: bool,
    /// The event's bytes (checked: UTF-8 and JSON) when it is kept.
    pub text: &'t [u8],
    /// Index of the deciding rule; `None` when no rule matched (level None).
    pub rule: Option<usize>,
    /// Something was removed (bodies, managedFields).
    pub stripped: bool,
    /// Just past a kept event's object.
    pub end: usize,
}

/// Review flags a log reviewer filters on.
pub mod flags {
    pub const EXEC: &str = "exec";
    pub const ATTACH: &str = "attach";
    pub const PORT_FORWARD: &str = "port_forward";
    pub const DEBUG_CONTAINER: &str = "debug_container";
    pub const SECRET_ACCESS: &str = "secret_access";
    pub const RBAC_CHANGE: &str = "rbac_change";
    pub const AUTH_FAILURE: &str = "auth_failure";
    pub const IMPERSONATION: &str = "impersonation";
    pub const ANONYMOUS: &str = "anonymous";
}

impl KubeAudit {
    pub fn new(policy: Policy, omit_response_codes: Vec<u16>, bodies_as_strings: bool) -> KubeAudit {
        let rule_stats = vec![RuleStats::default(); policy.rules_len() + 1];
        KubeAudit { policy, omit_response_codes, bodies_as_strings, rule_stats }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Decides the event at `start` of `b` and, when it is kept, fills `all` with its
    /// members (checked, for [`json::rewrite_members`]) and `edits` with the changes to its
    /// object. `Ok(None)`: not an audit event (then `all` holds its members if they were all
    /// read). `Err`: an event the module cannot rewrite (invalid JSON or UTF-8), to pass
    /// through untouched.
    ///
    /// A dropped event is read only as far as the decision needs (see
    /// [`EventMembers::decidable`]); a kept one is read, and checked, to its end.
    #[allow(clippy::too_many_arguments)]
    pub fn process<'t>(
        &self,
        b: &'t [u8],
        start: usize,
        identity: &Identity,
        all: &mut Vec<Member>,
        edits: &mut Edits,
        review: &mut Vec<&'static str>,
        actor_out: &mut Vec<u8>,
        ecs: Option<&mut Ecs>,
    ) -> Result<Option<Verdict<'t>>, PassReason> {
        let mut walk = Members::over(b, start).map_err(|_| PassReason::NotJson)?;
        let mut e = EventMembers::default();
        let need_code = !self.omit_response_codes.is_empty();
        e.absorb(&mut walk, all, |e| e.decidable(need_code)).map_err(|_| PassReason::NotJson)?;
        if !e.is_audit_event(b) {
            // `all` lists the object's members only when the walk reached its end.
            if walk.end().is_none() {
                all.clear();
            }
            return Ok(None);
        }
        // The decision reads strings as bytes, borrowed from the record (see `bytes_value`).
        let field = |m: Option<Member>| bytes_value(b, m).unwrap_or_default();
        let username = bytes_value(b, e.username);
        // Groups are borrowed into a fixed array; only escaped or very many groups allocate.
        let mut inline: [&[u8]; 16] = [b""; 16];
        let mut count = 0;
        let mut spill: Vec<Cow<[u8]>> = Vec::new();
        string_items(b, e.groups, |group| match group {
            Cow::Borrowed(g) if count < inline.len() => {
                inline[count] = g;
                count += 1;
            }
            other => spill.push(other),
        });
        let spilled: Vec<&[u8]>;
        let group_refs: &[&[u8]] = if spill.is_empty() {
            &inline[..count]
        } else {
            spilled = inline[..count].iter().copied().chain(spill.iter().map(|g| g.as_ref())).collect();
            &spilled
        };
        let verb = field(e.verb);
        let object_ref = e.object_ref.filter(|o| b[o.value.start] == b'{');
        let (api_group, resource, subresource) = (field(e.api_group), field(e.resource), field(e.subresource));
        // The namespace and name the request had (see `request_info`). The body can only
        // have filled in what the request left empty, and a list's or watch's name is its
        // own: the path is read only when `objectRef` holds a namespace, or a name the
        // request may not have had, and for a request without a resource (nonResourceURLs).
        // For a resource it is read only when a rule asks for the namespace or the name.
        let (namespace, name) = (field(e.namespace), field(e.name));
        let list_or_watch = matches!(verb.as_ref(), b"list" | b"watch");
        let scoped = object_ref.is_some() && (!namespace.is_empty() || !(name.is_empty() || list_or_watch));
        let request_uri = field(e.request_uri);
        let path = match object_ref {
            None => request_info::request_path(&request_uri),
            Some(_) => Cow::Borrowed(&b""[..]),
        };
        // A resource request's path, decoded once: for the decision when a rule asks for
        // the namespace or the name, and for the kubelet endpoint of a node proxy request.
        let resource_path = OnceCell::new();
        let read_path = || resource_path.get_or_init(|| request_info::request_path(&request_uri));
        let from_path = OnceCell::new();
        let read_scope = || {
            *from_path.get_or_init(|| match request_info::path_scope(read_path()) {
                Some(s) if !s.named && !list_or_watch => (s.namespace, &b""[..]),
                Some(s) => (s.namespace, name.as_ref()),
                None => (namespace.as_ref(), name.as_ref()),
            })
        };
        let attrs = Attributes {
            username: username.as_deref(),
            groups: group_refs,
            verb: &verb,
            resource: object_ref.map(|_| ResourceAttributes {
                api_group: &api_group,
                resource: &resource,
                subresource: &subresource,
                scope: match scoped {
                    true => Scope::OnDemand(&read_scope),
                    false => Scope::Known { namespace: &namespace, name: &name },
                },
            }),
            path: &path,
        };
        let decision = self.policy.evaluate(&attrs);
        let code = raw(b, e.code).and_then(status_code);
        let stage = bytes_value(b, e.stage).and_then(Stage::parse);
        let omitted_stage = stage.is_some_and(|st| decision.omit_stages.contains(st));
        let omitted_code = code.is_some_and(|c| self.omit_response_codes.contains(&c));
        if decision.level == Level::None || omitted_stage || omitted_code {
            return Ok(Some(Verdict { drop: true, rule: decision.rule, stripped: false, text: b"", end: 0 }));
        }

        // Kept: the output is built from the record's text, so all of it must be valid: UTF-8
        // here, and JSON as the rewrite copies it (see `filter`).
        if !json::is_utf8(b) {
            return Err(PassReason::NotUtf8);
        }
        // The same walk goes on to the end: every member is checked, and the rewrite gets
        // the whole member list.
        e.absorb(&mut walk, all, |_| false).map_err(|_| PassReason::NotJson)?;
        let end = walk.end().ok_or(PassReason::NotJson)?;
        // The decision may have been made before `responseStatus` was reached (the
        // apiserver writes it after `objectRef`): its code is read now, for the flags.
        let code = code.or_else(|| raw(b, e.code).and_then(status_code));
        // From here on the strings are read as text.
        // The flags compare the decision's bytes; the user's name is read as text.
        let text_field = |m: Option<Member>| m.and_then(|m| m.value_str_at(b)).unwrap_or_default();
        let username = text_field(e.username);
        let stripped = self.strip(b, &e, &decision, &verb, edits);

        // Review flags.
        let core = object_ref.is_some() && api_group.is_empty();
        let writes = matches!(verb.as_ref(), b"create" | b"update" | b"patch" | b"delete" | b"deletecollection");
        match (core && *resource == *b"pods", subresource.as_ref()) {
            (true, b"exec") => review.push(flags::EXEC),
            (true, b"attach") => review.push(flags::ATTACH),
            (true, b"portforward") => review.push(flags::PORT_FORWARD),
            // `kubectl debug`: a container of the user's choosing added to a running pod.
            (true, b"ephemeralcontainers") if writes => review.push(flags::DEBUG_CONTAINER),
            _ => {}
        }
        // The kubelet's own exec, attach and port-forward, reached through the node proxy:
        // the pod's subresources are never asked for.
        if core && *resource == *b"nodes" && *subresource == *b"proxy" {
            match request_info::kubelet_endpoint(read_path()) {
                Some(b"exec" | b"run") => review.push(flags::EXEC),
                Some(b"attach") => review.push(flags::ATTACH),
                Some(b"portForward") => review.push(flags::PORT_FORWARD),
                _ => {}
            }
        }
        if core && *resource == *b"secrets" {
            review.push(flags::SECRET_ACCESS);
        }
        if object_ref.is_some()
            && *api_group == *b"rbac.authorization.k8s.io"
            && matches!(resource.as_ref(), b"roles" | b"rolebindings" | b"clusterroles" | b"clusterrolebindings")
            && writes
        {
            review.push(flags::RBAC_CHANGE);
        }
        // Most requests are allowed: the annotations are walked only when they mention a
        // forbid, and only when the code has not flagged the event already.
        let forbidden = || {
            let mentions =
                e.annotations.is_some_and(|m| find_bytes(&b[m.value.start..m.value.end], b"forbid\"").is_some());
            let [decision_note] =
                if mentions { object_members(b, e.annotations, [b"authorization.k8s.io/decision"]) } else { [None] };
            raw(b, decision_note) == Some(b"\"forbid\"")
        };
        if matches!(code, Some(401 | 403)) || forbidden() {
            review.push(flags::AUTH_FAILURE);
        }
        if e.impersonated_user.is_some() {
            review.push(flags::IMPERSONATION);
        }
        if username == "system:anonymous" {
            review.push(flags::ANONYMOUS);
        }

        // The actor, and the impersonated one.
        let actor = identity.actor(&username);
        let pod = match actor.kind {
            ActorKind::ServiceAccount => bound_pod(b, e.user_extra),
            _ => [None, None],
        };
        write_actor(actor_out, &actor, pod);
        if let Some(ecs) = ecs {
            // Decoded or plain ASCII: UTF-8 either way.
            ecs.action.push_str(std::str::from_utf8(&verb).unwrap_or_default());
            ecs.outcome = code.map(ecs::http_outcome).unwrap_or_default();
            ecs.user_name.push_str(&username);
            ecs.user_email.push_str(actor.email.as_deref().unwrap_or_default());
            let mut first_ip = None;
            if let Some(ips) = e.source_ips.filter(|a| b[a.value.start] == b'[') {
                let _ = json::array_items_bytes(b, ips.value.start, |item, _| {
                    first_ip = first_ip.take().or_else(|| json::str_at(b, item));
                });
            }
            ecs.source_ip.push_str(first_ip.as_deref().unwrap_or_default());
            ecs.user_agent.push_str(&text_field(e.user_agent));
        }
        let [impersonated] = object_members(b, e.impersonated_user, [b"username"]);
        if let Some(imp) = impersonated.and_then(|m| m.value_str_at(b)) {
            actor_out.pop();
            actor_out.extend_from_slice(b",\"impersonated\":");
            // An impersonator chooses the impersonated user's extra: no pod is read from it.
            write_actor(actor_out, &identity.actor(&imp), [None, None]);
            actor_out.push(b'}');
        }
        Ok(Some(Verdict { drop: false, rule: decision.rule, stripped, text: b, end }))
    }

    /// Removes what the decided level does not keep; returns whether anything was removed.
    fn strip(&self, b: &[u8], e: &EventMembers, decision: &Decision, verb: &[u8], edits: &mut Edits) -> bool {
        let has = |m: &Option<Member>| m.is_some();
        let drop_request = decision.level < Level::Request && has(&e.request_object);
        let drop_response = decision.level < Level::RequestResponse && has(&e.response_object);
        if drop_request {
            edits.change("requestObject", Change::Remove);
        }
        if drop_response {
            edits.change("responseObject", Change::Remove);
        }
        // Lower the event's own level when it claims more than it now carries.
        let recorded = e.level.and_then(|m| m.value_str_at(b)).and_then(|l| Level::parse(&l));
        if recorded.is_some_and(|l| l > decision.level) {
            edits.replace_with("level", |out| json::write_str(out, decision.level.as_str()));
        }
        let mut stripped = drop_request || drop_response;
        for (member, key, dropped) in
            [(e.request_object, "requestObject", drop_request), (e.response_object, "responseObject", drop_response)]
        {
            let Some(m) = member.filter(|_| !dropped) else { continue };
            let body = &b[m.value.start..m.value.end];
            // A patch is recorded as the client sent it (the apiserver's `LogRequestPatch`):
            // a patch that clears managedFields is what the record is for.
            let patch = key == "requestObject" && verb == b"patch";
            let managed = decision.omit_managed_fields && !patch && body[0] == b'{' && has_managed_fields(body);
            if !managed && !self.bodies_as_strings {
                continue;
            }
            let mut raw = Vec::new();
            if managed {
                stripped = true;
                let _ = json::rewrite_object(b, m.value.start, &managed_fields_edits(is_table(body)), &mut raw);
            } else {
                raw.extend_from_slice(body);
            }
            if self.bodies_as_strings && matches!(body[0], b'{' | b'[') {
                let mut quoted = Vec::with_capacity(raw.len() + 16);
                // The record was checked as UTF-8, and the rewrite adds only text.
                json::write_str(&mut quoted, std::str::from_utf8(&raw).unwrap_or_default());
                raw = quoted;
            }
            edits.change(key, Change::Replace(raw));
        }
        stripped
    }
}

/// Edits removing `metadata.managedFields` from an object and from the items of a list, or
/// from the object of each row of a Table (`kubectl get`'s responses), as the apiserver does.
fn managed_fields_edits(table: bool) -> Edits {
    let without_managed_fields = || {
        let mut metadata = Edits::default();
        metadata.change("managedFields", Change::Remove);
        let mut object = Edits::default();
        object.change("metadata", Change::Edit(metadata));
        object
    };
    let mut body = without_managed_fields();
    body.change("items", Change::EditItems(without_managed_fields()));
    if table {
        let mut row = Edits::default();
        row.change("object", Change::Edit(without_managed_fields()));
        body.change("rows", Change::EditItems(row));
    }
    body
}

/// A `meta.k8s.io` Table: its objects are in its rows.
fn is_table(body: &[u8]) -> bool {
    let Ok([kind, version]) = json::find_members(body, 0, ["kind", "apiVersion"]) else { return false };
    let raw = |m: Option<Member>| m.map(|m| &body[m.value.start..m.value.end]);
    raw(kind) == Some(b"\"Table\"") && raw(version).is_some_and(|v| v.starts_with(b"\"meta.k8s.io/"))
}

/// Cheap test before rewriting: does the body mention managedFields at all?
fn has_managed_fields(body: &[u8]) -> bool {
    find_bytes(body, b"\"managedFields\"").is_some()
}

/// The pod and node a ServiceAccount token was bound to, which the apiserver's token
/// authenticator writes in the user's extra (`pod-name` since Kubernetes 1.12, `node-name`
/// since 1.30). Where the token was bound, not where the request came from: whoever may
/// create `serviceaccounts/token` can mint a token bound to a pod and use it elsewhere.
fn bound_pod(b: &[u8], extra: Option<Member>) -> [Option<Cow<'_, str>>; 2] {
    let keys = [&b"authentication.kubernetes.io/pod-name"[..], b"authentication.kubernetes.io/node-name"];
    object_members(b, extra, keys).map(|values| {
        let mut first = None;
        string_items(b, values, |item| {
            if first.is_none() {
                first = match item {
                    Cow::Borrowed(s) => std::str::from_utf8(s).ok().map(Cow::Borrowed),
                    Cow::Owned(s) => String::from_utf8(s).ok().map(Cow::Owned),
                };
            }
        });
        first
    })
}

/// `pod`: [`bound_pod`]'s pod and node, written in a ServiceAccount's object.
fn write_actor(out: &mut Vec<u8>, actor: &Actor, pod: [Option<Cow<str>>; 2]) {
    out.extend_from_slice(b"{\"kind\":");
    json::write_str(out, actor.kind.as_str());
    if let Some(email) = &actor.email {
        out.extend_from_slice(b",\"email\":");
        json::write_str(out, email);
    }
    if let Some((ns, name)) = actor.serviceaccount {
        out.extend_from_slice(b",\"serviceaccount\":{\"namespace\":");
        json::write_str(out, ns);
        out.extend_from_slice(b",\"name\":");
        json::write_str(out, name);
        let [pod, node] = pod;
        for (key, value) in [(&b",\"bound_pod\":"[..], pod), (b",\"bound_node\":", node)] {
            if let Some(value) = value {
                out.extend_from_slice(key);
                json::write_str(out, &value);
            }
        }
        out.push(b'}');
    }
    if let Some(node) = actor.node.filter(|_| actor.kind == ActorKind::Node) {
        out.extend_from_slice(b",\"node\":");
        json::write_str(out, node);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::{starts_a_container_log, status_code};

    #[test]
    fn container_log_lines_are_told_by_their_first_key() {
        for (record, want) in [
            (r#"{"log":"x"}"#, true),
            (r#"{"time":"t","stream":"stdout","_p":"F","log":"x"}"#, true),
            (r#"{"stream":"stdout","logtag":"F","message":"x"}"#, true),
            (r#"{"message":"x"}"#, true),
            (r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1"}"#, false),
            (r#"{"logs":"x","y":1}"#, false),
            (r#"{"timestamp":"t","y":1}"#, false),
            (r#"{ "log":"x","y":1}"#, false),
            // The key alone decides which walk reads the record.
            (r#"{"log":1}"#, true),
            (r#"{"log":""}"#, true),
            ("{}", false),
        ] {
            assert_eq!(starts_a_container_log(record.as_bytes(), 0), want, "{record}");
        }
    }

    #[test]
    fn status_codes_are_json_integers_in_range() {
        for (raw, want) in [
            ("200", Some(200)),
            ("0", Some(0)),
            ("65535", Some(65535)),
            ("65536", None),
            ("99999", None),
            ("403.0", None),
            ("4e2", None),
            ("-1", None),
            ("", None),
            ("\"403\"", None),
            ("123456", None),
        ] {
            assert_eq!(status_code(raw.as_bytes()), want, "{raw}");
        }
    }
}
