//! Host audit streams: finds the audit line in a record, whatever input produced it,
//! recognises its stream (`authlog`: sshd, sudo, su; `auditd`; `pgaudit`), applies the
//! stream's rules and writes the parsed fields.
//!
//! Where the line is looked for (one pass over the record's top-level members):
//! * `log` / `message`: a raw line (tail of `/var/log/auth.log`, `/var/log/secure`,
//!   `audit.log`, a PostgreSQL log), in syslog framing or not;
//! * `ident` + `message` (Fluent Bit's syslog parsers), with `host` and `pid`;
//! * `SYSLOG_IDENTIFIER` or `_COMM` + `MESSAGE` (systemd input, also with
//!   `Strip_Underscores`: `COMM`), with `_HOSTNAME` and `_PID`; kernel audit messages
//!   (`audit: type=1300 audit(...)`) in `MESSAGE`, and the records journald's own audit
//!   reader writes (`_TRANSPORT=audit`: `SYSCALL arch=...`, with `_AUDIT_ID`);
//! * `exec`: a line of `ausearch` output read by the exec input;
//! * `record` (CloudNativePG's JSON log): `record.audit`, the record the instance manager
//!   parsed (logger `pgaudit`), else a `record.message` that is pgaudit's; with
//!   `record.user_name` as the database user.
//!
//! Nothing is looked at unless the record has one of these members, and each line is
//! parsed once. A line of a known stream that does not parse is tagged with the stream
//! and otherwise left alone; only a configured rule drops a record.

use crate::config::Config;
use crate::ecs::Ecs;
use crate::identity::Identity;
use crate::json::{self, Edits, Member};
use crate::streams::ShortPattern;
use crate::streams::auditd::{self, AuditLine, AuditRecord, AuditdFilter};
use crate::streams::bruteforce::{Attempts, BruteForce};
use crate::streams::pgaudit::{self, PgAuditFilter, PgAuditRecord};
use crate::streams::sudo::{self, SplitLines, SudoEvent, Tool};
use crate::streams::{ssh, syslog};
use std::borrow::Cow;

/// The stream names written to the stream field.
pub const AUTHLOG: &str = "authlog";
pub const AUDITD: &str = "auditd";
pub const PGAUDIT: &str = "pgaudit";

/// Review flags this module raises.
pub mod flags {
    pub const AUTH_FAILURE: &str = "auth_failure";
    pub const UNKNOWN_KEY: &str = "unknown_key";
    pub const ROOT_SHELL: &str = "root_shell";
    pub const SUDO_FAILURE: &str = "sudo_failure";
    pub const BRUTE_FORCE: &str = "brute_force";
}

/// What to do with a record of a host stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A configured rule (auditd drop rule, pgaudit filter) asked for it.
    Drop,
    /// Keep it, with the stream name; the parsed fields are in the edits.
    Keep(&'static str),
}

/// The rules of the host streams and the state they keep between records.
pub struct HostStreams {
    authlog: bool,
    auditd: bool,
    pgaudit: bool,
    shared_accounts: Vec<String>,
    /// Failures per source address. Lives as long as the module instance: Fluent Bit
    /// before 4.1 creates one per chunk, so there the counts start over with each chunk.
    brute_force: BruteForce,
    /// Which lines about failed logins are new attempts.
    attempts: Attempts,
    /// The sudo lines split in parts whose next part may still come.
    split_lines: SplitLines,
    auditd_filter: Option<AuditdFilter>,
    pgaudit_filter: Option<PgAuditFilter>,
}

/// The members a host stream can come in, found in one pass.
#[derive(Default)]
struct Shape {
    log: Option<Member>,
    message: Option<Member>,
    exec: Option<Member>,
    ident: Option<Member>,
    /// `SYSLOG_IDENTIFIER`, else `_COMM` / `COMM`.
    journal_ident: Option<Member>,
    journal_comm: Option<Member>,
    /// `_TRANSPORT` and `_UID`, which journald sets (`TRANSPORT`, `UID` with `Strip_Underscores`).
    journal_transport: Option<Member>,
    journal_uid: Option<Member>,
    /// `_AUDIT_ID` and `_SOURCE_REALTIME_TIMESTAMP`: a record of journald's `audit`
    /// transport has its serial and time there, not in `MESSAGE`.
    journal_audit_id: Option<Member>,
    journal_source_time: Option<Member>,
    journal_message: Option<Member>,
    host: Option<Member>,
    pid: Option<Member>,
    record: Option<Member>,
    /// CloudNativePG's `logger` (`pgaudit`, `postgres`, ...), beside `record`.
    logger: Option<Member>,
}

