//! A one-pass walk over the strings of a JSON text that knows each string's path
//! (`params.arguments.to`, `result.content[0].text`), rendered only when asked for, plus decoding
//! of a string's escapes with a map back to raw offsets (to splice a replacement in).

/// One open object or array.
#[derive(Clone, Copy)]
struct Level {
    array: bool,
    index: u32,
    key: (usize, usize),
}

/// Where the walk is: the open levels, to render a path.
pub struct Path<'a> {
    text: &'a [u8],
    stack: Vec<Level>,
}

impl<'a> Path<'a> {
    /// Depth of the string being visited (1 = a member of the top-level object).
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// The key of the member being visited at depth 1.
    pub fn top_key(&self) -> &'a [u8] {
        match self.stack.first() {
            Some(l) if !l.array => &self.text[l.key.0..l.key.1],
            _ => b"",
        }
    }

    /// The path as `a.b[2].c`. Keys that could themselves be personal data (an '@', five or more
    /// digits) or are odd (long, non-printable) are shown as `*`: a reason never echoes data.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.stack {
            if l.array {
                out.push('[');
                out.push_str(&l.index.to_string());
                out.push(']');
                continue;
            }
            if !out.is_empty() {
                out.push('.');
            }
            let k = &self.text[l.key.0..l.key.1];
            let digits = k.iter().filter(|c| c.is_ascii_digit()).count();
            if k.len() > 48 || digits >= 5 || k.iter().any(|&c| c == b'@' || c == b'\\' || !(0x20..0x7f).contains(&c)) {
                out.push('*');
            } else {
                out.push_str(std::str::from_utf8(k).unwrap_or("*"));
            }
        }
        if out.is_empty() {
            out.push('$');
        }
        out
    }
}

/// The index just past the closing quote of the string whose opening quote is at `at`.
pub fn string_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        i += quote_or_backslash(&b[i.min(b.len())..])?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// The index of the first '"' or '\' of `s`, eight bytes a step (a byte loop costs several
/// nanoseconds a byte in Wasm).
fn quote_or_backslash(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= s.len() {
        // Safety: i + 8 <= s.len().
        let x = u64::from_le(unsafe { (s.as_ptr().add(i) as *const u64).read_unaligned() });
        let (q, b) = (x ^ (b'"' as u64 * LO), x ^ (b'\\' as u64 * LO));
        // Zero bytes; the lowest flagged one is always a true one.
        let z = (q.wrapping_sub(LO) & !q | b.wrapping_sub(LO) & !b) & HI;
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..].iter().position(|&c| c == b'"' || c == b'\\').map(|p| i + p)
}

