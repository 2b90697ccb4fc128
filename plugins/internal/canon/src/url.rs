//! URLs and hosts reduced to what a client would connect to.
//!
//! Parsers disagree on the corner cases that SSRF payloads use (`\` in the authority, several
//! `@`, leading zeros in IPv4 parts), so [`parse`] returns every host some common parser would
//! pick, and a guard checks them all.

use crate::decode;
use crate::ip::{self, Ip};

/// A host in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Ip(Ip),
    /// A lowercase name without trailing dots.
    Name(String),
}

impl Host {
    /// The canonical text: a dotted quad, an RFC 5952 IPv6 address (no brackets), or the name.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Host::Ip(ip) => std::borrow::Cow::Owned(ip.to_string()),
            Host::Name(n) => std::borrow::Cow::Borrowed(n),
        }
    }
}

/// One reading of a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostForm {
    pub host: Host,
    /// An IPv4 address written in an unusual notation (hex, octal, one to three parts), or a
    /// percent- or Unicode-encoded host: a sign of evasion.
    pub unusual: bool,
}

/// Canonicalises a host as written in a URL authority (brackets allowed) or a config value.
/// Percent-encoding and Unicode compatibility forms are undone, ASCII is lowercased, trailing
/// dots and IPv6 zone ids are dropped. Returns each reading (more than one when IPv4 parsers
/// disagree); empty when there is no host.
pub fn canon_host(raw: &str) -> Vec<HostForm> {
    let mut out = Vec::new();
    canon_host_into(raw, &mut out);
    out
}

/// [`canon_host`], adding the readings to `out` (those not there yet).
pub fn canon_host_into(raw: &str, all: &mut Vec<HostForm>) {
    let mut mine = Vec::new();
    let out = if all.is_empty() { &mut *all } else { &mut mine };
    canon_host_forms(raw, out);
    for f in mine {
        if !all.contains(&f) {
            all.push(f);
        }
    }
}

fn canon_host_forms(raw: &str, out: &mut Vec<HostForm>) {
    let decoded = decode::layers(raw);
    let encoded = decoded.is_some();
    let s = decoded.as_deref().unwrap_or(raw).trim();
    if s.is_empty() {
        return;
    }
    let lower;
    let mut h = if s.bytes().any(|b| b.is_ascii_uppercase()) {
        lower = s.to_ascii_lowercase();
        lower.as_str()
    } else {
        s
    };
    if let Some(inner) = h.strip_prefix('[') {
        let inner = inner.strip_suffix(']').unwrap_or(inner);
        let addr = inner.split('%').next().unwrap_or(inner);
        if let Some(a) = ip::parse_v6(addr) {
            push_v6(out, a, encoded);
        } else {
            out.push(HostForm { host: Host::Name(inner.to_string()), unusual: true });
        }
        return;
    }
    while let Some(x) = h.strip_suffix('.') {
        h = x;
    }
    if h.contains(':') {
        // A bare IPv6 address (in a host value rather than a URL).
        let addr = h.split('%').next().unwrap_or(h);
        if let Some(a) = ip::parse_v6(addr) {
            push_v6(out, a, encoded);
            return;
        }
    }
    if let Some(v4) = ip::parse_v4(h) {
        out.push(HostForm { host: Host::Ip(Ip::V4(v4.addr)), unusual: v4.unusual || encoded });
        if let Some(d) = v4.decimal_reading {
            out.push(HostForm { host: Host::Ip(Ip::V4(d)), unusual: true });
        }
        return;
    }
    out.push(HostForm { host: Host::Name(h.to_string()), unusual: encoded });
}

fn push_v6(out: &mut Vec<HostForm>, a: u128, encoded: bool) {
    out.push(HostForm { host: Host::Ip(Ip::V6(a)), unusual: encoded });
    // The IPv4 address the traffic ends at: checked like any IPv4 host. Writing it this way is
    // legitimate (mapped, 6to4, NAT64 addresses exist), so it is not unusual by itself.
    if let Some(v4) = ip::embedded_v4(a) {
        out.push(HostForm { host: Host::Ip(Ip::V4(v4)), unusual: encoded });
    }
}

/// A parsed URL: its scheme and every host a client might connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Lowercase scheme, empty for a bare `host[:port][/path]`.
    pub scheme: String,
    pub hosts: Vec<HostForm>,
    /// The authority has userinfo (`user@`), a common disguise (`https://trusted@10.0.0.1`).
    pub userinfo: bool,
}

