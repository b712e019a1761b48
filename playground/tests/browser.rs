//! The built playground (`make playground`) in headless Chromium: the page runs its
//! bundled examples on `?autorun=1` and renders the results into the DOM, which
//! `--dump-dom` prints. Run by `make test-playground` (ignored by a plain `cargo test`:
//! it needs the built page and a Chromium).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

fn playground_dir() -> PathBuf {
    let dir = std::env::var_os("PLAYGROUND_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/playground"));
    assert!(dir.join("index.html").is_file(), "{}: no index.html; run `make playground` first", dir.display());
    dir
}

/// A static file server on 127.0.0.1 for the life of the test process; returns the port.
fn serve(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = respond(stream, &root);
            });
        }
    });
    port
}

fn respond(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut request = String::new();
    BufReader::new(&stream).read_line(&mut request)?;
    let target = request.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/").trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let file = root.join(path);
    let body = if path.split('/').any(|p| p == "..") { None } else { std::fs::read(&file).ok() };
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found".to_vec()),
    };
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// The page after it ran, as Chromium serialises it.
fn dump_dom(port: u16, query: &str) -> String {
    let profile = std::env::temp_dir().join(format!("audit-sieve-chromium-{}-{port}", std::process::id()));
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("http://127.0.0.1:{port}/index.html?{query}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium()));
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-state=\"done\""),
        "the page did not finish (status {}):\n{dom}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// The `<tr>` of the results table for input line `line`.
fn row(dom: &str, line: usize) -> &str {
    let marker = format!("data-line=\"{line}\"");
    let start = dom
        .match_indices("<tr ")
        .map(|(i, _)| i)
        .find(|&i| dom[i..].split("</tr>").next().unwrap_or_default().contains(&marker))
        .unwrap_or_else(|| panic!("no result row for line {line}:\n{dom}"));
    dom[start..].split("</tr>").next().unwrap()
}

#[test]
#[ignore = "needs `make playground` and Chromium: run with `make test-playground`"]
fn bundled_example_renders_decisions() {
    let port = serve(playground_dir());
    let dom = dump_dom(port, "autorun=1");

    // The kube-proxy watch (line 1) is dropped by rule 1.
    let watch = row(&dom, 1);
    assert!(watch.contains("data-decision=\"dropped\""), "{watch}");
    assert!(watch.contains("data-rule=\"1\""), "{watch}");
    assert!(watch.contains("rule 1 (None)"), "{watch}");

    // The secret get (line 5) is kept, bodies stripped by rule 6 (Metadata).
    let secret = row(&dom, 5);
    assert!(secret.contains("db-credentials"), "{secret}");
    assert!(secret.contains("data-decision=\"kept\""), "{secret}");
    assert!(secret.contains("rule 6 (Metadata)"), "{secret}");
    assert!(!secret.contains("responseObject"), "{secret}");
    assert!(secret.contains("secret_access"), "{secret}");

    // The RBAC change (line 7) keeps its request body (rule 7, Request), not the response.
    let rbac = row(&dom, 7);
    assert!(rbac.contains("rule 7 (Request)"), "{rbac}");
    assert!(rbac.contains("requestObject") && !rbac.contains("responseObject"), "{rbac}");

    // A line that is not JSON is kept, as {"log": ...}.
    let text = row(&dom, 12);
    assert!(text.contains("data-decision=\"kept\""), "{text}");
    assert!(text.contains("&quot;log&quot;") || text.contains("\"log\""), "{text}");

    // No configuration error.
    assert!(!dom.contains("Configuration error"), "{dom}");
}

#[test]
#[ignore = "needs `make playground` and Chromium: run with `make test-playground`"]
fn config_error_example_shows_its_line() {
    let port = serve(playground_dir());
    let dom = dump_dom(port, "example=error&autorun=1");
    let start = dom.find("id=\"error\"").expect("error element");
    let error = dom[start..].split("</div>").next().unwrap();
    // example-error.yaml line 9: `- level: Metdata`.
    assert!(error.contains("data-line=\"9\""), "{error}");
    assert!(error.contains("audit-sieve.yaml:9"), "{error}");
    assert!(error.contains("Metdata"), "{error}");
    // Every record passes through, as the module does on a configuration error.
    let first = row(&dom, 1);
    assert!(first.contains("data-decision=\"passed through\""), "{first}");
    assert!(first.contains("config_error"), "{first}");
}
