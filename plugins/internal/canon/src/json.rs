//! A fast, non-validating walk over the JSON the host hands a guard (already valid JSON): find
//! `params.arguments` of a request and visit its strings in the same pass, skipping string
//! contents eight bytes at a time. Every function stops (returns `None` or early) on input that
//! is not JSON rather than panicking.

/// The index just past the string whose opening quote is at `i`.
pub fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    scan_string(b, i).map(|(end, _)| end)
}

/// [`skip_string`], also telling whether the string has escapes.
pub fn scan_string(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut i = i + 1;
    let mut escaped = false;
    loop {
        i = to_quote_or_backslash(b, i);
        match b.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
}

/// The index of the first `"` or `\\` in `b` from `i` (or a position before it from which to
/// go on byte by byte), sixteen bytes at a time with Wasm SIMD.
#[cfg(target_arch = "wasm32")]
fn to_quote_or_backslash(b: &[u8], i: usize) -> usize {
    // Safety: the gateway's engine (wazero) runs SIMD; the loads stay inside `b`.
    unsafe { to_quote_or_backslash_simd(b, i) }
}

#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
unsafe fn to_quote_or_backslash_simd(b: &[u8], mut i: usize) -> usize {
    use core::arch::wasm32::*;
    let (quote, backslash) = (u8x16_splat(b'"'), u8x16_splat(b'\\'));
    while i + 16 <= b.len() {
        let v = v128_load(b.as_ptr().add(i) as *const v128);
        let bits = u8x16_bitmask(v128_or(u8x16_eq(v, quote), u8x16_eq(v, backslash)));
        if bits != 0 {
            return i + bits.trailing_zeros() as usize;
        }
        i += 16;
    }
    i
}

/// The same, eight bytes at a time (SWAR), where there is no Wasm SIMD (native tests).
#[cfg(not(target_arch = "wasm32"))]
fn to_quote_or_backslash(b: &[u8], mut i: usize) -> usize {
    while i + 8 <= b.len() {
        let w = word(b, i);
        let hit = has_byte(w, b'"') | has_byte(w, b'\\');
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit set in each byte of `w` that equals `c` (exact for the lowest such byte, which
/// is all callers use: test for zero, or take `trailing_zeros() / 8`).
#[inline]
pub fn has_byte(w: u64, c: u8) -> u64 {
    let x = w ^ (LO * c as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// The high bit set in each byte of `w` below `n` (`n` at most 128; exact for the lowest).
#[inline]
pub fn has_less(w: u64, n: u8) -> u64 {
    w.wrapping_sub(LO * n as u64) & !w & HI
}

/// Whether `a` and `b` are the same bytes, compared eight at a time (guards compare their
/// binding's config on every call to reuse what they parsed from it).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i + 8 <= a.len() {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    a[i..] == b[i..]
}

/// Eight bytes of `b` from `i` as a little-endian word (`i + 8 <= b.len()`).
#[inline]
pub fn word(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index just past the value starting at `i` (after whitespace).
pub fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    let i = skip_ws(b, i);
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            Some(j)
        }
    }
}

/// What a [`members`] callback did with a member's value.
pub enum Walk {
    /// Nothing: skip the value.
    Skip,
    /// Read it up to this index (just past the value).
    Done(usize),
    /// Stop the walk.
    Stop,
}

/// Calls `f(key_raw, value_start)` for each member of the object at `i` (after whitespace), in
/// order; the key is the raw text between its quotes. Answers the index past the object, or
/// `None` if it is not one or `f` stopped.
pub fn members(b: &[u8], i: usize, mut f: impl FnMut(&[u8], usize) -> Walk) -> Option<usize> {
    let mut i = skip_ws(b, i);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let kend = skip_string(b, i)?;
        let key = &b[i + 1..kend - 1];
        i = skip_ws(b, kend);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let vstart = skip_ws(b, i + 1);
        let vend = match f(key, vstart) {
            Walk::Skip => skip_value(b, vstart)?,
            Walk::Done(end) => end,
            Walk::Stop => return None,
        };
        i = skip_ws(b, vend);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Where the value of the member `key` (raw) of the object at `i` starts; the last one when the
/// key is repeated, as most decoders read it.
pub fn member(b: &[u8], i: usize, key: &[u8]) -> Option<usize> {
    let mut at = None;
    members(b, i, |k, v| {
        if k == key {
            at = Some(v);
        }
        Walk::Skip
    })?;
    at
}

/// Calls `f(value_start)` for each element of the array at `i` (after whitespace), in order;
/// `f` answers like a [`members`] callback. Answers the index past the array, or `None` if it is
/// not one or `f` stopped.
pub fn elements(b: &[u8], i: usize, mut f: impl FnMut(usize) -> Walk) -> Option<usize> {
    let mut i = skip_ws(b, i);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Some(i + 1);
    }
    loop {
        let vend = match f(i) {
            Walk::Skip => skip_value(b, i)?,
            Walk::Done(end) => end,
            Walk::Stop => return None,
        };
        i = skip_ws(b, vend);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b']') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Calls `f(frame, start)` on each `params.arguments` value of the request `frame` (every one,
/// should a key be repeated: decoders disagree on which one wins); `f` answers the index past
/// the value, or `None` to stop. One pass over the frame. Answers false if stopped or malformed.
pub fn each_arguments(frame: &[u8], mut f: impl FnMut(&[u8], usize) -> Option<usize>) -> bool {
    members(frame, 0, |k, v| {
        if k != b"params" {
            return Walk::Skip;
        }
        let end = members(frame, v, |k2, v2| {
            if k2 != b"arguments" {
                return Walk::Skip;
            }
            match f(frame, v2) {
                Some(e) => Walk::Done(e),
                None => Walk::Stop,
            }
        });
        match end {
            Some(e) => Walk::Done(e),
            // params that is not an object has no arguments; a stop propagates.
            None if matches!(frame.get(v), Some(b'{')) => Walk::Stop,
            None => Walk::Skip,
        }
    })
    .is_some()
}

/// A string met by [`strings`].
#[derive(Clone, Copy, Debug)]
pub struct Str<'a> {
    /// The raw text between the quotes (escapes not decoded).
    pub raw: &'a [u8],
    /// Where `raw` starts in the text.
    pub start: usize,
    /// The raw name of the member this string is the value of, or of the nearest member
    /// holding the array it is in; empty at the top level.
    pub key: &'a [u8],
    /// Whether `raw` has escapes (`\n`, `\u0068`...): decode it before looking at it.
    pub escaped: bool,
}

/// Calls `f` on every string value (not keys) of the value starting at `i`, in order, until it
/// returns false; answers the index past the value (or `None` if stopped or malformed).
pub fn strings<'a>(b: &'a [u8], i: usize, mut f: impl FnMut(Str<'a>) -> bool) -> Option<usize> {
    // keys[d]: the member key in force at depth d; arrays inherit their parent's.
    let mut keys: [&[u8]; 32] = [&[]; 32];
    let mut in_obj = [false; 32];
    let mut depth = 0usize;
    let mut expect_key = false;
    let mut i = skip_ws(b, i);
    let scalar_start = !matches!(b.get(i), Some(b'{') | Some(b'['));
    if scalar_start {
        if b.get(i) == Some(&b'"') {
            let (end, escaped) = scan_string(b, i)?;
            if !f(Str { raw: &b[i + 1..end - 1], start: i + 1, key: &[], escaped }) {
                return None;
            }
            return Some(end);
        }
        return skip_value(b, i);
    }
    while i < b.len() {
        match b[i] {
            b'"' => {
                let (end, escaped) = scan_string(b, i)?;
                let raw = &b[i + 1..end - 1];
                let d = depth.min(31);
                if expect_key {
                    keys[d] = raw;
                    expect_key = false;
                } else if !f(Str { raw, start: i + 1, key: keys[d], escaped }) {
                    return None;
                }
                i = end;
                continue;
            }
            b'{' | b'[' => {
                let parent = keys[depth.min(31)];
                depth += 1;
                let d = depth.min(31);
                in_obj[d] = b[i] == b'{';
                keys[d] = parent;
                expect_key = in_obj[d];
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                expect_key = false;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b',' => expect_key = in_obj[depth.min(31)],
            _ => {}
        }
        i += 1;
    }
    None
}

/// The text of a JSON string's inside with escapes decoded; borrowed when it has none.
pub fn unescape(raw: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            let n = raw[i..].iter().position(|&x| x == b'\\').unwrap_or(raw.len() - i);
            out.push_str(std::str::from_utf8(&raw[i..i + n]).ok()?);
            i += n;
            continue;
        }
        let e = *raw.get(i + 1)?;
        i += 2;
        let ch = match e {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let hi = hex4(raw.get(i..i + 4)?)?;
                i += 4;
                if (0xD800..0xDC00).contains(&hi) && raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u') {
                    let lo = hex4(raw.get(i + 2..i + 6)?)?;
                    if (0xDC00..0xE000).contains(&lo) {
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)).unwrap_or('\u{FFFD}')
                    } else {
                        '\u{FFFD}'
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{FFFD}')
                }
            }
            other => other as char,
        };
        out.push(ch);
    }
    Some(Cow::Owned(out))
}

