//! Finding secrets in a string. `prescan` reads it once, eight bytes at a time, and notes where
//! a closer look may pay: `:` and `=` (assignments, URLs), `--` (a PEM block) and runs of
//! non-space bytes long enough to hold a token. `scan_hinted` looks only there: at token starts
//! against a two-byte table of the rules' anchors, running a rule's regex only where one of its
//! anchors starts a token. Text with none of these costs a few operations per eight bytes.

use crate::config::Config;
use crate::rules::{self, Check, RULES};
use portcullis::json::{self, Value};
use regex::bytes::{Regex, RegexBuilder};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: usize,
    pub start: usize,
    pub end: usize,
    /// Anchored and custom rules (2) win over the context rules (1) where they overlap: a
    /// `ghp_` token as a URL's password is reported as a GitHub token.
    pub prio: u8,
}

const ALNUM: u8 = 1;
const IDENT: u8 = 2; // a name in an assignment: letters, digits, _ - .
const B64: u8 = 4; // base64 and base64url alphabets and padding, and \ (for an escaped /)
const SPACE: u8 = 16; // whitespace and control bytes
const STOP: u8 = 32; // ends an unquoted value

const fn classes() -> [u8; 256] {
    let mut c = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let x = b as u8;
        let mut v = 0;
        if x.is_ascii_alphanumeric() {
            v |= ALNUM | IDENT | B64;
        }
        if x == b'_' || x == b'-' || x == b'.' {
            v |= IDENT;
        }
        if x == b'+' || x == b'/' || x == b'=' || x == b'_' || x == b'-' || x == b'\\' {
            v |= B64;
        }
        if x <= b' ' || x == 0x7f {
            v |= SPACE | STOP;
        }
        let mut s = 0;
        let stops = b",;&\"'`<>(){}[]|\\";
        while s < stops.len() {
            if stops[s] == x {
                v |= STOP;
            }
            s += 1;
        }
        c[b] = v;
        b += 1;
    }
    c
}

static CLASS: [u8; 256] = classes();

#[inline]
fn is(b: u8, class: u8) -> bool {
    CLASS[b as usize] & class != 0
}

