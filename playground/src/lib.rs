//! audit-sieve in the browser: the filter's own core (`audit_sieve::module::Module`),
//! built for `wasm32-unknown-unknown` with wasm-bindgen. Nothing here decides anything:
//! each event goes through [`Module::filter_json`] as in Fluent Bit, and the deciding
//! policy rule is read from the module's per-rule counters (`stats_json`) before and
//! after the event.

use audit_sieve::config::{Config, ConfigError, Source};
use audit_sieve::module::{ConfigStatus, Module, Reply};
use serde_json::{Value, json};
use std::path::PathBuf;
use wasm_bindgen::prelude::*;

/// The name errors and warnings give the configuration text.
pub const CONFIG_FILE: &str = "audit-sieve.yaml";

/// Runs NDJSON `events` through a module configured by `config` (the text of an
/// `audit-sieve.yaml`) and returns the report as JSON text (see [`evaluate`]).
/// `time_sec` is the record time handed to the module (the brute-force window uses it).
#[wasm_bindgen]
pub fn run(config: &str, events: &str, time_sec: u32) -> String {
    evaluate(config, events, time_sec).to_string()
}

/// The report: `config` (`ok`, `error` with `file`/`line`/`message`), `warnings` (lint
/// lines, with file and line), `results` (one per non-empty input line: `line`,
/// `decision` = dropped | kept | passed through, `modified`, `reason` for a pass-through,
/// `rule` = {`number` (1-based, as in lint messages), `level`, `description`} when the
/// Kubernetes policy decided, `output` the record Fluent Bit would get), and `stats`.
pub fn evaluate(config: &str, events: &str, time_sec: u32) -> Value {
    let source = Source::File(PathBuf::from(CONFIG_FILE));
    let mut module = match Config::parse(config, CONFIG_FILE) {
        Ok(parsed) => Module::with_config(&parsed, source),
        // As in Fluent Bit: the error is reported, every record passes through.
        Err(e) => return config_error_report(&e, events),
    };
    if let ConfigStatus::Invalid(e) = &module.status {
        let e = e.clone();
        return config_error_report(&e, events);
    }
    let warnings = module.warnings.clone();
    let mut results = Vec::new();
    let mut before = stats(&mut module);
    for (n, line) in events.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = record_of_line(line);
        let reply = module.filter_json(record.as_bytes(), time_sec);
        let output = match reply {
            Reply::Drop => None,
            Reply::Output => {
                let out = module.output();
                Some(String::from_utf8_lossy(out.strip_suffix(&[0]).unwrap_or(out)).into_owned())
            }
        };
        let after = stats(&mut module);
        let grew = |key: &str| count(&after[key]) > count(&before[key]);
        let reason = after["passed"].as_object().and_then(|m| {
            m.iter().find(|(k, v)| count(v) > count(&before["passed"][k.as_str()])).map(|(k, _)| k.clone())
        });
        let decision = match (&reply, &reason) {
            (Reply::Drop, _) => "dropped",
            (_, Some(_)) => "passed through",
            _ => "kept",
        };
        results.push(json!({
            "line": n + 1,
            "input": line,
            "decision": decision,
            "modified": grew("rewritten"),
            "reason": reason,
            "rule": deciding_rule(&before, &after),
            "output": output,
        }));
        before = after;
    }
    json!({
        "config": { "ok": true },
        "warnings": warnings,
        "results": results,
        "stats": before,
    })
}

/// The report for a configuration the module refuses: the error, and every record passed
/// through unchanged, as the module does in Fluent Bit.
fn config_error_report(e: &ConfigError, events: &str) -> Value {
    let results: Vec<Value> = events
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            json!({
                "line": n + 1,
                "input": line,
                "decision": "passed through",
                "modified": false,
                "reason": "config_error",
                "rule": null,
                "output": record_of_line(line),
            })
        })
        .collect();
    json!({
        "config": {
            "ok": false,
            "error": { "file": e.file(), "line": e.line(), "message": e.message(), "text": e.to_string() },
        },
        "warnings": [],
        "results": results,
    })
}

/// A line as Fluent Bit's tail input gives it: the JSON object itself, or `{"log": line}`.
fn record_of_line(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(_)) => line.to_owned(),
        _ => json!({ "log": line }).to_string(),
    }
}

fn stats(module: &mut Module) -> Value {
    let raw = module.stats_json();
    let text = String::from_utf8_lossy(raw.strip_suffix(&[0]).unwrap_or(raw)).into_owned();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The policy rule whose `matched` counter moved with this event. The last entry of
/// `rules` (index null) counts events no rule matched.
fn deciding_rule(before: &Value, after: &Value) -> Value {
    let rules = after["rules"].as_array().map(Vec::as_slice).unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        if count(&rule["matched"]) > count(&before["rules"][i]["matched"]) {
            return json!({
                "number": rule["index"].as_u64().map(|i| i + 1),
                "level": rule["level"],
                "description": rule["description"],
            });
        }
    }
    Value::Null
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = include_str!("../www/example.yaml");
    const EVENTS: &str = include_str!("../../examples/sample.ndjson");

    #[test]
    fn bundled_example_decides_as_the_module() {
        let report = evaluate(CONFIG, EVENTS, 1_790_000_000);
        assert_eq!(report["config"]["ok"], true, "{report:#}");
        let results = report["results"].as_array().unwrap();
        assert_eq!(results.len(), 12);
        // kube-proxy watch: dropped by rule 1.
        assert_eq!(results[0]["decision"], "dropped");
        assert_eq!(results[0]["rule"]["number"], 1);
        assert!(results[0]["output"].is_null());
        // The secret get: kept, bodies stripped.
        let secret = results.iter().find(|r| r["input"].as_str().unwrap().contains("db-credentials")).unwrap();
        assert_eq!(secret["decision"], "kept");
        let out: Value = serde_json::from_str(secret["output"].as_str().unwrap()).unwrap();
        assert!(out.get("responseObject").is_none());
        assert_eq!(out["log_type"], "kubeaudit");
        // The line that is not JSON is kept as {"log": ...}.
        let last = results.last().unwrap();
        assert_eq!(last["decision"], "kept");
        assert!(last["output"].as_str().unwrap().starts_with("{\"log\":"));
    }

    #[test]
    fn config_error_names_its_line_and_passes_everything_through() {
        let report = evaluate("cluster:\n  nmae: x\n", EVENTS, 0);
        assert_eq!(report["config"]["ok"], false);
        assert_eq!(report["config"]["error"]["line"], 2);
        assert!(report["results"].as_array().unwrap().iter().all(|r| r["decision"] == "passed through"));
    }

    #[test]
    fn bundled_error_example_names_its_line() {
        let report = evaluate(include_str!("../www/example-error.yaml"), EVENTS, 0);
        assert_eq!(report["config"]["ok"], false, "{report:#}");
        assert!(report["config"]["error"]["line"].as_u64().is_some(), "{report:#}");
    }
}
