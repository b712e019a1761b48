//! Table-driven like the apiserver's `checker_test.go`: named requests × named rules.

use super::*;

const NO_EXT: Extensions = Extensions { wildcards: false };
const WILDCARDS: Extensions = Extensions { wildcards: true };

/// A request: user, groups, verb, `(group, resource, subresource, namespace, name)` or a path.
struct Req {
    user: &'static str,
    groups: Vec<&'static [u8]>,
    verb: &'static str,
    res: Option<(&'static str, &'static str, &'static str, &'static str, &'static str)>,
    path: &'static str,
}

impl Req {
    /// With the namespace and name given.
    fn attrs(&self) -> Attributes<'_> {
        let (namespace, name) = self.res.map_or(("", ""), |(.., namespace, name)| (namespace, name));
        self.attrs_with(Scope::Known { namespace: namespace.as_bytes(), name: name.as_bytes() })
    }

    /// With the namespace and name from `scope` (for a resource request).
    fn attrs_with<'a>(&'a self, scope: Scope<'a>) -> Attributes<'a> {
        Attributes {
            username: Some(self.user.as_bytes()),
            groups: &self.groups,
            verb: self.verb.as_bytes(),
            resource: self.res.map(|(api_group, resource, subresource, ..)| ResourceAttributes {
                api_group: api_group.as_bytes(),
                resource: resource.as_bytes(),
                subresource: subresource.as_bytes(),
                scope,
            }),
            path: self.path.as_bytes(),
        }
    }
}

const HUMAN: &[&str] = &["humans", "system:authenticated"];
const SA_GROUPS: &[&str] = &["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"];

fn request(name: &str) -> Req {
    let (user, groups, verb, res, path) = match name {
        "namespaced" => ("tim", HUMAN, "get", Some(("", "pods", "", "default", "")), "/api/v1/namespaces/default/pods"),
        "cluster" => ("tim", HUMAN, "get", Some(("", "nodes", "", "", "")), "/api/v1/nodes"),
        "subresource" => ("tim", HUMAN, "get", Some(("", "pods", "log", "default", "web")), "/api/v1/pods/web/log"),
        "named" => ("tim", HUMAN, "get", Some(("", "secrets", "", "default", "sensitive")), "/api/v1/secrets/s"),
        "apps" => ("tim", HUMAN, "list", Some(("apps", "deployments", "", "default", "")), "/apis/apps/v1/d"),
        "rbac" => ("tim", HUMAN, "create", Some(("rbac.authorization.k8s.io", "clusterroles", "", "", "")), "/apis/r"),
        "nonResource" => ("tim", HUMAN, "get", None, "/logs/kubelet.log"),
        "metrics" => ("prom", &["monitoring"][..], "get", None, "/metrics"),
        "controller" => (
            "system:serviceaccount:kube-system:endpoint-controller",
            SA_GROUPS,
            "update",
            Some(("", "endpoints", "", "kube-system", "kube-scheduler")),
            "/api/v1/namespaces/kube-system/endpoints/kube-scheduler",
        ),
        "node" => (
            "system:node:n1",
            &["system:nodes", "system:authenticated"][..],
            "get",
            Some(("", "nodes", "status", "", "n1")),
            "/x",
        ),
        "noGroups" => ("alice", &[][..], "watch", Some(("", "pods", "", "kube-system", "")), "/api/v1/pods"),
        _ => panic!("no request {name}"),
    };
    let groups = groups.iter().map(|g| g.as_bytes()).collect();
    Req { user, groups, verb, res, path }
}

