//! `audit-sieve`: filter audit logs through the module, without Fluent Bit.
//!
//! `audit-sieve run [--config FILE] [--format json|msgpack] [FILE...]` reads NDJSON
//! records from files (`-` is stdin; a line that is not a JSON object becomes
//! `{"log": line}`, as Fluent Bit's tail input gives it; one that is not UTF-8 is written
//! as read), runs each through the module as Fluent Bit would, writes the records that
//! survive as NDJSON on stdout, and a summary and the per-rule report on stderr. With no
//! FILE it runs on a bundled sample.

use anyhow::{Context, Result, bail};
use audit_sieve_host::{Fate, FluentBitHost, Format, Options, default_wasm_path};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

const USAGE: &str = "\
usage: audit-sieve run [--config FILE] [--format json|msgpack] [--wasm FILE] [--accessible-path DIR]... [FILE...]
       audit-sieve check [--config FILE] [--strict] [--wasm FILE]

run    filter NDJSON records (files; - for stdin; with none, a bundled sample) through the
       module exactly as Fluent Bit's wasm filter calls it; surviving records go to stdout,
       the summary and the per-rule report to stderr
check  load the configuration as the module does at start-up (audit-sieve.yaml, the policy
       and the identity map it names; no records) and report errors and lint warnings with
       file and line. Exit status: 0 valid (warnings allowed), 1 error, 2 warnings with
       --strict (and usage errors)

--config FILE           the audit-sieve.yaml to use; its directory becomes the accessible path
--accessible-path DIR   like Fluent Bit's Accessible_Paths (repeatable; default: .)
--format json|msgpack   like Fluent Bit's Event_Format (default: json)
--strict                check: treat lint warnings as failures (exit status 2)
--wasm FILE             the module (default: build/audit_sieve.wasm, or $AUDIT_SIEVE_WASM)";

const SAMPLE: &str = include_str!("../../examples/sample.ndjson");

struct Args {
    command: String,
    config: Option<PathBuf>,
    accessible: Vec<PathBuf>,
    format: Format,
    wasm: PathBuf,
    files: Vec<PathBuf>,
    strict: bool,
}

