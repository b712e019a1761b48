//! A small JSON scanner and editor that never recurses on the input's structure.
//!
//! Why not `serde_json::Value`: Fluent Bit runs the module on an 8 KiB interpreter stack,
//! and a recursive parser of a real audit event overflows it (the record is then lost).
//! Building a tree per record is also the most expensive thing a filter can do in an
//! interpreter. So this module works on the record's bytes: it walks the members of one
//! object at a time, skips values with an explicit bracket stack, and rewrites an object
//! by copying untouched members verbatim. Nesting depth costs heap bits, not stack.
//!
//! Validation is structural: strings are terminated and their escapes well formed,
//! brackets balance and match, members have `"key":value` shape, literals and numbers
//! are made of the characters they may contain. Fluent Bit only ever hands the module JSON
//! it rendered itself; the checks exist so that anything else is recognised and passed
//! through untouched instead of being misread.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// Why a text is not the JSON the module expected; the record then passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// The text ended inside a value.
    Truncated,
    /// An unexpected byte at this offset.
    Unexpected(usize),
    /// The top-level value is not an object.
    NotAnObject,
    /// A number at this offset that a double cannot hold (`1e999`): Fluent Bit's JSON
    /// parser (yyjson) refuses the text, so a reply holding it would lose the record.
    NumberOutOfRange(usize),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Truncated => f.write_str("JSON text ends inside a value"),
            JsonError::Unexpected(at) => write!(f, "unexpected byte at offset {at}"),
            JsonError::NotAnObject => f.write_str("JSON value is not an object"),
            JsonError::NumberOutOfRange(at) => write!(f, "number at offset {at} is beyond a double's range"),
        }
    }
}

type Result<T> = std::result::Result<T, JsonError>;

/// A byte range of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn of<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..self.end]
    }
}

/// One `"key": value` member of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The key's characters between the quotes, still escaped.
    pub key: Span,
    /// The key is plain (ASCII, no escapes): its bytes are its name. Otherwise it is
    /// compared decoded.
    pub key_plain: bool,
    /// The raw value, from its first to its last byte.
    pub value: Span,
    /// The value is a plain string: its bytes between the quotes are its text.
    pub value_plain: bool,
}

impl Member {
    /// Whether the key equals `name` (escaped keys are compared decoded).
    pub fn key_is(&self, b: &[u8], name: &str) -> bool {
        let raw = &b[self.key.start..self.key.end];
        if self.key_plain {
            return raw == name.as_bytes();
        }
        std::str::from_utf8(raw).is_ok_and(|raw| unescape(raw) == name)
    }

    /// The value as a string, decoded (borrowed as it lies when the walk found it plain);
    /// `None` if it is not a string.
    pub fn value_str<'t>(&self, text: &'t str) -> Option<Cow<'t, str>> {
        if self.value_plain {
            return Some(Cow::Borrowed(&text[self.value.start + 1..self.value.end - 1]));
        }
        as_str(text, self.value)
    }

    /// The value as a string's decoded bytes (UTF-8 when `b` is, unchecked), borrowed as
    /// it lies when the walk found it plain; `None` if it is not a string.
    pub fn value_bytes<'t>(&self, b: &'t [u8]) -> Option<Cow<'t, [u8]>> {
        let inner = b[self.value.start..self.value.end].strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        Some(if self.value_plain { Cow::Borrowed(inner) } else { unescape_bytes(inner) })
    }

    /// [`Member::value_str`] in bytes not known to be UTF-8 as a whole: only this value is
    /// checked.
    pub fn value_str_at<'t>(&self, b: &'t [u8]) -> Option<Cow<'t, str>> {
        if self.value_plain {
            return std::str::from_utf8(&b[self.value.start + 1..self.value.end - 1]).ok().map(Cow::Borrowed);
        }
        str_at(b, self.value)
    }
}

/// A short name (at most 16 bytes) packed into two integers and its length.
///
/// Matching a key against a list of known names with slice patterns compiles, in wasm,
/// into byte-by-byte decision trees and `memcmp` calls: hundreds of instructions per
/// member. Packed names compare in a few integer instructions, and constants built
/// with [`Name::of`] can be used as `match` patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name(u64, u64, usize);

impl Name {
    /// The name of a constant (at compile time); longer than 16 bytes does not compile.
    pub const fn of(s: &str) -> Name {
        let b = s.as_bytes();
        assert!(b.len() <= 16, "names longer than 16 bytes cannot be packed");
        let mut words = [0u64; 2];
        let mut i = 0;
        while i < b.len() {
            words[i / 8] |= (b[i] as u64) << (8 * (i % 8));
            i += 1;
        }
        Name(words[0], words[1], b.len())
    }

    /// The name in `b[span]`; a longer one packs to a value no constant equals.
    #[inline(always)]
    pub fn at(b: &[u8], span: Span) -> Name {
        let len = span.end - span.start;
        if len > 16 {
            return Name(0, 0, len);
        }
        let word = |from: usize, n: usize| -> u64 {
            if n == 0 {
                return 0;
            }
            // One unaligned load when eight bytes are readable (the usual case: a key is
            // followed by at least `":x}`), else byte by byte.
            let w = match b.get(from..from + 8) {
                Some(c) => le_word(c),
                None => b[from..from + n].iter().rev().fold(0, |w, &c| (w << 8) | u64::from(c)),
            };
            if n >= 8 { w } else { w & (u64::MAX >> (64 - 8 * n)) }
        };
        let first = len.min(8);
        Name(word(span.start, first), word(span.start + first, len - first), len)
    }
}

/// The offset of the first byte at or after `pos` that is not JSON whitespace.
pub fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

/// `pos` is at an opening quote; returns the offset after the closing quote and whether
/// the string is plain: ASCII without escapes, so that its bytes are its text.
///
/// Strings are most of an audit event's bytes, and the module runs in an interpreter
/// where every instruction counts: eight bytes are tested at a time for the only bytes
/// that need a look (`"`, `\\`, control characters, and here non-ASCII), then the loop
/// steps byte by byte only from the first of them.
#[inline(always)]
fn scan_string(b: &[u8], pos: usize) -> Result<(usize, bool)> {
    // Inlined fast path: most strings are short and plain, and a call returning a
    // `Result` through memory would cost more than the scan.
    let i = skip_plain::<true>(b, pos + 1);
    if b.get(i) == Some(&b'"') {
        return Ok((i + 1, true));
    }
    scan_string_rest(b, i)
}

/// [`scan_string`] from `i`, where the word scan stopped: at a byte that needs a look, or
/// within the last eight bytes of `b`, which are read one by one (the last member of a
/// record, often a host line in `log`, ends there: it is plain all the same).
#[inline(never)]
fn scan_string_rest(b: &[u8], mut i: usize) -> Result<(usize, bool)> {
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => return Ok((i + 1, true)),
            b'\\' | 0..=0x1f | 0x80.. => break,
            _ => i += 1,
        }
    }
    scan_string_from(b, i).map(|end| (end, false))
}

/// [`scan_string`] for a key at `pos`, which also returns its [`Name`] when it is plain and
/// at most 16 bytes long (most keys) and the 16 bytes after its opening quote (17 for a
/// 16-byte key, with its closing quote) are readable: the two words the scan loads are the
/// name, and no loop is entered.
#[inline(always)]
fn scan_key(b: &[u8], pos: usize) -> Result<(usize, bool, Option<Name>)> {
    if let Some(c) = b.get(pos + 1..pos + 17) {
        let (w0, w1) = (le_word(&c[..8]), le_word(&c[8..]));
        let low_bytes = |w: u64, n: usize| w & (1u64 << (8 * n)).wrapping_sub(1);
        let first_hit = |w: u64| {
            let hits = special_bytes(w) | (w & HIGH_BITS);
            (hits != 0).then(|| (hits.trailing_zeros() / 8) as usize)
        };
        // The lowest flagged byte is exact: when it is the closing quote, every byte
        // before it is plain.
        match first_hit(w0) {
            Some(n) if c[n] == b'"' => return Ok((pos + 2 + n, true, Some(Name(low_bytes(w0, n), 0, n)))),
            Some(_) => {}
            None => match first_hit(w1) {
                Some(n) if c[8 + n] == b'"' => {
                    return Ok((pos + 10 + n, true, Some(Name(w0, low_bytes(w1, n), 8 + n))));
                }
                None if b.get(pos + 17) == Some(&b'"') => return Ok((pos + 18, true, Some(Name(w0, w1, 16)))),
                _ => {}
            },
        }
    }
    let (end, plain) = scan_string(b, pos)?;
    Ok((end, plain, None))
}

/// [`scan_string`] from `i`, inside the string, on the first byte that needs a look.
/// Non-ASCII text is scanned eight bytes at a time here too.
#[inline(never)]
fn scan_string_from(b: &[u8], mut i: usize) -> Result<usize> {
    loop {
        i = skip_plain::<false>(b, i);
        let Some(&c) = b.get(i) else {
            return Err(JsonError::Truncated);
        };
        match c {
            b'"' => return Ok(i + 1),
            b'\\' => match b.get(i + 1) {
                None => return Err(JsonError::Truncated),
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = b.get(i + 2..i + 6).ok_or(JsonError::Truncated)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(JsonError::Unexpected(i));
                    }
                    i += 6;
                }
                Some(_) => return Err(JsonError::Unexpected(i + 1)),
            },
            0..=0x1f => return Err(JsonError::Unexpected(i)),
            _ => i += 1,
        }
    }
}