/// Calls `visit(path, start, end, is_key)` for every string of `text` (`start..end` is the raw
/// text between the quotes), keys only when `keys`; `visit` returns false to stop.
pub fn strings<'a>(text: &'a [u8], keys: bool, mut visit: impl FnMut(&Path<'a>, usize, usize, bool) -> bool) {
    let mut p = Path { text, stack: Vec::with_capacity(16) };
    let mut expect_key = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let end = match string_end(text, i) {
                    Some(e) => e,
                    None => return,
                };
                let (s, e) = (i + 1, end - 1);
                if expect_key {
                    if keys && !visit(&p, s, e, true) {
                        return;
                    }
                    if let Some(l) = p.stack.last_mut() {
                        l.key = (s, e);
                    }
                    expect_key = false;
                } else if !visit(&p, s, e, false) {
                    return;
                }
                i = end;
                continue;
            }
            b'{' => {
                p.stack.push(Level { array: false, index: 0, key: (i, i) });
                expect_key = true;
            }
            b'[' => {
                p.stack.push(Level { array: true, index: 0, key: (i, i) });
                expect_key = false;
            }
            b'}' | b']' => {
                p.stack.pop();
                expect_key = false;
            }
            b',' => {
                if let Some(l) = p.stack.last_mut() {
                    if l.array {
                        l.index += 1;
                    } else {
                        expect_key = true;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// The elements of the JSON array `arr` (its raw text, brackets included), as ranges of it.
pub fn items(arr: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, None);
    let mut i = 0;
    while i < arr.len() {
        let c = arr[i];
        match c {
            b'"' => {
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
                i = match string_end(arr, i) {
                    Some(e) => e,
                    None => break,
                };
                continue;
            }
            b'[' | b'{' => {
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
                depth += 1;
            }
            b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    if let Some(s) = start.take() {
                        out.push((s, trim_end(arr, i)));
                    }
                    break;
                }
            }
            b',' if depth == 1 => {
                if let Some(s) = start.take() {
                    out.push((s, trim_end(arr, i)));
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => {
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
            }
        }
        i += 1;
    }
    out
}

/// `end`, moved back over white space.
fn trim_end(b: &[u8], mut end: usize) -> usize {
    while end > 0 && b[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    end
}

/// Decodes the raw inside of a JSON string into `out`, with `map[i]` the raw offset where the
/// decoded byte `i` came from (and one last entry for the end). False if the escapes are bad.
pub fn decode(raw: &[u8], out: &mut Vec<u8>, map: &mut Vec<u32>) -> bool {
    out.clear();
    map.clear();
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            map.push(i as u32);
            i += 1;
            continue;
        }
        let at = i as u32;
        let e = match raw.get(i + 1) {
            Some(&e) => e,
            None => return false,
        };
        let simple = match e {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'u' => None,
            other => Some(other),
        };
        if let Some(s) = simple {
            out.push(s);
            map.push(at);
            i += 2;
            continue;
        }
        let mut cp = match hex4(raw, i + 2) {
            Some(v) => v,
            None => return false,
        };
        i += 6;
        if (0xD800..0xDC00).contains(&cp) && raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u') {
            if let Some(lo) = hex4(raw, i + 2) {
                if (0xDC00..0xE000).contains(&lo) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
        }
        let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        for &b in ch.encode_utf8(&mut buf).as_bytes() {
            out.push(b);
            map.push(at);
        }
    }
    map.push(raw.len() as u32);
    true
}

/// The value of four hex digits at `at`.
pub fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let h = b.get(at..at + 4)?;
    let mut v = 0u32;
    for &c in h {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let f = br#"{"jsonrpc":"2.0","id":"7","result":{"content":[{"type":"text","text":"a"},{"text":"b"}],"x@y.com":"c"}}"#;
        let mut seen = Vec::new();
        strings(f, false, |p, s, e, _| {
            seen.push(format!("{}={}", p.render(), std::str::from_utf8(&f[s..e]).unwrap()));
            true
        });
        assert_eq!(
            seen,
            ["jsonrpc=2.0", "id=7", "result.content[0].type=text", "result.content[0].text=a", "result.content[1].text=b", "result.*=c"]
        );
    }

    #[test]
    fn splits_arrays() {
        let a = br#"[ {"a":[1,2]}, "x,]" ,3,[4] ]"#;
        let got: Vec<&str> = items(a).iter().map(|&(s, e)| std::str::from_utf8(&a[s..e]).unwrap()).collect();
        assert_eq!(got, [r#"{"a":[1,2]}"#, r#""x,]""#, "3", "[4]"]);
        assert!(items(b"[]").is_empty());
    }

    #[test]
    fn decodes_with_map() {
        let (mut out, mut map) = (Vec::new(), Vec::new());
        assert!(decode(br#"a\nb\u00e9\ud83d\ude00c"#, &mut out, &mut map));
        assert_eq!(out, "a\nb\u{e9}\u{1f600}c".as_bytes());
        assert_eq!(map[1], 1);
        assert_eq!(*map.last().unwrap() as usize, br#"a\nb\u00e9\ud83d\ude00c"#.len());
    }
}
