//! Just enough JSON for guards: read the binding config into a [`Value`] ([`parse`]), find
//! members of a frame without decoding the rest ([`member`], [`path`], [`string`]), visit every
//! string of a frame with its raw position so that a guard can check it and splice a
//! replacement in ([`strings`]), and write JSON strings ([`push_str`]).
//!
//! Frames come from the host already checked as JSON-RPC; these functions never panic on bad
//! input and answer `None` or stop early instead.

use std::borrow::Cow;

/// A parsed JSON value. Objects keep their members in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_array(&self) -> &[Value] {
        match self {
            Value::Array(a) => a,
            _ => &[],
        }
    }
    pub fn as_object(&self) -> &[(String, Value)] {
        match self {
            Value::Object(m) => m,
            _ => &[],
        }
    }
    /// The strings of an array (other elements skipped); empty when not an array.
    pub fn strings(&self) -> Vec<&str> {
        self.as_array().iter().filter_map(Value::as_str).collect()
    }
}

/// Parses a whole JSON text. Empty input is `Null` (a binding with no config).
pub fn parse(text: &[u8]) -> Result<Value, String> {
    let mut p = Parser { b: text, i: 0, depth: 0 };
    p.ws();
    if p.i == text.len() {
        return Ok(Value::Null);
    }
    let v = p.value()?;
    p.ws();
    if p.i != text.len() {
        return Err(format!("json: data after the value at byte {}", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn err(&self, what: &str) -> String {
        format!("json: {} at byte {}", what, self.i)
    }
    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') | Some(b'[') => {
                self.depth += 1;
                if self.depth > 128 {
                    return Err(self.err("nested too deep"));
                }
                let v = if self.b[self.i] == b'{' { self.object() } else { self.array() };
                self.depth -= 1;
                v
            }
            Some(b'"') => {
                let end = string_end(self.b, self.i).ok_or_else(|| self.err("unterminated string"))?;
                let s = unescape(&self.b[self.i + 1..end - 1]).ok_or_else(|| self.err("bad string"))?;
                self.i = end;
                Ok(Value::String(s.into_owned()))
            }
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(_) => {
                let start = self.i;
                while self.i < self.b.len() && matches!(self.b[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    self.i += 1;
                }
                std::str::from_utf8(&self.b[start..self.i])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .map(Value::Number)
                    .ok_or_else(|| self.err("bad value"))
            }
            None => Err(self.err("unexpected end")),
        }
    }
    fn word(&mut self, w: &str, v: Value) -> Result<Value, String> {
        if self.b[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(self.err("bad value"))
        }
    }
    fn object(&mut self) -> Result<Value, String> {
        self.i += 1;
        let mut m = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Object(m));
        }
        loop {
            self.ws();
            let k = match self.value()? {
                Value::String(k) => k,
                _ => return Err(self.err("object key is not a string")),
            };
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            m.push((k, self.value()?));
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(m));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }
    fn array(&mut self) -> Result<Value, String> {
        self.i += 1;
        let mut a = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Array(a));
        }
        loop {
            a.push(self.value()?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(a));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }
}

/// The index just past the string that starts with the quote at `start`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        i += crate::bytes::find_either(b.get(i..)?, b'"', b'\\')?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// The end of the value (string, number, literal, object or array) starting at `start`.
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match b.get(start)? {
        b'"' => string_end(b, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                match *b.get(i)? {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = start;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
            }
            Some(i)
        }
    }
}

/// Decodes the inside of a JSON string (no quotes): borrowed when it has no escapes.
pub fn unescape(raw: &[u8]) -> Option<Cow<'_, str>> {
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let mut out = String::with_capacity(raw.len());
    let s = std::str::from_utf8(raw).ok()?;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'u' => {
                let hi = hex4(chars.as_str())?;
                chars = chars.as_str()[4..].chars();
                // A high surrogate pairs with a following \uDC00-\uDFFF; anything else is
                // U+FFFD, as Go's decoder has it, and the next escape stands on its own.
                if (0xD800..0xDC00).contains(&hi) {
                    let rest = chars.as_str();
                    let lo = rest.strip_prefix("\\u").and_then(hex4);
                    match lo {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            chars = rest[6..].chars();
                            out.push(char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)).unwrap_or('\u{FFFD}'));
                        }
                        _ => out.push('\u{FFFD}'),
                    }
                } else {
                    out.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
                }
            }
            other => out.push(other),
        }
    }
    Some(Cow::Owned(out))
}

