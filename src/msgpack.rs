//! msgpack for `Event_Format msgpack`: conversion to and from JSON text, and the
//! NUL-free envelope.
//!
//! The record processing works on JSON text, so a msgpack body is converted to JSON on
//! the way in and the result back to msgpack on the way out. Both directions are
//! iterative (explicit stacks), for the same stack reason as [`crate::json`].
//!
//! Fluent Bit reads the module's msgpack result with `strlen` and splices that many bytes
//! into the chunk unchecked, so a result holding a 0x00 byte (integer 0, most floats, a
//! 256-byte string's length) would be cut and corrupt the chunk. No msgpack encoding of
//! integer 0 avoids that byte, so such a record cannot be returned as itself. It is
//! returned instead as the envelope [`nul_free_envelope`] writes: a map whose
//! `audit_sieve_error` says why and whose `record_json` holds the record's JSON text in
//! chunks whose headers are chosen so that no byte is 0x00. Nothing is lost; the record is
//! marked; JSON mode has no such limit.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgpackError {
    Truncated,
    /// The body is not a map.
    NotAMap,
    /// A value JSON cannot carry faithfully (bin, ext, a non-string key, invalid UTF-8,
    /// NaN or infinity), or a reserved byte.
    NotRepresentable(usize),
    /// Bytes after the body.
    TrailingBytes(usize),
}

impl fmt::Display for MsgpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgpackError::Truncated => f.write_str("msgpack ends inside a value"),
            MsgpackError::NotAMap => f.write_str("msgpack body is not a map"),
            MsgpackError::NotRepresentable(at) => write!(f, "msgpack value at offset {at} has no faithful JSON form"),
            MsgpackError::TrailingBytes(at) => write!(f, "bytes after the msgpack body at offset {at}"),
        }
    }
}

type Result<T> = std::result::Result<T, MsgpackError>;

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(MsgpackError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(MsgpackError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }
}

/// One open container while converting: items still to read, and whether it is a map
/// (whose items alternate key, value).
struct Open {
    remaining: u64,
    is_map: bool,
}

/// Converts a msgpack map to compact JSON text.
pub fn to_json(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if !matches!(input.first(), Some(0x80..=0x8f | 0xde | 0xdf)) {
        return Err(if input.is_empty() { MsgpackError::Truncated } else { MsgpackError::NotAMap });
    }
    let mut r = Reader { b: input, pos: 0 };
    let mut stack: Vec<Open> = Vec::new();
    loop {
        // Separators and the closing of finished containers.
        while let Some(top) = stack.last_mut() {
            if top.remaining == 0 {
                out.push(if top.is_map { b'}' } else { b']' });
                stack.pop();
                continue;
            }
            break;
        }
        let Some(top) = stack.last_mut() else {
            if r.pos > 0 {
                break;
            }
            // The first value: the map itself, read below.
            read_value(&mut r, &mut stack, out, false)?;
            continue;
        };
        let key_position = top.is_map && top.remaining % 2 == 0;
        let first = if top.is_map {
            // Map items were counted as key+value pairs times two.
            top.remaining % 2 == 0 && top_is_first(top)
        } else {
            top_is_first(top)
        };
        top.remaining -= 1;
        if top.is_map && !key_position {
            out.push(b':');
        } else if !first {
            out.push(b',');
        }
        read_value(&mut r, &mut stack, out, key_position)?;
    }
    if r.pos != input.len() {
        return Err(MsgpackError::TrailingBytes(r.pos));
    }
    Ok(())
}

// The high bit of `remaining` marks a container whose first item has not been read.
const FRESH: u64 = 1 << 63;

fn top_is_first(top: &mut Open) -> bool {
    let fresh = top.remaining & FRESH != 0;
    top.remaining &= !FRESH;
    fresh
}

