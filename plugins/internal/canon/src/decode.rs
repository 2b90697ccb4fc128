//! The encoding layers that hide a path or a host from a naive check: percent-encoding (applied
//! several times: `%252e`), IIS-style `%u002e`, overlong UTF-8 (`%c0%ae` is a dot to lenient
//! decoders), and Unicode compatibility forms that normalise to ASCII (fullwidth `．．／`, the
//! ideographic full stop, circled digits...).
//!
//! Every function answers `None` when there is nothing to decode, so that the common case
//! allocates nothing.

/// How many decoding rounds [`layers`] applies at most: enough for any encoding an upstream
/// would undo, few enough to bound the work.
pub const MAX_ROUNDS: usize = 4;

/// Decodes `%XX` (and `%uXXXX`) escapes once; the decoded bytes are read as lenient UTF-8
/// (overlong forms give the character they spell). Escapes that are not hex stay as they are.
pub fn percent_once(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let first = b.iter().position(|&c| c == b'%')?;
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut i = first;
    let mut changed = false;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (b.get(i + 1).and_then(|&c| hex(c)), b.get(i + 2).and_then(|&c| hex(c))) {
                out.push(h << 4 | l);
                i += 3;
                changed = true;
                continue;
            }
            if matches!(b.get(i + 1), Some(b'u') | Some(b'U')) && i + 6 <= b.len() {
                let q = &b[i + 2..i + 6];
                if q.iter().all(|&c| hex(c).is_some()) {
                    let cp = q.iter().fold(0u32, |a, &c| a << 4 | hex(c).unwrap() as u32);
                    let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                    changed = true;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    if !changed {
        return None;
    }
    Some(lenient_utf8(&out))
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Reads bytes as UTF-8 the way old lenient decoders did: overlong sequences decode to the code
/// point they spell (`C0 AE` is `.`), anything else malformed becomes U+FFFD.
pub fn lenient_utf8(b: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(b) {
        return s.to_string();
    }
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (n, init) = match c {
            0x00..=0x7F => {
                out.push(c as char);
                i += 1;
                continue;
            }
            0xC0..=0xDF => (1, (c & 0x1F) as u32),
            0xE0..=0xEF => (2, (c & 0x0F) as u32),
            0xF0..=0xF7 => (3, (c & 0x07) as u32),
            _ => {
                out.push('\u{FFFD}');
                i += 1;
                continue;
            }
        };
        if i + n >= b.len() {
            out.push('\u{FFFD}');
            i += 1;
            continue;
        }
        let cont = &b[i + 1..i + 1 + n];
        if !cont.iter().all(|&x| x & 0xC0 == 0x80) {
            out.push('\u{FFFD}');
            i += 1;
            continue;
        }
        let cp = cont.iter().fold(init, |a, &x| a << 6 | (x & 0x3F) as u32);
        out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
        i += 1 + n;
    }
    out
}

/// Maps the Unicode compatibility forms of ASCII that NFKC (and so IDNA, and some file systems
/// and decoders) turn into ASCII: fullwidth forms (`．／＼：`, digits, letters), other dots and
/// slashes that look alike, circled and superscript digits.
pub fn fold(s: &str) -> Option<String> {
    if s.is_ascii() {
        return None;
    }
    let mut changed = false;
    let out: String = s
        .chars()
        .map(|c| {
            let m = fold_char(c);
            changed |= m != c;
            m
        })
        .collect();
    if changed {
        Some(out)
    } else {
        None
    }
}

/// The ASCII character `c` stands for (see [`fold`]), or `c`.
pub fn fold_char(c: char) -> char {
    let u = c as u32;
    match u {
        0xFF01..=0xFF5E => char::from_u32(u - 0xFF01 + 0x21).unwrap_or(c),
        // Dots: one dot leader, small full stop, ideographic and halfwidth ideographic full stops.
        0x2024 | 0xFE52 | 0x3002 | 0xFF61 => '.',
        // Slashes: division slash, fraction slash, big solidus.
        0x2215 | 0x2044 | 0x29F8 => '/',
        // Backslashes: set minus, big reverse solidus, small reverse solidus.
        0x2216 | 0x29F9 | 0xFE68 => '\\',
        // Circled digits 1-9 and 0, superscripts and subscripts.
        0x2460..=0x2468 => char::from_u32(u - 0x2460 + '1' as u32).unwrap_or(c),
        0x24EA => '0',
        0x2070 => '0',
        0x00B9 => '1',
        0x00B2 => '2',
        0x00B3 => '3',
        0x2074..=0x2079 => char::from_u32(u - 0x2074 + '4' as u32).unwrap_or(c),
        0x2080..=0x2089 => char::from_u32(u - 0x2080 + '0' as u32).unwrap_or(c),
        _ => c,
    }
}

/// Undoes every layer, up to [`MAX_ROUNDS`] rounds of Unicode folding then percent-decoding,
/// until nothing changes. `None` when `s` has nothing to decode.
pub fn layers(s: &str) -> Option<String> {
    if plain(s.as_bytes()) {
        return None;
    }
    let mut cur: Option<String> = None;
    for _ in 0..MAX_ROUNDS {
        let src = cur.as_deref().unwrap_or(s);
        let folded = fold(src);
        let src2 = folded.as_deref().unwrap_or(src);
        let decoded = percent_once(src2);
        match (folded, decoded) {
            (_, Some(d)) => cur = Some(d),
            (Some(f), None) => cur = Some(f),
            (None, None) => break,
        }
    }
    cur
}

/// Whether `b` has nothing to decode: ASCII without `%`. Eight bytes at a time.
pub fn plain(b: &[u8]) -> bool {
    let mut i = 0;
    while i + 8 <= b.len() {
        let w = crate::json::word(b, i);
        if crate::json::has_byte(w, b'%') | w & 0x8080_8080_8080_8080 != 0 {
            return false;
        }
        i += 8;
    }
    b[i..].iter().all(|&c| c != b'%' && c < 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent() {
        assert_eq!(percent_once("a%2e%2E/b"), Some("a../b".into()));
        assert_eq!(percent_once("%252e"), Some("%2e".into()));
        assert_eq!(percent_once("%c0%ae%c0%ae%c0%af"), Some("../".into()));
        assert_eq!(percent_once("%e0%80%ae"), Some(".".into()));
        assert_eq!(percent_once("%u002e%u002E%u2215"), Some("..\u{2215}".into()));
        assert_eq!(percent_once("100% sure %zz %"), None);
        assert_eq!(percent_once("%4"), None);
        assert_eq!(percent_once("%ff"), Some("\u{FFFD}".into()));
        assert_eq!(percent_once("plain"), None);
    }

    #[test]
    fn folds() {
        assert_eq!(fold("．．／etc"), Some("../etc".into()));
        assert_eq!(fold("127。0。0。1"), Some("127.0.0.1".into()));
        assert_eq!(fold("①②⑦.0.0.1"), Some("127.0.0.1".into()));
        assert_eq!(fold("ｌｏｃａｌｈｏｓｔ"), Some("localhost".into()));
        assert_eq!(fold("ascii"), None);
        assert_eq!(fold("café"), None);
    }

    #[test]
    fn plain_text() {
        assert!(plain(b"/srv/data/projects/portcullis/docs"));
        assert!(plain(b""));
        assert!(!plain(b"/srv/data/projects/portcullis/docs%2e"));
        assert!(!plain(b"/srv/data/projects/caf\xc3\xa9"));
        assert!(!plain(b"%"));
    }

    #[test]
    fn all_layers() {
        assert_eq!(layers("%25252e%25252e%25252f"), Some("../".into()));
        assert_eq!(layers("％２ｅ％２ｅ"), Some("..".into()));
        assert_eq!(layers("%ef%bc%8e%ef%bc%8e/x"), Some("../x".into()));
        assert_eq!(layers("docs/readme.md"), None);
    }
}