/// The value of the 4 hex digits `s` starts with.
fn hex4(s: &str) -> Option<u32> {
    let h = s.as_bytes().get(..4)?;
    if !h.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(&s[..4], 16).ok()
}

/// Appends `s` as a JSON string, quotes included.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// The raw text of the member `key` of the object `obj` (e.g. the frame), and where it starts
/// in `obj`. Only the object's own members are looked at. Keys compare decoded (`"k\u0065y"` is
/// `key`), and a repeated key answers its last value: that is the one a server's JSON decoder
/// (Go, JavaScript, Python) acts on, so a guard checking the first could be fooled. `None` when
/// `obj` is not an object, has no such member, or is not valid JSON up to its end.
pub fn member<'a>(obj: &'a [u8], key: &str) -> Option<(usize, &'a [u8])> {
    let mut found = None;
    let mut i = skip_ws(obj, 0);
    if obj.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(obj, i + 1);
    if obj.get(i) == Some(&b'}') {
        return None;
    }
    loop {
        if obj.get(i) != Some(&b'"') {
            return None;
        }
        let kend = string_end(obj, i)?;
        let k = &obj[i + 1..kend - 1];
        i = skip_ws(obj, kend);
        if obj.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(obj, i + 1);
        let vend = value_end(obj, i)?;
        if vend == i {
            return None;
        }
        if key_is(k, key) {
            found = Some((i, &obj[i..vend]));
        }
        i = skip_ws(obj, vend);
        match obj.get(i) {
            Some(b',') => i = skip_ws(obj, i + 1),
            Some(b'}') => return found,
            _ => return None,
        }
    }
}

/// Follows [`member`] through nested objects: `path(frame, &["params", "arguments"])` is the
/// raw text of `params.arguments` and where it starts in `obj`.
pub fn path<'a>(obj: &'a [u8], keys: &[&str]) -> Option<(usize, &'a [u8])> {
    let mut at = (0, obj);
    for key in keys {
        let (start, v) = member(at.1, key)?;
        at = (at.0 + start, v);
    }
    Some(at)
}

/// Decodes a raw JSON string value, quotes included (as [`member`] returns it); `None` when
/// `raw` is not exactly one string.
///
/// ```
/// let frame = br#"{"method":"tools/call"}"#;
/// let method = portcullis::json::member(frame, "method").and_then(|(_, m)| portcullis::json::string(m));
/// assert_eq!(method.as_deref(), Some("tools/call"));
/// ```
pub fn string(raw: &[u8]) -> Option<Cow<'_, str>> {
    if raw.first() != Some(&b'"') || string_end(raw, 0) != Some(raw.len()) {
        return None;
    }
    unescape(&raw[1..raw.len() - 1])
}

