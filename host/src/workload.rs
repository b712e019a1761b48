//! A deterministic stand-in for a busy cluster's log streams, for `make bench` and the
//! soak test: the same seed gives the same records on every machine.
//!
//! The Kubernetes mix mirrors what an apiserver writes on a busy cluster: most events are
//! control-plane chatter (kube-proxy watches, kubelet node and lease traffic, leader
//! election, probes, events), then a thin layer of ServiceAccounts, humans, secret reads,
//! exec sessions and RBAC changes, and a few large RequestResponse bodies.

/// xorshift64*: small, fast and good enough to pick shapes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The workloads `make bench` reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Control-plane chatter the default policy drops.
    Chatter,
    /// Humans and ServiceAccounts the default policy keeps, with enrichment.
    Kept,
    /// Large RequestResponse events stripped to Metadata.
    LargeBodies,
    /// The standard mix of all Kubernetes event shapes, in a busy cluster's proportions.
    StandardMix,
    /// Raw sshd lines in `log`, as tail without a parser gives them.
    Ssh,
    /// Records the module does not understand: not JSON, or not an object.
    Malformed,
    /// The standard mix as an apiserver writing to stdout gives it: each event a string in
    /// `log`, as Fluent Bit's CRI parser reads the container log.
    NestedMix,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::StandardMix,
        Workload::NestedMix,
        Workload::Chatter,
        Workload::Kept,
        Workload::LargeBodies,
        Workload::Ssh,
        Workload::Malformed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Chatter => "chatter (dropped)",
            Workload::Kept => "kept + enriched",
            Workload::LargeBodies => "large bodies stripped",
            Workload::StandardMix => "standard k8s mix",
            Workload::Ssh => "ssh lines",
            Workload::Malformed => "malformed",
            Workload::NestedMix => "k8s mix in log",
        }
    }

    /// `n` records of this workload, as JSON text (what Fluent Bit hands a JSON-mode filter).
    pub fn records(self, n: usize, seed: u64) -> Vec<String> {
        let mut rng = Rng::new(seed);
        (0..n as u64).map(|i| self.record(&mut rng, i)).collect()
    }

    fn record(self, rng: &mut Rng, i: u64) -> String {
        match self {
            Workload::Chatter => chatter(rng, i),
            Workload::Kept => kept(rng, i),
            Workload::LargeBodies => large_body(rng, i),
            Workload::StandardMix => standard(rng, i),
            Workload::NestedMix => {
                let event = serde_json::to_string(&standard(rng, i)).expect("a string serialises");
                let nanos = rng.below(1_000_000_000);
                format!(r#"{{"time":"2026-11-22T10:00:00.{nanos:09}Z","stream":"stdout","_p":"F","log":{event}}}"#)
            }
            Workload::Ssh => ssh_line(rng, i),
            Workload::Malformed => malformed(rng, i),
        }
    }
}

fn standard(rng: &mut Rng, i: u64) -> String {
    match rng.below(1000) {
        0..=879 => chatter(rng, i),
        880..=979 => kept(rng, i),
        _ => large_body(rng, i),
    }
}

struct Event<'a> {
    level: &'a str,
    stage: &'a str,
    verb: &'a str,
    uri: String,
    user: String,
    object_ref: Option<String>,
    code: u16,
    user_agent: &'a str,
    request_object: Option<String>,
    response_object: Option<String>,
}

impl<'a> Event<'a> {
    /// The common shape: a Metadata event of a completed request, without bodies.
    fn metadata(
        verb: &'a str,
        uri: String,
        user: String,
        object_ref: Option<String>,
        code: u16,
        user_agent: &'a str,
    ) -> Event<'a> {
        Event {
            level: "Metadata",
            stage: "ResponseComplete",
            verb,
            uri,
            user,
            object_ref,
            code,
            user_agent,
            request_object: None,
            response_object: None,
        }
    }
}