fn read_value(r: &mut Reader, stack: &mut Vec<Open>, out: &mut Vec<u8>, key: bool) -> Result<()> {
    let at = r.pos;
    let tag = r.take(1)?[0];
    let bad = MsgpackError::NotRepresentable(at);
    let string = |r: &mut Reader, len: u64, out: &mut Vec<u8>| -> Result<()> {
        let bytes = r.take(usize::try_from(len).map_err(|_| MsgpackError::Truncated)?)?;
        let s = std::str::from_utf8(bytes).map_err(|_| MsgpackError::NotRepresentable(at))?;
        crate::json::write_str(out, s);
        Ok(())
    };
    if key && !matches!(tag, 0xa0..=0xbf | 0xd9..=0xdb) {
        return Err(bad);
    }
    let mut open = |len: u64, is_map: bool, out: &mut Vec<u8>| {
        out.push(if is_map { b'{' } else { b'[' });
        let items = if is_map { len * 2 } else { len };
        stack.push(Open { remaining: if items == 0 { 0 } else { items | FRESH }, is_map });
    };
    match tag {
        0x00..=0x7f => write_int(out, i128::from(tag)),
        0x80..=0x8f => open(u64::from(tag & 0x0f), true, out),
        0x90..=0x9f => open(u64::from(tag & 0x0f), false, out),
        0xa0..=0xbf => string(r, u64::from(tag & 0x1f), out)?,
        0xc0 => out.extend_from_slice(b"null"),
        0xc2 => out.extend_from_slice(b"false"),
        0xc3 => out.extend_from_slice(b"true"),
        0xca => {
            let f = f32::from_bits(r.be(4)? as u32);
            write_float(out, f64::from(f)).ok_or(bad)?;
        }
        0xcb => write_float(out, f64::from_bits(r.be(8)?)).ok_or(bad)?,
        0xcc => write_int(out, i128::from(r.be(1)?)),
        0xcd => write_int(out, i128::from(r.be(2)?)),
        0xce => write_int(out, i128::from(r.be(4)?)),
        0xcf => write_int(out, i128::from(r.be(8)?)),
        0xd0 => write_int(out, i128::from(r.be(1)? as u8 as i8)),
        0xd1 => write_int(out, i128::from(r.be(2)? as u16 as i16)),
        0xd2 => write_int(out, i128::from(r.be(4)? as u32 as i32)),
        0xd3 => write_int(out, i128::from(r.be(8)? as i64)),
        0xd9 => {
            let n = r.be(1)?;
            string(r, n, out)?
        }
        0xda => {
            let n = r.be(2)?;
            string(r, n, out)?
        }
        0xdb => {
            let n = r.be(4)?;
            string(r, n, out)?
        }
        0xdc => {
            let n = r.be(2)?;
            open(n, false, out)
        }
        0xdd => {
            let n = r.be(4)?;
            open(n, false, out)
        }
        0xde => {
            let n = r.be(2)?;
            open(n, true, out)
        }
        0xdf => {
            let n = r.be(4)?;
            open(n, true, out)
        }
        0xe0..=0xff => write_int(out, i128::from(tag as i8)),
        // nil-reserved 0xc1, bin 0xc4-0xc6, ext 0xc7-0xc9 and 0xd4-0xd8.
        _ => return Err(bad),
    }
    Ok(())
}

fn write_int(out: &mut Vec<u8>, v: i128) {
    out.extend_from_slice(v.to_string().as_bytes());
}

/// Shortest text that reads back as the same f64; `None` for NaN and infinities.
fn write_float(out: &mut Vec<u8>, f: f64) -> Option<()> {
    if !f.is_finite() {
        return None;
    }
    let s = format!("{f:?}");
    out.extend_from_slice(s.as_bytes());
    Some(())
}

