//! sudo and su message parsers (the text after the `sudo:` / `su[pid]:` syslog tag).
//!
//! sudo command lines look like `alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash`;
//! a refusal puts the reason before the key/value list (`3 incorrect password attempts ; TTY=...`).
//! `COMMAND=` is always last and may itself contain ` ; `, so it takes the rest of the line.
//!
//! sudo splits a line longer than about 960 bytes (sudoers `syslog_maxlen`) at the last space
//! before the limit, drops the spaces there, and logs each later part as
//! `alice : (command continued) <rest>` (eventlog.c `do_syslog_sudo`). sudo-rs splits at the
//! last whitespace of the piece being written (else inside a word), ends the part with
//! ` [...]` and starts the next with `[...] ` and no user: the parts put end to end are the
//! line. [`SplitLines`] judges a later part together with the parts before it.

use super::{FNV_START, ShortPattern, fnv1a};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// sudo ran (or su switched to) the target user.
    Allowed,
    /// `N incorrect password attempt(s)`
    IncorrectPassword,
    /// `user NOT in sudoers`
    NotInSudoers,
    /// `command not allowed`
    CommandNotAllowed,
    /// `a password is required` (non-interactive run without credentials)
    PasswordRequired,
    /// any other refusal reason sudo writes before the key/value list
    Denied,
    /// `pam_unix(sudo:auth): authentication failure`, `FAILED SU`, `BAD SU`
    AuthFailure,
    SessionOpened,
    SessionClosed,
    /// `(command continued)` (sudo) or `[...]` (sudo-rs): a later part of a line sudo split
    /// (at about 960 bytes).
    Continued,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::IncorrectPassword => "incorrect_password",
            Outcome::NotInSudoers => "not_in_sudoers",
            Outcome::CommandNotAllowed => "command_not_allowed",
            Outcome::PasswordRequired => "password_required",
            Outcome::Denied => "denied",
            Outcome::AuthFailure => "auth_failure",
            Outcome::SessionOpened => "session_opened",
            Outcome::SessionClosed => "session_closed",
            Outcome::Continued => "continued",
        }
    }

    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Allowed | Outcome::SessionOpened | Outcome::SessionClosed | Outcome::Continued)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Sudo,
    Su,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SudoEvent<'a> {
    pub tool: Tool,
    pub outcome: Outcome,
    /// The invoking user.
    pub user: Option<&'a str>,
    /// The user the command runs as (`USER=`, su's target).
    pub target_user: Option<&'a str>,
    pub command: Option<&'a str>,
    pub tty: Option<&'a str>,
    pub pwd: Option<&'a str>,
    /// Refusal reason as written, e.g. `3 incorrect password attempts`.
    pub reason: Option<&'a str>,
    /// Count from `N incorrect password attempts`.
    pub attempts: Option<u32>,
    /// sudo's key/value text (`TTY=... ; COMMAND=...`), or the text of a continuation;
    /// without sudo-rs's ` [...]` marks.
    fields: &'a str,
    /// Where the line sits among the parts sudo split it into.
    part: Part,
    /// The part ends in sudo-rs's ` [...]`: another part follows.
    more: bool,
    /// The line holds more than one `USER=` or `COMMAND=` field: `PWD`, `ENV` and the
    /// command are written unescaped, so which is sudo's cannot be told, and
    /// [`SudoEvent::target_user`] and [`SudoEvent::command`] are left empty.
    pub ambiguous: bool,
}

/// Where a line sits among the parts sudo split it into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// A whole line or the first part of a split one: sudo marks neither.
    First,
    /// sudo's `user : (command continued) <rest>`; sudo dropped the spaces at the split.
    Continued,
    /// sudo-rs's `[...] <rest>`, the text exactly as it went on.
    RsContinued,
}

/// sudo-rs ends a part it split with this, and starts the next part with [`RS_START`].
const RS_END: &str = " [...]";
const RS_START: &str = "[...] ";

const SHELLS: [&str; 9] = ["sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "su"];

impl SudoEvent<'_> {
    pub fn is_failure(&self) -> bool {
        self.outcome.is_failure()
    }

    /// An interactive root shell: target root and the command is a shell or `su`
    /// (also `sudo -i`/`-s` style invocations where a shell follows `sudo`), or `su` to root.
    pub fn root_shell(&self) -> bool {
        let to_root = |target: Option<&str>| target.unwrap_or("root") == "root";
        match self.tool {
            Tool::Su => to_root(self.target_user) && self.outcome == Outcome::Allowed,
            Tool::Sudo if self.outcome == Outcome::SessionClosed => false,
            Tool::Sudo => scan(self.fields, &mut Seen::default()),
        }
    }
}

/// The `USER=` fields of a line so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Seen {
    users: bool,
    root: bool,
}

/// Whether `text` holds a root shell, after the `USER=` fields in `seen`, which it extends.
///
/// sudo writes PWD, ENV and the command as they are: in a directory named `x ; USER=nobody ;`
/// the real `USER=root` reads as `; ; USER=root`, and `sudo 'X=1 ; USER=nobody' bash` logs a
/// second `USER=` after sudo's. Every reading counts: a shell `COMMAND=` after any
/// `USER=root`, or after no `USER=` at all (the default target, or a continuation judged
/// alone), is a root shell.
fn scan(text: &str, seen: &mut Seen) -> bool {
    let mut shell = false;
    let mut args = ShellArgs::new(text);
    for field in key_fields(text) {
        match field {
            KeyField::User(user) => {
                seen.users = true;
                seen.root |= user == "root";
            }
            KeyField::Command(at, command) => {
                shell |= (seen.root || !seen.users) && is_shell_command(at, command, &mut args)
            }
        }
    }
    shell
}

/// Where the last field of `text` starts: after its last separator.
fn last_field(text: &str) -> usize {
    field_starts(text).last().unwrap_or(0)
}

