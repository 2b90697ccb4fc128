//! Byte-string helpers guards need on raw frames.
//!
//! Compiled Wasm runs byte-at-a-time loops at several nanoseconds a byte, so the searches here
//! look at 8 bytes per step (SWAR): on a 1 KiB frame that is the difference between a few
//! microseconds and a fraction of one.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each zero byte of `v`, plus possibly bits above the lowest one: the lowest
/// set bit always marks the first zero byte (little-endian: the lowest address).
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The index of the first byte of `hay` that is `a` or `b`.
pub fn find_either(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    let (wa, wb) = (ONES * a as u64, ONES * b as u64);
    let mut chunks = hay.chunks_exact(8);
    let mut i = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let z = zero_bytes(w ^ wa) | zero_bytes(w ^ wb);
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    chunks.remainder().iter().position(|&c| c == a || c == b).map(|p| i + p)
}

/// The index of the first occurrence of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    search(hay, needle, needle.first().copied(), needle.first().copied(), |h, n| h == n)
}

/// Like [`find`], ASCII case-insensitively.
pub fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle.first();
    search(hay, needle, first.map(u8::to_ascii_lowercase), first.map(u8::to_ascii_uppercase), <[u8]>::eq_ignore_ascii_case)
}

/// Finds candidates by their first byte (`a` or `b`), then checks each with `eq`.
fn search(hay: &[u8], needle: &[u8], a: Option<u8>, b: Option<u8>, eq: impl Fn(&[u8], &[u8]) -> bool) -> Option<usize> {
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        _ => return Some(0), // the empty needle
    };
    let last = hay.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last {
        i += find_either(&hay[i..=last], a, b)?;
        if eq(&hay[i..i + needle.len()], needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Whether `hay` contains `needle`, ASCII case-insensitively.
pub fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    find_ignore_case(hay, needle).is_some()
}

/// Replaces the byte ranges `edits` (sorted, not overlapping: `(start, end, with)`) of `src`.
pub fn splice(src: &[u8], edits: &[(usize, usize, &[u8])]) -> Vec<u8> {
    let extra: usize = edits.iter().map(|e| e.2.len()).sum();
    let mut out = Vec::with_capacity(src.len() + extra);
    let mut at = 0;
    for &(start, end, with) in edits {
        out.extend_from_slice(&src[at..start]);
        out.extend_from_slice(with);
        at = end;
    }
    out.extend_from_slice(&src[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds() {
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find_ignore_case(b"x RM -Rf /", b"rm -rf"), Some(2));
        assert_eq!(splice(b"a secret b", &[(2, 8, b"[X]")]), b"a [X] b".to_vec());
    }

    #[test]
    fn finds_bytes_in_every_position() {
        // Every offset in and around the 8-byte steps, with decoys after the match.
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'x'; len];
                hay[at] = b'"';
                for d in hay.iter_mut().skip(at + 1).step_by(3) {
                    *d = b'\\';
                }
                assert_eq!(find_either(&hay, b'\\', b'"'), Some(at), "len {} at {}", len, at);
                assert_eq!(find_either(&hay[..at], b'\\', b'"'), None);
            }
        }
        // Bytes whose borrow could fake a match (0x01 under the searched 0x00, 0x80s).
        assert_eq!(find_either(&[0x01, 0x01, 0x80, 0x81, 0x00, 0x01, 0, 0], 0, 0), Some(4));
        assert_eq!(find_either(&[0xff; 16], 0xfe, 0xfe), None);
        assert_eq!(find(b"aaaaaaaaaaaaaaaaaaab", b"aab"), Some(17));
        assert_eq!(find(b"", b""), Some(0));
        assert_eq!(find_ignore_case(b"......................Rm -rF", b"rm -rf"), Some(22));
        assert_eq!(find_ignore_case(b"rm -r", b"rm -rf"), None);
    }
}
