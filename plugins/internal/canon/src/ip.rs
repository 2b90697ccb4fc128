//! IP addresses in every notation a URL parser accepts, and CIDR ranges.
//!
//! IPv4 follows the WHATWG URL standard (and `inet_aton`): one to four parts, each decimal,
//! octal (leading `0`) or hex (`0x`), the last filling the remaining bytes, so `2130706433`,
//! `0x7f.1`, `0177.0.0.1` and `127.1` are all 127.0.0.1. Parsers disagree on leading zeros
//! (octal for WHATWG and libc, decimal for some libraries), so [`parse_v4`] gives both readings.

use std::fmt;

/// An IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ip {
    V4(u32),
    V6(u128),
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Ip::V4(a) => write!(f, "{}.{}.{}.{}", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255),
            Ip::V6(a) => {
                let g: Vec<u16> = (0..8).map(|i| (a >> (112 - 16 * i)) as u16).collect();
                // RFC 5952: compress the longest run (2+) of zero groups, the first if tied.
                let (mut best, mut best_len, mut i) = (8usize, 1usize, 0usize);
                while i < 8 {
                    if g[i] == 0 {
                        let start = i;
                        while i < 8 && g[i] == 0 {
                            i += 1;
                        }
                        if i - start > best_len {
                            best = start;
                            best_len = i - start;
                        }
                    } else {
                        i += 1;
                    }
                }
                let hexes = |s: &[u16]| s.iter().map(|x| format!("{:x}", x)).collect::<Vec<_>>().join(":");
                if best == 8 {
                    write!(f, "{}", hexes(&g))
                } else {
                    write!(f, "{}::{}", hexes(&g[..best]), hexes(&g[best + best_len..]))
                }
            }
        }
    }
}

/// An IPv4 address as a URL parser reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V4 {
    pub addr: u32,
    /// The reading with leading-zero parts taken as decimal, when it differs.
    pub decimal_reading: Option<u32>,
    /// Written other than as four plain decimal parts (`0x7f.1`, `2130706433`, `0177.0.0.1`).
    pub unusual: bool,
}

/// Parses a host as an IPv4 address in any notation (see the module doc). A trailing dot is
/// allowed. `None` when the host is not an IPv4 address.
pub fn parse_v4(host: &str) -> Option<V4> {
    let host = host.strip_suffix('.').unwrap_or(host);
    // Most hosts are names: their last label is no number (WHATWG's "ends in a number" test).
    let last = host.rsplit('.').next()?;
    if !last.bytes().all(|b| b.is_ascii_hexdigit() || b == b'x' || b == b'X') || last.is_empty() {
        return None;
    }
    let mut parts: [&str; 4] = [""; 4];
    let mut n = 0;
    for p in host.split('.') {
        if n == 4 {
            return None;
        }
        parts[n] = p;
        n += 1;
    }
    let parts = &parts[..n];
    let mut nums = [0u64; 4];
    let mut decs = [0u64; 4];
    let mut unusual = parts.len() != 4;
    let mut ambiguous = false;
    for (i, p) in parts.iter().enumerate() {
        let b = p.as_bytes();
        if b.is_empty() {
            return None;
        }
        let (radix, digits) = if b.len() >= 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
            (16, &p[2..])
        } else if b.len() >= 2 && b[0] == b'0' {
            (8, &p[1..])
        } else {
            (10, &p[..])
        };
        if radix != 10 {
            unusual = true;
        }
        if radix == 8 {
            // Some libraries read leading zeros as decimal: keep that reading too. `08` is no
            // octal number: WHATWG rejects the host, those libraries read 8.
            ambiguous = true;
            let dec = parse_num(p, 10);
            nums[i] = parse_num(digits, 8).or(dec)?;
            decs[i] = dec.unwrap_or(nums[i]);
        } else {
            nums[i] = parse_num(digits, radix)?;
            decs[i] = nums[i];
        }
    }
    let addr = combine(&nums[..parts.len()])?;
    let decimal_reading = if ambiguous { combine(&decs[..parts.len()]).filter(|&d| d != addr) } else { None };
    Some(V4 { addr, decimal_reading, unusual })
}

fn parse_num(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() {
        return if radix == 16 || radix == 8 { Some(0) } else { None };
    }
    if digits.len() > 32 {
        return None;
    }
    let mut n: u64 = 0;
    for c in digits.chars() {
        n = n.checked_mul(radix as u64)?.checked_add(c.to_digit(radix)? as u64)?;
        if n > u32::MAX as u64 {
            return None;
        }
    }
    Some(n)
}

