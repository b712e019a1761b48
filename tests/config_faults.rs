//! Configuration faults through the host: each gives one start-up error naming the file
//! (and the line, when there is one) and the problem, and records then pass through
//! byte for byte, a record the default policy would drop included.

mod common;

use audit_sieve_host::Fate;
use common::*;
use std::path::Path;

/// kube-proxy watching endpoints: the default policy drops it; an invalid configuration
/// must not.
const DROPPED_BY_DEFAULT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/endpoints?watch=true","verb":"watch","user":{"username":"system:kube-proxy"},"objectRef":{"resource":"endpoints","apiVersion":"v1"},"responseStatus":{"code":200}}"#;

/// Starts a host on `dir`, checks its one error line, and that records pass through.
fn assert_fails_open(dir: &Path, want: &str) {
    let mut options = audit_sieve_host::Options::new(audit_sieve_host::default_wasm_path());
    options.accessible_paths = vec![dir.to_path_buf()];
    options.capture_stderr = true;
    let mut h = audit_sieve_host::FluentBitHost::new(&options).expect("module loads");
    let log = h.stderr();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR: invalid configuration:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {log}");
    assert!(errors[0].contains(want), "expected `{want}` in: {log}");
    assert!(log.contains("every record passes through unchanged"), "{log}");
    for record in [DROPPED_BY_DEFAULT, r#"{"log":"Mar 16 08:25:22 host sshd[1]: Accepted publickey for root"}"#] {
        assert_eq!(json(&mut h, record), Fate::Kept(record.as_bytes().to_vec()));
    }
    assert_eq!(parse(h.stats().unwrap().as_bytes())["passed"]["config_error"], 2);
}

fn dir_with(files: &[(&str, &str)]) -> TempDir {
    config_dir(files)
}

#[test]
fn invalid_yaml() {
    let dir = dir_with(&[("audit-sieve.yaml", "cluster:\n  name: prod\nkubeaudit: [\n")]);
    let file = dir.join("audit-sieve.yaml");
    assert_fails_open(&dir, &format!("{}:4: ", file.display()));
}

#[test]
fn unknown_key() {
    let dir = dir_with(&[("audit-sieve.yaml", "kubeaudit:\n  wildcards: true\n  polcy_file: p.yaml\n")]);
    let file = dir.join("audit-sieve.yaml");
    assert_fails_open(&dir, &format!("{}:3: kubeaudit: unknown field `polcy_file`", file.display()));
}

#[test]
fn policy_with_an_unknown_level() {
    let policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n    verbs: [get]\n  - level: Everything\n";
    let dir = dir_with(&[("audit-sieve.yaml", "kubeaudit:\n  policy_file: policy.yaml\n"), ("policy.yaml", policy)]);
    let log_line = format!("{}:6: ", dir.join("policy.yaml").display());
    assert_fails_open(&dir, &log_line);
    assert_fails_open(&dir, "Everything");
}

#[test]
fn policy_file_missing() {
    let dir = dir_with(&[("audit-sieve.yaml", "kubeaudit:\n  policy_file: nope.yaml\n")]);
    assert_fails_open(&dir, &format!("{}: kubeaudit.policy_file: cannot read", dir.join("nope.yaml").display()));
}

#[test]
fn identity_map_file_missing() {
    let dir = dir_with(&[("audit-sieve.yaml", "identity:\n  map_file: people.yaml\n")]);
    assert_fails_open(&dir, &format!("{}", dir.join("people.yaml").display()));
    assert_fails_open(&dir, "cannot read");
}

#[test]
fn invalid_auditd_drop_rule() {
    let dir = dir_with(&[("audit-sieve.yaml", "auditd:\n  drop:\n    - comm: [cron]\n    - {}\n")]);
    let file = dir.join("audit-sieve.yaml");
    assert_fails_open(&dir, &format!("{}:4: auditd.drop[1]: auditd drop rule has no condition", file.display()));
}

