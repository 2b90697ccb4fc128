//! ssrf: finds URLs and hosts in `tools/call` arguments, reduces each to the host a client
//! would connect to (in every notation parsers accept, and every reading where they disagree)
//! and blocks private, loopback, link-local, metadata and other internal destinations. See
//! README.md.

mod config;
mod rules;

use canon::json;
use canon::url::{self, Host, Url};
use config::{Action, Config};
use portcullis::json::push_str;
use portcullis::{Call, Verdict};

/// Events sent per call at most: enough to see what happened, bounded against floods.
const MAX_EVENTS: usize = 16;

static mut CACHE: Option<(Vec<u8>, Result<Config, String>)> = None;

/// The config for these bytes, parsed once per distinct config (one instance serves every
/// binding of the plugin, each with its own config).
fn config(raw: &[u8]) -> &'static Result<Config, String> {
    // Safety: an instance runs one call at a time.
    unsafe {
        let hit = matches!(&CACHE, Some((b, _)) if canon::json::same(b, raw));
        if !hit {
            CACHE = Some((raw.to_vec(), Config::parse(raw)));
        }
        &CACHE.as_ref().unwrap().1
    }
}

struct Finding {
    rule: &'static str,
    place: String,
    action: Action,
}

fn guard(call: &Call) -> Verdict {
    let cfg = match config(call.config) {
        Ok(c) => c,
        Err(e) => return Verdict::block(format!("ssrf: invalid config: {}", e)),
    };
    // The gateway names the tool of every tools/call, and only of those.
    if call.tool.is_empty() {
        return Verdict::Allow;
    }
    let mut findings: Vec<Finding> = Vec::new();
    json::each_arguments(call.frame, |frame, at| {
        json::strings(frame, at, |s| {
            let url_key = cfg.is_url_key(s.key);
            // Most strings are cleared by their first bytes, before decoding anything.
            if !url_key && !cfg.embedded && !looks_like_url(s.raw, s.escaped) {
                return true;
            }
            if let Some(value) = json::decode(s.raw, s.escaped) {
                scan(cfg, &value, url_key, s.key, &mut findings);
            }
            true
        })
    });
    verdict(call, &findings)
}

/// Whether a raw JSON string starts like a URL, decoding only its first bytes when it has
/// escapes (`\u0068ttp://`, tabs and newlines that URL parsers drop).
fn looks_like_url(raw: &[u8], escaped: bool) -> bool {
    if !escaped {
        return starts_like_url(raw);
    }
    let head: Vec<u8> = json::unescape_head(raw, 64).bytes().filter(|&c| !matches!(c, b'\t' | b'\n' | b'\r')).collect();
    starts_like_url(&head)
}

/// Whether `b` starts (after spaces) with a scheme and `:/` or `:\`.
fn starts_like_url(b: &[u8]) -> bool {
    let i = b.iter().position(|&c| c > b' ').unwrap_or(b.len());
    let b = &b[i..];
    match url::scheme_len(b) {
        Some(n) => match b.get(n + 1) {
            Some(b'/') | Some(b'\\') => true,
            // `http:host`: a URL to WHATWG parsers.
            Some(&c) => c > b' ' && ["http", "https", "ws", "wss", "ftp"].iter().any(|s| s.as_bytes().eq_ignore_ascii_case(&b[..n])),
            None => false,
        },
        None => false,
    }
}

/// Checks a string (JSON-decoded): as a whole URL, as a host when the key says so, and for
/// URLs inside it when `embedded` is on.
fn scan(cfg: &Config, value: &str, url_key: bool, key: &[u8], out: &mut Vec<Finding>) {
    let whole = url::parse(value).or_else(|| if url_key { url::parse_host_value(value) } else { None });
    if let Some(u) = &whole {
        check(cfg, u, key, out);
    }
    if !cfg.embedded {
        return;
    }
    let b = value.as_bytes();
    let mut from = 0;
    while let Some(p) = b[from..].windows(3).position(|w| w == b"://") {
        let at = from + p;
        from = at + 3;
        let mut start = at;
        while start > 0 && (b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'+' | b'-' | b'.')) {
            start -= 1;
        }
        while start < at && !b[start].is_ascii_alphabetic() {
            start += 1;
        }
        let end = b[from..].iter().position(|&c| c <= b' ' || matches!(c, b'"' | b'\'' | b'<' | b'>' | b'`')).map_or(b.len(), |e| from + e);
        if start == at || whole.is_some() && start == 0 && end == b.len() {
            continue;
        }
        if let Some(u) = url::parse(&value[start..end]) {
            check(cfg, &u, key, out);
        }
    }
}