struct Tables {
    /// Bit (b0 << 8 | b1) is set when some anchor starts with the bytes b0 b1.
    pair: Vec<u64>,
    /// Anchors by first byte, longest first, with their rule.
    buckets: Vec<Vec<(&'static [u8], usize)>>,
    /// Compiled on first use: most rules never match in most traffic.
    regexes: Vec<Option<Regex>>,
    groups: Vec<Option<usize>>,
}

impl Tables {
    #[inline]
    fn has_pair(&self, b0: u8, b1: u8) -> bool {
        let k = (b0 as usize) << 8 | b1 as usize;
        self.pair[k >> 6] & (1 << (k & 63)) != 0
    }
}

static mut TABLES: Option<Tables> = None;

fn tables() -> &'static mut Tables {
    // Safety: one call at a time per instance.
    unsafe {
        if TABLES.is_none() {
            let mut pair = vec![0u64; 1024];
            let mut buckets: Vec<Vec<(&'static [u8], usize)>> = vec![Vec::new(); 256];
            for (i, r) in RULES.iter().enumerate() {
                for a in r.anchors {
                    let a = a.as_bytes();
                    let k = (a[0] as usize) << 8 | a[1] as usize;
                    pair[k >> 6] |= 1 << (k & 63);
                    buckets[a[0] as usize].push((a, i));
                }
            }
            for b in buckets.iter_mut() {
                b.sort_by(|x, y| y.0.len().cmp(&x.0.len()));
            }
            TABLES = Some(Tables { pair, buckets, regexes: RULES.iter().map(|_| None).collect(), groups: vec![None; RULES.len()] });
        }
        TABLES.as_mut().unwrap()
    }
}

fn regex(t: &mut Tables, rule: usize) {
    if t.regexes[rule].is_none() {
        // Anchored at the token start; built-in patterns are tested to compile.
        let re = RegexBuilder::new(&format!("^(?:{})", RULES[rule].regex)).unicode(false).build().expect("built-in rule compiles");
        t.groups[rule] = re.capture_names().position(|g| g == Some("secret"));
        t.regexes[rule] = Some(re);
    }
}

/// What one pass over a string found worth a closer look, as positions in it.
#[derive(Default)]
pub struct Hints {
    /// `:` and `=` (maybe: the masks are approximate; the byte is checked later).
    events: Vec<u32>,
    /// Two dashes side by side: where `-----BEGIN` may be.
    dashes: Vec<u32>,
    /// Runs of non-space bytes that hold a whole 8-byte block without a space: every token of
    /// MIN_TOKEN bytes or more is in one.
    runs: Vec<(u32, u32)>,
}

/// Where a JSON string ends, and what escapes it has.
pub struct StrEnd {
    /// The index of the closing quote.
    pub end: usize,
    pub escaped: bool,
    /// Escapes other than \n \r \t \b \f \" \\ (`\/`, `\u`): the raw text does not read as
    /// the decoded text, so the caller decodes it first.
    pub complex: bool,
}

/// One pass, eight bytes at a time, over a string's raw JSON text from just after its opening
/// quote (`json`: stops at the closing quote, steps over escapes and counts them as spaces) or
/// over plain text (to its end). Fills `h`; None if a JSON string is not closed.
pub fn prescan(t: &[u8], json: bool, h: &mut Hints) -> Option<StrEnd> {
    h.events.clear();
    h.dashes.clear();
    h.runs.clear();
    let n = t.len();
    let mut run: Option<usize> = None;
    let (mut escaped, mut complex) = (false, false);
    let close = close_run;
    let mut j = 0;
    loop {
        // The common case first: eight bytes with no quote or backslash.
        if j + 8 <= n {
            let x = load8(t, j);
            if !json || (zero(x ^ (LO * b'"' as u64)) | zero(x ^ (LO * b'\\' as u64))) == 0 {
                block(t, h, &mut run, j, x, HI, true);
                j += 8;
                continue;
            }
        }
        let avail = (n - j).min(8);
        if avail == 0 {
            close(h, &mut run, n);
            return if json { None } else { Some(StrEnd { end: n, escaped, complex }) };
        }
        let x = if avail == 8 {
            load8(t, j)
        } else {
            // Padded with spaces; built byte by byte, as a variable-length copy is a call.
            let mut x = LO * b' ' as u64;
            for k in 0..avail {
                x = x & !(0xff << (8 * k)) | (t[j + k] as u64) << (8 * k);
            }
            x
        };
        // The bytes before a quote or a backslash (JSON) or the end are this block's.
        let stop = if json { zero(x ^ (LO * b'"' as u64)) | zero(x ^ (LO * b'\\' as u64)) } else { 0 };
        let m = if stop != 0 { ((stop.trailing_zeros() / 8) as usize).min(avail) } else { avail };
        block(t, h, &mut run, j, x, if m == 8 { HI } else { HI & ((1u64 << (8 * m)) - 1) }, m == 8);
        if m < avail {
            let k = j + m;
            close(h, &mut run, k);
            if t[k] == b'"' {
                return Some(StrEnd { end: k, escaped, complex });
            }
            escaped = true;
            match t.get(k + 1) {
                None => return None,
                Some(b'/') | Some(b'u') => complex = true,
                _ => {}
            }
            j = k + 2;
            continue;
        }
        j += avail;
    }
}

/// Notes what one block `x` (the bytes at `j`; `valid` has the high bit of each byte that
/// belongs to the string) holds: events, dash pairs, and where runs start and end.
#[inline(always)]
fn block(t: &[u8], h: &mut Hints, run: &mut Option<usize>, j: usize, x: u64, valid: u64, full: bool) {
    let mut ev = (zero(x ^ (LO * b':' as u64)) | zero(x ^ (LO * b'=' as u64))) & valid;
    while ev != 0 {
        h.events.push((j + (ev.trailing_zeros() / 8) as usize) as u32);
        ev &= ev - 1;
    }
    // Five dashes always put two side by side within one block.
    let d = zero(x ^ (LO * b'-' as u64)) & valid;
    let mut pairs = d & (d >> 8);
    while pairs != 0 {
        h.dashes.push((j + (pairs.trailing_zeros() / 8) as usize) as u32);
        pairs &= pairs - 1;
    }
    // Exact for "any" and for the lowest, which is all this needs.
    let seps = x.wrapping_sub(LO * 0x21) & !x & valid;
    if seps != 0 {
        close_run(h, run, j + (seps.trailing_zeros() / 8) as usize);
    } else if full && run.is_none() {
        let mut s = j;
        while s > 0 && t[s - 1] > b' ' && t[s - 1] != b'\\' {
            s -= 1;
        }
        *run = Some(s);
    }
}

/// Ends the current run at `at`, keeping it if it is long enough to hold a token.
#[inline]
fn close_run(h: &mut Hints, run: &mut Option<usize>, at: usize) {
    if let Some(s) = run.take() {
        if at >= s + MIN_TOKEN {
            h.runs.push((s as u32, at as u32));
        }
    }
}

/// Scans plain text (a decoded string).
pub fn scan(cfg: &Config, t: &[u8], name: Option<&[u8]>, out: &mut Vec<Finding>) {
    let mut h = Hints::default();
    prescan(t, false, &mut h);
    scan_hinted(cfg, t, &h, name, out);
}

/// Looks closer where `prescan` pointed, in `t`: plain text, or a JSON string's raw text whose
/// escapes are only whitespace, quotes and backslashes (read as separators). `name` is the
/// normalized name of the JSON member whose value `t` is, for the generic rule; None for keys
/// and array elements without one.
pub fn scan_hinted(cfg: &Config, t: &[u8], h: &Hints, name: Option<&[u8]>, out: &mut Vec<Finding>) {
    let first = out.len();
    let n = t.len();
    let tb = tables();
    // Private key blocks first: what is inside them is theirs.
    let mut pems: Vec<(usize, usize)> = Vec::new();
    if cfg.anchored {
        let mut done = 0;
        for &p in &h.dashes {
            let mut p = p as usize;
            while p > done && t[p - 1] == b'-' {
                p -= 1;
            }
            if p >= done && t[p..].starts_with(b"-----BEGIN ") {
                if let Some(f) = anchored(cfg, tb, t, p) {
                    out.push(f);
                    pems.push((f.start, f.end));
                    done = f.end;
                    continue;
                }
            }
            done = done.max(p + 1);
        }
    }
    let in_pem = |p: usize| pems.iter().any(|&(s, e)| p >= s && p < e);
    if cfg.assignments {
        for &p in &h.events {
            let p = p as usize;
            if (t[p] == b':' || t[p] == b'=') && !in_pem(p) {
                if t[p] == b':' && t[p + 1..].starts_with(b"//") {
                    url_password(cfg, t, p, out);
                } else {
                    assignment(cfg, t, p, out);
                }
            }
        }
    }
    if cfg.anchored {
        let mut resume = 0;
        for &(s, e) in &h.runs {
            let (s, e) = (s as usize, e as usize);
            if e > resume && !in_pem(s) {
                resume = tokens(cfg, tb, t, s.max(resume), e, out);
            }
        }
    }
    if cfg.assignments {
        if let Some(name) = name {
            if n >= cfg.min_length {
                member_value(cfg, name, t, out);
            }
        }
    }
    for (k, c) in cfg.custom.iter().enumerate() {
        if !c.keywords.is_empty() && !c.keywords.iter().any(|kw| portcullis::bytes::contains_ignore_case(t, kw)) {
            continue;
        }
        let rule = rules::builtin_count() + k;
        match c.group {
            None => {
                for m in c.re.find_iter(t) {
                    if m.end() > m.start() {
                        out.push(Finding { rule, start: m.start(), end: m.end(), prio: 2 });
                    }
                }
            }
            Some(g) => {
                for caps in c.re.captures_iter(t) {
                    if let Some(m) = caps.get(g) {
                        if m.end() > m.start() {
                            out.push(Finding { rule, start: m.start(), end: m.end(), prio: 2 });
                        }
                    }
                }
            }
        }
    }
    if out.len() > first {
        settle(cfg, t, out, first);
    }
}

/// The shortest match of an anchored rule (tested with the rules): shorter runs of non-space
/// bytes are not looked at token by token.
const MIN_TOKEN: usize = 16;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `x` that is below `n` (n <= 0x80); exact, no carries between
/// bytes.
#[inline]
fn below(x: u64, n: u8) -> u64 {
    !(((x & LOW7) + LO * (0x80 - n) as u64) | x) & HI
}

#[inline]
fn load8(t: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&t[i..i + 8]);
    u64::from_le_bytes(w)
}

