//! Canonical forms of what guards compare: file paths ([`path`]), URLs and hosts ([`url`]), IP
//! addresses and ranges ([`ip`]), with the decoding layers attackers stack to hide them
//! ([`decode`]) and the globs operators write ([`glob`]).
//!
//! Shared by the path-guard, ssrf and tool-policy built-in plugins so that a path or a host means
//! the same thing to all three. Pure `std`, no allocation on the common "nothing to decode" path.

pub mod decode;
pub mod glob;
pub mod ip;
pub mod json;
pub mod keys;
pub mod path;
pub mod url;