/// Converts a JSON value (already validated by [`crate::json`]) to msgpack.
/// Two passes, both iterative: the first counts every container's items (msgpack writes
/// counts before items), the second writes.
pub fn from_json(text: &str, out: &mut Vec<u8>) -> std::result::Result<(), crate::json::JsonError> {
    use crate::json::JsonError;
    let b = text.as_bytes();
    let mut counts: Vec<u32> = Vec::new();
    // Open containers: (index into `counts`, is an object).
    let mut open: Vec<(usize, bool)> = Vec::new();
    let mut pos = 0;
    // Pass 1: count the values directly inside each container (an object's values are
    // its members; its keys are not counted).
    let mut expect_key = false;
    while let Some(tok) = next_token(b, &mut pos)? {
        let is_value = match tok {
            Token::Open(is_object) => {
                let parent = open.last().map(|&(i, _)| i);
                open.push((counts.len(), is_object));
                counts.push(0);
                expect_key = is_object;
                if let Some(i) = parent {
                    counts[i] += 1;
                }
                false
            }
            Token::Close => {
                open.pop();
                expect_key = false;
                false
            }
            Token::Colon => {
                expect_key = false;
                false
            }
            Token::Comma => {
                expect_key = open.last().is_some_and(|&(_, is_object)| is_object);
                false
            }
            Token::Scalar(_) | Token::Str(_) => !expect_key,
        };
        if is_value && let Some(&(i, _)) = open.last() {
            counts[i] += 1;
        }
    }
    // Pass 2: write.
    pos = 0;
    let mut next_container = 0;
    while let Some(tok) = next_token(b, &mut pos)? {
        match tok {
            Token::Open(is_object) => {
                let n = counts[next_container];
                next_container += 1;
                write_header(out, n, is_object);
            }
            Token::Close | Token::Colon | Token::Comma => {}
            Token::Str(span) => {
                let s = crate::json::unescape(span.of(text));
                write_str(out, &s);
            }
            Token::Scalar(span) => {
                let s = span.of(text);
                match s {
                    "true" => out.push(0xc3),
                    "false" => out.push(0xc2),
                    "null" => out.push(0xc0),
                    _ => write_number(out, s).ok_or(JsonError::Unexpected(span.start))?,
                }
            }
        }
    }
    Ok(())
}

enum Token {
    Open(bool),
    Close,
    Colon,
    Comma,
    Str(crate::json::Span),
    Scalar(crate::json::Span),
}

fn next_token(b: &[u8], pos: &mut usize) -> std::result::Result<Option<Token>, crate::json::JsonError> {
    use crate::json::{JsonError, Span};
    while *pos < b.len() && matches!(b[*pos], b' ' | b'\t' | b'\n' | b'\r') {
        *pos += 1;
    }
    let Some(&c) = b.get(*pos) else { return Ok(None) };
    let start = *pos;
    *pos += 1;
    Ok(Some(match c {
        b'{' => Token::Open(true),
        b'[' => Token::Open(false),
        b'}' | b']' => Token::Close,
        b':' => Token::Colon,
        b',' => Token::Comma,
        b'"' => {
            let end = crate::json::skip_value(b, start)?;
            *pos = end;
            Token::Str(Span { start: start + 1, end: end - 1 })
        }
        _ => {
            let end = crate::json::skip_value(b, start)?;
            if end == start {
                return Err(JsonError::Unexpected(start));
            }
            *pos = end;
            Token::Scalar(Span { start, end })
        }
    }))
}