fn parse_args() -> Result<Args> {
    // Paths are taken as the OS gives them (not necessarily UTF-8); options are compared as text.
    let mut argv = std::env::args_os().skip(1);
    let command = argv.next().unwrap_or_default().to_string_lossy().into_owned();
    if !matches!(command.as_str(), "run" | "check") {
        bail!("{USAGE}");
    }
    let mut args = Args {
        command,
        config: None,
        accessible: Vec::new(),
        format: Format::Json,
        wasm: default_wasm_path(),
        files: Vec::new(),
        strict: false,
    };
    while let Some(os_arg) = argv.next() {
        let arg = os_arg.to_string_lossy();
        let mut value = |name: &str| argv.next().with_context(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_ref() {
            "--config" => args.config = Some(PathBuf::from(value("--config")?)),
            "--accessible-path" => args.accessible.push(PathBuf::from(value("--accessible-path")?)),
            "--wasm" => args.wasm = PathBuf::from(value("--wasm")?),
            "--strict" => args.strict = true,
            "--format" => {
                args.format = match value("--format")?.to_string_lossy().as_ref() {
                    "json" => Format::Json,
                    "msgpack" => Format::Msgpack,
                    other => bail!("--format: `{other}` is neither json nor msgpack"),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ if arg.starts_with("--") => bail!("unknown option {arg}\n{USAGE}"),
            _ => args.files.push(PathBuf::from(os_arg)),
        }
    }
    // An option that the command would ignore is a mistake: `check FILE` checking the
    // defaults, not FILE, would pass any configuration in a CI job.
    match args.command.as_str() {
        "check" if !args.files.is_empty() => {
            bail!("check reads no records: name the configuration with --config FILE\n{USAGE}")
        }
        "run" if args.strict => bail!("--strict is an option of check\n{USAGE}"),
        _ => {}
    }
    Ok(args)
}

/// The directories to pre-open: the config file's first, then the ones given, else `.`.
fn accessible_paths(args: &Args) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    if let Some(config) = &args.config {
        if config.file_name().and_then(|n| n.to_str()) != Some("audit-sieve.yaml") {
            bail!(
                "{}: the module reads its configuration from a file named audit-sieve.yaml in an accessible \
                 directory, as in Fluent Bit; name the file so",
                config.display()
            );
        }
        if !config.is_file() {
            let what = if config.exists() { "not a file" } else { "no such file" };
            bail!("{}: {what}", config.display());
        }
        let dir = config.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        dirs.push(std::path::absolute(dir)?);
    }
    for d in &args.accessible {
        dirs.push(std::path::absolute(d)?);
    }
    if dirs.is_empty() {
        dirs.push(PathBuf::from("."));
    }
    Ok(dirs)
}

/// A line as Fluent Bit's tail input with the JSON parser gives it: the object itself,
/// or `{"log": line}` when the line is not a JSON object.
fn record_of_line(line: &str) -> Json {
    let mut de = serde_json::Deserializer::from_str(line);
    de.disable_recursion_limit();
    let parsed =
        serde::Deserialize::deserialize(serde_stacker::Deserializer::new(&mut de)).ok().filter(|_| de.end().is_ok());
    match parsed {
        Some(object @ Json::Object(_)) => object,
        _ => Json::Object(vec![("log".to_owned(), Json::String(line.to_owned()))]),
    }
}

/// A JSON value as Fluent Bit's parser keeps it in msgpack: an object's members in order,
/// a key written twice kept twice (`serde_json::Value` keeps the last only, and the module,
/// which decides on the first, would then be shown another record than Fluent Bit's).
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> std::result::Result<Json, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> std::result::Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Json, E> {
                serde_json::Number::from_f64(v).map(Json::Number).ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Json, E> {
                Ok(Json::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Json, E> {
                Ok(Json::String(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Json, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Json::Object(members))
            }
        }
        de.deserialize_any(Visitor)
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(v) => s.serialize_bool(*v),
            Json::Number(v) => v.serialize(s),
            Json::String(v) => s.serialize_str(v),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                items.iter().try_for_each(|item| seq.serialize_element(item))?;
                seq.end()
            }
            Json::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                members.iter().try_for_each(|(key, value)| map.serialize_entry(key, value))?;
                map.end()
            }
        }
    }
}

/// A msgpack reply as JSON, for the output: as deeply nested as the record may be.
fn msgpack_as_json(reply: &[u8]) -> Result<Json> {
    let mut de = rmp_serde::Deserializer::new(reply);
    de.set_max_depth(usize::MAX);
    Ok(serde::Deserialize::deserialize(serde_stacker::Deserializer::new(&mut de))?)
}

#[derive(Default)]
struct Summary {
    records: u64,
    out: u64,
    dropped: u64,
    lost: u64,
    /// Records that are not UTF-8, written as read.
    not_utf8: u64,
    bytes_in: u64,
    bytes_out: u64,
}

