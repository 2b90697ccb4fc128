//! Lexical canonical paths: backslashes become slashes, `.` and empty segments go, `..` is
//! resolved, and what the resolution had to do (climb above the start, meet a NUL) is recorded.
//! No file system is consulted: the guest has none, and symbolic links are the upstream's
//! business (see the path-guard README).

use crate::decode;
use std::borrow::Cow;

/// How a path is anchored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// Relative to a working directory the guard does not know.
    Relative,
    /// From the root `/` (or a drive such as `c:/`, or `//host/share`).
    Root,
    /// From a home directory (`~/...`).
    Home,
}

/// A path in canonical form: the root (`/`, a lowercase drive such as `c:/`, `~/`, or nothing
/// when relative), then the segments joined by `/`, with `.` and empty segments removed and
/// `..` resolved. Borrows the input when it is already canonical (the common case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canon<'a> {
    pub anchor: Anchor,
    text: Cow<'a, str>,
    root_len: usize,
    /// A `..` segment climbed above the start (the root, home, or the relative path's base).
    pub escapes: bool,
    /// How many levels it climbed above the start.
    pub ups: usize,
    /// The path had a `..` segment (resolved or not).
    pub dotdot: bool,
    /// The path holds a NUL character (C APIs cut it there).
    pub nul: bool,
}

/// The segments of a canonical path.
pub struct Segments<'t> {
    rest: &'t str,
}

impl<'t> Iterator for Segments<'t> {
    type Item = &'t str;
    fn next(&mut self) -> Option<&'t str> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.as_bytes().iter().position(|&b| b == b'/') {
            Some(i) => {
                let seg = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                Some(seg)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }
}

impl<'a> Canon<'a> {
    /// The canonical text (`.` for an empty relative path).
    pub fn text(&self) -> &str {
        if self.text.is_empty() {
            "."
        } else {
            &self.text
        }
    }

    /// The root part of [`Canon::text`].
    pub fn root(&self) -> &str {
        &self.text[..self.root_len]
    }

    /// The segments after the root.
    pub fn segments(&self) -> Segments<'_> {
        Segments { rest: &self.text[self.root_len..] }
    }

    /// A copy that owns its text.
    pub fn into_owned(self) -> Canon<'static> {
        Canon { text: Cow::Owned(self.text.into_owned()), ..self }
    }

    /// This path resolved against `base` (an anchored path) when it is relative: its leading
    /// `..` climb from `base`.
    pub fn resolve(&self, base: &Canon) -> Canon<'static> {
        if self.anchor != Anchor::Relative {
            return self.clone().into_owned();
        }
        let mut c = base.clone().into_owned();
        for _ in 0..self.ups {
            c.pop();
        }
        c.escapes |= self.escapes;
        c.dotdot |= self.dotdot;
        c.nul |= self.nul;
        for seg in self.segments() {
            c.push(seg);
        }
        c
    }

    fn push(&mut self, seg: &str) {
        let t = self.text.to_mut();
        if t.len() > self.root_len {
            t.push('/');
        }
        t.push_str(seg);
    }

    fn pop(&mut self) {
        let body = &self.text[self.root_len..];
        if body.is_empty() {
            self.ups += 1;
            self.escapes = true;
            return;
        }
        let cut = body.rfind('/').map_or(self.root_len, |i| self.root_len + i);
        self.text.to_mut().truncate(cut);
    }

    /// Whether this path is `root` or below it (both anchored; compared exactly, or
    /// ASCII-case-insensitively when `fold_case`).
    pub fn within(&self, root: &Canon, fold_case: bool) -> bool {
        let (a, b) = (self.text.as_bytes(), root.text.as_bytes());
        let eq = |x: &[u8], y: &[u8]| if fold_case { x.eq_ignore_ascii_case(y) } else { x == y };
        self.anchor == root.anchor
            && self.root_len == root.root_len
            && a.len() >= b.len()
            && eq(&a[..b.len()], b)
            && (a.len() == b.len() || b.len() == root.root_len || a[b.len()] == b'/')
    }
}