/// Rule bodies, as YAML flow mappings.
fn rule(name: &str) -> &'static str {
    match name {
        "default" => "{level: Metadata}",
        "create" => "{level: Metadata, verbs: [create]}",
        "tims" => "{level: Metadata, users: [tim]}",
        "humans" => "{level: Metadata, userGroups: [humans]}",
        "serviceaccounts" => "{level: Metadata, userGroups: ['system:serviceaccounts']}",
        "getPods" => "{level: Metadata, verbs: [get], resources: [{group: '', resources: [pods]}]}",
        "getPodLogs" => "{level: Metadata, resources: [{resources: [pods/log]}]}",
        "getPodWildcardMatching" => "{level: Metadata, resources: [{resources: ['*']}]}",
        "getPodResourceWildcardMatching" => "{level: Metadata, resources: [{resources: ['*/log']}]}",
        "getPodSubResourceWildcardMatching" => "{level: Metadata, resources: [{resources: ['pods/*']}]}",
        "getClusterRoles" => {
            "{level: Metadata, resources: [{group: rbac.authorization.k8s.io, resources: [clusterroles]}]}"
        }
        "coreGroup" => "{level: Metadata, resources: [{group: ''}]}",
        "appsGroup" => "{level: Metadata, resources: [{group: apps}]}",
        "anyGroupPods" => "{level: Metadata, resources: [{group: '*', resources: [pods]}]}",
        "anyGroup" => "{level: Metadata, resources: [{group: '*'}]}",
        "appsAndCore" => {
            "{level: Metadata, resources: [{group: apps, resources: [pods]}, {group: '', resources: [pods]}]}"
        }
        "defaultNamespace" => "{level: Metadata, namespaces: [default]}",
        "clusterScoped" => "{level: Metadata, namespaces: ['']}",
        "getLogs" => "{level: Metadata, nonResourceURLs: ['/logs*']}",
        "getMetrics" => "{level: Metadata, nonResourceURLs: [/metrics]}",
        "allUrls" => "{level: Metadata, nonResourceURLs: ['*']}",
        "logsExact" => "{level: Metadata, nonResourceURLs: [/logs]}",
        "secretNamed" => "{level: Metadata, resources: [{resources: [secrets], resourceNames: [sensitive]}]}",
        "secretOther" => "{level: Metadata, resources: [{resources: [secrets], resourceNames: [other]}]}",
        "kubeSystemSA" => "{level: Metadata, users: ['system:serviceaccount:kube-system:*']}",
        "nodesSuffix" => "{level: Metadata, userGroups: ['*nodes']}",
        "nsPrefix" => "{level: Metadata, namespaces: ['kube-*']}",
        "nsContains" => "{level: Metadata, namespaces: ['*faul*']}",
        "nsAny" => "{level: Metadata, namespaces: ['*']}",
        "namesPrefix" => "{level: Metadata, resources: [{resources: [secrets], resourceNames: ['sens*']}]}",
        _ => panic!("no rule {name}"),
    }
}

fn policy_of(rules: &[&str], ext: Extensions) -> Policy {
    let mut text = String::from("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n");
    for r in rules {
        text.push_str(&format!("- {r}\n"));
    }
    match Policy::from_yaml(&text, "test.yaml", ext) {
        Ok((p, _)) => p,
        Err(e) => panic!("{text}: {e}"),
    }
}

