//! Argument key names, compared by words: `file_path`, `filePath` and `FILE-PATH` all end in
//! the word `path`. Words are hashed (FNV-1a over their lowercase letters and digits) so that a
//! key is classified in one pass with no allocation: guards classify the key of every string
//! they see. A collision could only make a guard look at a value it would otherwise skip.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

/// The hash of a word as [`Words`] computes it (letters and digits, any case).
pub const fn word(w: &str) -> u64 {
    let b = w.as_bytes();
    let mut h = OFFSET;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphanumeric() {
            h = (h ^ b[i].to_ascii_lowercase() as u64).wrapping_mul(PRIME);
        }
        i += 1;
    }
    h
}

/// A key's letters and digits, lowercased and hashed: all of them (`whole`), and its last word
/// (after a separator, or from the capital starting a camelCase word). `None` when empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Words {
    pub whole: Option<u64>,
    pub last: Option<u64>,
}

impl Words {
    pub fn of(key: &[u8]) -> Words {
        let (mut whole, mut last) = (OFFSET, OFFSET);
        let (mut n_whole, mut n_last) = (0usize, 0usize);
        let mut prev_lower = false;
        for &b in key {
            if !b.is_ascii_alphanumeric() {
                last = OFFSET;
                n_last = 0;
                prev_lower = false;
                continue;
            }
            let upper = b.is_ascii_uppercase();
            if upper && prev_lower {
                last = OFFSET;
                n_last = 0;
            }
            prev_lower = !upper;
            let c = (b | 0x20 * upper as u8) as u64;
            whole = (whole ^ c).wrapping_mul(PRIME);
            last = (last ^ c).wrapping_mul(PRIME);
            n_whole += 1;
            n_last += 1;
        }
        let some = |n: usize, h: u64| if n > 0 { Some(h) } else { None };
        Words { whole: some(n_whole, whole), last: some(n_last, last) }
    }

    /// Whether the last word is one of `words`, or the whole key one of `wholes`.
    pub fn is(&self, words: &[u64], wholes: &[u64]) -> bool {
        self.last.map_or(false, |l| words.contains(&l)) || self.whole.map_or(false, |w| wholes.contains(&w))
    }
}

/// A config-given key name in the form [`Words::whole`] compares with, or `None` if it has no
/// letters or digits.
pub fn whole(name: &str) -> Option<u64> {
    Words::of(name.as_bytes()).whole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        let path = word("path");
        for k in ["path", "file_path", "filePath", "FILE-PATH", "source.path", "x9Path", "PATH"] {
            assert_eq!(Words::of(k.as_bytes()).last, Some(path), "{}", k);
        }
        assert_eq!(Words::of(b"work_dir").whole, Some(word("workdir")));
        assert_eq!(Words::of(b"XMLFile").last, Some(word("xmlfile")));
        assert_eq!(Words::of(b"___").last, None);
        assert_eq!(Words::of(b"___").whole, None);
        assert_eq!(whole("Log-Location"), Some(word("loglocation")));
        assert!(Words::of(b"outputDir").is(&[word("dir")], &[]));
        assert!(!Words::of(b"profile").is(&[word("file")], &[]));
        assert_ne!(word("path"), word("paths"));
    }
}