/// Whether the JSON value `b` (checked) nests objects and arrays more than `max` deep, the
/// outermost counting 1. Most records hold fewer brackets than `max` in all, which settles
/// it without following strings.
pub fn nesting_exceeds(b: &[u8], max: usize) -> bool {
    if opening_brackets(b) <= max {
        return false;
    }
    let (mut depth, mut i) = (0usize, 0);
    while let Some(&c) = b.get(i) {
        i += 1;
        match c {
            b'"' => match scan_string_from(b, i) {
                Ok(end) => i = end,
                Err(_) => return false,
            },
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// How many bytes of `b` are `{` or `[`, counted eight at a time: `[` (0x5b) and `{` (0x7b)
/// are the only bytes that become 0x7b with bit 0x20 set.
fn opening_brackets(b: &[u8]) -> usize {
    const LOW_SEVEN: u64 = !HIGH_BITS;
    let mut words = b.chunks_exact(8);
    let mut count = 0;
    for word in &mut words {
        let w = (le_word(word) | splat(0x20)) ^ splat(b'{');
        // High bit set in exactly the zero bytes of `w`.
        let nonzero = ((w & LOW_SEVEN).wrapping_add(LOW_SEVEN)) | w;
        count += (!nonzero & HIGH_BITS).count_ones() as usize;
    }
    count + words.remainder().iter().filter(|&&c| c | 0x20 == b'{').count()
}

/// From `i`, skips eight bytes at a time while none of them is special (see
/// [`special_bytes`]; with `STOP_AT_NON_ASCII`, bytes above 0x7f too); returns the offset
/// of the first special byte of the last word read, or where fewer than eight bytes remain.
#[inline(always)]
fn skip_plain<const STOP_AT_NON_ASCII: bool>(b: &[u8], i: usize) -> usize {
    first_flagged(b, i, |word| special_bytes(word) | if STOP_AT_NON_ASCII { word & HIGH_BITS } else { 0 })
}

/// From `i`, tests `b` eight bytes at a time with `flags` (the high bit set in each byte
/// that ends the scan, exact for the lowest); returns the offset of the first flagged
/// byte, or where fewer than eight bytes remain. No set-up before the first word: most
/// strings end within one or two.
#[inline(always)]
pub(crate) fn first_flagged(b: &[u8], i: usize, flags: impl Fn(u64) -> u64) -> usize {
    let mut at = i;
    while let Some(chunk) = b.get(at..at + 8) {
        let hits = flags(le_word(chunk));
        if hits != 0 {
            return at + (hits.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at
}

/// The first eight bytes of `c` (at least eight) as one little-endian integer: one
/// unaligned load in wasm.
#[inline(always)]
pub(crate) fn le_word(c: &[u8]) -> u64 {
    u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
}

/// Byte equality without a `memcmp` call: in the wasm module, `==` on slices calls the C
/// library's byte loop, several times the cost of comparing short names (a request's, a
/// member's key) eight bytes at a time.
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (words_a, words_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails = words_a.remainder().iter().zip(words_b.remainder()).all(|(x, y)| x == y);
    tails && words_a.zip(words_b).all(|(x, y)| le_word(x) == le_word(y))
}

/// The lowest and the highest bit of each byte of a word.
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
pub(crate) const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// `byte` in each of the eight bytes of a word.
pub(crate) const fn splat(byte: u8) -> u64 {
    LOW_BITS * byte as u64
}

/// High bit set in each zero byte of `word` (exact for the lowest one; the borrow may flag
/// bytes above it, never below).
#[inline(always)]
pub(crate) fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(LOW_BITS) & !word & HIGH_BITS
}

/// High bit set in each byte of `word` that is `"`, `\\` or below 0x20 (exact for the
/// lowest such byte; bytes above it may be flagged spuriously).
#[inline(always)]
fn special_bytes(word: u64) -> u64 {
    let control = word.wrapping_sub(splat(0x20)) & !word & HIGH_BITS;
    zero_bytes(word ^ splat(b'"')) | zero_bytes(word ^ splat(b'\\')) | control
}

/// Skips a number or a literal (`true`, `false`, `null`); returns the end offset.
fn scan_scalar(b: &[u8], pos: usize) -> Result<usize> {
    let c = b[pos];
    let literal: &[u8] = match c {
        b't' => b"true",
        b'f' => b"false",
        b'n' => b"null",
        b'-' | b'0'..=b'9' => return scan_number(b, pos),
        _ => return Err(JsonError::Unexpected(pos)),
    };
    match b.get(pos..pos + literal.len()) {
        Some(s) if s == literal => Ok(pos + literal.len()),
        Some(_) => Err(JsonError::Unexpected(pos)),
        None => Err(JsonError::Truncated),
    }
}

/// JSON number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, and a
/// value a double can hold, as Fluent Bit's parser requires (only a number with an exponent
/// or of more than 300 characters may not, and only those are converted to see).
fn scan_number(b: &[u8], start: usize) -> Result<usize> {
    let digits = |b: &[u8], mut i: usize| -> Result<usize> {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(if i == b.len() { JsonError::Truncated } else { JsonError::Unexpected(i) });
        }
        Ok(i)
    };
    let mut i = start;
    if b[i] == b'-' {
        i += 1;
    }
    match b.get(i) {
        None => return Err(JsonError::Truncated),
        Some(b'0') => i += 1,
        Some(_) => i = digits(b, i)?,
    }
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    let mut may_overflow = i - start > 300;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i)?;
        may_overflow = true;
    }
    let finite =
        || std::str::from_utf8(&b[start..i]).ok().and_then(|t| t.parse::<f64>().ok()).is_some_and(f64::is_finite);
    if may_overflow && !finite() {
        return Err(JsonError::NumberOutOfRange(start));
    }
    Ok(i)
}

/// The open containers while skipping a value: one bit per level (1 = object).
/// The first 256 levels live inline, so ordinary records allocate nothing. The innermost
/// level is also kept apart: it is asked for after every value.
struct BracketStack {
    inline: [u64; 4],
    spill: Vec<u64>,
    depth: usize,
    top_is_object: bool,
}

impl BracketStack {
    fn new() -> Self {
        BracketStack { inline: [0; 4], spill: Vec::new(), depth: 0, top_is_object: false }
    }

    fn push(&mut self, is_object: bool) {
        let (word, bit) = (self.depth / 64, self.depth % 64);
        if word >= self.inline.len() + self.spill.len() {
            self.spill.push(0);
        }
        let w = if word < 4 { &mut self.inline[word] } else { &mut self.spill[word - 4] };
        if is_object {
            *w |= 1 << bit;
        } else {
            *w &= !(1 << bit);
        }
        self.depth += 1;
        self.top_is_object = is_object;
    }

    /// Pops the innermost container.
    fn pop(&mut self) {
        self.depth -= 1;
        if self.depth > 0 {
            let (word, bit) = ((self.depth - 1) / 64, (self.depth - 1) % 64);
            let w = if word < 4 { self.inline[word] } else { self.spill[word - 4] };
            self.top_is_object = w & (1 << bit) != 0;
        }
    }

    #[inline(always)]
    fn top_is_object(&self) -> bool {
        self.top_is_object
    }
}

/// Skips one value starting at `pos` (no leading whitespace); returns its end offset.
/// Iterative: the depth of nesting is bounded only by the input's size.
pub fn skip_value(b: &[u8], pos: usize) -> Result<usize> {
    let first = *b.get(pos).ok_or(JsonError::Truncated)?;
    match first {
        b'"' => return scan_string(b, pos).map(|(end, _)| end),
        b'{' | b'[' => {}
        _ => return scan_scalar(b, pos),
    }
    let mut stack = BracketStack::new();
    let mut i = pos;
    // Each turn of the loop starts at a value (or a closing bracket right after an opening one).
    loop {
        let c = *b.get(i).ok_or(JsonError::Truncated)?;
        let mut after = match c {
            b'{' => {
                stack.push(true);
                let j = skip_ws(b, i + 1);
                match b.get(j) {
                    Some(b'}') => {
                        stack.pop();
                        j + 1
                    }
                    Some(b'"') => {
                        i = value_after_key(b, j)?;
                        continue;
                    }
                    Some(_) => return Err(JsonError::Unexpected(j)),
                    None => return Err(JsonError::Truncated),
                }
            }
            b'[' => {
                stack.push(false);
                let j = skip_ws(b, i + 1);
                match b.get(j) {
                    Some(b']') => {
                        stack.pop();
                        j + 1
                    }
                    Some(_) => {
                        i = j;
                        continue;
                    }
                    None => return Err(JsonError::Truncated),
                }
            }
            b'"' => scan_string(b, i)?.0,
            _ => scan_scalar(b, i)?,
        };
        // After a complete value: a separator, a closing bracket, or the end.
        loop {
            if stack.depth == 0 {
                return Ok(after);
            }
            let j = skip_ws(b, after);
            match b.get(j) {
                Some(b',') => {
                    let k = skip_ws(b, j + 1);
                    i = if stack.top_is_object() {
                        if b.get(k) != Some(&b'"') {
                            return Err(if k >= b.len() { JsonError::Truncated } else { JsonError::Unexpected(k) });
                        }
                        value_after_key(b, k)?
                    } else {
                        k
                    };
                    break;
                }
                Some(b'}') if stack.top_is_object() => {
                    stack.pop();
                    after = j + 1;
                }
                Some(b']') if !stack.top_is_object() => {
                    stack.pop();
                    after = j + 1;
                }
                Some(_) => return Err(JsonError::Unexpected(j)),
                None => return Err(JsonError::Truncated),
            }
        }
    }
}

/// `pos` is at a key's opening quote; returns the offset of the value after the colon.
fn value_after_key(b: &[u8], pos: usize) -> Result<usize> {
    let (end, ..) = scan_key(b, pos)?;
    value_after_colon(b, end)
}

/// `end` is just past a key; returns the offset of the value after the colon.
#[inline(always)]
fn value_after_colon(b: &[u8], end: usize) -> Result<usize> {
    // Compact JSON (what Fluent Bit renders): `:` and the value right after the key.
    if b.get(end) == Some(&b':') && b.get(end + 1).is_some_and(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
        return Ok(end + 1);
    }
    value_after_colon_spaced(b, end)
}

#[inline(never)]
fn value_after_colon_spaced(b: &[u8], end: usize) -> Result<usize> {
    let colon = skip_ws(b, end);
    match b.get(colon) {
        Some(b':') => Ok(skip_ws(b, colon + 1)),
        Some(_) => Err(JsonError::Unexpected(colon)),
        None => Err(JsonError::Truncated),
    }
}

/// Walks the members of the object at `start` one by one, without looking further
/// than asked: a caller that has what it needs stops early.
pub struct Members<'t> {
    b: &'t [u8],
    pos: usize,
    first: bool,
    finished: bool,
}

impl<'t> Members<'t> {
    /// `start` is the offset of the object's `{`.
    pub fn new(text: &'t str, start: usize) -> Result<Self> {
        Members::over(text.as_bytes(), start)
    }

    /// The same over bytes not yet known to be UTF-8 (keys and values are spans; decode
    /// the ones needed with [`str_at`]).
    pub fn over(b: &'t [u8], start: usize) -> Result<Self> {
        match b.get(start) {
            Some(b'{') => Ok(Members { b, pos: start + 1, first: true, finished: false }),
            Some(_) => Err(JsonError::NotAnObject),
            None => Err(JsonError::Truncated),
        }
    }

    /// After the last member: the offset just past the closing `}`.
    pub fn end(&self) -> Option<usize> {
        self.finished.then_some(self.pos)
    }

    /// Checks that what follows the member just read is `,` or `}`: for a caller that
    /// stops after it, so that the member is known to end where the grammar says.
    pub fn check_separator(&self) -> Result<()> {
        let i = skip_ws(self.b, self.pos);
        match self.b.get(i) {
            Some(b',' | b'}') => Ok(()),
            Some(_) => Err(JsonError::Unexpected(i)),
            None => Err(JsonError::Truncated),
        }
    }

    pub fn next_member(&mut self) -> Result<Option<Member>> {
        let Some(KeyAt { key, plain: key_plain, value_start, .. }) = self.next_key()? else { return Ok(None) };
        let (value_end, value_plain) = scan_value(self.b, value_start)?;
        Ok(Some(self.member(key, key_plain, value_start, value_end, value_plain)))
    }

    /// [`Members::next_member`] with the member's [`Name`], for a caller that dispatches on
    /// names: computed once.
    #[inline(always)]
    pub fn next_named(&mut self) -> Result<Option<(Name, Member)>> {
        self.next_named_reading(|_| false, |_, _, _| {})
    }

    /// [`Members::next_named`], reading on the way the members of a value that is an object
    /// whose name `inside` accepts: `each(outer name, inner name, inner member)` is called
    /// for each of them, so a small object the caller needs is walked once, not skipped and
    /// then walked again.
    #[inline(always)]
    pub fn next_named_reading(
        &mut self,
        inside: impl Fn(Name) -> bool,
        mut each: impl FnMut(Name, Name, Member),
    ) -> Result<Option<(Name, Member)>> {
        let Some(KeyAt { key, plain: key_plain, value_start, name }) = self.next_key()? else { return Ok(None) };
        let b = self.b;
        let name = name.unwrap_or_else(|| Name::at(b, key));
        let (value_end, value_plain) = match b.get(value_start) {
            Some(b'{') if inside(name) => {
                let mut inner = Members { b, pos: value_start + 1, first: true, finished: false };
                while let Some((inner_name, m)) = inner.next_named()? {
                    each(name, inner_name, m);
                }
                (inner.pos, false)
            }
            _ => scan_value(b, value_start)?,
        };
        Ok(Some((name, self.member(key, key_plain, value_start, value_end, value_plain))))
    }

    /// [`Members::next_named`] that decodes into `carried`, in the same pass as its scan,
    /// the first string value whose name `wanted` accepts and that starts with `{` (an
    /// object carried as a string). A walk of its own: the audit-event walk is not slowed
    /// by the test.
    pub fn next_member_decoding(
        &mut self,
        carried: &mut Decoded,
        wanted: impl Fn(Name) -> bool,
    ) -> Result<Option<(Name, Member)>> {
        let Some(KeyAt { key, plain: key_plain, value_start, name }) = self.next_key()? else { return Ok(None) };
        let b = self.b;
        let name = name.unwrap_or_else(|| Name::at(b, key));
        let (value_end, value_plain) = match b.get(value_start..value_start + 2) {
            Some(b"\"{") if carried.is_empty() && wanted(name) => carried.decode(b, value_start)?,
            _ => scan_value(b, value_start)?,
        };
        Ok(Some((name, self.member(key, key_plain, value_start, value_end, value_plain))))
    }

    /// Up to the next member's value. `None` after the last member.
    #[inline(always)]
    fn next_key(&mut self) -> Result<Option<KeyAt>> {
        if self.finished {
            return Ok(None);
        }
        let b = self.b;
        let pos = self.pos;
        // Compact JSON (what Fluent Bit renders): the key's quote right after `{` or `,`.
        let i = match b.get(pos) {
            Some(b'"') if self.first => pos,
            Some(b',') if !self.first && b.get(pos + 1) == Some(&b'"') => pos + 1,
            _ => match key_start_spaced(b, pos, self.first)? {
                KeyStart::Quote(i) => i,
                KeyStart::ObjectEnd(i) => {
                    self.finished = true;
                    self.pos = i + 1;
                    return Ok(None);
                }
            },
        };
        let (key_end, plain, name) = scan_key(b, i)?;
        let value_start = value_after_colon(b, key_end)?;
        Ok(Some(KeyAt { key: Span { start: i + 1, end: key_end - 1 }, plain, value_start, name }))
    }

    /// Moves past a member whose value ends at `value_end`.
    #[inline(always)]
    fn member(
        &mut self,
        key: Span,
        key_plain: bool,
        value_start: usize,
        value_end: usize,
        value_plain: bool,
    ) -> Member {
        self.first = false;
        self.pos = value_end;
        Member { key, key_plain, value: Span { start: value_start, end: value_end }, value_plain }
    }
}

/// Where [`key_start_spaced`] found the next member to start.
enum KeyStart {
    /// The key's opening quote.
    Quote(usize),
    /// The object's closing `}`: no more members.
    ObjectEnd(usize),
}

/// [`Members::next_key`] off the compact path (whitespace, the object's end, an error),
/// from `pos`, just past `{` (`first`) or the previous value. Takes no `&mut Members`, so
/// that the walk's state stays in locals on the hot path.
#[inline(never)]
fn key_start_spaced(b: &[u8], pos: usize, first: bool) -> Result<KeyStart> {
    let mut i = skip_ws(b, pos);
    match b.get(i) {
        Some(b'}') => return Ok(KeyStart::ObjectEnd(i)),
        Some(b',') if !first => i = skip_ws(b, i + 1),
        Some(b'"') if first => {}
        Some(_) => return Err(JsonError::Unexpected(i)),
        None => return Err(JsonError::Truncated),
    }
    match b.get(i) {
        Some(b'"') => Ok(KeyStart::Quote(i)),
        Some(_) => Err(JsonError::Unexpected(i)),
        None => Err(JsonError::Truncated),
    }
}

/// A member's key, read up to its value.
struct KeyAt {
    key: Span,
    /// See [`Member::key_plain`].
    plain: bool,
    value_start: usize,
    /// The key's name, when the scan had it at hand.
    name: Option<Name>,
}

/// A member's value: its end, and whether it is a plain string. Strings, most values, are
/// scanned here rather than through a call.
#[inline(always)]
fn scan_value(b: &[u8], pos: usize) -> Result<(usize, bool)> {
    match b.get(pos) {
        Some(b'"') => scan_string(b, pos),
        _ => Ok((skip_value(b, pos)?, false)),
    }
}

/// The whole text must be one object (surrounding whitespace allowed); returns the
/// offset of its `{`. Checks the entire text.
pub fn validate_object(text: &(impl AsRef<[u8]> + ?Sized)) -> Result<usize> {
    let b = text.as_ref();
    let start = skip_ws(b, 0);
    match b.get(start) {
        Some(b'{') => {}
        Some(_) => return Err(JsonError::NotAnObject),
        None => return Err(JsonError::Truncated),
    }
    let end = skip_value(b, start)?;
    let rest = skip_ws(b, end);
    if rest != b.len() {
        return Err(JsonError::Unexpected(rest));
    }
    Ok(start)
}

/// Finds the first member named `name` of the object at `start`.
pub fn find_member(b: &[u8], start: usize, name: &str) -> Result<Option<Member>> {
    let mut members = Members::over(b, start)?;
    while let Some(m) = members.next_member()? {
        if m.key_is(b, name) {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

/// The first member of each of `names` in the object at `start`, in one walk that stops once
/// all are found (keys compared decoded, as [`find_member`] does).
pub fn find_members<const N: usize>(b: &[u8], start: usize, names: [&str; N]) -> Result<[Option<Member>; N]> {
    let mut found = [None; N];
    let mut members = Members::over(b, start)?;
    while found.iter().any(Option::is_none)
        && let Some(m) = members.next_member()?
    {
        for (slot, name) in found.iter_mut().zip(names) {
            if slot.is_none() && m.key_is(b, name) {
                *slot = Some(m);
            }
        }
    }
    Ok(found)
}

/// Items of the array at `start`, as spans.
pub fn array_items(text: &str, start: usize, mut each: impl FnMut(Span)) -> Result<()> {
    array_items_bytes(text.as_bytes(), start, |item, _| each(item))
}

/// [`array_items`] over bytes; `each` is also told whether the item is a plain string (see
/// [`Member::value_plain`]).
pub fn array_items_bytes(b: &[u8], start: usize, mut each: impl FnMut(Span, bool)) -> Result<()> {
    if b.get(start) != Some(&b'[') {
        return Err(JsonError::Unexpected(start));
    }
    let mut i = skip_ws(b, start + 1);
    if b.get(i) == Some(&b']') {
        return Ok(());
    }
    loop {
        let (end, plain) = scan_value(b, i)?;
        each(Span { start: i, end }, plain);
        let j = skip_ws(b, end);
        match b.get(j) {
            Some(b',') => i = skip_ws(b, j + 1),
            Some(b']') => return Ok(()),
            Some(_) => return Err(JsonError::Unexpected(j)),
            None => return Err(JsonError::Truncated),
        }
    }
}

/// The value of a JSON string literal (`raw` is the text between the quotes).
/// Borrows when there is nothing to unescape. Lone surrogates become U+FFFD.
pub fn unescape(raw: &str) -> Cow<'_, str> {
    match unescape_bytes(raw.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(raw),
        // UTF-8 in, UTF-8 out: the lossy branch is never taken.
        Cow::Owned(text) => {
            Cow::Owned(String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
        }
    }
}

/// [`unescape`] on bytes: UTF-8 when `raw` is (escapes decode to UTF-8, lone surrogates to
/// U+FFFD), with no check of its own.
pub fn unescape_bytes(raw: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = next_backslash(raw, 0) else { return Cow::Borrowed(raw) };
    // Decoding never lengthens text; the eight bytes more let every word be stored whole.
    let mut out = vec![0; raw.len() + 8];
    out[..first].copy_from_slice(&raw[..first]);
    let written = first + unescape_into(&raw[first..], &mut out[first..]);
    out.truncate(written);
    Cow::Owned(out)
}

/// Moves the read cursor `src` and the write cursor `out` of a decoding loop on.
macro_rules! advance {
    ($src:ident, $out:ident, $read:expr, $written:expr) => {{
        $src = &$src[$read..];
        $out = &mut std::mem::take(&mut $out)[$written..];
    }};
}

/// Decodes `raw` into `dst` (at least eight bytes longer) and returns the length written.
/// An event nested in a `log` string has an escape every few bytes: both sides are cursors,
/// and each word is stored whole before it is tested (the write position moves past its
/// bytes up to the first backslash only), so a run between escapes costs no copy call.
fn unescape_into(raw: &[u8], dst: &mut [u8]) -> usize {
    let (mut src, mut out) = (raw, &mut *dst);
    let room = out.len();
    loop {
        match (src.first_chunk::<8>(), out.first_chunk_mut::<8>()) {
            (Some(chunk), Some(slot)) => {
                *slot = *chunk;
                let hits = zero_bytes(u64::from_le_bytes(*chunk) ^ splat(b'\\'));
                if hits == 0 {
                    advance!(src, out, 8, 8);
                    continue;
                }
                // The lowest flagged byte is exact: the first backslash.
                let n = (hits.trailing_zeros() / 8) as usize;
                advance!(src, out, n, n);
            }
            _ => match src.first() {
                None => break,
                Some(b'\\') => {}
                Some(&c) => {
                    out[0] = c;
                    advance!(src, out, 1, 1);
                    continue;
                }
            },
        }
        // `src` starts with a backslash. A lone one at the end is dropped.
        let Some(&escaped) = src.get(1) else { break };
        match ESCAPED[usize::from(escaped)] {
            // Not an escape in JSON: the character itself, kept.
            0 if escaped != b'u' => advance!(src, out, 1, 0),
            0 => {
                // An invalid `\u` escape ends the text there.
                let Some(hi) = src.get(2..6).and_then(hex_unit) else { break };
                let (read, written) = decode_unicode_escape(src, hi, out);
                advance!(src, out, read, written);
            }
            decoded => {
                out[0] = decoded;
                advance!(src, out, 2, 1);
            }
        }
    }
    room - out.len()
}

/// A string value decoded by the walk that scanned it ([`Members::next_member_decoding`]):
/// an event carried as a string in a container log's `log` is then not read twice.
#[derive(Default)]
pub struct Decoded {
    /// The offset of the value's opening quote in the record, once one is held.
    at: Option<usize>,
    bytes: Vec<u8>,
}

impl Decoded {
    pub fn clear(&mut self) {
        self.at = None;
        self.bytes.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_none()
    }

    /// Scans and decodes the string at `at` of `b` (see [`decode_string`]) and holds it;
    /// returns where it ends and whether it is plain, as [`scan_string`] does.
    pub fn decode(&mut self, b: &[u8], at: usize) -> Result<(usize, bool)> {
        self.clear();
        let end = decode_string(b, at, &mut self.bytes)?;
        self.at = Some(at);
        // Every escape shortens the text: the same length means there was none.
        let plain = self.bytes.len() == end - at - 2 && self.bytes.is_ascii();
        Ok((end, plain))
    }

    /// The decoded value of `m` when it is the one held.
    pub fn value_of(&self, m: &Member) -> Option<&[u8]> {
        (self.at == Some(m.value.start)).then_some(&self.bytes[..])
    }
}

/// Scans the string at `pos` (its opening quote) as [`scan_string`] does, with the same
/// result, and appends its contents to `out` decoded as [`unescape_bytes`] decodes them, in
/// the same pass: for text with an escape every few bytes, one pass costs half of a scan
/// followed by a decoding. Each word is copied whole before it is tested, and the write
/// position moves past its plain bytes only; so `out` is first lengthened by the rest of `b`
/// and a word (decoding never lengthens text), then cut to what was written.
fn decode_string(b: &[u8], pos: usize, out: &mut Vec<u8>) -> Result<usize> {
    let base = out.len();
    out.resize(base + (b.len() - pos) + 8, 0);
    let decoded = decode_into(b, pos + 1, &mut out[base..]);
    out.truncate(base + decoded.map_or(0, |(_, written)| written));
    decoded.map(|(end, _)| end)
}

/// [`decode_string`] from `r`, inside the string, into `dst` (at least eight bytes longer
/// than the rest of `b`): returns the offset past the closing quote and the number of bytes
/// written. Both sides are cursors: a word costs two length tests, a load and a store.
fn decode_into(b: &[u8], r: usize, dst: &mut [u8]) -> Result<(usize, usize)> {
    let (mut src, mut out) = (&b[r..], &mut *dst);
    let room = out.len();
    loop {
        let c = match (src.first_chunk::<8>(), out.first_chunk_mut::<8>()) {
            (Some(chunk), Some(slot)) => {
                *slot = *chunk;
                let hits = special_bytes(u64::from_le_bytes(*chunk));
                if hits == 0 {
                    advance!(src, out, 8, 8);
                    continue;
                }
                // The lowest flagged byte is exact.
                let n = (hits.trailing_zeros() / 8) as usize;
                let c = chunk[n];
                advance!(src, out, n, n);
                c
            }
            _ => match *src.first().ok_or(JsonError::Truncated)? {
                c @ (b'"' | b'\\' | 0..=0x1f) => c,
                c => {
                    out[0] = c;
                    advance!(src, out, 1, 1);
                    continue;
                }
            },
        };
        // `src` starts with `c`: a quote, a backslash or a control character.
        let at = b.len() - src.len();
        if c != b'\\' {
            return match c {
                b'"' => Ok((at + 1, room - out.len())),
                _ => Err(JsonError::Unexpected(at)),
            };
        }
        let Some(&escaped) = src.get(1) else { return Err(JsonError::Truncated) };
        match ESCAPED[usize::from(escaped)] {
            0 => {}
            decoded => {
                out[0] = decoded;
                advance!(src, out, 2, 1);
                continue;
            }
        }
        if escaped != b'u' {
            return Err(JsonError::Unexpected(at + 1));
        }
        let hi = hex_unit(src.get(2..6).ok_or(JsonError::Truncated)?).ok_or(JsonError::Unexpected(at))?;
        let (read, written) = decode_unicode_escape(src, hi, out);
        advance!(src, out, read, written);
    }
}

/// What each character after a backslash decodes to; 0 for `u` and for characters that
/// are not escapes in JSON.
const ESCAPED: [u8; 256] = {
    let mut table = [0; 256];
    let pairs = [
        (b'"', b'"'),
        (b'\\', b'\\'),
        (b'/', b'/'),
        (b'b', 8),
        (b'f', 12),
        (b'n', b'\n'),
        (b'r', b'\r'),
        (b't', b'\t'),
    ];
    let mut i = 0;
    while i < pairs.len() {
        table[pairs[i].0 as usize] = pairs[i].1;
        i += 1;
    }
    table
};

/// Decodes the `\u` escape at the start of `src`, whose digits read `hi`, into `out` (at
/// least four bytes): with the escape of its low surrogate when `hi` is a high one and that
/// follows, a lone surrogate as U+FFFD. Returns the bytes read and written.
fn decode_unicode_escape(src: &[u8], hi: u16, out: &mut [u8]) -> (usize, usize) {
    if (0xd800..0xdc00).contains(&hi)
        && src.get(6..8) == Some(b"\\u")
        && let Some(lo) = src.get(8..12).and_then(hex_unit).filter(|lo| (0xdc00..0xe000).contains(lo))
    {
        let c = char::from_u32(0x10000 + ((u32::from(hi) - 0xd800) << 10) + (u32::from(lo) - 0xdc00));
        return (12, c.unwrap_or('\u{fffd}').encode_utf8(out).len());
    }
    (6, char::from_u32(u32::from(hi)).unwrap_or('\u{fffd}').encode_utf8(out).len())
}

/// Four hexadecimal digits (of a `\u` escape) as a UTF-16 code unit.
fn hex_unit(hex: &[u8]) -> Option<u16> {
    hex.iter().try_fold(0u16, |unit, &c| Some(unit << 4 | (c as char).to_digit(16)? as u16))
}

/// The offset of the first `\` at or after `from`, eight bytes at a time. ([`first_flagged`]
/// would need the hit looked at again: 8 % more for an event in a `log` string.)
fn next_backslash(b: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(chunk) = b.get(at..at + 8) {
        let hits = zero_bytes(le_word(chunk) ^ splat(b'\\'));
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    b.get(at..)?.iter().position(|&c| c == b'\\').map(|j| at + j)
}

/// Whether `b` is UTF-8. ASCII, all of an ordinary record, is tested 32 bytes at a time;
/// from the first word that holds another byte on, `str::from_utf8` checks the rest (its own
/// ASCII loop takes eight bytes at a time in wasm32, at several times the cost).
pub fn is_utf8(b: &[u8]) -> bool {
    let mut at = 0;
    while let Some(c) = b.get(at..at + 32) {
        let any = le_word(c) | le_word(&c[8..]) | le_word(&c[16..]) | le_word(&c[24..]);
        if any & HIGH_BITS != 0 {
            break;
        }
        at += 32;
    }
    // Every byte before `at` is ASCII: `at` starts a character.
    std::str::from_utf8(&b[at..]).is_ok()
}

/// The string value of a raw JSON value, if it is a string.
pub fn as_str<'t>(text: &'t str, value: Span) -> Option<Cow<'t, str>> {
    let raw = value.of(text);
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    Some(unescape(inner))
}

/// The string value of a raw JSON value in bytes not yet known to be UTF-8: only this
/// value is checked.
pub fn str_at(b: &[u8], value: Span) -> Option<Cow<'_, str>> {
    let raw = b.get(value.start..value.end)?;
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    Some(unescape(std::str::from_utf8(inner).ok()?))
}

/// The contents of the string value at `value` as UTF-8 bytes: borrowed when they are
/// plain ASCII (no escape, no byte above 0x7f, so the bytes are the text and need no UTF-8
/// check), decoded otherwise. `None` if it is not a string or not UTF-8.
pub fn str_bytes_at(b: &[u8], value: Span) -> Option<Cow<'_, [u8]>> {
    let raw = b.get(value.start..value.end)?;
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if is_plain_ascii(b, value.start + 1, value.end - 1) {
        return Some(Cow::Borrowed(inner));
    }
    Some(match str_at(b, value)? {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    })
}

/// No byte of `b[start..end]` is a backslash or above 0x7f. Eight bytes at a time, reading
/// past `end` into the rest of `b` (a string is followed by at least its closing quote and
/// usually more) with the bytes beyond `end` masked to zero; byte by byte near the end of `b`.
#[inline(always)]
fn is_plain_ascii(b: &[u8], start: usize, end: usize) -> bool {
    let mut at = start;
    while at < end {
        let Some(chunk) = b.get(at..at + 8) else {
            return b[at..end].iter().all(|&c| c < 0x80 && c != b'\\');
        };
        let left = end - at;
        let w = if left >= 8 { le_word(chunk) } else { le_word(chunk) & (u64::MAX >> (64 - 8 * left)) };
        // A zero byte is neither: masked bytes flag nothing.
        if (w & HIGH_BITS) | zero_bytes(w ^ splat(b'\\')) != 0 {
            return false;
        }
        at += 8;
    }
    true
}

/// The bytes a JSON string cannot hold as they are: one load per byte where a word does
/// not fit (short strings: most keys and values the module writes).
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = c < 0x20 || c == b'"' as usize || c == b'\\' as usize;
        c += 1;
    }
    table
};

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let b = s.as_bytes();
    let mut from = 0;
    let mut i = 0;
    loop {
        i = skip_plain::<false>(b, i);
        let left = b.len() - i;
        if left < 8 {
            // The last few bytes, which the word scan leaves: as the string's last word,
            // without the bytes before `i` (checked already), when it has eight; byte by
            // byte when it is shorter or one of them may need an escape.
            let clear =
                left == 0 || (b.len() >= 8 && special_bytes(le_word(&b[b.len() - 8..])) >> (8 * (8 - left)) == 0);
            if clear {
                break;
            }
            match b[i..].iter().position(|&c| NEEDS_ESCAPE[usize::from(c)]) {
                Some(k) => i += k,
                None => break,
            }
        }
        let c = b[i];
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => b"",
        };
        out.extend_from_slice(&b[from..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        i += 1;
        from = i;
    }
    out.extend_from_slice(&b[from..]);
    out.push(b'"');
}

