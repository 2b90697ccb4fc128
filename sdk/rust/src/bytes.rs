//! Byte-string helpers guards need on raw frames.

/// The index of the first occurrence of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    let first = needle[0];
    let last = hay.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last {
        match hay[i..=last].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => i += p,
        }
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Like [`find`], ASCII case-insensitively.
pub fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    let (lo, up) = (needle[0].to_ascii_lowercase(), needle[0].to_ascii_uppercase());
    let last = hay.len().checked_sub(needle.len())?;
    (0..=last).find(|&i| (hay[i] == lo || hay[i] == up) && hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
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
}