#[test]
fn rule_matching() {
    // (rule, request, matches without wildcards, matches with wildcards)
    let cases: &[(&str, &str, bool, bool)] = &[
        ("default", "namespaced", true, true),
        ("default", "nonResource", true, true),
        ("create", "namespaced", false, false),
        ("create", "rbac", true, true),
        ("tims", "namespaced", true, true),
        ("tims", "controller", false, false),
        ("humans", "namespaced", true, true),
        ("humans", "noGroups", false, false),
        ("serviceaccounts", "controller", true, true),
        ("serviceaccounts", "namespaced", false, false),
        ("getPods", "namespaced", true, true),
        ("getPods", "subresource", false, false),
        ("getPods", "apps", false, false),
        ("getPods", "nonResource", false, false),
        ("getPodLogs", "subresource", true, true),
        ("getPodLogs", "namespaced", false, false),
        ("getPodWildcardMatching", "namespaced", true, true),
        ("getPodWildcardMatching", "subresource", true, true),
        ("getPodWildcardMatching", "apps", false, false),
        ("getPodResourceWildcardMatching", "subresource", true, true),
        ("getPodResourceWildcardMatching", "namespaced", false, false),
        ("getPodSubResourceWildcardMatching", "subresource", true, true),
        // As in checker.go, `pods/*` also matches `pods` itself.
        ("getPodSubResourceWildcardMatching", "namespaced", true, true),
        ("getPodSubResourceWildcardMatching", "node", false, false),
        ("getClusterRoles", "rbac", true, true),
        ("getClusterRoles", "namespaced", false, false),
        ("coreGroup", "namespaced", true, true),
        ("coreGroup", "cluster", true, true),
        ("coreGroup", "apps", false, false),
        ("coreGroup", "nonResource", false, false),
        ("appsGroup", "apps", true, true),
        ("appsGroup", "namespaced", false, false),
        ("anyGroup", "apps", true, true),
        ("anyGroup", "rbac", true, true),
        ("anyGroup", "namespaced", true, true),
        ("anyGroup", "nonResource", false, false),
        ("anyGroupPods", "namespaced", true, true),
        ("anyGroupPods", "subresource", false, false),
        ("anyGroupPods", "apps", false, false),
        ("appsAndCore", "namespaced", true, true),
        ("appsAndCore", "apps", false, false),
        ("defaultNamespace", "namespaced", true, true),
        ("defaultNamespace", "cluster", false, false),
        ("defaultNamespace", "nonResource", false, false),
        ("clusterScoped", "cluster", true, true),
        ("clusterScoped", "rbac", true, true),
        ("clusterScoped", "namespaced", false, false),
        ("getLogs", "nonResource", true, true),
        ("getLogs", "namespaced", false, false),
        ("getLogs", "metrics", false, false),
        ("getMetrics", "metrics", true, true),
        ("getMetrics", "nonResource", false, false),
        ("allUrls", "nonResource", true, true),
        ("allUrls", "metrics", true, true),
        ("allUrls", "namespaced", false, false),
        ("logsExact", "nonResource", false, false),
        ("secretNamed", "named", true, true),
        ("secretNamed", "namespaced", false, false),
        ("secretOther", "named", false, false),
        // `*` is literal unless wildcards are enabled.
        ("kubeSystemSA", "controller", false, true),
        ("kubeSystemSA", "namespaced", false, false),
        ("nodesSuffix", "node", false, true),
        ("nodesSuffix", "namespaced", false, false),
        ("nsPrefix", "controller", false, true),
        ("nsPrefix", "noGroups", false, true),
        ("nsPrefix", "namespaced", false, false),
        ("nsContains", "namespaced", false, true),
        ("nsContains", "controller", false, false),
        ("nsAny", "cluster", false, true),
        ("nsAny", "nonResource", false, false),
        ("namesPrefix", "named", false, true),
        ("namesPrefix", "namespaced", false, false),
    ];
    for &(r, q, plain, wild) in cases {
        for (ext, want) in [(NO_EXT, plain), (WILDCARDS, wild)] {
            let p = policy_of(&[rule(r)], ext);
            let got = p.evaluate(&request(q).attrs());
            assert_eq!(got.rule.is_some(), want, "rule {r} request {q} wildcards {}", ext.wildcards);
            assert_eq!(got.level, if want { Level::Metadata } else { Level::None });
        }
    }
}

#[test]
fn first_match_wins_and_no_match_is_none() {
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Panic]\nomitManagedFields: true\nrules:\n\
                - {level: Request, users: [tim], verbs: [get]}\n\
                - {level: RequestResponse, users: [tim]}\n\
                - {level: Metadata, verbs: [get]}\n";
    let (p, _) = Policy::from_yaml(text, "t", NO_EXT).unwrap();
    let d = |q: &str| p.evaluate(&request(q).attrs());
    assert_eq!((d("namespaced").level, d("namespaced").rule), (Level::Request, Some(0)));
    assert_eq!((d("apps").level, d("apps").rule), (Level::RequestResponse, Some(1)));
    assert_eq!((d("node").level, d("node").rule), (Level::Metadata, Some(2)));
    let none = d("controller");
    assert_eq!(
        none,
        Decision {
            level: Level::None,
            omit_stages: StageSet::EMPTY.with(Stage::Panic),
            omit_managed_fields: true,
            rule: None
        }
    );
    assert_eq!(p.rules_len(), 3);
    assert_eq!(p.rule_level(1), Level::RequestResponse);
}

/// A request without a user (a failed authentication, recorded with `"user":{}`): no rule
/// naming users or userGroups matches it, not even `users: [""]`, as in the checker.
#[test]
fn a_request_without_a_user_matches_no_user_rule() {
    let p =
        policy_of(&["{level: None, users: ['']}", "{level: Request, userGroups: ['']}", "{level: Metadata}"], NO_EXT);
    let mut req = request("nonResource");
    (req.user, req.groups) = ("", vec![&b""[..]]);
    let mut attrs = req.attrs();
    assert_eq!(p.evaluate(&attrs).rule, Some(0), "a user named \"\"");
    attrs.username = None;
    assert_eq!(p.evaluate(&attrs).rule, Some(2));
}