fn combine(parts: &[u64]) -> Option<u32> {
    let n = parts.len();
    let (last, init) = parts.split_last()?;
    if init.iter().any(|&p| p > 255) {
        return None;
    }
    let room = 8 * (5 - n as u32);
    if room < 32 && *last >= 1u64 << room {
        return None;
    }
    let mut a: u64 = *last;
    for (i, &p) in init.iter().enumerate() {
        a |= p << (24 - 8 * i);
    }
    Some(a as u32)
}

/// Parses an IPv6 address (no brackets, no zone), with an optional dotted IPv4 tail.
pub fn parse_v6(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let (head, tail) = match s.find("::") {
        Some(i) => (&s[..i], Some(&s[i + 2..])),
        None => (s, None),
    };
    if tail.map_or(false, |t| t.contains("::")) {
        return None;
    }
    let groups = |part: &str, allow_v4: bool| -> Option<Vec<u16>> {
        let mut out = Vec::new();
        if part.is_empty() {
            return Some(out);
        }
        let pieces: Vec<&str> = part.split(':').collect();
        for (i, p) in pieces.iter().enumerate() {
            if allow_v4 && i == pieces.len() - 1 && p.contains('.') {
                let v4 = strict_v4(p)?;
                out.push((v4 >> 16) as u16);
                out.push(v4 as u16);
            } else {
                if p.is_empty() || p.len() > 4 {
                    return None;
                }
                out.push(u16::from_str_radix(p, 16).ok()?);
            }
        }
        Some(out)
    };
    let (h, t) = match tail {
        Some(t) => (groups(head, false)?, groups(t, true)?),
        None => (groups(head, true)?, Vec::new()),
    };
    let total = h.len() + t.len();
    if tail.is_some() && total > 7 || tail.is_none() && total != 8 {
        return None;
    }
    let mut all = h;
    all.resize(8 - t.len(), 0);
    all.extend(t);
    Some(all.iter().fold(0u128, |a, &g| a << 16 | g as u128))
}

/// Four plain decimal parts, as the IPv4 tail of an IPv6 address must be.
fn strict_v4(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut a = 0u32;
    for p in parts {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 1 && p.starts_with('0') {
            return None;
        }
        let n: u32 = p.parse().ok()?;
        if n > 255 {
            return None;
        }
        a = a << 8 | n;
    }
    Some(a)
}

/// The IPv4 address an IPv6 address carries, for the ranges whose traffic ends at that IPv4
/// address: IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96` (but `::` and `::1`),
/// IPv4-translated `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16` and Teredo
/// `2001::/32` (client address, stored inverted).
pub fn embedded_v4(a: u128) -> Option<u32> {
    let hi96 = a >> 32;
    let low = a as u32;
    if hi96 == 0xffff || hi96 == 0xffff_0000 || hi96 == 0x0064_ff9b_0000_0000_0000_0000 {
        return Some(low);
    }
    if hi96 == 0 && low > 1 {
        return Some(low);
    }
    if a >> 112 == 0x2002 {
        return Some((a >> 80) as u32);
    }
    if a >> 96 == 0x2001_0000 {
        return Some(!low);
    }
    None
}

