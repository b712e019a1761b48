//! What the apiserver reads from a request's path before it decides the audit level.
//!
//! The policy is evaluated when the request arrives, on the attributes the apiserver's
//! `RequestInfo` resolver takes from the URL path. The event's `objectRef` is written later
//! and completed from the request body: a `create` on a collection gets the body's
//! `metadata.name`, and a request to a cluster-scoped URL gets the body's
//! `metadata.namespace` (which the client chooses and the apiserver then ignores). Deciding
//! on those would let a client pick the rule that records its request, so the namespace,
//! and whether the request named an object, come from the path.

use crate::streams::{find_byte, find_either};
use std::borrow::Cow;

/// The namespace and the name-presence of a resource request, as resolved from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathScope<'a> {
    /// Empty for a cluster-scoped URL.
    pub namespace: &'a [u8],
    /// The path names an object (`.../pods/web-1`), so the request's name is the event's.
    /// Otherwise the request had no name, except the one a list or watch selects with
    /// `fieldSelector=metadata.name=...`, which the event's `objectRef.name` also holds.
    pub named: bool,
}

/// The path's scope when it is a resource request (`/api/{version}/...` or
/// `/apis/{group}/{version}/...`); `None` otherwise. `path` is decoded, without the query.
pub fn path_scope(path: &[u8]) -> Option<PathScope<'_>> {
    // The resolver trims the slashes at both ends and splits on the others.
    let trimmed = trim_slashes(path);
    if trimmed.is_empty() {
        return None;
    }
    let mut parts = Parts(Some(trimmed));
    let versioned = match parts.next()? {
        b"api" => 1,
        b"apis" => 2,
        _ => return None,
    };
    // The group and the version; at least one part must follow them.
    for _ in 0..versioned {
        parts.next()?;
    }
    let mut first = parts.next()?;
    // `/watch/...` and `/proxy/...` name the verb; something must follow.
    if matches!(first, b"watch" | b"proxy") {
        first = parts.next()?;
    }
    let (second, third, fourth) = (parts.next(), parts.next(), parts.next());
    // An empty part names nothing (`pods//eviction` has the name "").
    let names = |part: Option<&[u8]>| part.is_some_and(|p| !p.is_empty());
    let scope = match (first, second) {
        (b"namespaces", Some(namespace)) => PathScope {
            namespace,
            // `namespaces/{ns}` is the namespace itself, `status` and `finalize` its
            // subresources; anything else is a resource in the namespace, named by the
            // part after it.
            named: match third {
                Some(b"status" | b"finalize") | None => !namespace.is_empty(),
                Some(_) => names(fourth),
            },
        },
        _ => PathScope { namespace: b"", named: names(second) },
    };
    Some(scope)
}

/// What the kubelet is asked for through a `nodes/proxy` request
/// (`/api/v1/nodes/{name}/proxy/{path}`, or the old `/api/v1/proxy/nodes/{name}/{path}`):
/// the first part of the proxied path, such as `exec` or `metrics`. `path` is decoded,
/// without the query.
pub fn kubelet_endpoint(path: &[u8]) -> Option<&[u8]> {
    let mut parts = Parts(Some(trim_slashes(path)));
    let (api, version, mut first) = (parts.next()?, parts.next()?, parts.next()?);
    let proxy_verb = first == b"proxy";
    if proxy_verb {
        first = parts.next()?;
    }
    if (api, version, first) != (&b"api"[..], &b"v1"[..], &b"nodes"[..]) {
        return None;
    }
    parts.next()?; // the node's name
    if !proxy_verb && parts.next()? != b"proxy" {
        return None;
    }
    // The apiserver joins the rest to the kubelet's URL with `path.Join`, which drops `.`
    // and resolves `..` (`metrics/../exec` is `exec`): the first part that survives.
    let mut kept: Vec<&[u8]> = Vec::new();
    for part in Parts(parts.0) {
        match part {
            b"" | b"." => {}
            b".." => {
                kept.pop();
            }
            _ => kept.push(part),
        }
    }
    kept.first().copied()
}

/// The parts of a path between its slashes, one slash search (eight bytes at a time) each.
struct Parts<'a>(Option<&'a [u8]>);

impl<'a> Iterator for Parts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.0?;
        match find_byte(rest, b'/', 0) {
            Some(i) => {
                self.0 = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => self.0.take(),
        }
    }
}