/// A policy file is read as the apiserver reads it: its first document only, and of a key
/// given twice the last one, each said in a warning with its line. (The module's own
/// configuration refuses both.)
#[test]
fn policy_files_are_read_as_the_apiserver_reads_them() {
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
                - level: None\n  verbs: [get]\n  verbs: [watch]\n\
                - level: Metadata\n\
                ---\n\
                this: [is, not, read\n";
    let (p, warnings) = Policy::from_yaml(text, "p.yaml", NO_EXT).unwrap();
    let shown: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        shown,
        [
            "p.yaml:6: duplicate key `verbs`: the last one counts, as in the apiserver",
            "p.yaml:8: a second YAML document starts here: it is not read, as the apiserver does not read it",
        ],
    );
    let mut tim = request("namespaced");
    assert_eq!(p.evaluate(&tim.attrs()).rule, Some(1));
    tim.verb = "watch";
    assert_eq!(p.evaluate(&tim.attrs()).rule, Some(0));
    // YAML 1.1 booleans, as go-yaml resolves them; a null item of a list is "".
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitManagedFields: yes\nrules:\n\
                - {level: None, namespaces: [~], omitManagedFields: off}\n- level: Metadata\n";
    let (p, _) = Policy::from_yaml(text, "p.yaml", NO_EXT).unwrap();
    let cluster = request("cluster");
    assert_eq!(p.evaluate(&cluster.attrs()).rule, Some(0), "namespaces: [~] is the cluster scope");
    assert!(!p.evaluate(&cluster.attrs()).omit_managed_fields);
    assert!(p.evaluate(&request("namespaced").attrs()).omit_managed_fields);
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- {level: None, users: [on]}\n";
    let e = Policy::from_yaml(text, "p.yaml", NO_EXT).expect_err("users: [on] is a boolean");
    assert!(e.message().contains("users[0]: invalid type: boolean"), "{}", e.message());
    // The module's own files are read strictly.
    assert!(crate::yaml::parse("a: yes\n").unwrap().value["a"].is_string());
    assert!(crate::yaml::parse("a: 1\na: 2\n").is_err());
    assert!(crate::yaml::parse("a: 1\n---\n").is_err());
}

/// YAML merge keys, which the apiserver's reader applies: a rule that merges another's
/// members has them, its own first.
#[test]
fn merge_keys_are_applied() {
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
                - level: None\n  <<: &sys {users: [tim], verbs: [watch]}\n\
                - <<: [*sys, {level: Request}]\n  verbs: [get]\n\
                - level: Metadata\n";
    let (p, warnings) = Policy::from_yaml(text, "t", NO_EXT).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut tim = request("namespaced");
    tim.verb = "get";
    assert_eq!(p.evaluate(&tim.attrs()).rule, Some(1));
    tim.verb = "watch";
    assert_eq!(p.evaluate(&tim.attrs()).rule, Some(0));
    let mut other = request("namespaced");
    other.user = "alice";
    assert_eq!(p.evaluate(&other.attrs()).rule, Some(2), "a merged rule is not every request");
}

#[test]
fn omit_stages_are_unioned() {
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n\
                - {level: Metadata, users: [tim], omitStages: [ResponseStarted, RequestReceived]}\n\
                - {level: Metadata}\n";
    let (p, _) = Policy::from_yaml(text, "t", NO_EXT).unwrap();
    let s = p.evaluate(&request("namespaced").attrs()).omit_stages;
    assert!(s.contains(Stage::RequestReceived) && s.contains(Stage::ResponseStarted));
    assert!(!s.contains(Stage::ResponseComplete) && !s.contains(Stage::Panic));
    let s = p.evaluate(&request("controller").attrs()).omit_stages;
    assert_eq!(s.iter().collect::<Vec<_>>(), [Stage::RequestReceived]);
}

#[test]
fn omit_managed_fields_rule_overrides_policy() {
    for policy in [None, Some(false), Some(true)] {
        for rule in [None, Some(false), Some(true)] {
            let mut text = String::from("apiVersion: audit.k8s.io/v1\nkind: Policy\n");
            if let Some(b) = policy {
                text.push_str(&format!("omitManagedFields: {b}\n"));
            }
            text.push_str("rules:\n- level: Request\n  users: [tim]\n");
            if let Some(b) = rule {
                text.push_str(&format!("  omitManagedFields: {b}\n"));
            }
            let (p, _) = Policy::from_yaml(&text, "t", NO_EXT).unwrap();
            let want = rule.or(policy).unwrap_or(false);
            assert_eq!(p.evaluate(&request("namespaced").attrs()).omit_managed_fields, want, "{text}");
            // Unmatched requests get the policy-level setting.
            assert_eq!(p.evaluate(&request("controller").attrs()).omit_managed_fields, policy.unwrap_or(false));
        }
    }
}

