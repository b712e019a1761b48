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

use crate::identity::{Actor, ActorKind, Identity};
use crate::json::{self, Change, Edits, Member, Members, Span};
use crate::policy::{Attributes, Decision, Level, Policy, ResourceAttributes, Stage};
use std::borrow::Cow;

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
    request_object: Option<Member>,
    response_object: Option<Member>,
    annotations: Option<Member>,
}

impl EventMembers {
    fn read(text: &str, start: usize) -> Result<EventMembers, json::JsonError> {
        let mut e = EventMembers::default();
        let mut members = Members::new(text, start)?;
        while let Some(m) = members.next_member()? {
            let key = if m.key_escaped { json::unescape(m.key.of(text)) } else { Cow::Borrowed(m.key.of(text)) };
            let slot = match key.as_ref() {
                "kind" => &mut e.kind,
                "apiVersion" => &mut e.api_version,
                "auditID" => &mut e.audit_id,
                "level" => &mut e.level,
                "stage" => &mut e.stage,
                "requestURI" => &mut e.request_uri,
                "verb" => &mut e.verb,
                "user" => &mut e.user,
                "impersonatedUser" => &mut e.impersonated_user,
                "objectRef" => &mut e.object_ref,
                "responseStatus" => &mut e.response_status,
                "requestObject" => &mut e.request_object,
                "responseObject" => &mut e.response_object,
                "annotations" => &mut e.annotations,
                _ => continue,
            };
            *slot = Some(m);
        }
        Ok(e)
    }

    /// An audit Event: `kind: Event` with an `audit.k8s.io` apiVersion, or (as in early
    /// captures) no apiVersion but an auditID. Core `v1` Events are not audit events.
    fn is_audit_event(&self, text: &str) -> bool {
        let s = |m: &Option<Member>| m.and_then(|m| json::as_str(text, m.value));
        if s(&self.kind).as_deref() != Some("Event") || self.stage.is_none() || self.verb.is_none() {
            return false;
        }
        match s(&self.api_version) {
            Some(v) => v.starts_with("audit.k8s.io/"),
            None => self.api_version.is_none() && self.audit_id.is_some(),
        }
    }
}

/// The string members of a small object (user, objectRef), decoded.
fn string_member<'t>(text: &'t str, object: Option<Member>, name: &str) -> Option<Cow<'t, str>> {
    let object = object?;
    if !object.value.of(text).starts_with('{') {
        return None;
    }
    let m = json::find_member(text, object.value.start, name).ok()??;
    json::as_str(text, m.value)
}

fn string_items<'t>(text: &'t str, object: Option<Member>, name: &str) -> Vec<Cow<'t, str>> {
    let mut items = Vec::new();
    let Some(object) = object.filter(|o| o.value.of(text).starts_with('{')) else { return items };
    if let Ok(Some(m)) = json::find_member(text, object.value.start, name)
        && m.value.of(text).starts_with('[')
    {
        let _ = json::array_items(text, m.value.start, |item: Span| {
            if let Some(s) = json::as_str(text, item) {
                items.push(s);
            }
        });
    }
    items
}

/// What the module does with one audit event.
pub struct Verdict {
    pub drop: bool,
    /// Index of the deciding rule; `None` when no rule matched (level None).
    pub rule: Option<usize>,
    /// Something was removed (bodies, managedFields).
    pub stripped: bool,
}

/// Review flags a log reviewer filters on.
pub mod flags {
    pub const EXEC: &str = "exec";
    pub const ATTACH: &str = "attach";
    pub const PORT_FORWARD: &str = "port_forward";
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