/// Whether the eight bytes of `x` are all ASCII letters and digits.
#[inline]
fn all_alnum(x: u64) -> bool {
    let range = |lo: u8, hi: u8| below(x, hi + 1) & !below(x, lo);
    range(b'a', b'z') | range(b'A', b'Z') | range(b'0', b'9') == HI
}

/// The high bit of the zero bytes of `y`: exact for the lowest, and for whether there is any;
/// a byte just above a zero byte may be flagged too.
#[inline]
fn zero(y: u64) -> u64 {
    y.wrapping_sub(LO) & !y & HI
}

/// Looks for anchored tokens in `t[s..e]`, a run of non-space bytes, token start by token
/// start; returns where scanning may resume (past `e` if a finding ends there).
fn tokens(cfg: &Config, tb: &mut Tables, t: &[u8], s: usize, e: usize, out: &mut Vec<Finding>) -> usize {
    let n = t.len();
    let mut i = s;
    if i > 0 && t[i - 1] == b'\\' {
        i += 1; // the letter of an escape (\n): a separator
    }
    while i < e {
        let b = t[i];
        if b == b'\\' {
            i += 2;
            continue;
        }
        let alnum = is(b, ALNUM);
        // Tokens start at a letter or digit after a non-alphanumeric byte.
        if alnum && i + 1 < n && tb.has_pair(b, t[i + 1]) {
            if let Some(f) = anchored(cfg, tb, t, i) {
                out.push(f);
                i = f.end.max(i + 1);
                continue;
            }
        }
        i += 1;
        if alnum {
            // Long tokens (hashes, base64) are common in results: skip them eight bytes at once.
            while i + 8 <= e && all_alnum(load8(t, i)) {
                i += 8;
            }
            while i < e && is(t[i], ALNUM) {
                i += 1;
            }
        }
    }
    i
}