/// Schemes whose URLs the WHATWG standard parses leniently: any mix of `/` and `\` after the
/// colon, and `\` ends the authority.
pub fn is_special(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp" | "file")
}

/// The length of a URL scheme at the start of `s` (letters, then letters, digits, `+-.`), if it
/// is followed by `:`.
pub fn scheme_len(s: &[u8]) -> Option<usize> {
    if !s.first()?.is_ascii_alphabetic() {
        return None;
    }
    // Schemes are short: look at 33 bytes at most, whatever follows.
    let n = s.iter().take(33).position(|&b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.'))?;
    if s[n] == b':' {
        Some(n)
    } else {
        None
    }
}

/// Parses `s` as an absolute URL with an authority (`scheme://host...`; for the special schemes
/// also `http:\\host` and `http:/host`). `None` when `s` is not one.
pub fn parse(s: &str) -> Option<Url> {
    // WHATWG strips leading and trailing C0 controls and spaces, and tabs and newlines anywhere;
    // look for the scheme first so that text that is no URL costs little.
    let s = s.trim_matches(|c: char| c <= ' ');
    let has_tabs = |t: &str| t.bytes().any(|b| b == b'\t' || b == b'\n' || b == b'\r');
    let cleaned;
    let s = match scheme_len(s.as_bytes()) {
        Some(_) if !has_tabs(s) => s,
        None if !has_tabs(&s[..floor(s, 40)]) => return None,
        _ => {
            cleaned = s.replace(|c| c == '\t' || c == '\n' || c == '\r', "");
            cleaned.as_str()
        }
    };
    let n = scheme_len(s.as_bytes())?;
    let scheme = s[..n].to_ascii_lowercase();
    let rest = &s[n + 1..];
    let special = is_special(&scheme);
    let sep = |c: u8| c == b'/' || c == b'\\';
    let r = rest.as_bytes();
    let after = if scheme == "file" {
        // file://host/path has a host; file:///path and file:/path have none.
        if r.len() >= 2 && sep(r[0]) && sep(r[1]) {
            &rest[2..]
        } else {
            ""
        }
    } else if special {
        let skip = r.iter().position(|&c| !sep(c)).unwrap_or(r.len());
        // `http:host` is a URL to WHATWG parsers too; in text with spaces it is prose.
        if skip == 0 && (r.is_empty() || s.bytes().any(|c| c.is_ascii_whitespace())) {
            return None;
        }
        &rest[skip..]
    } else {
        rest.strip_prefix("//")?
    };
    let mut u = authority_hosts(after, special);
    u.scheme = scheme;
    Some(u)
}

/// The largest char boundary of `s` at most `n`.
fn floor(s: &str, n: usize) -> usize {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// Parses a bare `host[:port][/path]` (with optional `user@`), as host-like config and argument
/// values are written. `None` when it has no host.
pub fn parse_host_value(s: &str) -> Option<Url> {
    let s = s.trim();
    if let Some(u) = parse(s) {
        return Some(u);
    }
    let s = s.strip_prefix("//").unwrap_or(s);
    if s.is_empty() || s.contains(|c: char| c.is_whitespace()) {
        return None;
    }
    let u = authority_hosts(s, true);
    if u.hosts.is_empty() {
        None
    } else {
        Some(u)
    }
}

/// The hosts of the authority that starts `after`: one per way of ending the authority (`\`
/// ends it for WHATWG, not for RFC 3986 parsers).
fn authority_hosts(after: &str, special: bool) -> Url {
    let mut u = Url { scheme: String::new(), hosts: Vec::new(), userinfo: false };
    // Where the authority ends: WHATWG (for special schemes `\\` ends it too), then RFC 3986.
    let b = after.as_bytes();
    let whatwg = b.iter().position(|&c| c == b'/' || c == b'?' || c == b'#' || special && c == b'\\').unwrap_or(b.len());
    let rfc = if special && b.get(whatwg) == Some(&b'\\') {
        b.iter().position(|&c| c == b'/' || c == b'?' || c == b'#').unwrap_or(b.len())
    } else {
        whatwg
    };
    for (i, end) in [whatwg, rfc].into_iter().enumerate() {
        if i == 1 && end == whatwg {
            break;
        }
        let auth = &after[..end];
        let hostport = match auth.rfind('@') {
            Some(i) => {
                u.userinfo = true;
                &auth[i + 1..]
            }
            None => auth,
        };
        if hostport.contains('\\') {
            continue; // no parser reads a host with a backslash in it
        }
        canon_host_into(strip_port(hostport), &mut u.hosts);
    }
    u
}

/// `host:port` without the port; brackets kept.
fn strip_port(hp: &str) -> &str {
    if hp.starts_with('[') {
        return match hp.find(']') {
            Some(i) => &hp[..i + 1],
            None => hp,
        };
    }
    // Several colons without brackets: a bare IPv6 address, no port.
    if hp.matches(':').count() > 1 {
        return hp;
    }
    match hp.find(':') {
        Some(i) => &hp[..i],
        None => hp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(s: &str) -> Vec<String> {
        parse(s).map(|u| u.hosts.iter().map(|h| h.host.text().into_owned()).collect()).unwrap_or_default()
    }

    #[test]
    fn hosts_of_urls() {
        let cases: &[(&str, &[&str])] = &[
            ("https://example.com/docs", &["example.com"]),
            ("HTTP://Example.COM.:8080/x?y#z", &["example.com"]),
            ("http://good@127.0.0.1/", &["127.0.0.1"]),
            ("http://user:pw@evil.com:80@10.0.0.1/", &["10.0.0.1"]),
            ("http://2130706433/", &["127.0.0.1"]),
            ("http://0x7f.1/", &["127.0.0.1"]),
            ("http://0177.0.0.1/", &["127.0.0.1", "177.0.0.1"]),
            ("http://[::ffff:127.0.0.1]/", &["::ffff:7f00:1", "127.0.0.1"]),
            ("http://[::ffff:7f00:1]:80/", &["::ffff:7f00:1", "127.0.0.1"]),
            ("http://[fe80::1%25eth0]/", &["fe80::1"]),
            ("http://%31%32%37.0.0.1/", &["127.0.0.1"]),
            ("http://127。0。0。1/", &["127.0.0.1"]),
            ("http:\\\\169.254.169.254\\latest", &["169.254.169.254"]),
            ("http:/169.254.169.254/", &["169.254.169.254"]),
            ("http:127.0.0.1/admin", &["127.0.0.1"]),
            ("http://evil.com\\@127.0.0.1/", &["evil.com", "127.0.0.1"]),
            ("http://127.0.0.1#@evil.com", &["127.0.0.1"]),
            ("http://12\n7.0.0.1/", &["127.0.0.1"]),
            ("  https://metadata.google.internal./computeMetadata  ", &["metadata.google.internal"]),
            ("gopher://127.0.0.1:6379/_INFO", &["127.0.0.1"]),
            ("redis://localhost:6379", &["localhost"]),
            ("file:///etc/passwd", &[]),
            ("file://fileserver/share", &["fileserver"]),
        ];
        for (s, want) in cases {
            assert_eq!(hosts(s), want.iter().map(|x| x.to_string()).collect::<Vec<_>>(), "{:?}", s);
        }
        assert!(parse("http://good@127.0.0.1/").unwrap().userinfo);
        assert!(parse("http://0x7f.1/").unwrap().hosts[0].unusual);
        assert!(!parse("http://127.0.0.1/").unwrap().hosts[0].unusual);
    }

    #[test]
    fn not_urls() {
        for s in ["example.com", "note: read this", "http: the protocol", "http:", "mailto:a@example.com", "urn:isbn:123", "C:\\Users", "a://", ""] {
            let u = parse(s);
            assert!(u.is_none() || u.as_ref().unwrap().hosts.is_empty(), "{:?} -> {:?}", s, u);
        }
    }

    #[test]
    fn host_values() {
        let h = |s: &str| parse_host_value(s).map(|u| u.hosts.iter().map(|h| h.host.text().into_owned()).collect::<Vec<_>>());
        assert_eq!(h("127.0.0.1:8080"), Some(vec!["127.0.0.1".to_string()]));
        assert_eq!(h("::1"), Some(vec!["::1".to_string()]));
        assert_eq!(h("[::1]:80"), Some(vec!["::1".to_string()]));
        assert_eq!(h("db.internal/x"), Some(vec!["db.internal".to_string()]));
        assert_eq!(h("https://a.example"), Some(vec!["a.example".to_string()]));
        assert_eq!(h("two words"), None);
    }
}