impl Shape {
    /// `known`: the object's members, when a walk has listed them already.
    fn read(text: &str, start: usize, known: Option<&[Member]>) -> Option<Shape> {
        let mut shape = Shape::default();
        let mut members = match known {
            Some(_) => None,
            None => Some(json::Members::new(text, start).ok()?),
        };
        let mut listed = known.unwrap_or_default().iter();
        let mut next = || match members.as_mut() {
            Some(walk) => walk.next_member().ok().flatten(),
            None => listed.next().copied(),
        };
        let mut any = false;
        while let Some(m) = next() {
            let slot = match m.key.of(text) {
                "log" => &mut shape.log,
                "message" => &mut shape.message,
                "exec" => &mut shape.exec,
                "ident" => &mut shape.ident,
                "SYSLOG_IDENTIFIER" => &mut shape.journal_ident,
                // journald sets `_COMM`, `_TRANSPORT` and `_UID`; a client may send a `COMM`
                // of its own (and `Strip_Underscores` renames journald's): journald's wins,
                // in whichever order they come.
                key @ ("_COMM"
                | "COMM"
                | "_TRANSPORT"
                | "TRANSPORT"
                | "_UID"
                | "UID"
                | "_AUDIT_ID"
                | "AUDIT_ID"
                | "_SOURCE_REALTIME_TIMESTAMP"
                | "SOURCE_REALTIME_TIMESTAMP") => {
                    let (bare, journald) = key.strip_prefix('_').map_or((key, false), |bare| (bare, true));
                    let slot = match bare {
                        "COMM" => &mut shape.journal_comm,
                        "TRANSPORT" => &mut shape.journal_transport,
                        "AUDIT_ID" => &mut shape.journal_audit_id,
                        "SOURCE_REALTIME_TIMESTAMP" => &mut shape.journal_source_time,
                        _ => &mut shape.journal_uid,
                    };
                    if journald {
                        *slot = Some(m);
                    } else {
                        slot.get_or_insert(m);
                    }
                    continue;
                }
                "MESSAGE" => &mut shape.journal_message,
                "host" | "_HOSTNAME" | "HOSTNAME" => {
                    shape.host.get_or_insert(m);
                    continue;
                }
                "pid" | "_PID" | "PID" => {
                    shape.pid.get_or_insert(m);
                    continue;
                }
                "record" => &mut shape.record,
                // Read only with `record`: no stream of its own.
                "logger" => {
                    shape.logger.get_or_insert(m);
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(m);
                any = true;
            }
        }
        any.then_some(shape)
    }
}

/// Where a line came from, for the fields that go with it.
#[derive(Default)]
struct Origin<'a> {
    host: Option<Cow<'a, str>>,
    program: Option<Cow<'a, str>>,
    /// The process id, when the input gave one that reads as a number.
    pid: Option<u64>,
    syslog_time: Option<&'a str>,
    /// `record.user_name` of a CloudNativePG log.
    db_user: Option<Cow<'a, str>>,
}

/// The parsed output, ready to be written.
struct Out<'e> {
    edits: &'e mut Edits,
    review: &'e mut Vec<&'static str>,
    actor: &'e mut Vec<u8>,
    /// Elastic Common Schema values, when they are asked for.
    ecs: Option<&'e mut Ecs>,
}

impl HostStreams {
    pub fn new(config: &Config) -> Result<HostStreams, String> {
        let auditd_filter = if config.auditd.drop.is_empty() {
            None
        } else {
            Some(AuditdFilter::new(config.auditd.drop.clone()).map_err(|e| format!("auditd.drop: {e}"))?)
        };
        Ok(HostStreams {
            authlog: config.authlog.enabled,
            auditd: config.auditd.enabled,
            pgaudit: config.pgaudit.enabled,
            shared_accounts: config.authlog.shared_accounts.clone(),
            attempts: Attempts::new(),
            split_lines: SplitLines::new(),
            brute_force: BruteForce::new(
                config.authlog.brute_force.failures,
                config.authlog.brute_force.window_seconds,
            ),
            auditd_filter,
            pgaudit_filter: config.pgaudit.filter.clone(),
        })
    }

    /// Handles the record at `start` of `text` if it carries a host stream line; `None`
    /// when it does not. On [`Verdict::Keep`] the parsed fields are in `edits` (one object
    /// member named after the stream), the review flags in `review` and the actor, when
    /// known, in `actor`. `time_sec` is the record time, for the brute-force window.
    #[allow(clippy::too_many_arguments)]
    pub fn process(
        &mut self,
        text: &str,
        start: usize,
        known: Option<&[Member]>,
        time_sec: u32,
        identity: &Identity,
        edits: &mut Edits,
        review: &mut Vec<&'static str>,
        actor: &mut Vec<u8>,
        ecs: Option<&mut Ecs>,
    ) -> Option<Verdict> {
        if !(self.authlog || self.auditd || self.pgaudit) {
            return None;
        }
        let shape = Shape::read(text, start, known)?;
        let mut out = Out { edits, review, actor, ecs };
        let string = |m: Option<Member>| m.and_then(|m| m.value_str(text));
        // A number, or a string holding one (syslog parsers keep the pid as text).
        let number = |m: Option<Member>| {
            m.and_then(|m| match m.value_str(text) {
                Some(v) => v.parse::<u64>().ok(),
                None => m.value.of(text).parse::<u64>().ok(),
            })
        };

        // systemd input: the program is named, the message is the line.
        if let Some(msg) = string(shape.journal_message) {
            // `SYSLOG_IDENTIFIER` is what the sender calls itself (`logger -t sshd`); `_COMM`
            // is the process journald saw. An authentication program's name is believed only
            // from an authentication program.
            let (ident, comm) = (string(shape.journal_ident), string(shape.journal_comm));
            // journald says how a message came: the kernel's audit records by the `kernel`
            // (kmsg) or `audit` transport. One a process sent (`logger -t kernel 'audit:
            // type=1112 ...'`) is an audit record only from root's audit daemon or dispatcher:
            // a process name is anyone's to choose. Without journald's fields, nothing says.
            let transport = string(shape.journal_transport);
            let from_audit = match transport.as_deref() {
                Some("kernel" | "audit") => true,
                Some(_) => {
                    let daemon = comm.as_deref().is_some_and(|c| c == "auditd" || c.starts_with("audisp"));
                    daemon && string(shape.journal_uid).as_deref() == Some("0")
                }
                None => comm.is_none(),
            };
            let program = match (ident, comm) {
                (Some(ident), Some(comm)) if is_auth_program(&ident) && !is_auth_program(&comm) => Some(comm),
                (ident, comm) => ident.or(comm),
            };
            let origin = Origin { host: string(shape.host), pid: number(shape.pid), ..Origin::default() };
            // journald's own audit reader writes `MESSAGE` as `SYSCALL arch=...`, the
            // record's serial and time in fields of their own: the line is put back together
            // as the audit daemon writes it.
            if transport.as_deref() == Some("audit") && self.auditd {
                let (id, usec) = (number(shape.journal_audit_id), number(shape.journal_source_time));
                let line = auditd::line_from_journal(&msg, id, usec);
                return self
                    .auditd_line(line.as_deref().unwrap_or(&msg), &origin, &mut out)
                    .or(Some(Verdict::Keep(AUDITD)));
            }
            if let Some(v) = self.named(program, &msg, origin, from_audit, time_sec, identity, &mut out) {
                return Some(v);
            }
        }
        // Syslog parsers: `ident` and `message`.
        if let (Some(ident), Some(msg)) = (string(shape.ident), string(shape.message)) {
            let origin = Origin { host: string(shape.host), pid: number(shape.pid), ..Origin::default() };
            if let Some(v) = self.named(Some(ident), &msg, origin, true, time_sec, identity, &mut out) {
                return Some(v);
            }
        }
        for member in [shape.log, shape.message] {
            if let Some(line) = string(member)
                && let Some(v) = self.line(&line, time_sec, identity, &mut out)
            {
                return Some(v);
            }
        }
        if let Some(line) = string(shape.exec)
            && self.auditd
        {
            let line = line.trim_end_matches(['\n', '\r']);
            if line.trim() == "----" {
                // The separator between ausearch events: tagged, kept (no rule asked to drop it).
                return Some(Verdict::Keep(AUDITD));
            }
            if let Some(v) = self.auditd_line(line, &Origin::default(), &mut out) {
                return Some(v);
            }
        }
        if let Some(record) = shape.record.map(|m| m.value)
            && self.pgaudit
            && record.of(text).starts_with('{')
            && let Ok([message, user_name, audit]) =
                json::find_members(text.as_bytes(), record.start, ["message", "user_name", "audit"])
        {
            let msg = string(message);
            let db_user = string(user_name).filter(|u| !u.is_empty());
            let origin = Origin { db_user, ..Origin::default() };
            // CloudNativePG parsed the record itself: its fields are in `audit`, and the
            // message, emptied, is left out or empty.
            if let Some(audit) = audit.map(|m| m.value).filter(|a| a.of(text).starts_with('{'))
                && string(shape.logger).as_deref() == Some(pgaudit::CNPG_LOGGER)
                && msg.as_deref().is_none_or(str::is_empty)
            {
                return Some(self.cnpg_audit(text, audit.start, &origin, &mut out));
            }
            // CloudNativePG could not read pgaudit's CSV (logger `postgres`): the message
            // field holds the message alone, and pgaudit's starts it.
            if let Some(msg) = msg
                && msg.trim_start().starts_with("AUDIT: ")
            {
                return self.pgaudit_line(&msg, &origin, &mut out);
            }
        }
        None
    }