/// Whether a segment is a parent reference: `..`, also with the trailing spaces that Windows
/// strips (`.. `), or a `;parameter` that Java servlet containers drop (`..;x`).
fn is_parent(seg: &[u8]) -> bool {
    if seg.len() < 2 || seg[0] != b'.' || seg[1] != b'.' {
        return false;
    }
    let rest = &seg[2..];
    rest.is_empty() || rest[0] == b';' || rest.iter().all(|&c| c == b' ')
}

/// Whether `body` (after the root) is already canonical: segments joined by single `/`, none
/// empty, `.` or `..`, no backslash.
fn canonical_body(body: &[u8]) -> bool {
    let mut seg_start = 0;
    for i in 0..=body.len() {
        if i == body.len() || body[i] == b'/' {
            let seg = &body[seg_start..i];
            if (seg.is_empty() && !body.is_empty()) || seg == b"." || is_parent(seg) {
                return false;
            }
            seg_start = i + 1;
        } else if body[i] == b'\\' || body[i] == 0 {
            return false;
        }
    }
    true
}

/// Canonicalises `s` lexically (no decoding; see [`decode_path`] for that).
pub fn normalize(s: &str) -> Canon<'_> {
    let b = s.as_bytes();
    let sep = |c: u8| c == b'/' || c == b'\\';
    let (anchor, root, rest): (Anchor, Cow<str>, &str) = if b.first().map_or(false, |&c| sep(c)) {
        (Anchor::Root, Cow::Borrowed("/"), &s[1..])
    } else if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b.len() == 2 || sep(b[2])) {
        let mut d = String::with_capacity(3);
        d.push((b[0] as char).to_ascii_lowercase());
        d.push_str(":/");
        (Anchor::Root, Cow::Owned(d), s.get(3..).unwrap_or(""))
    } else if s == "~" || b.len() >= 2 && b[0] == b'~' && sep(b[1]) {
        (Anchor::Home, Cow::Borrowed("~/"), s.get(2..).unwrap_or(""))
    } else {
        (Anchor::Relative, Cow::Borrowed(""), s)
    };
    // Already canonical (the root as written too): borrow it.
    if s.starts_with(root.as_ref()) && s.len() == root.len() + rest.len() && canonical_body(rest.as_bytes()) {
        return Canon { anchor, text: Cow::Borrowed(s), root_len: root.len(), escapes: false, ups: 0, dotdot: false, nul: false };
    }
    let mut text = String::with_capacity(s.len() + 1);
    text.push_str(&root);
    let mut c = Canon { anchor, root_len: text.len(), text: Cow::Owned(text), escapes: false, ups: 0, dotdot: false, nul: b.contains(&0) };
    for seg in rest.split(|ch| ch == '/' || ch == '\\') {
        if seg.is_empty() || seg == "." {
            continue;
        }
        if is_parent(seg.as_bytes()) {
            c.dotdot = true;
            c.pop();
            continue;
        }
        c.push(seg);
    }
    c
}

/// Strips a `file:` URL scheme and host (`file:///etc/x`, `file://localhost/etc/x` and
/// `file:/etc/x` are `/etc/x`; `file://host/share` is `//host/share`). `None` when `s` is not a
/// file URL.
pub fn strip_file_url(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..5].eq_ignore_ascii_case(b"file:") {
        return None;
    }
    let rest = &s[5..];
    let r = rest.as_bytes();
    let sep = |c: u8| c == b'/' || c == b'\\';
    if r.len() >= 2 && sep(r[0]) && sep(r[1]) {
        let after = &rest[2..];
        let a = after.as_bytes();
        if a.len() >= 9 && a[..9].eq_ignore_ascii_case(b"localhost") && (a.len() == 9 || sep(a[9])) {
            return Some(if a.len() == 9 { "/" } else { &after[9..] });
        }
        if a.first().map_or(false, |&c| sep(c)) {
            // file:///C:/x names a drive.
            if a.len() >= 3 && a[1].is_ascii_alphabetic() && (a[2] == b':' || a[2] == b'|') {
                return Some(&after[1..]);
            }
            return Some(after);
        }
        // A host: keep it as a UNC path.
        return Some(rest);
    }
    Some(rest)
}