/// What to do with one member of an object being rewritten.
#[derive(Debug)]
pub enum Change {
    /// Leave the member out.
    Remove,
    /// Replace the member's value with this raw JSON.
    Replace(Vec<u8>),
    /// Rewrite the member's value, which must be an object, with these edits.
    Edit(Edits),
    /// Rewrite every item of the member's value, an array of objects, with these edits.
    EditItems(Edits),
}

/// A member name kept as its JSON string literal, written once: the names of the fields
/// added to every record are not escaped again for each record.
#[derive(Debug, Clone)]
pub struct Key {
    literal: Box<[u8]>,
    name_len: usize,
    first_byte: u8,
}

impl Key {
    pub fn new(name: &str) -> Key {
        let mut literal = Vec::with_capacity(name.len() + 2);
        write_str(&mut literal, name);
        Key { literal: literal.into(), name_len: name.len(), first_byte: name.first_byte() }
    }
}

/// A member name as [`Edits`] take it: text, escaped as it is stored, or a [`Key`].
pub trait KeyName {
    /// The name's length in bytes, unescaped.
    fn name_len(&self) -> usize;
    /// The name's first byte, unescaped (0 for the empty name).
    fn first_byte(&self) -> u8;
    /// Appends the name as a JSON string literal.
    fn write_literal(&self, out: &mut Vec<u8>);
}

