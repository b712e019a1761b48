//! Parsers for host audit streams: syslog framing, sshd, sudo/su, Linux auditd and PostgreSQL pgaudit,
//! plus a small brute-force detector.
//!
//! Every parser borrows from the input line and allocates only where a value has to be rewritten
//! (hex decoding, CSV unquoting), because the filter runs inside an interpreted wasm runtime where each
//! instruction and allocation per record counts. Parsers return `None` for lines they do not recognise;
//! they never panic on arbitrary input. How a parsed line becomes members of the record is
//! [`crate::hoststreams`]'s business.

use crate::json;

pub mod auditd;
pub mod bruteforce;
pub mod pgaudit;
pub mod ssh;
pub mod sudo;
pub mod syslog;

/// Substring search for the short ASCII separators the line parsers cut at (`" port "`,
/// `": "`). `str::find` with a `&str` pattern sets up a Two-Way searcher on every call, which
/// costs more in the interpreter than these lines are long; this scans for the first byte
/// eight bytes at a time and compares the rest where it is found. The pattern must be ASCII,
/// so that every match starts and ends on a character boundary.
pub trait ShortPattern {
    fn find_short(&self, pat: &str) -> Option<usize>;
    fn rfind_short(&self, pat: &str) -> Option<usize>;
    fn contains_short(&self, pat: &str) -> bool {
        self.find_short(pat).is_some()
    }
    fn split_once_short(&self, pat: &str) -> Option<(&str, &str)>;
    fn rsplit_once_short(&self, pat: &str) -> Option<(&str, &str)>;
    /// The text before the first `pat`, or all of it (`split(pat).next()`).
    fn before_short(&self, pat: &str) -> &str;
}

impl ShortPattern for str {
    fn find_short(&self, pat: &str) -> Option<usize> {
        debug_assert!(pat.is_ascii());
        find_bytes(self.as_bytes(), pat.as_bytes())
    }

    fn rfind_short(&self, pat: &str) -> Option<usize> {
        debug_assert!(pat.is_ascii());
        let (h, p) = (self.as_bytes(), pat.as_bytes());
        let Some(&first) = p.first() else { return Some(h.len()) };
        (0..=h.len().checked_sub(p.len())?).rev().find(|&i| h[i] == first && h[i..i + p.len()] == *p)
    }

    fn split_once_short(&self, pat: &str) -> Option<(&str, &str)> {
        self.find_short(pat).map(|i| (&self[..i], &self[i + pat.len()..]))
    }

    fn rsplit_once_short(&self, pat: &str) -> Option<(&str, &str)> {
        self.rfind_short(pat).map(|i| (&self[..i], &self[i + pat.len()..]))
    }

    fn before_short(&self, pat: &str) -> &str {
        self.find_short(pat).map_or(self, |i| &self[..i])
    }
}

/// Where `pat` starts in `s`, first to last, one [`ShortPattern::find_short`] each (matches
/// may overlap).
pub(crate) fn find_all_short<'a>(s: &'a str, pat: &'a str) -> impl Iterator<Item = usize> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = from + s[from..].find_short(pat)?;
        from = at + 1;
        Some(at)
    })
}

/// Where `pat` starts in `s`, last to first, each match ending before the one found after it.
pub(crate) fn rfind_all_short<'a>(s: &'a str, pat: &'a str) -> impl Iterator<Item = usize> + 'a {
    let mut end = s.len();
    std::iter::from_fn(move || {
        let at = s[..end].rfind_short(pat)?;
        end = at;
        Some(at)
    })
}