    /// A message whose program is named by the input (syslog parser, systemd);
    /// `from_audit`: the input does not rule out that the kernel or the audit daemon wrote it.
    #[allow(clippy::too_many_arguments)]
    fn named<'a>(
        &mut self,
        program: Option<Cow<'a, str>>,
        msg: &str,
        mut origin: Origin<'a>,
        from_audit: bool,
        time_sec: u32,
        identity: &Identity,
        out: &mut Out,
    ) -> Option<Verdict> {
        let program_name = program.as_deref().unwrap_or("");
        if self.authlog && is_auth_program(program_name) {
            let program = program?;
            origin.program = Some(program);
            return Some(self.auth(&origin, msg, time_sec, identity, out));
        }
        let claims_audit = program_name == "kernel" || program_name == "audit" || program_name.starts_with("audisp");
        if self.auditd && from_audit && (claims_audit || msg.starts_with("audit: type=")) {
            return self.auditd_line(msg, &origin, out);
        }
        if msg.contains_short("AUDIT: ") {
            return self.pgaudit_line(msg, &origin, out);
        }
        None
    }

    /// A raw line from `log` or `message`.
    fn line(&mut self, line: &str, time_sec: u32, identity: &Identity, out: &mut Out) -> Option<Verdict> {
        let l = line.trim_start();
        if l.starts_with("type=") || l.starts_with("node=") || l.starts_with("audit: type=") {
            return self.auditd_line(l, &Origin::default(), out);
        }
        // The program the syslog header names decides first: the rest of an sshd or sudo
        // line is partly what the client typed (a user name that reads `AUDIT: SESSION,...`
        // must not turn a failed login into a pgaudit record).
        let parsed = syslog::parse(l);
        if let Some(parsed) = &parsed
            && self.authlog
            && is_auth_program(parsed.ident)
        {
            let origin = Origin {
                host: parsed.host.map(Cow::Borrowed),
                program: Some(Cow::Borrowed(parsed.ident)),
                pid: parsed.pid.map(u64::from),
                syslog_time: parsed.timestamp,
                db_user: None,
            };
            return Some(self.auth(&origin, parsed.message, time_sec, identity, out));
        }
        if l.contains_short("AUDIT: ")
            && let Some(v) = self.pgaudit_line(l, &Origin::default(), out)
        {
            return Some(v);
        }
        let parsed = parsed?;
        let origin = Origin {
            host: parsed.host.map(Cow::Borrowed),
            program: Some(Cow::Borrowed(parsed.ident)),
            pid: None,
            syslog_time: parsed.timestamp,
            db_user: None,
        };
        if self.auditd && parsed.message.contains_short("audit(") {
            return self.auditd_line(parsed.message, &origin, out);
        }
        None
    }

    /// An sshd, sudo or su message. Always kept: a message that does not parse is tagged.
    fn auth(&mut self, origin: &Origin, msg: &str, time_sec: u32, identity: &Identity, out: &mut Out) -> Verdict {
        let program = origin.program.as_deref().unwrap_or("");
        if ssh::is_sshd_ident(program) {
            if let Some(event) = ssh::parse(msg) {
                self.ssh(&event, origin, time_sec, identity, out);
            }
        } else {
            let event = if program.starts_with("su") && !program.starts_with("sudo") {
                sudo::parse_su(msg)
            } else {
                sudo::parse(msg)
            };
            if let Some(event) = event {
                let root_shell = self.split_lines.root_shell(&event, origin.host.as_deref(), origin.pid);
                sudo_fields(&event, root_shell, origin, out);
            }
        }
        Verdict::Keep(AUTHLOG)
    }

    fn ssh(&mut self, e: &ssh::SshEvent, origin: &Origin, time_sec: u32, identity: &Identity, out: &mut Out) {
        out.edits.append_with("ssh", |buf| {
            let mut o = Object::new(buf);
            o.str("outcome", e.outcome().as_str());
            o.opt_str("user", e.user);
            if e.invalid_user {
                o.bool("invalid_user", true);
            }
            o.opt_str("source_ip", e.ip);
            o.opt_str("source_host", e.client_host);
            if let Some(p) = e.port {
                o.int("port", u64::from(p));
            }
            o.opt_str("method", e.method);
            o.opt_str("key_type", e.key_type);
            o.opt_str("fingerprint", e.fingerprint);
            if let Some(c) = &e.certificate {
                o.str("cert_id", c.key_id);
                o.int("cert_serial", c.serial);
                o.str("ca_key_type", c.ca_key_type);
                o.str("ca_fingerprint", c.ca_fingerprint);
            }
            if e.preauth {
                o.bool("preauth", true);
            }
            o.opt_str("detail", e.detail);
            if e.repeat > 1 {
                o.int("repeat", u64::from(e.repeat));
            }
            o.origin(origin);
            o.finish();
        });

        let outcome = e.outcome();
        // The key's signature was checked: the whole login, or its first step.
        let key_verified = matches!(outcome, ssh::Outcome::Accepted | ssh::Outcome::Partial);
        let person = if key_verified { person_for_login(identity, e) } else { None };
        let failed = e.is_failure() || e.invalid_user || e.abandoned();
        if failed {
            out.review.push(flags::AUTH_FAILURE);
        }
        if let Some(ecs) = out.ecs.as_deref_mut() {
            ecs.action.push_str("ssh_");
            ecs.action.push_str(outcome.as_str());
            ecs.outcome = if failed {
                "failure"
            } else if outcome == ssh::Outcome::Accepted {
                "success"
            } else {
                ""
            };
            ecs.user_name.push_str(e.user.unwrap_or_default());
            ecs.source_ip.push_str(e.ip.unwrap_or_default());
            // A failed key proves nothing: the public half is public.
            if let Some(email) = &person {
                ecs.user_email.push_str(email);
            }
        }
        if let (Some(kind), Some(ip)) = (e.attempt_line(), e.ip) {
            // A `message repeated N times` line stands for N lines.
            let attempts = self.attempts.record(ip, origin.pid.unwrap_or(0), kind, e.repeat.max(1));
            let fired = self.brute_force.observe_failures(ip, f64::from(time_sec), attempts);
            if fired {
                out.review.push(flags::BRUTE_FORCE);
            }
        }
        let user = e.user.unwrap_or("");
        match person {
            Some(email) => {
                out.actor.clear();
                out.actor.extend_from_slice(b"{\"kind\":\"human\",\"email\":");
                json::write_str(out.actor, &email);
                out.actor.extend_from_slice(b",\"account\":");
                json::write_str(out.actor, user);
                out.actor.push(b'}');
            }
            // A key ID a trusted CA signed names its holder, as the CA knew them, even when
            // it maps to no email: the key is not unknown.
            None if key_verified
                && (e.fingerprint.is_some() || e.certificate.is_some())
                && !e.certificate.is_some_and(|c| names_holder(identity, &c))
                && self.shared_accounts.iter().any(|a| a == user) =>
            {
                out.review.push(flags::UNKNOWN_KEY)
            }
            None => {}
        }
    }

    /// An auditd line; `None` when it is not one.
    fn auditd_line(&mut self, line: &str, origin: &Origin, out: &mut Out) -> Option<Verdict> {
        if !self.auditd {
            return None;
        }
        let rec = match auditd::parse(line) {
            Some(AuditLine::Record(rec)) => rec,
            // A separator inside a log line, or a line that looks like a record but does
            // not parse: tagged, kept.
            Some(AuditLine::Separator) => return Some(Verdict::Keep(AUDITD)),
            None => {
                let known = line.contains_short("type=") && line.contains_short("audit(");
                return known.then_some(Verdict::Keep(AUDITD));
            }
        };
        if let Some(filter) = self.auditd_filter.as_mut()
            && filter.should_drop(&rec)
        {
            return Some(Verdict::Drop);
        }
        auditd_fields(&rec, origin, out);
        Some(Verdict::Keep(AUDITD))
    }

    /// A pgaudit record; `None` when the text is not one.
    fn pgaudit_line(&mut self, text: &str, origin: &Origin, out: &mut Out) -> Option<Verdict> {
        if !self.pgaudit {
            return None;
        }
        // A csvlog or jsonlog line: its columns say what the message is, and whose session
        // it was.
        let columns = match text.as_bytes().first() {
            Some(b'{') => pgaudit::jsonlog(text),
            _ => pgaudit::csvlog(text),
        };
        if let Some(columns) = columns {
            let (message, user_name) = match columns {
                pgaudit::Columns::Other => return None,
                pgaudit::Columns::Partial => return Some(Verdict::Keep(PGAUDIT)),
                pgaudit::Columns::Record { message, user_name } => (message, user_name),
            };
            let Some(mut rec) = pgaudit::parse_at(&message, 0) else { return Some(Verdict::Keep(PGAUDIT)) };
            rec.db_user = Some(user_name.as_ref()).filter(|u| !u.is_empty()).or(origin.db_user.as_deref());
            return Some(self.pgaudit_record(&rec, origin, out));
        }
        // Kept whole and tagged, never dropped: two candidates, or a record that does not parse.
        let at = match pgaudit::message_at(text)? {
            pgaudit::Message::Ambiguous => return Some(Verdict::Keep(PGAUDIT)),
            pgaudit::Message::At(at) => at,
        };
        let Some(mut rec) = pgaudit::parse_at(text, at) else {
            return pgaudit::starts_record(text, at).then_some(Verdict::Keep(PGAUDIT));
        };
        if rec.db_user.is_none() {
            rec.db_user = origin.db_user.as_deref();
        }
        Some(self.pgaudit_record(&rec, origin, out))
    }

    /// CloudNativePG's `record.audit` object at `start`: kept tagged, without fields, when
    /// its members do not make a record.
    fn cnpg_audit(&self, text: &str, start: usize, origin: &Origin, out: &mut Out) -> Verdict {
        let Ok(members) = json::find_members(text.as_bytes(), start, pgaudit::CNPG_AUDIT) else {
            return Verdict::Keep(PGAUDIT);
        };
        let fields = members.map(|m| m.and_then(|m| m.value_str(text)));
        let Some(mut rec) = pgaudit::from_cnpg(&fields) else { return Verdict::Keep(PGAUDIT) };
        rec.db_user = origin.db_user.as_deref();
        self.pgaudit_record(&rec, origin, out)
    }

    /// A parsed pgaudit record: dropped when the filter says so, its fields added otherwise.
    fn pgaudit_record(&self, rec: &PgAuditRecord, origin: &Origin, out: &mut Out) -> Verdict {
        if let Some(filter) = &self.pgaudit_filter
            && !filter.keeps(rec)
        {
            return Verdict::Drop;
        }
        pgaudit_fields(rec, origin, out);
        Verdict::Keep(PGAUDIT)
    }
}