    /// Decides an event and fills `edits` with the changes to its object. Returns `None`
    /// when the object at `start` is not an audit event.
    pub fn process(
        &self,
        text: &str,
        start: usize,
        identity: &Identity,
        edits: &mut Edits,
        review: &mut Vec<&'static str>,
        actor_out: &mut Vec<u8>,
    ) -> Option<Verdict> {
        let e = EventMembers::read(text, start).ok()?;
        if !e.is_audit_event(text) {
            return None;
        }
        let s = |m: &Option<Member>| m.and_then(|m| json::as_str(text, m.value)).unwrap_or_default();
        let username = string_member(text, e.user, "username").unwrap_or_default();
        let groups = string_items(text, e.user, "groups");
        let group_refs: Vec<&str> = groups.iter().map(|g| g.as_ref()).collect();
        let verb = s(&e.verb);
        let request_uri = s(&e.request_uri);
        let path = request_uri.split('?').next().unwrap_or_default();
        let object_ref = e.object_ref.filter(|o| o.value.of(text).starts_with('{'));
        let field = |name: &str| string_member(text, object_ref, name).unwrap_or_default();
        let (api_group, resource, subresource, namespace, name) =
            (field("apiGroup"), field("resource"), field("subresource"), field("namespace"), field("name"));
        let attrs = Attributes {
            username: &username,
            groups: &group_refs,
            verb: &verb,
            resource: object_ref.map(|_| ResourceAttributes {
                api_group: &api_group,
                resource: &resource,
                subresource: &subresource,
                namespace: &namespace,
                name: &name,
            }),
            path,
        };
        let decision = self.policy.evaluate(&attrs);
        let code = e
            .response_status
            .filter(|m| m.value.of(text).starts_with('{'))
            .and_then(|m| json::find_member(text, m.value.start, "code").ok().flatten())
            .and_then(|m| m.value.of(text).parse::<u16>().ok());
        let stage = Stage::parse(&s(&e.stage));
        let omitted_stage = stage.is_some_and(|st| decision.omit_stages.contains(st));
        let omitted_code = code.is_some_and(|c| self.omit_response_codes.contains(&c));
        if decision.level == Level::None || omitted_stage || omitted_code {
            return Some(Verdict { drop: true, rule: decision.rule, stripped: false });
        }
        let stripped = self.strip(text, &e, &decision, edits);

        // Review flags.
        let is_pods = object_ref.is_some() && api_group.is_empty() && resource == "pods";
        match (is_pods, subresource.as_ref()) {
            (true, "exec") => review.push(flags::EXEC),
            (true, "attach") => review.push(flags::ATTACH),
            (true, "portforward") => review.push(flags::PORT_FORWARD),
            _ => {}
        }
        if object_ref.is_some() && api_group.is_empty() && resource == "secrets" {
            review.push(flags::SECRET_ACCESS);
        }
        let writes = matches!(verb.as_ref(), "create" | "update" | "patch" | "delete" | "deletecollection");
        if object_ref.is_some()
            && api_group == "rbac.authorization.k8s.io"
            && matches!(resource.as_ref(), "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings")
            && writes
        {
            review.push(flags::RBAC_CHANGE);
        }
        let forbidden =
            string_member(text, e.annotations, "authorization.k8s.io/decision").as_deref() == Some("forbid");
        if matches!(code, Some(401 | 403)) || forbidden {
            review.push(flags::AUTH_FAILURE);
        }
        if e.impersonated_user.is_some() {
            review.push(flags::IMPERSONATION);
        }
        if username == "system:anonymous" {
            review.push(flags::ANONYMOUS);
        }

        // The actor, and the impersonated one.
        write_actor(actor_out, &identity.actor(&username), None);
        if let Some(imp) = string_member(text, e.impersonated_user, "username") {
            let inner = {
                let mut v = Vec::new();
                write_actor(&mut v, &identity.actor(&imp), None);
                v
            };
            actor_out.pop();
            actor_out.extend_from_slice(b",\"impersonated\":");
            actor_out.extend_from_slice(&inner);
            actor_out.push(b'}');
        }
        Some(Verdict { drop: false, rule: decision.rule, stripped })
    }

    /// Removes what the decided level does not keep; returns whether anything was removed.
    fn strip(&self, text: &str, e: &EventMembers, decision: &Decision, edits: &mut Edits) -> bool {
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
        let recorded = e.level.and_then(|m| json::as_str(text, m.value)).and_then(|l| Level::parse(&l));
        if recorded.is_some_and(|l| l > decision.level) {
            let mut v = Vec::new();
            json::write_str(&mut v, decision.level.as_str());
            edits.change("level", Change::Replace(v));
        }
        let mut stripped = drop_request || drop_response;
        for (member, key, dropped) in
            [(e.request_object, "requestObject", drop_request), (e.response_object, "responseObject", drop_response)]
        {
            let Some(m) = member.filter(|_| !dropped) else { continue };
            let body = m.value.of(text);
            let managed = decision.omit_managed_fields && body.starts_with('{') && has_managed_fields(text, m.value);
            if !managed && !self.bodies_as_strings {
                continue;
            }
            let mut raw = Vec::new();
            if managed {
                stripped = true;
                let _ = json::rewrite_object(text, m.value.start, &managed_fields_edits(), &mut raw);
            } else {
                raw.extend_from_slice(body.as_bytes());
            }
            if self.bodies_as_strings && (body.starts_with('{') || body.starts_with('[')) {
                let mut quoted = Vec::with_capacity(raw.len() + 16);
                json::write_str(&mut quoted, std::str::from_utf8(&raw).unwrap_or(body));
                raw = quoted;
            }
            edits.change(key, Change::Replace(raw));
        }
        stripped
    }
}

/// Edits removing `metadata.managedFields` from an object and from the items of a list.
fn managed_fields_edits() -> Edits {
    let mut metadata = Edits::default();
    metadata.change("managedFields", Change::Remove);
    let mut item = Edits::default();
    item.change("metadata", Change::Edit(metadata));
    let mut body = Edits::default();
    let mut metadata = Edits::default();
    metadata.change("managedFields", Change::Remove);
    body.change("metadata", Change::Edit(metadata));
    body.change("items", Change::EditItems(item));
    body
}

/// Cheap test before rewriting: does the body mention managedFields at all?
fn has_managed_fields(text: &str, body: Span) -> bool {
    body.of(text).contains("\"managedFields\"")
}

fn write_actor(out: &mut Vec<u8>, actor: &Actor, _unused: Option<()>) {
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
        out.push(b'}');
    }
    if let Some(node) = actor.node.filter(|_| actor.kind == ActorKind::Node) {
        out.extend_from_slice(b",\"node\":");
        json::write_str(out, node);
    }
    out.push(b'}');
}
