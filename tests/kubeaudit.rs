//! Kubernetes audit events through the built module: policy decisions on the real corpus,
//! body stripping, enrichment and review flags, golden records, start-up lint.

mod common;

use audit_sieve::policy::{Attributes, Extensions, Level, Policy, ResourceAttributes, Scope, Stage};
use audit_sieve_host::{Fate, FluentBitHost};
use common::*;
use serde_json::{Value, json};

/// Every one-event-per-line file of the Kubernetes part of the corpus.
fn corpus_events() -> Vec<(String, Value)> {
    let mut files = vec![
        "kubeaudit/ALL_sources_combined.ndjson".to_owned(),
        "kubeaudit/audit2rbac_demo.log".to_owned(),
        "kubeaudit/aks_sysdiglabs/eventhub_records_unwrapped.ndjson".to_owned(),
    ];
    let dir = "kubeaudit/openshift_clo";
    let mut names: Vec<_> = std::fs::read_dir(corpus(dir)).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    files.extend(
        names
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log" || e == "ndjson"))
            .map(|p| format!("{dir}/{}", p.file_name().unwrap().to_string_lossy())),
    );
    let mut events = Vec::new();
    for file in files {
        for line in corpus_lines(&file) {
            if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&line)
                && v["kind"] == "Event"
                && v["apiVersion"].as_str().is_some_and(|a| a.starts_with("audit.k8s.io/"))
            {
                events.push((line, v));
            }
        }
    }
    assert!(events.len() > 300, "{}", events.len());
    events
}

fn corpus_policies() -> Vec<(String, String)> {
    let dir = corpus("kubeaudit/policies");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    names
        .iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(p).unwrap()))
        .collect()
}

/// The decision for an event, with the request attributes read independently of the
/// module (serde_json), by the same policy engine compiled natively.
fn expected_level(policy: &Policy, event: &Value, omit_codes: &[u64]) -> Level {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let user = &event["user"];
    let groups: Vec<String> = user["groups"].as_array().map(|g| g.iter().map(s).collect()).unwrap_or_default();
    let group_refs: Vec<&[u8]> = groups.iter().map(|g| g.as_bytes()).collect();
    let username = user["username"].as_str();
    let verb = s(&event["verb"]);
    let uri = s(&event["requestURI"]);
    let o = &event["objectRef"];
    let (g, r, sr) = (s(&o["apiGroup"]), s(&o["resource"]), s(&o["subresource"]));
    let (ns, n) = match requested_scope(&uri, &verb) {
        Some((ns, true)) => (ns, s(&o["name"])),
        Some((ns, false)) => (ns, String::new()),
        None => (s(&o["namespace"]), s(&o["name"])),
    };
    let attrs = Attributes {
        username: username.map(str::as_bytes),
        groups: &group_refs,
        verb: verb.as_bytes(),
        resource: o.is_object().then_some(ResourceAttributes {
            api_group: g.as_bytes(),
            resource: r.as_bytes(),
            subresource: sr.as_bytes(),
            scope: Scope::Known { namespace: ns.as_bytes(), name: n.as_bytes() },
        }),
        path: uri.split('?').next().unwrap_or_default().as_bytes(),
    };
    let decision = policy.evaluate(&attrs);
    let stage = Stage::parse(event["stage"].as_str().unwrap_or_default());
    let code = event["responseStatus"]["code"].as_u64();
    if stage.is_some_and(|st| decision.omit_stages.contains(st)) || code.is_some_and(|c| omit_codes.contains(&c)) {
        return Level::None;
    }
    decision.level
}

/// The namespace the apiserver decided with, from the request path (the corpus's paths are
/// not percent-encoded), and whether the request had the event's name: when the path names
/// an object, or a list or watch may select one. The event's `objectRef` was completed from
/// the request body afterwards. `None` when the path is no resource request.
fn requested_scope(uri: &str, verb: &str) -> Option<(String, bool)> {
    let path = uri.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut rest = match parts[..] {
        ["api", _, ref rest @ ..] | ["apis", _, _, ref rest @ ..] if !rest.is_empty() => rest,
        _ => return None,
    };
    if matches!(rest[0], "watch" | "proxy") {
        rest = rest.get(1..).filter(|r| !r.is_empty())?;
    }
    let (namespace, object) = match rest {
        ["namespaces", ns, sub] if matches!(*sub, "status" | "finalize") => (*ns, rest),
        ["namespaces", ns, inner @ ..] if !inner.is_empty() => (*ns, inner),
        ["namespaces", ns] => (*ns, rest),
        _ => ("", rest),
    };
    Some((namespace.to_owned(), object.len() >= 2 || matches!(verb, "list" | "watch")))
}

fn level_of(v: &Value) -> Option<Level> {
    v["level"].as_str().and_then(Level::parse)
}

/// Checks the output of one kept event against the decided level.
fn check_kept(input: &Value, out: &Value, decided: Level, what: &str) {
    assert_eq!(out["log_type"], "kubeaudit", "{what}");
    assert!(out["actor"]["kind"].is_string(), "{what}: {out}");
    let had = level_of(input);
    let want_level = match had {
        Some(l) if l > decided => decided,
        other => other.unwrap_or(decided),
    };
    if had.is_some() {
        assert_eq!(level_of(out), Some(want_level), "{what}");
    }
    if decided < Level::Request {
        assert!(out.get("requestObject").is_none(), "{what}: requestObject kept at {decided:?}");
    }
    if decided < Level::RequestResponse {
        assert!(out.get("responseObject").is_none(), "{what}: responseObject kept at {decided:?}");
    }
    // Nothing is invented: every member of the output that the input had is unchanged
    // unless it is a body or the level.
    for (k, v) in input.as_object().unwrap() {
        if matches!(k.as_str(), "level" | "requestObject" | "responseObject") {
            continue;
        }
        assert_eq!(out.get(k), Some(v), "{what}: member {k} changed");
    }
}

