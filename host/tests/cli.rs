//! `audit-sieve check`: the built CLI on a valid configuration, one with a lint warning,
//! and one with an error. Needs the module (`make` builds it; `make test` first).

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
