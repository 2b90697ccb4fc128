//! Check digits and number-plan rules of the identifiers the scanner finds. Each function takes
//! the identifier's characters with separators already removed.

/// Luhn (mod 10) check used by payment cards.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = (d - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// Whether a card number of this length starts with the issuer range of a major network: Visa,
/// Mastercard, American Express, Discover, JCB, Diners Club, UnionPay.
pub fn card_network(d: &[u8]) -> bool {
    let n = d.len();
    let pre = |k: usize| -> u32 { d[..k].iter().fold(0, |a, &c| a * 10 + (c - b'0') as u32) };
    match d[0] {
        b'4' => n == 13 || n == 16 || n == 19,              // Visa
        b'5' => (51..=55).contains(&pre(2)) && n == 16,     // Mastercard
        b'2' => (2221..=2720).contains(&pre(4)) && n == 16, // Mastercard 2-series
        b'3' => match pre(2) {
            34 | 37 => n == 15,                                              // Amex
            35 => (3528..=3589).contains(&pre(4)) && (16..=19).contains(&n), // JCB
            30 => (300..=305).contains(&pre(3)) && (14..=19).contains(&n),   // Diners
            36 | 38 | 39 => (14..=19).contains(&n),                          // Diners
            _ => false,
        },
        b'6' => {
            (16..=19).contains(&n)
                && (pre(4) == 6011 || (644..=649).contains(&pre(3)) || pre(2) == 65   // Discover
                    || pre(2) == 62) // UnionPay
        }
        _ => false,
    }
}