#[test]
fn decisions_on_the_corpus_follow_each_corpus_policy() {
    let events = corpus_events();
    let mut total = (0, 0);
    for (name, text) in corpus_policies() {
        let ext = Extensions { wildcards: false };
        let Ok((policy, _)) = Policy::from_yaml(&text, &name, ext) else {
            // A policy the apiserver would refuse is rejected at start-up (tested below).
            continue;
        };
        let config = "kubeaudit:\n  policy_file: policy.yaml\n";
        let mut h = host_with(Some(config), &[("policy.yaml", &text)]);
        assert!(!h.stderr().contains("invalid"), "{name}: {}", h.stderr());
        let (mut dropped, mut kept_n) = (0, 0);
        for (i, (line, event)) in events.iter().enumerate() {
            let decided = expected_level(&policy, event, &[]);
            let what = format!("{name}, event {i}");
            match json(&mut h, line) {
                Fate::Dropped => {
                    assert_eq!(decided, Level::None, "{what}: dropped but decided {decided:?}");
                    dropped += 1;
                }
                Fate::Kept(bytes) => {
                    assert_ne!(decided, Level::None, "{what}: kept but decided None");
                    check_kept(event, &parse(&bytes), decided, &what);
                    kept_n += 1;
                }
                Fate::Lost(why) => panic!("{what}: lost: {why}"),
            }
        }
        total.0 += dropped;
        total.1 += kept_n;
    }
    assert!(total.0 > 100 && total.1 > 500, "dropped {}, kept {}", total.0, total.1);
}

#[test]
fn the_default_policy_on_the_corpus() {
    let policy = Policy::default_policy();
    let mut h = host();
    for (line, event) in corpus_events() {
        let decided = expected_level(&policy, &event, &[]);
        match json(&mut h, &line) {
            Fate::Dropped => assert_eq!(decided, Level::None),
            Fate::Kept(bytes) => check_kept(&event, &parse(&bytes), decided, &line[..line.len().min(200)]),
            Fate::Lost(why) => panic!("lost: {why}"),
        }
    }
}

#[test]
fn secrets_never_leave_with_their_data() {
    // The default policy records who touched a secret, never its bodies.
    let mut h = host();
    let mut seen = 0;
    for (line, event) in corpus_events() {
        let secret = event["objectRef"]["resource"] == "secrets"
            && event["objectRef"]["apiGroup"].as_str().unwrap_or("").is_empty();
        let configmap = event["objectRef"]["resource"] == "configmaps";
        if !(secret || configmap) {
            continue;
        }
        if let Fate::Kept(bytes) = json(&mut h, &line) {
            let out = parse(&bytes);
            assert!(out.get("requestObject").is_none() && out.get("responseObject").is_none(), "{out}");
            for body in ["requestObject", "responseObject"] {
                if let Some(data) = event[body]["data"].as_object() {
                    for v in data.values().filter_map(Value::as_str).filter(|v| v.len() > 3) {
                        assert!(!String::from_utf8_lossy(&bytes).contains(v), "secret value leaked: {v}");
                    }
                }
            }
            seen += 1;
        }
    }
    assert!(seen >= 5, "{seen}");
    // And a synthetic one with a recognisable value.
    let get = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1",
        "stage":"ResponseComplete","requestURI":"/api/v1/namespaces/pay/secrets/db","verb":"get",
        "user":{"username":"oidc:alice@example.com","groups":["system:authenticated"]},
        "objectRef":{"resource":"secrets","namespace":"pay","name":"db","apiVersion":"v1"},
        "responseStatus":{"metadata":{},"code":200},
        "responseObject":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db"},"data":{"password":"c2VjcmV0LXBhc3N3b3Jk"}}});
    let out = kept(json(&mut h, &get.to_string()));
    assert!(!out.to_string().contains("c2VjcmV0LXBhc3N3b3Jk"), "{out}");
    assert_eq!(out["level"], "Metadata");
    assert_eq!(out["review"], json!(["secret_access"]));
}

fn event(verb: &str, user: Value, object_ref: Option<Value>, extra: Value) -> String {
    let mut e = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"x",
        "stage":"ResponseComplete","requestURI":"/apis/x","verb":verb,"user":user,
        "responseStatus":{"metadata":{},"code":200}});
    if let Some(o) = object_ref {
        e["objectRef"] = o;
    }
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e.to_string()
}