/// Where each field of sudo's key/value text starts, in order: the text's start, and after
/// every ` ; `. Each `;` is looked at on its own: in `; ; USER=root` the two separators
/// share a space. A leading `; ` is a separator too: sudo split the line at the space
/// before it.
fn field_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let b = text.as_bytes();
    let separators =
        (1..b.len().saturating_sub(1)).filter(move |&i| b[i] == b';' && b[i - 1] == b' ' && b[i + 1] == b' ');
    let leading = text.starts_with("; ").then_some(2);
    std::iter::once(0).chain(leading).chain(separators.map(|i| i + 2))
}

/// What is kept of a field that runs on: its start (the key, the command and its first
/// arguments) and its last bytes (where a separator split in two begins).
const TAIL_HEAD: usize = 256;
const TAIL_END: usize = 2;

/// The parts so far of one split line.
#[derive(Debug, Default)]
struct Open {
    /// When the line last had a part (0: the slot is free).
    stamp: u64,
    /// Host and pid, and the invoking user (0 for a sudo-rs part, which names none).
    place: u64,
    user: u64,
    /// sudo-rs's: the next part starts `[...] `.
    rs: bool,
    seen: Seen,
    /// The last field so far, which the next part may go on: all of it, or its first
    /// [`TAIL_HEAD`] and last [`TAIL_END`] bytes.
    tail: String,
}

/// The split lines still open, judged part by part. A later part is read after the last
/// field of the parts before it (sudo's with a space between, sudo-rs's as it is) and after
/// every `USER=` they held: a shell `COMMAND=` after a `USER=root` anywhere earlier in the
/// line, or with no `USER=` anywhere, is a root shell.
///
/// A part is matched to the line it continues by host, pid (sudo's syslog lines usually have
/// none) and invoking user; a sudo-rs part names no user and goes on the newest open sudo-rs
/// line of its host and pid. sudo does not mark a line's last part, and the command's
/// arguments may run on past a part holding `COMMAND=`, so a line stays open until the next
/// line of the same user replaces it (a sudo-rs line until its part without ` [...]`), and at
/// most [`SplitLines::OPEN`] are open, the least recently continued forgotten first: sudo logs
/// a line's parts one right after the other. A part whose line is not known is judged alone.
#[derive(Debug, Default)]
pub struct SplitLines {
    open: [Open; SplitLines::OPEN],
    clock: u64,
    joined: String,
}

impl SplitLines {
    /// How many lines are kept open.
    pub const OPEN: usize = 8;

    pub fn new() -> Self {
        SplitLines::default()
    }

    /// Whether `e` is a root shell, read with the parts of its line before it; `host` and
    /// `pid` are where it came from, when the input tells.
    pub fn root_shell(&mut self, e: &SudoEvent, host: Option<&str>, pid: Option<u64>) -> bool {
        if e.tool != Tool::Sudo || e.fields.is_empty() {
            return e.root_shell();
        }
        let pid = pid.map_or([0xff; 9], |p| {
            let mut b = [0; 9];
            b[1..].copy_from_slice(&p.to_le_bytes());
            b
        });
        let place = fnv1a(fnv1a(FNV_START, host.unwrap_or_default().bytes()), pid);
        let user = match e.part {
            Part::RsContinued => 0,
            _ => fnv1a(FNV_START, e.user.unwrap_or_default().bytes()),
        };
        let open = &self.open;
        let live = |i: &usize| open[*i].stamp != 0 && open[*i].place == place;
        let found = match e.part {
            // A new line: whatever was open for its user is over.
            Part::First => None,
            Part::Continued => (0..SplitLines::OPEN).filter(live).find(|&i| open[i].user == user),
            Part::RsContinued => {
                (0..SplitLines::OPEN).filter(live).filter(|&i| open[i].rs).max_by_key(|&i| open[i].stamp)
            }
        };
        let mut seen = Seen::default();
        self.joined.clear();
        let mut shell = false;
        if let Some(o) = found.map(|i| &self.open[i]) {
            seen = o.seen;
            self.joined.push_str(&o.tail);
            if e.part == Part::Continued {
                // sudo cut at a space and dropped it, or, with no space within its limit,
                // inside a word (`COMMAND=/./././.../bin/bash`): both readings count.
                self.joined.push_str(e.fields);
                let mut unspaced = seen;
                shell = scan(&self.joined, &mut unspaced);
                self.joined.truncate(o.tail.len());
                self.joined.push(' ');
                seen.users |= unspaced.users;
                seen.root |= unspaced.root;
            }
        }
        self.joined.push_str(e.fields);
        shell |= scan(&self.joined, &mut seen);
        if e.part == Part::RsContinued && !e.more {
            // sudo-rs's last part: the line is over.
            if let Some(i) = found {
                self.open[i].stamp = 0;
            }
            return shell;
        }
        let i = match found {
            Some(i) => i,
            // The slot its user had, else a free one, else the least recently used.
            None => (0..SplitLines::OPEN)
                .min_by_key(|&i| {
                    let o = &self.open[i];
                    (!(o.stamp != 0 && o.place == place && o.user == user), o.stamp)
                })
                .unwrap_or(0),
        };
        let o = &mut self.open[i];
        self.clock += 1;
        (o.stamp, o.place, o.user, o.rs, o.seen) = (self.clock, place, user, e.more, seen);
        let tail = &self.joined[last_field(&self.joined)..];
        o.tail.clear();
        if tail.len() <= TAIL_HEAD + TAIL_END {
            o.tail.push_str(tail);
        } else {
            o.tail.push_str(&tail[..tail.floor_char_boundary(TAIL_HEAD)]);
            o.tail.push_str(&tail[tail.ceil_char_boundary(tail.len() - TAIL_END)..]);
        }
        shell
    }
}

