//! The built-in rules, as data: address ranges and host-name patterns, each under a stable id.
//! The binding config disables ids, adds host patterns and exempts ranges (config.rs).

use canon::ip::Cidr;

/// Address rules in the order they are checked: the first range that holds an address names
/// the finding (so the metadata endpoint is `metadata`, not `link_local`).
pub const ADDRESSES: &[(&str, &[Cidr])] = &[
    (
        "metadata",
        &[
            Cidr::v4(0xa9fe_a9fe, 32),                             // 169.254.169.254: AWS, GCP, Azure, OCI, DigitalOcean...
            Cidr::v4(0xa9fe_aa02, 32),                             // 169.254.170.2: AWS ECS task metadata
            Cidr::v4(0x6464_64c8, 32),                             // 100.100.100.200: Alibaba Cloud
            Cidr::v4(0xc000_00c0, 32),                             // 192.0.0.192: Oracle Cloud (legacy)
            Cidr::v6(0xfd00_0ec2_0000_0000_0000_0000_0000_0254, 128), // fd00:ec2::254: AWS over IPv6
        ],
    ),
    ("loopback", &[Cidr::v4(0x7f00_0000, 8), Cidr::v6(1, 128)]),
    ("unspecified", &[Cidr::v4(0, 8), Cidr::v6(0, 128)]),
    (
        "private",
        &[
            Cidr::v4(0x0a00_0000, 8),
            Cidr::v4(0xac10_0000, 12),
            Cidr::v4(0xc0a8_0000, 16),
            Cidr::v6(0xfc00 << 112, 7),  // unique local
            Cidr::v6(0xfec0 << 112, 10), // site local (deprecated, still routed in places)
        ],
    ),
    ("link_local", &[Cidr::v4(0xa9fe_0000, 16), Cidr::v6(0xfe80 << 112, 10)]),
    ("cgnat", &[Cidr::v4(0x6440_0000, 10)]),
    (
        "reserved",
        &[
            Cidr::v4(0xc000_0000, 24), // IETF protocol assignments
            Cidr::v4(0xc612_0000, 15), // benchmarking
            Cidr::v4(0xe000_0000, 4),  // multicast
            Cidr::v4(0xf000_0000, 4),  // reserved, broadcast
            Cidr::v6(0xff00 << 112, 8), // multicast
            Cidr::v6(0x0100 << 112, 64), // discard
            Cidr::v6(0x0064_ff9b_0001 << 80, 48), // local-use NAT64
        ],
    ),
];

/// Host-name rules: lowercase globs on the canonical name (no trailing dot).
pub const NAMES: &[(&str, &[&str])] = &[
    ("metadata", &["metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal", "metadata.tencentyun.com"]),
    ("localhost", &["localhost", "*.localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"]),
    ("internal_names", &["*.internal", "*.local", "*.localdomain", "*.home.arpa", "*.lan"]),
    // Public names that resolve to any address written into them, 127.0.0.1 included.
    (
        "wildcard_dns",
        &["nip.io", "*.nip.io", "sslip.io", "*.sslip.io", "xip.io", "*.xip.io", "localtest.me", "*.localtest.me", "lvh.me", "*.lvh.me", "vcap.me", "*.vcap.me", "traefik.me", "*.traefik.me"],
    ),
];

/// A name of one label (`http://redis:6379`): resolved through the search domains, it reaches
/// internal hosts.
pub const SINGLE_LABEL: &str = "single_label";
/// An IPv4 address in hex, octal, integer or short form, or a percent- or Unicode-encoded host:
/// evasion, and parsers disagree on what it means.
pub const IP_NOTATION: &str = "ip_notation";
/// A scheme that is not allowed (see `schemes` and `deny_schemes`).
pub const SCHEME: &str = "scheme";
/// A host the config denies.
pub const DENY_HOSTS: &str = "deny_hosts";

/// Schemes denied unless the config says otherwise: they talk to raw TCP services or load
/// remote code, and fetch tools have no use for them.
pub const DENY_SCHEMES: &[&str] = &["gopher", "dict", "ldap", "ldaps", "tftp", "jar", "netdoc"];

/// Schemes whose host is a network host for sure: name rules apply to them (and to bare host
/// values); for other schemes (`s3://bucket`, `app://screen`) only addresses are checked.
pub const NETWORK_SCHEMES: &[&str] = &[
    "http", "https", "ws", "wss", "ftp", "ftps", "sftp", "ssh", "telnet", "gopher", "dict", "ldap", "ldaps", "tftp", "smb", "nfs", "redis", "rediss",
    "mysql", "postgres", "postgresql", "mongodb", "amqp", "amqps", "mqtt", "imap", "imaps", "pop3", "smtp", "smtps", "git", "svn", "rtsp", "jar", "netdoc",
];

/// Every rule id, for config validation.
pub fn ids() -> impl Iterator<Item = &'static str> {
    ADDRESSES.iter().map(|(id, _)| *id).chain(NAMES.iter().map(|(id, _)| *id)).chain([SINGLE_LABEL, IP_NOTATION, SCHEME, DENY_HOSTS])
}
