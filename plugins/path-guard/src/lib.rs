//! path-guard: finds file paths in `tools/call` arguments, canonicalises them (JSON escapes,
//! percent-encoding applied up to four times, overlong UTF-8, `%uXXXX`, fullwidth dots and
//! slashes, backslashes, `file:` URLs) and blocks traversal, NUL bytes, sensitive files and,
//! when roots are configured, anything outside them. See README.md.

mod config;

use canon::path::{self, Anchor, Canon, Forms};
use config::{Action, Config};
use canon::json;
use portcullis::json::push_str;
use portcullis::{Call, Verdict};

/// The checks every path goes through, with stable ids (the sensitive-file rules are in
/// config.rs). The text is what a block reason adds after the id.
pub const TRAVERSAL: &str = "traversal";
pub const ENCODED_TRAVERSAL: &str = "encoded_traversal";
pub const ABSOLUTE_DOTDOT: &str = "absolute_dotdot";
pub const NUL_BYTE: &str = "nul_byte";
pub const OUTSIDE_ROOTS: &str = "outside_roots";

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
    rule: String,
    place: String,
    action: Action,
}

fn guard(call: &Call) -> Verdict {
    let cfg = match config(call.config) {
        Ok(c) => c,
        Err(e) => return Verdict::block(format!("path-guard: invalid config: {}", e)),
    };
    // The gateway names the tool of every tools/call, and only of those.
    if call.tool.is_empty() {
        return Verdict::Allow;
    }
    let mut findings: Vec<Finding> = Vec::new();
    json::each_arguments(call.frame, |frame, at| {
        json::strings(frame, at, |s| {
            let path_key = cfg.is_path_key(s.key);
            let file_url = is_file_url(s.raw);
            if !path_key && !file_url && !(cfg.scan_values && looks_like_path(s.raw)) {
                return true;
            }
            if let Some(value) = json::decode(s.raw, s.escaped) {
                check(cfg, &value, path_key || file_url, s.key, &mut findings);
            }
            true
        })
    });
    verdict(call, &findings)
}

/// Whether `v` is a `file:` URL (leading spaces allowed: URL parsers drop them).
fn is_file_url(v: &[u8]) -> bool {
    let i = v.iter().position(|&c| c != b' ').unwrap_or(v.len());
    v.len() >= i + 5 && v[i..i + 5].eq_ignore_ascii_case(b"file:")
}