/// US Social Security number rules: area 001-899 but not 666, group 01-99, serial 0001-9999.
pub fn ssn(d: &[u8]) -> bool {
    let num = |s: &[u8]| s.iter().fold(0u32, |a, &c| a * 10 + (c - b'0') as u32);
    let (area, group, serial) = (num(&d[0..3]), num(&d[3..5]), num(&d[5..9]));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// UK National Insurance number prefix and suffix rules (letters uppercase).
pub fn nino(a: u8, b: u8, suffix: u8) -> bool {
    !b"DFIQUV".contains(&a)
        && !b"DFIOQUV".contains(&b)
        && !matches!(&[a, b], b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ")
        && (b'A'..=b'D').contains(&suffix)
}

/// Spanish DNI/NIE control letter for the 8-digit number (NIE: X, Y, Z read as 0, 1, 2).
pub fn dni_letter(digits: &[u8]) -> u8 {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let n = digits.iter().fold(0u32, |a, &c| a * 10 + (c - b'0') as u32);
    LETTERS[(n % 23) as usize]
}

/// Dutch BSN "11-test": 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11).
pub fn bsn(d: &[u8]) -> bool {
    let mut sum = 0i32;
    for (i, &c) in d[..8].iter().enumerate() {
        sum += (9 - i as i32) * (c - b'0') as i32;
    }
    sum -= (d[8] - b'0') as i32;
    sum % 11 == 0 && d.iter().any(|&c| c != b'0')
}

/// Verhoeff check (Indian Aadhaar numbers): the dihedral group D5 with its permutation.
pub fn verhoeff(digits: &[u8]) -> bool {
    // Multiplication in D5: rotations 0-4, reflections 5-9.
    fn d(j: u8, k: u8) -> u8 {
        match (j < 5, k < 5) {
            (true, true) => (j + k) % 5,
            (true, false) => 5 + (j + k - 5) % 5,
            (false, true) => 5 + (j - 5 + 5 - k) % 5,
            (false, false) => (j + 10 - k) % 5,
        }
    }
    // The permutation (0 1 5 8 9 4 2 7)(3 6), applied i times for the i-th digit from the right.
    const P1: [u8; 10] = [1, 5, 7, 6, 2, 8, 3, 0, 9, 4];
    let mut c = 0u8;
    for (i, &ch) in digits.iter().rev().enumerate() {
        let mut v = ch - b'0';
        for _ in 0..i % 8 {
            v = P1[v as usize];
        }
        c = d(c, v);
    }
    c == 0
}

/// IBAN length per country (ISO 13616 registry); countries not listed are not matched.
pub fn iban_length(cc: [u8; 2]) -> Option<usize> {
    const TABLE: &[(&[u8; 2], u8)] = &[
        (b"AD", 24),
        (b"AE", 23),
        (b"AL", 28),
        (b"AT", 20),
        (b"AZ", 28),
        (b"BA", 20),
        (b"BE", 16),
        (b"BG", 22),
        (b"BH", 22),
        (b"BR", 29),
        (b"BY", 28),
        (b"CH", 21),
        (b"CR", 22),
        (b"CY", 28),
        (b"CZ", 24),
        (b"DE", 22),
        (b"DK", 18),
        (b"DO", 28),
        (b"EE", 20),
        (b"EG", 29),
        (b"ES", 24),
        (b"FI", 18),
        (b"FO", 18),
        (b"FR", 27),
        (b"GB", 22),
        (b"GE", 22),
        (b"GI", 23),
        (b"GL", 18),
        (b"GR", 27),
        (b"GT", 28),
        (b"HR", 21),
        (b"HU", 28),
        (b"IE", 22),
        (b"IL", 23),
        (b"IQ", 23),
        (b"IS", 26),
        (b"IT", 27),
        (b"JO", 30),
        (b"KW", 30),
        (b"KZ", 20),
        (b"LB", 28),
        (b"LC", 32),
        (b"LI", 21),
        (b"LT", 20),
        (b"LU", 20),
        (b"LV", 21),
        (b"LY", 25),
        (b"MC", 27),
        (b"MD", 24),
        (b"ME", 22),
        (b"MK", 19),
        (b"MR", 27),
        (b"MT", 31),
        (b"MU", 30),
        (b"NL", 18),
        (b"NO", 15),
        (b"PK", 24),
        (b"PL", 28),
        (b"PS", 29),
        (b"PT", 25),
        (b"QA", 29),
        (b"RO", 24),
        (b"RS", 22),
        (b"SA", 24),
        (b"SC", 31),
        (b"SD", 18),
        (b"SE", 24),
        (b"SI", 19),
        (b"SK", 24),
        (b"SM", 27),
        (b"ST", 25),
        (b"SV", 28),
        (b"TL", 23),
        (b"TN", 24),
        (b"TR", 26),
        (b"UA", 29),
        (b"VA", 22),
        (b"VG", 24),
        (b"XK", 20),
    ];
    TABLE.iter().find(|(c, _)| **c == cc).map(|&(_, n)| n as usize)
}

/// IBAN ISO 7064 mod 97-10 check: the country code and check digits moved to the end, letters
/// read as 10-35, the number mod 97 is 1.
pub fn iban_mod97(chars: &[u8]) -> bool {
    let mut r = 0u32;
    for &c in chars[4..].iter().chain(chars[..4].iter()) {
        r = match c {
            b'0'..=b'9' => (r * 10 + (c - b'0') as u32) % 97,
            b'A'..=b'Z' => (r * 100 + (c - b'A' + 10) as u32) % 97,
            _ => return false,
        };
    }
    r == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        assert!(luhn(b"4111111111111111") && !luhn(b"4111111111111112"));
        assert!(luhn(b"378282246310005") && card_network(b"378282246310005"));
        assert!(!card_network(b"1705312200000"));
        assert!(ssn(b"123456789") && !ssn(b"666123456") && !ssn(b"900123456") && !ssn(b"123006789"));
        assert!(nino(b'A', b'B', b'C') && !nino(b'Q', b'Q', b'C') && !nino(b'G', b'B', b'A'));
        assert_eq!(dni_letter(b"12345678"), b'Z');
        assert!(bsn(b"111222333") && !bsn(b"111222334"));
        assert!(verhoeff(b"2363") && !verhoeff(b"2364"));
        assert!(iban_mod97(b"DE89370400440532013000") && iban_mod97(b"GB82WEST12345698765432"));
        assert!(!iban_mod97(b"DE89370400440532013001"));
        assert_eq!(iban_length(*b"NL"), Some(18));
    }
}