fn corpus(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/kubeaudit/policies");
    std::fs::read_to_string(format!("{dir}/{name}")).unwrap()
}

#[test]
fn corpus_policies_load() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/kubeaudit/policies");
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    for name in &names {
        let text = corpus(name);
        if name == "openshift_clo_example_policy.yaml" {
            // A rules-only fragment: the apiserver cannot decode it; the wildcard extension reads it.
            let e = Policy::from_yaml(&text, name, NO_EXT).unwrap_err();
            assert!(e.message().starts_with("`apiVersion` and `kind` are missing"), "{e}");
            let (p, w) = Policy::from_yaml(&text, name, WILDCARDS).unwrap();
            assert_eq!(p.rules_len(), 19);
            assert!(w.iter().any(|w| w.message().contains("unknown key `redactions`")), "{w:?}");
            continue;
        }
        let (p, _) = Policy::from_yaml(&text, name, NO_EXT).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(p.rules_len() > 0);
        Policy::from_yaml(&text, name, WILDCARDS).unwrap();
    }
}

#[test]
fn elastisys_namespacees_warning() {
    let name = "elastisys_compliantkubernetes-apps_local-clusters_audit-policy.yaml";
    let text = corpus(name);
    let (_, w) = Policy::from_yaml(&text, name, NO_EXT).unwrap();
    let line = text.lines().position(|l| l.contains("namespacees:")).unwrap() + 1;
    let before = &text[..text.find("namespacees:").unwrap()];
    let rule = before.matches("- level:").count();
    let w: Vec<String> = w.iter().map(ToString::to_string).collect();
    let want = format!(
        "{name}:{line}: rule {rule} (level None): unknown key `namespacees` is ignored, as the apiserver ignores it \
         (did you mean `namespaces`?): this rule matches every namespace"
    );
    assert!(w.contains(&want), "{want}\n{w:#?}");
    // The swapped `group: postgresqls` / `resources: [acid.zalan.do]` entries are reported too.
    assert!(w.iter().filter(|w| w.contains("group `postgresqls` looks like a resource")).count() == 2, "{w:#?}");
}

#[test]
fn swapped_fields_warning() {
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
                - level: None\n  resources:\n  - group: pods\n\
                - level: None\n  resources:\n  - resources: [rbac.authorization.k8s.io]\n\
                - level: None\n  resources:\n  - group: configmaps\n    resources: [example.com]\n\
                - level: None\n  resources:\n  - group: apps\n    resources: [deployments/scale]\n\
                - level: Metadata\n";
    let (_, w) = Policy::from_yaml(text, "s.yaml", NO_EXT).unwrap();
    let w: Vec<String> = w.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 3, "{w:#?}");
    assert!(w[0].starts_with("s.yaml:6: rule 1 (level None): resources entry 1: group `pods` looks like a resource"));
    assert!(w[1].starts_with("s.yaml:9: rule 2 (level None): resources entry 1: resource `rbac.authorization.k8s.io`"));
    assert!(w[1].contains("looks like an API group"));
    assert!(w[2].starts_with("s.yaml:12: rule 3 (level None): resources entry 1: group `configmaps`"));
    assert!(w[2].contains("seem swapped"));
}

#[test]
fn catch_all_warnings() {
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  verbs: [watch]\n\
                - level: Metadata\n  users: [tim]\n";
    let (_, w) = Policy::from_yaml(text, "c.yaml", NO_EXT).unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].to_string(),
        "c.yaml:6: rule 2 (level Metadata): no rule matches every request (the last rule has restrictions): a \
         request no rule matches is dropped (level None), as on the apiserver"
    );
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  verbs: [watch]\n\
                - level: Metadata\n- level: None\n  users: [tim]\n- level: Request\n";
    let (_, w) = Policy::from_yaml(text, "c.yaml", NO_EXT).unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].to_string(),
        "c.yaml:7: rule 3 (level None): rules 3 to 4 can never match: rule 2 before them matches every request"
    );
}

#[test]
fn other_warnings() {
    let text = "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n\
                - level: None\n  users: ['system:node:*']\n  resources:\n  - group: ''\n    resourcez: [pods]\n\
                - level: Metadata\n";
    let (p, w) = Policy::from_yaml(text, "o.yaml", NO_EXT).unwrap();
    let w: Vec<String> = w.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            "o.yaml:1: `audit.k8s.io/v1beta1` is read as `audit.k8s.io/v1`, but apiservers refuse it since Kubernetes 1.24: use `audit.k8s.io/v1`",
            "o.yaml:5: rule 1 (level None): users entry `system:node:*` contains `*`, which the apiserver matches \
             literally (wildcards are not enabled)",
            "o.yaml:8: rule 1 (level None): resources entry 1: unknown key `resourcez` is ignored, as the apiserver \
             ignores it (did you mean `resources`?): this entry matches every resource of its group",
        ]
    );
    assert!(p.evaluate(&request("namespaced").attrs()).omit_stages.is_empty());
}

