//! The cheap first look: does a text hold anything a rule could match? One pass, sixteen bytes
//! a step (eight in native tests), stopping only at word starts (to look the word's first
//! letters up in a table of anchors), at `\u` escapes, `![`, `<` + a tag name, and at invisible
//! characters. Most frames end here.

use crate::rules::TAGS;

#[cfg(not(target_arch = "wasm32"))]
const LO: u64 = 0x0101_0101_0101_0101;
#[cfg(not(target_arch = "wasm32"))]
const HI: u64 = 0x8080_8080_8080_8080;

/// Stands for "normalize the text" (invisible characters to report) in a mask of rules.
pub const NORMALIZE: u64 = 1 << 63;

/// The anchors of the enabled rules, looked up by a word's first four letters, each with the
/// rules (bits of a mask) it wakes.
pub struct Anchors {
    /// The first two letters of every anchor (1024 bits): most words stop at this test.
    pairs: [u64; 16],
    /// A 4096-bit filter of key hashes: most of the rest stop here.
    bloom: [u64; 64],
    /// (key, anchor, rules) sorted by key.
    list: Vec<(u32, Vec<u8>, u64)>,
    /// Rules that look at every text (custom rules without anchors).
    pub always: u64,
    /// Every pattern rule.
    pub all: u64,
    /// Rules woken by '<' and a tag name (TAGS), and by "![" or "<img".
    pub tags: u64,
    pub images: u64,
}

fn is_letter(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// The first letters (up to four) of the word at `p`, each OR 0x20 (lowercase; '_' becomes
/// 0x7f), zero-padded.
#[inline(always)]
fn key_at(t: &[u8], p: usize) -> u32 {
    if p + 4 <= t.len() {
        // Safety: p + 4 <= t.len().
        let w = u32::from_le(unsafe { (t.as_ptr().add(p) as *const u32).read_unaligned() });
        let lw = (w | 0x2020_2020) & 0x7f7f_7f7f;
        let az = lw.wrapping_add(0x1f1f_1f1f) & !lw.wrapping_add(0x0505_0505);
        let u = w ^ 0x5f5f_5f5f;
        let letters = (az & !w | u.wrapping_sub(0x0101_0101) & !u) & 0x8080_8080;
        let stop = !letters & 0x8080_8080;
        return if stop == 0 { w | 0x2020_2020 } else { (w | 0x2020_2020) & ((1u32 << (stop.trailing_zeros() & !7)) - 1) };
    }
    let mut k = 0u32;
    for j in 0..4 {
        match t.get(p + j) {
            Some(&c) if is_letter(c) => k |= ((c | 0x20) as u32) << (8 * j),
            _ => break,
        }
    }
    k
}

/// A number for two letters, case folded (ten bits).
#[inline(always)]
fn pair(a: u8, b: u8) -> usize {
    ((a as usize & 31) << 5) | (b as usize & 31)
}

#[inline(always)]
fn hash(k: u32) -> usize {
    (k.wrapping_mul(0x9E37_79B1) >> 20) as usize
}

impl Anchors {
    /// `words` pairs each anchor with the rules it wakes.
    pub fn new<'a>(words: impl Iterator<Item = (&'a str, u64)>, always: u64, all: u64, tags: u64, images: u64) -> Anchors {
        let mut a = Anchors { pairs: [0; 16], bloom: [0; 64], list: Vec::new(), always, all, tags, images };
        for (w, rules) in words {
            let w = w.to_ascii_lowercase().into_bytes();
            let k = key_at(&w, 0);
            if k == 0 {
                a.always |= rules; // an anchor that does not start with a letter cannot be looked up
                continue;
            }
            let h = hash(k);
            a.bloom[h >> 6] |= 1 << (h & 63);
            let pair = pair(w[0], w.get(1).copied().unwrap_or(0));
            a.pairs[pair >> 6] |= 1 << (pair & 63);
            a.list.push((k, w, rules));
        }
        // One entry per anchor, waking every rule that has it.
        a.list.sort();
        a.list.dedup_by(|later, kept| {
            let same = later.1 == kept.1;
            if same {
                kept.2 |= later.2;
            }
            same
        });
        a
    }

    /// Whether an anchor starts with these two letters: most words stop at this test.
    #[inline(always)]
    fn has_pair(&self, a: u8, b: u8) -> bool {
        let p = pair(a, b);
        self.pairs[p >> 6] & (1 << (p & 63)) != 0
    }

    /// The rules whose anchors start at the word start `p`.
    #[inline(always)]
    fn hit(&self, t: &[u8], p: usize, raw: bool) -> u64 {
        let k = key_at(t, p);
        let h = hash(k);
        if self.bloom[h >> 6] & (1 << (h & 63)) == 0 {
            return 0;
        }
        self.lookup(t, p, k, raw)
    }

    #[inline(never)]
    fn lookup(&self, t: &[u8], p: usize, k: u32, raw: bool) -> u64 {
        let from = self.list.partition_point(|e| e.0 < k);
        self.list[from..].iter().take_while(|e| e.0 == k).filter(|e| anchor_at(t, p, &e.1, raw)).fold(0, |m, e| m | e.2)
    }
}