#[test]
fn bodies_levels_and_managed_fields() {
    let policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitManagedFields: true\nrules:\n\
                  - level: Request\n  resources: [{group: apps, resources: [deployments]}]\n\
                  - level: RequestResponse\n  resources: [{group: '', resources: [pods]}]\n\
                  - level: Metadata\n";
    let mut h = host_with(Some("kubeaudit:\n  policy_file: p.yaml\n"), &[("p.yaml", policy)]);
    let mf = json!([{"manager":"kubectl","operation":"Update"}]);
    let body = json!({"kind":"Deployment","metadata":{"name":"web","managedFields":mf},"spec":{"replicas":2}});
    let list = json!({"kind":"PodList","metadata":{},"items":[{"metadata":{"name":"a","managedFields":mf}},{"metadata":{"name":"b"}}]});
    let sa = json!({"username":"system:serviceaccount:ci:deployer","groups":["system:serviceaccounts"]});

    // Request: the request body stays (without managedFields), the response goes, level lowered.
    let dep = json!({"resource":"deployments","namespace":"web","name":"web","apiGroup":"apps"});
    let out = kept(json(
        &mut h,
        &event("update", sa.clone(), Some(dep), json!({"requestObject": body, "responseObject": body})),
    ));
    assert_eq!(out["level"], "Request");
    assert_eq!(out["requestObject"]["spec"]["replicas"], 2);
    assert!(out["requestObject"]["metadata"].get("managedFields").is_none(), "{out}");
    assert!(out.get("responseObject").is_none());
    assert_eq!(out["actor"], json!({"kind":"serviceaccount","serviceaccount":{"namespace":"ci","name":"deployer"}}));

    // RequestResponse: a list keeps its items, each without managedFields.
    let pods = json!({"resource":"pods","namespace":"web"});
    let out = kept(json(&mut h, &event("list", sa.clone(), Some(pods.clone()), json!({"responseObject": list}))));
    assert_eq!(out["level"], "RequestResponse");
    assert_eq!(out["responseObject"]["items"][0]["metadata"], json!({"name":"a"}));
    assert_eq!(out["responseObject"]["items"][1]["metadata"], json!({"name":"b"}));

    // A Table (what `kubectl get` asks for): each row's object loses its managedFields; a
    // body that only looks like one keeps them.
    let row = |name: &str| json!({"cells":[name],"object":{"kind":"PartialObjectMetadata","metadata":{"name":name,"managedFields":mf}}});
    let table = json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},"rows":[row("a"),row("b")]});
    let out = kept(json(&mut h, &event("list", sa.clone(), Some(pods.clone()), json!({"responseObject": table}))));
    for i in 0..2 {
        assert!(out["responseObject"]["rows"][i]["object"]["metadata"].get("managedFields").is_none(), "{out}");
        assert_eq!(out["responseObject"]["rows"][i]["cells"], table["rows"][i]["cells"]);
    }
    let not_table = json!({"kind":"Report","apiVersion":"example.com/v1","metadata":{"name":"r"},"rows":[row("a")]});
    let out = kept(json(&mut h, &event("get", sa.clone(), Some(pods), json!({"responseObject": not_table}))));
    assert_eq!(out["responseObject"], not_table);

    // A patch is recorded as sent, even one that clears managedFields.
    let clear = json!({"metadata":{"managedFields":[{}]}});
    let dep = json!({"resource":"deployments","namespace":"web","name":"web","apiGroup":"apps"});
    let out = kept(json(&mut h, &event("patch", sa.clone(), Some(dep.clone()), json!({"requestObject": clear}))));
    assert_eq!(out["requestObject"], clear);
    let out = kept(json(&mut h, &event("update", sa.clone(), Some(dep), json!({"requestObject": clear}))));
    assert_eq!(out["requestObject"], json!({"metadata":{}}));

    // An event below the decided level is kept as it is: nothing is invented.
    let mut meta = serde_json::from_str::<Value>(&event(
        "get",
        sa,
        Some(json!({"resource":"pods","namespace":"web","name":"a"})),
        json!({}),
    ))
    .unwrap();
    meta["level"] = json!("Metadata");
    let out = kept(json(&mut h, &meta.to_string()));
    assert_eq!(out["level"], "Metadata");
    assert!(out.get("requestObject").is_none() && out.get("responseObject").is_none());
}

#[test]
fn decided_on_the_request_path_not_on_the_object_ref_the_body_completed() {
    let policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
                  - level: None\n  namespaces: [kube-system]\n\
                  - level: None\n  resources: [{group: '', resources: [configmaps], resourceNames: [autoscaler-status]}]\n\
                  - level: None\n  nonResourceURLs: [/metrics]\n\
                  - level: Metadata\n";
    let mut h = host_with(Some("kubeaudit:\n  policy_file: p.yaml\n"), &[("p.yaml", policy)]);
    let user = json!({"username":"alice@example.com","groups":["system:authenticated"]});
    let crb = json!({"resource":"clusterrolebindings","apiGroup":"rbac.authorization.k8s.io","namespace":"kube-system","name":"pwn"});
    let status_cm =
        |ns: &str| json!({"resource":"configmaps","namespace":ns,"name":"autoscaler-status","apiVersion":"v1"});
    let at = |uri: &str| json!({"requestURI": uri});
    let cases = [
        // A cluster-scoped create whose body names `kube-system`: the apiserver decided
        // on no namespace and recorded the body's.
        ("create", Some(crb.clone()), "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", true),
        ("update", Some(crb), "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/pwn", true),
        ("create", Some(status_cm("kube-system")), "/api/v1/namespaces/kube-system/configmaps", false),
        ("get", Some(status_cm("web")), "/api/v1/namespaces/%6Bube-system/configmaps/x", false),
        // A create has no name when it is decided: resourceNames rules never match it.
        ("create", Some(status_cm("web")), "/api/v1/namespaces/web/configmaps", true),
        ("update", Some(status_cm("web")), "/api/v1/namespaces/web/configmaps/autoscaler-status", false),
        // A watch selecting one object by name has that name.
        (
            "watch",
            Some(status_cm("web")),
            "/api/v1/namespaces/web/configmaps?fieldSelector=metadata.name%3Dautoscaler-status&watch=true",
            false,
        ),
        // Paths are matched decoded, as the apiserver matches them.
        ("get", None, "/%6Detrics", false),
        ("get", None, "/metrics?x=1", false),
        ("get", None, "/metricsz", true),
    ];
    for (verb, object_ref, uri, kept) in cases {
        let fate = json(&mut h, &event(verb, user.clone(), object_ref, at(uri)));
        assert_eq!(matches!(fate, Fate::Kept(_)), kept, "{verb} {uri}: {fate:?}");
    }
}

