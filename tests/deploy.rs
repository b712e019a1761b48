//! The deployment kits: every YAML file parses, the keys the fluent/fluent-bit chart and
//! fluent-logshipping-app read are there, the wasm filter's paths are the mounted ones,
//! and every kit's audit-sieve.yaml loads as the module loads it at start-up.

use audit_sieve::config::{Config, Source};
use audit_sieve::filter::Engine;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(path: &str) -> Value {
    let path = root().join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// The sections of a classic-format Fluent Bit configuration: (section name, keys lower-cased
/// → values; a repeated key keeps every value, joined by "\n").
fn classic_sections(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut sections: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.to_uppercase(), BTreeMap::new()));
            continue;
        }
        let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let (_, keys) = sections.last_mut().unwrap_or_else(|| panic!("a key outside a section: {line}"));
        keys.entry(key.to_lowercase())
            .and_modify(|v| {
                v.push('\n');
                v.push_str(value.trim());
            })
            .or_insert_with(|| value.trim().to_owned());
    }
    sections
}

fn sections_named<'a>(
    sections: &'a [(String, BTreeMap<String, String>)],
    section: &str,
    name: &str,
) -> Vec<&'a BTreeMap<String, String>> {
    sections
        .iter()
        .filter(|(s, keys)| s == section && keys.get("name").is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .map(|(_, keys)| keys)
        .collect()
}

fn wasm_filter(sections: &[(String, BTreeMap<String, String>)]) -> BTreeMap<String, String> {
    let filters = sections_named(sections, "FILTER", "wasm");
    assert_eq!(filters.len(), 1, "exactly one wasm filter");
    let f = filters[0].clone();
    for key in ["match_regex", "wasm_path", "function_name", "event_format", "accessible_paths"] {
        assert!(f.contains_key(key), "wasm filter without {key}: {f:?}");
    }
    assert_eq!(f["function_name"], "audit_sieve");
    assert_eq!(f["event_format"], "json");
    f
}