/// The forms a path argument may take at the upstream, all canonical: as written, and with
/// every encoding layer removed ([`decode::layers`]) and `file:` URLs unwrapped.
pub struct Forms<'a> {
    pub plain: Canon<'a>,
    /// `None` when decoding changes nothing.
    pub decoded: Option<Canon<'static>>,
}

impl<'a> Forms<'a> {
    /// Every form.
    pub fn all(&self) -> impl Iterator<Item = &Canon<'_>> {
        std::iter::once(&self.plain).chain(self.decoded.iter())
    }
    /// Whether decoding revealed a `..` that the plain form does not have.
    pub fn hidden_dotdot(&self) -> bool {
        !self.plain.dotdot && self.decoded.as_ref().map_or(false, |d| d.dotdot)
    }
}

/// Canonicalises a path as written and as decoded (see [`Forms`]). Surrounding whitespace and
/// control characters are dropped first, as servers that trim their input would.
pub fn decode_path(s: &str) -> Forms<'_> {
    let s = s.trim_matches(|c: char| c <= ' ');
    let s = strip_file_url(s).unwrap_or(s);
    let plain = normalize(s);
    let decoded = decode::layers(s).map(|d| normalize(strip_file_url(&d).unwrap_or(&d)).into_owned());
    let decoded = match decoded {
        Some(d) if d != plain => Some(d),
        _ => None,
    };
    Forms { plain, decoded }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> (String, bool, bool) {
        let c = normalize(s);
        (c.text().to_string(), c.escapes, c.dotdot)
    }

    #[test]
    fn normalizes() {
        assert_eq!(t("/etc/passwd"), ("/etc/passwd".into(), false, false));
        assert_eq!(t("//etc///passwd/"), ("/etc/passwd".into(), false, false));
        assert_eq!(t("/srv/./data/../x"), ("/srv/x".into(), false, true));
        assert_eq!(t("/../etc"), ("/etc".into(), true, true));
        assert_eq!(t("docs/../readme.md"), ("readme.md".into(), false, true));
        assert_eq!(t("../secret"), ("secret".into(), true, true));
        assert_eq!(t("a/b/../../../x"), ("x".into(), true, true));
        assert_eq!(t("..\\..\\windows\\win.ini"), ("windows/win.ini".into(), true, true));
        assert_eq!(t("C:\\Users\\x\\..\\y"), ("c:/Users/y".into(), false, true));
        assert_eq!(t("c:"), ("c:/".into(), false, false));
        assert_eq!(t("~/.ssh/id_rsa"), ("~/.ssh/id_rsa".into(), false, false));
        assert_eq!(t("~/../root"), ("~/root".into(), true, true));
        assert_eq!(t(".. /x"), ("x".into(), true, true));
        assert_eq!(t("..;jsessionid=1/x"), ("x".into(), true, true));
        assert_eq!(t("...").0, "...");
        assert_eq!(t("1..10"), ("1..10".into(), false, false));
        assert_eq!(t(""), (".".into(), false, false));
        assert_eq!(t("/"), ("/".into(), false, false));
        assert!(normalize("/etc/passwd\0.png").nul);
        let c = normalize("/srv/data/x");
        assert_eq!(c.root(), "/");
        assert_eq!(c.segments().collect::<Vec<_>>(), ["srv", "data", "x"]);
        assert_eq!(normalize("/").segments().count(), 0);
        assert_eq!(normalize("rel/x").segments().collect::<Vec<_>>(), ["rel", "x"]);
        for s in ["/etc/passwd", "docs/readme.md", "~/.ssh", "c:/x", "/", ""] {
            assert!(matches!(normalize(s).text, Cow::Borrowed(_)), "{} should be borrowed", s);
        }
        for s in ["/etc/", "a//b", "./a", "a/.", "C:/x", "c:\\x", "~", "/a\0b"] {
            assert!(matches!(normalize(s).text, Cow::Owned(_)), "{} should be rewritten", s);
        }
    }

    #[test]
    fn file_urls() {
        assert_eq!(strip_file_url("file:///etc/passwd"), Some("/etc/passwd"));
        assert_eq!(strip_file_url("FILE://localhost/etc/passwd"), Some("/etc/passwd"));
        assert_eq!(strip_file_url("file://localhost"), Some("/"));
        assert_eq!(strip_file_url("file:/etc/passwd"), Some("/etc/passwd"));
        assert_eq!(strip_file_url("file:///C:/Windows"), Some("C:/Windows"));
        assert_eq!(strip_file_url("file://server/share/x"), Some("//server/share/x"));
        assert_eq!(strip_file_url("https://example.com"), None);
        assert_eq!(strip_file_url("filename.txt"), None);
    }

    #[test]
    fn decoded_forms() {
        let cases = [
            ("%2e%2e/%2e%2e/etc/passwd", "etc/passwd"),
            ("%252e%252e%252fetc", "etc"),
            ("..%c0%af..%c0%afetc", "etc"),
            ("%c0%ae%c0%ae/etc", "etc"),
            ("．．／．．／etc", "etc"),
            ("file:///srv/%2e%2e/etc", "/etc"),
            ("..%5c..%5cwindows", "windows"),
        ];
        for (s, want) in cases {
            let f = decode_path(s);
            let d = f.decoded.as_ref().unwrap_or_else(|| panic!("{}: nothing decoded", s));
            assert_eq!(d.text(), want, "{}", s);
            assert!(d.dotdot, "{}", s);
        }
        let f = decode_path("%2e%2e/x");
        assert!(f.hidden_dotdot() && !f.plain.dotdot);
        let f = decode_path("docs/readme.md");
        assert!(f.decoded.is_none());
        let f = decode_path("/data/100%25 done.txt");
        assert_eq!(f.decoded.unwrap().text(), "/data/100% done.txt");
        assert!(decode_path("/x%00.png").decoded.unwrap().nul);
        assert_eq!(decode_path(" /etc/shadow\n").plain.text(), "/etc/shadow");
        assert_eq!(decode_path("\tfile:///etc/shadow ").plain.text(), "/etc/shadow");
    }

    #[test]
    fn resolves_and_contains() {
        let base = normalize("/srv/data");
        let r = normalize("notes/a.txt").resolve(&base);
        assert_eq!(r.text(), "/srv/data/notes/a.txt");
        assert!(r.within(&base, false));
        assert!(!normalize("/srv/database").within(&base, false));
        assert!(normalize("/srv/data").within(&base, false));
        assert!(normalize("/srv/data/").within(&base, false));
        assert!(!normalize("/SRV/data").within(&base, false));
        assert!(normalize("/SRV/data").within(&base, true));
        assert!(normalize("/anything").within(&normalize("/"), false));
        assert!(normalize("c:/x").within(&normalize("C:\\"), false));
        assert!(!normalize("c:/x").within(&normalize("/"), false));
        assert!(!normalize("relative").within(&base, false));
        let up = normalize("../x").resolve(&base);
        assert!(up.escapes);
        assert_eq!(up.text(), "/srv/x");
        assert!(!up.within(&base, false));
        assert_eq!(normalize("../../../x").resolve(&base).text(), "/x");
        assert_eq!(normalize(".").resolve(&base).text(), "/srv/data");
    }
}