/// [`unescape`] for a string whose walk already told whether it has escapes: without any, only
/// UTF-8 is checked.
pub fn decode(raw: &[u8], escaped: bool) -> Option<std::borrow::Cow<'_, str>> {
    if escaped {
        unescape(raw)
    } else {
        std::str::from_utf8(raw).ok().map(std::borrow::Cow::Borrowed)
    }
}

/// The first `n` bytes or so of a JSON string's inside, escapes decoded (enough to look at how
/// it starts without decoding a long string); stops early at a malformed escape.
pub fn unescape_head(raw: &[u8], n: usize) -> String {
    // Walk whole escapes and characters up to n bytes, so that none is cut in two.
    let mut i = 0;
    while i < raw.len() && i < n {
        if raw[i] == b'\\' {
            let mut len = if raw.get(i + 1) == Some(&b'u') { 6 } else { 2 };
            if len == 6 && raw.get(i + 2).map_or(false, |c| c.eq_ignore_ascii_case(&b'd')) && raw.get(i + 6) == Some(&b'\\') {
                len = 12; // a surrogate pair
            }
            i += len;
        } else {
            i += 1;
            while i < raw.len() && raw[i] & 0xC0 == 0x80 {
                i += 1;
            }
        }
    }
    match unescape(&raw[..i.min(raw.len())]) {
        Some(s) => s.into_owned(),
        None => String::new(),
    }
}