fn run(args: &Args) -> Result<()> {
    let mut options = Options::new(&args.wasm);
    options.accessible_paths = accessible_paths(args)?;
    let mut host = FluentBitHost::new(&options)?;
    let time = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as u32, 0);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut summary = Summary::default();
    let mut each_line = |line: &[u8]| -> Result<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            return Ok(());
        }
        // A record of bytes that are not UTF-8 has no JSON form to hand over: it is written
        // as read (nothing is lost) and counted, and the lines after it are filtered.
        let Ok(line) = std::str::from_utf8(line) else {
            summary.records += 1;
            summary.out += 1;
            summary.not_utf8 += 1;
            summary.bytes_in += line.len() as u64;
            summary.bytes_out += line.len() as u64;
            if summary.not_utf8 == 1 {
                eprintln!("audit-sieve: record {} is not UTF-8: written unchanged, not filtered", summary.records);
            }
            out.write_all(line)?;
            return out.write_all(b"\n").map_err(Into::into);
        };
        let record = record_of_line(line);
        let body = match args.format {
            Format::Json => serde_json::to_vec(&record)?,
            Format::Msgpack => rmp_serde::to_vec_named(&record)?,
        };
        summary.records += 1;
        summary.bytes_in += body.len() as u64;
        match host.filter(args.format, "audit-sieve", time, &body) {
            Fate::Kept(result) => {
                summary.out += 1;
                summary.bytes_out += result.len() as u64;
                match args.format {
                    Format::Json => out.write_all(&result)?,
                    Format::Msgpack => serde_json::to_writer(&mut out, &msgpack_as_json(&result)?)?,
                }
                out.write_all(b"\n")?;
            }
            Fate::Dropped => summary.dropped += 1,
            Fate::Lost(why) => {
                summary.lost += 1;
                eprintln!("audit-sieve: record {} lost, as Fluent Bit would lose it: {why}", summary.records);
            }
        }
        Ok(())
    };
    if args.files.is_empty() {
        eprintln!("audit-sieve: no input named: running the bundled sample (examples/sample.ndjson)");
        SAMPLE.lines().try_for_each(|line| each_line(line.as_bytes()))?;
    } else {
        // Every file is opened before the first record is filtered: a wrong name ends the
        // run before any output, not after part of it.
        let mut inputs: Vec<(&Path, Box<dyn BufRead>)> = Vec::new();
        for file in &args.files {
            let input: Box<dyn BufRead> = match file.as_os_str() == "-" {
                true => Box::new(std::io::stdin().lock()),
                false => {
                    let f = std::fs::File::open(file).with_context(|| format!("{}", file.display()))?;
                    if f.metadata()?.is_dir() {
                        bail!("{}: is a directory", file.display());
                    }
                    Box::new(std::io::BufReader::new(f))
                }
            };
            inputs.push((file, input));
        }
        for (file, input) in inputs {
            // Lines as bytes: one that is not UTF-8 must not end the run. A UTF-8 byte order
            // mark opening the file is not part of its first record (Fluent Bit's tail
            // skips it).
            for (n, line) in input.split(b'\n').enumerate() {
                let line = line.with_context(|| format!("{}", file.display()))?;
                let line = if n == 0 { line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&line) } else { &line };
                each_line(line)?;
            }
        }
    }
    out.flush()?;
    drop(out);
    report(&summary, &host.stats()?);
    Ok(())
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 { "-".into() } else { format!("{:.1}%", 100.0 * part as f64 / whole as f64) }
}

/// The summary and the dry-run report, on stderr.
fn report(s: &Summary, stats: &str) {
    let stats: serde_json::Value = serde_json::from_str(stats).unwrap_or_default();
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let passed: u64 = stats["passed"].as_object().map(|m| m.values().map(n).sum()).unwrap_or(0);
    eprintln!();
    eprintln!("audit-sieve summary (configuration: {})", stats["config"].as_str().unwrap_or("?"));
    eprintln!("  records in             {}", s.records);
    eprintln!("  records out            {} ({} of records)", s.out, share(s.out, s.records));
    eprintln!("  dropped by a rule      {}", s.dropped);
    eprintln!("  modified               {}", n(&stats["rewritten"]));
    eprintln!("  passed through on error {passed}");
    if let Some(m) = stats["passed"].as_object() {
        for (reason, count) in m.iter().filter(|(_, c)| n(c) > 0) {
            eprintln!("    {reason:<22} {}", n(count));
        }
    }
    if n(&stats["msgpack_envelopes"]) > 0 {
        eprintln!("  msgpack NUL envelopes  {}", n(&stats["msgpack_envelopes"]));
    }
    if s.not_utf8 > 0 {
        eprintln!("  not UTF-8, not filtered {}", s.not_utf8);
    }
    if s.lost > 0 {
        eprintln!("  LOST (Fluent Bit would lose these) {}", s.lost);
    }
    eprintln!("  bytes in               {}", kib(s.bytes_in));
    eprintln!("  bytes out              {} ({} of bytes)", kib(s.bytes_out), share(s.bytes_out, s.bytes_in));
    let rules = stats["rules"].as_array().cloned().unwrap_or_default();
    if rules.iter().any(|r| n(&r["matched"]) > 0) {
        eprintln!();
        eprintln!("Kubernetes audit policy, per rule (events matched, dropped, stripped, bytes saved):");
        eprintln!(
            "  {:>5} {:<16} {:>8} {:>8} {:>8} {:>12}  description",
            "rule", "level", "matched", "dropped", "stripped", "saved"
        );
        for r in rules.iter().filter(|r| n(&r["matched"]) > 0) {
            // Rules are numbered from 1, as in the start-up messages.
            let index = r["index"].as_u64().map_or("-".to_string(), |i| (i + 1).to_string());
            eprintln!(
                "  {:>5} {:<16} {:>8} {:>8} {:>8} {:>12}  {}",
                index,
                r["level"].as_str().unwrap_or("?"),
                n(&r["matched"]),
                n(&r["dropped"]),
                n(&r["stripped"]),
                kib(n(&r["bytes_in"]).saturating_sub(n(&r["bytes_out"]))),
                r["description"].as_str().unwrap_or("")
            );
        }
        let (events, bytes_in, bytes_out, dropped): (u64, u64, u64, u64) = rules.iter().fold((0, 0, 0, 0), |a, r| {
            (a.0 + n(&r["matched"]), a.1 + n(&r["bytes_in"]), a.2 + n(&r["bytes_out"]), a.3 + n(&r["dropped"]))
        });
        eprintln!(
            "  kept {} of {} audit events ({}) and {} of {} ({})",
            events - dropped,
            events,
            share(events - dropped, events),
            kib(bytes_out),
            kib(bytes_in),
            share(bytes_out, bytes_in)
        );
    }
}