/// The first `p` in `h` (see [`ShortPattern`]: a first-byte scan, for short patterns).
pub fn find_bytes(h: &[u8], p: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = p.split_first() else { return Some(0) };
    let last_start = h.len().checked_sub(p.len())?;
    let mut from = 0;
    while let Some(i) = find_byte(h, first, from).filter(|&i| i <= last_start) {
        if h[i + 1..i + p.len()] == *rest {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// Where an FNV-1a hash starts.
pub(crate) const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a of `bytes`, continuing from `h` ([`FNV_START`] for a new hash): the small keys of
/// the streams' bounded tables (a connection, an audit event, a split sudo line).
pub(crate) fn fnv1a(h: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The first `byte` in `h` at or after `from`, eight bytes at a time.
pub(crate) fn find_byte(h: &[u8], byte: u8, from: usize) -> Option<usize> {
    let at = json::first_flagged(h, from, |word| json::zero_bytes(word ^ json::splat(byte)));
    h.get(at..)?.iter().position(|&c| c == byte).map(|i| at + i)
}

/// [`find_byte`] for whichever of two bytes comes first.
pub(crate) fn find_either(h: &[u8], a: u8, b: u8, from: usize) -> Option<usize> {
    let flags = |word: u64| json::zero_bytes(word ^ json::splat(a)) | json::zero_bytes(word ^ json::splat(b));
    let at = json::first_flagged(h, from, flags);
    h.get(at..)?.iter().position(|&c| c == a || c == b).map(|i| at + i)
}

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

/// Four groups of one to three digits, joined by dots. One loop over the bytes: a
/// `str::split` iterator costs more per group than these groups are long.
pub fn is_ipv4(s: &str) -> bool {
    let (mut groups, mut digits) = (1, 0);
    for &c in s.as_bytes() {
        match c {
            b'0'..=b'9' if digits < 3 => digits += 1,
            b'.' if digits > 0 => (groups, digits) = (groups + 1, 0),
            _ => return false,
        }
    }
    groups == 4 && digits > 0
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
    // The word scan of `find_byte`, not `str::find`'s searcher set up per call.
    match find_byte(s.as_bytes(), b' ', 0) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// `n` pseudo-random texts of up to `most - 1` of `words` each, the same on every run: inputs
/// for tests that check a parser against a plainer formulation of it.
#[cfg(test)]
pub(crate) fn word_texts(words: &[&str], n: usize, most: u32) -> Vec<String> {
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        seed
    };
    (0..n).map(|_| (0..next() % most).map(|_| words[(next() >> 16) as usize % words.len()]).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_patterns_find_what_str_finds() {
        let lines = [
            "Failed password for invalid user admin from 203.0.113.100 port 35498 ssh2",
            "Accepted publickey for u from 2001:db8::1 port 22 ssh2: ED25519 SHA256:abc",
            "port port  port",
            "é from ünïcode from x: y: z",
            "",
            " ",
            "xx from",
            "from x",
            "a: b",
        ];
        let pats = [" from ", " port ", ": ", " (", "] ", "port", " ", "ssh2", " for ", "x", ""];
        for line in lines {
            for pat in pats {
                // Also at every start and end offset, so matches fall in every word position.
                for (from, to) in [(0, line.len()), (1, line.len()), (0, line.len().saturating_sub(1))] {
                    let Some(h) = line.get(from..to) else { continue };
                    assert_eq!(h.find_short(pat), h.find(pat), "{h:?} {pat:?}");
                    assert_eq!(h.rfind_short(pat), h.rfind(pat), "{h:?} {pat:?}");
                    assert_eq!(h.contains_short(pat), h.contains(pat), "{h:?} {pat:?}");
                    assert_eq!(h.split_once_short(pat), h.split_once(pat), "{h:?} {pat:?}");
                    assert_eq!(h.rsplit_once_short(pat), h.rsplit_once(pat), "{h:?} {pat:?}");
                    assert_eq!(h.before_short(pat), h.split(pat).next().unwrap(), "{h:?} {pat:?}");
                }
            }
        }
        // The byte scan at every position of a line longer than a word.
        let line = "a".repeat(40);
        for at in 0..40 {
            let mut with = line.clone();
            with.replace_range(at..at + 1, "b");
            assert_eq!(find_byte(with.as_bytes(), b'b', 0), Some(at));
            assert_eq!(find_byte(with.as_bytes(), b'b', at + 1), None);
            assert_eq!(find_byte(with.as_bytes(), b'b', at), Some(at));
            // Either of two bytes: the first, from wherever the search starts.
            with.push('c');
            assert_eq!(find_either(with.as_bytes(), b'c', b'b', 0), Some(at));
            assert_eq!(find_either(with.as_bytes(), b'b', b'c', at + 1), Some(40));
            assert_eq!(find_either(with.as_bytes(), b'x', b'y', 0), None);
        }
    }

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
        // IPv4 shapes, against the rule: four non-empty groups of at most three digits.
        let rule = |s: &str| {
            let groups: Vec<&str> = s.split('.').collect();
            groups.len() == 4
                && groups.iter().all(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
        };
        for s in [
            "10.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.",
            ".1.2.3",
            "1..2.3",
            "1.2.3.4567",
            "1234.1.1.1",
            "1.2.3.a",
            "",
            ".",
            "...",
            "1.2.3.4 ",
            "٣.1.1.1",
            "01.002.3.4",
        ] {
            assert_eq!(is_ipv4(s), rule(s), "{s:?}");
        }
    }
}
