//! The built-in detectors: one pass over the raw frame that stops only at an '@' or a digit
//! (sixteen or eight bytes at a time), then checks the email address or the run of digit groups there.
//! Findings are byte ranges of the raw frame; whether they lie in a string value is settled
//! afterwards by the JSON walk, only when there is a finding.
//!
//! JSON escapes are separators here: `\n415-555-2671` is a number at the start of a line and
//! `\u003cjohn@acme.com\u003e` an address between angle brackets.

use crate::checks;
use walk::hex4;

/// Built-in rule numbers, in the order of [`RULES`].
pub const EMAIL: usize = 0;
pub const PHONE: usize = 1;
pub const CARD: usize = 2;
pub const SSN: usize = 3;
pub const NINO: usize = 4;
pub const DNI: usize = 5;
pub const AADHAAR: usize = 6;
pub const BSN: usize = 7;
pub const IBAN: usize = 8;

/// The built-in rules: id and default placeholder.
pub const RULES: [(&str, &str); 9] = [
    ("email", "[EMAIL]"),
    ("phone", "[PHONE]"),
    ("card", "[CARD]"),
    ("ssn", "[SSN]"),
    ("nino", "[NINO]"),
    ("dni", "[DNI]"),
    ("aadhaar", "[AADHAAR]"),
    ("bsn", "[BSN]"),
    ("iban", "[IBAN]"),
];