#[test]
fn every_group_is_no_lint_warning() {
    let text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n\
                - level: None\n  resources: [{group: '*', resources: [events]}]\n- level: Metadata\n";
    let (_, w) = Policy::from_yaml(text, "g.yaml", NO_EXT).unwrap();
    assert!(w.is_empty(), "{w:?}");
}

/// (policy text, expected line, expected message start)
#[test]
fn errors_have_lines() {
    let head = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n";
    let cases: &[(String, Option<usize>, &str)] = &[
        (
            format!("{head}- level: Metadata\n  users: [a]\n- level: Metdata\n"),
            Some(6),
            "rule 2: level `Metdata` is not",
        ),
        (format!("{head}- level: Metadata\n  users: [a\n"), Some(6), "cannot read the policy"),
        (format!("{head}- users: [a]\n"), Some(4), "rule 1: `level` is required"),
        (
            format!("{head}- level: None\n  nonResourceURLs: [/a, healthz]\n"),
            Some(5),
            "rule 1: nonResourceURLs entry `healthz` must begin",
        ),
        (
            format!("{head}- level: None\n  nonResourceURLs:\n  - /a*b\n"),
            Some(6),
            "rule 1: nonResourceURLs entry `/a*b` may have",
        ),
        (
            format!("{head}- level: None\n- level: None\n  namespaces: [a]\n  nonResourceURLs: [/a]\n"),
            Some(7),
            "rule 2: a rule cannot apply to both",
        ),
        (
            format!("{head}- level: None\n  resources:\n  - group: rbac.authorization.k8s.io/v1\n"),
            Some(6),
            "rule 1: resources group `rbac.authorization.k8s.io/v1` is not a valid API group",
        ),
        (
            format!("{head}- level: None\n  resources:\n  - resourceNames: [x]\n"),
            Some(6),
            "rule 1: resources entry 1 has resourceNames",
        ),
        (format!("{head}- level: None\n  omitStages: [Done]\n"), Some(5), "rule 1: omitStages entry `Done` is not"),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestRecieved]\nrules:\n- level: None\n"
                .to_owned(),
            Some(3),
            "policy-level omitStages entry `RequestRecieved` is not",
        ),
        (
            format!("{head}- level: None\n  users: alice\n"),
            Some(5),
            "cannot read the policy: rules[0].users: invalid type",
        ),
        // A member a merge key brought in is named on the line it was written on.
        (
            format!(
                "{head}- level: None\n  users: &sys [a]\n  nonResourceURLs: &urls [healthz]\n- level: None\n  <<: {{nonResourceURLs: *urls}}\n"
            ),
            Some(6),
            "rule 1: nonResourceURLs entry `healthz` must begin",
        ),
        (
            format!("{head}- &base\n  level: None\n  verbs: [get]\n- <<: *base\n  level: Metdata\n"),
            Some(8),
            "rule 2: level `Metdata` is not",
        ),
        (format!("{head}- &base\n  level: Nne\n- <<: *base\n  verbs: [get]\n"), Some(5), "rule 1: level `Nne` is not"),
        (format!("{head}- level: None\n  <<: [a]\n"), Some(5), "cannot read the policy: a merge key (`<<`)"),
        ("apiVersion: audit.k8s.io/v1\nkind: Policy\n".to_owned(), Some(1), "the policy has no rules"),
        ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n".to_owned(), Some(3), "the policy has no rules"),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\n\nrule:\n- level: None\n".to_owned(),
            Some(4),
            "the policy has no rules, and the apiserver refuses such a policy (`rule` is not a known key: did you mean",
        ),
        ("apiVersion: audit.k8s.io/v2\nkind: Policy\nrules: []\n".to_owned(), Some(1), "unsupported apiVersion"),
        ("# only a comment\n".to_owned(), None, "the policy is empty"),
        ("apiVersion: audit.k8s.io/v1\nrules: []\n".to_owned(), Some(1), "`kind` is missing"),
        ("apiVersion: audit.k8s.io/v1\n\nkind: Event\nrules: []\n".to_owned(), Some(3), "unsupported kind `Event`"),
    ];
    for (text, line, msg) in cases {
        let e = match Policy::from_yaml(text, "e.yaml", NO_EXT) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e,
        };
        assert!(e.message().starts_with(msg), "{text}: {}", e.message());
        assert_eq!(e.line(), *line, "{text}: {}", e.message());
    }
}