/// The path of a request URI as the apiserver matches it: without the query, `%XX` decoded.
/// One search finds the query's `?` or the first `%`, whichever comes first: most paths
/// have no escape, and their search ends at the query.
pub fn request_path(uri: &[u8]) -> Cow<'_, [u8]> {
    match find_either(uri, b'?', b'%', 0) {
        None => Cow::Borrowed(uri),
        Some(i) if uri[i] == b'?' => Cow::Borrowed(&uri[..i]),
        Some(i) => decode_path(&uri[..find_byte(uri, b'?', i).unwrap_or(uri.len())]),
    }
}

fn trim_slashes(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&c| c != b'/').unwrap_or(path.len());
    let end = path.iter().rposition(|&c| c != b'/').map_or(start, |i| i + 1);
    &path[start..end]
}

/// A URL path as the apiserver sees it: `%XX` decoded (`+` stays), as Go's `URL.Path`.
/// A `%` not followed by two hex digits is kept as written.
fn decode_path(path: &[u8]) -> Cow<'_, [u8]> {
    if find_byte(path, b'%', 0).is_none() {
        return Cow::Borrowed(path);
    }
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while let Some(&c) = path.get(i) {
        let hex = |at: usize| path.get(at).and_then(|d| (*d as char).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_request_info_resolver() {
        // (path, namespace and named, or None for a path that is no resource request)
        let cases: &[(&str, Option<(&str, bool)>)] = &[
            ("/api/v1/namespaces/web/pods", Some(("web", false))),
            ("/api/v1/namespaces/web/pods/web-1", Some(("web", true))),
            ("/api/v1/namespaces/web/pods/web-1/exec", Some(("web", true))),
            ("/api/v1/namespaces/web/pods/", Some(("web", false))),
            ("/apis/apps/v1/namespaces/web/deployments/api/scale", Some(("web", true))),
            // Cluster-scoped: whatever namespace the body names, the request has none.
            ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", Some(("", false))),
            ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/admin", Some(("", true))),
            ("/api/v1/nodes/node-1/status", Some(("", true))),
            // A namespace is its own namespace; `status` and `finalize` are its subresources.
            ("/api/v1/namespaces", Some(("", false))),
            ("/api/v1/namespaces/web", Some(("web", true))),
            ("/api/v1/namespaces/web/status", Some(("web", true))),
            ("/api/v1/namespaces/web/finalize", Some(("web", true))),
            // The verb in the path.
            ("/api/v1/watch/namespaces/web/pods", Some(("web", false))),
            ("/api/v1/watch/namespaces/web/pods/web-1", Some(("web", true))),
            ("/apis/apps/v1/watch/namespaces/web/deployments/api/status/x", Some(("web", true))),
            ("/api/v1/proxy/nodes/node-1", Some(("", true))),
            ("/api/v1/watch", None),
            // Empty parts count as parts, and name nothing.
            ("/api/v1/namespaces//pods", Some(("", false))),
            ("/api/v1/namespaces/web/pods//eviction", Some(("web", false))),
            ("/api/v1/nodes//status", Some(("", false))),
            ("/api/v1/namespaces//status", Some(("", false))),
            // Not resource requests.
            ("/api/v1", None),
            ("/apis/apps/v1", None),
            ("/apis/apps", None),
            ("/api", None),
            ("/", None),
            ("", None),
            ("/healthz", None),
            ("/metrics", None),
            ("/openapi/v2", None),
            ("/apis/x", None),
        ];
        for (path, want) in cases {
            let got = path_scope(path.as_bytes()).map(|s| (String::from_utf8_lossy(s.namespace).into_owned(), s.named));
            let want = want.map(|(ns, named)| (ns.to_owned(), named));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn kubelet_endpoints_of_node_proxy_requests() {
        for (path, want) in [
            ("/api/v1/nodes/worker-1/proxy/exec/default/web-1/app", Some("exec")),
            ("/api/v1/nodes/worker-1:10250/proxy/run/default/web-1/app", Some("run")),
            ("/api/v1/nodes/worker-1/proxy//attach/default/web-1/app", Some("attach")),
            ("/api/v1/nodes/worker-1/proxy/portForward/default/web-1", Some("portForward")),
            ("/api/v1/proxy/nodes/worker-1/exec/default/web-1/app", Some("exec")),
            ("/api/v1/nodes/worker-1/proxy/metrics/cadvisor", Some("metrics")),
            // Dot segments, which `path.Join` resolves before the kubelet sees the path.
            ("/api/v1/nodes/worker-1/proxy/metrics/../exec/web/web-1/app", Some("exec")),
            ("/api/v1/nodes/worker-1/proxy/./run/web/web-1/app", Some("run")),
            ("/api/v1/nodes/worker-1/proxy/../../attach/web/web-1/app", Some("attach")),
            ("/api/v1/nodes/worker-1/proxy/healthz/x/../../portForward/web/web-1", Some("portForward")),
            ("/api/v1/nodes/worker-1/proxy/exec/..", None),
            ("/api/v1/nodes/worker-1/proxy/", None),
            ("/api/v1/nodes/worker-1/proxy", None),
            ("/api/v1/nodes/worker-1/status", None),
            ("/api/v1/namespaces/default/pods/web-1/proxy/exec", None),
            ("/api/v1/namespaces/default/services/web/proxy/exec", None),
            ("/apis/x/v1/nodes/worker-1/proxy/exec", None),
        ] {
            let got = kubelet_endpoint(path.as_bytes()).map(|p| String::from_utf8_lossy(p).into_owned());
            assert_eq!(got.as_deref(), want, "{path}");
        }
    }

    #[test]
    fn parts_are_the_parts_of_a_split() {
        // Every slash position in the word scan and in the byte-by-byte tail.
        let mut paths = vec![String::new(), "/".into(), "//".into(), "a".into()];
        for len in 1..40 {
            for slash in 0..len {
                let mut p: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                p[slash] = b'/';
                paths.push(String::from_utf8(p.clone()).unwrap());
                for extra in (slash..len).step_by(3) {
                    p[extra] = b'/';
                }
                paths.push(String::from_utf8(p).unwrap());
            }
        }
        paths.push("/api/v1/watch/namespaces/web/pods/web-1/log/and/more/parts".into());
        for path in &paths {
            let got: Vec<&[u8]> = Parts(Some(path.as_bytes())).collect();
            let want: Vec<&[u8]> = path.as_bytes().split(|&c| c == b'/').collect();
            assert_eq!(got, want, "{path:?}");
        }
    }

    #[test]
    fn request_paths_end_at_the_query() {
        // (request URI, path, whether the path is the URI's own bytes)
        for (uri, want, borrowed) in [
            ("/api/v1/pods?watch=true", "/api/v1/pods", true),
            ("/api/v1/namespaces/kube-system/pods", "/api/v1/namespaces/kube-system/pods", true),
            ("/healthz?verbose=1&exclude=%65tcd", "/healthz", true),
            ("/api/v1/%6Eamespaces/web/pods?limit=500", "/api/v1/namespaces/web/pods", false),
            ("/%6detrics", "/metrics", false),
            ("/a%2Fb?c=%2F", "/a/b", false),
            ("/version?%", "/version", true),
            ("/100%", "/100%", false),
            ("?", "", true),
            ("", "", true),
            // The `?` in the last word the scan reads (its last two bytes) and just after it.
            ("/apis/apps/v1/namespaces/web/deployments?x", "/apis/apps/v1/namespaces/web/deployments", true),
            ("/apis/apps/v1/namespaces/web/deployment?x", "/apis/apps/v1/namespaces/web/deployment", true),
            ("/apis/apps/v1/namespaces/web/deploymen?x", "/apis/apps/v1/namespaces/web/deploymen", true),
        ] {
            let got = request_path(uri.as_bytes());
            assert_eq!(got.as_ref(), want.as_bytes(), "{uri}");
            assert_eq!(matches!(got, Cow::Borrowed(_)), borrowed, "{uri}");
        }
        for len in 0..24 {
            let path = "/a".repeat(len);
            for tail in ["", "?q", "?%41", "%41", "%41?q"] {
                let uri = format!("{path}{tail}");
                let decoded = if tail.starts_with('%') { "A" } else { "" };
                assert_eq!(request_path(uri.as_bytes()).as_ref(), format!("{path}{decoded}").as_bytes(), "{uri}");
            }
        }
    }

    #[test]
    fn paths_are_decoded_as_go_decodes_them() {
        for (raw, want) in [
            ("/api/v1/namespaces/kube-system/pods", "/api/v1/namespaces/kube-system/pods"),
            ("/api/v1/%6Eamespaces/%6Bube-system/pods", "/api/v1/namespaces/kube-system/pods"),
            ("/%6detrics", "/metrics"),
            ("/a%2Fb", "/a/b"),
            ("/a+b", "/a+b"),
            ("/100%", "/100%"),
            ("/%zz/%4", "/%zz/%4"),
            ("%41%", "A%"),
        ] {
            assert_eq!(decode_path(raw.as_bytes()).as_ref(), want.as_bytes(), "{raw}");
        }
    }
}