/// Drops allowed values and resolves overlaps among the findings from `first` on.
fn settle(cfg: &Config, t: &[u8], out: &mut Vec<Finding>, first: usize) {
    let mut fs: Vec<Finding> = out.drain(first..).collect();
    fs.retain(|f| {
        let v = &t[f.start..f.end];
        !cfg.allow.iter().any(|a| a == v) && !cfg.allow_patterns.iter().any(|p| p.is_match(v))
    });
    fs.sort_by(|a, b| a.start.cmp(&b.start).then(b.prio.cmp(&a.prio)).then(b.end.cmp(&a.end)));
    for f in fs {
        match out[first..].last_mut() {
            Some(last) if f.start < last.end => {
                if f.prio > last.prio {
                    *last = f;
                }
            }
            _ => out.push(f),
        }
    }
}

fn anchored(cfg: &Config, tb: &mut Tables, t: &[u8], i: usize) -> Option<Finding> {
    let n = t.len();
    for bi in 0..tb.buckets[t[i] as usize].len() {
        let (anchor, rule) = tb.buckets[t[i] as usize][bi];
        if !t[i..].starts_with(anchor) || !cfg.on(rule) {
            continue;
        }
        let r = &RULES[rule];
        let win = &t[i..n.min(i + r.max_len)];
        regex(tb, rule);
        let re = tb.regexes[rule].as_ref().unwrap();
        let (start, end) = match tb.groups[rule] {
            None => match re.find(win) {
                Some(m) => (i, i + m.end()),
                None => continue,
            },
            Some(g) => match re.captures(win).and_then(|c| c.get(g)) {
                Some(m) => (i + m.start(), i + m.end()),
                None => continue,
            },
        };
        let body = &t[(i + anchor.len()).min(end)..end];
        let ok = match r.check {
            Check::Token => ends_token(t, end) && !placeholder_token(body),
            Check::Random => ends_token(t, end) && !placeholder_token(body) && looks_random(body),
            Check::Jwt => ends_token(t, end) && jwt_header(&t[i..end]),
            Check::PrivateKey => {
                // A BEGIN line alone (documentation, a truncated example) holds no key.
                let pem = pem_end(t, end);
                if t[end..pem].iter().filter(|&&b| is(b, ALNUM)).count() >= 32 {
                    return Some(Finding { rule, start, end: pem, prio: 2 });
                }
                continue;
            }
        };
        if ok {
            return Some(Finding { rule, start, end, prio: 2 });
        }
    }
    None
}

/// A token ends at the end of the text or before a byte that is not a letter or digit: else it
/// is part of a longer word or blob.
fn ends_token(t: &[u8], end: usize) -> bool {
    end >= t.len() || !is(t[end], ALNUM)
}

fn placeholder_token(body: &[u8]) -> bool {
    let mut run = 1;
    for w in body.windows(2) {
        run = if w[0] == w[1] { run + 1 } else { 1 };
        if run >= 6 {
            return true;
        }
    }
    portcullis::bytes::contains_ignore_case(body, b"example")
}

fn looks_random(body: &[u8]) -> bool {
    let (mut lower, mut upper, mut digit) = (false, false, false);
    for &b in body {
        lower |= b.is_ascii_lowercase();
        upper |= b.is_ascii_uppercase();
        digit |= b.is_ascii_digit();
    }
    (digit && (lower || upper)) || (lower && upper)
}

/// Where a private key block whose BEGIN line ends at `from` ends: after its END line or, when
/// the block is cut short, after its last line of key material (headers like `Proc-Type: ...`
/// and base64 lines).
fn pem_end(t: &[u8], from: usize) -> usize {
    if let Some(p) = portcullis::bytes::find(&t[from..], b"-----END") {
        let after = from + p + 8;
        return match portcullis::bytes::find(&t[after..], b"-----") {
            Some(q) => after + q + 5,
            None => t.len(),
        };
    }
    // Lines end at a newline, or at its escape in a JSON string's raw text.
    let mut end = from;
    let mut at = from;
    while at < t.len() {
        let (mut le, next) = match t[at..].iter().position(|&b| b == b'\n' || b == b'\\') {
            Some(p) if t[at + p] == b'\n' => (at + p, at + p + 1),
            Some(p) if t.get(at + p + 1) == Some(&b'n') => (at + p, at + p + 2),
            Some(p) if t[at + p..].starts_with(b"\\r\\n") => (at + p, at + p + 4),
            Some(p) => (at + p, t.len()), // another escape: not key material
            None => (t.len(), t.len()),
        };
        if le > at && t[le - 1] == b'\r' {
            le -= 1;
        }
        let l = &t[at..le];
        let material = l.iter().all(|&b| is(b, ALNUM) || b == b'+' || b == b'/' || b == b'=')
            || (contains(l, b": ") && l[0].is_ascii_alphabetic());
        if !material {
            break;
        }
        if !l.is_empty() {
            end = le;
        }
        at = next;
    }
    end
}