fn audit_id(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn user(name: &str, groups: &[&str]) -> String {
    let groups: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
    format!(r#"{{"username":"{name}","uid":"{:x}","groups":[{}]}}"#, name.len() * 7919, groups.join(","))
}

fn object_ref(resource: &str, namespace: &str, name: &str, group: &str) -> String {
    let mut s = format!(r#"{{"resource":"{resource}""#);
    if !namespace.is_empty() {
        s += &format!(r#","namespace":"{namespace}""#);
    }
    if !name.is_empty() {
        s += &format!(r#","name":"{name}""#);
    }
    if !group.is_empty() {
        s += &format!(r#","apiGroup":"{group}""#);
    }
    s + r#","apiVersion":"v1"}"#
}

fn render(rng: &mut Rng, i: u64, e: Event) -> String {
    let ts = format!("2026-11-22T10:{:02}:{:02}.{:06}Z", (i / 60) % 60, i % 60, rng.below(1_000_000));
    let mut s = format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"{}","auditID":"{}","stage":"{}","requestURI":"{}","verb":"{}","user":{},"sourceIPs":["10.0.{}.{}"],"userAgent":"{}""#,
        e.level,
        audit_id(rng),
        e.stage,
        e.uri,
        e.verb,
        e.user,
        rng.below(255),
        rng.below(255),
        e.user_agent
    );
    if let Some(o) = e.object_ref {
        s += &format!(r#","objectRef":{o}"#);
    }
    s += &format!(r#","responseStatus":{{"metadata":{{}},"code":{}}}"#, e.code);
    if let Some(o) = e.request_object {
        s += &format!(r#","requestObject":{o}"#);
    }
    if let Some(o) = e.response_object {
        s += &format!(r#","responseObject":{o}"#);
    }
    s += &format!(
        r#","requestReceivedTimestamp":"{ts}","stageTimestamp":"{ts}","annotations":{{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}}}"#
    );
    s
}

const NODES: [&str; 6] =
    ["ip-10-0-1-17", "ip-10-0-1-38", "ip-10-0-2-4", "ip-10-0-2-91", "ip-10-0-3-12", "ip-10-0-3-50"];
const NAMESPACES: [&str; 5] = ["default", "payments", "web", "monitoring", "ingress-nginx"];

fn chatter(rng: &mut Rng, i: u64) -> String {
    let node = rng.pick(&NODES);
    let kubelet = || user(&format!("system:node:{node}"), &["system:nodes", "system:authenticated"]);
    let e = match rng.below(7) {
        0 => {
            let (res, group) = *[("endpoints", ""), ("services", ""), ("endpointslices", "discovery.k8s.io")]
                .get(rng.below(3) as usize)
                .unwrap_or(&("endpoints", ""));
            Event::metadata(
                "watch",
                format!("/api/v1/{res}?allowWatchBookmarks=true&resourceVersion=1834{}&watch=true", rng.below(9999)),
                user("system:kube-proxy", &["system:authenticated"]),
                Some(object_ref(res, "", "", group)),
                200,
                "kube-proxy/v1.31.2 (linux/amd64) kubernetes/5864a46",
            )
        }
        1 => Event::metadata(
            "get",
            format!("/api/v1/nodes/{node}?resourceVersion=0&timeout=10s"),
            kubelet(),
            Some(object_ref("nodes", "", node, "")),
            200,
            "kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46",
        ),
        2 => Event::metadata(
            "update",
            format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}?timeout=10s"),
            kubelet(),
            Some(object_ref("leases", "kube-node-lease", node, "coordination.k8s.io")),
            200,
            "kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46",
        ),
        3 => Event::metadata(
            "update",
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager?timeout=5s".into(),
            user("system:kube-controller-manager", &["system:authenticated"]),
            Some(object_ref("leases", "kube-system", "kube-controller-manager", "coordination.k8s.io")),
            200,
            "kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/leader-election",
        ),
        4 => Event::metadata(
            "get",
            rng.pick(&["/readyz", "/livez", "/healthz", "/version"]).to_owned(),
            user("system:anonymous", &["system:unauthenticated"]),
            None,
            200,
            "kube-probe/1.31",
        ),
        5 => Event::metadata(
            "create",
            format!("/api/v1/namespaces/{}/events", rng.pick(&NAMESPACES)),
            kubelet(),
            Some(object_ref("events", rng.pick(&NAMESPACES), "", "")),
            201,
            "kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46",
        ),
        _ => Event::metadata(
            "patch",
            format!("/api/v1/nodes/{node}/status?timeout=10s"),
            kubelet(),
            Some(object_ref("nodes", "", node, "")),
            200,
            "kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46",
        ),
    };
    render(rng, i, e)
}

const HUMANS: [&str; 3] =
    ["oidc:alice@example.com", "oidc:bob@example.com", "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"];

fn kept(rng: &mut Rng, i: u64) -> String {
    let ns = rng.pick(&NAMESPACES);
    let human = || user(HUMANS[0], &["oidc:platform-admins", "system:authenticated"]);
    let e = match rng.below(6) {
        0 | 1 => Event::metadata(
            "list",
            format!("/api/v1/namespaces/{ns}/pods?limit=500"),
            user(
                &format!("system:serviceaccount:{ns}:deployer"),
                &["system:serviceaccounts", &format!("system:serviceaccounts:{ns}"), "system:authenticated"],
            ),
            Some(object_ref("pods", ns, "", "")),
            200,
            "argocd-application-controller/v0.0.0",
        ),
        2 => Event::metadata(
            "get",
            format!("/api/v1/namespaces/{ns}/pods/web-7d9f8b6c5d-x2x4k"),
            user(rng.pick(&HUMANS), &["oidc:developers", "system:authenticated"]),
            Some(object_ref("pods", ns, "web-7d9f8b6c5d-x2x4k", "")),
            200,
            "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
        ),
        3 => Event::metadata(
            "get",
            format!("/api/v1/namespaces/{ns}/secrets/db-credentials"),
            human(),
            Some(object_ref("secrets", ns, "db-credentials", "")),
            200,
            "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
        ),
        4 => Event {
            level: "Request",
            stage: "ResponseStarted",
            verb: "create",
            uri: format!(
                "/api/v1/namespaces/{ns}/pods/web-7d9f8b6c5d-x2x4k/exec?command=sh&container=web&stdin=true&stdout=true&tty=true"
            ),
            user: human(),
            object_ref: Some(format!(
                r#"{{"resource":"pods","namespace":"{ns}","name":"web-7d9f8b6c5d-x2x4k","apiVersion":"v1","subresource":"exec"}}"#
            )),
            code: 101,
            user_agent: "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
            request_object: None,
            response_object: None,
        },
        _ => Event {
            level: "RequestResponse",
            stage: "ResponseComplete",
            verb: "create",
            uri: format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"),
            user: human(),
            object_ref: Some(object_ref("rolebindings", ns, "ci-deployer", "rbac.authorization.k8s.io")),
            code: 201,
            user_agent: "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
            request_object: Some(format!(
                r#"{{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{{"name":"ci-deployer","namespace":"{ns}","creationTimestamp":null}},"subjects":[{{"kind":"ServiceAccount","name":"ci","namespace":"{ns}"}}],"roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"edit"}}}}"#
            )),
            response_object: Some(format!(
                r#"{{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{{"name":"ci-deployer","namespace":"{ns}","uid":"5d0c2a6e-{:08x}","resourceVersion":"{}","creationTimestamp":"2026-11-22T10:00:00Z","managedFields":[{{"manager":"kubectl-create","operation":"Update","apiVersion":"rbac.authorization.k8s.io/v1","time":"2026-11-22T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{{"f:roleRef":{{}},"f:subjects":{{}}}}}}]}},"subjects":[{{"kind":"ServiceAccount","name":"ci","namespace":"{ns}"}}],"roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"edit"}}}}"#,
                rng.next_u64() as u32,
                rng.below(1 << 30)
            )),
        },
    };
    render(rng, i, e)
}

fn large_body(rng: &mut Rng, i: u64) -> String {
    let ns = rng.pick(&NAMESPACES);
    let entries = 40 + rng.below(80);
    let data: Vec<String> = (0..entries)
        .map(|k| format!(r#""key-{k}":"{:016x}{:016x}{:016x}""#, rng.next_u64(), rng.next_u64(), rng.next_u64()))
        .collect();
    let body = format!(
        r#"{{"kind":"ConfigMap","apiVersion":"v1","metadata":{{"name":"app-config","namespace":"{ns}","managedFields":[{{"manager":"helm","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{{"f:data":{{}}}}}}]}},"data":{{{}}}}}"#,
        data.join(",")
    );
    let e = Event {
        level: "RequestResponse",
        stage: "ResponseComplete",
        verb: "update",
        uri: format!("/api/v1/namespaces/{ns}/configmaps/app-config"),
        user: user(&format!("system:serviceaccount:{ns}:helm"), &["system:serviceaccounts", "system:authenticated"]),
        object_ref: Some(object_ref("configmaps", ns, "app-config", "")),
        code: 200,
        user_agent: "Helm/3.16.2",
        request_object: Some(body.clone()),
        response_object: Some(body),
    };
    render(rng, i, e)
}

fn ssh_line(rng: &mut Rng, i: u64) -> String {
    let ip = format!("203.0.113.{}", rng.below(250));
    let port = 30000 + rng.below(30000);
    let t = format!("Nov 22 10:{:02}:{:02}", (i / 60) % 60, i % 60);
    let msg = match rng.below(5) {
        0 => format!(
            "Accepted publickey for ubuntu from {ip} port {port} ssh2: ED25519 SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM"
        ),
        1 => format!("Failed password for invalid user admin from {ip} port {port} ssh2"),
        2 => format!("Invalid user oracle from {ip} port {port}"),
        3 => format!("Connection closed by authenticating user root {ip} port {port} [preauth]"),
        _ => "pam_unix(sshd:session): session opened for user ubuntu(uid=1000) by (uid=0)".to_owned(),
    };
    format!(r#"{{"log":"{t} ip-10-0-1-17 sshd[{}]: {msg}"}}"#, 1000 + rng.below(60000))
}

fn malformed(rng: &mut Rng, i: u64) -> String {
    match rng.below(4) {
        0 => format!(r#"{{"log":"plain application line {i} with no structure"}}"#),
        1 => format!(r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":{i}}}"#),
        2 => format!(r#"{{"kind":"Event","apiVersion":"v1","reason":"Pulled","message":"image {i} pulled"}}"#),
        _ => r#"{"log":"{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"truncated"}"#.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_json_objects_and_deterministic() {
        for w in Workload::ALL {
            let a = w.records(300, 7);
            assert_eq!(a, w.records(300, 7), "{w:?}");
            for r in &a {
                let v: serde_json::Value = serde_json::from_str(r).unwrap_or_else(|e| panic!("{w:?}: {e}: {r}"));
                assert!(v.is_object());
            }
        }
    }

    #[test]
    fn the_standard_mix_is_mostly_chatter_with_some_large_bodies() {
        let mix = Workload::StandardMix.records(2000, 1);
        let big = mix.iter().filter(|r| r.len() > 4096).count();
        let watches = mix.iter().filter(|r| r.contains(r#""verb":"watch""#)).count();
        assert!((10..100).contains(&big), "{big}");
        assert!(watches > 150, "{watches}");
    }
}
