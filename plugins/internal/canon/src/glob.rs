//! Globs: `*` matches any run of characters (empty too), `?` exactly one; everything else
//! matches itself. Byte-wise, so callers lowercase both sides when case must not matter.

/// Whether `text` matches `pattern` as a whole.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    if !p.contains(&b'*') && !p.contains(&b'?') {
        return p == t;
    }
    // Linear-time wildcard matching: on a mismatch, retry from the last `*` one byte further.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == b'?' && is_char_start(t, ti) || p[pi] == t[ti]) {
            if p[pi] == b'?' {
                ti += char_len(t, ti);
            } else {
                ti += 1;
            }
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + char_len(t, st);
            star = Some((sp, ti));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

fn is_char_start(t: &[u8], i: usize) -> bool {
    t[i] & 0xC0 != 0x80
}

fn char_len(t: &[u8], i: usize) -> usize {
    let mut n = 1;
    while i + n < t.len() && t[i + n] & 0xC0 == 0x80 {
        n += 1;
    }
    n
}

/// A glob compiled for its common shapes: exact text, `*suffix`, `prefix*`, `*` alone; the
/// rest goes through [`matches`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Glob {
    Any,
    Exact(String),
    Suffix(String),
    Prefix(String),
    General(String),
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let p = pattern.as_bytes();
        let wild = |b: &[u8]| b.iter().any(|&c| c == b'*' || c == b'?');
        if pattern == "*" {
            Glob::Any
        } else if !wild(p) {
            Glob::Exact(pattern.to_string())
        } else if p[0] == b'*' && !wild(&p[1..]) {
            Glob::Suffix(pattern[1..].to_string())
        } else if p[p.len() - 1] == b'*' && !wild(&p[..p.len() - 1]) {
            Glob::Prefix(pattern[..p.len() - 1].to_string())
        } else {
            Glob::General(pattern.to_string())
        }
    }

    /// Whether `text` matches as a whole.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(s) => s == text,
            Glob::Suffix(s) => text.ends_with(s.as_str()),
            Glob::Prefix(s) => text.starts_with(s.as_str()),
            Glob::General(p) => matches(p, text),
        }
    }
}

/// Whether `pattern` has a wildcard.
pub fn is_glob(pattern: &str) -> bool {
    pattern.bytes().any(|b| b == b'*' || b == b'?')
}

#[cfg(test)]
mod tests {
    use super::{matches, Glob};

    #[test]
    fn globs() {
        let yes = [
            ("*", ""),
            ("*", "anything"),
            ("read_*", "read_file"),
            ("*.example.com", "api.example.com"),
            ("*.example.com", "a.b.example.com"),
            ("?ead", "read"),
            ("a*b*c", "aXXbYYc"),
            ("a*b*c", "abc"),
            ("*é", "café"),
            ("caf?", "café"),
            ("exact", "exact"),
        ];
        for (p, t) in yes {
            assert!(matches(p, t), "{} should match {}", p, t);
        }
        let no = [
            ("read_*", "write_file"),
            ("*.example.com", "example.com"),
            ("*.example.com", "example.com.evil.net"),
            ("?", ""),
            ("a*b*c", "aXXbYY"),
            ("exact", "exactly"),
            ("caf?", "caf"),
        ];
        for (p, t) in no {
            assert!(!matches(p, t), "{} should not match {}", p, t);
            assert!(!Glob::new(p).matches(t), "compiled {} should not match {}", p, t);
        }
        for (p, t) in yes {
            assert!(Glob::new(p).matches(t), "compiled {} should match {}", p, t);
        }
        assert_eq!(Glob::new("*.example.com"), Glob::Suffix(".example.com".into()));
        assert_eq!(Glob::new("read_*"), Glob::Prefix("read_".into()));
        assert_eq!(Glob::new("exact"), Glob::Exact("exact".into()));
        assert_eq!(Glob::new("*"), Glob::Any);
        assert!(matches!(Glob::new("a*b"), Glob::General(_)));
    }
}
