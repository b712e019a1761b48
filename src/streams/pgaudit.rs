//! pgaudit record parser and filter.
//!
//! A record is the text from `AUDIT: ` on: `AUDIT_TYPE,STATEMENT_ID,SUBSTATEMENT_ID,CLASS,COMMAND,
//! OBJECT_TYPE,OBJECT_NAME,STATEMENT,PARAMETER[,ROWS]` in CSV (fields with commas, quotes or newlines
//! are double-quoted, quotes doubled). Text before `AUDIT:` is the server's `log_line_prefix` and level
//! (`LOG:  `, or `NOTICE:  ` when pgaudit.log_level is changed). A statement may span lines; pass the
//! whole multi-line record.

use std::borrow::Cow;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgAuditRecord<'a> {
    /// `SESSION` or `OBJECT`.
    pub audit_type: &'a str,
    pub statement_id: u64,
    pub substatement_id: u64,
    /// `READ`, `WRITE`, `FUNCTION`, `ROLE`, `DDL`, `MISC`, `MISC_SET`.
    pub class: &'a str,
    pub command: &'a str,
    pub object_type: Option<&'a str>,
    pub object_name: Option<Cow<'a, str>>,
    pub statement: Cow<'a, str>,
    /// `<not logged>`, `<none>`, `<previously logged>` or the parameter list, as logged.
    pub parameter: Option<Cow<'a, str>>,
    /// Row count when `pgaudit.log_rows` is on.
    pub rows: Option<u64>,
    /// Database user when the log line prefix shows it (`user=alice`, `alice@db`), and only
    /// one.
    pub db_user: Option<&'a str>,
}

/// One CSV field: its text (unquoted) and the byte offset after it (at the `,` or the end).
fn csv_field(s: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = s.as_bytes();
    if b.get(start) != Some(&b'"') {
        let end = s[start..].find(',').map_or(s.len(), |i| start + i);
        return Some((Cow::Borrowed(&s[start..end]), end));
    }
    let mut i = start + 1;
    let mut owned: Option<String> = None;
    let mut seg = i;
    loop {
        let q = s[i..].find('"')? + i;
        if b.get(q + 1) == Some(&b'"') {
            owned.get_or_insert_with(String::new).push_str(&s[seg..=q]);
            i = q + 2;
            seg = i;
            continue;
        }
        let text = match owned {
            Some(mut o) => {
                o.push_str(&s[seg..q]);
                Cow::Owned(o)
            }
            None => Cow::Borrowed(&s[start + 1..q]),
        };
        return Some((text, q + 1));
    }
}

fn non_empty<'a>(c: Cow<'a, str>) -> Option<Cow<'a, str>> {
    if c.is_empty() { None } else { Some(c) }
}

fn borrowed(c: Cow<'_, str>) -> Option<&str> {
    match c {
        Cow::Borrowed(s) => Some(s),
        Cow::Owned(_) => None,
    }
}

/// The labels the server writes before a message (`LABEL:  `): the severities, and the labels of
/// the lines that follow an error.
const LABELS: [&str; 14] = [
    "LOG",
    "NOTICE",
    "WARNING",
    "INFO",
    "DEBUG",
    "ERROR",
    "FATAL",
    "PANIC",
    "DETAIL",
    "HINT",
    "STATEMENT",
    "CONTEXT",
    "QUERY",
    "LOCATION",
];

/// The levels pgaudit logs at (`pgaudit.log_level`; DEBUG1..5 are all written `DEBUG`).
const AUDIT_LEVELS: [&str; 5] = ["LOG", "NOTICE", "WARNING", "INFO", "DEBUG"];

/// Where pgaudit's `AUDIT: ` message starts in `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    At(usize),
    /// More than one place could be pgaudit's: the log line prefix (an application name), a user
    /// name and the statement are partly the client's text, so any of them could be an imitation.
    Ambiguous,
}

/// Where the messages of `text` start, in order, each with whether pgaudit logs at its level: at
/// the start of `text` when it is `AUDIT: ...` (a message field of its own), and after each
/// `LABEL:  ` (and the SQLSTATE `XXXXX: ` that `log_error_verbosity = verbose` writes).
fn message_starts(text: &str) -> impl Iterator<Item = (usize, bool)> + '_ {
    let own = text.len() - text.trim_start().len();
    let own = text[own..].starts_with("AUDIT: ").then_some((own, true));
    let after_labels = text.match_indices(":  ").filter_map(move |(colon, _)| {
        let before = &text[..colon];
        let label = LABELS.iter().find(|label| before.ends_with(*label))?;
        // Right after a quote, a label is inside a quoted name (`user "LOG:  AUDIT: ..."`,
        // a csvlog column): the client's text, never the server's.
        if before[..before.len() - label.len()].ends_with('"') {
            return None;
        }
        let mut start = colon + 3;
        let sqlstate = text.as_bytes().get(start..start + 7).filter(|s| !s.starts_with(b"AUDIT"));
        if sqlstate
            .is_some_and(|s| s[..5].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) && &s[5..] == b": ")
        {
            start += 7;
        }
        Some((start, AUDIT_LEVELS.contains(label)))
    });
    own.into_iter().chain(after_labels)
}