/// An address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub ip: Ip,
    pub bits: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fc00::/7`, or a single address (`/32` or `/128`). IPv4 here must be
    /// written as four decimal parts: config is not where notations are tricks.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| format!("{:?}: bad prefix length", s))?)),
            None => (s, None),
        };
        let ip = if let Some(v4) = strict_v4(addr) {
            Ip::V4(v4)
        } else if let Some(v6) = parse_v6(addr.trim_start_matches('[').trim_end_matches(']')) {
            Ip::V6(v6)
        } else {
            return Err(format!("{:?} is not an IP address or CIDR range", s));
        };
        let max = if let Ip::V4(_) = ip { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(format!("{:?}: prefix longer than the address", s));
        }
        Ok(Cidr { ip, bits })
    }

    /// A range from its parts (for tables in code).
    pub const fn v4(a: u32, bits: u8) -> Cidr {
        Cidr { ip: Ip::V4(a), bits }
    }
    pub const fn v6(a: u128, bits: u8) -> Cidr {
        Cidr { ip: Ip::V6(a), bits }
    }

    /// Whether `ip` is in the range (same family only).
    pub fn contains(&self, ip: Ip) -> bool {
        match (self.ip, ip) {
            (Ip::V4(n), Ip::V4(a)) => self.bits == 0 || (n ^ a) >> (32 - self.bits as u32) == 0,
            (Ip::V6(n), Ip::V6(a)) => self.bits == 0 || (n ^ a) >> (128 - self.bits as u32) == 0,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOP: u32 = 0x7f00_0001;

    #[test]
    fn v4_notations() {
        for s in ["127.0.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1", "127.1", "127.0.1", "0x7F.1", "017700000001", "127.0.0.1.", "0x7f.0x0.0x0.0x1"] {
            assert_eq!(parse_v4(s).map(|v| v.addr), Some(LOOP), "{}", s);
        }
        assert!(!parse_v4("127.0.0.1").unwrap().unusual);
        assert!(parse_v4("127.1").unwrap().unusual);
        assert_eq!(parse_v4("0").unwrap().addr, 0);
        assert_eq!(parse_v4("169.254.43518").unwrap().addr, 0xa9fe_a9fe);
        for s in ["", "example.com", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "1.2.65536", "4294967296", "0x", "1..2", "1.2.3.4x", "0xg", "1.2.3.-1"] {
            let ok = parse_v4(s).map(|v| v.addr);
            if s == "0x" {
                assert_eq!(ok, Some(0));
                continue;
            }
            assert_eq!(ok, None, "{}", s);
        }
        // 010.0.0.1 is 8.0.0.1 to libc and 10.0.0.1 to some libraries.
        let v = parse_v4("010.0.0.1").unwrap();
        assert_eq!(v.addr, 0x0800_0001);
        assert_eq!(v.decimal_reading, Some(0x0a00_0001));
        assert_eq!(parse_v4("08.1.1.1").unwrap().addr, 0x0801_0101);
    }

    #[test]
    fn v6() {
        assert_eq!(parse_v6("::1"), Some(1));
        assert_eq!(parse_v6("::"), Some(0));
        assert_eq!(parse_v6("::ffff:127.0.0.1"), Some(0xffff_7f00_0001));
        assert_eq!(parse_v6("::ffff:7f00:1"), Some(0xffff_7f00_0001));
        assert_eq!(parse_v6("0:0:0:0:0:ffff:7f00:0001"), Some(0xffff_7f00_0001));
        assert_eq!(parse_v6("fe80::1"), Some(0xfe80 << 112 | 1));
        assert_eq!(parse_v6("1:2:3:4:5:6:7:8"), Some(0x0001_0002_0003_0004_0005_0006_0007_0008));
        for s in ["", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::", "::ffff:127.1", "1:2:3:4:5:6:7", "::ffff:0177.0.0.1"] {
            assert_eq!(parse_v6(s), None, "{}", s);
        }
        assert_eq!(embedded_v4(parse_v6("::ffff:7f00:1").unwrap()), Some(LOOP));
        assert_eq!(embedded_v4(parse_v6("::127.0.0.1").unwrap()), Some(LOOP));
        assert_eq!(embedded_v4(parse_v6("64:ff9b::a9fe:a9fe").unwrap()), Some(0xa9fe_a9fe));
        assert_eq!(embedded_v4(parse_v6("2002:7f00:1::").unwrap()), Some(LOOP));
        assert_eq!(embedded_v4(parse_v6("::1").unwrap()), None);
        assert_eq!(embedded_v4(parse_v6("2606:4700::1111").unwrap()), None);
    }

    #[test]
    fn display() {
        assert_eq!(Ip::V4(LOOP).to_string(), "127.0.0.1");
        assert_eq!(Ip::V6(1).to_string(), "::1");
        assert_eq!(Ip::V6(0).to_string(), "::");
        assert_eq!(Ip::V6(parse_v6("fd00:ec2::254").unwrap()).to_string(), "fd00:ec2::254");
        assert_eq!(Ip::V6(parse_v6("1:0:0:2:0:0:0:3").unwrap()).to_string(), "1:0:0:2::3");
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(Ip::V4(0x0a01_0203)));
        assert!(!c.contains(Ip::V4(0x0b00_0000)));
        assert!(Cidr::parse("fc00::/7").unwrap().contains(Ip::V6(parse_v6("fd12::1").unwrap())));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(Ip::V4(1)));
        assert!(Cidr::parse("1.2.3.4").unwrap().contains(Ip::V4(0x0102_0304)));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("0x7f.1/8").is_err());
        assert!(Cidr::parse("nonsense").is_err());
    }
}