#[test]
fn lines_in_messages_follow_block_styles() {
    use crate::yaml::Seg;
    let text = "# c\nkind: Policy\nrules:\n# x\n- level: None\n  resources:\n    - group: a\n\n      resources: [x]\n\
                - level: Metadata\n  users:\n  - a\nomitStages:\n  - Panic\n";
    let loc = crate::yaml::parse(text).unwrap();
    let k = |s: &str| Seg::Key(s.to_owned());
    assert_eq!(loc.line(&[k("kind")]), Some(2));
    assert_eq!(loc.line(&[k("rules"), Seg::Index(1)]), Some(10));
    assert_eq!(loc.line(&[k("rules"), Seg::Index(0), k("resources"), Seg::Index(0), k("resources")]), Some(9));
    assert_eq!(loc.line(&[k("rules"), Seg::Index(1), k("users"), Seg::Index(0)]), Some(12));
    assert_eq!(loc.line(&[k("rules"), Seg::Index(1), k("resources")]), Some(10));
    assert_eq!(loc.line(&[k("omitStages"), Seg::Index(0)]), Some(14));
}

#[test]
fn default_policy_loads_without_warnings() {
    let (p, w) = Policy::from_yaml(include_str!("default-policy.yaml"), "default-policy.yaml", NO_EXT).unwrap();
    assert!(w.is_empty(), "{:?}", w.iter().map(ToString::to_string).collect::<Vec<_>>());
    assert_eq!(p.rules_len(), Policy::default_policy().rules_len());
    assert_eq!(
        p.describe_rule(0),
        "None: users=system:kube-proxy verbs=watch resources=endpoints,services,services/status,\
         endpointslices.discovery.k8s.io"
    );
    assert_eq!(p.describe_rule(p.rules_len() - 1), "Metadata: (every request)");
}

#[test]
fn default_policy_decisions() {
    let p = Policy::default_policy();
    let kube_proxy = Req {
        user: "system:kube-proxy",
        groups: vec![b"system:authenticated"],
        verb: "watch",
        res: Some(("", "endpoints", "", "", "")),
        path: "/api/v1/endpoints",
    };
    let slices = Req { res: Some(("discovery.k8s.io", "endpointslices", "", "", "")), ..request("noGroups") };
    let slices = Req { user: "system:kube-proxy", ..slices };
    let secret = Req { verb: "get", ..request("named") };
    let token =
        Req { verb: "create", res: Some(("", "serviceaccounts", "token", "default", "sa")), ..request("named") };
    let rolebinding =
        Req { res: Some(("rbac.authorization.k8s.io", "rolebindings", "", "team", "")), ..request("rbac") };
    let role_read = Req { verb: "get", ..request("rbac") };
    let readyz = Req {
        user: "system:anonymous",
        groups: vec![b"system:unauthenticated"],
        verb: "get",
        res: None,
        path: "/readyz",
    };
    let livez = Req { path: "/livez/etcd", ..request("metrics") };
    let metrics = request("metrics");
    let top = Req { verb: "list", res: Some(("metrics.k8s.io", "pods", "", "default", "")), ..request("namespaced") };
    let lease = Req {
        user: "system:node:n1",
        groups: vec![b"system:nodes"],
        verb: "update",
        res: Some(("coordination.k8s.io", "leases", "", "kube-node-lease", "n1")),
        path: "/x",
    };
    let leader = Req {
        user: "system:kube-scheduler",
        groups: vec![],
        verb: "update",
        res: Some(("coordination.k8s.io", "leases", "", "kube-system", "kube-scheduler")),
        path: "/x",
    };
    let event =
        Req { verb: "create", res: Some(("events.k8s.io", "events", "", "default", "")), ..request("controller") };
    let pods = Req { verb: "list", ..request("namespaced") };
    let api = Req { path: "/apis", ..request("nonResource") };
    let cases: &[(&str, &Req, Level, Option<usize>)] = &[
        ("kube-proxy watch endpoints", &kube_proxy, Level::None, Some(0)),
        ("kube-proxy watch endpointslices", &slices, Level::None, Some(0)),
        ("node get nodes/status", &request("node"), Level::None, Some(1)),
        ("node lease renewal", &lease, Level::None, Some(2)),
        ("scheduler leader election", &leader, Level::None, Some(3)),
        ("GET /readyz", &readyz, Level::None, Some(4)),
        ("GET /livez/etcd", &livez, Level::None, Some(4)),
        ("event create", &event, Level::None, Some(5)),
        ("GET /metrics", &metrics, Level::None, Some(6)),
        ("kubectl top", &top, Level::None, Some(7)),
        ("human get secret", &secret, Level::Metadata, Some(8)),
        ("token request", &token, Level::Metadata, Some(8)),
        ("rolebinding create", &rolebinding, Level::Request, Some(9)),
        ("clusterrole get", &role_read, Level::Metadata, Some(10)),
        ("human list pods", &pods, Level::Metadata, Some(10)),
        ("GET /apis", &api, Level::Metadata, Some(10)),
    ];
    for (name, req, level, rule) in cases {
        let d = p.evaluate(&req.attrs());
        assert_eq!((d.level, d.rule), (*level, *rule), "{name}");
        assert!(d.omit_stages.contains(Stage::RequestReceived) && d.omit_managed_fields, "{name}");
        assert_eq!(p.rule_level(rule.unwrap()), *level, "{name}");
    }
}

