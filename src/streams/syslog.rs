//! Splits a raw syslog line into timestamp, host, ident (app name), pid and message.
//!
//! Accepted framings:
//! * BSD / RFC 3164: `Mar 16 08:25:22 host sshd[1234]: msg`, optionally with `<pri>`, the host may be
//!   missing (`Mar 16 08:25:22 sshd[1234]: msg`) and the pid too (`sudo: msg`);
//! * ISO timestamps as rsyslog's high-precision template writes them
//!   (`2024-03-16T08:25:22.123456+00:00 host sshd[1234]: msg`, also `2020-03-23 06:47:42.801612-0700`);
//! * RFC 5424: `<34>1 2024-03-16T08:25:22Z host sshd 1234 - - msg` with structured data `-` or `[...]`;
//! * journal short form without timestamp (`host sshd[1234]: msg`), only when the tag carries a pid,
//!   because without a timestamp and a pid almost any text would look like syslog.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Bsd,
    Iso,
    Rfc5424,
    NoTimestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogLine<'a> {
    pub format: Format,
    pub priority: Option<u16>,
    /// Timestamp text as written (not normalised: BSD timestamps have no year or zone).
    pub timestamp: Option<&'a str>,
    pub host: Option<&'a str>,
    /// Program name, e.g. `sshd`, `sshd-session`, `sudo`, `sshd(pam_unix)`.
    pub ident: &'a str,
    pub pid: Option<u32>,
    pub message: &'a str,
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Parses one line; `None` when it is not in a recognised syslog framing.
pub fn parse(line: &str) -> Option<SyslogLine<'_>> {
    let line = line.trim_end_matches(['\n', '\r']);
    let (priority, rest) = split_priority(line);
    if let Some(r) = rest.strip_prefix("1 ")
        && priority.is_some()
    {
        return parse_5424(priority, r);
    }
    if let Some((ts, after)) = bsd_timestamp(rest) {
        return header(Format::Bsd, priority, Some(ts), after);
    }
    if let Some((ts, after)) = iso_timestamp(rest) {
        return header(Format::Iso, priority, Some(ts), after);
    }
    if priority.is_none() {
        let parsed = header(Format::NoTimestamp, None, None, rest)?;
        if parsed.host.is_some() && parsed.pid.is_some() {
            return Some(parsed);
        }
    }
    None
}

fn split_priority(line: &str) -> (Option<u16>, &str) {
    if let Some(r) = line.strip_prefix('<')
        && let Some(end) = r.find('>')
        && (1..=3).contains(&end)
        && let Ok(p) = r[..end].parse::<u16>()
    {
        return (Some(p), &r[end + 1..]);
    }
    (None, line)
}

fn all_digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