fn key_is(raw: &[u8], key: &str) -> bool {
    if raw.contains(&b'\\') {
        unescape(raw).map_or(false, |k| k == key)
    } else {
        raw == key.as_bytes()
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// A string met by [`strings`].
#[derive(Clone, Copy, Debug)]
pub struct Str<'a> {
    /// The raw text between the quotes (escapes not decoded: see [`unescape`]).
    pub raw: &'a [u8],
    /// Where `raw` starts in the visited text.
    pub start: usize,
    /// The raw name of the member this string is the value of, or of the nearest member
    /// holding the array it is in; empty at the top level.
    pub key: &'a [u8],
    /// Whether this string is an object key rather than a value.
    pub is_key: bool,
}

/// Calls `f` on every string of the JSON text `text`, keys included, in order; `f` returns
/// false to stop. One pass, no allocation.
pub fn strings<'a>(text: &'a [u8], mut f: impl FnMut(Str<'a>) -> bool) {
    // keys[d] is the member key in force at nesting depth d (arrays inherit their member's).
    let mut keys: [&[u8]; 32] = [&[]; 32];
    let mut in_obj: [bool; 32] = [false; 32];
    let mut depth = 0usize;
    let mut expect_key = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let end = match string_end(text, i) {
                    Some(e) => e,
                    None => return,
                };
                let raw = &text[i + 1..end - 1];
                let is_key = expect_key;
                let d = depth.min(31);
                if !f(Str { raw, start: i + 1, key: keys[d], is_key }) {
                    return;
                }
                if is_key {
                    keys[d] = raw;
                    expect_key = false;
                }
                i = end;
                continue;
            }
            b'{' | b'[' => {
                let parent = keys[depth.min(31)];
                depth += 1;
                let d = depth.min(31);
                in_obj[d] = text[i] == b'{';
                keys[d] = parent;
                expect_key = in_obj[d];
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                expect_key = false;
            }
            b',' => expect_key = in_obj[depth.min(31)],
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config() {
        let v = parse(br#"{"deny":["rm -rf","x\u00e9\ud83d\ude00"],"n":-1.5e2,"on":true,"z":null}"#).unwrap();
        assert_eq!(v.get("deny").unwrap().strings(), vec!["rm -rf", "x\u{e9}\u{1f600}"]);
        assert_eq!(v.get("n").unwrap().as_f64(), Some(-150.0));
        assert_eq!(v.get("on").unwrap().as_bool(), Some(true));
        assert_eq!(parse(b"").unwrap(), Value::Null);
        assert!(parse(b"{\"a\":}").is_err());
        assert!(parse(b"[1,2").is_err());
        assert!(parse(b"{} x").is_err());
    }

    #[test]
    fn finds_members() {
        let f = br#"{"jsonrpc":"2.0","id":{"a":[1,"}"]},"method":"tools/call","params":{"name":"x"}}"#;
        assert_eq!(member(f, "method").unwrap().1, br#""tools/call""#);
        assert_eq!(member(f, "params").unwrap().1, br#"{"name":"x"}"#);
        assert_eq!(member(f, "id").unwrap().1, br#"{"a":[1,"}"]}"#);
        assert!(member(f, "name").is_none());
    }

    #[test]
    fn visits_strings_with_keys() {
        let f = br#"{"a":"x","b":["y",{"c":"z\"q"}],"d":1}"#;
        let mut seen = Vec::new();
        strings(f, |s| {
            seen.push((String::from_utf8_lossy(s.key).into_owned(), String::from_utf8_lossy(s.raw).into_owned(), s.is_key));
            true
        });
        let want = [("", "a", true), ("a", "x", false), ("a", "b", true), ("b", "y", false), ("b", "c", true), ("c", "z\\\"q", false), ("b", "d", true)];
        assert_eq!(seen.len(), want.len());
        for (s, w) in seen.iter().zip(want.iter()) {
            assert_eq!((s.0.as_str(), s.1.as_str(), s.2), *w);
        }
    }

    #[test]
    fn writes_strings() {
        let mut out = Vec::new();
        push_str(&mut out, "a\"b\\\n\u{1}");
        assert_eq!(out, b"\"a\\\"b\\\\\\n\\u0001\"".to_vec());
    }

    #[test]
    fn members_resist_escapes_and_repeats() {
        // A server decodes the escaped key and keeps the last copy: so must a guard.
        let f = br#"{"params":{"name":"x","arguments":{"cmd":"ls"},"argu\u006dents":{"cmd":"rm -rf /"}}}"#;
        assert_eq!(path(f, &["params", "arguments"]).unwrap().1, br#"{"cmd":"rm -rf /"}"#);
        let (at, v) = path(f, &["params", "name"]).unwrap();
        assert_eq!(&f[at..at + v.len()], br#""x""#);
        assert_eq!(member(br#" { "a" : 1 , "a" : [2] } "#, "a").unwrap().1, b"[2]");
        for bad in [&b"{"[..], b"{\"a\"}", b"{\"a\":}", b"{\"a\":1,}", b"{\"a\":1 \"b\":2}", b"[1]", b""] {
            assert!(member(bad, "a").is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(string(br#""tools\/call""#).as_deref(), Some("tools/call"));
        assert!(string(br#""a" "#).is_none() && string(b"1").is_none() && string(br#""a"#).is_none());
    }

    #[test]
    fn unescapes_like_go() {
        let u = |s: &[u8]| unescape(s).map(|c| c.into_owned());
        assert_eq!(u(br"\ud83d\ude00 \u00e9\n").as_deref(), Some("\u{1f600} \u{e9}\n"));
        assert_eq!(u(br"\ud83dx").as_deref(), Some("\u{fffd}x"));
        assert_eq!(u(br"\ud83d\u0041").as_deref(), Some("\u{fffd}A"));
        assert_eq!(u(br"\ude00").as_deref(), Some("\u{fffd}"));
        assert_eq!(u(br"\u+041"), None);
        assert_eq!(u(br"\u00"), None);
        assert_eq!(u(b"\xff"), None);
    }
}