#[test]
fn stage_set_and_parsing() {
    let s: StageSet = [Stage::Panic, Stage::RequestReceived].into_iter().collect();
    assert!(s.contains(Stage::Panic) && !s.contains(Stage::ResponseStarted));
    assert_eq!(s.union(StageSet::EMPTY.with(Stage::ResponseStarted)).iter().count(), 3);
    for st in Stage::ALL {
        assert_eq!(Stage::parse(st.as_str()), Some(st));
    }
    for other in ["", "responsecomplete", "ResponseComplet", "ResponseCompleteX", "Panic ", "RequestReceivedd"] {
        assert_eq!(Stage::parse(other), None, "{other}");
    }
    for l in [Level::None, Level::Metadata, Level::Request, Level::RequestResponse] {
        assert_eq!(Level::parse(l.as_str()), Some(l));
    }
    assert!(Level::Metadata < Level::Request);
}

#[test]
fn same_compares_every_byte() {
    let base = "system:serviceaccount:kube-system:x";
    for len in 0..=base.len() {
        let a = &base[..len];
        assert!(same(a, a.as_bytes()), "{a:?}");
        assert!(!same(a, &base.as_bytes()[..len.saturating_sub(1)]) || len == 0, "{a:?} against a shorter one");
        for at in 0..len {
            let mut b = a.as_bytes().to_vec();
            b[at] = b'#';
            assert!(!same(a, &b), "{a:?} vs {b:?}");
        }
    }
}

/// A scope read from the request path is read only for a rule the request passes on its
/// user, groups, verb, group and resource: a kubelet's other requests are decided without
/// it, and the decisions are those of the scope given.
#[test]
fn scope_is_read_only_for_a_rule_that_names_the_resource() {
    let p = Policy::default_policy();
    let kubelet = |verb: &'static str, group, resource, namespace| Req {
        user: "system:node:n1",
        groups: vec![b"system:nodes", b"system:authenticated"],
        verb,
        res: Some((group, resource, "", namespace, "n1")),
        path: "/x",
    };
    // (request, decided by, whether the scope is read)
    let cases = [
        ("lease renewal", kubelet("update", "coordination.k8s.io", "leases", "kube-node-lease"), Some(2), true),
        ("lease elsewhere", kubelet("update", "coordination.k8s.io", "leases", "default"), Some(10), true),
        ("node status update", kubelet("patch", "", "nodes", ""), Some(10), false),
        ("pod watch", kubelet("watch", "", "pods", ""), Some(10), false),
        ("configmap get", kubelet("get", "", "configmaps", "web"), Some(8), false),
    ];
    for (name, req, rule, read) in cases {
        let reads = std::cell::Cell::new(0);
        let (.., namespace, object) = req.res.unwrap();
        let on_demand = || {
            reads.set(reads.get() + 1);
            (namespace.as_bytes(), object.as_bytes())
        };
        let d = p.evaluate(&req.attrs_with(Scope::OnDemand(&on_demand)));
        assert_eq!(d.rule, rule, "{name}");
        assert_eq!(d.rule, p.evaluate(&req.attrs()).rule, "{name}: as with the scope given");
        assert_eq!(reads.get() > 0, read, "{name}: scope read {} times", reads.get());
    }
}