/// sshd, sudo and su under the names they log as.
fn is_auth_program(name: &str) -> bool {
    ssh::is_sshd_ident(name) || matches!(name, "sudo" | "su" | "su-l" | "sudo(pam_unix)" | "su(pam_unix)")
}

/// The person behind a verified key: its fingerprint in the SSH key map, else the key ID
/// of its certificate, read as a username (the users map, or the ID itself when it is an
/// email), when a CA of `identity.ssh_user_cas` signed it. Any user may list a CA of their
/// own in `authorized_keys` (`cert-authority`), so an ID is only its signer's word.
fn person_for_login<'a>(identity: &'a Identity, e: &ssh::SshEvent<'a>) -> Option<Cow<'a, str>> {
    let by_key = e.fingerprint.and_then(|fp| identity.person_for_key(fp)).map(Cow::Borrowed);
    by_key.or_else(|| e.certificate.filter(|c| names_holder(identity, c)).and_then(|c| identity.email_for(c.key_id)))
}

/// A certificate with a key ID, from a CA trusted to name people.
fn names_holder(identity: &Identity, c: &ssh::Certificate) -> bool {
    !c.key_id.is_empty() && identity.trusts_ssh_user_ca(c.ca_fingerprint)
}

/// `root_shell`: whether `e`, read with the parts of its line before it, is a root shell.
fn sudo_fields(e: &SudoEvent, root_shell: bool, origin: &Origin, out: &mut Out) {
    out.edits.append_with("sudo", |buf| {
        let mut o = Object::new(buf);
        o.str("tool", if e.tool == Tool::Sudo { "sudo" } else { "su" });
        o.str("outcome", e.outcome.as_str());
        o.opt_str("user", e.user);
        o.opt_str("target_user", e.target_user);
        o.opt_str("command", e.command);
        o.opt_str("tty", e.tty);
        o.opt_str("pwd", e.pwd);
        o.opt_str("reason", e.reason);
        if e.ambiguous {
            o.bool("ambiguous", true);
        }
        if let Some(n) = e.attempts {
            o.int("attempts", u64::from(n));
        }
        o.origin(origin);
        o.finish();
    });
    if let Some(ecs) = out.ecs.as_deref_mut() {
        ecs.action.push_str(if e.tool == Tool::Sudo { "sudo" } else { "su" });
        ecs.outcome = if e.is_failure() { "failure" } else { "success" };
        ecs.user_name.push_str(e.user.unwrap_or_default());
    }
    if e.is_failure() {
        out.review.push(flags::AUTH_FAILURE);
        out.review.push(flags::SUDO_FAILURE);
    }
    if root_shell {
        out.review.push(flags::ROOT_SHELL);
    }
}