/// `Mmm dd HH:MM:SS` with a one- or two-digit (space-padded) day and an optional fraction.
fn bsd_timestamp(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    if b.len() < 15 || !MONTHS.contains(&s.get(..3)?) || b[3] != b' ' {
        return None;
    }
    let mut i = 4;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let day_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if !(1..=2).contains(&(i - day_start)) || b.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let t = b.get(i..i + 8)?;
    if !(all_digits(&t[..2]) && t[2] == b':' && all_digits(&t[3..5]) && t[5] == b':' && all_digits(&t[6..8])) {
        return None;
    }
    i += 8;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    match b.get(i) {
        Some(b' ') => Some((&s[..i], &s[i + 1..])),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac][zone]`, also with a space instead of `T`.
fn iso_timestamp(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    if b.len() < 20 || !all_digits(&b[..4]) || b[4] != b'-' || b[7] != b'-' || !all_digits(&b[11..13]) || b[13] != b':'
    {
        return None;
    }
    if b[10] != b'T' && b[10] != b' ' {
        return None;
    }
    let end = s[11..].find(' ').map(|i| i + 11)?;
    Some((&s[..end], &s[end + 1..]))
}

/// Host (optional) and `ident[pid]:` tag, then the message.
fn header<'a>(format: Format, priority: Option<u16>, timestamp: Option<&'a str>, s: &'a str) -> Option<SyslogLine<'a>> {
    let s = s.trim_start_matches(' ');
    let (first, after_first) = super::next_token(s);
    let (host, tag_src) = if first.ends_with(':') { (None, s) } else { (Some(first), after_first) };
    let (ident, pid, message) = tag(tag_src)?;
    Some(SyslogLine { format, priority, timestamp, host, ident, pid, message })
}

fn tag(s: &str) -> Option<(&str, Option<u32>, &str)> {
    let s = s.trim_start_matches(' ');
    let (tok, rest) = match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let tag = tok.strip_suffix(':')?;
    let (ident, pid) = match tag.strip_suffix(']').and_then(|t| t.rfind('[').map(|i| (&t[..i], &t[i + 1..]))) {
        Some((ident, pid)) => (ident, Some(pid.parse::<u32>().ok()?)),
        None => (tag, None),
    };
    if ident.is_empty() || ident.contains(['[', ']']) {
        return None;
    }
    Some((ident, pid, rest))
}

fn nil(t: &str) -> Option<&str> {
    if t == "-" { None } else { Some(t) }
}

fn parse_5424(priority: Option<u16>, s: &str) -> Option<SyslogLine<'_>> {
    let (ts, s) = super::next_token(s);
    let (host, s) = super::next_token(s);
    let (app, s) = super::next_token(s);
    let (procid, s) = super::next_token(s);
    let (_msgid, s) = super::next_token(s);
    if app.is_empty() {
        return None;
    }
    let s = s.trim_start_matches(' ');
    let msg = if let Some(r) = s.strip_prefix('-') {
        r
    } else if s.starts_with('[') {
        skip_structured_data(s)?
    } else {
        return None;
    };
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    Some(SyslogLine {
        format: Format::Rfc5424,
        priority,
        timestamp: nil(ts),
        host: nil(host),
        ident: if app == "-" { "" } else { app },
        pid: procid.parse().ok(),
        message: msg,
    })
}

/// Skips one or more `[id k="v" ...]` elements. Inside quotes `\"`, `\]` and `\\` are escapes and a
/// bare `]` does not close the element (some senders do not escape it).
fn skip_structured_data(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        i += 1;
        let mut in_quotes = false;
        loop {
            match *b.get(i)? {
                b'\\' if in_quotes => i += 1,
                b'"' => in_quotes = !in_quotes,
                b']' if !in_quotes => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    Some(&s[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> SyslogLine<'_> {
        parse(line).unwrap_or_else(|| panic!("not parsed: {line}"))
    }

    #[test]
    fn bsd() {
        let l = p("Feb 12 14:10:21 sd-126005 sshd[16378]: Invalid user pascal from 35.188.49.176 port 53502");
        assert_eq!(l.format, Format::Bsd);
        assert_eq!(l.timestamp, Some("Feb 12 14:10:21"));
        assert_eq!(l.host, Some("sd-126005"));
        assert_eq!((l.ident, l.pid), ("sshd", Some(16378)));
        assert_eq!(l.message, "Invalid user pascal from 35.188.49.176 port 53502");

        let l = p("Jul  3 14:59:17 host sshd-session[1571]: Failed password for root from 192.0.2.1 port 56502 ssh2");
        assert_eq!((l.timestamp, l.ident, l.pid), (Some("Jul  3 14:59:17"), "sshd-session", Some(1571)));

        let l = p("Apr 22 17:51:51 enigma su: dcid to root on /dev/ttyp1");
        assert_eq!((l.host, l.ident, l.pid, l.message), (Some("enigma"), "su", None, "dcid to root on /dev/ttyp1"));

        let l = p("Nov 2 15:40:14 workshop sshd[28179]: pam_unix(sshd:auth): authentication failure;");
        assert_eq!(l.host, Some("workshop"));

        let l = p("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0");
        assert_eq!((l.ident, l.pid), ("sshd(pam_unix)", Some(19939)));

        // Host missing (seen in fail2ban's sshd fixtures).
        let l = p("Nov 23 21:50:19 sshd[8148]: Disconnecting: Too many authentication failures for root [preauth]");
        assert_eq!((l.host, l.ident, l.pid), (None, "sshd", Some(8148)));

        let l = p("Feb 24 00:13:02 precise32 sudo:      tsg : user NOT in sudoers ; TTY=pts/1");
        assert_eq!((l.ident, l.message), ("sudo", "     tsg : user NOT in sudoers ; TTY=pts/1"));
    }

    #[test]
    fn iso() {
        let l = p("2015-04-16T18:02:50.321974+00:00 host sshd[2716]: Connection closed by 192.0.2.112 [preauth]");
        assert_eq!(l.format, Format::Iso);
        assert_eq!(l.timestamp, Some("2015-04-16T18:02:50.321974+00:00"));
        assert_eq!((l.host, l.ident, l.pid), (Some("host"), "sshd", Some(2716)));

        let l = p(
            "2020-03-23 06:47:42.801612-0700  localhost sshd[3186]: error: PAM: unknown user for illegal user badguy from 192.168.33.1",
        );
        assert_eq!(l.timestamp, Some("2020-03-23 06:47:42.801612-0700"));
        assert_eq!((l.host, l.ident), (Some("localhost"), "sshd"));
    }

    #[test]
    fn rfc5424() {
        let l = p(
            "<38>1 2022-01-19T14:23:55+00:00 OPNsense.localdomain sshd 44255 - [meta sequenceId=\"1\"] Invalid user tutu from 1.2.3.4 port 33166",
        );
        assert_eq!(l.format, Format::Rfc5424);
        assert_eq!(l.priority, Some(38));
        assert_eq!((l.host, l.ident, l.pid), (Some("OPNsense.localdomain"), "sshd", Some(44255)));
        assert_eq!(l.message, "Invalid user tutu from 1.2.3.4 port 33166");

        let l = p(
            "<38>1 2019-07-08T17:40:17.954167-04:00 hostname.example.com sshd 55555 - [timeQuality tzKnown=\"1\" isSynced=\"0\"][xxx@123 test=\"[brackets]\"] Failed unknown for invalid user redmond from 192.0.2.2 port 55555 ssh2",
        );
        assert_eq!(l.message, "Failed unknown for invalid user redmond from 192.0.2.2 port 55555 ssh2");

        let l = p("<34>1 2024-03-16T08:25:22Z host sshd 1234 - - Accepted publickey for alice");
        assert_eq!((l.timestamp, l.message), (Some("2024-03-16T08:25:22Z"), "Accepted publickey for alice"));
    }

    #[test]
    fn journal_short_and_rejects() {
        let l = p("srv sshd[13709]: error: PAM: Authentication failure for myhlj1374 from 192.030.0.6");
        assert_eq!((l.format, l.host, l.ident), (Format::NoTimestamp, Some("srv"), "sshd"));
        assert!(parse("hello world").is_none());
        assert!(parse("").is_none());
        assert!(parse("type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e").is_none());
        assert!(parse("Mar  3 00:17:22 [sshd]: User root from 211.188.220.49").is_none());
        assert!(parse("<38>1 2022").is_none());
        assert!(parse("<38>1 2022-01-19T14:23:55+00:00 h sshd 1 - [unterminated").is_none());
    }

    #[test]
    fn every_authlog_line_is_safe() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/authlog");
        let (mut total, mut parsed) = (0, 0);
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                total += 1;
                parsed += usize::from(parse(line).is_some());
            }
        }
        println!("syslog: {parsed}/{total} authlog lines split");
        assert!(parsed * 100 >= total * 97, "{parsed}/{total}");
    }
}