fn b64url_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    } as u32)
}

/// Whether a JWT's first part decodes to a JSON object with an `alg` member.
fn jwt_header(token: &[u8]) -> bool {
    let head = &token[..token.iter().position(|&b| b == b'.').unwrap_or(token.len())];
    if head.len() % 4 == 1 || head.len() > 4096 {
        return false;
    }
    let mut out = Vec::with_capacity(head.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in head {
        match b64url_value(c) {
            Some(v) => {
                acc = acc << 6 | v;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                }
            }
            None => return false,
        }
    }
    match json::parse(&out) {
        Ok(v @ Value::Object(_)) => v.get("alg").and_then(Value::as_str).is_some(),
        _ => false,
    }
}

/// `scheme://user:password@host`: the password, unless it is empty or a placeholder. `i` is the
/// `:` before `//`.
fn url_password(cfg: &Config, t: &[u8], i: usize, out: &mut Vec<Finding>) {
    let rule = rules::context(rules::CONNECTION_STRING);
    if !cfg.on(rule) {
        return;
    }
    let mut s = i;
    while s > 0 && (is(t[s - 1], ALNUM) || matches!(t[s - 1], b'+' | b'.' | b'-')) {
        s -= 1;
    }
    if i - s < 2 || !t[s].is_ascii_alphabetic() {
        return;
    }
    let u = i + 3;
    // The authority ends at the first of / ? # or a byte that cannot be in a URL; a password
    // with a raw @ in it makes the last @ the separator, as URL parsers do.
    let mut e = u;
    while e < t.len() && !matches!(t[e], b'/' | b'?' | b'#' | b'"' | b'\'' | b'`' | b'<' | b'>' | b'\\') && !is(t[e], SPACE) {
        e += 1;
    }
    let at = match t[u..e].iter().rposition(|&b| b == b'@') {
        Some(p) => u + p,
        None => return,
    };
    let colon = match t[u..at].iter().position(|&b| b == b':') {
        Some(p) => u + p,
        None => return, // user@host
    };
    let pw = &t[colon + 1..at];
    // Passwords of a few characters are documentation (`https://a:b@host`), as are the hosts
    // reserved for it (RFC 2606).
    if pw.len() < 4 || at + 1 >= e || placeholder_password(pw) || documentation_host(&t[at + 1..e]) {
        return;
    }
    out.push(Finding { rule, start: colon + 1, end: at, prio: 1 });
}

fn documentation_host(authority: &[u8]) -> bool {
    let host = match authority.iter().position(|&b| b == b':') {
        Some(p) => &authority[..p],
        None => authority,
    };
    let host = host.to_ascii_lowercase();
    ["example.com", "example.org", "example.net", ".example", ".invalid"].iter().any(|d| host.ends_with(d.as_bytes())) || host == b"example"
}

fn placeholder_password(pw: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[b"password", b"pass", b"passwd", b"pwd", b"secret", b"changeme", b"example", b"mypassword", b"yourpassword", b"your_password", b"your-password", b"redacted", b"xxx", b"***"];
    if matches!(pw[0], b'$' | b'<' | b'{' | b'%' | b'[' | b'*') || WORDS.iter().any(|w| pw.eq_ignore_ascii_case(w)) {
        return true;
    }
    pw.len() >= 3 && pw.iter().all(|&b| b == pw[0])
}

const SCHEMES: &[&[u8]] = &[b"bearer ", b"basic ", b"token ", b"bot "];