/// A line's message is the one after its first label: `AUDIT: ` there, at a level pgaudit logs at,
/// starts pgaudit's record. Anywhere else it is someone's text (a user name in a `FATAL:  password
/// authentication failed for user "LOG:  AUDIT: ..."`, a statement). Any record-like candidate
/// after the first makes the line [`Message::Ambiguous`]: the first label may itself be an
/// application name's.
pub fn message_at(text: &str) -> Option<Message> {
    let is_audit = |at: usize| text[at..].starts_with("AUDIT: ");
    let mut starts = message_starts(text);
    let (first, audit_level) = starts.next()?;
    if starts.any(|(at, _)| starts_record(text, at)) {
        return Some(Message::Ambiguous);
    }
    (audit_level && is_audit(first)).then_some(Message::At(first))
}

/// Whether a pgaudit record (`AUDIT: SESSION,` or `AUDIT: OBJECT,`) starts at `at`.
pub fn starts_record(text: &str, at: usize) -> bool {
    let rest = &text[at..];
    rest.starts_with("AUDIT: SESSION,") || rest.starts_with("AUDIT: OBJECT,")
}

/// What a line of PostgreSQL's csvlog or jsonlog holds for pgaudit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Columns<'a> {
    /// Another severity, or a message that is not pgaudit's.
    Other,
    /// pgaudit's message, whole, and the session's user (its own column).
    Record { message: Cow<'a, str>, user_name: Cow<'a, str> },
    /// pgaudit's message, cut where the line ends inside it (a statement that spans lines).
    Partial,
}

/// The columns of a csvlog line: `log_time,user_name,database_name,process_id,connection_from,
/// session_id,session_line_num,command_tag,session_start_time,virtual_transaction_id,
/// transaction_id,error_severity,sql_state_code,message,...`. The server quotes every column
/// that holds the client's text, so the message column is pgaudit's or not: text inside it
/// (a user name in a failed login) cannot pass for a record. `None`: not a csvlog line.
pub fn csvlog(line: &str) -> Option<Columns<'_>> {
    let b = line.as_bytes();
    // The first column is the log time and nothing else: in a stderr line the same time is
    // followed by the rest of the prefix and the message, the client's text among them.
    if !is_log_time(&line[..line.find(',')?]) {
        return None;
    }
    // A csvlog line whose columns do not read (a user name holding a newline cuts the
    // record in two): not pgaudit's, and not handed to the stderr reading either.
    let mut pos = 0;
    let mut columns: [Cow<'_, str>; 13] = Default::default();
    for column in &mut columns {
        let Some((text, end)) = csv_field(line, pos).filter(|&(_, end)| b.get(end) == Some(&b',')) else {
            return Some(Columns::Other);
        };
        *column = text;
        pos = end + 1;
    }
    let [_, user_name, .., severity, sql_state] = columns;
    if sql_state.len() != 5 || !sql_state.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) {
        return Some(Columns::Other);
    }
    if !AUDIT_LEVELS.contains(&severity.as_ref()) || !line[pos..].starts_with("\"AUDIT: ") {
        return Some(Columns::Other);
    }
    let Some((message, _)) = csv_field(line, pos) else { return Some(Columns::Partial) };
    Some(if starts_record(&message, 0) { Columns::Record { message, user_name } } else { Columns::Other })
}

/// csvlog's `log_time`: `2026-11-22 10:00:00.123 UTC` (a zone name without spaces).
fn is_log_time(text: &str) -> bool {
    let Some(date) = text.as_bytes().get(..19) else { return false };
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    let shape = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if !digits.iter().all(|&i| date[i].is_ascii_digit()) || !shape.iter().all(|&(i, c)| date[i] == c) {
        return false;
    }
    let rest = &text[19..];
    let rest = rest.strip_prefix('.').map_or(rest, |r| r.trim_start_matches(|c: char| c.is_ascii_digit()));
    rest.strip_prefix(' ').is_some_and(|zone| !zone.is_empty() && !zone.contains([' ', '"']))
}

