//! Parsers for host audit streams: syslog framing, sshd, sudo/su, Linux auditd and PostgreSQL pgaudit,
//! plus a small brute-force detector.
//!
//! Every parser borrows from the input line and allocates only where a value has to be rewritten
//! (hex decoding, CSV unquoting), because the filter runs inside an interpreted wasm runtime where each
//! instruction and allocation per record counts. Parsers return `None` for lines they do not recognise;
//! they never panic on arbitrary input. How a parsed line becomes members of the record is
//! [`crate::hoststreams`]'s business.

pub mod auditd;
pub mod bruteforce;
pub mod pgaudit;
pub mod ssh;
pub mod sudo;
pub mod syslog;

/// Matches `text` against a pattern where a `*` at the start and/or end is a wildcard
/// (`*` alone matches everything). A `*` elsewhere is literal: full glob semantics are not needed
/// for object, command or path names and would cost more per record.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    wildcard_match_with(pattern, text, false)
}

/// Like [`wildcard_match`], but compares ASCII case-insensitively (keywords such as pgaudit classes).
pub fn wildcard_match_ignore_case(pattern: &str, text: &str) -> bool {
    wildcard_match_with(pattern, text, true)
}

fn wildcard_match_with(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| if ignore_case { a.eq_ignore_ascii_case(b) } else { a == b };
    let (starts, rest) = match pattern.strip_prefix('*') {
        Some(r) => (true, r),
        None => (false, pattern),
    };
    let (ends, core) = match rest.strip_suffix('*') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (t, c) = (text.as_bytes(), core.as_bytes());
    match (starts, ends) {
        (false, false) => eq(core, text),
        (true, false) => {
            t.len() >= c.len() && text.is_char_boundary(t.len() - c.len()) && eq(core, &text[t.len() - c.len()..])
        }
        (false, true) => t.len() >= c.len() && text.is_char_boundary(c.len()) && eq(core, &text[..c.len()]),
        (true, true) => {
            if c.is_empty() {
                return true;
            }
            if t.len() < c.len() {
                return false;
            }
            (0..=t.len() - c.len()).any(|i| {
                text.is_char_boundary(i) && text.is_char_boundary(i + c.len()) && eq(core, &text[i..i + c.len()])
            })
        }
    }
}

/// True when `s` is an IPv4 dotted quad or an IPv6 literal (optionally with an IPv4 tail).
/// A cheap shape check, not a full validator: it separates addresses from host names.
pub fn is_ip_literal(s: &str) -> bool {
    is_ipv4(s) || is_ipv6(s)
}

pub fn is_ipv4(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split('.') {
        parts += 1;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    parts == 4
}

pub fn is_ipv6(s: &str) -> bool {
    let colons = s.bytes().filter(|&b| b == b':').count();
    // Full form has 7 colons; shorter forms need `::`. This keeps `08:25:22` out.
    if !(colons == 7 || (2..7).contains(&colons) && s.contains("::")) {
        return false;
    }
    // An embedded IPv4 tail (`::ffff:1.2.3.4`) is allowed after the last colon.
    let (head, tail) = match s.rfind(':') {
        Some(i) if s[i + 1..].contains('.') => (&s[..i + 1], Some(&s[i + 1..])),
        _ => (s, None),
    };
    head.split(':').all(|g| g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit())) && tail.is_none_or(is_ipv4)
}

/// Splits off the first space-delimited token, skipping leading spaces.
pub(crate) fn next_token(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(' ');
    match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("app.users", "app.users"));
        assert!(!wildcard_match("app.users", "app.users2"));
        assert!(wildcard_match("app.*", "app.emailsSent"));
        assert!(wildcard_match("*Sent", "app.emailsSent"));
        assert!(wildcard_match("*emails*", "app.emailsSent"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("app.*", "ap"));
        assert!(wildcard_match_ignore_case("write", "WRITE"));
        assert!(!wildcard_match("*é*", "e"));
        assert!(wildcard_match("*é", "café"));
    }

    #[test]
    fn ip_shapes() {
        assert!(is_ip_literal("192.0.2.1"));
        assert!(is_ip_literal("2001:db8::80da:af6b:8b2c"));
        assert!(is_ip_literal("::ffff:1.2.3.4"));
        assert!(is_ip_literal("aaaa:bbbb:cccc:1234::1:1"));
        assert!(!is_ip_literal("example.com"));
        assert!(!is_ip_literal("ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn"));
        assert!(!is_ip_literal("1.2.3"));
        assert!(!is_ip_literal("08:25:22"));
    }
}