/// `name = value`, `name: value`, `name := value`, `name => value`, with the name and value
/// optionally quoted; `i` is the `:` or `=`.
fn assignment(cfg: &Config, t: &[u8], i: usize, out: &mut Vec<Finding>) {
    let n = t.len();
    let prev = if i > 0 { t[i - 1] } else { 0 };
    let next = if i + 1 < n { t[i + 1] } else { 0 };
    let mut j = i + 1;
    if t[i] == b'=' {
        // Comparisons and compound operators are not assignments.
        if matches!(prev, b'=' | b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'|' | b'&' | b'%' | b'^') || next == b'=' {
            return;
        }
        if next == b'>' {
            j += 1;
        }
    } else {
        // YAML, headers and JSON put a space or a quote after ':' (or it is :=); a:b is a URN,
        // a time, host:port, the end of a Python line.
        if prev == b':' || !matches!(next, b' ' | b'\t' | b'"' | b'\'' | b'`' | b'\\' | b'=') {
            return;
        }
        if next == b'=' {
            j += 1;
        }
    }
    // The name before the operator.
    let mut k = i;
    while k > 0 && (t[k - 1] == b' ' || t[k - 1] == b'\t') {
        k -= 1;
    }
    if k > 0 && matches!(t[k - 1], b'"' | b'\'' | b'`') {
        k -= 1;
        if k > 0 && t[k - 1] == b'\\' {
            k -= 1;
        }
    }
    let name_end = k;
    while k > 0 && is(t[k - 1], IDENT) && name_end - k < 64 {
        k -= 1;
    }
    if k > 0 && t[k - 1] == b'\\' && k < name_end {
        k += 1; // the letter of an escape before the name (\nDB_PASSWORD=)
    }
    if k == name_end || (k > 0 && matches!(t[k - 1], b':' | b'/' | b'@')) {
        return; // no name, or part of a URN or URL
    }
    let mut buf = [0u8; 64];
    let mut len = 0;
    for &b in &t[k..name_end] {
        if !matches!(b, b'_' | b'-' | b'.') {
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
    }
    let name = &buf[..len];
    // Most names (id=, status=, a time's 10:) are no secret's: stop before reading the value.
    if !has_secret_stem(name) && cfg.names.is_empty() {
        return;
    }
    let op_end = j;
    while j < n && (t[j] == b' ' || t[j] == b'\t') {
        j += 1;
    }
    let spaced = j > op_end;
    // A quote, or in a JSON string's raw text an escaped one: \" (stored as 0).
    let quote = match t.get(j) {
        Some(&q) if q == b'"' || q == b'\'' || q == b'`' => {
            j += 1;
            Some(q)
        }
        Some(b'\\') if t.get(j + 1) == Some(&b'"') => {
            j += 2;
            Some(0)
        }
        _ => None,
    };
    // A short first word followed by a space may be an auth scheme (Authorization: Bearer x).
    let mut w = j;
    while w < n && w < j + 7 && !is(t[w], STOP) {
        w += 1;
    }
    let vs = if w < n && w < j + 7 && t[w] == b' ' { skip_scheme(t, j) } else { j };
    let mut ve = vs;
    match quote {
        Some(q) => {
            let q = if q == 0 { b'\\' } else { q };
            while ve < n && t[ve] != q && t[ve] != b'\\' && !is(t[ve], SPACE) {
                ve += 1;
            }
            if ve >= n || t[ve] != q || (q == b'\\' && t.get(ve + 1) != Some(&b'"')) {
                return; // prose in quotes, or no closing quote
            }
        }
        None => {
            while ve < n && !is(t[ve], STOP) {
                ve += 1;
            }
            if ve < n && matches!(t[ve], b'(' | b'[' | b'{') {
                return; // a call or an index: code, not a value
            }
            while ve > vs && t[ve - 1] == b'.' {
                ve -= 1; // the end of a sentence
            }
            if t[i] == b':' && !spaced && next != b'=' {
                return; // a:b is a URN, a time, host:port; YAML and headers put a space after ':'
            }
        }
    }
    if ve - vs < cfg.min_length {
        return;
    }
    value(cfg, name, t, vs, ve, out);
}

fn skip_scheme(t: &[u8], mut j: usize) -> usize {
    for s in SCHEMES {
        if t.len() >= j + s.len() && t[j..j + s.len()].eq_ignore_ascii_case(s) {
            j += s.len();
            while j < t.len() && t[j] == b' ' {
                j += 1;
            }
            break;
        }
    }
    j
}

/// A JSON member whose name is secret-like: its whole string is the value.
fn member_value(cfg: &Config, name: &[u8], t: &[u8], out: &mut Vec<Finding>) {
    let vs = skip_scheme(t, 0);
    value(cfg, name, t, vs, t.len(), out);
}

fn value(cfg: &Config, name: &[u8], t: &[u8], vs: usize, ve: usize, out: &mut Vec<Finding>) {
    if !secret_name(cfg, name) {
        return;
    }
    let v = &t[vs..ve];
    let aws = rules::context(rules::AWS_SECRET);
    if cfg.on(aws) && aws_secret_name(name) && v.len() == 40 && v.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/') {
        if !placeholder_token(v) {
            out.push(Finding { rule: aws, start: vs, end: ve, prio: 1 });
        }
        return;
    }
    let generic = rules::context(rules::GENERIC);
    if cfg.on(generic) && generic_value(cfg, v) {
        out.push(Finding { rule: generic, start: vs, end: ve, prio: 1 });
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    portcullis::bytes::find(hay, needle).is_some()
}

/// A cheap first test: every built-in secret name has one of these stems.
fn has_secret_stem(name: &[u8]) -> bool {
    name.windows(3).any(|w| {
        matches!(w, [b'p', b'a', b's'] | [b'p', b'w', b'd'] | [b's', b'e', b'c'] | [b't', b'o', b'k'] | [b'k', b'e', b'y'] | [b'c', b'r', b'e'] | [b'a', b'u', b't'])
    })
}

fn secret_name(cfg: &Config, name: &[u8]) -> bool {
    if !has_secret_stem(name) && cfg.names.is_empty() {
        return false;
    }
    // "auth" is in "author" too: a book's or a commit's author is no secret.
    let author = contains(name, b"author") && !contains(name, b"authoriz");
    let named = |s: &[u8]| contains(name, s) && !(author && s == b"auth");
    if !rules::SECRET_NAMES.iter().any(|s| named(s.as_bytes())) && !cfg.names.iter().any(|s| named(s)) {
        return false;
    }
    // An id names a secret rather than holds it (token_id, key_ids).
    if name.ends_with(b"id") || name.ends_with(b"ids") {
        return false;
    }
    !rules::NOT_SECRET_NAMES.iter().any(|s| contains(name, s.as_bytes()))
}

fn aws_secret_name(name: &[u8]) -> bool {
    (contains(name, b"aws") && contains(name, b"secret")) || name.ends_with(b"secretaccesskey")
}

/// Whether a value assigned to a secret-like name looks like a real secret: long enough, one
/// word, not a placeholder, reference, path, URL, UUID or dotted name, and random enough.
pub fn generic_value(cfg: &Config, v: &[u8]) -> bool {
    if v.len() < cfg.min_length || v.len() > 4096 {
        return false;
    }
    let (mut letter, mut digit) = (false, false);
    for &b in v {
        if is(b, SPACE) || b == b'\\' {
            return false;
        }
        letter |= b.is_ascii_alphabetic();
        digit |= b.is_ascii_digit();
    }
    // Generated secrets have digits (a random 20-character base62 string lacks one with odds of
    // 3%); identifiers, words and header names mostly do not.
    if !letter || !digit {
        return false;
    }
    if matches!(v[0], b'/' | b'~' | b'$' | b'<' | b'{' | b'[' | b'%' | b'*' | b'#' | b'@') || v.starts_with(b"./") || v.starts_with(b"../") || contains(v, b"://") {
        return false;
    }
    if uuid(v) || dotted_name(v) {
        return false;
    }
    let lower_v: Vec<u8> = v.to_ascii_lowercase();
    if rules::PLACEHOLDER_WORDS.iter().any(|w| contains(&lower_v, w.as_bytes())) {
        return false;
    }
    entropy(v) >= cfg.min_entropy
}

fn uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, &b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() })
}