/// A `USER=` or `COMMAND=` field of sudo's key/value text.
enum KeyField<'a> {
    User(&'a str),
    /// The rest of the line: the command and its arguments, and where it starts in the text.
    Command(usize, &'a str),
}

/// Every `USER=` and `COMMAND=` field, in order (see [`field_starts`]).
fn key_fields(text: &str) -> impl Iterator<Item = KeyField<'_>> {
    field_starts(text).filter_map(move |i| {
        let rest = &text[i..];
        if let Some(user) = rest.strip_prefix("USER=") {
            // A part sudo split ends in ` ;`.
            let user = user.split_once_short(" ; ").map_or(user, |(u, _)| u);
            Some(KeyField::User(user.trim_end_matches([' ', ';'])))
        } else {
            rest.strip_prefix("COMMAND=").map(|command| KeyField::Command(i + 8, command.trim_end()))
        }
    })
}

/// Whether the command `cmd`, at `at` in the text `args` reads, runs a shell.
fn is_shell_command(at: usize, cmd: &str, args: &mut ShellArgs) -> bool {
    let Some(prog_at) = cmd.bytes().position(|b| b != b' ') else { return false };
    let prog = cmd[prog_at..].before_short(" ");
    if is_shell(prog) {
        return true;
    }
    // `sudo -i` / `sudo -s` nested, or `env bash`: any later word of the line.
    let base = prog.rsplit('/').next().unwrap_or(prog);
    (base == "sudo" || base == "env") && args.last().is_some_and(|w| w > at + prog_at)
}

/// A program path or name whose last part is a shell.
fn is_shell(program: &str) -> bool {
    SHELLS.contains(&program.rsplit('/').next().unwrap_or(program))
}

/// A word that makes a `sudo` or `env` command before it a shell: `-i`, `-s` or a shell.
fn is_shell_arg(w: &str) -> bool {
    w == "-i" || w == "-s" || is_shell(w)
}

/// Where the last word of a text that [`is_shell_arg`] starts, found once per text. A
/// command runs to the end of the line, so the words after its program are the line's
/// last ones: a look at each of them, for every `COMMAND=sudo` or `COMMAND=env` of a line,
/// took time quadratic in the line's length.
struct ShellArgs<'a> {
    text: &'a str,
    last: Option<Option<usize>>,
}

impl<'a> ShellArgs<'a> {
    fn new(text: &'a str) -> Self {
        ShellArgs { text, last: None }
    }

    fn last(&mut self) -> Option<usize> {
        let text = self.text;
        *self.last.get_or_insert_with(|| {
            // The words of a command end where its trimmed text does, the line's end.
            let t = text.trim_end();
            let mut end = t.len();
            loop {
                let start = t[..end].rfind(' ').map_or(0, |i| i + 1);
                if is_shell_arg(&t[start..end]) {
                    return Some(start);
                }
                end = start.checked_sub(1)?;
            }
        })
    }
}

fn event(tool: Tool, outcome: Outcome) -> SudoEvent<'static> {
    SudoEvent {
        tool,
        outcome,
        user: None,
        target_user: None,
        command: None,
        tty: None,
        pwd: None,
        reason: None,
        attempts: None,
        fields: "",
        part: Part::First,
        more: false,
        ambiguous: false,
    }
}

/// Parses a message logged under the `sudo` ident.
pub fn parse(message: &str) -> Option<SudoEvent<'_>> {
    let m = message.trim_end();
    if let Some(rest) = m.strip_prefix(RS_START) {
        // A later part of a line sudo-rs split: the text as it went on, no user.
        let mut ev = event(Tool::Sudo, Outcome::Continued);
        ev.part = Part::RsContinued;
        (ev.fields, ev.more) = match rest.strip_suffix(RS_END) {
            Some(fields) => (fields, true),
            None => (rest, false),
        };
        return Some(ev);
    }
    let m = m.trim_start();
    if m.starts_with("pam_") {
        return pam(Tool::Sudo, m);
    }
    let (user, rest) = m.split_once_short(" : ")?;
    let fields = rest.trim_start();
    let user = user.trim();
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    if let Some(continued) = fields.strip_prefix("(command continued)") {
        // The rest of a line sudo split: no refusal (a reason comes first), and no fields of
        // its own to report, but it may hold the `USER=` and `COMMAND=` a long PWD pushed
        // out of the first part.
        let mut ev = event(Tool::Sudo, Outcome::Continued);
        ev.user = Some(user);
        ev.part = Part::Continued;
        ev.fields = continued.trim_start();
        return Some(ev);
    }
    let mut ev = event(Tool::Sudo, Outcome::Allowed);
    ev.user = Some(user);
    let mut rest = rest;
    let mut seen_kv = false;
    while !rest.is_empty() {
        if let Some(cmd) = rest.strip_prefix("COMMAND=") {
            ev.command = Some(cmd.trim_end());
            seen_kv = true;
            break;
        }
        let (seg, next) = rest.split_once_short(" ; ").unwrap_or((rest, ""));
        rest = next;
        // The first part of a line sudo split ends in ` ;`.
        let seg = seg.trim().trim_end_matches(" ;");
        match seg.split_once('=') {
            Some((k, v)) if k.bytes().all(|b| b.is_ascii_uppercase()) && !k.is_empty() => {
                seen_kv = true;
                match k {
                    "TTY" => ev.tty = Some(v),
                    "PWD" => ev.pwd = Some(v),
                    "USER" => ev.target_user = Some(v),
                    _ => {}
                }
            }
            _ if !seen_kv && ev.reason.is_none() => {
                ev.reason = Some(seg);
                ev.outcome = refusal(seg, &mut ev.attempts);
            }
            _ => {}
        }
    }
    if !seen_kv {
        return None;
    }
    // The first part of a line sudo-rs split.
    (ev.fields, ev.more) = match fields.strip_suffix(RS_END) {
        Some(fields) => (fields, true),
        None => (fields, false),
    };
    let (mut users, mut commands) = (0, 0);
    for field in key_fields(ev.fields) {
        match field {
            KeyField::User(_) => users += 1,
            KeyField::Command(..) => commands += 1,
        }
    }
    if users > 1 || commands > 1 {
        ev.ambiguous = true;
        ev.target_user = None;
        ev.command = None;
    }
    Some(ev)
}