impl KeyName for str {
    fn name_len(&self) -> usize {
        self.len()
    }
    fn first_byte(&self) -> u8 {
        self.as_bytes().first().copied().unwrap_or(0)
    }
    fn write_literal(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl KeyName for String {
    fn name_len(&self) -> usize {
        self.len()
    }
    fn first_byte(&self) -> u8 {
        self.as_str().first_byte()
    }
    fn write_literal(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl KeyName for Key {
    fn name_len(&self) -> usize {
        self.name_len
    }
    fn first_byte(&self) -> u8 {
        self.first_byte
    }
    fn write_literal(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.literal);
    }
}

impl<K: KeyName + ?Sized> KeyName for &K {
    fn name_len(&self) -> usize {
        (**self).name_len()
    }
    fn first_byte(&self) -> u8 {
        (**self).first_byte()
    }
    fn write_literal(&self, out: &mut Vec<u8>) {
        (**self).write_literal(out);
    }
}

/// Edits of one object: changes to named members, then members appended at the end.
/// A member appended under a name the object already has replaces that member, so the
/// output never holds a key twice.
///
/// Keys (as JSON string literals) and raw values live in one buffer that [`Edits::clear`]
/// keeps: edits reused from record to record allocate nothing once it has grown (nested
/// edits, for dotted field names, are made anew).
#[derive(Debug, Default)]
pub struct Edits {
    bytes: Vec<u8>,
    changes: Vec<(Range<usize>, Stored)>,
    append: Vec<(Range<usize>, Range<usize>)>,
    /// The [`key_bit`] of each edited key: most members of a record are passed over on
    /// this one test instead of string comparisons.
    key_bits: u64,
}

/// A [`Change`] as kept in [`Edits`]: a replacement is a range of its buffer.
#[derive(Debug)]
enum Stored {
    Remove,
    Replace(Range<usize>),
    Edit(Edits),
    EditItems(Edits),
}

impl Edits {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.append.is_empty()
    }

    /// Empties the edits, keeping their buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.changes.clear();
        self.append.clear();
        self.key_bits = 0;
    }

    pub fn change(&mut self, key: &str, change: Change) {
        let stored = match change {
            Change::Remove => Stored::Remove,
            Change::Replace(raw) => Stored::Replace(self.push_value(|out| out.extend_from_slice(&raw))),
            Change::Edit(inner) => Stored::Edit(inner),
            Change::EditItems(inner) => Stored::EditItems(inner),
        };
        let key = self.push_key(key);
        self.changes.push((key, stored));
    }

    /// Replaces the member `key`'s value with the raw JSON `write` appends to its buffer.
    pub fn replace_with(&mut self, key: &str, write: impl FnOnce(&mut Vec<u8>)) {
        let value = self.push_value(write);
        let key = self.push_key(key);
        self.changes.push((key, Stored::Replace(value)));
    }

    /// Sets `key` to the raw JSON `value`, at the end of the object.
    pub fn append(&mut self, key: &str, value: &[u8]) {
        self.append_with(key, |out| out.extend_from_slice(value));
    }

    /// Sets `key` to the raw JSON that `write` appends to its buffer, at the end of the object.
    pub fn append_with(&mut self, key: &(impl KeyName + ?Sized), write: impl FnOnce(&mut Vec<u8>)) {
        let key = self.push_key(key);
        let value = self.push_value(write);
        self.append.push((key, value));
    }

    /// Sets the member at a dotted path (`cluster.name`), split into its parts, to the raw
    /// JSON `write` appends: nested objects are edited in place when they exist, created
    /// when they don't.
    pub fn set_path_with(&mut self, path: &[impl KeyName], write: impl FnOnce(&mut Vec<u8>)) {
        match path {
            [] => {}
            [last] => self.append_with(last, write),
            [head, rest @ ..] => {
                let key = self.push_key(head);
                let existing = self.changes.iter().position(|(k, c)| {
                    matches!(c, Stored::Edit(_)) && self.bytes[k.clone()] == self.bytes[key.clone()]
                });
                let i = match existing {
                    Some(i) => {
                        self.bytes.truncate(key.start);
                        i
                    }
                    None => {
                        self.changes.push((key, Stored::Edit(Edits::default())));
                        self.changes.len() - 1
                    }
                };
                if let Stored::Edit(inner) = &mut self.changes[i].1 {
                    inner.set_path_with(rest, write);
                }
            }
        }
    }

    /// [`Edits::set_path_with`] a raw JSON value.
    pub fn set_path(&mut self, path: &[impl KeyName], value: &[u8]) {
        self.set_path_with(path, |out| out.extend_from_slice(value));
    }

    /// [`Edits::set_path_with`] a string value.
    pub fn set_path_str(&mut self, path: &[impl KeyName], value: &str) {
        self.set_path_with(path, |out| write_str(out, value));
    }

    fn push_key(&mut self, key: &(impl KeyName + ?Sized)) -> Range<usize> {
        self.key_bits |= key_bit(key.name_len(), key.first_byte());
        let start = self.bytes.len();
        key.write_literal(&mut self.bytes);
        start..self.bytes.len()
    }

    fn push_value(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Range<usize> {
        let start = self.bytes.len();
        write(&mut self.bytes);
        start..self.bytes.len()
    }

    /// Whether no edit can apply to the member of `b` (an escaped key is always looked at).
    fn passes_over(&self, b: &[u8], m: &Member) -> bool {
        let first = if m.key.end > m.key.start { b[m.key.start] } else { 0 };
        m.key_plain && self.key_bits & key_bit(m.key.end - m.key.start, first) == 0
    }

    /// Whether the member's key is the stored key at `key`. Inlined: most stored keys
    /// differ in length from the member's, and that test is two instructions.
    #[inline(always)]
    fn names(&self, b: &[u8], m: &Member, key: &Range<usize>) -> bool {
        if m.key_plain {
            // A plain key is its own JSON literal, and literals are written one way.
            let stored = &self.bytes[key.clone()];
            return stored.len() == m.key.end - m.key.start + 2
                && b.get(m.key.start - 1..m.key.end + 1).is_some_and(|key| bytes_eq(key, stored));
        }
        self.names_escaped(b, m, key)
    }

    /// [`Edits::names`] for an escaped key: compared decoded.
    fn names_escaped(&self, b: &[u8], m: &Member, key: &Range<usize>) -> bool {
        let stored = &self.bytes[key.clone()];
        let inner = std::str::from_utf8(&stored[1..stored.len() - 1]).unwrap_or_default();
        std::str::from_utf8(&b[m.key.start..m.key.end]).is_ok_and(|key| unescape(key) == unescape(inner))
    }

    fn change_for(&self, b: &[u8], m: &Member) -> Option<&Stored> {
        self.changes.iter().find(|(k, _)| self.names(b, m, k)).map(|(_, c)| c)
    }

    fn appends(&self, b: &[u8], m: &Member) -> bool {
        self.append.iter().any(|(k, _)| self.names(b, m, k))
    }

    /// How many members these edits append.
    pub fn appended(&self) -> usize {
        self.append.len()
    }

    /// Whether one of the first `among` members these edits append is named as the member
    /// `m` of `b` is.
    pub fn appends_member(&self, b: &[u8], m: &Member, among: usize) -> bool {
        !self.passes_over(b, m) && self.append[..among.min(self.append.len())].iter().any(|(k, _)| self.names(b, m, k))
    }

    /// The nested edits (the object of a dotted field) of the member named as the member
    /// `m` of `b` is, if there are any, with their place for [`Edits::forget_nested`].
    pub fn nested(&self, b: &[u8], m: &Member) -> Option<(usize, &Edits)> {
        if self.passes_over(b, m) {
            return None;
        }
        self.changes.iter().enumerate().find_map(|(i, (k, c))| match c {
            Stored::Edit(inner) if self.names(b, m, k) => Some((i, inner)),
            _ => None,
        })
    }

    /// Drops the nested edits at these places (from [`Edits::nested`]), once applied
    /// elsewhere.
    pub fn forget_nested(&mut self, places: &[usize]) {
        if places.is_empty() {
            return;
        }
        let mut place = 0;
        self.changes.retain(|_| {
            place += 1;
            !places.contains(&(place - 1))
        });
    }
}

/// One of 64 bits for a key's length and first byte (of its unescaped name). Spread so that
/// the names audit-sieve adds (`log_type`, `cluster`, `actor`, `review`) share a bit with no
/// member of an audit event: a length alone put `actor` with `level` and `stage`, `cluster`
/// with `auditID`.
fn key_bit(len: usize, first: u8) -> u64 {
    1 << ((usize::from(first) + len.wrapping_mul(37)) & 63)
}

/// Writes the object at `start` with `edits` applied; returns the offset just past the
/// object. Untouched members are copied verbatim, so a value is never re-serialised, and
/// every member is validated on the way. Recursion follows the edits, whose depth is fixed
/// by the code and the configuration, never the input's nesting.
pub fn rewrite_object(b: &[u8], start: usize, edits: &Edits, out: &mut Vec<u8>) -> Result<usize> {
    let mut members = Members::over(b, start)?;
    let mut failure = None;
    let walk = std::iter::from_fn(|| match members.next_member() {
        Ok(m) => m,
        Err(e) => {
            failure = Some(e);
            None
        }
    });
    write_edited(b, walk, edits, out)?;
    match failure {
        Some(e) => Err(e),
        None => members.end().ok_or(JsonError::Truncated),
    }
}

/// [`rewrite_object`] for an object whose members have been walked, and checked, already.
pub fn rewrite_members(b: &[u8], members: &[Member], edits: &Edits, out: &mut Vec<u8>) -> Result<()> {
    // The usual kept record only gains members: its own are copied in one piece.
    if let Some(run) = unchanged_run(b, members, edits) {
        out.push(b'{');
        let opened = out.len();
        out.extend_from_slice(&b[run]);
        write_appended(edits, out, opened);
        return Ok(());
    }
    write_edited(b, members.iter().copied(), edits, out)
}

/// The rewrite works on bytes: it copies what it does not change, so the caller has
/// checked (or does not need) the record as UTF-8 text, and it adds only text.
fn write_edited(t: &[u8], members: impl Iterator<Item = Member>, edits: &Edits, out: &mut Vec<u8>) -> Result<()> {
    out.push(b'{');
    // Every member written adds bytes: the output has grown past the brace once one is.
    let opened = out.len();
    let sep = |out: &mut Vec<u8>| {
        if out.len() > opened {
            out.push(b',');
        }
    };
    // A run of unchanged members still to be copied: the text from the first one's key to
    // the last one's value.
    let mut run: Option<(usize, usize)> = None;
    let flush = |run: &mut Option<(usize, usize)>, out: &mut Vec<u8>| {
        if let Some((start, end)) = run.take() {
            sep(out);
            out.extend_from_slice(&t[start..end]);
        }
    };
    // Nested edits whose object does not exist yet are created after the existing members
    // (tracked only when there are any).
    let mut pending: Vec<&(Range<usize>, Stored)> = Vec::new();
    if edits.changes.iter().any(|(_, c)| creates(c)) {
        pending.extend(&edits.changes);
    }
    for m in members {
        let change = if edits.passes_over(t, &m) {
            None
        } else if edits.appends(t, &m) {
            continue;
        } else {
            pending.retain(|(k, _)| !edits.names(t, &m, k));
            edits.change_for(t, &m)
        };
        // Bytes, sliced only where written: a `str` slice checks character boundaries.
        let raw_key = || &t[m.key.start - 1..m.key.end + 1];
        let value = || &t[m.value.start..m.value.end];
        let Some(change) = change else {
            // Unchanged members written compactly one after the other are copied in one
            // piece: the same bytes as member by member, with far fewer calls.
            let (start, end) = (m.key.start - 1, m.value.end);
            let compact = m.value.start == m.key.end + 2;
            match &mut run {
                Some((_, run_end)) if compact && *run_end + 1 == start && t[*run_end] == b',' => {
                    *run_end = end;
                }
                _ if compact => {
                    flush(&mut run, out);
                    run = Some((start, end));
                }
                _ => {
                    flush(&mut run, out);
                    sep(out);
                    out.extend_from_slice(raw_key());
                    out.push(b':');
                    out.extend_from_slice(value());
                }
            }
            continue;
        };
        flush(&mut run, out);
        match change {
            Stored::Remove => {}
            Stored::Replace(raw) => {
                sep(out);
                out.extend_from_slice(raw_key());
                out.push(b':');
                out.extend_from_slice(&edits.bytes[raw.clone()]);
            }
            Stored::Edit(inner) => {
                sep(out);
                out.extend_from_slice(raw_key());
                out.push(b':');
                if t[m.value.start] == b'{' {
                    rewrite_object(t, m.value.start, inner, out)?;
                } else if inner.append.is_empty() && inner.changes.iter().all(|(_, c)| !creates(c)) {
                    out.extend_from_slice(value());
                } else {
                    // A scalar where the configuration wants an object: the object wins.
                    rewrite_object(b"{}", 0, inner, out)?;
                }
            }
            Stored::EditItems(inner) => {
                sep(out);
                out.extend_from_slice(raw_key());
                out.push(b':');
                if t[m.value.start] == b'[' {
                    out.push(b'[');
                    let mut first_item = true;
                    let mut failure = None;
                    array_items_bytes(t, m.value.start, |item, _| {
                        if !std::mem::take(&mut first_item) {
                            out.push(b',');
                        }
                        if t[item.start] == b'{' {
                            if let Err(e) = rewrite_object(t, item.start, inner, out) {
                                failure = Some(e);
                            }
                        } else {
                            out.extend_from_slice(&t[item.start..item.end]);
                        }
                    })?;
                    if let Some(e) = failure {
                        return Err(e);
                    }
                    out.push(b']');
                } else {
                    out.extend_from_slice(value());
                }
            }
        }
    }
    flush(&mut run, out);
    for (key, change) in pending {
        if let Stored::Edit(inner) = change
            && creates(change)
        {
            sep(out);
            out.extend_from_slice(&edits.bytes[key.clone()]);
            out.push(b':');
            rewrite_object(b"{}", 0, inner, out)?;
        }
    }
    write_appended(edits, out, opened);
    Ok(())
}

/// The appended members, after the object's own (which end at `opened` when it has none),
/// and the closing brace.
fn write_appended(edits: &Edits, out: &mut Vec<u8>, opened: usize) {
    for (key, value) in &edits.append {
        if out.len() > opened {
            out.push(b',');
        }
        out.extend_from_slice(&edits.bytes[key.clone()]);
        out.push(b':');
        out.extend_from_slice(&edits.bytes[value.clone()]);
    }
    out.push(b'}');
}

/// When the edits only append members the object does not have, and its members are
/// written compactly one after the other (as Fluent Bit renders records), the text from the
/// first key to the last value: what the member-by-member rewrite would copy, found in one
/// light pass.
fn unchanged_run(b: &[u8], members: &[Member], edits: &Edits) -> Option<Range<usize>> {
    if !edits.changes.is_empty() {
        return None;
    }
    let (first, last) = (members.first()?, members.last()?);
    let mut key_quote = first.key.start - 1;
    for m in members {
        let compact = m.value.start == m.key.end + 2;
        let untouched = edits.passes_over(b, m) || !edits.appends(b, m);
        if m.key.start - 1 != key_quote || !compact || !untouched {
            return None;
        }
        key_quote = m.value.end + 1;
        if b.get(m.value.end) != Some(&b',') && m.value.end != last.value.end {
            return None;
        }
    }
    Some(first.key.start - 1..last.value.end)
}

/// Whether applying this change to a missing member would create something.
fn creates(change: &Stored) -> bool {
    match change {
        Stored::Edit(inner) => !inner.append.is_empty() || inner.changes.iter().any(|(_, c)| creates(c)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_brackets_are_counted_in_words_and_the_tail() {
        for text in ["", "[", "{a[b{c[d{e[f{g[h{i[", "[[[[[[[[[[[[[[[[[{", "]}]}kK;;[{ {[\u{7b}"] {
            let want = text.bytes().filter(|&c| c == b'{' || c == b'[').count();
            assert_eq!(opening_brackets(text.as_bytes()), want, "{text}");
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(opening_brackets(&all), 2);
    }

    #[test]
    fn nesting_is_counted_outside_strings() {
        let nested = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
        for (text, max, want) in [
            (nested(63), 63, false),
            (nested(64), 63, true),
            (nested(3), 2, true),
            // Brackets in strings are text, not nesting, escaped quotes included.
            (format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(70), "{".repeat(70)), 63, false),
            (format!("{{\"a\":[{}]}}", "{},".repeat(70) + "{}"), 63, false),
        ] {
            assert_eq!(nesting_exceeds(text.as_bytes(), max), want, "{text}");
        }
    }

    #[test]
    fn packed_names_equal_only_the_same_bytes() {
        let names = [
            "",
            "a",
            "kind",
            "verb",
            "user",
            "level",
            "stage",
            "auditID",
            "objectRef",
            "userAgent",
            "sourceIPs",
            "apiVersion",
            "requestURI",
            "annotations",
            "requestObject",
            "responseObject",
            "responseStatus",
            "impersonatedUser",
            "kinds",
            "kin",
            "objectReg",
            "impersonatedUses",
        ];
        for a in names {
            // Within a longer text (one load) and at its very end (byte by byte).
            for (text, start) in [(format!("{{\"{a}\":1}}"), 2), (format!("\"{a}"), 1)] {
                let span = Span { start, end: start + a.len() };
                assert_eq!(Name::at(text.as_bytes(), span), Name::of(a), "{a:?} in {text:?}");
                for b in names.iter().filter(|b| **b != a) {
                    assert_ne!(Name::at(text.as_bytes(), span), Name::of(b), "{a:?} vs {b:?}");
                }
            }
        }
        let long = "\"impersonatedUsers\"";
        let span = Span { start: 1, end: long.len() - 1 };
        assert!(names.iter().all(|n| Name::at(long.as_bytes(), span) != Name::of(n)));
    }

    #[test]
    fn validates_structure() {
        let ok = [
            r#"{}"#,
            r#" {"a":1} "#,
            r#"{"a":[1,2,{"b":null}],"c":"x\"y","d":-0.5e+3,"e":true,"f":false}"#,
            r#"{"s":"\ud800"}"#,
        ];
        for t in ok {
            assert!(validate_object(t).is_ok(), "{t}");
        }
        // Numbers as Fluent Bit's parser reads them: whatever rounds to a finite double
        // (underflow is zero), whatever its length.
        let digits = |n: usize| "9".repeat(n);
        let numbers = [
            ("1e308".to_owned(), true),
            ("1.7976931348623157e308".to_owned(), true),
            ("-1.7976931348623157E+308".to_owned(), true),
            ("1e-999".to_owned(), true),
            ("0e99999".to_owned(), true),
            (digits(308), true),
            (format!("0.{}", digits(400)), true),
            ("1e309".to_owned(), false),
            ("-1e999".to_owned(), false),
            ("1.8e308".to_owned(), false),
            (digits(309), false),
            (format!("-{}", digits(400)), false),
        ];
        for (number, finite) in numbers {
            let text = format!(r#"{{"a":[{number}]}}"#);
            let want = if finite { Ok(0) } else { Err(JsonError::NumberOutOfRange(6)) };
            assert_eq!(validate_object(&text), want, "{number}");
        }
        let bad = [
            ("", JsonError::Truncated),
            ("[1]", JsonError::NotAnObject),
            ("\"s\"", JsonError::NotAnObject),
            (r#"{"a":1"#, JsonError::Truncated),
            (r#"{"a":[}"#, JsonError::Unexpected(6)),
            (r#"{"a":1,}"#, JsonError::Unexpected(7)),
            (r#"{"a" 1}"#, JsonError::Unexpected(5)),
            (r#"{"a":tru}"#, JsonError::Unexpected(5)),
            (r#"{"a":01}"#, JsonError::Unexpected(6)),
            (r#"{"a":"\x"}"#, JsonError::Unexpected(7)),
            ("{\"a\":\"\u{1}\"}", JsonError::Unexpected(6)),
            (r#"{"a":1} x"#, JsonError::Unexpected(8)),
            (r#"{"a":1}{}"#, JsonError::Unexpected(7)),
        ];
        for (t, want) in bad {
            assert_eq!(validate_object(t), Err(want), "{t:?}");
        }
    }

    /// Walks `text` with [`Members::next_named_reading`], reading inside `user`.
    fn read_walk(text: &str) -> Result<(Vec<String>, Vec<String>)> {
        let (b, mut outer, mut inner) = (text.as_bytes(), Vec::new(), Vec::new());
        let mut walk = Members::over(b, 0)?;
        let user = Name::of("user");
        let mut each = |o: Name, n: Name, i: Member| {
            assert_eq!((o, n), (user, Name::at(b, i.key)));
            inner.push(i.key.of(text).to_owned());
        };
        while let Some((name, m)) = walk.next_named_reading(|n| n == user, &mut each)? {
            assert_eq!(name, Name::at(b, m.key));
            outer.push(m.key.of(text).to_owned());
        }
        walk.end().ok_or(JsonError::Truncated)?;
        Ok((outer, inner))
    }

    #[test]
    fn reading_walk_reads_inside_and_checks_like_validation() {
        let (outer, inner) =
            read_walk(r#"{"kind":"Event","user":{"username":"u","groups":["g"]},"n":[1,{"x":null}]}"#).unwrap();
        assert_eq!(outer, ["kind", "user", "n"]);
        assert_eq!(inner, ["username", "groups"]);
        // Every text validation rejects, the reading walk rejects too: what it accepts can
        // be rewritten without another walk.
        for bad in [
            r#"{"a":1,}"#,
            r#"{"a":tru}"#,
            r#"{"a":01}"#,
            r#"{"a":[1,]}"#,
            r#"{"user":{"u":1,}}"#,
            r#"{"user":{"u":nul}}"#,
            r#"{"user":{"u" 1}}"#,
            r#"{"user":{"u":1}"#,
            r#"{"a":{"b":1]}"#,
            "{\"a\":\"\u{1}\"}",
        ] {
            assert!(validate_object(bad).is_err(), "{bad}");
            assert!(read_walk(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn string_bytes_are_borrowed_only_when_plain_ascii() {
        for (raw, want, borrowed) in [
            (r#""system:kube-proxy""#, Some(&b"system:kube-proxy"[..]), true),
            (r#""""#, Some(b""), true),
            (r#""a longer plain value, over sixteen bytes""#, Some(b"a longer plain value, over sixteen bytes"), true),
            (r#""tab\there, then more bytes""#, Some(b"tab\there, then more bytes"), false),
            (r#""caf\u00e9""#, Some("caf\u{e9}".as_bytes()), false),
            ("\"d\u{e9}j\u{e0} vu, with eight more\"", Some("d\u{e9}j\u{e0} vu, with eight more".as_bytes()), true),
            ("1", None, false),
        ] {
            // At the end of the text (read byte by byte) and followed by more (word loads).
            // (What follows is not JSON: bytes the masking must hide from the test.)
            for text in [raw.to_owned(), format!("{raw}\u{e9}\\\u{e9}\\ and more")] {
                let got = str_bytes_at(text.as_bytes(), Span { start: 0, end: raw.len() });
                assert_eq!(got.as_deref(), want, "{text}");
                assert_eq!(matches!(got, Some(Cow::Borrowed(_))), borrowed, "{text}");
            }
        }
        // An escape or a non-ASCII character is decoded at any position.
        for at in 0..20 {
            for (special, decoded) in [("\\n", "\n"), ("\u{e9}", "\u{e9}")] {
                let (head, tail) = ("x".repeat(at), "y".repeat(20 - at));
                let text = format!("\"{head}{special}{tail}\"\u{e9}\\\u{e9}\\ and more");
                let end = text.rfind('"').unwrap() + 1;
                let got = str_bytes_at(text.as_bytes(), Span { start: 0, end });
                assert_eq!(got.as_deref(), Some(format!("{head}{decoded}{tail}").as_bytes()), "{text}");
            }
        }
        // Bytes that are not UTF-8 are no string at all, at any position.
        for at in 0..20 {
            for tail in ["", ",\"more\":1}"] {
                let mut raw = format!("\"{}\"{tail}", "x".repeat(20)).into_bytes();
                raw[1 + at] = 0xff;
                assert_eq!(str_bytes_at(&raw, Span { start: 0, end: 22 }), None, "at {at}");
            }
        }
    }

    #[test]
    fn string_scan_finds_every_special_byte_at_every_offset() {
        // The word-at-a-time scan against the plain rule, for each position of a quote,
        // an escape, a control byte and a multi-byte character in strings of many lengths,
        // followed by more text or ending the input.
        for len in 0..40 {
            for at in 0..len {
                for (special, want) in [
                    ("\"", Ok((at + 2, true))),
                    ("\\n\"", Ok((at + 4, false))),
                    ("\u{1}", Err(JsonError::Unexpected(at + 1))),
                    ("é\"", Ok((at + 4, false))),
                ] {
                    let body: String = (0..at).map(|k| (b'a' + (k % 26) as u8) as char).collect();
                    let text = format!("\"{body}{special}{}\"", "x".repeat(len - at));
                    let padded = format!("{text}{}", " ".repeat(8));
                    assert_eq!(scan_string(padded.as_bytes(), 0), want, "{padded:?}");
                    assert_eq!(scan_string(text.as_bytes(), 0), want, "{text:?}");
                }
            }
            let unterminated = format!("\"{}", "y".repeat(len));
            assert_eq!(scan_string(unterminated.as_bytes(), 0), Err(JsonError::Truncated));
        }
    }

    #[test]
    fn utf8_check_agrees_with_std_at_every_offset() {
        // Valid and invalid sequences, at every offset of ASCII runs around the 32-byte step.
        for len in 0..80 {
            for at in 0..=len {
                for insert in [
                    &b"\xc3\xa9"[..],
                    b"\xe2\x82\xac",
                    b"\xf0\x9f\x98\x80",
                    b"\xff",
                    b"\xc3",
                    b"\xed\xa0\x80",
                    b"\x80x",
                ] {
                    let mut b = vec![b'a'; len];
                    b.splice(at..at, insert.iter().copied());
                    assert_eq!(is_utf8(&b), std::str::from_utf8(&b).is_ok(), "{b:?}");
                }
            }
            assert!(is_utf8(&vec![b'a'; len]));
        }
    }

    #[test]
    fn key_scan_agrees_with_the_string_scan() {
        let specials = ["", "\\n", "é", "\u{1}", "\\u0041"];
        for len in 0..40 {
            for at in 0..=len {
                for special in specials {
                    let key: String = (0..len).map(|k| (b'a' + (k % 26) as u8) as char).collect();
                    let key = format!("{}{special}{}", &key[..at], &key[at..]);
                    for tail in ["", ":1}", ":\"a value long enough to follow\"}"] {
                        let text = format!("\"{key}\"{tail}");
                        let b = text.as_bytes();
                        let got = scan_key(b, 0);
                        assert_eq!(got.map(|(end, ..)| end), scan_string(b, 0).map(|(end, _)| end), "{text:?}");
                        let Ok((end, plain, name)) = got else { continue };
                        let span = Span { start: 1, end: end - 1 };
                        match name {
                            Some(name) => assert!(plain && name == Name::at(b, span), "{text:?}"),
                            None => assert_eq!(plain, scan_string(b, 0).unwrap().1, "{text:?}"),
                        }
                        // Plain keys of up to 16 bytes followed by 16 more are named by the scan.
                        let fast = special.is_empty() && key.len() <= 16 && b.len() >= 17;
                        assert_eq!(name.is_some(), fast, "{text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn deep_nesting_needs_no_stack() {
        let depth = 100_000;
        let text = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(validate_object(&text), Ok(0));
        let unbalanced = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth - 1));
        assert!(validate_object(&unbalanced).is_err());
    }

    #[test]
    fn walks_members_lazily() {
        let text = r#"{"kind":"Event","verb":"get","rest": this is never read"#;
        let mut m = Members::new(text, 0).unwrap();
        let first = m.next_member().unwrap().unwrap();
        assert!(first.key_is(text.as_bytes(), "kind"));
        assert_eq!(as_str(text, first.value).as_deref(), Some("Event"));
        let second = m.next_member().unwrap().unwrap();
        assert_eq!(second.value.of(text), "\"get\"");
        assert!(m.next_member().is_err());
    }

    #[test]
    fn finds_the_first_of_each_member_in_one_walk() {
        // The first of each, an escaped key compared decoded, a missing one `None`.
        let text = r#"{"k\u0069nd":"List","kind":"Table","apiVersion":"meta.k8s.io/v1"}"#;
        let found = find_members(text.as_bytes(), 0, ["kind", "apiVersion", "rows"]).unwrap();
        let values = found.map(|m| m.map(|m| m.value.of(text)));
        assert_eq!(values, [Some("\"List\""), Some("\"meta.k8s.io/v1\""), None]);
        // The walk stops once all are found; one that reaches invalid text first is an error,
        // as `find_member`'s is.
        let text = r#"{"kind":"Table","apiVersion":"v1","rest": never read"#;
        let b = text.as_bytes();
        assert!(find_members(b, 0, ["apiVersion", "kind"]).is_ok_and(|f| f.iter().all(Option::is_some)));
        assert!(find_members(b, 0, ["kind", "rows"]).is_err() && find_member(b, 0, "rows").is_err());
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(r#"a\"b\\c\/d\n"#), "a\"b\\c/d\n");
        assert_eq!(unescape(r"\u00e9\ud83d\ude00"), "é😀");
        assert_eq!(unescape(r"\ud800x"), "\u{fffd}x");
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
        // Not JSON (a checked string never holds these): a defined result all the same.
        for (raw, want) in [(r"a\", "a"), (r"\é\x", "éx"), (r"a\u12", "a"), (r"\u00e9\u", "é")] {
            assert_eq!(unescape(raw), want, "{raw}");
        }
    }

    /// The decoding walk finds the members the plain walk finds, and decodes only the first
    /// wanted string that starts with `{`.
    #[test]
    fn a_walk_decodes_the_first_wanted_object_string() {
        let text = r#"{"time":"t","message":"{\"a\":1}","log":"{\"kind\":\"Event\"}\n","log":"{}","n":{"log":"{}"}}"#;
        let b = text.as_bytes();
        let log = Name::of("log");
        let (mut plain, mut decoding) = (Members::over(b, 0).unwrap(), Members::over(b, 0).unwrap());
        let mut carried = Decoded::default();
        let mut decoded_at = Vec::new();
        while let Some((name, m)) = plain.next_named().unwrap() {
            assert_eq!(decoding.next_member_decoding(&mut carried, |n| n == log).unwrap(), Some((name, m)));
            if let Some(value) = carried.value_of(&m) {
                decoded_at.push((m.key.of(text), value.to_vec()));
            }
        }
        assert_eq!(decoding.next_member_decoding(&mut carried, |n| n == log).unwrap(), None);
        assert_eq!(decoding.end(), plain.end());
        assert_eq!(decoded_at, [("log", b"{\"kind\":\"Event\"}\n".to_vec())]);
        // Invalid text in the wanted string fails the walk as the plain walk fails.
        let bad = br#"{"log":"{\x"}"#;
        assert!(Members::over(bad, 0).unwrap().next_member_decoding(&mut Decoded::default(), |_| true).is_err());
        assert!(Members::over(bad, 0).unwrap().next_named().is_err());
        // A plain wanted string is plain, as the scan says.
        let text = br#"{"log":"{plain}"}"#;
        let (_, m) =
            Members::over(text, 0).unwrap().next_member_decoding(&mut Decoded::default(), |_| true).unwrap().unwrap();
        assert!(m.value_plain);
    }

    /// Where the string at `pos` ends, read byte by byte as the JSON grammar reads it.
    fn grammar_string_end(b: &[u8], pos: usize) -> Option<usize> {
        let mut i = pos + 1;
        loop {
            match *b.get(i)? {
                b'"' => return Some(i + 1),
                b'\\' => match *b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' if b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => i += 6,
                    _ => return None,
                },
                0..=0x1f => return None,
                _ => i += 1,
            }
        }
    }

    /// The string scan (eight bytes at a time) ends, or
    /// fails, where a byte-at-a-time reading of the JSON grammar does, for every escape and
    /// every invalid byte at every offset, alone, in pairs and in runs.
    #[test]
    fn string_scan_agrees_with_a_byte_at_a_time_reading() {
        let pieces: [&[u8]; 12] = [
            br#"\""#,
            br"\\",
            br"\n",
            br"\u00e9",
            br"\u00g9",
            br"\x",
            b"\x01",
            b"\t",
            "é".as_bytes(),
            b"\"",
            br"\",
            br"\u12",
        ];
        for len in 0..20 {
            for at in 0..=len {
                for first in pieces {
                    for (second, gap) in [&b""[..], br#"\""#, br"\\", b"\"", br"\u0041"]
                        .into_iter()
                        .zip(0..)
                        .flat_map(|(s, k)| [(s, k % 3), (s, 5 + k % 4)])
                    {
                        let mut text = b"\"".to_vec();
                        text.extend((0..len).map(|k| if k == at { b'#' } else { b'a' + (k % 26) as u8 }));
                        let cut = 1 + at;
                        let filler = std::iter::repeat_n(b'-', gap);
                        text.splice(cut..cut, first.iter().copied().chain(filler).chain(second.iter().copied()));
                        for ending in [&b"\""[..], b"\"}", b""] {
                            let mut b = text.clone();
                            b.extend_from_slice(ending);
                            let got = scan_string(&b, 0).ok().map(|(end, _)| end);
                            assert_eq!(got, grammar_string_end(&b, 0), "{:?}", String::from_utf8_lossy(&b));
                            // Decoding in the same pass ends (or fails) at the same byte and
                            // decodes as `unescape_bytes`, after what `out` held.
                            let mut out = b"kept".to_vec();
                            let decoded = decode_string(&b, 0, &mut out);
                            assert_eq!(decoded.ok(), got, "{:?}", String::from_utf8_lossy(&b));
                            match decoded {
                                Ok(end) => assert_eq!(out[4..], *unescape_bytes(&b[1..end - 1])),
                                Err(_) => assert_eq!(out, b"kept"),
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every string of up to seven bytes of backslashes, quotes, escape letters and plain
    /// text, at every offset of the scan's words, with and without text after it: runs of
    /// backslashes within and across words escape what the grammar says they do.
    #[test]
    fn string_scan_agrees_with_the_grammar_on_every_short_string() {
        let alphabet = *b"a\\\"nu0";
        let mut b = Vec::new();
        for len in 0..=7u32 {
            for mut k in 0..alphabet.len().pow(len) {
                let body: Vec<u8> = (0..len)
                    .map(|_| {
                        let c = alphabet[k % alphabet.len()];
                        k /= alphabet.len();
                        c
                    })
                    .collect();
                for offset in 0..8 {
                    for tail in [&b""[..], b"xxxxxxxxx\""] {
                        // The word scan starts at the first escape: the text after it
                        // places `body` at each offset of a word.
                        b.clear();
                        b.extend_from_slice(br#""\"x"#);
                        b.extend(std::iter::repeat_n(b'x', offset));
                        b.extend_from_slice(&body);
                        b.extend_from_slice(tail);
                        let got = scan_string(&b, 0).ok().map(|(end, _)| end);
                        assert_eq!(got, grammar_string_end(&b, 0), "{:?}", String::from_utf8_lossy(&b));
                    }
                }
            }
        }
    }

    /// Every escape, at every offset of strings of many lengths, among ASCII and multi-byte
    /// text, decodes as serde_json decodes it.
    #[test]
    fn unescapes_as_serde_json_does() {
        let escapes = [
            r#"\""#,
            r"\\",
            r"\/",
            r"\b",
            r"\f",
            r"\n",
            r"\r",
            r"\t",
            r"\u0041",
            r"\u00e9",
            r"\ud83d\ude00",
            r"\u2028",
        ];
        for len in 0..20 {
            for at in 0..=len {
                for (k, escape) in escapes.iter().enumerate() {
                    let filler = |i: usize| if (i + k) % 7 == 3 { "é" } else { "x" };
                    let mut raw: String = (0..len).map(filler).collect::<Vec<_>>().concat();
                    let cut = raw.char_indices().nth(at).map_or(raw.len(), |(i, _)| i);
                    raw.insert_str(cut, escape);
                    // A second escape later on, for runs between escapes.
                    raw.push_str(escapes[(k + at) % escapes.len()]);
                    raw.push('z');
                    let quoted = format!("\"{raw}\"");
                    let want: String = serde_json::from_str(&quoted).unwrap();
                    assert_eq!(unescape(&raw), want, "{raw}");
                    let mut decoded = Vec::new();
                    assert_eq!(decode_string(quoted.as_bytes(), 0, &mut decoded), Ok(quoted.len()));
                    assert_eq!(decoded, want.as_bytes(), "{raw}");
                }
            }
        }
    }

    /// Text that is no valid JSON string still decodes to a defined value (the module
    /// decodes only what its scan accepted, but `unescape` checks nothing itself).
    #[test]
    fn unescapes_what_is_not_json_the_documented_way() {
        let cases = [
            // Not an escape: the character itself.
            (r"a\xb", "axb"),
            (r"a\éb", "aéb"),
            // A lone backslash at the end is dropped.
            ("abc\\", "abc"),
            ("abcdefghijk\\", "abcdefghijk"),
            // An invalid or cut `\u` escape ends the text.
            (r"abc\u00zz tail", "abc"),
            (r"abcdefghij\u12", "abcdefghij"),
            // Lone surrogates become U+FFFD; a high one keeps the escape after it.
            (r"\ud83dx", "\u{fffd}x"),
            (r"\ude00", "\u{fffd}"),
            (r"\ud83d\u0041", "\u{fffd}A"),
            (r"0123456789\ud83d\ude00", "0123456789\u{1f600}"),
        ];
        for (raw, want) in cases {
            assert_eq!(unescape(raw), want, "{raw}");
        }
    }

    #[test]
    fn escaped_keys_compare_decoded() {
        let text = r#"{"k\u0069nd":"Event"}"#;
        let m = find_member(text.as_bytes(), 0, "kind").unwrap().unwrap();
        assert_eq!(m.value.of(text), "\"Event\"");
    }

    #[test]
    fn writes_strings() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\\n\u{1}é");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\\n\u0001é""#);
        // Every special byte at every offset of strings of many lengths reads back as written.
        for len in 0..24 {
            for at in 0..=len {
                for special in ["\"", "\\", "\n", "\u{1f}", "é", "\t\r"] {
                    let s: String = (0..len).map(|k| if k == at { special.to_owned() } else { "x".into() }).collect();
                    let mut out = Vec::new();
                    write_str(&mut out, &s);
                    let text = String::from_utf8(out).unwrap();
                    let mut validated = text.clone();
                    validated.insert_str(0, "{\"k\":");
                    validated.push('}');
                    assert!(validate_object(&validated).is_ok(), "{text}");
                    let m = find_member(validated.as_bytes(), 0, "k").unwrap().unwrap();
                    assert_eq!(as_str(&validated, m.value).unwrap(), s, "{text}");
                }
            }
        }
    }

    fn rewrite(text: &str, edits: &Edits) -> String {
        let mut out = Vec::new();
        rewrite_object(text.as_bytes(), 0, edits, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rewrites_members_and_keeps_others_verbatim() {
        let text = r#"{"a": 1.50 ,"b":{"x":1,"y":[1, 2]},"c":"keep","d":[{"m":1,"n":2},{"m":3},7]}"#;
        let mut edits = Edits::default();
        edits.change("a", Change::Remove);
        let mut inner = Edits::default();
        inner.change("y", Change::Remove);
        edits.change("b", Change::Edit(inner));
        let mut item = Edits::default();
        item.change("m", Change::Remove);
        edits.change("d", Change::EditItems(item));
        edits.append("c", b"\"new\"");
        assert_eq!(rewrite(text, &edits), r#"{"b":{"x":1},"d":[{"n":2},{},7],"c":"new"}"#);
    }

    #[test]
    fn member_strings_read_as_decoded() {
        let text = r#"{"a":"plain","b":"tab\there","c":"d\u00e9j\u00e0","d":"déjà","e":12,"f":{"g":"x"},"h":""}"#;
        let mut walk = Members::new(text, 0).unwrap();
        let mut plain = Vec::new();
        while let Some(m) = walk.next_member().unwrap() {
            assert_eq!(m.value_str(text), as_str(text, m.value), "{}", m.key.of(text));
            plain.push(m.value_plain);
        }
        assert_eq!(plain, [true, false, false, false, false, false, true]);
    }

    #[test]
    fn unchanged_members_are_copied_as_member_by_member() {
        // Compact runs are copied in one piece; whatever the spacing, the output is the
        // members' keys and values joined by commas, as written one by one.
        let texts = [
            r#"{"a":1,"b":"x","c":[1,2],"d":{"e":1},"f":null}"#,
            r#"{"a": 1,"b":"x" ,"c":[1,2],
            "d":{"e":1},  "f" :null}"#,
            r#"{"a":1,"b": "x","c":[1,2],"d" :{"e":1},"f":null}"#,
            r#"{"a":1}"#,
            r#"{}"#,
        ];
        for text in texts {
            let names = ["a", "b", "c", "d", "f"];
            // Appended: nothing, a member the object has, a new one (the same length as the
            // others).
            for (removed, appended) in (0..1 << names.len()).flat_map(|r| [(r, None), (r, Some("b")), (r, Some("z"))]) {
                let mut edits = Edits::default();
                let mut want = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    if removed & (1 << i) != 0 {
                        edits.change(name, Change::Remove);
                    }
                }
                let mut walk = Members::new(text, 0).unwrap();
                let mut members = Vec::new();
                while let Some(m) = walk.next_member().unwrap() {
                    members.push(m);
                    let key = m.key.of(text);
                    if !names.iter().enumerate().any(|(i, n)| *n == key && removed & (1 << i) != 0) {
                        want.push(format!("\"{key}\":{}", m.value.of(text)));
                    }
                }
                if let Some(key) = appended {
                    edits.append(key, b"2");
                    want.retain(|m| !m.starts_with(&format!("\"{key}\":")));
                    want.push(format!("\"{key}\":2"));
                }
                let want = format!("{{{}}}", want.join(","));
                assert_eq!(rewrite(text, &edits), want, "{text} without {removed:b}, {appended:?}");
                // The member list of a walk, as kept events are rewritten.
                let mut out = Vec::new();
                rewrite_members(text.as_bytes(), &members, &edits, &mut out).unwrap();
                assert_eq!(String::from_utf8(out).unwrap(), want, "{text} without {removed:b}, {appended:?}");
            }
        }
    }

    #[test]
    fn members_sharing_an_edited_keys_bit_are_told_apart_by_name() {
        // `lever` and `lxxxx` share `level`'s length and first byte, `<x` shares `a`'s bit
        // through another length; `k\u0069nd` is `kind`, escaped.
        assert_eq!(key_bit(2, b'<'), key_bit(1, b'a'));
        let text = r#"{"lever":1,"level":"RequestResponse","lxxxx":3,"<x":4,"k\u0069nd":"Event","a":5}"#;
        let mut edits = Edits::default();
        edits.replace_with("level", |out| write_str(out, "Metadata"));
        edits.append("lxyzw", b"0");
        edits.append("kind", b"\"x\"");
        edits.append("a", b"6");
        let want = r#"{"lever":1,"level":"Metadata","lxxxx":3,"<x":4,"lxyzw":0,"kind":"x","a":6}"#;
        assert_eq!(rewrite(text, &edits), want);
        let mut walk = Members::new(text, 0).unwrap();
        let mut members = Vec::new();
        while let Some(m) = walk.next_member().unwrap() {
            members.push(m);
        }
        let mut out = Vec::new();
        rewrite_members(text.as_bytes(), &members, &edits, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), want);
        // Appends alone (the one-piece copy of unchanged members).
        let mut appends = Edits::default();
        appends.append("lxyzw", b"0");
        appends.append("a", b"6");
        let want = r#"{"lever":1,"level":"RequestResponse","lxxxx":3,"<x":4,"k\u0069nd":"Event","lxyzw":0,"a":6}"#;
        let mut out = Vec::new();
        rewrite_members(text.as_bytes(), &members, &appends, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    /// Names as text and as [`Key`]s (written once) give the same records.
    #[test]
    fn sets_dotted_paths() {
        fn check<K: KeyName>(path: impl Fn(&str) -> Vec<K>) {
            let mut edits = Edits::default();
            edits.set_path(&path("cluster.name"), b"\"prod\"");
            edits.set_path(&path("log_type"), b"\"kubeaudit\"");
            assert_eq!(rewrite(r#"{"a":1}"#, &edits), r#"{"a":1,"cluster":{"name":"prod"},"log_type":"kubeaudit"}"#);
            assert_eq!(
                rewrite(r#"{"cluster":{"region":"eu"},"log_type":"old"}"#, &edits),
                r#"{"cluster":{"region":"eu","name":"prod"},"log_type":"kubeaudit"}"#
            );
            assert_eq!(rewrite(r#"{"cluster":"x"}"#, &edits), r#"{"cluster":{"name":"prod"},"log_type":"kubeaudit"}"#);
            // Two parts under one object share it; keys that need escaping are written escaped.
            edits.set_path_str(&path("cluster.zone"), "a\"b");
            edits.set_path_str(&path("ta\tb"), "\u{e9}");
            assert_eq!(
                rewrite(r#"{"ta\tb":1}"#, &edits),
                r#"{"cluster":{"name":"prod","zone":"a\"b"},"log_type":"kubeaudit","ta\tb":"é"}"#
            );
        }
        check(|p| p.split('.').map(str::to_owned).collect());
        check(|p| p.split('.').map(Key::new).collect());
    }

    #[test]
    fn cleared_edits_apply_like_new_ones() {
        let build = |edits: &mut Edits, n: usize| {
            edits.change("gone", Change::Remove);
            edits.replace_with("level", |out| write_str(out, &"Metadata".repeat(n)));
            edits.set_path_str(&["a", "b"], &"x".repeat(n));
            edits.append("n", n.to_string().as_bytes());
        };
        let record = r#"{"gone":1,"level":"Request","a":{"c":2},"n":0}"#;
        let mut reused = Edits::default();
        for n in [3, 1, 40, 0] {
            reused.clear();
            build(&mut reused, n);
            let mut fresh = Edits::default();
            build(&mut fresh, n);
            assert_eq!(rewrite(record, &reused), rewrite(record, &fresh), "{n}");
            assert!(rewrite(record, &reused).ends_with(&format!(r#","n":{n}}}"#)), "{n}");
        }
        reused.clear();
        assert!(reused.is_empty());
        assert_eq!(rewrite(record, &reused), record);
    }
}
