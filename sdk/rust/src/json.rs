//! Just enough JSON for guards: read the binding config into a [`Value`], find members of a
//! frame without decoding the rest ([`member`]), visit every string of a frame with its raw
//! position so that a guard can check it and splice a replacement in ([`strings`]), and write
//! JSON strings ([`push_str`]).
//!
//! Frames come from the host already parsed as JSON; these functions never panic on bad input
//! and answer `None` or stop early instead.

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
    while i < b.len() {
        match b[i] {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// The end of the value (string, number, literal, object or array) starting at `start`.
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match b.get(start)? {
        b'"' => string_end(b, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while i < b.len() {
                match b[i] {
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
            None
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
                let hex = |chars: &mut std::str::Chars| -> Option<u32> {
                    let h: String = chars.by_ref().take(4).collect();
                    if h.len() != 4 {
                        return None;
                    }
                    u32::from_str_radix(&h, 16).ok()
                };
                let hi = hex(&mut chars)?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    let rest = chars.as_str();
                    if !rest.starts_with("\\u") {
                        0xFFFD
                    } else {
                        chars.next();
                        chars.next();
                        let lo = hex(&mut chars)?;
                        0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                    }
                } else {
                    hi
                };
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            other => out.push(other),
        }
    }
    Some(Cow::Owned(out))
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
/// in `obj`. Only the object's own members are looked at.
pub fn member<'a>(obj: &'a [u8], key: &str) -> Option<(usize, &'a [u8])> {
    let mut i = obj.iter().position(|&b| !b.is_ascii_whitespace())?;
    if obj[i] != b'{' {
        return None;
    }
    i += 1;
    loop {
        i += obj[i..].iter().position(|&b| !b.is_ascii_whitespace() && b != b',')?;
        if obj[i] != b'"' {
            return None;
        }
        let kend = string_end(obj, i)?;
        let k = &obj[i + 1..kend - 1];
        i = kend + obj[kend..].iter().position(|&b| b == b':')? + 1;
        i += obj[i..].iter().position(|&b| !b.is_ascii_whitespace())?;
        let vend = value_end(obj, i)?;
        if k == key.as_bytes() {
            return Some((i, &obj[i..vend]));
        }
        i = vend;
    }
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
}