/// Whether `anchor` (lowercase) is at `p`: letters case-insensitively, a space as any run of
/// white space (JSON escapes too when `raw`), an apostrophe as a curly one too.
fn anchor_at(t: &[u8], mut i: usize, anchor: &[u8], raw: bool) -> bool {
    for &c in anchor {
        if c == b' ' {
            let start = i;
            loop {
                match t.get(i) {
                    Some(b' ' | b'\t' | b'\n' | b'\r') => i += 1,
                    Some(b'\\') if raw && matches!(t.get(i + 1), Some(b'n' | b't' | b'r')) => i += 2,
                    Some(&c) if c >= 0x80 && odd_space(&t[i..]) > 0 => i += odd_space(&t[i..]),
                    _ => break,
                }
            }
            if i == start {
                return false;
            }
            continue;
        }
        if c == b'\'' && t.len() >= i + 3 && t[i] == 0xE2 && t[i + 1] == 0x80 && (t[i + 2] == 0x98 || t[i + 2] == 0x99) {
            i += 3;
            continue;
        }
        match t.get(i) {
            Some(&b) if b.to_ascii_lowercase() == c => i += 1,
            _ => return false,
        }
    }
    true
}

/// Zero bytes of `v`, flagged in their high bit; only the lowest flag is sure to be a true one.
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn zeros(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// ASCII letters and '_', flagged in their high bit.
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn letters(x: u64) -> u64 {
    let t = (x | (0x20 * LO)) & (0x7f * LO); // lowercase; below 0x80 so no carry between bytes
    let ge_a = t.wrapping_add((0x80 - b'a' as u64) * LO);
    let gt_z = t.wrapping_add((0x80 - b'z' as u64 - 1) * LO);
    (ge_a & !gt_z & !x & HI) | under(x)
}

/// '_' bytes (a '^' just above one may be flagged too: harmless, it only starts no word).
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn under(x: u64) -> u64 {
    zeros(x ^ (b'_' as u64 * LO))
}

/// The rules that may match the text (0: none), plus NORMALIZE when it holds invisible
/// characters. `raw` is for JSON text (escapes still in): a `\u` escape may hide anything, and
/// `\n` is white space. `early` returns at the first hit (when any answer but 0 will do).
pub fn prefilter(t: &[u8], raw: bool, a: &Anchors, early: bool) -> u64 {
    let mut mask = a.always;
    if early && mask != 0 {
        return mask;
    }
    #[cfg(target_arch = "wasm32")]
    // Safety: the loads stay inside `t`.
    let (i, prev_letter, prev_bs) = unsafe { blocks_simd(t, raw, a, early, &mut mask) };
    #[cfg(not(target_arch = "wasm32"))]
    let (i, prev_letter, prev_bs) = blocks_swar(t, raw, a, early, &mut mask);
    if early && mask != 0 {
        return mask;
    }
    // The last few bytes, one at a time, with the same rules.
    let (mut prev_letter, mut prev_bs) = (prev_letter, prev_bs);
    for i in i..t.len() {
        let c = t[i];
        if c >= 0x80 || c == b'!' || c == b'<' || raw && c == b'\\' {
            mask |= special_at(t, i, raw, a);
        }
        let letter = is_letter(c) && !prev_bs;
        if letter && !prev_letter && a.has_pair(c, t.get(i + 1).copied().unwrap_or(0)) {
            mask |= a.hit(t, i, raw);
        }
        prev_letter = letter;
        prev_bs = raw && c == b'\\' && !prev_bs;
    }
    mask
}

/// The whole 16-byte blocks of `t`, with Wasm SIMD (the gateway's engine runs it): adds to
/// `mask` and returns where the blocks end and whether their last byte was a letter, a
/// backslash.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
unsafe fn blocks_simd(t: &[u8], raw: bool, a: &Anchors, early: bool, mask: &mut u64) -> (usize, bool, bool) {
    use core::arch::wasm32::*;
    let (space, lower_a, letters, under) = (u8x16_splat(0x20), u8x16_splat(b'a'), u8x16_splat(26), u8x16_splat(b'_'));
    let (backslash, bang, lt) = (u8x16_splat(b'\\'), u8x16_splat(b'!'), u8x16_splat(b'<'));
    let (mut carry_l, mut carry_b) = (0u32, 0u32);
    let mut i = 0;
    while i + 16 <= t.len() {
        let v = v128_load(t.as_ptr().add(i) as *const v128);
        let letter = v128_or(u8x16_lt(u8x16_sub(v128_or(v, space), lower_a), letters), u8x16_eq(v, under));
        let bs = if raw { u8x16_bitmask(u8x16_eq(v, backslash)) as u32 & 0xffff } else { 0 };
        // Letters right after a backslash are escape codes (`\nIgnore`), not text.
        let l = (u8x16_bitmask(letter) as u32 & 0xffff) & !((bs << 1) | carry_b);
        // Word starts, of words of two letters or more (no anchor is shorter; hex digests and
        // "a" are full of one-letter words). A word starting in the last byte is kept.
        let starts = l & !((l << 1) | carry_l) & ((l >> 1) | 0x8000);
        carry_l = (l >> 15) & 1;
        carry_b = (bs >> 15) & 1;
        let mut special =
            (u8x16_bitmask(v128_or(v128_or(i8x16_lt(v, i8x16_splat(0)), u8x16_eq(v, bang)), u8x16_eq(v, lt))) as u32 & 0xffff) | bs;
        while special != 0 {
            *mask |= special_at(t, i + special.trailing_zeros() as usize, raw, a);
            special &= special - 1;
        }
        let mut s = starts;
        while s != 0 {
            let p = i + s.trailing_zeros() as usize;
            s &= s - 1;
            if a.has_pair(t[p], t.get(p + 1).copied().unwrap_or(0)) {
                *mask |= a.hit(t, p, raw);
            }
        }
        if early && *mask != 0 {
            break;
        }
        i += 16;
    }
    (i, carry_l != 0, carry_b != 0)
}

/// The same, eight bytes at a time (SWAR), where there is no Wasm SIMD (native tests).
#[cfg(not(target_arch = "wasm32"))]
fn blocks_swar(t: &[u8], raw: bool, a: &Anchors, early: bool, mask: &mut u64) -> (usize, bool, bool) {
    let (mut carry_l, mut carry_b) = (0u64, 0u64);
    let mut i = 0;
    while i + 8 <= t.len() {
        // Safety: i + 8 <= t.len().
        let x = u64::from_le(unsafe { (t.as_ptr().add(i) as *const u64).read_unaligned() });
        let bs = if raw { zeros(x ^ (b'\\' as u64 * LO)) } else { 0 };
        let l = letters(x) & !((bs << 8) | carry_b);
        let starts = l & !((l << 8) | carry_l) & ((l >> 8) | (0x80 << 56));
        carry_l = l >> 56;
        carry_b = bs >> 56;
        let mut special = (x & HI) | zeros(x ^ (b'!' as u64 * LO)) | zeros(x ^ (b'<' as u64 * LO)) | bs;
        while special != 0 {
            // Flags above a true one may be false: special_at checks the byte itself.
            *mask |= special_at(t, i + (special.trailing_zeros() / 8) as usize, raw, a);
            special &= special - 1;
        }
        let mut s = starts;
        while s != 0 {
            let p = i + (s.trailing_zeros() / 8) as usize;
            s &= s - 1;
            if a.has_pair(t[p], t.get(p + 1).copied().unwrap_or(0)) {
                *mask |= a.hit(t, p, raw);
            }
        }
        if early && *mask != 0 {
            break;
        }
        i += 8;
    }
    (i, carry_l != 0, carry_b != 0)
}

/// The rules the byte at `q` wakes, if it is a backslash, '!', '<' or not ASCII.
#[inline(never)]
fn special_at(t: &[u8], q: usize, raw: bool, a: &Anchors) -> u64 {
    let at = |k: usize| t.get(q + k).copied().unwrap_or(0);
    match t[q] {
        b'\\' if raw && at(1) == b'u' => a.all | NORMALIZE,
        b'!' if at(1) == b'[' => a.images,
        b'<' => match tag_at(t, q + 1) {
            Some(b"img") => a.images,
            Some(_) => a.tags,
            None => 0,
        },
        c if c >= 0x80 => match invisible(c, at(1), at(2)) {
            // Hidden text in tag characters, or a word split by an invisible character: every
            // rule may match once they are gone.
            Some(true) => a.all | NORMALIZE,
            Some(false) if q > 0 && t[q - 1].is_ascii_alphabetic() || at(if c == 0xC2 { 2 } else { 3 }).is_ascii_alphabetic() => {
                a.all | NORMALIZE
            }
            Some(false) => NORMALIZE,
            None => 0,
        },
        _ => 0,
    }
}

/// The tag name the rules care about after a '<' (`<IMPORTANT>`, `</system>`, `<img `).
fn tag_at(t: &[u8], mut i: usize) -> Option<&'static [u8]> {
    for _ in 0..2 {
        if matches!(t.get(i), Some(b'/' | b' ')) {
            i += 1;
        }
    }
    TAGS.iter().map(|s| s.as_bytes()).find(|tag| t.len() >= i + tag.len() && t[i..i + tag.len()].eq_ignore_ascii_case(tag))
}