/// A line of PostgreSQL's jsonlog (`log_destination = 'jsonlog'`, PostgreSQL 15 on): its
/// `error_severity`, `message` and `user` members, written by the server as JSON strings, so
/// none of the client's text can pass for a record either. `None`: not a jsonlog line.
pub fn jsonlog(line: &str) -> Option<Columns<'_>> {
    let start = crate::json::validate_object(line).ok()?;
    let members = crate::json::find_members(line.as_bytes(), start, ["error_severity", "message", "user"]).ok()?;
    let [severity, message, user] = members.map(|m| m.and_then(|m| m.value_str(line)));
    let (severity, message) = (severity?, message?);
    if !AUDIT_LEVELS.contains(&severity.as_ref()) || !starts_record(&message, 0) {
        return Some(Columns::Other);
    }
    Some(Columns::Record { message, user_name: user.unwrap_or_default() })
}

/// The `logger` CloudNativePG names a record it has parsed as pgaudit's.
pub const CNPG_LOGGER: &str = "pgaudit";

/// The members of CloudNativePG's `record.audit`, in the order [`from_cnpg`] takes them.
pub const CNPG_AUDIT: [&str; 10] = [
    "audit_type",
    "statement_id",
    "substatement_id",
    "class",
    "command",
    "object_type",
    "object_name",
    "statement",
    "parameter",
    "rows",
];

/// A record CloudNativePG's instance manager has parsed itself (logger `pgaudit`): it reads
/// pgaudit's CSV out of the csvlog message column, writes each field as a JSON string in
/// `record.audit`, leaves the empty ones out and empties `record.message`. `fields`: those
/// members' values, decoded, in [`CNPG_AUDIT`] order. `None`: they do not make a record.
pub fn from_cnpg<'a>(fields: &'a [Option<Cow<'_, str>>; 10]) -> Option<PgAuditRecord<'a>> {
    let text = |i: usize| fields[i].as_deref().filter(|s| !s.is_empty());
    let number = |i: usize| text(i).filter(|n| n.bytes().all(|b| b.is_ascii_digit()))?.parse::<u64>().ok();
    let rows = match text(9) {
        Some(_) => Some(number(9)?),
        None => None,
    };
    Some(PgAuditRecord {
        audit_type: text(0).filter(|t| matches!(*t, "SESSION" | "OBJECT"))?,
        statement_id: number(1)?,
        substatement_id: number(2)?,
        class: text(3)?,
        command: text(4)?,
        object_type: text(5),
        object_name: text(6).map(Cow::Borrowed),
        statement: Cow::Borrowed(fields[7].as_deref().unwrap_or_default()),
        parameter: text(8).map(Cow::Borrowed),
        rows,
        db_user: None,
    })
}

/// Parses the record contained in `text` (a log line, possibly with continuation lines). `None` when
/// it holds none, or two that could each be the real one ([`Message::Ambiguous`]).
pub fn parse(text: &str) -> Option<PgAuditRecord<'_>> {
    let Message::At(at) = message_at(text)? else { return None };
    parse_at(text, at)
}

/// [`parse`] of the message [`message_at`] found at `at`.
pub fn parse_at(text: &str, at: usize) -> Option<PgAuditRecord<'_>> {
    let prefix = &text[..at];
    let s = text[at + 7..].trim_end_matches(['\n', '\r', ' ']);
    let mut pos = 0;
    let next = |pos: &mut usize| -> Option<Cow<'_, str>> {
        let (v, end) = csv_field(s, *pos)?;
        if s.as_bytes().get(end) != Some(&b',') {
            return None;
        }
        *pos = end + 1;
        Some(v)
    };
    let audit_type = borrowed(next(&mut pos)?)?;
    if audit_type != "SESSION" && audit_type != "OBJECT" {
        return None;
    }
    let statement_id = next(&mut pos)?.parse().ok()?;
    let substatement_id = next(&mut pos)?.parse().ok()?;
    let class = borrowed(next(&mut pos)?)?;
    let command = borrowed(next(&mut pos)?)?;
    let object_type = next(&mut pos).and_then(borrowed).filter(|t| !t.is_empty());
    let object_name = non_empty(next(&mut pos)?);
    let (statement, parameter, rows) = tail(&s[pos..])?;
    Some(PgAuditRecord {
        audit_type,
        statement_id,
        substatement_id,
        class,
        command,
        object_type,
        object_name,
        statement,
        parameter,
        rows,
        db_user: db_user(prefix),
    })
}

/// `STATEMENT,PARAMETER[,ROWS]`. Real pgaudit quotes statements containing commas; an unquoted
/// statement with commas (as in pgaudit's README) is handled by taking the parameter (and rows) from
/// the end.
/// Statement, parameter and row count.
type Tail<'a> = (Cow<'a, str>, Option<Cow<'a, str>>, Option<u64>);