/// What `check` found.
enum Verdict {
    Ok,
    Error,
    Warnings,
}

fn check(args: &Args) -> Result<Verdict> {
    let mut options = Options::new(&args.wasm);
    // A configuration named but not there is the configuration's error, not a usage one.
    options.accessible_paths = match accessible_paths(args) {
        Ok(dirs) => dirs,
        Err(e) => {
            eprintln!("audit-sieve check: {e:#}");
            eprintln!("audit-sieve check: configuration INVALID");
            return Ok(Verdict::Error);
        }
    };
    options.capture_stderr = true;
    let mut host = FluentBitHost::new(&options)?;
    // The module's start-up report, as Fluent Bit would log it: the configuration used,
    // then `ERROR: ... FILE:LINE: ...` or `warning: FILE:LINE: ...` lines.
    let log = host.stderr();
    eprint!("{log}");
    let stats: serde_json::Value = serde_json::from_str(&host.stats()?)?;
    let config = stats["config"].as_str().unwrap_or_default();
    let warnings = log.lines().filter(|l| l.contains("] warning: ")).count();
    Ok(if config.starts_with("invalid") {
        eprintln!("audit-sieve check: configuration INVALID");
        Verdict::Error
    } else if warnings > 0 {
        eprintln!("audit-sieve check: configuration valid, {warnings} warning(s) ({config})");
        if args.strict { Verdict::Warnings } else { Verdict::Ok }
    } else {
        eprintln!("audit-sieve check: configuration valid ({config})");
        Verdict::Ok
    })
}

fn main() {
    let result = parse_args().and_then(|args| match args.command.as_str() {
        "check" => check(&args),
        // Deeply nested records are converted recursively on the host side; give that room.
        _ => std::thread::Builder::new()
            .stack_size(512 << 20)
            .spawn(move || run(&args).map(|()| Verdict::Ok))
            .map_err(anyhow::Error::from)
            .and_then(|t| t.join().unwrap_or_else(|_| bail!("the run thread panicked"))),
    });
    match result {
        Ok(Verdict::Ok) => {}
        Ok(Verdict::Error) => std::process::exit(1),
        Ok(Verdict::Warnings) => std::process::exit(2),
        // The reader of the output went away (`audit-sieve run ... | head`): it has what it
        // asked for, so the run ends quietly, as other line filters end.
        Err(e) if is_broken_pipe(&e) => {}
        Err(e) => {
            eprintln!("audit-sieve: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Whether `e` is a write to a pipe whose reader has closed it.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let kind = match cause.downcast_ref::<serde_json::Error>() {
            Some(json) => json.io_error_kind(),
            None => cause.downcast_ref::<std::io::Error>().map(std::io::Error::kind),
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}