/// Invisible characters by their UTF-8 bytes: Some(true) for tag characters (U+E0000-E007F,
/// which can spell hidden text), Some(false) for zero-width and format characters (U+200B-200F,
/// U+2060-2064, U+FEFF, U+180E, U+00AD) and bidirectional controls (U+202A-202E, U+2066-2069).
pub fn invisible(b0: u8, b1: u8, b2: u8) -> Option<bool> {
    match (b0, b1, b2) {
        (0xF3, 0xA0, 0x80 | 0x81) => Some(true),
        (0xC2, 0xAD, _) | (0xE1, 0xA0, 0x8E) | (0xEF, 0xBB, 0xBF) => Some(false),
        (0xE2, 0x80, 0x8B..=0x8F | 0xAA..=0xAE) | (0xE2, 0x81, 0xA0..=0xA4 | 0xA6..=0xA9) => Some(false),
        _ => None,
    }
}

/// The length of the white-space character other than ASCII's at the start of `t` (U+00A0,
/// U+1680, U+2000-200A, U+2028/2029, U+202F, U+205F, U+3000), or 0.
fn odd_space(t: &[u8]) -> usize {
    match t {
        [0xC2, 0xA0, ..] => 2,
        [0xE1, 0x9A, 0x80, ..] | [0xE2, 0x80, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF, ..] | [0xE2, 0x81, 0x9F, ..] | [0xE3, 0x80, 0x80, ..] => 3,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors() -> Anchors {
        Anchors::new(["ignor", "you are now", "env", "ai", "inst]", "id_rsa"].iter().map(|&w| (w, 1)), 0, 1, 2, 4)
    }

    #[test]
    fn finds_anchors_at_word_starts() {
        let a = anchors();
        for (t, raw, want) in [
            ("please IGNORE that", false, true),
            ("x\\nIgnore", true, true),
            ("x\\nIgnore", false, false), // not JSON: "nIgnore" is one word
            ("you   are\tnow", false, true),
            ("you\u{a0}are now", false, true),
            ("cat ~/.ssh/ID_RSA", false, true),
            ("you are not", false, false),
            ("cat .env", false, true),
            ("environment variables", false, false),
            ("ask the AI.", false, true),
            ("said", false, false),
            ("[INST] hi", false, true),
            ("instance", false, false),
            ("a <IMPORTANT> b", false, true),
            ("a <b>important</b>", false, false),
            ("![x](y)", false, true),
            ("x\\u200b", true, true),
            ("zero\u{200b}width", false, true),
            ("caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e", false, false),
            ("the quick brown fox jumps over the lazy dog, 1234567890 times", false, false),
        ] {
            // Every alignment: the tail loop and the eight-byte loop agree.
            for pad in 0..8 {
                let padded = format!("{}{}", &"        "[..pad], t);
                assert_eq!(prefilter(padded.as_bytes(), raw, &a, false) != 0, want, "{:?}", padded);
                assert_eq!(prefilter(padded.as_bytes(), raw, &a, true) != 0, want, "{:?}", padded);
            }
        }
    }
}