#[test]
fn opt_in_extensions() {
    let policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
                  - level: None\n  users: ['system:serviceaccount:kube-system:*']\n\
                  - level: Metadata\n";
    let config = "kubeaudit:\n  policy_file: p.yaml\n  omit_response_codes: [404]\n  wildcards: true\n  bodies_as_strings: true\n";
    let mut h = host_with(Some(config), &[("p.yaml", policy)]);
    let controller = json!({"username":"system:serviceaccount:kube-system:replicaset-controller"});
    let pods = Some(json!({"resource":"pods","namespace":"a"}));
    assert_eq!(json(&mut h, &event("list", controller.clone(), pods.clone(), json!({}))), Fate::Dropped);
    let human = json!({"username":"alice@example.com"});
    let missing = event("get", human.clone(), pods.clone(), json!({"responseStatus":{"metadata":{},"code":404}}));
    assert_eq!(json(&mut h, &missing), Fate::Dropped);
    // Without the opt-ins the same policy reads `*` literally and 404s stay.
    let mut plain = host_with(Some("kubeaudit:\n  policy_file: p.yaml\n"), &[("p.yaml", policy)]);
    assert!(matches!(json(&mut plain, &event("list", controller, pods.clone(), json!({}))), Fate::Kept(_)));
    assert!(matches!(json(&mut plain, &missing), Fate::Kept(_)));
    assert!(plain.stderr().contains("`*`"), "{}", plain.stderr());

    // bodies_as_strings: a kept body becomes a JSON string.
    let policy_rr = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n";
    let mut h =
        host_with(Some("kubeaudit:\n  policy_file: p.yaml\n  bodies_as_strings: true\n"), &[("p.yaml", policy_rr)]);
    let out =
        kept(json(&mut h, &event("create", human, pods, json!({"requestObject":{"kind":"Pod","spec":{"a":[1,2]}}}))));
    let body: Value = serde_json::from_str(out["requestObject"].as_str().expect("a string")).unwrap();
    assert_eq!(body, json!({"kind":"Pod","spec":{"a":[1,2]}}));
}