fn tail(s: &str) -> Option<Tail<'_>> {
    let mut spans: Vec<(Cow<'_, str>, usize, usize)> = Vec::with_capacity(3);
    let mut pos = 0;
    loop {
        let (v, end) = csv_field(s, pos)?;
        spans.push((v, pos, end));
        if end >= s.len() {
            break;
        }
        // A quoted field ends at its closing quote: only a comma may follow it.
        if s.as_bytes()[end] != b',' {
            return None;
        }
        pos = end + 1;
        if pos == s.len() {
            spans.push((Cow::Borrowed(""), pos, pos));
            break;
        }
    }
    let n = spans.len();
    let is_rows = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    let param_looks =
        |(v, start, _): &(Cow<'_, str>, usize, usize)| v.starts_with('<') || s.as_bytes().get(*start) == Some(&b'"');
    let (param_idx, rows) = if n >= 3 && is_rows(&spans[n - 1].0) && param_looks(&spans[n - 2]) {
        (n - 2, spans[n - 1].0.parse().ok())
    } else {
        (n - 1, None)
    };
    if param_idx == 0 {
        // Only one field: statement without parameter.
        return Some((spans.swap_remove(0).0, None, rows));
    }
    let statement = if param_idx == 1 { spans[0].0.clone() } else { Cow::Borrowed(&s[..spans[param_idx - 1].2]) };
    let parameter = non_empty(spans[param_idx].0.clone());
    Some((statement, parameter, rows))
}

/// What bounds `user=%u` in a log line prefix, on either side.
const SEPARATORS: [char; 10] = [' ', '\t', ',', ';', ':', '|', '[', ']', '(', ')'];

/// The user of a `user=alice` starting at `at`: `user=` at the start of the prefix or after a
/// separator (not `app=xuser=` nor `app=user=`), the name up to the next one.
fn key_user(prefix: &str, at: usize) -> Option<&str> {
    if prefix[..at].ends_with(|c: char| !SEPARATORS.contains(&c)) {
        return None;
    }
    let rest = &prefix[at + "user=".len()..];
    let name = &rest[..rest.find(SEPARATORS).unwrap_or(rest.len())];
    (!name.is_empty()).then_some(name)
}

/// The user of an `alice@appdb` token (the prefix cut at white space and `:`, as the common
/// layouts `%u@%d ` and Amazon RDS's `%t:%r:%u@%d:[%p]:` bound it): the name before the last
/// `@` (a user may hold one: `alice@example.com@appdb`), the database after it, up to the
/// `[` of a `%u@%d[%p]`; or the whole token in brackets, `[alice@appdb]`. A `key=value` token
/// is another key's value (`app=x@y`), not the user.
fn at_user(token: &str) -> Option<&str> {
    if token.contains('=') {
        return None;
    }
    let (user, db) = token.rsplit_once('@')?;
    let (user, db) = match user.strip_prefix('[') {
        Some(user) => (user, db.strip_suffix(']')?),
        None => (user, db.split('[').next().unwrap_or_default()),
    };
    let bracket = |s: &str| s.contains(['[', ']', '(', ')']);
    (!user.is_empty() && !db.is_empty() && !bracket(user) && !bracket(db)).then_some(user)
}

/// The database user the log line prefix shows: each `user=alice` and `alice@appdb` there,
/// read only where the prefix's separators bound it. The prefix may hold the client's text
/// (`%a`, the application name, as `psql user=app_backend`), so when the candidates disagree
/// none is taken: no user rather than someone else's.
fn db_user(prefix: &str) -> Option<&str> {
    let keyed = prefix.match_indices("user=").filter_map(|(at, _)| key_user(prefix, at));
    let tokens = prefix.split(|c: char| c == ':' || c.is_whitespace()).filter_map(at_user);
    let mut found = None;
    for user in keyed.chain(tokens) {
        match found {
            None => found = Some(user),
            Some(first) if first == user => {}
            Some(_) => return None,
        }
    }
    found
}

/// Which records to keep. Empty list = no restriction. Patterns may start and/or end with `*`.
/// Object patterns are case-sensitive (quoted identifiers keep case); class, command and user are
/// compared ASCII case-insensitively for class/command and exactly for users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgAuditFilter {
    /// Keep only records whose object name matches; records without an object are dropped when set.
    pub include_objects: Vec<String>,
    pub exclude_objects: Vec<String>,
    pub classes: Vec<String>,
    pub commands: Vec<String>,
    /// Drop records of these database users (e.g. application accounts).
    pub exclude_users: Vec<String>,
}