#[test]
fn ssh_user_ca_that_is_no_fingerprint() {
    // The CA's public key pasted where its fingerprint belongs.
    let config = "identity:\n  ssh_user_cas:\n    - SHA256:Q2VydGlmaWNhdGVBdXRob3JpdHlGaW5nZXJwcmludAQ\n    - ssh-ed25519 AAAAC3Nza\n";
    let dir = dir_with(&[("audit-sieve.yaml", config)]);
    let file = dir.join("audit-sieve.yaml");
    assert_fails_open(&dir, &format!("{}:4: identity.ssh_user_cas: \"ssh-ed25519 AAAAC3Nza\"", file.display()));
}

#[test]
fn ssh_key_that_sshd_never_logs() {
    // A fingerprint with base64 padding, as other tools than ssh-keygen print it: sshd
    // logs it without, so the person behind the key would silently never be named.
    let padded = "SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM=";
    let config = format!("identity:\n  ssh_keys:\n    \"{padded}\": eve@example.com\n");
    let dir = dir_with(&[("audit-sieve.yaml", &config)]);
    let file = dir.join("audit-sieve.yaml");
    assert_fails_open(&dir, &format!("{}:3: identity.ssh_keys: \"{padded}\": a SHA256 fingerprint", file.display()));
    // The same in the identity map file.
    let map = "ssh_keys:\n  \"MD5:AB:CD\": eve@example.com\n";
    let dir = dir_with(&[("audit-sieve.yaml", "identity:\n  map_file: people.yaml\n"), ("people.yaml", map)]);
    let file = dir.join("people.yaml");
    assert_fails_open(
        &dir,
        &format!("{}:2: identity.map_file: ssh_keys: \"MD5:AB:CD\": an MD5 fingerprint", file.display()),
    );
}

/// A directory where the file should be: found, cannot be read, reported.
#[test]
fn configuration_that_is_a_directory() {
    let dir = dir_with(&[]);
    std::fs::create_dir(dir.join("audit-sieve.yaml")).unwrap();
    assert_fails_open(&dir, &format!("{}: cannot read", dir.join("audit-sieve.yaml").display()));
}

/// Permissions 000. As root they do not stop reading; the test then says so and checks
/// nothing (the directory case above covers an unreadable file for every user).
#[test]
fn configuration_without_read_permission() {
    use std::os::unix::fs::PermissionsExt;
    let dir = dir_with(&[("audit-sieve.yaml", "cluster:\n  name: prod\n")]);
    let file = dir.join("audit-sieve.yaml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&file).is_ok() {
        println!("skipped: this user reads files of mode 000 (root); see configuration_that_is_a_directory");
        return;
    }
    assert_fails_open(&dir, &format!("{}: cannot read", file.display()));
}

/// A symbolic link the module cannot follow: out of the accessible path (the runtime only
/// opens what lies inside it), or dangling. Found, cannot be read, reported: the defaults
/// (which drop events) never stand in for it.
#[test]
fn configuration_that_is_a_link_the_module_cannot_follow() {
    let target = dir_with(&[("audit-sieve.yaml", "cluster:\n  name: prod\n")]);
    for points_to in [target.join("audit-sieve.yaml"), target.join("missing.yaml")] {
        let dir = dir_with(&[]);
        let link = dir.join("audit-sieve.yaml");
        std::os::unix::fs::symlink(&points_to, &link).unwrap();
        assert_fails_open(&dir, &format!("{}: cannot read", link.display()));
        assert_fails_open(&dir, "a symbolic link");
    }
    // A link to a file beside it is read.
    let dir = dir_with(&[("prod.yaml", "cluster:\n  name: prod\n")]);
    std::os::unix::fs::symlink("prod.yaml", dir.join("audit-sieve.yaml")).unwrap();
    let mut options = audit_sieve_host::Options::new(audit_sieve_host::default_wasm_path());
    options.accessible_paths = vec![dir.to_path_buf()];
    let mut h = audit_sieve_host::FluentBitHost::new(&options).expect("module loads");
    let record = DROPPED_BY_DEFAULT.replace("system:kube-proxy", "alice@example.com");
    assert_eq!(kept(json(&mut h, &record))["cluster"], "prod");
}