/// A finding: rule number and raw byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub rule: usize,
    pub start: usize,
    pub end: usize,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The first '@' or ASCII digit at or after `i`: sixteen bytes a step with Wasm SIMD (the
/// gateway's engine runs it), eight with SWAR elsewhere (native tests).
#[inline]
fn next_interesting(f: &[u8], i: usize) -> Option<usize> {
    #[cfg(target_arch = "wasm32")]
    // Safety: the loads stay inside `f`.
    return unsafe { next_simd(f, i) };
    #[cfg(not(target_arch = "wasm32"))]
    next_swar(f, i)
}

#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
unsafe fn next_simd(f: &[u8], mut i: usize) -> Option<usize> {
    use core::arch::wasm32::*;
    let (zero, ten, at) = (u8x16_splat(b'0'), u8x16_splat(10), u8x16_splat(b'@'));
    while i + 16 <= f.len() {
        let v = v128_load(f.as_ptr().add(i) as *const v128);
        let m = u8x16_bitmask(v128_or(u8x16_lt(u8x16_sub(v, zero), ten), u8x16_eq(v, at)));
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    next_swar(f, i)
}

fn next_swar(f: &[u8], mut i: usize) -> Option<usize> {
    // Digits and '@' of eight bytes: bytes below 10 after xor '0', zero bytes after xor '@'.
    // Only the lowest flagged byte is sure to be a true one, which is the one we want.
    #[inline(always)]
    fn flags(x: u64) -> u64 {
        let y = x ^ (0x30 * LO);
        let z = x ^ (0x40 * LO);
        ((y.wrapping_sub(0x0a * LO) & !y) | (z.wrapping_sub(LO) & !z)) & HI
    }
    let n = f.len();
    // Safety: callers read at i only when i + 8 <= n.
    let at = |i: usize| u64::from_le(unsafe { (f.as_ptr().add(i) as *const u64).read_unaligned() });
    // Two words a step: Wasm pays a check at every loop head.
    while i + 16 <= n {
        let (a, b) = (flags(at(i)), flags(at(i + 8)));
        if a | b != 0 {
            return Some(if a != 0 { i + (a.trailing_zeros() / 8) as usize } else { i + 8 + (b.trailing_zeros() / 8) as usize });
        }
        i += 16;
    }
    if i + 8 <= n {
        let h = flags(at(i));
        if h != 0 {
            return Some(i + (h.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    (i..n).find(|&k| f[k].is_ascii_digit() || f[k] == b'@')
}

/// Scans the raw frame for the enabled (`on`, one bit per rule) built-in rules.
pub fn scan(f: &[u8], on: u32, hits: &mut Vec<Hit>) {
    let mut i = 0;
    while let Some(p) = next_interesting(f, i) {
        if f[p] == b'@' {
            i = p + 1;
            if on & bit(EMAIL) != 0 {
                if let Some((s, e)) = email(f, p) {
                    hits.push(Hit { rule: EMAIL, start: s, end: e });
                    i = e;
                }
            }
        } else {
            i = numeric(f, p, on, hits);
        }
    }
}

pub fn bit(rule: usize) -> u32 {
    1 << rule
}

#[inline]
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether the backslash at `at` starts an escape (an odd run of backslashes ends there).
#[inline]
fn escapes(f: &[u8], at: usize) -> bool {
    let run = f[..=at].iter().rev().take_while(|&&c| c == b'\\').count();
    run % 2 == 1
}

fn simple_escape(c: u8) -> u8 {
    match c {
        b'n' => b'\n',
        b't' => b'\t',
        b'r' => b'\r',
        b'b' => 8,
        b'f' => 12,
        other => other,
    }
}

/// The character that ends at raw offset `k` (escapes decoded; non-ASCII as 0x80) and where it
/// starts.
#[inline]
fn prev(f: &[u8], k: usize) -> (u8, usize) {
    if k == 0 {
        return (b' ', 0);
    }
    if k >= 6 && f[k - 6] == b'\\' && f[k - 5] == b'u' && escapes(f, k - 6) {
        if let Some(v) = hex4(f, k - 4) {
            return (if v < 0x80 { v as u8 } else { 0x80 }, k - 6);
        }
    }
    if k >= 2 && f[k - 2] == b'\\' && escapes(f, k - 2) {
        return (simple_escape(f[k - 1]), k - 2);
    }
    (f[k - 1].min(0x80), k - 1)
}

/// The character that starts at raw offset `k`, and where the next one starts.
#[inline]
fn next(f: &[u8], k: usize) -> (u8, usize) {
    match f.get(k) {
        None => (b' ', k),
        Some(b'\\') => match f.get(k + 1) {
            Some(b'u') => match hex4(f, k + 2) {
                Some(v) if v < 0x80 => (v as u8, k + 6),
                _ => (0x80, k + 6),
            },
            Some(&c) => (simple_escape(c), k + 2),
            None => (b' ', k + 1),
        },
        Some(&c) => (c.min(0x80), k + 1),
    }
}

/// Whether the text before `start` does not join it to a word, an identifier (`ORD-`, `v1.`,
/// `/users/`), a larger number (`1,`, `10:`) or a minus sign.
#[inline]
fn left_ok(f: &[u8], start: usize) -> bool {
    let (c, j) = prev(f, start);
    match c {
        // '-' joins an identifier (`ORD-…`) or is a minus sign (`-4507534739750823898`).
        _ if is_word(c) || c == b'@' || c == b'-' => false,
        b'.' | b'/' => !is_word(prev(f, j).0),
        b',' | b':' => !prev(f, j).0.is_ascii_digit(),
        _ => true,
    }
}

/// Like [`left_ok`], after `end`.
#[inline]
fn right_ok(f: &[u8], end: usize) -> bool {
    let (c, j) = next(f, end);
    match c {
        _ if is_word(c) || c == b'@' => false,
        b'-' | b'.' | b'/' => !is_word(next(f, j).0),
        b',' | b':' => !next(f, j).0.is_ascii_digit(),
        _ => true,
    }
}

/// Whether one of `words` (lowercase) appears as a word in the 48 bytes before `start`: the
/// context that makes a bare run of digits an identifier (`"ssn": "123456789"`).
fn context(f: &[u8], start: usize, words: &[&[u8]]) -> bool {
    let w = &f[start.saturating_sub(48)..start];
    words.iter().any(|k| {
        w.windows(k.len()).enumerate().any(|(i, s)| {
            s.eq_ignore_ascii_case(k)
                && (i == 0 || !w[i - 1].is_ascii_alphabetic())
                && w.get(i + k.len()).map_or(true, |c| !c.is_ascii_alphabetic())
        })
    })
}

// ---- email ----

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// The address around the '@' at `at`.
fn email(f: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut s = at;
    while s > 0 && at - s < 64 && is_local(f[s - 1]) {
        s -= 1;
    }
    // The scan may have started inside an escape that precedes the address (`\nj`, `\u003cj`).
    if s >= 1 && f[s - 1] == b'\\' && escapes(f, s - 1) {
        s = s - 1 + if f[s] == b'u' { 6 } else { 2 };
    }
    while s < at && f[s] == b'.' {
        s += 1;
    }
    if s >= at || f[at - 1] == b'.' || f[s..at].windows(2).any(|w| w == b"..") {
        return None;
    }
    // `https://user:pass@host`: credentials of a URL, not an address.
    if prev(f, s).0 == b':' && f[s.saturating_sub(80)..s].windows(3).any(|w| w == b"://") {
        return None;
    }
    let mut e = at + 1;
    while e < f.len() && e - at <= 253 && (f[e].is_ascii_alphanumeric() || f[e] == b'-' || f[e] == b'.') {
        e += 1;
    }
    while e > at + 1 && matches!(f[e - 1], b'.' | b'-') {
        e -= 1;
    }
    let domain = &f[at + 1..e];
    let mut labels = 0;
    let mut last: &[u8] = b"";
    for l in domain.split(|&c| c == b'.') {
        if l.is_empty() || l.len() > 63 || l[0] == b'-' || l[l.len() - 1] == b'-' {
            return None;
        }
        labels += 1;
        last = l;
    }
    if labels < 2 || last.len() < 2 || !last.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    // `icon@2x.png`: an image name, not an address.
    let first = domain.split(|&c| c == b'.').next().unwrap_or(b"");
    if labels == 2 && first.len() >= 2 && first[first.len() - 1] == b'x' && first[..first.len() - 1].iter().all(u8::is_ascii_digit) {
        return None;
    }
    // `git@github.com:org/repo.git`: an scp-style SSH address.
    if f.get(e) == Some(&b':') && f.get(e + 1).map_or(false, |&c| c.is_ascii_alphanumeric() || matches!(c, b'~' | b'/' | b'.' | b'_')) {
        return None;
    }
    Some((s, e))
}

// ---- numbers ----

/// A run of digit groups joined by single separators. Small and filled in place: it is built
/// for every run of digits that is not obviously part of a word.
struct Num {
    end: usize,
    /// Group starts (the first 8 groups) and lengths (capped at 255).
    starts: [u32; 8],
    lens: [u8; 8],
    /// `seps[k]` joins groups k and k+1: ' ', '-', '.', '/', ')' (`) ` too) or '(' (` (`).
    seps: [u8; 8],
    ng: usize,
    digits: usize,
}

impl Num {
    fn lens_are(&self, want: &[u8]) -> bool {
        self.ng == want.len() && self.lens[..self.ng] == *want
    }
    fn lens(&self) -> &[u8] {
        &self.lens[..self.ng.min(8)]
    }
    /// Every separator is one of `allowed`, and the same one.
    fn seps_same(&self, allowed: &[u8]) -> bool {
        let s = &self.seps[..self.ng.saturating_sub(1).min(8)];
        s.iter().all(|c| allowed.contains(c)) && s.windows(2).all(|w| w[0] == w[1])
    }
    /// The digits, without separators (empty when there are too many).
    fn collect<'b>(&self, f: &[u8], buf: &'b mut [u8; 32]) -> &'b [u8] {
        if self.ng > 8 || self.digits > 32 {
            return &buf[..0];
        }
        let mut n = 0;
        for k in 0..self.ng {
            let (s, l) = (self.starts[k] as usize, self.lens[k] as usize);
            buf[n..n + l].copy_from_slice(&f[s..s + l]);
            n += l;
        }
        &buf[..n]
    }
}

/// The separator at `i` between two digit groups: its kind and length.
fn sep_at(f: &[u8], i: usize) -> (u8, usize) {
    match (f.get(i), f.get(i + 1)) {
        (Some(b' '), Some(b'(')) => (b'(', 2),
        (Some(&c @ (b' ' | b'-' | b'.' | b'/')), _) => (c, 1),
        (Some(b')'), Some(b' ' | b'-')) => (b')', 2),
        (Some(b')'), _) => (b')', 1),
        _ => (0, 0),
    }
}

fn parse(f: &[u8], p: usize, num: &mut Num) {
    let mut i = p;
    loop {
        let s = i;
        while i < f.len() && f[i].is_ascii_digit() {
            i += 1;
        }
        if num.ng < 8 {
            num.starts[num.ng] = s as u32;
            num.lens[num.ng] = (i - s).min(255) as u8;
        }
        num.ng += 1;
        num.digits += i - s;
        let (kind, len) = sep_at(f, i);
        if len == 0 || !f.get(i + len).map_or(false, u8::is_ascii_digit) {
            break;
        }
        if num.ng <= 8 {
            num.seps[num.ng - 1] = kind;
        }
        i += len;
    }
    num.end = i;
}

#[inline]
fn upper(c: u8) -> bool {
    c.is_ascii_uppercase()
}

/// Checks the digit run starting at `p` (the first digit after something that is not a digit)
/// and returns where scanning goes on.
fn numeric(f: &[u8], p: usize, on: u32, hits: &mut Vec<Hit>) -> usize {
    // The hex digits of a \uXXXX escape are not a number.
    for b in p.saturating_sub(5)..p.saturating_sub(1) {
        if f[b] == b'\\' && f[b + 1] == b'u' && p < b + 6 && escapes(f, b) {
            return b + 6;
        }
    }
    let run_end = p + f[p..].iter().take_while(|c| c.is_ascii_digit()).count();
    let before = if p > 0 { f[p - 1] } else { b' ' };
    // Whether `before` ends an escape (`\n4155…`, `\u003c4111…`).
    let escaped = p >= 2 && f[p - 2] == b'\\' || p >= 6 && f[p - 6] == b'\\' && f[p - 5] == b'u';
    // Most digit runs sit in hex and identifiers (`e29b`, `a716`, `12ms`, `v2`): a lowercase
    // letter or '_' on either side rules the whole word out before any parsing.
    if (before.is_ascii_lowercase() || before == b'_') && !escaped || f.get(run_end).map_or(false, |&c| c.is_ascii_lowercase() || c == b'_')
    {
        if escaped {
            return run_end;
        }
        return run_end + f[run_end..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
    }
    let plus = before == b'+';
    let paren = before == b'(';
    let start = if plus || paren { p - 1 } else { p };
    // Letters before the digits can be an IBAN, NINO or NIE prefix; anything else joined to
    // the digits rules them out.
    let prefixed = upper(before) || before == b' ';
    if !prefixed && !left_ok(f, start) {
        return run_end;
    }
    let mut num = Num { end: p, starts: [0; 8], lens: [0; 8], seps: [0; 8], ng: 0, digits: 0 };
    parse(f, p, &mut num);
    let end = num.end;
    if num.ng > 8 || num.digits > 32 {
        return end;
    }
    let mut buf = [0u8; 32];
    if prefixed {
        if let Some(h) = lettered(f, p, &num, on) {
            hits.push(h);
            return h.end;
        }
    }
    // Every other rule needs eight digits or more (a DNI has eight, the shortest phone too).
    if num.digits < 8 || prefixed && !left_ok(f, start) {
        return end;
    }
    let mut hit = |rule: usize, start: usize, end: usize| {
        hits.push(Hit { rule, start, end });
        end
    };
    // A DNI ends in its control letter, so it is checked before the right boundary.
    if on & bit(DNI) != 0 && !plus && !paren && num.lens_are(&[8]) {
        if let Some(e) = dni_letter(f, end, checks::dni_letter(num.collect(f, &mut buf))) {
            return hit(DNI, p, e);
        }
    }
    if !right_ok(f, end) {
        return end;
    }
    let digits = num.collect(f, &mut buf);
    if plus {
        if on & bit(PHONE) != 0 && phone_intl(&num, digits) {
            return hit(PHONE, start, end);
        }
        return end;
    }
    if on & bit(CARD) != 0 && !paren && card(&num, digits) {
        return hit(CARD, p, end);
    }
    let bare9 = num.lens_are(&[9]);
    if on & bit(SSN) != 0
        && !paren
        && (num.lens_are(&[3, 2, 4]) && num.seps_same(b"- ") || bare9 && context(f, p, &[b"ssn", b"social security"]))
        && checks::ssn(digits)
    {
        return hit(SSN, p, end);
    }
    if on & bit(AADHAAR) != 0
        && !paren
        && (num.lens_are(&[4, 4, 4]) && num.seps_same(b"- ") || num.lens_are(&[12]) && context(f, p, &[b"aadhaar", b"uidai"]))
        && digits[0] >= b'2'
        && checks::verhoeff(digits)
    {
        return hit(AADHAAR, p, end);
    }
    if on & bit(BSN) != 0 && !paren && bare9 && context(f, p, &[b"bsn", b"burgerservicenummer", b"sofinummer"]) && checks::bsn(digits) {
        return hit(BSN, p, end);
    }
    if on & bit(PHONE) != 0 && phone_national(&num, digits, paren) {
        return hit(PHONE, start, end);
    }
    end
}

/// IBAN, NINO or NIE: the digits at `p` preceded by their letters.
fn lettered(f: &[u8], p: usize, num: &Num, on: u32) -> Option<Hit> {
    let end = num.end;
    if p >= 2 && upper(f[p - 1]) && upper(f[p - 2]) && left_ok(f, p - 2) {
        if on & bit(IBAN) != 0 {
            if let Some(e) = iban(f, p - 2) {
                return Some(Hit { rule: IBAN, start: p - 2, end: e });
            }
        }
        if on & bit(NINO) != 0 && num.lens_are(&[6]) {
            if let Some(e) = nino_suffix(f, f[p - 2], f[p - 1], end) {
                return Some(Hit { rule: NINO, start: p - 2, end: e });
            }
        }
    }
    if on & bit(NINO) != 0
        && p >= 3
        && f[p - 1] == b' '
        && upper(f[p - 2])
        && upper(f[p - 3])
        && left_ok(f, p - 3)
        && (num.lens_are(&[6]) || num.lens_are(&[2, 2, 2]) && num.seps_same(b" "))
    {
        if let Some(e) = nino_suffix(f, f[p - 3], f[p - 2], end) {
            return Some(Hit { rule: NINO, start: p - 3, end: e });
        }
    }
    if on & bit(DNI) != 0 && p >= 1 && matches!(f[p - 1], b'X' | b'Y' | b'Z') && left_ok(f, p - 1) && num.lens_are(&[7]) {
        let mut d = [0u8; 8];
        d[0] = b'0' + (f[p - 1] - b'X');
        d[1..].copy_from_slice(&f[p..p + 7]);
        if let Some(e) = dni_letter(f, end, checks::dni_letter(&d)) {
            return Some(Hit { rule: DNI, start: p - 1, end: e });
        }
    }
    None
}

/// The NINO suffix letter after the digits ending at `end` (optionally after a space), checked
/// with the prefix letters `a` `b`; returns the end of the number.
fn nino_suffix(f: &[u8], a: u8, b: u8, end: usize) -> Option<usize> {
    let at = if f.get(end) == Some(&b' ') { end + 1 } else { end };
    let s = *f.get(at)?;
    (checks::nino(a, b, s) && right_ok(f, at + 1)).then(|| at + 1)
}

/// The DNI/NIE control letter after the digits ending at `end` (optionally after '-').
fn dni_letter(f: &[u8], end: usize, want: u8) -> Option<usize> {
    let at = if f.get(end) == Some(&b'-') { end + 1 } else { end };
    (f.get(at) == Some(&want) && right_ok(f, at + 1)).then(|| at + 1)
}

/// An IBAN starting with the country code at `at`, electronic (`DE89370400440532013000`) or
/// printed in groups of four (`DE89 3704 0044 0532 0130 00`); returns its end.
fn iban(f: &[u8], at: usize) -> Option<usize> {
    let want = checks::iban_length([f[at], f[at + 1]])?;
    let mut chars = [0u8; 34];
    chars[..2].copy_from_slice(&f[at..at + 2]);
    let (mut n, mut i, mut group) = (2, at + 2, 2);
    while n < want {
        match f.get(i) {
            Some(&c) if c.is_ascii_digit() || upper(c) => {
                chars[n] = c;
                n += 1;
                group += 1;
                i += 1;
            }
            Some(b' ') if group == 4 && f.get(i + 1).map_or(false, |&c| c.is_ascii_digit() || upper(c)) => {
                group = 0;
                i += 1;
            }
            _ => return None,
        }
    }
    let ok = chars[2].is_ascii_digit() && chars[3].is_ascii_digit() && right_ok(f, i) && checks::iban_mod97(&chars[..n]);
    ok.then(|| i)
}

/// 13-19 digits, bare or in groups (first of four) split by one kind of space or dash, in a
/// major network's range and passing the Luhn check.
fn card(num: &Num, d: &[u8]) -> bool {
    // Bare, 13-16 digits: the 17-19-digit ranges are rare, and bare they are mostly 64-bit
    // integers (`4617878467915022336`).
    let ok = num.ng == 1 && d.len() <= 16
        || num.ng <= 6 && num.seps_same(b" -") && num.lens[0] == 4 && num.lens()[1..].iter().all(|l| (3..=6).contains(l));
    (13..=19).contains(&d.len()) && ok && checks::card_network(d) && checks::luhn(d)
}

/// All zeros and ones: a bit string, not a phone number.
fn binary(d: &[u8]) -> bool {
    d.iter().all(|&c| c == b'0' || c == b'1')
}

/// Dots as separators: alone, three groups or more of at most four digits (`415.555.2671`,
/// `06.12.34.56.78`), never a decimal number (`180.000000`) or a dotted quad (`10.0.12.7`).
fn dots_ok(num: &Num) -> bool {
    let seps = &num.seps[..num.ng - 1];
    !seps.contains(&b'.')
        || seps.iter().all(|&c| c == b'.')
            && num.ng >= 3
            && num.lens().iter().all(|&l| l <= 4)
            && !(num.ng == 4 && num.lens().iter().all(|&l| l <= 3))
}

/// After a '+': a country code and number, 8-15 digits with separators, 11-13 without (so that
/// `+2147483647` or `+4294967295` in code are not); a country code does not start with 0, and
/// +1 numbers follow the North American plan.
fn phone_intl(num: &Num, d: &[u8]) -> bool {
    let bare = num.ng == 1;
    let (min, max) = if bare { (11, 13) } else { (8, 15) };
    if !(min..=max).contains(&d.len()) || num.ng > 8 || !bare && num.lens[0] > 4 || d[0] == b'0' || binary(d) || !dots_ok(num) {
        return false;
    }
    if d[0] == b'1' && (bare || num.lens[0] == 1) {
        return d.len() == 11 && d[1] >= b'2' && d[4] >= b'2';
    }
    true
}

/// National formats, always with separators: North American `(415) 555-2671`, `415-555-2671`,
/// `415.555.2671`, `1-415-555-2671`; trunk-prefix numbers such as `020 7946 0958`,
/// `06 12 34 56 78`, `030/1234567`, `(030) 1234567` (10-12 digits, groups of two or more).
fn phone_national(num: &Num, d: &[u8], paren: bool) -> bool {
    if num.ng < 2 || num.ng > 6 {
        return false;
    }
    let seps = &num.seps[..num.ng - 1];
    if seps.iter().any(|&c| c == b'(') || paren != (seps[0] == b')') || seps[1..].iter().any(|&c| c == b')') {
        return false; // parentheses only around the first group
    }
    if !dots_ok(num) || binary(d) {
        return false;
    }
    let nanp = |g: &[u8]| {
        num.lens_are(g) && {
            let o = if g.len() == 4 { 1 } else { 0 };
            (g.len() == 3 || d[0] == b'1') && d[o] >= b'2' && d[o + 3] >= b'2'
        }
    };
    if nanp(&[3, 3, 4]) || !paren && nanp(&[1, 3, 3, 4]) {
        return true;
    }
    // Trunk-prefix numbers: 10-12 digits (not a ZIP+4 code, `02110-1301`), one kind of
    // separator after a closing parenthesis (not a date and a time, `01/02/2024 1530`).
    let rest = if paren { &seps[1..] } else { seps };
    d[0] == b'0'
        && d[1] != b'0'
        && (10..=12).contains(&d.len())
        && num.lens().iter().all(|&l| l >= 2)
        && rest.windows(2).all(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(&'static str, String)> {
        let f = text.as_bytes();
        let mut hits = Vec::new();
        scan(f, u32::MAX, &mut hits);
        hits.iter().map(|h| (RULES[h.rule].0, String::from_utf8_lossy(&f[h.start..h.end]).into_owned())).collect()
    }

    fn one(text: &str, rule: &str, value: &str) {
        assert_eq!(found(text), vec![(RULES.iter().find(|r| r.0 == rule).unwrap().0, value.to_string())], "{}", text);
    }

    #[test]
    fn positives() {
        one("write to john.doe+tag@mail.acme-corp.co.uk.", "email", "john.doe+tag@mail.acme-corp.co.uk");
        one(r"\u003cjane@acme.com\u003e", "email", "jane@acme.com");
        one(r"line\njane@acme.com", "email", "jane@acme.com");
        one("call +1 (415) 555-2671 now", "phone", "+1 (415) 555-2671");
        one("call +14155552671", "phone", "+14155552671");
        one("tel: +44 20 7946 0958", "phone", "+44 20 7946 0958");
        one("(415) 555-2671", "phone", "(415) 555-2671");
        one("415.555.2671", "phone", "415.555.2671");
        one("1-415-555-2671", "phone", "1-415-555-2671");
        one("020 7946 0958", "phone", "020 7946 0958");
        one("06 12 34 56 78", "phone", "06 12 34 56 78");
        one(r"\n030/1234567\n", "phone", "030/1234567");
        one("card 4111 1111 1111 1111 exp", "card", "4111 1111 1111 1111");
        one("4111-1111-1111-1111", "card", "4111-1111-1111-1111");
        one("amex 3782 822463 10005", "card", "3782 822463 10005");
        one("5555555555554444", "card", "5555555555554444");
        one("SSN 123-45-6789.", "ssn", "123-45-6789");
        one("\"ssn\":\"123456789\"", "ssn", "123456789");
        one("NINO AB 12 34 56 C", "nino", "AB 12 34 56 C");
        one("AB123456C", "nino", "AB123456C");
        one("DNI 12345678Z", "dni", "12345678Z");
        one("NIE X1234567L", "dni", "X1234567L");
        one("IBAN DE89 3704 0044 0532 0130 00", "iban", "DE89 3704 0044 0532 0130 00");
        one("GB82WEST12345698765432", "iban", "GB82WEST12345698765432");
        one("bsn: 111222333", "bsn", "111222333");
        one("aadhaar 2345 6789 0124", "aadhaar", "2345 6789 0124");
    }

    #[test]
    fn negatives() {
        for text in [
            "550e8400-e29b-41d4-a716-446655440000",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "2024-01-15T10:30:00.123Z",
            "2024-01-15 10:30:00 +0000",
            "version 1.22.3 and 10.0.0.1 and 192.168.100.200",
            "order ORD-2024-000123456 shipped",
            "id 4111111111111111abc",
            "ids: user_4155552671, /users/4155552671/posts",
            "ts 1705312200000 and 1705312200",
            "total 1,234,567,890 units",
            "icon@2x.png and git@github.com:org/repo.git",
            "https://user:hunter2@db.internal/x",
            "SSN 666-12-3456 and 123-00-6789",
            "123-45-6789x",
            "4111 1111 1111 1112",
            "DE89 3704 0044 0532 0130 01",
            "QQ 12 34 56 C",
            "12345678A",
            "plain 123456789 and 4155552671",
            "10:30:45 and 12/31/2024 and 01/02/2024 1530",
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            "Boston, MA 02110-1301 USA",
            "var u = +4294967295; x = +2147483647; c = +281474976710656; t = +10011010010",
            "values 4617878467915022336, -4507534739750823898, \"4968090884938317023\"",
            "from -180.000000 to +180.000000; '-01234.000000'; 01110/11110; 016.016.016",
        ] {
            assert_eq!(found(text), vec![], "{}", text);
        }
    }
}