fn refusal(reason: &str, attempts: &mut Option<u32>) -> Outcome {
    if reason.contains_short("incorrect password attempt") {
        *attempts = reason.split(' ').next().and_then(|n| n.parse().ok());
        Outcome::IncorrectPassword
    } else if reason.contains_short("NOT in sudoers") {
        Outcome::NotInSudoers
    } else if reason.contains_short("command not allowed") {
        Outcome::CommandNotAllowed
    } else if reason.contains_short("a password is required") {
        Outcome::PasswordRequired
    } else {
        Outcome::Denied
    }
}

/// `pam_unix(sudo:session): session opened for user root by alice(uid=0)`,
/// `pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 ... ruser=alice rhost=  user=alice`.
fn pam(tool: Tool, m: &str) -> Option<SudoEvent<'_>> {
    let (module, body) = m.split_once_short(": ")?;
    if !module.starts_with("pam_unix") {
        return None;
    }
    pam_body(tool, body)
}

/// `alice(uid=1000)` → `alice`; `(uid=0)` → none.
fn name(s: &str) -> Option<&str> {
    let s = s.split('(').next().unwrap_or(s).trim();
    if s.is_empty() { None } else { Some(s) }
}

fn pam_body(tool: Tool, body: &str) -> Option<SudoEvent<'_>> {
    if let Some(r) = body.strip_prefix("session opened for user ") {
        let mut ev = event(tool, Outcome::SessionOpened);
        let (target, by) = r.split_once_short(" by ").unwrap_or((r, ""));
        ev.target_user = name(target);
        ev.user = name(by);
        return Some(ev);
    }
    if let Some(r) = body.strip_prefix("session closed for user ") {
        let mut ev = event(tool, Outcome::SessionClosed);
        ev.target_user = name(r);
        return Some(ev);
    }
    if body.starts_with("authentication failure;") {
        let mut ev = event(tool, Outcome::AuthFailure);
        let (mut ruser, mut user, mut logname) = (None, None, None);
        for tok in body.split(' ') {
            if let Some((k, v)) = tok.split_once('=') {
                if v.is_empty() {
                    continue;
                }
                match k {
                    "ruser" => ruser = Some(v),
                    "user" => user = Some(v),
                    "logname" => logname = Some(v),
                    "tty" => ev.tty = Some(v),
                    _ => {}
                }
            }
        }
        // For sudo the account being authenticated is the invoking user; for su it is the target.
        match tool {
            Tool::Sudo => ev.user = user.or(ruser).or(logname),
            Tool::Su => {
                ev.user = ruser.or(logname);
                ev.target_user = user;
            }
        }
        return Some(ev);
    }
    None
}