fn auditd_fields(rec: &AuditRecord, origin: &Origin, out: &mut Out) {
    out.edits.append_with("auditd", |buf| {
        let mut o = Object::new(buf);
        o.str("type", &rec.record_type);
        if !rec.timestamp.is_empty() {
            o.str("time", rec.timestamp);
        }
        o.int("serial", rec.serial);
        o.opt_str("node", rec.node.or(origin.host.as_deref()));
        // Each well-known field once, under its own name, in line order.
        let mut seen: u64 = 0;
        for (k, v) in &rec.fields {
            if let Some(i) = auditd::OUTPUT_KEYS.iter().position(|n| n == k)
                && i < 64
                && seen & (1 << i) == 0
            {
                seen |= 1 << i;
                o.str(k, v);
            }
        }
        if !rec.argv.is_empty() {
            o.key("argv");
            o.buf.push(b'[');
            for (i, a) in rec.argv.iter().enumerate() {
                if i > 0 {
                    o.buf.push(b',');
                }
                json::write_str(o.buf, a);
            }
            o.buf.push(b']');
            o.key("command");
            o.buf.push(b'"');
            for (i, a) in rec.argv.iter().enumerate() {
                if i > 0 {
                    o.buf.push(b' ');
                }
                // Written as one string: each part escaped without its quotes.
                let mut part = Vec::with_capacity(a.len() + 2);
                json::write_str(&mut part, a);
                o.buf.extend_from_slice(&part[1..part.len() - 1]);
            }
            o.buf.push(b'"');
        } else if let Some(p) = rec.get("proctitle") {
            o.str("command", p);
        }
        o.finish();
    });
    // A failed login, authentication or account check.
    if matches!(&*rec.record_type, "USER_LOGIN" | "USER_AUTH" | "USER_ACCT" | "USER_ERR")
        && rec.get("res").is_some_and(|r| r.starts_with("fail"))
    {
        out.review.push(flags::AUTH_FAILURE);
    }
}