fn hex4(h: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &c in h {
        n = n << 4 | (c as char).to_digit(16)?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swar() {
        let w = word(b"ab cd%\x80z", 0);
        assert_eq!(has_byte(w, b'%').trailing_zeros() / 8, 5);
        assert_eq!(has_less(w, 0x21).trailing_zeros() / 8, 2);
        assert_eq!((w & HI).trailing_zeros() / 8, 6);
        assert_eq!(has_byte(w, b'q'), 0);
        assert_eq!(has_less(word(b"abcdefgh", 0), 0x21), 0);
    }

    #[test]
    fn compares() {
        assert!(same(b"", b""));
        assert!(same(b"0123456789abcdefXYZ", b"0123456789abcdefXYZ"));
        assert!(!same(b"0123456789abcdefXYZ", b"0123456789abcdefXYW"));
        assert!(!same(b"0123456789abcdefXYZ", b"0123456789abcdeeXYZ"));
        assert!(!same(b"abc", b"abcd"));
    }

    #[test]
    fn skips_strings() {
        let s = br#""abc" "a\"b\\" "0123456789abcdef\"0123456789" "#;
        assert_eq!(skip_string(s, 0), Some(5));
        assert_eq!(skip_string(s, 6), Some(14));
        let end = skip_string(s, 15).unwrap();
        assert_eq!(s[end - 1], b'"');
        assert_eq!(end, s.len() - 1);
        assert_eq!(skip_string(b"\"unterminated", 0), None);
        assert_eq!(skip_string(b"\"ends in escape\\", 0), None);
    }

    #[test]
    fn finds_arguments() {
        let args = |f: &[u8]| {
            let mut seen = Vec::new();
            let ok = each_arguments(f, |b, at| {
                let end = skip_value(b, at)?;
                seen.push(String::from_utf8_lossy(&b[at..end]).into_owned());
                Some(end)
            });
            (ok, seen)
        };
        let f = br#"{"jsonrpc":"2.0","id":{"params":1},"method":"tools/call","params":{"name":"x","_meta":{"arguments":{"decoy":1}},"arguments":{"path":"a"}}}"#;
        assert_eq!(args(f), (true, vec![r#"{"path":"a"}"#.to_string()]));
        assert_eq!(args(br#"{"jsonrpc":"2.0","method":"ping"}"#), (true, vec![]));
        assert_eq!(args(br#"{"params":"x"}"#), (true, vec![]));
        assert!(!args(br#"{"params":{"arguments":{"a":"#).0);
        // Repeated keys: every one is seen.
        let f = br#"{"params":{"arguments":{"a":"1"},"arguments":{"b":"2"}},"params":{"arguments":[]}}"#;
        assert_eq!(args(f).1, [r#"{"a":"1"}"#, r#"{"b":"2"}"#, "[]"]);
        let mut n = 0;
        assert!(members(br#" { "a" : 1 , "b":[1,{"c":"}"}] }"#, 0, |_, _| {
            n += 1;
            Walk::Skip
        })
        .is_some());
        assert_eq!(n, 2);
        let o = br#"{"name":"a","x":{"name":"b"},"name":"c"}"#;
        assert_eq!(member(o, 0, b"name"), Some(o.len() - 4));
        assert_eq!(member(o, 0, b"y"), None);
    }

    #[test]
    fn walks_arrays() {
        let b = br#"[ 1, "a]", {"b":[2]} , [] ]"#;
        let mut seen = Vec::new();
        let end = elements(b, 0, |at| {
            let e = skip_value(b, at).unwrap();
            seen.push(String::from_utf8_lossy(&b[at..e]).into_owned());
            Walk::Done(e)
        });
        assert_eq!(end, Some(b.len()));
        assert_eq!(seen, ["1", "\"a]\"", r#"{"b":[2]}"#, "[]"]);
        assert_eq!(elements(b"[]", 0, |_| Walk::Stop), Some(2));
        assert_eq!(elements(b"{}", 0, |_| Walk::Skip), None);
    }

    #[test]
    fn visits_strings() {
        let f = br#"{"a":"x","b":["y",{"c":"z\"q"}],"d":1,"e":{"f":[["g"]]},"h":"i"} trailing"#;
        let mut seen = Vec::new();
        let end = strings(f, 0, |s| {
            seen.push(format!("{}={}", String::from_utf8_lossy(s.key), String::from_utf8_lossy(s.raw)));
            true
        });
        assert_eq!(seen, ["a=x", "b=y", "c=z\\\"q", "f=g", "h=i"]);
        let mut esc = Vec::new();
        strings(br#"["plain","a\u0068b","0123456789\n"]"#, 0, |s| {
            esc.push(s.escaped);
            true
        });
        assert_eq!(esc, [false, true, true]);
        assert_eq!(end, Some(f.len() - 9));
        assert_eq!(strings(br#""top""#, 0, |s| s.raw == b"top"), Some(5));
        assert_eq!(strings(b"{\"a\":\"x\"", 0, |_| true), None);
    }

    #[test]
    fn unescapes_heads() {
        assert_eq!(unescape_head(br"\u0068ttp://127.0.0.1/and more", 8), "htt");
        assert_eq!(unescape_head(br"\u0068ttp://127.0.0.1/and more", 40), "http://127.0.0.1/and more");
        assert_eq!(unescape_head(br"abc\n", 3), "abc");
        assert_eq!(unescape_head(br"abc\n", 4), "abc\n");
        assert_eq!(unescape_head(br"abc\n", 5), "abc\n");
        assert_eq!(unescape_head("caf\u{e9}s".as_bytes(), 4), "caf\u{e9}");
        assert_eq!(unescape_head(br"\ud83d\ude00x", 2), "\u{1f600}");
        assert_eq!(unescape_head(br"ab\u00", 9), "");
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(br"plain").unwrap(), "plain");
        assert_eq!(unescape(br#"a\"b\\c\/d\n\u00e9\ud83d\ude00\u002e"#).unwrap(), "a\"b\\c/d\n\u{e9}\u{1f600}.");
        assert_eq!(unescape(br"\u0000").unwrap(), "\0");
        assert_eq!(unescape(br"\ud800x").unwrap(), "\u{FFFD}x");
        assert!(unescape(br"\u12").is_none());
    }
}