/// Parses a message logged under the `su` ident (also `su(pam_unix)`, `su-l`).
///
/// Shapes: `(to root) alice on pts/0`, `FAILED SU (to root) alice on pts/0`, `BAD SU ger to fwmaster on
/// /dev/ttyp0`, `dcid to root on /dev/ttyp1`, `failed: ttyq4 changing from ldap to root`,
/// `+ pts/0 alice:root` / `- pts/0 alice:root` (old util-linux), shadow-utils' `Successful su
/// for root by alice` / `FAILED su for root by alice`, and pam_unix(su...) lines.
pub fn parse_su(message: &str) -> Option<SudoEvent<'_>> {
    let m = message.trim();
    if m.starts_with("pam_") {
        return pam(Tool::Su, m);
    }
    if m.starts_with("authentication failure;") || m.starts_with("session ") {
        return pam_body(Tool::Su, m);
    }
    let (outcome, r) = if let Some(r) = m.strip_prefix("FAILED SU ") {
        (Outcome::AuthFailure, r)
    } else if let Some(r) = m.strip_prefix("BAD SU ") {
        (Outcome::AuthFailure, r)
    } else if let Some(r) = m.strip_prefix("failed: ") {
        // `failed: ttyq4 changing from ldap to root`
        let (tty, r) = r.split_once_short(" changing from ")?;
        let (user, target) = r.split_once_short(" to ")?;
        let mut ev = event(Tool::Su, Outcome::AuthFailure);
        (ev.tty, ev.user, ev.target_user) = (Some(tty), Some(user), Some(target));
        return Some(ev);
    } else if let Some((outcome, r)) = m
        .strip_prefix("Successful su for ")
        .map(|r| (Outcome::Allowed, r))
        .or_else(|| m.strip_prefix("FAILED su for ").map(|r| (Outcome::AuthFailure, r)))
    {
        // shadow-utils: `Successful su for root by alice`, `FAILED su for root by alice`.
        let (target, user) = r.split_once_short(" by ")?;
        if [user, target].iter().any(|name| name.is_empty() || name.contains(' ')) {
            return None;
        }
        let mut ev = event(Tool::Su, outcome);
        (ev.user, ev.target_user) = (Some(user), Some(target));
        return Some(ev);
    } else if let Some(r) = m.strip_prefix("+ ").or_else(|| m.strip_prefix("- ")) {
        let (tty, pair) = r.split_once(' ')?;
        let (user, target) = pair.split_once(':')?;
        let ok = m.starts_with('+');
        let mut ev = event(Tool::Su, if ok { Outcome::Allowed } else { Outcome::AuthFailure });
        (ev.tty, ev.user, ev.target_user) = (Some(tty), Some(user), Some(target));
        return Some(ev);
    } else {
        (Outcome::Allowed, m)
    };
    let mut ev = event(Tool::Su, outcome);
    let (who, tty) = r.rsplit_once_short(" on ")?;
    ev.tty = Some(tty);
    if let Some(r) = who.strip_prefix("(to ") {
        let (target, user) = r.split_once_short(") ")?;
        (ev.user, ev.target_user) = (Some(user), Some(target));
    } else {
        let (user, target) = who.split_once_short(" to ")?;
        if user.contains(' ') || target.contains(' ') {
            return None;
        }
        (ev.user, ev.target_user) = (Some(user), Some(target));
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::super::syslog;
    use super::*;

    fn sudo(line: &str) -> SudoEvent<'_> {
        let l = syslog::parse(line).unwrap();
        assert_eq!(l.ident, "sudo");
        parse(l.message).unwrap_or_else(|| panic!("{line}"))
    }

    fn su(line: &str) -> SudoEvent<'_> {
        let l = syslog::parse(line).unwrap();
        parse_su(l.message).unwrap_or_else(|| panic!("{line}"))
    }

    #[test]
    fn sudo_commands() {
        let e = sudo(
            "Apr 27 15:22:23 niban sudo:     dcid : TTY=pts/4 ; PWD=/home/dcid ; USER=root ; COMMAND=/usr/bin/tail /var/log/snort/alert.fast",
        );
        assert_eq!((e.outcome, e.user, e.target_user), (Outcome::Allowed, Some("dcid"), Some("root")));
        assert_eq!((e.tty, e.pwd), (Some("pts/4"), Some("/home/dcid")));
        assert_eq!(e.command, Some("/usr/bin/tail /var/log/snort/alert.fast"));
        assert!(!e.is_failure() && !e.root_shell());

        let e = sudo(
            "Dec 30 19:36:11 rheltest sudo: cplummer : TTY=pts/2 ; PWD=/home/cplummer1 ; USER=root ; TSID=0000UM ; COMMAND=/bin/bash",
        );
        assert_eq!(e.command, Some("/bin/bash"));
        assert!(e.root_shell());

        let e = sudo(
            "Jun 25 15:48:21 precise32 sudo:  mike : TTY=pts/0 ; PWD=/home/vagrant ; USER=root ; COMMAND=/bin/su -",
        );
        assert!(e.root_shell());

        // Synthetic: `;` inside the command stays in the command.
        let e = sudo(
            "Mar 16 08:25:22 web1 sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=postgres ; COMMAND=/bin/sh -c echo a ; echo b",
        );
        assert_eq!((e.target_user, e.command), (Some("postgres"), Some("/bin/sh -c echo a ; echo b")));
        assert!(!e.root_shell());

        // Synthetic: a PWD, an ENV or a command holding ` ; USER=` or ` ; COMMAND=` makes the
        // line readable several ways; a shell COMMAND after any USER=root (or none) is flagged.
        for (rest, root_shell) in [
            ("PWD=/tmp/x ; COMMAND=/usr/bin/id ; USER=root ; COMMAND=/bin/bash", true),
            ("PWD=/tmp/x ; COMMAND=/usr/bin/id ; USER=bob ; COMMAND=/bin/bash", false),
            ("PWD=/tmp/x ; COMMAND=/usr/bin/id ; COMMAND=/bin/sh -i", true),
            ("PWD=/tmp/x ; USER=bob ; COMMAND=/usr/bin/id ; USER=root ; TSID=1 ; COMMAND=/bin/su -", true),
            ("PWD=/tmp/x ; USER=root ; COMMAND=/usr/bin/id ; USER=bob ; COMMAND=/bin/bash", true),
            // A directory named `x ; USER=nobody ;`: sudo's own separator shares a space.
            ("PWD=/tmp/x ; USER=nobody ; ; USER=root ; COMMAND=/bin/bash", true),
            ("PWD=/tmp/x ; USER=nobody ; ; USER=bob ; COMMAND=/bin/bash", false),
            ("PWD=/tmp/x ; USER=nobody ; ; ; USER=root ; COMMAND=/bin/bash", true),
            // An environment variable (`sudo 'X=1 ; USER=nobody' bash`) naming another target.
            ("PWD=/home/m ; USER=root ; ENV=X=1 ; USER=nobody ; COMMAND=/bin/bash", true),
            ("PWD=/tmp/a ; COMMAND=/usr/bin/id ; USER=root ; ENV=X=1 ; USER=nobody ; COMMAND=/bin/bash", true),
            ("PWD=/home/m ; USER=bob ; ENV=X=1 ; COMMAND=/bin/bash", false),
            ("PWD=/tmp ; USER=root ; COMMAND=/bin/echo COMMAND=/bin/bash", false),
        ] {
            let line = format!("Mar 16 08:25:22 web1 sudo: mallory : TTY=pts/0 ; {rest}");
            let e = sudo(&line);
            assert_eq!(e.root_shell(), root_shell, "{rest}");
            // With two USER or two COMMAND fields, which are sudo's cannot be told: neither
            // is reported.
            let ambiguous = rest.matches("USER=").count() > 1 || rest.matches(" ; COMMAND=").count() > 1;
            assert_eq!(e.ambiguous, ambiguous, "{rest}");
            assert_eq!(e.target_user.is_none() && e.command.is_none(), ambiguous, "{rest}");
        }
    }

    /// sudo splits a line longer than about 960 bytes at a space; the parts after the
    /// first are `(command continued)` lines, and a long PWD pushes USER and COMMAND there.
    #[test]
    fn split_lines() {
        let pwd = format!("/tmp/{}", "d".repeat(900));
        let line = format!("Mar 16 08:25:22 web1 sudo: mallory : TTY=pts/0 ; PWD={pwd} ;");
        let first = sudo(&line);
        assert_eq!((first.outcome, first.tty, first.pwd), (Outcome::Allowed, Some("pts/0"), Some(pwd.as_str())));
        assert!(!first.root_shell() && first.command.is_none());
        for (rest, root_shell) in [
            ("USER=root ; COMMAND=/bin/bash", true),
            ("COMMAND=/bin/bash", true),
            ("ddd ; USER=root ; COMMAND=/usr/bin/sudo -i", true),
            ("USER=bob ; COMMAND=/bin/bash", false),
            ("USER=root ; COMMAND=/usr/bin/id", false),
            // The arguments of a long command.
            ("-c 'echo bash' /tmp/COMMAND=/bin/bash", false),
            // Split at the space before the separator: sudo drops it, the part starts `; `.
            ("; COMMAND=/bin/bash", true),
            ("; USER=bob ; COMMAND=/bin/bash", false),
        ] {
            let line = format!("Mar 16 08:25:23 web1 sudo: mallory : (command continued) {rest}");
            let e = sudo(&line);
            assert_eq!((e.outcome, e.user, e.is_failure()), (Outcome::Continued, Some("mallory"), false), "{rest}");
            assert_eq!(e.root_shell(), root_shell, "{rest}");
        }
    }

    /// Each line's root_shell, judged by one [`SplitLines`] in order.
    fn judged(lines: &[String]) -> Vec<bool> {
        let mut split = SplitLines::new();
        lines
            .iter()
            .map(|line| {
                let l = syslog::parse(line).unwrap();
                let e = parse(l.message).unwrap_or_else(|| panic!("{line}"));
                split.root_shell(&e, l.host, l.pid.map(u64::from))
            })
            .collect()
    }

    /// A later part is read after the parts of its line before it: after its last field,
    /// and after every USER= the line held so far.
    #[test]
    fn split_parts_are_judged_together() {
        let sudo = |who: &str, rest: &str| format!("Mar 16 08:25:22 web1 sudo: {who} : {rest}");
        let more = |who: &str, rest: &str| sudo(who, &format!("(command continued) {rest}"));
        let pwd = format!("PWD=/tmp/{}", "d".repeat(880));
        let env = format!("ENV=X={}", "a".repeat(885));
        // (the parts, root_shell of each)
        let cases: Vec<(Vec<String>, Vec<bool>)> = vec![
            // Split at the space before ` ; COMMAND=`.
            (
                vec![
                    sudo("mallory", &format!("TTY=pts/0 ; {pwd} ; USER=root")),
                    more("mallory", "; COMMAND=/bin/bash"),
                ],
                vec![false, true],
            ),
            (
                vec![sudo("mallory", &format!("TTY=pts/0 ; {pwd} ; USER=bob")), more("mallory", "; COMMAND=/bin/bash")],
                vec![false, false],
            ),
            // `sudo /././.../bin/bash`: no space within sudo's limit, so it cut inside the
            // word and dropped nothing.
            (
                vec![
                    sudo("mallory", "TTY=pts/0 ; PWD=/home/mallory ; USER=root ;"),
                    more("mallory", &format!("COMMAND={}", "/.".repeat(476))),
                    more("mallory", &format!("{}/bin/bash", "/.".repeat(4))),
                ],
                vec![false, false, true],
            ),
            // `sudo "X=<885 a's> ; USER=nobody" bash`: the root USER in the first part, a
            // made-up one in the second.
            (
                vec![
                    sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=root ; {env} ;")),
                    more("mallory", "USER=nobody ; COMMAND=/bin/bash"),
                ],
                vec![false, true],
            ),
            (
                vec![
                    sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=root ; {env}")),
                    more("mallory", "; USER=nobody ; COMMAND=/bin/bash"),
                ],
                vec![false, true],
            ),
            (
                vec![
                    sudo("bob", &format!("TTY=pts/0 ; PWD=/home/b ; USER=bob ; {env} ;")),
                    more("bob", "USER=nobody ; COMMAND=/bin/bash"),
                ],
                vec![false, false],
            ),
            // The command's arguments run on into the next part.
            (
                vec![
                    sudo("mallory", &format!("TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/env {env}")),
                    more("mallory", "bash"),
                ],
                vec![false, true],
            ),
            (
                vec![
                    sudo("mallory", &format!("TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/id {env}")),
                    more("mallory", "bash"),
                ],
                vec![false, false],
            ),
            // Three parts.
            (
                vec![
                    sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=root ; {env} ;")),
                    more("mallory", &format!("{env} ;")),
                    more("mallory", "USER=nobody ; COMMAND=/bin/sh"),
                ],
                vec![false, false, true],
            ),
            // Another user's line between two parts, on the same host or with the same user
            // on another host.
            (
                vec![
                    sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=root ; {env} ;")),
                    sudo("bob", "TTY=pts/1 ; PWD=/ ; USER=bob ; COMMAND=/usr/bin/id"),
                    "Mar 16 08:25:22 web2 sudo: mallory : TTY=pts/1 ; PWD=/ ; USER=bob ; COMMAND=/usr/bin/id".into(),
                    more("mallory", "USER=nobody ; COMMAND=/bin/bash"),
                ],
                vec![false, false, false, true],
            ),
            (
                vec![
                    sudo("bob", &format!("TTY=pts/1 ; PWD=/home/b ; USER=root ; {env} ;")),
                    sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=nobody ; {env} ;")),
                    more("mallory", "COMMAND=/bin/bash"),
                ],
                vec![false, false, false],
            ),
            // A new line of the same user ends the one before.
            (
                vec![
                    sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=root ; {env} ;")),
                    sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=nobody ; {env} ;")),
                    more("mallory", "COMMAND=/bin/bash"),
                ],
                vec![false, false, false],
            ),
            // With a pid, lines of two processes stay apart.
            (
                vec![
                    format!("Mar 16 08:25:22 web1 sudo[10]: mallory : TTY=pts/0 ; PWD=/ ; USER=root ; {env} ;"),
                    format!("Mar 16 08:25:22 web1 sudo[11]: mallory : TTY=pts/1 ; PWD=/ ; USER=nobody ; {env} ;"),
                    "Mar 16 08:25:22 web1 sudo[10]: mallory : (command continued) USER=nobody ; COMMAND=/bin/bash"
                        .into(),
                    "Mar 16 08:25:22 web1 sudo[11]: mallory : (command continued) COMMAND=/bin/bash".into(),
                ],
                vec![false, false, true, false],
            ),
        ];
        for (lines, want) in &cases {
            assert_eq!(&judged(lines), want, "{lines:?}");
        }

        // At most OPEN lines are open: the oldest is judged alone once forgotten.
        let mut lines = vec![sudo("mallory", &format!("TTY=pts/0 ; PWD=/home/m ; USER=root ; {env} ;"))];
        let others =
            (0..SplitLines::OPEN).map(|n| sudo(&format!("u{n}"), "TTY=pts/1 ; PWD=/ ; USER=u ; COMMAND=/bin/id"));
        lines.extend(others);
        lines.push(more("mallory", "USER=nobody ; COMMAND=/bin/bash"));
        assert_eq!(judged(&lines).last(), Some(&false));
        lines.remove(1);
        assert_eq!(judged(&lines).last(), Some(&true));
    }

    /// sudo-rs ends a part with ` [...]` and starts the next with `[...] `, no user: the
    /// parts end to end are the line, split at a space or inside a word.
    #[test]
    fn sudo_rs_split_lines() {
        let pwd = format!("PWD=/tmp/{}", "d".repeat(880));
        let rs = |rest: &str| format!("Mar 16 08:25:22 web1 sudo: {rest}");
        let line = rs("[...]  USER=root ; COMMAND=/bin/bash [...]");
        let e = sudo(&line);
        assert_eq!((e.outcome, e.user, e.is_failure(), e.root_shell()), (Outcome::Continued, None, false, true));
        let cases: Vec<(Vec<String>, Vec<bool>)> = vec![
            (
                vec![rs(&format!("alice : TTY=pts/0 ; {pwd} ; USER=ro [...]")), rs("[...] ot ; COMMAND=/bin/bash")],
                vec![false, true],
            ),
            (
                vec![rs(&format!("alice : TTY=pts/0 ; {pwd} ; USER=bo [...]")), rs("[...] b ; COMMAND=/bin/bash")],
                vec![false, false],
            ),
            // At the space before `; USER=`: the part ends in two spaces, one of them sudo-rs's.
            (
                vec![rs(&format!("alice : TTY=pts/0 ; {pwd}  [...]")), rs("[...] ; USER=root ; COMMAND=/bin/sh")],
                vec![false, true],
            ),
            (
                vec![
                    rs(&format!("alice :  {pwd} ; USER=root ; COMMAND=/usr/bin/env A=1 [...]")),
                    rs(&format!("[...]  B={} [...]", "b".repeat(900))),
                    rs("[...]  bash"),
                ],
                vec![false, false, true],
            ),
            // Another user's whole line between two parts.
            (
                vec![
                    rs(&format!("alice : TTY=pts/0 ; {pwd} ; USER=ro [...]")),
                    rs("bob : TTY=pts/1 ; PWD=/ ; USER=bob ; COMMAND=/usr/bin/id"),
                    rs("[...] ot ; COMMAND=/bin/bash"),
                ],
                vec![false, false, true],
            ),
            // The part without ` [...]` ends the line: what comes after is judged alone.
            (
                vec![
                    rs(&format!("alice : TTY=pts/0 ; {pwd} ; USER=root [...]")),
                    rs("[...]  ; COMMAND=/usr/bin/id"),
                    rs("[...] USER=nobody ; COMMAND=/bin/bash"),
                ],
                vec![false, false, false],
            ),
        ];
        for (lines, want) in &cases {
            assert_eq!(&judged(lines), want, "{lines:?}");
        }
    }

    #[test]
    fn sudo_failures() {
        let e = sudo(
            "Jun 25 16:15:45 precise32 sudo:     mike : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/bin/ls",
        );
        assert_eq!((e.outcome, e.attempts, e.command), (Outcome::IncorrectPassword, Some(3), Some("/bin/ls")));
        assert!(e.is_failure());
        let e = sudo(
            "Feb 24 00:13:02 precise32 sudo:      tsg : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/vagrant ; USER=root ; COMMAND=/bin/ls",
        );
        assert_eq!((e.outcome, e.user), (Outcome::NotInSudoers, Some("tsg")));
        // Synthetic: other sudo refusal reasons.
        let e = sudo(
            "Mar 16 08:25:22 web1 sudo: bob : command not allowed ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/vim /etc/shadow",
        );
        assert_eq!(e.outcome, Outcome::CommandNotAllowed);
        let e = sudo(
            "Mar 16 08:25:22 web1 sudo: deploy : a password is required ; PWD=/srv ; USER=root ; COMMAND=/usr/bin/systemctl restart app",
        );
        assert_eq!((e.outcome, e.tty), (Outcome::PasswordRequired, None));

        let e = sudo(
            "Dec  7 14:52:59 vskub1master01p sudo: pam_unix(sudo:auth): authentication failure; logname=zbadguy uid=4001 euid=0 tty=/dev/pts/12 ruser=zbadguy rhost=  user=zbadguy",
        );
        assert_eq!((e.outcome, e.user, e.tty), (Outcome::AuthFailure, Some("zbadguy"), Some("/dev/pts/12")));
        // Synthetic: pam session lines, old and new pam_unix formats.
        let e = sudo(
            "Mar 16 08:25:22 web1 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
        );
        assert_eq!((e.outcome, e.target_user, e.user), (Outcome::SessionOpened, Some("root"), Some("alice")));
        let e = sudo("Mar 16 08:25:22 web1 sudo: pam_unix(sudo:session): session closed for user root");
        assert_eq!((e.outcome, e.target_user), (Outcome::SessionClosed, Some("root")));
        assert!(parse("pam_tally2(sudo:auth): user zbadguy (4001) tally 6, deny 5").is_none());
        // Synthetic: the continuation of a line sudo split is no refusal.
        for rest in
            ["(command continued) 3 incorrect password attempts ; TTY=pts/0", "(command continued) /tmp/b/c d e"]
        {
            let line = format!("mallory : {rest}");
            let e = parse(&line).unwrap();
            assert_eq!((e.outcome, e.reason), (Outcome::Continued, None), "{rest}");
        }
    }

    #[test]
    fn su_lines() {
        let e = su("Apr 22 17:51:51 enigma su: dcid to root on /dev/ttyp1");
        assert_eq!(
            (e.outcome, e.user, e.target_user, e.tty),
            (Outcome::Allowed, Some("dcid"), Some("root"), Some("/dev/ttyp1"))
        );
        assert!(e.root_shell());
        let e = su("Mar 16 08:25:22 node1 su[99]: Successful su for root by alice");
        assert_eq!((e.outcome, e.user, e.target_user), (Outcome::Allowed, Some("alice"), Some("root")));
        let e = su("Mar 16 08:25:22 node1 su[99]: FAILED su for root by mallory");
        assert_eq!((e.outcome, e.user, e.target_user), (Outcome::AuthFailure, Some("mallory"), Some("root")));
        assert!(parse_su("Successful su for root by alice and bob").is_none());
        assert!(parse_su("Successful su for  by alice").is_none());
        let e = su("Apr 27 15:22:23 niban su[234]: BAD SU ger to fwmaster on /dev/ttyp0");
        assert_eq!((e.outcome, e.user, e.target_user), (Outcome::AuthFailure, Some("ger"), Some("fwmaster")));
        let e = su("Apr 27 15:22:23 niban su[2921936]: failed: ttyq4 changing from ldap to root");
        assert_eq!(
            (e.outcome, e.user, e.target_user, e.tty),
            (Outcome::AuthFailure, Some("ldap"), Some("root"), Some("ttyq4"))
        );
        let e = su(
            "Apr 27 15:22:23 niban su(pam_unix)[2298]: authentication failure; logname= uid=1342 euid=0 tty= ruser=dcid rhost=  user=root",
        );
        assert_eq!((e.outcome, e.user, e.target_user), (Outcome::AuthFailure, Some("dcid"), Some("root")));
        let e = su("Nov 11 22:46:29 localhost su(pam_unix)[14592]: session opened for user news by (uid=0)");
        assert_eq!((e.outcome, e.target_user, e.user), (Outcome::SessionOpened, Some("news"), None));
        // Synthetic: util-linux su.
        let e = su("Mar 16 08:25:22 web1 su[999]: (to root) alice on pts/0");
        assert_eq!((e.user, e.target_user, e.tty), (Some("alice"), Some("root"), Some("pts/0")));
        assert!(e.root_shell());
        let e = su("Mar 16 08:25:22 web1 su[999]: FAILED SU (to root) alice on pts/0");
        assert_eq!(e.outcome, Outcome::AuthFailure);
        assert!(!e.root_shell());
    }

    #[test]
    fn shells_read_as_a_look_at_each_command_s_words_reads_them() {
        // Against the words of each command looked at to the end of the line.
        fn old_is_shell_command(cmd: &str) -> bool {
            let mut words = cmd.split(' ').filter(|w| !w.is_empty());
            let Some(prog) = words.next() else { return false };
            let base = prog.rsplit('/').next().unwrap_or(prog);
            if SHELLS.contains(&base) {
                return true;
            }
            if base == "sudo" || base == "env" {
                let rest: Vec<&str> = words.collect();
                return rest.iter().any(|w| *w == "-i" || *w == "-s")
                    || rest.iter().any(|w| SHELLS.contains(&w.rsplit('/').next().unwrap_or(w)));
            }
            false
        }
        fn old_scan(text: &str, seen: &mut Seen) -> bool {
            let mut shell = false;
            for field in key_fields(text) {
                match field {
                    KeyField::User(user) => {
                        seen.users = true;
                        seen.root |= user == "root";
                    }
                    KeyField::Command(_, command) => {
                        shell |= (seen.root || !seen.users) && old_is_shell_command(command)
                    }
                }
            }
            shell
        }
        let words = [
            " ; ",
            "COMMAND=",
            "USER=root",
            "USER=x",
            "env",
            "sudo",
            "/usr/bin/env",
            "bash",
            "/bin/sh",
            "-i",
            "-s",
            " ",
            "x",
            "/",
            "\t",
            "\n",
            "é",
            ";",
            "COMMAND=env",
            "sh/",
        ];
        let mut shells = 0;
        for text in crate::streams::word_texts(&words, 20000, 13) {
            for before in [Seen::default(), Seen { users: true, root: false }, Seen { users: true, root: true }] {
                let (mut old_seen, mut new_seen) = (before, before);
                let shell = old_scan(&text, &mut old_seen);
                shells += usize::from(shell);
                assert_eq!(scan(&text, &mut new_seen), shell, "{text:?} {before:?}");
                assert_eq!(new_seen, old_seen, "{text:?}");
            }
        }
        assert!(shells > 100, "{shells}");
        for (rest, root_shell) in [
            ("COMMAND=/usr/bin/env ; COMMAND=/bin/ls -l bash", true),
            ("COMMAND=/bin/ls ; COMMAND=/usr/bin/env -i", true),
            ("COMMAND=/usr/bin/env bash ; COMMAND=/bin/ls", true),
            ("COMMAND=/usr/bin/env ; COMMAND=/bin/ls -l", false),
            ("COMMAND=bash ; COMMAND=/usr/bin/env", true),
        ] {
            let line = format!("Mar 16 08:25:22 web1 sudo: alice : TTY=pts/0 ; PWD=/ ; USER=root ; {rest}");
            assert_eq!(sudo(&line).root_shell(), root_shell, "{rest}");
        }
    }

    #[test]
    fn corpus_sweep() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/authlog");
        let (mut total, mut parsed) = (0, 0);
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for line in text.lines() {
                let Some(l) = syslog::parse(line) else { continue };
                let r = match l.ident {
                    "sudo" => parse(l.message),
                    "su" | "su(pam_unix)" => parse_su(l.message),
                    _ => continue,
                };
                total += 1;
                match r {
                    Some(_) => parsed += 1,
                    None => println!("unparsed sudo/su: {}", l.message),
                }
            }
        }
        println!("sudo/su: parsed {parsed}/{total}");
        assert!(total >= 20 && parsed * 100 >= total * 90, "{parsed}/{total}");
    }
}
