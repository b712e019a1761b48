//! `audit-sieve check`: the built CLI on a valid configuration, one with a lint warning,
//! and one with an error; `audit-sieve run` on input that is not UTF-8. Needs the module
//! (`make` builds it; `make test` first).

use std::path::PathBuf;
use std::process::{Command, Output};

fn wasm() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../build/audit_sieve.wasm")
}

/// `audit-sieve.yaml` holding `text`, in a directory of its own that goes when this is dropped.
struct ConfigFile(PathBuf);

impl std::ops::Deref for ConfigFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn config(name: &str, text: &str) -> ConfigFile {
    let dir = std::env::temp_dir().join(format!("audit-sieve-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("audit-sieve.yaml");
    std::fs::write(&file, text).unwrap();
    ConfigFile(file)
}

fn check(file: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_audit-sieve"))
        .arg("check")
        .arg("--config")
        .arg(file)
        .arg("--wasm")
        .arg(wasm())
        .args(extra)
        .output()
        .expect("run audit-sieve");
    assert!(stdout.is_empty(), "check writes nothing on stdout");
    (status.code().expect("exit code"), String::from_utf8(stderr).unwrap())
}

#[test]
fn valid_configuration_exits_0() {
    let kit = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fluent-bit/audit-sieve.yaml");
    let (code, log) = check(&kit, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("configuration valid"), "{log}");
    assert!(!log.contains("warning"), "{log}");
    // --strict changes nothing without warnings.
    assert_eq!(check(&kit, &["--strict"]).0, 0);
}

#[test]
fn lint_warning_is_reported_with_its_line_and_fails_only_with_strict() {
    // No catch-all last rule: valid for the apiserver, but everything else is dropped.
    let file = config(
        "warning",
        "kubeaudit:\n  policy:\n    apiVersion: audit.k8s.io/v1\n    kind: Policy\n    rules:\n      - level: Metadata\n        resources:\n          - group: \"\"\n            resources: [secrets]\n",
    );
    let (code, log) = check(&file, &[]);
    assert_eq!(code, 0, "{log}");
    let warning = log.lines().find(|l| l.contains("warning:")).unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(warning.contains(&format!("{}:", file.display())), "file and line: {warning}");
    assert!(log.contains("1 warning(s)"), "{log}");
    let (code, log) = check(&file, &["--strict"]);
    assert_eq!(code, 2, "{log}");
}

#[test]
fn error_is_reported_with_file_and_line_and_exits_1() {
    let file = config("error", "cluster:\n  nmae: prod\n");
    let (code, log) = check(&file, &[]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains(&format!("{}:2: cluster: unknown field `nmae`", file.display())), "{log}");
    assert!(log.contains("INVALID"), "{log}");
}

#[test]
fn policy_file_errors_name_the_policy_file() {
    let file = config("policy-error", "kubeaudit:\n  policy_file: policy.yaml\n");
    let policy = file.with_file_name("policy.yaml");
    std::fs::write(&policy, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metdata\n").unwrap();
    let (code, log) = check(&file, &[]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains(&format!("{}:4:", policy.display())), "{log}");
}

/// `audit-sieve ARGS...` with the built module: exit code, stdout, stderr.
fn cli(args: &[&std::ffi::OsStr]) -> (i32, Vec<u8>, String) {
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_audit-sieve"))
        .args(args)
        .env("AUDIT_SIEVE_WASM", wasm())
        .output()
        .expect("run audit-sieve");
    (status.code().expect("exit code"), stdout, String::from_utf8_lossy(&stderr).into_owned())
}

#[test]
fn check_refuses_what_it_would_ignore_and_fails_on_a_missing_configuration() {
    let file = config("ignored", "cluster:\n  nmae: prod\n");
    // `check FILE` without --config would check the defaults: a usage error, not "valid".
    let (code, _, log) = cli(&["check".as_ref(), file.as_os_str()]);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("name the configuration with --config"), "{log}");
    let (code, _, log) = cli(&["run".as_ref(), "--strict".as_ref()]);
    assert_eq!(code, 2, "{log}");
    // A named configuration that is not there is an invalid configuration.
    let missing = file.with_file_name("missing").join("audit-sieve.yaml");
    let (code, _, log) = cli(&["check".as_ref(), "--config".as_ref(), missing.as_os_str()]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("no such file") && log.contains("INVALID"), "{log}");
}

#[test]
fn run_opens_every_input_first_skips_a_byte_order_mark_and_nests_msgpack_deeply() {
    let dir = config("inputs", "cluster:\n  name: prod\n");
    let (records, records_bom, deep) =
        (dir.with_file_name("a.ndjson"), dir.with_file_name("bom.ndjson"), dir.with_file_name("deep.ndjson"));
    let dropped = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/endpoints?watch=true","verb":"watch","user":{"username":"system:kube-proxy","groups":["system:authenticated"]},"objectRef":{"resource":"endpoints","apiVersion":"v1"}}"#;
    std::fs::write(&records, format!("{dropped}\n")).unwrap();
    std::fs::write(&records_bom, format!("\u{feff}{dropped}\n")).unwrap();
    let nested = format!(r#"{{"a":{}1{}}}"#, "[".repeat(1100), "]".repeat(1100));
    std::fs::write(&deep, format!("{nested}\n{{\"log\":\"after\"}}\n")).unwrap();
    let missing = dir.with_file_name("missing.ndjson");
    // A missing file among others: the run ends before any output.
    let (code, out, log) = cli(&["run".as_ref(), records.as_os_str(), missing.as_os_str(), records.as_os_str()]);
    assert_eq!(code, 2, "{log}");
    assert!(out.is_empty() && log.contains("missing.ndjson"), "{log}");
    // A byte order mark opening a file: its first record is read as if it were not there.
    let (code, out, log) = cli(&["run".as_ref(), records_bom.as_os_str()]);
    assert_eq!(code, 0, "{log}");
    assert!(out.is_empty() && log.contains("dropped by a rule      1"), "{log}");
    // msgpack mode: a record nested deeper than msgpack readers' default limit is written
    // as JSON, and the run goes on.
    let (code, out, log) = cli(&["run".as_ref(), "--format".as_ref(), "msgpack".as_ref(), deep.as_os_str()]);
    assert_eq!(code, 0, "{log}");
    let lines: Vec<&[u8]> = out.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(lines[0], nested.as_bytes());
    assert_eq!(lines[1], br#"{"log":"after"}"#);
}

#[test]
fn run_writes_a_line_that_is_not_utf8_as_read_and_filters_the_rest() {
    let dropped = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/endpoints?watch=true","verb":"watch","user":{"username":"system:kube-proxy","groups":["system:authenticated"]},"objectRef":{"resource":"endpoints","apiVersion":"v1"}}"#;
    let kept = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/web/secrets/db","verb":"get","user":{"username":"alice@example.com","groups":["system:authenticated"]},"objectRef":{"resource":"secrets","namespace":"web","name":"db","apiVersion":"v1"}}"#;
    let not_utf8 = b"{\"log\":\"caf\xe9\"}".to_vec();
    let mut input = Vec::new();
    for line in [dropped.as_bytes(), &not_utf8, dropped.as_bytes(), kept.as_bytes()] {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let file = config("not-utf8", "cluster:\n  name: prod\n");
    let records = file.with_file_name("records.ndjson");
    std::fs::write(&records, &input).unwrap();
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_audit-sieve"))
        .args(["run", "--config"])
        .arg(&*file)
        .arg("--wasm")
        .arg(wasm())
        .arg(&records)
        .output()
        .expect("run audit-sieve");
    let log = String::from_utf8_lossy(&stderr);
    assert!(status.success(), "{log}");
    // The line comes out as it went in; both watches are dropped; the secret read after
    // them is filtered (enriched).
    let lines: Vec<&[u8]> = stdout.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{}", String::from_utf8_lossy(&stdout));
    assert_eq!(lines[0], &not_utf8[..]);
    let last = std::str::from_utf8(lines[1]).unwrap();
    assert!(last.contains(r#""auditID":"b""#) && last.contains(r#""cluster":"prod""#), "{last}");
    assert!(log.contains("record 2 is not UTF-8: written unchanged, not filtered"), "{log}");
    assert!(log.contains("dropped by a rule      2"), "{log}");
}

#[test]
fn run_hands_over_duplicate_members_as_fluent_bit_keeps_them() {
    // kube-proxy's watch, and a second `verb`: the module decides on the first, as Fluent
    // Bit's parser keeps both (a map that kept the last would turn the decision around).
    let event = |first: &str, second: &str| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/endpoints?watch=true","verb":"{first}","user":{{"username":"system:kube-proxy","groups":["system:authenticated"]}},"objectRef":{{"resource":"endpoints","apiVersion":"v1"}},"verb":"{second}"}}"#
        )
    };
    let dir = config("duplicates", "cluster:\n  name: prod\n");
    let records = dir.with_file_name("records.ndjson");
    std::fs::write(&records, format!("{}\n{}\n", event("watch", "delete"), event("delete", "watch"))).unwrap();
    for format in ["json", "msgpack"] {
        let (code, out, log) = cli(&["run".as_ref(), "--format".as_ref(), format.as_ref(), records.as_os_str()]);
        assert_eq!(code, 0, "{log}");
        assert!(log.contains("dropped by a rule      1"), "{format}: {log}");
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains(r#""verb":"delete""#) && out.contains(r#""verb":"watch""#), "{format}: {out}");
    }
}

#[test]
fn run_ends_quietly_when_the_reader_of_its_output_goes_away() {
    use std::io::Read;
    let kept = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/web/secrets/db","verb":"get","user":{"username":"alice@example.com","groups":["system:authenticated"]},"objectRef":{"resource":"secrets","namespace":"web","name":"db","apiVersion":"v1"}}"#;
    let file = config("closed-pipe", "cluster:\n  name: prod\n");
    let records = file.with_file_name("records.ndjson");
    // Far more output than a pipe buffers: the run is still writing when the reader leaves.
    std::fs::write(&records, format!("{kept}\n").repeat(5_000)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_audit-sieve"))
        .args(["run", "--config"])
        .arg(&*file)
        .arg(&records)
        .env("AUDIT_SIEVE_WASM", wasm())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run audit-sieve");
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    let status = child.wait().unwrap();
    assert!(first.starts_with(b"{\"kind\":\"Event\""));
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains("Broken pipe"), "{log}");
}