/// Loads an `audit-sieve.yaml` exactly as the module does at start-up (`Config::load`, then
/// the engine, which reads the files it names); returns the lint warnings.
fn check_config(path: &str) -> Vec<String> {
    let path = root().join(path);
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    match Engine::new(&config, &Source::File(path.clone())) {
        Ok((_, warnings)) => warnings,
        Err(e) => panic!("{e}"),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut at = v;
    for key in path {
        at = &at[*key];
    }
    at.as_str().unwrap_or_else(|| panic!("no string at {}", path.join(".")))
}

#[test]
fn every_kit_yaml_file_parses() {
    let mut files = Vec::new();
    yaml_files(&root().join("deploy"), &mut files);
    yaml_files(&root().join("fluent-bit"), &mut files);
    assert!(files.len() >= 8, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        serde_yaml_ng::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn every_kit_audit_sieve_yaml_loads_without_error_or_warning() {
    for path in [
        "fluent-bit/audit-sieve.yaml",
        "deploy/helm/audit-sieve/audit-sieve.yaml",
        "deploy/fluent-logshipping-app/audit-sieve.yaml",
    ] {
        let warnings = check_config(path);
        assert!(warnings.is_empty(), "{path}: {warnings:?}");
    }
}

#[test]
fn helm_values_mount_what_the_filter_reads() {
    let values = yaml("deploy/helm/values.yaml");
    assert_eq!(values["kind"].as_str(), Some("DaemonSet"));
    // Volumes by name, mounts by path.
    let volumes: BTreeMap<&str, &Value> = values["extraVolumes"]
        .as_sequence()
        .expect("extraVolumes")
        .iter()
        .map(|v| (v["name"].as_str().expect("volume name"), v))
        .collect();
    let mounts: BTreeMap<&str, &str> = values["extraVolumeMounts"]
        .as_sequence()
        .expect("extraVolumeMounts")
        .iter()
        .map(|m| (m["mountPath"].as_str().expect("mountPath"), m["name"].as_str().expect("mount name")))
        .collect();
    for name in mounts.values() {
        assert!(volumes.contains_key(name), "mount of undefined volume {name}");
    }
    let config_map_at = |dir: &str| -> String {
        let name = mounts.get(dir).unwrap_or_else(|| panic!("nothing mounted at {dir}"));
        str_at(volumes[name], &["configMap", "name"]).to_owned()
    };

    let filters = classic_sections(str_at(&values, &["config", "filters"]));
    let wasm = wasm_filter(&filters);
    // The module: its directory is a ConfigMap mount.
    let wasm_path = Path::new(&wasm["wasm_path"]);
    assert_eq!(config_map_at(wasm_path.parent().unwrap().to_str().unwrap()), "audit-sieve-module");
    assert_eq!(wasm_path.file_name().unwrap(), "audit_sieve.wasm");
    // audit-sieve.yaml: the accessible path is the config ConfigMap's mount.
    assert_eq!(config_map_at(&wasm["accessible_paths"]), "audit-sieve-config");

    // The module is small enough for a ConfigMap (1 MiB, binaryData base64 aside), when built.
    let built = root().join("build/audit_sieve.wasm");
    if let Ok(meta) = std::fs::metadata(&built) {
        assert!(meta.len() < 1 << 20, "{} is {} bytes: too large for a ConfigMap", built.display(), meta.len());
    }

    // Every tailed path is under a mounted host directory: the chart's /var/log, or ours.
    let host_dirs: Vec<String> = std::iter::once("/var/log".to_owned())
        .chain(volumes.values().filter_map(|v| v["hostPath"]["path"].as_str().map(str::to_owned)))
        .collect();
    let inputs = classic_sections(str_at(&values, &["config", "inputs"]));
    let tails = sections_named(&inputs, "INPUT", "tail");
    assert_eq!(tails.len(), 4, "kube audit, auth.log, auditd, pgaudit");
    for input in &tails {
        for path in input["path"].split(',') {
            assert!(host_dirs.iter().any(|d| path.starts_with(d.as_str())), "{path} is not under a host mount");
        }
    }
    // Parsers they name are defined.
    let parsers = classic_sections(str_at(&values, &["config", "customParsers"]));
    for input in &tails {
        for key in ["parser", "multiline.parser"] {
            if let Some(p) = input.get(key) {
                assert!(parsers.iter().any(|(_, keys)| keys.get("name") == Some(p)), "parser {p} is not defined");
            }
        }
    }
    // The OpenSearch output routes by the stream field.
    let outputs = classic_sections(str_at(&values, &["config", "outputs"]));
    let os = sections_named(&outputs, "OUTPUT", "opensearch");
    assert_eq!(os.len(), 1);
    assert_eq!(os[0]["logstash_prefix_key"], "$log_type");
    assert_eq!(os[0]["suppress_type_name"], "On");
    assert_eq!(os[0]["replace_dots"], "On");

    // The kit's configuration directory holds what audit-sieve.yaml names.
    let dir = root().join("deploy/helm/audit-sieve");
    for file in ["audit-sieve.yaml", "policy.yaml", "identity-map.yaml"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
}

#[test]
fn helm_and_classic_and_yaml_pipelines_configure_the_same_filter() {
    let values = yaml("deploy/helm/values.yaml");
    let helm = wasm_filter(&classic_sections(str_at(&values, &["config", "filters"])));
    for conf in ["fluent-bit/fluent-bit.conf", "fluent-bit/loki.conf", "fluent-bit/stdout.conf"] {
        let text = std::fs::read_to_string(root().join(conf)).unwrap();
        assert_eq!(wasm_filter(&classic_sections(&text)), helm, "{conf}");
    }
    for file in ["fluent-bit/fluent-bit.yaml", "fluent-bit/loki.yaml", "fluent-bit/stdout.yaml"] {
        let doc = yaml(file);
        let filters = doc["pipeline"]["filters"].as_sequence().expect("pipeline.filters");
        let wasm: Vec<&Value> = filters.iter().filter(|f| f["name"].as_str() == Some("wasm")).collect();
        assert_eq!(wasm.len(), 1, "{file}");
        for (key, value) in &helm {
            if key == "name" {
                continue;
            }
            let got = match &wasm[0][key.as_str()] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => panic!("{file}: {key} = {other:?}"),
            };
            assert_eq!(&got, value, "{file}: {key}");
        }
        let inputs = doc["pipeline"]["inputs"].as_sequence().expect("pipeline.inputs");
        if file.ends_with("stdout.yaml") {
            // The smallest pipeline: the audit log and auth.log, printed.
            assert_eq!(inputs.len(), 2, "{file}");
            assert_eq!(doc["pipeline"]["outputs"][0]["name"].as_str(), Some("stdout"), "{file}");
            continue;
        }
        assert!(inputs.iter().any(|i| i["path"].as_str() == Some("/var/log/audit/audit.log")), "{file}: auditd");
        assert!(inputs.iter().any(|i| i["multiline.parser"].as_str() == Some("postgresql")), "{file}: pgaudit");
    }
}

#[test]
fn loki_labels_are_low_cardinality() {
    let text = std::fs::read_to_string(root().join("fluent-bit/loki.conf")).unwrap();
    let sections = classic_sections(&text);
    let loki = sections_named(&sections, "OUTPUT", "loki");
    assert_eq!(loki.len(), 1);
    let labels = &loki[0]["labels"];
    for wanted in
        ["cluster=$cluster", "log_type=$log_type", "namespace=$objectRef['namespace']", "verb_class=$verb_class"]
    {
        assert!(labels.contains(wanted), "{labels}");
    }
    for never in ["user", "sourceIPs", "auditID", "requestURI", "name']", "actor"] {
        assert!(!labels.contains(never), "{never} as a label: {labels}");
    }
    assert_eq!(loki[0]["line_format"], "json");
    // The verb class is set for the label.
    let modify = sections_named(&sections, "FILTER", "modify");
    assert_eq!(modify.len(), 2);
    assert!(modify.iter().all(|m| m["set"].starts_with("verb_class ")));
    let doc = yaml("fluent-bit/loki.yaml");
    let out = &doc["pipeline"]["outputs"][0];
    assert_eq!(out["name"].as_str(), Some("loki"));
    assert_eq!(out["labels"].as_str(), Some(labels.as_str()));
    assert_eq!(out["remove_keys"].as_str(), Some(loki[0]["remove_keys"].as_str()));
}

#[test]
fn logshipping_app_extra_filters() {
    let values = yaml("deploy/fluent-logshipping-app/extraFilters.yaml");
    // The app's values schema: extraFilters.preprocessing / postprocessing, both strings.
    let extra = values["extraFilters"].as_mapping().expect("extraFilters");
    for key in extra.keys() {
        assert!(matches!(key.as_str(), Some("preprocessing" | "postprocessing")), "{key:?}");
    }
    let post = str_at(&values, &["extraFilters", "postprocessing"]);
    let wasm = wasm_filter(&classic_sections(post));
    // Matches the app's audit tags.
    assert!(wasm["match_regex"].contains("kubernetes") && wasm["match_regex"].contains("ssh"));
    assert_eq!(wasm["accessible_paths"], "/fluent-bit/audit-sieve");
}

/// A Fluent Bit size (`16MB`, `32k`, `4096`) in bytes.
fn fluent_bit_size(text: &str) -> usize {
    let text = text.trim().to_ascii_uppercase();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = match &text[digits.len()..] {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        other => panic!("unknown size unit {other:?} in {text:?}"),
    };
    digits.parse::<usize>().unwrap_or_else(|e| panic!("{text:?}: {e}")) * unit
}

/// The audit log's tail input reads every event the module reads (a line longer than its
/// buffer, with Skip_Long_Lines off, stops the tail on the whole file), and skips a longer
/// line rather than the rest of the file.
#[test]
fn audit_log_inputs_read_every_record_the_module_reads() {
    let limit = audit_sieve::config::DEFAULT_MAX_RECORD_BYTES;
    let check = |what: &str, buffer: Option<&str>, skip: Option<&str>| {
        let buffer = buffer.unwrap_or_else(|| panic!("{what}: no Buffer_Max_Size (the default is 32k)"));
        assert!(fluent_bit_size(buffer) >= limit, "{what}: Buffer_Max_Size {buffer} is below {limit} bytes");
        assert!(skip.is_some_and(|s| s.eq_ignore_ascii_case("on")), "{what}: Skip_Long_Lines must be On");
    };
    let values = yaml("deploy/helm/values.yaml");
    let mut classic = vec![("deploy/helm/values.yaml".to_owned(), str_at(&values, &["config", "inputs"]).to_owned())];
    for conf in ["fluent-bit/fluent-bit.conf", "fluent-bit/loki.conf", "fluent-bit/stdout.conf"] {
        classic.push((conf.to_owned(), std::fs::read_to_string(root().join(conf)).unwrap()));
    }
    for (what, text) in &classic {
        let sections = classic_sections(text);
        let audit: Vec<_> = sections_named(&sections, "INPUT", "tail")
            .into_iter()
            .filter(|i| i.get("tag").is_some_and(|t| t == "kube.audit"))
            .collect();
        assert_eq!(audit.len(), 1, "{what}: one kube.audit tail input");
        let keys = audit[0];
        check(what, keys.get("buffer_max_size").map(String::as_str), keys.get("skip_long_lines").map(String::as_str));
    }
    for file in ["fluent-bit/fluent-bit.yaml", "fluent-bit/loki.yaml", "fluent-bit/stdout.yaml"] {
        let doc = yaml(file);
        let inputs = doc["pipeline"]["inputs"].as_sequence().expect("pipeline.inputs");
        let audit: Vec<&Value> = inputs.iter().filter(|i| i["tag"].as_str() == Some("kube.audit")).collect();
        assert_eq!(audit.len(), 1, "{file}: one kube.audit tail input");
        check(file, audit[0]["buffer_max_size"].as_str(), audit[0]["skip_long_lines"].as_str());
    }
}
