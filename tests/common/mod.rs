//! Shared helpers of the integration tests: every test goes through the built `.wasm`
//! and the host that calls it as Fluent Bit does.
#![allow(dead_code)]

use audit_sieve_host::{Fate, FluentBitHost, Format, Options, default_wasm_path};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const TAG: &str = "kube.audit";
pub const TIME: (u32, u32) = (1_763_630_000, 0);

/// The shared test corpus (real public audit logs), beside the repository.
pub fn corpus(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus").join(path)
}

pub fn corpus_lines(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(corpus(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

fn wasm() -> PathBuf {
    let path = default_wasm_path();
    assert!(path.exists(), "{} is missing: run `make` (or `make test`) first", path.display());
    path
}

/// A fresh directory under the system temp dir, removed (with its files) when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh directory holding the given files.
pub fn config_dir(files: &[(&str, &str)]) -> TempDir {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = TempDir(std::env::temp_dir().join(format!(
        "audit-sieve-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

/// A host whose only accessible path holds `audit-sieve.yaml` with `config` (and the
/// other files given); stderr is captured.
pub fn host_with(config: Option<&str>, files: &[(&str, &str)]) -> FluentBitHost {
    let mut all: Vec<(&str, &str)> = files.to_vec();
    if let Some(c) = config {
        all.push(("audit-sieve.yaml", c));
    }
    let dir = config_dir(&all);
    let mut options = Options::new(wasm());
    options.accessible_paths = vec![dir.to_path_buf()];
    options.capture_stderr = true;
    // The module reads its configuration at start-up, so the directory can go after it.
    FluentBitHost::new(&options).expect("module loads")
}

/// A host on the embedded defaults (no configuration file).
pub fn host() -> FluentBitHost {
    host_with(None, &[])
}

pub fn json(host: &mut FluentBitHost, record: &str) -> Fate {
    host.filter(Format::Json, TAG, TIME, record.as_bytes())
}

/// The kept record as a JSON value; panics on any other fate.
pub fn kept(fate: Fate) -> serde_json::Value {
    match fate {
        Fate::Kept(bytes) => parse(&bytes),
        other => panic!("expected the record to be kept, got {other:?}"),
    }
}

pub fn parse(bytes: &[u8]) -> serde_json::Value {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    serde::Deserialize::deserialize(&mut de)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

pub fn to_msgpack(record: &serde_json::Value) -> Vec<u8> {
    rmp_serde::to_vec_named(record).unwrap()
}