/// Runs the rules on every host of one URL.
fn check(cfg: &Config, u: &Url, key: &[u8], out: &mut Vec<Finding>) {
    let mut hit = |rule: &'static str| {
        let action = cfg.action_for(rule);
        if action == Action::Off {
            return;
        }
        let place = place(key);
        if !out.iter().any(|f| f.rule == rule && f.place == place) {
            out.push(Finding { rule, place, action });
        }
    };
    let scheme = u.scheme.as_str();
    if !scheme.is_empty() && cfg.scheme_blocked(scheme) {
        hit(rules::SCHEME);
    }
    // Bare hosts (no scheme) are network hosts too.
    let network = scheme.is_empty() || rules::NETWORK_SCHEMES.contains(&scheme);
    for h in &u.hosts {
        let text = h.host.text();
        let ip = match h.host {
            Host::Ip(a) => Some(a),
            Host::Name(_) => None,
        };
        // Allowed hosts skip every rule but metadata, which only `disable` lifts.
        let allowed = cfg.allow_hosts.contains(&text, ip);
        if !allowed && cfg.deny_hosts.contains(&text, ip) {
            hit(rules::DENY_HOSTS);
        }
        match (&h.host, ip) {
            (_, Some(a)) => {
                for (id, ranges) in rules::ADDRESSES {
                    if (!allowed || *id == "metadata") && ranges.iter().any(|r| r.contains(a)) {
                        hit(id);
                    }
                }
            }
            (Host::Name(n), None) if network => {
                for id in cfg.names.matching(n) {
                    if !allowed || id == "metadata" {
                        hit(id);
                    }
                }
                if !allowed && !scheme.is_empty() && !n.is_empty() && !n.contains('.') {
                    hit(rules::SINGLE_LABEL);
                }
            }
            _ => {}
        }
        if !allowed && h.unusual {
            hit(rules::IP_NOTATION);
        }
    }
}

/// Where a finding is, for reasons and events: `arguments.<key>`, the key cut short and
/// stripped of control characters (it is the schema's name, not the value).
fn place(key: &[u8]) -> String {
    let k = json::unescape(key).unwrap_or_default();
    let k: String = k.chars().filter(|c| !c.is_control()).take(64).collect();
    if k.is_empty() {
        "arguments".to_string()
    } else {
        format!("arguments.{}", k)
    }
}

fn verdict(call: &Call, findings: &[Finding]) -> Verdict {
    for f in findings.iter().take(MAX_EVENTS) {
        let mut data = Vec::with_capacity(128);
        data.extend_from_slice(b"{\"rule\":");
        push_str(&mut data, f.rule);
        data.extend_from_slice(b",\"where\":");
        push_str(&mut data, &f.place);
        data.extend_from_slice(b",\"action\":");
        push_str(&mut data, f.action.name());
        data.extend_from_slice(b",\"server\":");
        push_str(&mut data, call.server);
        data.extend_from_slice(b",\"tool\":");
        push_str(&mut data, call.tool);
        data.push(b'}');
        portcullis::emit("ssrf.finding", &data);
    }
    let blocking: Vec<&Finding> = findings.iter().filter(|f| f.action == Action::Block).collect();
    match blocking.first() {
        None => Verdict::Allow,
        Some(f) => {
            let mut reason = format!("ssrf: {} in {}", f.rule, f.place);
            if blocking.len() > 1 {
                reason.push_str(&format!(" (and {} more)", blocking.len() - 1));
            }
            Verdict::block(reason)
        }
    }
}

portcullis::plugin!(request_guard: guard);