fn write_header(out: &mut Vec<u8>, n: u32, is_map: bool) {
    match (is_map, n) {
        (true, 0..=15) => out.push(0x80 | n as u8),
        (false, 0..=15) => out.push(0x90 | n as u8),
        (true, 16..=0xffff) => {
            out.push(0xde);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        (false, 16..=0xffff) => {
            out.push(0xdc);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        (true, _) => {
            out.push(0xdf);
            out.extend_from_slice(&n.to_be_bytes());
        }
        (false, _) => {
            out.push(0xdd);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

/// Integers as the smallest msgpack integer; other numbers as float 64.
fn write_number(out: &mut Vec<u8>, s: &str) -> Option<()> {
    if let Ok(v) = s.parse::<i64>() {
        if (0..=0x7f).contains(&v) {
            out.push(v as u8);
        } else if (-32..0).contains(&v) {
            out.push(v as i8 as u8);
        } else if v >= 0 {
            match v {
                0x80..=0xff => out.extend_from_slice(&[0xcc, v as u8]),
                0x100..=0xffff => {
                    out.push(0xcd);
                    out.extend_from_slice(&(v as u16).to_be_bytes());
                }
                0x1_0000..=0xffff_ffff => {
                    out.push(0xce);
                    out.extend_from_slice(&(v as u32).to_be_bytes());
                }
                _ => {
                    out.push(0xcf);
                    out.extend_from_slice(&(v as u64).to_be_bytes());
                }
            }
        } else if v >= i64::from(i8::MIN) {
            out.extend_from_slice(&[0xd0, v as i8 as u8]);
        } else if v >= i64::from(i16::MIN) {
            out.push(0xd1);
            out.extend_from_slice(&(v as i16).to_be_bytes());
        } else if v >= i64::from(i32::MIN) {
            out.push(0xd2);
            out.extend_from_slice(&(v as i32).to_be_bytes());
        } else {
            out.push(0xd3);
            out.extend_from_slice(&v.to_be_bytes());
        }
        return Some(());
    }
    if let Ok(v) = s.parse::<u64>() {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
        return Some(());
    }
    let f: f64 = s.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    out.push(0xcb);
    out.extend_from_slice(&f.to_bits().to_be_bytes());
    Some(())
}

/// What the envelope says about why the record could not be returned as itself.
pub const ENVELOPE_ERROR_KEY: &str = "audit_sieve_error";
pub const ENVELOPE_ERROR: &str = "msgpack_output_has_nul";
/// The record's JSON text, when the record could be read.
pub const ENVELOPE_JSON_KEY: &str = "record_json";
/// The record's msgpack bytes in base64, when it could not (bin, ext, not a map).
pub const ENVELOPE_MSGPACK_KEY: &str = "record_msgpack_base64";

/// Members for the envelope's top level, from [`envelope_tags`]: their msgpack (key and
/// value, one after the other) and how many.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvelopeTags {
    pub bytes: Vec<u8>,
    pub count: usize,
}

/// The most members [`nul_free_envelope`] copies to its top level (its map header stays a
/// one-byte fixmap).
pub const ENVELOPE_MAX_TAGS: usize = 13;

/// The members of the msgpack map `map` named in `names` (the first of each), each as its
/// key and value bytes, when those hold no 0x00 byte: what [`nul_free_envelope`] copies to
/// its top level. Read from the reply that could not be returned, so nothing is converted
/// again.
pub fn envelope_tags(map: &[u8], names: &[String]) -> EnvelopeTags {
    let mut tags = EnvelopeTags::default();
    // Which names were met (a bit each; there are at most four).
    let mut taken = 0u64;
    let mut r = Reader { b: map, pos: 0 };
    let count = match r.take(1).map(|m| m[0]) {
        Ok(m @ 0x80..=0x8f) => Ok(u64::from(m & 0x0f)),
        Ok(0xde) => r.be(2),
        Ok(0xdf) => r.be(4),
        _ => return tags,
    };
    let Ok(count) = count else { return tags };
    let mut pos = r.pos;
    for _ in 0..count {
        let start = pos;
        let Ok(key_end) = value_end(map, start) else { break };
        let Ok(end) = value_end(map, key_end) else { break };
        pos = end;
        let key = str_bytes(&map[start..key_end]);
        if let Some(i) = names.iter().take(64).position(|name| key == Some(name.as_bytes()))
            && taken & (1 << i) == 0
        {
            taken |= 1 << i;
            let entry = &map[start..end];
            if !entry.contains(&0) && tags.count < ENVELOPE_MAX_TAGS {
                tags.bytes.extend_from_slice(entry);
                tags.count += 1;
            }
        }
    }
    tags
}

/// The bytes of a msgpack string value (`None` for any other value).
fn str_bytes(value: &[u8]) -> Option<&[u8]> {
    let header = match *value.first()? {
        0xa0..=0xbf => 1,
        0xd9 => 2,
        0xda => 3,
        0xdb => 5,
        _ => return None,
    };
    value.get(header..)
}

/// The end of the msgpack value at `pos`: containers by their counts, without recursion.
fn value_end(b: &[u8], pos: usize) -> Result<usize> {
    let mut r = Reader { b, pos };
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let m = r.take(1)?[0];
        let skip = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
            0x80..=0x8f => {
                pending += 2 * u64::from(m & 0x0f);
                0
            }
            0x90..=0x9f => {
                pending += u64::from(m & 0x0f);
                0
            }
            0xa0..=0xbf => u64::from(m & 0x1f),
            0xc1 => return Err(MsgpackError::NotRepresentable(r.pos - 1)),
            0xc4 | 0xd9 => r.be(1)?,
            0xc5 | 0xda => r.be(2)?,
            0xc6 | 0xdb => r.be(4)?,
            0xc7 => r.be(1)? + 1,
            0xc8 => r.be(2)? + 1,
            0xc9 => r.be(4)? + 1,
            0xca | 0xce | 0xd2 => 4,
            0xcb | 0xcf | 0xd3 => 8,
            0xcc | 0xd0 => 1,
            0xcd | 0xd1 | 0xd4 => 2,
            0xd5 => 3,
            0xd6 => 5,
            0xd7 => 9,
            0xd8 => 17,
            0xdc => {
                pending += r.be(2)?;
                0
            }
            0xdd => {
                pending += r.be(4)?;
                0
            }
            0xde => {
                pending += 2 * r.be(2)?;
                0
            }
            0xdf => {
                pending += 2 * r.be(4)?;
                0
            }
        };
        r.take(usize::try_from(skip).map_err(|_| MsgpackError::Truncated)?)?;
    }
    Ok(r.pos)
}

/// Writes `{"audit_sieve_error": "msgpack_output_has_nul", <tags>, key: [chunks]}` where
/// the chunks, concatenated, are `ascii`, and `tags` are members from [`envelope_tags`] (the
/// fields Fluent Bit routes on stay where it looks for them; at most
/// [`ENVELOPE_MAX_TAGS`]). Chunk and array headers are chosen so that no byte of the
/// result is 0x00: lengths and counts avoid any value with a zero byte. `ascii` must be
/// ASCII without 0x00 (so that any offset is a valid cut): see [`ascii_json`].
pub fn nul_free_envelope(key: &str, ascii: &str, tags: &EnvelopeTags, out: &mut Vec<u8>) {
    debug_assert!(ascii.bytes().all(|b| b != 0 && b.is_ascii()));
    let json = ascii;
    out.push(0x82 + tags.count as u8);
    write_str(out, ENVELOPE_ERROR_KEY);
    write_str(out, ENVELOPE_ERROR);
    out.extend_from_slice(&tags.bytes);
    write_str(out, key);
    let sizes = chunk_sizes(json.len());
    let n = sizes.len();
    if n <= 15 {
        out.push(0x90 | n as u8);
    } else {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    }
    let mut from = 0;
    for size in sizes {
        let to = from + size;
        let chunk = &json[from..to];
        if chunk.len() < 32 {
            out.push(0xa0 | chunk.len() as u8);
        } else if chunk.len() <= 0xff {
            out.extend_from_slice(&[0xd9, chunk.len() as u8]);
        } else {
            out.push(0xda);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(chunk.as_bytes());
        from = to;
    }
    debug_assert_eq!(from, json.len());
}

/// Whether a chunk of `len` bytes has a 0x00-free string header.
fn good_len(len: usize) -> bool {
    len <= 0xff || (len <= 0xffff && len & 0xff != 0)
}

/// Whether `n` items have a 0x00-free array header (fixarray, or array16 with both bytes set).
fn good_count(n: usize) -> bool {
    n <= 15 || ((0x101..=0xffff).contains(&n) && n & 0xff != 0)
}

/// Splits `total` bytes into nearly equal chunk sizes that all have 0x00-free headers,
/// in a count that has one too. Up to 65,535 chunks of up to 65,535 bytes (4 GiB).
fn chunk_sizes(total: usize) -> Vec<usize> {
    if total == 0 {
        return vec![0];
    }
    let mut n = total.div_ceil(0xffff).max(1);
    loop {
        while !good_count(n) {
            n += 1;
        }
        let base = total / n;
        let extra = total % n;
        if base >= 1 && good_len(base) && (extra == 0 || good_len(base + 1)) {
            let mut sizes = vec![base + 1; extra];
            sizes.extend(std::iter::repeat_n(base, n - extra));
            return sizes;
        }
        n += 1;
    }
}

/// Rewrites JSON text so that every character is ASCII (non-ASCII as `\uXXXX` escapes),
/// which makes every byte offset a valid place to cut it into chunks.
pub fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(json: &str) -> String {
        let mut mp = Vec::new();
        from_json(json, &mut mp).unwrap();
        let mut back = Vec::new();
        to_json(&mp, &mut back).unwrap();
        String::from_utf8(back).unwrap()
    }

    #[test]
    fn converts_both_ways() {
        for json in [
            r#"{}"#,
            r#"{"a":1}"#,
            r#"{"a":[1,-1,-33,127,128,255,256,65535,65536,4294967296,-129,-32769,-2147483649,9223372036854775807,18446744073709551615],"b":{"c":null,"d":true,"e":false},"f":"x\"y","g":1.5,"h":[],"i":{}}"#,
            r#"{"nested":[[[[{"x":[{}]}]]]],"s":"é😀"}"#,
        ] {
            assert_eq!(roundtrip(json), json);
        }
    }

    #[test]
    fn refuses_what_json_cannot_carry() {
        assert_eq!(to_json(&[0x93, 1, 2, 3], &mut Vec::new()), Err(MsgpackError::NotAMap));
        assert_eq!(to_json(&[0x81, 0xa1, b'a', 0xc4, 1, 0], &mut Vec::new()), Err(MsgpackError::NotRepresentable(3)));
        assert_eq!(to_json(&[0x81, 0x01, 0x02], &mut Vec::new()), Err(MsgpackError::NotRepresentable(1)));
        assert_eq!(to_json(&[0x81, 0xa1, 0xff, 0x02], &mut Vec::new()), Err(MsgpackError::NotRepresentable(1)));
        assert_eq!(to_json(&[0x82, 0xa1, b'a', 1], &mut Vec::new()), Err(MsgpackError::Truncated));
        assert_eq!(to_json(&[0x80, 0x80], &mut Vec::new()), Err(MsgpackError::TrailingBytes(1)));
        let nan = [0x81, 0xa1, b'a', 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0];
        assert_eq!(to_json(&nan, &mut Vec::new()), Err(MsgpackError::NotRepresentable(3)));
    }

    #[test]
    fn deep_nesting_needs_no_stack() {
        let depth = 50_000;
        let json = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(roundtrip(&json), json);
    }

    #[test]
    fn envelope_has_no_nul_and_keeps_the_text() {
        for len in [0, 1, 31, 32, 255, 256, 512, 0xffff, 0x10000, 15 * 0xffff + 1, 300_000, 1 << 20] {
            let json = "x".repeat(len);
            let mut out = Vec::new();
            nul_free_envelope(ENVELOPE_JSON_KEY, &json, &EnvelopeTags::default(), &mut out);
            assert!(!out.contains(&0), "len {len}");
            let mut back = Vec::new();
            to_json(&out, &mut back).unwrap();
            let text = String::from_utf8(back).unwrap();
            let chunks: Vec<&str> =
                text.split(r#""record_json":["#).nth(1).unwrap().trim_end_matches("]}").split(',').collect();
            let joined: String = chunks.iter().map(|c| c.trim_matches('"')).collect();
            assert_eq!(joined.len(), len, "len {len}");
        }
    }

    #[test]
    fn envelope_tags_are_members_without_nul() {
        let names: Vec<String> = ["log_type", "review", "cluster", "count", "labels"].map(String::from).to_vec();
        let record = format!(
            r#"{{"log_type":"kubeaudit","count":0,"body":{{"review":["x"],"n":[1,2.5,null,{{"a":"b"}}]}},"review":["exec","secret_access"],"cluster":"{}","labels":{{"a":{{"b":["c"]}}}},"log_type":"second"}}"#,
            "c".repeat(256)
        );
        let mut map = Vec::new();
        from_json(&record, &mut map).unwrap();
        let tags = envelope_tags(&map, &names);
        // The first of each name, in the record's order; an integer 0 and a 256-byte string
        // (0x00 in their encoding) are left out; a nested `review` is not a top-level one.
        let mut out = Vec::new();
        nul_free_envelope(ENVELOPE_JSON_KEY, r#"{"count":0}"#, &tags, &mut out);
        assert!(!out.contains(&0));
        let mut back = Vec::new();
        to_json(&out, &mut back).unwrap();
        assert_eq!(
            String::from_utf8(back).unwrap(),
            r#"{"audit_sieve_error":"msgpack_output_has_nul","log_type":"kubeaudit","review":["exec","secret_access"],"labels":{"a":{"b":["c"]}},"record_json":["{\"count\":0}"]}"#
        );
        // Not a map, or cut short: nothing.
        assert_eq!(envelope_tags(&[0x91, 0x01], &names), EnvelopeTags::default());
        assert!(envelope_tags(&map[..map.len() / 2], &names).count <= 2);
    }

    #[test]
    fn ascii_json_escapes_non_ascii() {
        assert_eq!(ascii_json("é😀a"), r"\u00e9\ud83d\ude00a");
    }
}