/// `a.b.c` made of identifiers: a reference in code (settings.db.main), not a value.
fn dotted_name(v: &[u8]) -> bool {
    v.contains(&b'.')
        && v.split(|&b| b == b'.').all(|seg| {
            !seg.is_empty() && (seg[0].is_ascii_alphabetic() || seg[0] == b'_') && seg.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// Shannon entropy in bits per byte.
pub fn entropy(v: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in v {
        counts[b as usize] += 1;
    }
    let n = v.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| {
        let p = c as f64 / n;
        -p * p.log2()
    }).sum()
}

/// Whether a string is a long run of base64: image, audio and blob payloads, which are binary
/// data, not text that could hold a readable secret.
pub fn base64_blob(raw: &[u8]) -> bool {
    raw.len() >= 64 && raw.iter().all(|&b| is(b, B64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn find(cfg_text: &str, text: &str, name: Option<&str>) -> Vec<(String, String)> {
        let cfg = config::parse(cfg_text.as_bytes()).unwrap();
        let mut out = Vec::new();
        let mut norm = Vec::new();
        let name = name.map(|n| {
            config::normalize_name(n.as_bytes(), &mut norm);
            &norm[..]
        });
        scan(&cfg, text.as_bytes(), name, &mut out);
        out.iter().map(|f| (cfg.id(f.rule).to_string(), text[f.start..f.end].to_string())).collect()
    }

    #[test]
    fn builtin_rules_compile() {
        let tb = tables();
        for i in 0..RULES.len() {
            regex(tb, i);
            for a in RULES[i].anchors {
                // The scanner checks anchors at token starts, and -----BEGIN after two dashes.
                assert!(a.len() >= 2 && (a.as_bytes()[0].is_ascii_alphanumeric() || a.starts_with("-----BEGIN ")), "{}", RULES[i].id);
            }
        }
    }

    #[test]
    fn shortest_tokens() {
        // The regex's shortest match, by construction of the patterns: find it by trying
        // ever longer strings made of the rule's own first match would be costly; instead
        // check that no rule matches any string shorter than MIN_TOKEN built from its anchor.
        let tb = tables();
        for (i, r) in RULES.iter().enumerate() {
            regex(tb, i);
            let re = tb.regexes[i].as_ref().unwrap();
            for a in r.anchors {
                for fill in ["a", "A", "0", "a0", "aB3", "-", "_", "."] {
                    let mut s = a.to_string();
                    while s.len() < MIN_TOKEN - 1 {
                        s.push_str(fill);
                    }
                    s.truncate(MIN_TOKEN - 1);
                    assert!(!re.is_match(s.as_bytes()), "{} matches {:?}, shorter than MIN_TOKEN", r.id, s);
                }
            }
        }
    }

    /// Arbitrary text, raw or as JSON, never panics (a panic traps the instance).
    #[test]
    fn no_panics() {
        let pieces: &[&str] = &[
            "\\", "\"", "\\n", "\\u00", ":", "=", "://", "@", "-----BEGIN ", "PRIVATE KEY-----", "-----END", "\n", " ",
            "ghp_", "sk-", "eyJ", "AKIA", "AccountKey=", "sig=", "password", "token: ", "Bearer ", "'", "`", "a", "Z9",
            "aaaaaaaaaaaaaaaa", "0123456789abcdef", "/", "+", "é", "\t", "xoxb-", "1//0", "hooks.slack.com/",
        ];
        let cfg = config::parse(br#"{"rules":[{"id":"c","regex":"(?P<secret>x+)"}]}"#).unwrap();
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut out = Vec::new();
        let mut h = Hints::default();
        for _ in 0..3000 {
            let mut next = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut text = String::new();
            for _ in 0..next() % 40 {
                text.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            }
            out.clear();
            scan(&cfg, text.as_bytes(), Some(b"password"), &mut out);
            for f in &out {
                assert!(f.start < f.end && f.end <= text.len());
            }
            let raw = format!("{}\"", text);
            if let Some(e) = prescan(raw.as_bytes(), true, &mut h) {
                out.clear();
                scan_hinted(&cfg, &raw.as_bytes()[..e.end], &h, Some(b"token"), &mut out);
            }
        }
    }

    #[test]
    fn secret_stems() {
        for n in rules::SECRET_NAMES {
            assert!(has_secret_stem(n.as_bytes()), "{}", n);
        }
    }

    #[test]
    fn swar() {
        for b in 0..=255u8 {
            let x = u64::from_le_bytes([b'a', b, 0x21, b, 0xff, b, b' ', b]);
            let want = |c: bool| if c { 0x80u64 } else { 0 };
            let mut lt = 0;
            let mut e = 0;
            for (k, &v) in x.to_le_bytes().iter().enumerate() {
                lt |= want(v < 0x21) << (8 * k);
                e |= want(v == b':') << (8 * k);
            }
            assert_eq!(below(x, 0x21), lt, "{}", b);
            assert_eq!(zero(x ^ (LO * b':' as u64)) & e, e, "{}", b);
            assert_eq!(all_alnum(u64::from_le_bytes([b; 8])), b.is_ascii_alphanumeric(), "{}", b);
        }
    }

    #[test]
    fn every_offset() {
        let gh = "ghp_aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4";
        for pad in 0..20 {
            for after in ["", " ", "\n", ".", " more words here"] {
                let text = format!("{}{}{}", "x ".repeat(pad / 2) + &" ".repeat(pad % 2), gh, after);
                assert_eq!(find("", &text, None), vec![("github_token".into(), gh.to_string())], "{:?}", text);
                let text = format!("{}api_key: {}{}", "w ".repeat(pad), "Zx8#kQ2vLm9$wR", after);
                assert_eq!(find("", &text, None), vec![("generic_secret".into(), "Zx8#kQ2vLm9$wR".to_string())], "{:?}", text);
            }
        }
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----";
        for pad in 0..10 {
            let text = format!("{}{} tail", " ".repeat(pad), pem);
            assert_eq!(find("", &text, None), vec![("private_key".into(), pem.to_string())], "{:?}", text);
        }
    }

    #[test]
    fn finds_and_ignores() {
        let gh = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4");
        assert_eq!(find("", &format!("token {} here", gh), None), vec![("github_token".into(), gh.clone())]);
        assert_eq!(find("", &format!("x{}", gh), None), vec![]);
        assert_eq!(find("", "postgres://app:s3cr3t-Pw@db:5432/x", None), vec![("connection_string".into(), "s3cr3t-Pw".into())]);
        assert_eq!(find("", "redis://cache:6379/0 and ssh://git@host", None), vec![]);
        assert_eq!(find("", "DB_PASSWORD=Zx8#kQ2vLm9$wR", None), vec![("generic_secret".into(), "Zx8#kQ2vLm9$wR".into())]);
        assert_eq!(find("", "password: changeme-please-123", None), vec![]);
        assert_eq!(find("", "Zx8#kQ2vLm9$wR7", Some("client_secret")), vec![("generic_secret".into(), "Zx8#kQ2vLm9$wR7".into())]);
        assert_eq!(find("", "550e8400-e29b-41d4-a716-446655440000", Some("token")), vec![]);
        assert_eq!(find("", "Zx8#kQ2vLm9$wR7", Some("token_sha256")), vec![]);
        assert_eq!(find("", "api_key = os.environ['X']", None), vec![]);
    }
}