/// Whether a value under a key that does not name a path still looks like one: it starts like
/// a path (`/`, `\`, `~/`, `./`, `../`, `C:\`, `%`), or it is one token (no whitespace) with a
/// hint of traversal or encoding in it (`..` next to a separator, `%`, non-ASCII, an escape).
/// Eight bytes at a time, stopping at the first space of ordinary prose.
fn looks_like_path(v: &[u8]) -> bool {
    if v.is_empty() || v.len() > 4096 {
        return false;
    }
    let starts = match v[0] {
        b'/' | b'\\' | b'%' => true,
        b'~' => v.len() == 1 || v[1] == b'/' || v[1] == b'\\',
        b'.' => v.len() > 1 && matches!(v[1], b'/' | b'\\' | b'.'),
        c => c.is_ascii_alphabetic() && v.len() >= 3 && v[1] == b':' && (v[2] == b'/' || v[2] == b'\\'),
    };
    if starts {
        return true;
    }
    let mut hint = false;
    let mut i = 0;
    while i < v.len() {
        // Eight plain bytes at a time: most tokens (ids, hashes) have nothing of interest.
        while i + 8 <= v.len() {
            let w = json::word(v, i);
            let hit = json::has_less(w, 0x21) | json::has_byte(w, b'%') | json::has_byte(w, b'.') | json::has_byte(w, b'\\') | w & 0x8080_8080_8080_8080;
            if hit != 0 {
                i += (hit.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        let (at, c) = match v.get(i) {
            Some(&c) => (i, c),
            None => break,
        };
        i += 1;
        match CLASS[c as usize] {
            0 => {}
            SPACE => return false,
            HINT => hint = true,
            // `\u0000`, `\u002e` arrive escaped.
            ESCAPE => hint |= v.get(at + 1) == Some(&b'u'),
            _ => {
                // A dot: `..` next to a separator.
                if v.get(at + 1) == Some(&b'.') {
                    let before = if at == 0 { b'/' } else { v[at - 1] };
                    let after = v.get(at + 2).copied().unwrap_or(b'/');
                    hint |= matches!(before, b'/' | b'\\') || matches!(after, b'/' | b'\\');
                }
            }
        }
    }
    hint && !is_other_url(v)
}

const SPACE: u8 = 1;
const HINT: u8 = 2;
const ESCAPE: u8 = 3;
const DOT: u8 = 4;

/// Byte classes for [`looks_like_path`]: most bytes are 0 and cost one table load.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b' ' as usize] = SPACE;
    t[b'\t' as usize] = SPACE;
    t[b'\n' as usize] = SPACE;
    t[b'\r' as usize] = SPACE;
    let mut c = 0;
    while c < 0x20 {
        t[c] = SPACE; // other control characters: not a path either
        c += 1;
    }
    t[b'%' as usize] = HINT;
    t[b'\\' as usize] = ESCAPE;
    t[b'.' as usize] = DOT;
    let mut i = 0x80;
    while i < 256 {
        t[i] = HINT;
        i += 1;
    }
    t
};

/// Whether `v` is a URL other than `file:` (the ssrf plugin's business): it starts with a
/// scheme of two letters or more (one letter is a drive: `C://x` is a path) and `://`.
fn is_other_url(v: &[u8]) -> bool {
    match canon::url::scheme_len(v) {
        Some(n) => n >= 2 && v[n..].starts_with(b"://") && !is_file_url(v),
        None => false,
    }
}

/// Runs every check on one value (JSON-decoded) found under `key`.
fn check(cfg: &Config, value: &str, path_key: bool, key: &[u8], out: &mut Vec<Finding>) {
    if value.is_empty() {
        return;
    }
    // Other URLs are the ssrf plugin's business.
    if is_other_url(value.as_bytes()) {
        return;
    }
    let forms = path::decode_path(value);
    let mut hit = |rule: &str| {
        let action = cfg.action_for(rule);
        if action == Action::Off {
            return;
        }
        let place = place(key);
        if !out.iter().any(|f| f.rule == rule && f.place == place) {
            out.push(Finding { rule: rule.to_string(), place, action });
        }
    };
    if forms.all().any(|f| f.nul) {
        hit(NUL_BYTE);
    }
    if forms.all().any(|f| f.escapes) {
        hit(TRAVERSAL);
    }
    if forms.hidden_dotdot() {
        hit(ENCODED_TRAVERSAL);
    }
    if forms.all().any(|f| f.anchor != Anchor::Relative && f.dotdot) {
        hit(ABSOLUTE_DOTDOT);
    }
    if path_key && !cfg.roots.is_empty() && outside_roots(cfg, &forms) {
        hit(OUTSIDE_ROOTS);
    }
    for f in forms.all() {
        let resolved = resolve(cfg, f);
        for id in cfg.deny.matching(resolved.as_ref().unwrap_or(f)) {
            hit(id);
        }
    }
}

fn resolve(cfg: &Config, f: &Canon) -> Option<Canon<'static>> {
    match (&cfg.base, f.anchor) {
        (Some(b), Anchor::Relative) => Some(f.resolve(b)),
        _ => None,
    }
}

fn outside_roots(cfg: &Config, forms: &Forms) -> bool {
    forms.all().any(|f| {
        let r = resolve(cfg, f);
        let p = r.as_ref().unwrap_or(f);
        p.anchor == Anchor::Relative || p.escapes || !cfg.roots.iter().any(|root| p.within(root, false))
    })
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
        push_str(&mut data, &f.rule);
        data.extend_from_slice(b",\"where\":");
        push_str(&mut data, &f.place);
        data.extend_from_slice(b",\"action\":");
        push_str(&mut data, f.action.name());
        data.extend_from_slice(b",\"server\":");
        push_str(&mut data, call.server);
        data.extend_from_slice(b",\"tool\":");
        push_str(&mut data, call.tool);
        data.push(b'}');
        portcullis::emit("path-guard.finding", &data);
    }
    let blocking: Vec<&Finding> = findings.iter().filter(|f| f.action == Action::Block).collect();
    match blocking.first() {
        None => Verdict::Allow,
        Some(f) => {
            let mut reason = format!("path-guard: {} in {}", f.rule, f.place);
            if blocking.len() > 1 {
                reason.push_str(&format!(" (and {} more)", blocking.len() - 1));
            }
            Verdict::block(reason)
        }
    }
}

portcullis::plugin!(request_guard: guard);