impl PgAuditFilter {
    pub fn keeps(&self, r: &PgAuditRecord<'_>) -> bool {
        use super::{wildcard_match as m, wildcard_match_ignore_case as mi};
        let obj = r.object_name.as_deref();
        if !self.include_objects.is_empty() && !obj.is_some_and(|o| self.include_objects.iter().any(|p| m(p, o))) {
            return false;
        }
        if obj.is_some_and(|o| self.exclude_objects.iter().any(|p| m(p, o))) {
            return false;
        }
        if !self.classes.is_empty() && !self.classes.iter().any(|p| mi(p, r.class)) {
            return false;
        }
        if !self.commands.is_empty() && !self.commands.iter().any(|p| mi(p, r.command)) {
            return false;
        }
        !r.db_user.is_some_and(|u| self.exclude_users.iter().any(|p| m(p, u)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_records() {
        let r = parse("NOTICE:  AUDIT: SESSION,4,1,DDL,CREATE TABLE,TABLE,public.tmp,\"CREATE TABLE tmp (id int, data text)\",<not logged>").unwrap();
        assert_eq!(
            (r.audit_type, r.statement_id, r.substatement_id, r.class, r.command),
            ("SESSION", 4, 1, "DDL", "CREATE TABLE")
        );
        assert_eq!((r.object_type, r.object_name.as_deref()), (Some("TABLE"), Some("public.tmp")));
        assert_eq!(
            (r.statement.as_ref(), r.parameter.as_deref(), r.rows),
            ("CREATE TABLE tmp (id int, data text)", Some("<not logged>"), None)
        );
        assert_eq!(r.db_user, None);

        let r = parse("NOTICE:  AUDIT: SESSION,6,1,MISC,SET,,,SET pgaudit.log_rows = on,<none>,0").unwrap();
        assert_eq!(
            (r.object_type, r.object_name.as_deref(), r.statement.as_ref(), r.parameter.as_deref(), r.rows),
            (None, None, "SET pgaudit.log_rows = on", Some("<none>"), Some(0))
        );

        let r = parse("NOTICE:  AUDIT: SESSION,44,1,DDL,CREATE FUNCTION,FUNCTION,\"public.int_add(integer,integer)\",\"CREATE FUNCTION public.int_add(a int, b int) RETURNS int\",<not logged>").unwrap();
        assert_eq!(r.object_name.as_deref(), Some("public.int_add(integer,integer)"));

        let r =
            parse("WARNING:  AUDIT: OBJECT,1,1,READ,SELECT,TABLE,public.test2,<previously logged>,<previously logged>")
                .unwrap();
        assert_eq!((r.audit_type, r.statement.as_ref()), ("OBJECT", "<previously logged>"));

        // Multi-line quoted statement with doubled quotes and a quoted parameter list.
        let text = "NOTICE:  AUDIT: SESSION,2,1,WRITE,INSERT,TABLE,public.test4,\"PREPARE x AS\n    INSERT INTO test4 VALUES($1, \"\"a\"\")\",\"1,<long param suppressed>\"";
        let r = parse(text).unwrap();
        assert_eq!(r.statement, "PREPARE x AS\n    INSERT INTO test4 VALUES($1, \"a\")");
        assert_eq!(r.parameter.as_deref(), Some("1,<long param suppressed>"));

        // README shape: unquoted multi-line statement with commas.
        let r = parse("AUDIT: OBJECT,3,1,READ,SELECT,TABLE,public.account,select account.password,\n       account_role_map.role_id\n  from account,<not logged>").unwrap();
        assert_eq!(r.statement, "select account.password,\n       account_role_map.role_id\n  from account");
        assert_eq!(r.parameter.as_deref(), Some("<not logged>"));
    }

    /// A csvlog line's columns decide: the severity column and the message column, quoted by the
    /// server, whatever the client's text in other columns or inside the message looks like.
    #[test]
    fn csvlog_columns_decide() {
        let head = |user: &str, severity: &str, state: &str| {
            format!(
                "2026-11-22 10:00:00.123 UTC,{user},\"app\",42,\"10.0.0.5:5000\",6740a1b2.2a,3,\"SELECT\",2026-11-22 09:59:00 UTC,3/7,0,{severity},{state},"
            )
        };
        let line = |user: &str, severity: &str, state: &str, message: &str| {
            format!("{}{message},,,,,,,,\"psql\",\"client backend\",,0", head(user, severity, state))
        };
        let record =
            r#""AUDIT: SESSION,1,1,READ,SELECT,TABLE,app.users,""select * from app.users where name = 'x'"",<none>""#;
        let fake = r#"AUDIT: SESSION,1,1,READ,SELECT,,,x,<none>"#;
        let record_of = |text: &str| match csvlog(text) {
            Some(Columns::Record { message, user_name }) => Some((message.into_owned(), user_name.into_owned())),
            _ => None,
        };
        // The record, its statement unquoted, and the session's user.
        let (message, user) = record_of(&line(r#""alice""#, "LOG", "00000", record)).unwrap();
        assert_eq!(user, "alice");
        let rec = parse_at(&message, 0).unwrap();
        assert_eq!(
            (rec.object_name.as_deref(), rec.statement.as_ref()),
            (Some("app.users"), "select * from app.users where name = 'x'")
        );
        for (text, want) in [
            // A failed login whose user name imitates a record, in the user column and the message.
            (
                line(
                    &format!(r#""LOG:  {fake}""#),
                    "FATAL",
                    "28P01",
                    &format!(r#""password authentication failed for user ""LOG:  {fake}""""#),
                ),
                Some(Columns::Other),
            ),
            // A user name that tries to close its column: the server doubles the quote.
            (
                line(&format!(r#""x"",LOG,00000,""{fake}""#), "FATAL", "28P01", r#""password authentication failed""#),
                Some(Columns::Other),
            ),
            (line(r#""alice""#, "ERROR", "42P01", &format!(r#""{fake}""#)), Some(Columns::Other)),
            (line(r#""alice""#, "LOG", "00000", r#""statement: select 1""#), Some(Columns::Other)),
            // The line ends inside the message: a statement that spans lines.
            (
                head(r#""alice""#, "LOG", "00000") + r#""AUDIT: SESSION,1,1,READ,SELECT,,,""select"#,
                Some(Columns::Partial),
            ),
            (line(r#""alice""#, "LOG", "0000", &format!(r#""{fake}""#)), Some(Columns::Other)),
            // A user name holding a newline: the columns of the line's first part do not read.
            (format!("2026-11-22 10:00:00.123 UTC,\"LOG:  {fake}"), Some(Columns::Other)),
            // A stderr line: after the time, the prefix and the message, the client's text among
            // them, imitating the columns.
            (
                format!(
                    "2026-11-22 10:00:00.123 UTC [5] FATAL:  password authentication failed for user \",alice,app,42,h,s,3,t,st,v,0,LOG,00000,\"{fake}\",x\""
                ),
                None,
            ),
            (format!("2026-11-22 10:00:00.123 UTC [5] ,1,2,3,4,5,6,7,8,9,10,LOG,00000, LOG:  {fake}"), None),
            (format!("2026-11-22 10:00:00.123 UTC [5] LOG:  {fake}"), None),
            ("2026-11-22".to_owned(), None),
        ] {
            assert_eq!(csvlog(&text), want, "{text}");
        }
    }

    /// A jsonlog line's members decide, as a csvlog line's columns do.
    #[test]
    fn jsonlog_members_decide() {
        let line = |user: &str, severity: &str, message: &str| {
            serde_json::json!({"timestamp": "2026-11-22 10:00:00.123 UTC", "user": user, "dbname": "app", "pid": 42,
                "error_severity": severity, "state_code": "00000", "message": message, "application_name": "psql"})
            .to_string()
        };
        let real = "AUDIT: SESSION,2,1,WRITE,DELETE,TABLE,app.users,\"delete from app.users\",<none>";
        let fake = "AUDIT: SESSION,1,1,READ,SELECT,,,x,<none>";
        let want = Columns::Record { message: real.into(), user_name: "alice".into() };
        assert_eq!(jsonlog(&line("alice", "LOG", real)), Some(want));
        for (text, want) in [
            (
                line(&format!("LOG:  {fake}"), "FATAL", &format!("password authentication failed for user \"{fake}\"")),
                Some(Columns::Other),
            ),
            (line("alice", "ERROR", fake), Some(Columns::Other)),
            (line("alice", "LOG", "statement: select 1"), Some(Columns::Other)),
            (r#"{"message":"AUDIT: SESSION,1,1,READ,SELECT,,,x,<none>"}"#.to_owned(), None),
            (r#"{"error_severity":"LOG","message":"AUDIT: SESSION,1"#.to_owned(), None),
        ] {
            assert_eq!(jsonlog(&text), want, "{text}");
        }
    }

    /// Where pgaudit's message starts; everything else on the line may be the client's text.
    #[test]
    fn the_message_start_is_pgaudit_s_text_inside_it_is_not() {
        let rec = "AUDIT: SESSION,1,1,READ,SELECT,,,x,<none>";
        let real = r#"AUDIT: SESSION,2,1,WRITE,DELETE,TABLE,t,"delete from t",<none>"#;
        let cases: &[(String, Option<Message>)] = &[
            (rec.to_owned(), Some(Message::At(0))),
            (format!("  {rec}"), Some(Message::At(2))),
            (format!("NOTICE:  {rec}"), Some(Message::At(9))),
            (format!("2026-11-22 10:00:00 UTC [5] LOG:  {rec}"), Some(Message::At(34))),
            (format!("[3-1] user=a,db=b DEBUG:  {rec}"), Some(Message::At(26))),
            (format!("[5]LOG:  {rec}"), Some(Message::At(9))),
            // log_error_verbosity = verbose: the SQLSTATE after the level.
            (format!("[5] LOG:  00000: {rec}"), Some(Message::At(17))),
            (format!("[5] FATAL:  password authentication failed for user \"{rec}\""), None),
            (format!("[5] ERROR:  {rec}"), None),
            (format!("[5] LOG: {rec}"), None),
            (format!("[5] LOG:  statement: select '{rec}'"), None),
            ("[5] LOG:  statement: select 'AUDIT: x'".to_owned(), None),
            // A label right after a quote is inside a quoted name: the client's, never a message start.
            (format!("[5] FATAL:  password authentication failed for user \"LOG:  {rec}\""), None),
            (
                format!("\",\"postgres\",42,,FATAL,28P01,\"password authentication failed for user \"\"LOG:  {rec}"),
                None,
            ),
            // A client's text holding a label and a record, after the line's real label.
            (format!("[5] FATAL:  role \" LOG:  {rec}\" does not exist"), Some(Message::Ambiguous)),
            (format!("[5] LOG:  connection authorized: user=a application_name=LOG:  {rec}"), Some(Message::Ambiguous)),
            (format!("[5] LOG:  statement: select 'LOG:  {rec}'"), Some(Message::Ambiguous)),
            // An application name in the prefix imitating a record before the real one, whole or not.
            (format!("[5] app=x LOG:  {rec} LOG:  {real}"), Some(Message::Ambiguous)),
            (format!("[5] app=LOG:  AUDIT: x LOG:  {real}"), Some(Message::Ambiguous)),
            (format!("[5] app=x FATAL:  y LOG:  {real}"), Some(Message::Ambiguous)),
            // A statement quoting one: the same two candidates, read the other way round.
            (
                format!("[5] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,\"select 'LOG:  {rec}'\",<none>"),
                Some(Message::Ambiguous),
            ),
            // A later `AUDIT: ` that starts no record, or a later label, leaves the first alone.
            (
                "[5] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,\"select 'LOG:  AUDIT: x'\",<none>".to_owned(),
                Some(Message::At(10)),
            ),
            (
                "[5] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,\"select 'ERROR:  x'\",<none>".to_owned(),
                Some(Message::At(10)),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(message_at(text), *want, "{text}");
            assert_eq!(parse(text).is_some(), matches!(want, Some(Message::At(_))), "{text}");
        }
    }

    #[test]
    fn prefixes_and_users() {
        let r =
            parse("2015-03-04 15:04:38.123 EST [1234] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>")
                .unwrap();
        assert_eq!(r.db_user, None);
        // Synthetic prefixes (the corpus has none): `%m [%p] %q%u@%d ` and `user=%u,db=%d`.
        let r = parse("2024-03-16 08:25:22.123 UTC [4242] alice@appdb LOG:  AUDIT: SESSION,1,1,WRITE,UPDATE,TABLE,app.users,\"update users set a=1\",<not logged>").unwrap();
        assert_eq!(r.db_user, Some("alice"));
        let r = parse("2024-03-16 08:25:22 UTC [4242]: [3-1] user=app_rw,db=appdb,app=psql,client=10.0.0.5 LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>").unwrap();
        assert_eq!(r.db_user, Some("app_rw"));
        assert!(parse("LOG:  statement: select 1").is_none());
        assert!(parse("AUDIT: SESSION,x,1,READ").is_none());
        assert!(parse("AUDIT: BOGUS,1,1,READ,SELECT,,,x,<none>").is_none());
        assert!(parse("AUDIT: SESSION,1,1,READ,SELECT,,,\"unterminated").is_none());
        // Text right after a quoted field's closing quote, a multi-byte character at every
        // place the parser might step to: no record, and no slice inside a character.
        for after in ["ɣ", "xɣ", "ɣ,<none>", "é,1"] {
            let line = format!("AUDIT: SESSION,1,1,READ,SELECT,,,\"select 1\"{after}");
            assert!(parse(&line).is_none(), "{line}");
        }
    }

    /// The user is read only from tokens the prefix's separators bound, and not at all when
    /// two disagree: `%a`, the application name, is the client's text.
    #[test]
    fn db_user_from_the_prefix() {
        let cases: &[(&str, Option<&str>)] = &[
            // The corpus (pgaudit's regression output and README): no prefix, no user.
            ("", None),
            ("NOTICE:  ", None),
            ("WARNING:  ", None),
            ("2015-03-04 15:04:38.123 EST [1234] LOG:  ", None),
            // Debian's `%m [%p] %q%u@%d `.
            ("2024-03-16 08:25:22.123 UTC [4242] alice@appdb LOG:  ", Some("alice")),
            // `%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ` (pgBadger's).
            (
                "2024-03-16 08:25:22 UTC [4242]: [3-1] user=app_rw,db=appdb,app=psql,client=10.0.0.5 LOG:  ",
                Some("app_rw"),
            ),
            ("2024-03-16 08:25:22 UTC [4242]: db=appdb,user=app_rw LOG:  ", Some("app_rw")),
            // Amazon RDS's `%t:%r:%u@%d:[%p]:`, over TCP (IPv4, IPv6) and the local socket.
            ("2026-11-22 10:00:00 UTC:10.0.0.5(50000):app_backend@appdb:[4242]:LOG:  ", Some("app_backend")),
            ("2026-11-22 10:00:00 UTC:2001:db8::5(50000):app_backend@appdb:[4242]:LOG:  ", Some("app_backend")),
            ("2026-11-22 10:00:00 UTC:[local]:alice@appdb:[4242]:LOG:  ", Some("alice")),
            (
                "2026-11-22 10:00:00 UTC:10.0.0.5(50000):alice@example.com@appdb:[4242]:LOG:  ",
                Some("alice@example.com"),
            ),
            ("2026-11-22 10:00:00 UTC:10.0.0.5(50000):@appdb:[4242]:LOG:  ", None),
            ("2026-11-22 10:00:00 UTC:[local]:[unknown]@[unknown]:[4242]:LOG:  ", None),
            // `%u@%d[%p]`, `[%u@%d]`.
            ("2024-03-16 08:25:22 UTC alice@appdb[4242] LOG:  ", Some("alice")),
            ("2024-03-16 08:25:22 UTC [4242] [alice@appdb] LOG:  ", Some("alice")),
            // The same user twice agrees.
            ("2024-03-16 08:25:22 UTC [4242] user=alice alice@appdb LOG:  ", Some("alice")),
            ("2024-03-16 08:25:22 UTC [4242] user=[unknown] LOG:  ", None),
            // An application name (`%a`) imitating a user beside the real one: no user.
            ("2026-11-22 10:00:00.123 UTC [4244] app=psql user=app_backend mallory@appdb LOG:  ", None),
            (
                "2026-11-22 10:00:00 UTC [4245]: user=mallory,db=appdb,app=x user=app_backend,client=10.0.0.5 LOG:  ",
                None,
            ),
            ("2026-11-22 10:00:00.123 UTC [4250] mallory@appdb app_backend@appdb LOG:  ", None),
            ("2026-11-22 10:00:00.123 UTC [4250] app_backend@appdb mallory@appdb LOG:  ", None),
            ("2026-11-22 10:00:00 UTC:10.0.0.5(50000):mallory@appdb:[4243]:app_backend@x LOG:  ", None),
            // ... or one that no separator bounds, or another key's value: not a candidate.
            ("2026-11-22 10:00:00.123 UTC [4250] mallory@appdb psql LOG:  ", Some("mallory")),
            ("2026-11-22 10:00:00.123 UTC [4244] app=psql xuser=app_backend mallory@appdb LOG:  ", Some("mallory")),
            ("2026-11-22 10:00:00 UTC [4245]: user=mallory,db=appdb,app=user=app_backend LOG:  ", Some("mallory")),
            ("2026-11-22 10:00:00.123 UTC [4250] mallory@appdb app=app_backend@appdb LOG:  ", Some("mallory")),
        ];
        for (prefix, want) in cases {
            assert_eq!(db_user(prefix), *want, "{prefix}");
            let line =
                format!("{prefix}AUDIT: SESSION,1,1,WRITE,DELETE,TABLE,app.users,\"delete from app.users\",<none>");
            assert_eq!(parse(&line).unwrap().db_user, *want, "{line}");
        }
        // No user, no exclusion: `exclude_users` drops only the records it names.
        let f = PgAuditFilter { exclude_users: vec!["app_backend".into(), "*".into()], ..PgAuditFilter::default() };
        let line = "2026-11-22 10:00:00.123 UTC [4244] app=psql user=app_backend mallory@appdb LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,x,<none>";
        assert!(f.keeps(&parse(line).unwrap()));
    }

    #[test]
    fn filter_config_and_behaviour() {
        let f: PgAuditFilter = serde_yaml_ng::from_str(
            "include_objects: [\"app.*\"]\nexclude_objects: [\"app.emailsSent\"]\ncommands: [INSERT, update, DELETE]\nexclude_users: [\"svc_*\"]\n",
        )
        .unwrap();
        let rec = |user: &str, cmd: &str, obj: &str| {
            format!(
                "2024-03-16 08:25:22.123 UTC [1] {user}@appdb LOG:  AUDIT: SESSION,1,1,WRITE,{cmd},TABLE,{obj},\"x\",<not logged>"
            )
        };
        let keeps = |l: String| f.keeps(&parse(&l).unwrap());
        assert!(keeps(rec("alice", "UPDATE", "app.users")));
        assert!(!keeps(rec("alice", "UPDATE", "app.emailsSent")));
        assert!(!keeps(rec("alice", "SELECT", "app.users")));
        assert!(!keeps(rec("svc_web", "INSERT", "app.users")));
        assert!(!keeps(rec("alice", "INSERT", "other.users")));
        assert!(PgAuditFilter::default().keeps(&parse(&rec("x", "SELECT", "a.b")).unwrap()));
        let err = serde_yaml_ng::from_str::<PgAuditFilter>("include_object: [x]\n").unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
    }
}