#[test]
fn actors_and_review_flags() {
    let config = "cluster:\n  name: prod-eu-1\nidentity:\n  oidc_prefixes: ['oidc:']\n  users:\n    'local:08a8684b-db88-4b73-90a9-3cd1661f5466': carol@example.com\n";
    let mut h = host_with(Some(config), &[]);
    let pod = |sub: Option<&str>| {
        let mut o = json!({"resource":"pods","namespace":"web","name":"web-1","apiVersion":"v1"});
        if let Some(s) = sub {
            o["subresource"] = json!(s);
        }
        Some(o)
    };
    let cases: Vec<(String, Value, Value)> = vec![
        (
            event("create", json!({"username":"oidc:alice@example.com"}), pod(Some("exec")), json!({})),
            json!({"kind":"human","email":"alice@example.com"}),
            json!(["exec"]),
        ),
        (
            // A Dex subject: base64 of the user id and the connector id, mapped to an email.
            event(
                "create",
                json!({"username":"CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"}),
                pod(Some("portforward")),
                json!({}),
            ),
            json!({"kind":"human","email":"carol@example.com"}),
            json!(["port_forward"]),
        ),
        (
            event(
                "create",
                json!({"username":"oidc:bob@example.com"}),
                Some(json!({"resource":"clusterrolebindings","name":"x","apiGroup":"rbac.authorization.k8s.io"})),
                json!({}),
            ),
            json!({"kind":"human","email":"bob@example.com"}),
            json!(["rbac_change"]),
        ),
        (
            event(
                "get",
                json!({"username":"oidc:bob@example.com"}),
                pod(None),
                json!({"responseStatus":{"metadata":{},"code":403},"impersonatedUser":{"username":"system:node:worker-2"}}),
            ),
            json!({"kind":"human","email":"bob@example.com","impersonated":{"kind":"node","node":"worker-2"}}),
            json!(["auth_failure", "impersonation"]),
        ),
        (
            // Denied by the authorizer, whatever the code says.
            event(
                "get",
                json!({"username":"oidc:bob@example.com"}),
                pod(None),
                json!({"annotations":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":""}}),
            ),
            json!({"kind":"human","email":"bob@example.com"}),
            json!(["auth_failure"]),
        ),
        (
            // Only the decision annotation counts, not a reason that quotes a forbid.
            event(
                "get",
                json!({"username":"oidc:bob@example.com"}),
                pod(None),
                json!({"annotations":{"authorization.k8s.io/reason":"not \"forbid\"","authorization.k8s.io/decision":"allow"}}),
            ),
            json!({"kind":"human","email":"bob@example.com"}),
            Value::Null,
        ),
        (
            event("get", json!({"username":"system:anonymous"}), pod(None), json!({})),
            json!({"kind":"anonymous"}),
            json!(["anonymous"]),
        ),
        (
            event("get", json!({"username":"system:kube-scheduler"}), pod(None), json!({})),
            json!({"kind":"system"}),
            Value::Null,
        ),
        (
            // A pod's ServiceAccount token: the apiserver names the pod and its node.
            event(
                "get",
                json!({"username":"system:serviceaccount:ci:deployer","extra":{
                    "authentication.kubernetes.io/credential-id":["JTI=1"],
                    "authentication.kubernetes.io/node-name":["worker-\"3"],
                    "authentication.kubernetes.io/pod-name":["deployer-7f9c8","second"]}}),
                pod(None),
                json!({}),
            ),
            json!({"kind":"serviceaccount","serviceaccount":{"namespace":"ci","name":"deployer","bound_pod":"deployer-7f9c8","bound_node":"worker-\"3"}}),
            Value::Null,
        ),
        (
            // Only a ServiceAccount's extra is the token authenticator's; not a string: no pod.
            event(
                "get",
                json!({"username":"system:serviceaccount:ci:deployer","extra":{"authentication.kubernetes.io/pod-name":[7]}}),
                pod(None),
                json!({"impersonatedUser":{"username":"system:serviceaccount:ci:x","extra":{"authentication.kubernetes.io/pod-name":["p"]}}}),
            ),
            json!({"kind":"serviceaccount","serviceaccount":{"namespace":"ci","name":"deployer"},
                "impersonated":{"kind":"serviceaccount","serviceaccount":{"namespace":"ci","name":"x"}}}),
            json!(["impersonation"]),
        ),
        (
            event(
                "get",
                json!({"username":"oidc:bob@example.com","extra":{"authentication.kubernetes.io/pod-name":["p"]}}),
                pod(None),
                json!({}),
            ),
            json!({"kind":"human","email":"bob@example.com"}),
            Value::Null,
        ),
    ];
    for (record, actor, review) in cases {
        let out = kept(json(&mut h, &record));
        assert_eq!(out["actor"], actor, "{record}");
        assert_eq!(out["review"], review, "{record}");
        assert_eq!(out["cluster"], "prod-eu-1");
        assert_eq!(out["log_type"], "kubeaudit");
    }
}

/// A shell in a pod without the pod's `exec`: the kubelet's endpoints through the node
/// proxy, and `kubectl debug`'s ephemeral containers (synthetic events: the corpus has none).
#[test]
fn exec_by_other_roads_is_flagged() {
    let mut h = host();
    let bob = json!({"username":"oidc:bob@example.com","groups":["system:authenticated"]});
    let node_proxy = json!({"resource":"nodes","name":"worker-1","subresource":"proxy","apiVersion":"v1"});
    let debug = json!({"resource":"pods","namespace":"web","name":"web-1","subresource":"ephemeralcontainers","apiVersion":"v1"});
    for (verb, object_ref, uri, want) in [
        (
            "create",
            &node_proxy,
            "/api/v1/nodes/worker-1/proxy/exec/web/web-1/app?command=sh&stdin=true",
            json!(["exec"]),
        ),
        ("create", &node_proxy, "/api/v1/nodes/worker-1/proxy/run/web/web-1/app?cmd=id", json!(["exec"])),
        ("get", &node_proxy, "/api/v1/nodes/worker-1/proxy/%61ttach/web/web-1/app", json!(["attach"])),
        ("create", &node_proxy, "/api/v1/nodes/worker-1/proxy/portForward/web/web-1", json!(["port_forward"])),
        ("get", &node_proxy, "/api/v1/nodes/worker-1/proxy/metrics/cadvisor", Value::Null),
        ("get", &node_proxy, "/api/v1/nodes/worker-1/proxy/healthz/%2E%2E/exec/web/web-1/app", json!(["exec"])),
        ("get", &node_proxy, "/api/v1/nodes/worker-1/proxy/stats/summary?exec=1", Value::Null),
        ("patch", &debug, "/api/v1/namespaces/web/pods/web-1/ephemeralcontainers", json!(["debug_container"])),
        ("update", &debug, "/api/v1/namespaces/web/pods/web-1/ephemeralcontainers", json!(["debug_container"])),
        ("get", &debug, "/api/v1/namespaces/web/pods/web-1/ephemeralcontainers", Value::Null),
    ] {
        let record = event(verb, bob.clone(), Some(object_ref.clone()), json!({"requestURI": uri}));
        let out = kept(json(&mut h, &record));
        assert_eq!(out["review"], want, "{verb} {uri}");
    }
}
#[test]
fn an_event_in_a_log_string_is_handled_and_keeps_its_wrapper() {
    // tail without a parser: the event is a JSON string in `log`, beside pipeline metadata.
    let mut h = host_with(Some("cluster:\n  from_field: kubernetes.cluster\n"), &[]);
    let pods = Some(json!({"resource":"pods","namespace":"web","name":"a"}));
    let inner =
        event("get", json!({"username":"oidc:alice@example.com"}), pods, json!({"responseObject":{"kind":"Pod"}}));
    let record =
        json!({"log": inner, "stream": "stdout", "kubernetes": {"cluster": "stage-1", "host": "cp-1"}, "verb": "x"});
    let out = kept(json(&mut h, &record.to_string()));
    // A wrapper member the event also has is not carried: the event's own is the record's.
    assert_eq!(out["verb"], "get");
    assert!(out.get("log").is_none());
    assert!(out.get("responseObject").is_none(), "stripped to Metadata by the default policy");
    assert_eq!(out["stream"], "stdout");
    assert_eq!(out["kubernetes"]["host"], "cp-1");
    assert_eq!(out["cluster"], "stage-1");
    // A kube-proxy watch in a string is dropped like one in the record.
    let watch = event(
        "watch",
        json!({"username":"system:kube-proxy"}),
        Some(json!({"resource":"endpoints","apiVersion":"v1"})),
        json!({}),
    );
    assert_eq!(json(&mut h, &json!({"log": watch}).to_string()), Fate::Dropped);
}

#[test]
fn no_one_is_named_for_a_failed_authentication_or_a_display_name() {
    let mut h = host_with(Some("identity:\n  oidc_prefixes: ['oidc:']\n"), &[]);
    let pods = Some(json!({"resource":"pods","namespace":"web","name":"a"}));
    // The apiserver records a request that failed authentication with an empty user.
    let failed = event("get", json!({}), pods.clone(), json!({"responseStatus":{"metadata":{},"code":401}}));
    let out = kept(json(&mut h, &failed));
    assert_eq!(out["actor"], json!({"kind":"unauthenticated"}), "{out}");
    assert_eq!(out["review"], json!(["auth_failure"]), "{out}");
    // A username claim users may edit, holding someone else's address: no email.
    let display = event("get", json!({"username":"oidc:Mallory (ceo@example.com)"}), pods.clone(), json!({}));
    assert_eq!(kept(json(&mut h, &display))["actor"], json!({"kind":"human"}));
    let plain = event("get", json!({"username":"oidc:ceo@example.com"}), pods, json!({}));
    assert_eq!(kept(json(&mut h, &plain))["actor"]["email"], "ceo@example.com");
}

#[test]
fn a_wrapper_member_named_as_an_added_field_is_not_written_twice() {
    // An earlier stage may have set `log_type` or `cluster` on the line. The module's own
    // fields replace them, as they replace a record's own members, and a dotted field goes
    // into the wrapper's object: a key written twice is one a SIEM may refuse or misread.
    let pods = Some(json!({"resource":"pods","namespace":"web","name":"a"}));
    let inner = event("get", json!({"username":"oidc:alice@example.com"}), pods, json!({}));
    let record = json!({"log": inner, "log_type": "app", "cluster": "other", "kubernetes": {"host": "cp-1"}});
    let configs = [
        ("cluster:\n  name: prod\n", "/cluster"),
        ("cluster:\n  name: prod\nfields:\n  cluster: kubernetes.cluster_name\n", "/kubernetes/cluster_name"),
    ];
    for (config, cluster_at) in configs {
        let mut h = host_with(Some(config), &[]);
        let Fate::Kept(bytes) = json(&mut h, &record.to_string()) else { panic!("{config}: not kept") };
        let text = String::from_utf8(bytes).unwrap();
        for key in ["\"log_type\":", "\"kubernetes\":", "\"cluster\":"] {
            assert!(text.matches(key).count() <= 1, "{config}: {key} twice in {text}");
        }
        let out = parse(text.as_bytes());
        assert_eq!(out["log_type"], "kubeaudit", "{text}");
        assert_eq!(out.pointer(cluster_at), Some(&json!("prod")), "{text}");
        assert_eq!(out["kubernetes"]["host"], "cp-1", "{text}");
    }
    // A key the line has twice is carried twice, as Fluent Bit keeps it; a dotted field
    // goes into each copy.
    let twice = format!(
        r#"{{"log":{},"stream":"a","stream":"b","kubernetes":{{"host":"a"}},"kubernetes":{{"host":"b"}}}}"#,
        serde_json::to_string(&inner).unwrap()
    );
    let mut h = host_with(Some(configs[1].0), &[]);
    let Fate::Kept(bytes) = json(&mut h, &twice) else { panic!("not kept") };
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(r#""stream":"a","stream":"b""#), "{text}");
    assert_eq!(text.matches(r#""cluster_name":"prod""#).count(), 2, "{text}");
}

#[test]
fn an_event_too_deep_for_fluent_bit_is_left_in_its_line() {
    // Fluent Bit holds a record nested at most 63 deep: one deeper loses the rest of its
    // chunk. Its own parser leaves such a line a string; the module leaves it one too.
    let policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n";
    let mut h = host_with(Some("kubeaudit:\n  policy_file: p.yaml\n"), &[("p.yaml", policy)]);
    let pods = json!({"resource":"pods","namespace":"web","name":"a"});
    // The event (1), its requestObject (2), then nested arrays: 61 of them make 63.
    for (arrays, unwrapped) in [(61, true), (62, false)] {
        let mut spec = json!([]);
        for _ in 1..arrays {
            spec = json!([spec]);
        }
        let inner = event(
            "create",
            json!({"username":"alice@example.com"}),
            Some(pods.clone()),
            json!({"requestObject": {"spec": spec}}),
        );
        let record = json!({"log": inner, "stream": "stdout"}).to_string();
        match json(&mut h, &record) {
            Fate::Kept(bytes) if unwrapped => {
                assert_eq!(parse(&bytes)["verb"], "create", "{arrays}");
            }
            Fate::Kept(bytes) => assert_eq!(bytes, record.as_bytes(), "{arrays}"),
            other => panic!("{arrays}: {other:?}"),
        }
    }
    let stats: Value = serde_json::from_str(&h.stats().unwrap()).unwrap();
    assert_eq!(stats["passed"]["too_deep"], 1, "{stats}");
    // The per-rule table counts the line that went on whole, not the reply left unsent.
    let mut fresh = host_with(Some("kubeaudit:\n  policy_file: p.yaml\n"), &[("p.yaml", policy)]);
    let mut spec = json!([]);
    for _ in 1..62 {
        spec = json!([spec]);
    }
    let inner = event(
        "create",
        json!({"username":"alice@example.com"}),
        Some(pods.clone()),
        json!({"requestObject": {"spec": spec}}),
    );
    let record = json!({"log": inner, "stream": "stdout"}).to_string();
    assert_eq!(json(&mut fresh, &record), Fate::Kept(record.clone().into_bytes()));
    let stats: Value = serde_json::from_str(&fresh.stats().unwrap()).unwrap();
    let rule = &stats["rules"][0];
    assert_eq!((&rule["bytes_in"], &rule["bytes_out"]), (&json!(record.len()), &json!(record.len())), "{stats}");
    // What is measured is the reply: a deep body the policy strips is not in it.
    let mut spec = json!([]);
    for _ in 1..100 {
        spec = json!([spec]);
    }
    let inner =
        event("create", json!({"username":"alice@example.com"}), Some(pods), json!({"requestObject": {"spec": spec}}));
    let out = kept(json(&mut host(), &json!({"log": inner, "stream": "stdout"}).to_string()));
    assert!(out["verb"] == "create" && out.get("requestObject").is_none(), "{out}");
}

#[test]
fn a_record_carrying_events_in_log_and_message_is_decided_on_log() {
    let mut h = host_with(None, &[]);
    let pods = Some(json!({"resource":"pods","namespace":"web","name":"a"}));
    let get = event("get", json!({"username":"oidc:alice@example.com"}), pods, json!({}));
    let endpoints = Some(json!({"resource":"endpoints","apiVersion":"v1"}));
    let watch = event("watch", json!({"username":"system:kube-proxy"}), endpoints, json!({}));
    let record = |members: &[(&str, &str)]| {
        let members: Vec<String> = members.iter().map(|(k, v)| format!("{}:{}", json!(k), json!(v))).collect();
        format!("{{{}}}", members.join(","))
    };
    // `log` is tried first wherever it stands; `message` when `log` carries no event.
    assert_eq!(json(&mut h, &record(&[("message", &get), ("log", &watch)])), Fate::Dropped);
    assert_eq!(kept(json(&mut h, &record(&[("message", &watch), ("log", &get)])))["verb"], "get");
    assert_eq!(kept(json(&mut h, &record(&[("log", r#"{"x":"y"}"#), ("message", &get)])))["verb"], "get");
    assert_eq!(json(&mut h, &record(&[("log", r#"{"x":"y"}"#), ("message", &watch)])), Fate::Dropped);
}

#[test]
fn an_event_is_read_from_every_container_log_layout() {
    let mut h = host_with(None, &[]);
    let pods = Some(json!({"resource":"pods","namespace":"web","name":"a"}));
    let get = event("get", json!({"username":"oidc:alice@example.com"}), pods.clone(), json!({}));
    let endpoints = Some(json!({"resource":"endpoints","apiVersion":"v1"}));
    let watch = event("watch", json!({"username":"system:kube-proxy"}), endpoints, json!({}));
    // The event as a string, with its quotes escaped as `\"` (what a container runtime
    // writes) or as `\u0022`, and the line's newline.
    let quoted = |e: &str, unicode: bool| {
        let s = json!(format!("{e}\n")).to_string();
        if unicode { s.replace(r#"\""#, r"\u0022") } else { s }
    };
    // Each layout: what comes before the string, and after it.
    let layouts = [
        ("docker", r#"{"log":"#, r#","stream":"stdout","time":"2026-11-22T10:00:00Z"}"#),
        ("CRI", r#"{"time":"2026-11-22T10:00:00Z","stream":"stdout","_p":"F","log":"#, "}"),
        ("CRI message", r#"{"stream":"stdout","logtag":"F","message":"#, "}"),
        ("metadata first", r#"{"kubernetes":{"host":"cp-1"},"log":"#, r#","stream":"stdout"}"#),
    ];
    for (layout, before, after) in layouts {
        for unicode in [false, true] {
            let record = |e: &str| format!("{before}{}{after}", quoted(e, unicode));
            let out = kept(json(&mut h, &record(&get)));
            assert_eq!((out["verb"].as_str(), out["stream"].as_str()), (Some("get"), Some("stdout")), "{layout}");
            assert!(out.get("log").is_none() && out.get("message").is_none(), "{layout}: {out}");
            assert_eq!(json(&mut h, &record(&watch)), Fate::Dropped, "{layout}");
        }
    }
    // A record that starts as a container log does but is an audit event itself is read as one.
    let mut own: Value = serde_json::from_str(&get).unwrap();
    own["log"] = json!("not an event");
    let members = own.as_object().unwrap().iter().map(|(k, v)| format!("{}:{v}", json!(k)));
    let own = format!(r#"{{"stream":"stdout",{}}}"#, members.collect::<Vec<_>>().join(","));
    let out = kept(json(&mut h, &own));
    assert_eq!((out["verb"].as_str(), out["log"].as_str()), (Some("get"), Some("not an event")));
    // A string that is no event, or no JSON, leaves the line as it is.
    for line in [r#"{"log":"{\"a\":1}\n","stream":"stdout"}"#, r#"{"log":"{\"kind\":\"Ev","stream":"stdout"}"#] {
        assert_eq!(json(&mut h, line), Fate::Kept(line.as_bytes().to_vec()), "{line}");
    }
}

#[test]
fn start_up_lint_names_the_rule_and_line() {
    let (_, elastisys) = corpus_policies()
        .into_iter()
        .find(|(n, _)| n.starts_with("elastisys"))
        .expect("the elastisys policy is in the corpus");
    let h = host_with(Some("kubeaudit:\n  policy_file: policy.yaml\n"), &[("policy.yaml", &elastisys)]);
    let log = h.stderr();
    let line = log.lines().find(|l| l.contains("namespacees")).unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("policy.yaml:362:") && line.contains("rule 36") && line.contains("every namespace"),
        "{line}"
    );
    // No catch-all: everything unmatched is dropped, and that is said at start-up.
    let no_catch_all = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  verbs: [create]\n";
    let mut h = host_with(Some("kubeaudit:\n  policy_file: p.yaml\n"), &[("p.yaml", no_catch_all)]);
    assert!(h.stderr().to_lowercase().contains("catch-all") || h.stderr().contains("every request"), "{}", h.stderr());
    let get = event("get", json!({"username":"a@example.com"}), Some(json!({"resource":"pods"})), json!({}));
    assert_eq!(json(&mut h, &get), Fate::Dropped);
}

#[test]
fn an_inline_policy_reports_lines_of_audit_sieve_yaml() {
    let config = "cluster:\n  name: c\nkubeaudit:\n  policy:\n    apiVersion: audit.k8s.io/v1\n    kind: Policy\n    rules:\n    - level: Metadat\n";
    let mut h = host_with(Some(config), &[]);
    let log = h.stderr();
    assert!(log.contains("audit-sieve.yaml:8:") && log.contains("Metadat"), "{log}");
    // Invalid: records pass through unchanged.
    let get = event("get", json!({"username":"a@example.com"}), Some(json!({"resource":"pods"})), json!({}));
    assert_eq!(json(&mut h, &get), Fate::Kept(get.clone().into_bytes()));
}

/// Whole records against the files of a golden directory: `NN-name.in.json` is filtered
/// with the directory's `audit-sieve.yaml` (and the files it names) and must give
/// `NN-name.out.json`, or `dropped`.
fn check_golden(dir: &str) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    let files: Vec<(String, String)> = names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(p).unwrap()))
        .collect();
    let config = files.iter().find(|(n, _)| n == "audit-sieve.yaml").map(|(_, t)| t.clone()).unwrap();
    let others: Vec<(&str, &str)> =
        files.iter().filter(|(n, _)| n != "audit-sieve.yaml").map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let mut h: FluentBitHost = host_with(Some(&config), &others);
    assert!(!h.stderr().contains("invalid"), "{}", h.stderr());
    let mut checked = 0;
    for input in names.iter().filter(|p| p.to_string_lossy().ends_with(".in.json")) {
        let record = std::fs::read_to_string(input).unwrap();
        let want_path = input.to_string_lossy().replace(".in.json", ".out.json");
        let want = std::fs::read_to_string(&want_path).unwrap();
        // Records are sent compact, as Fluent Bit renders them.
        let compact = serde_json::from_str::<Value>(&record).unwrap().to_string();
        match json(&mut h, &compact) {
            Fate::Dropped => assert_eq!(want.trim(), "dropped", "{}", input.display()),
            Fate::Kept(bytes) => {
                let want: Value = serde_json::from_str(&want).unwrap_or_else(|e| panic!("{want_path}: {e}"));
                assert_eq!(parse(&bytes), want, "{}", input.display());
            }
            Fate::Lost(why) => panic!("{}: lost: {why}", input.display()),
        }
        checked += 1;
    }
    checked
}

#[test]
fn golden_records() {
    // Synthetic events of a busy cluster, under the default policy.
    assert!(check_golden("tests/golden/kubeaudit") >= 9);
    // Corpus events: each level, managedFields, level lowering, and enrichment (username
    // and Dex subject mapped to email, ServiceAccount, node, impersonation).
    assert!(check_golden("tests/golden/kubeaudit-corpus") >= 8);
}

#[test]
fn a_query_string_does_not_change_a_non_resource_decision() {
    // Rule 5 of the default policy names `/version` exactly: the query is not part of it.
    let mut h = host();
    for uri in ["/version", "/version?timeout=32s", "/readyz?verbose"] {
        let mut e: Value =
            serde_json::from_str(&event("get", json!({"username":"system:anonymous"}), None, json!({}))).unwrap();
        e["requestURI"] = json!(uri);
        assert_eq!(json(&mut h, &e.to_string()), Fate::Dropped, "{uri}");
    }
    let mut e: Value =
        serde_json::from_str(&event("get", json!({"username":"a@example.com"}), None, json!({}))).unwrap();
    e["requestURI"] = json!("/versions?x=/version");
    assert!(matches!(json(&mut h, &e.to_string()), Fate::Kept(_)));
}

#[test]
fn the_dry_run_report_counts_per_rule() {
    let mut h = host();
    for line in include_str!("../examples/sample.ndjson").lines() {
        json(&mut h, line);
    }
    let stats: Value = serde_json::from_str(&h.stats().unwrap()).unwrap();
    let rules = stats["rules"].as_array().expect("rules");
    let kube_proxy = &rules[0];
    assert!(kube_proxy["description"].as_str().unwrap().contains("system:kube-proxy"), "{kube_proxy}");
    assert_eq!(kube_proxy["matched"], 1);
    assert_eq!(kube_proxy["dropped"], 1);
    let total: u64 = rules.iter().map(|r| r["matched"].as_u64().unwrap()).sum();
    assert!(total >= 9, "{stats}");
}

#[test]
fn omitted_stages_are_dropped() {
    // Policy-level omitStages (the default policy omits RequestReceived) and a rule's own.
    let policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n\
                  - level: Metadata\n  verbs: [watch]\n  omitStages: [ResponseStarted]\n\
                  - level: Metadata\n";
    for mut h in [host(), host_with(Some("kubeaudit:\n  policy_file: p.yaml\n"), &[("p.yaml", policy)])] {
        let pods = Some(json!({"resource":"pods","namespace":"web"}));
        let user = json!({"username":"alice@example.com"});
        let at = |stage: &str, verb: &str| {
            let mut e: Value = serde_json::from_str(&event(verb, user.clone(), pods.clone(), json!({}))).unwrap();
            e["stage"] = json!(stage);
            e.to_string()
        };
        assert_eq!(json(&mut h, &at("RequestReceived", "get")), Fate::Dropped);
        assert!(matches!(json(&mut h, &at("ResponseComplete", "get")), Fate::Kept(_)));
        assert!(matches!(json(&mut h, &at("ResponseStarted", "get")), Fate::Kept(_)));
    }
    let mut h = host_with(Some("kubeaudit:\n  policy_file: p.yaml\n"), &[("p.yaml", policy)]);
    let mut e: Value = serde_json::from_str(&event(
        "watch",
        json!({"username":"alice@example.com"}),
        Some(json!({"resource":"pods"})),
        json!({}),
    ))
    .unwrap();
    e["stage"] = json!("ResponseStarted");
    assert_eq!(json(&mut h, &e.to_string()), Fate::Dropped);
}

#[test]
fn elastic_common_schema_fields_are_opt_in() {
    let config = "cluster:\n  name: prod-eu-1\nfields:\n  ecs: true\nidentity:\n  oidc_prefixes: ['oidc:']\n";
    let mut h = host_with(Some(config), &[]);
    let record = event(
        "get",
        json!({"username":"oidc:alice@example.com","groups":["system:authenticated"]}),
        Some(json!({"resource":"pods","namespace":"web"})),
        json!({"sourceIPs":["198.51.100.23","10.0.0.1"],"userAgent":"kubectl/v1.31.2",
               "responseStatus":{"metadata":{},"code":403}}),
    );
    let out = kept(json(&mut h, &record));
    assert_eq!(out["event"], json!({"action":"get","outcome":"failure"}));
    // The event's own `user` object keeps its members and gains ECS's.
    assert_eq!(out["user"]["username"], "oidc:alice@example.com");
    assert_eq!(out["user"]["name"], "oidc:alice@example.com");
    assert_eq!(out["user"]["email"], "alice@example.com");
    assert_eq!(out["source"], json!({"ip":"198.51.100.23"}));
    assert_eq!(out["user_agent"], json!({"original":"kubectl/v1.31.2"}));
    assert_eq!(out["orchestrator"], json!({"cluster":{"name":"prod-eu-1"}}));
    // The default fields are still there.
    assert_eq!(out["actor"]["email"], "alice@example.com");

    let ssh = json!({"log":"Nov 22 10:00:01 node-1 sshd[4242]: Failed password for invalid user admin from 203.0.113.9 port 50122 ssh2"});
    let out = kept(json(&mut h, &ssh.to_string()));
    assert_eq!(out["event"]["outcome"], "failure");
    assert_eq!(out["source"]["ip"], "203.0.113.9");
    assert_eq!(out["user"]["name"], "admin");

    // Off by default.
    let out = kept(json(&mut host(), &record));
    assert!(out.get("event").is_none() && out.get("source").is_none() && out["user"].get("name").is_none());
}