fn pgaudit_fields(rec: &PgAuditRecord, origin: &Origin, out: &mut Out) {
    out.edits.append_with("pgaudit", |buf| {
        let mut o = Object::new(buf);
        o.str("audit_type", rec.audit_type);
        o.int("statement_id", rec.statement_id);
        o.int("substatement_id", rec.substatement_id);
        o.str("class", rec.class);
        o.str("command", rec.command);
        o.opt_str("object_type", rec.object_type);
        o.opt_str("object_name", rec.object_name.as_deref());
        o.str("statement", &rec.statement);
        o.opt_str("parameter", rec.parameter.as_deref());
        if let Some(r) = rec.rows {
            o.int("rows", r);
        }
        o.opt_str("db_user", rec.db_user);
        o.origin(origin);
        o.finish();
    });
}

/// A JSON object written member by member.
struct Object<'b> {
    buf: &'b mut Vec<u8>,
    /// Just past the opening brace: a member before this one needs a comma.
    opened: usize,
}

impl<'b> Object<'b> {
    /// Starts an object at the end of `buf` (written in place: no buffer of its own).
    fn new(buf: &'b mut Vec<u8>) -> Object<'b> {
        buf.push(b'{');
        let opened = buf.len();
        Object { buf, opened }
    }

    /// Member names are ours: plain ASCII, nothing to escape.
    fn key(&mut self, name: &str) {
        if self.buf.len() > self.opened {
            self.buf.push(b',');
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    fn str(&mut self, name: &str, value: &str) {
        self.key(name);
        json::write_str(self.buf, value);
    }

    fn opt_str(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(name, v);
        }
    }

    fn int(&mut self, name: &str, value: u64) {
        self.key(name);
        write_u64(self.buf, value);
    }

    fn bool(&mut self, name: &str, value: bool) {
        self.key(name);
        self.buf.extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// Where the line came from, when the input told.
    fn origin(&mut self, origin: &Origin) {
        self.opt_str("host", origin.host.as_deref());
        self.opt_str("program", origin.program.as_deref());
        if let Some(pid) = origin.pid {
            self.int("pid", pid);
        }
        self.opt_str("syslog_time", origin.syslog_time);
    }

    fn finish(self) {
        self.buf.push(b'}');
    }
}

/// Appends `n` in decimal, without the formatting machinery (a call per digit group and
/// a `String` per number).
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn run(
        config: &str,
        record: &str,
        time: u32,
        hs: &mut HostStreams,
    ) -> Option<(Verdict, String, Vec<&'static str>)> {
        let config = Config::parse(config, "a.yaml").unwrap();
        let identity = Identity::new(&config.identity, &Source::Defaults).unwrap();
        let start = json::validate_object(record).unwrap();
        let (mut edits, mut review, mut actor) = (Edits::default(), Vec::new(), Vec::new());
        let v = hs.process(record, start, None, time, &identity, &mut edits, &mut review, &mut actor, None)?;
        let mut out = Vec::new();
        json::rewrite_object(record.as_bytes(), start, &edits, &mut out).unwrap();
        Some((v, String::from_utf8(out).unwrap(), review))
    }

    fn streams(config: &str) -> HostStreams {
        HostStreams::new(&Config::parse(config, "a.yaml").unwrap()).unwrap()
    }

    #[test]
    fn recognises_each_input_shape() {
        let mut hs = streams("");
        let cases = [
            (
                r#"{"log":"Mar 16 08:25:22 node-1 sshd[1234]: Failed password for root from 192.0.2.9 port 4242 ssh2"}"#,
                AUTHLOG,
                r#""ssh":{"outcome":"failed","user":"root","source_ip":"192.0.2.9","port":4242,"method":"password","host":"node-1","program":"sshd","pid":1234,"syslog_time":"Mar 16 08:25:22"}"#,
            ),
            (
                r#"{"ident":"sudo","pid":"77","message":"alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash"}"#,
                AUTHLOG,
                r#""sudo":{"tool":"sudo","outcome":"allowed","user":"alice","target_user":"root","command":"/bin/bash","tty":"pts/0","pwd":"/home/alice","program":"sudo","pid":77}"#,
            ),
            (
                r#"{"ident":"sshd","pid":12,"message":"Invalid user admin from 192.0.2.9 port 22"}"#,
                AUTHLOG,
                r#""ssh":{"outcome":"invalid_user","user":"admin","invalid_user":true,"source_ip":"192.0.2.9","port":22,"program":"sshd","pid":12}"#,
            ),
            (
                r#"{"ident":"sshd","pid":"twelve","message":"Invalid user admin from 192.0.2.9 port 22"}"#,
                AUTHLOG,
                r#""ssh":{"outcome":"invalid_user","user":"admin","invalid_user":true,"source_ip":"192.0.2.9","port":22,"program":"sshd"}"#,
            ),
            (
                r#"{"_COMM":"sshd-session","MESSAGE":"Invalid user admin from 2001:db8::1 port 22","_PID":"9"}"#,
                AUTHLOG,
                r#""ssh":{"outcome":"invalid_user","user":"admin","invalid_user":true,"source_ip":"2001:db8::1","port":22,"program":"sshd-session","pid":9}"#,
            ),
            (
                r#"{"exec":"type=PROCTITLE msg=audit(11/22/2026 10:00:00.123:456) : proctitle=bash -i"}"#,
                AUDITD,
                r#""auditd":{"type":"PROCTITLE","time":"11/22/2026 10:00:00.123","serial":456,"proctitle":"bash -i","command":"bash -i"}"#,
            ),
            (
                r#"{"MESSAGE":"audit: type=1300 audit(1364481363.243:24287): arch=c000003e syscall=2 success=no comm=\"cat\"","SYSLOG_IDENTIFIER":"kernel"}"#,
                AUDITD,
                r#""auditd":{"type":"SYSCALL","time":"1364481363.243","serial":24287,"arch":"c000003e","syscall":"2","success":"no","comm":"cat"}"#,
            ),
            (
                r#"{"record":{"user_name":"alice","message":"AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>"}}"#,
                PGAUDIT,
                r#""pgaudit":{"audit_type":"SESSION","statement_id":1,"substatement_id":1,"class":"READ","command":"SELECT","statement":"select 1","parameter":"<not logged>","db_user":"alice"}"#,
            ),
        ];
        for (record, stream, want) in cases {
            let (v, out, _) = run("", record, 0, &mut hs).unwrap_or_else(|| panic!("{record}"));
            assert_eq!(v, Verdict::Keep(stream), "{record}");
            assert!(out.contains(want), "{record}\n got {out}\nwant {want}");
        }
        for record in [r#"{"log":"hello"}"#, r#"{"a":1}"#, r#"{"ident":"cron","message":"x"}"#, r#"{"log":"----"}"#] {
            assert!(run("", record, 0, &mut hs).is_none(), "{record}");
        }
    }

    /// What follows the program in an sshd or sudo line is partly the client's (a user name,
    /// a command): it must not move the line to another stream and out of the reviewer's
    /// sight. Lines of other programs are still read for what they carry.
    #[test]
    fn the_program_decides_the_stream_not_the_text_after_it() {
        let pg = "AUDIT: SESSION,1,1,READ,SELECT,,,x";
        let failed: &[&str] = &[flags::AUTH_FAILURE];
        let cases = [
            (format!("Nov 22 10:00:00 h sshd[1]: Invalid user {pg} from 192.0.2.9 port 22"), AUTHLOG, failed),
            (
                format!("Nov 22 10:00:00 h sshd[1]: Failed password for invalid user {pg} from 192.0.2.9 port 22 ssh2"),
                AUTHLOG,
                failed,
            ),
            (
                format!("Nov 22 10:00:00 h sudo[1]:   bob : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/echo {pg}"),
                AUTHLOG,
                &[],
            ),
            ("Nov 22 10:00:00 h sshd[1]: Invalid user audit(1.2:3) from 192.0.2.9 port 22".to_owned(), AUTHLOG, failed),
            (format!("Nov 22 10:00:00 db postgres[5]: [3-1] LOG:  {pg}"), PGAUDIT, &[]),
            (format!("2026-11-22 10:00:00.123 UTC [5] LOG:  {pg}"), PGAUDIT, &[]),
        ];
        for (line, stream, flags) in cases {
            let record = serde_json::json!({ "log": line }).to_string();
            let (v, _, review) = run("", &record, 0, &mut streams("")).unwrap_or_else(|| panic!("{record}"));
            assert_eq!((v, review.as_slice()), (Verdict::Keep(stream), flags), "{record}");
        }
    }

    /// A PostgreSQL line is pgaudit's where its message says so, not where a client's text does:
    /// a filter that keeps only some pgaudit records must not drop a failed login, nor a record
    /// an application name imitates.
    #[test]
    fn pgaudit_is_the_message_not_text_inside_it() {
        let config = "pgaudit:\n  filter:\n    include_objects: [app.users]\n";
        let fake = "AUDIT: SESSION,1,1,READ,SELECT,,,x,<none>";
        let real = r#"AUDIT: SESSION,2,1,WRITE,DELETE,TABLE,app.users,"delete from app.users",<none>"#;
        let failed_login = format!("password authentication failed for user \"{fake}\"");
        let failed_login_labelled = format!("password authentication failed for user \"LOG:  {fake}\"");
        let cases = [
            (serde_json::json!({ "log": format!("2026-11-22 10:00:00 UTC [5] FATAL:  {failed_login}") }), None),
            (serde_json::json!({ "record": { "error_severity": "FATAL", "message": failed_login } }), None),
            (serde_json::json!({ "record": { "error_severity": "FATAL", "message": failed_login_labelled } }), None),
            // A label right after a quote is inside the quoted user name: the failed login it says.
            (
                serde_json::json!({ "log": format!("2026-11-22 10:00:00 UTC [5] FATAL:  {failed_login_labelled}") }),
                None,
            ),
            // Kept whole, never dropped: the first label may be an application name's.
            (
                serde_json::json!({ "log": format!("2026-11-22 10:00:00 UTC [5] FATAL:  role \" LOG:  {fake}\" does not exist") }),
                Some(Verdict::Keep(PGAUDIT)),
            ),
            (
                serde_json::json!({ "log": format!("2026-11-22 10:00:00 UTC [5] app=x LOG:  {fake} LOG:  {real}") }),
                Some(Verdict::Keep(PGAUDIT)),
            ),
            (serde_json::json!({ "log": format!("2026-11-22 10:00:00 UTC [5] LOG:  {fake}") }), Some(Verdict::Drop)),
            (
                serde_json::json!({ "log": format!("2026-11-22 10:00:00 UTC [5] LOG:  {real}") }),
                Some(Verdict::Keep(PGAUDIT)),
            ),
        ];
        for (record, want) in cases {
            let record = record.to_string();
            let got = run(config, &record, 0, &mut streams(config));
            assert_eq!(got.as_ref().map(|(v, _, _)| *v), want, "{record}");
            if want == Some(Verdict::Keep(PGAUDIT)) && record.matches("AUDIT: SESSION").count() > 1 {
                let (_, out, _) = got.unwrap();
                assert!(!out.contains(r#""pgaudit":{"#), "no fields from either candidate: {out}");
            }
        }
    }

    /// A csvlog or jsonlog line tailed raw: the columns say the severity, the message and the user.
    #[test]
    fn csvlog_and_jsonlog_lines_are_read_by_their_columns() {
        let config = "pgaudit:\n  filter:\n    include_objects: [app.users]\n";
        let line = |user: &str, severity: &str, state: &str, message: &str| {
            let line = format!(
                "2026-11-22 10:00:00.123 UTC,{user},\"app\",42,\"10.0.0.5:5000\",6740a1b2.2a,3,\"SELECT\",2026-11-22 09:59:00 UTC,3/7,0,{severity},{state},{message},,,,,,,,\"psql\",\"client backend\",,0"
            );
            serde_json::json!({ "log": line }).to_string()
        };
        let real = line(
            r#""alice""#,
            "LOG",
            "00000",
            r#""AUDIT: SESSION,2,1,WRITE,DELETE,TABLE,app.users,""delete from app.users"",<none>""#,
        );
        let (v, out, _) = run(config, &real, 0, &mut streams(config)).unwrap();
        assert_eq!(v, Verdict::Keep(PGAUDIT));
        assert!(out.contains(r#""object_name":"app.users","statement":"delete from app.users","parameter":"<none>","db_user":"alice""#), "{out}");
        let other = line(r#""alice""#, "LOG", "00000", r#""AUDIT: SESSION,3,1,READ,SELECT,,,select 1,<none>""#);
        assert_eq!(run(config, &other, 0, &mut streams(config)).map(|(v, _, _)| v), Some(Verdict::Drop));
        // A failed login whose user name imitates a record is no pgaudit record: not dropped.
        let fake = "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,x,<none>";
        let failed = line(
            &format!(r#""{fake}""#),
            "FATAL",
            "28P01",
            &format!(r#""password authentication failed for user ""{fake}""""#),
        );
        assert!(run(config, &failed, 0, &mut streams(config)).is_none(), "{failed}");
        // A stderr line begins with the same time: the client's text after it, imitating the
        // columns, makes it no csvlog line, and the real record it may hold is still read.
        let imitation = r#",alice,app,42,h,s,3,t,st,v,0,LOG,00000,"AUDIT: SESSION,1,1,READ,SELECT,,,x,<none>",x"#;
        let stderr =
            |rest: &str| serde_json::json!({ "log": format!("2026-11-22 10:00:00.123 UTC [5] {rest}") }).to_string();
        let failed = stderr(&format!("FATAL:  password authentication failed for user \"{imitation}\""));
        assert!(run(config, &failed, 0, &mut streams(config)).is_none(), "{failed}");
        let real = stderr(
            "app=,1,2,3,4,5,6,7,8,9,10,LOG,00000, LOG:  AUDIT: SESSION,2,1,WRITE,DELETE,TABLE,app.users,\"delete from app.users\",<none>",
        );
        let (v, out, _) = run(config, &real, 0, &mut streams(config)).unwrap();
        assert_eq!(v, Verdict::Keep(PGAUDIT));
        assert!(out.contains(r#""object_name":"app.users""#), "{out}");
        // The same from a jsonlog line.
        let json_line = |user: &str, severity: &str, message: &str| {
            let line = serde_json::json!({"timestamp": "2026-11-22 10:00:00.123 UTC", "user": user,
                "error_severity": severity, "message": message});
            serde_json::json!({ "log": line.to_string() }).to_string()
        };
        let real = json_line(
            "alice",
            "LOG",
            r#"AUDIT: SESSION,2,1,WRITE,DELETE,TABLE,app.users,"delete from app.users",<none>"#,
        );
        let (v, out, _) = run(config, &real, 0, &mut streams(config)).unwrap();
        assert_eq!(v, Verdict::Keep(PGAUDIT));
        assert!(out.contains(r#""object_name":"app.users","statement":"delete from app.users","parameter":"<none>","db_user":"alice""#), "{out}");
        let other = json_line("alice", "LOG", "AUDIT: SESSION,3,1,READ,SELECT,,,select 1,<none>");
        assert_eq!(run(config, &other, 0, &mut streams(config)).map(|(v, _, _)| v), Some(Verdict::Drop));
        let failed = json_line(fake, "FATAL", &format!("password authentication failed for user \"{fake}\""));
        assert!(run(config, &failed, 0, &mut streams(config)).is_none(), "{failed}");
    }

    /// `ausearch -i` prints the account of a failed login as the client typed it: a drop rule
    /// must not see it as fields, nor may it hide the failure.
    #[test]
    fn an_interpreted_account_name_is_not_fields() {
        let config = "auditd:\n  drop:\n    - comm: [cron]\n";
        let line = |acct: &str| {
            format!(
                "type=USER_AUTH msg=audit(11/22/2026 10:00:00.123:458) : pid=1 uid=root auid=unset ses=unset msg='op=PAM:authentication grantors=? acct={acct} exe=/usr/sbin/sshd hostname=? addr=192.0.2.1 terminal=ssh res=failed'"
            )
        };
        for acct in [
            "x comm=cron",
            "x res=success",
            "x comm=cron exe=/usr/sbin/cron hostname=? addr=? terminal=cron res=success",
        ] {
            let record = serde_json::json!({ "exec": line(acct) }).to_string();
            let (v, out, review) = run(config, &record, 0, &mut streams(config)).unwrap();
            assert_eq!((v, review.as_slice()), (Verdict::Keep(AUDITD), &[flags::AUTH_FAILURE][..]), "{record}");
            assert!(out.contains(r#""res":"failed""#) && !out.contains(r#""comm""#), "{out}");
        }
        // The rule itself still applies.
        let cron = serde_json::json!({ "exec": "type=SYSCALL msg=audit(11/22/2026 10:00:00.123:459) : arch=x86_64 syscall=execve success=yes comm=cron exe=/usr/sbin/cron" });
        assert_eq!(run(config, &cron.to_string(), 0, &mut streams(config)).map(|(v, _, _)| v), Some(Verdict::Drop));
    }

    #[test]
    fn unparsed_lines_of_a_known_stream_are_tagged_only() {
        let mut hs = streams("");
        let (v, out, review) =
            run("", r#"{"ident":"sshd","message":"Server listening on :: port 22."}"#, 0, &mut hs).unwrap();
        assert_eq!(v, Verdict::Keep(AUTHLOG));
        assert_eq!(out, r#"{"ident":"sshd","message":"Server listening on :: port 22."}"#);
        assert!(review.is_empty());
    }
}
