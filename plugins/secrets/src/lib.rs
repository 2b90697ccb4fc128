//! secrets: finds credentials in MCP tool arguments (request_guard) and in results, errors and
//! notifications (response_guard), and blocks the frame or redacts them. See README.md.
//!
//! Only the frame's `params`, `result` and `error` members are scanned, string by string (keys
//! too); `id`, `jsonrpc` and `method` are never touched, so a redaction keeps the frame's `id`
//! byte for byte. A string is read once, in place: escapes of whitespace, quotes and
//! backslashes read as separators; a string with other escapes (`\/`, `\u`) is decoded first.

mod config;
mod rules;
mod scan;

use config::{Action, Config};
use portcullis::{json, Call, Hook, Level, Verdict};
use scan::Finding;

fn request(call: &Call) -> Verdict {
    guard(call)
}

fn response(call: &Call) -> Verdict {
    guard(call)
}

portcullis::plugin!(request_guard: request, response_guard: response);

/// A JSON container on the walk from the frame's root to the current string.
#[derive(Clone, Copy)]
struct Seg {
    obj: bool,
    /// The raw range of the current member's name (objects).
    key: (usize, usize),
    /// The current element's index (arrays).
    idx: u32,
    /// The current member's name holds a secret: never shown in a path.
    secret: bool,
}

/// Visits every string of a JSON text with the containers around it: `f` gets the index just
/// after the opening quote and whether the string is a member name, and returns the index of
/// the closing quote (None stops the walk). The host has validated the frame, so this only
/// tracks structure.
fn walk(b: &[u8], segs: &mut Vec<Seg>, mut f: impl FnMut(&mut [Seg], usize, bool) -> Option<usize>) {
    segs.clear();
    let n = b.len();
    let mut expect_key = false;
    let mut i = 0;
    while i < n {
        match b[i] {
            b'"' => {
                let s = i + 1;
                let is_key = expect_key;
                if is_key {
                    if let Some(top) = segs.last_mut() {
                        top.secret = false;
                    }
                }
                let e = match f(segs, s, is_key) {
                    Some(e) => e,
                    None => return,
                };
                if is_key {
                    if let Some(top) = segs.last_mut() {
                        top.key = (s, e);
                    }
                    expect_key = false;
                }
                i = e + 1;
                continue;
            }
            b'{' | b'[' => {
                let obj = b[i] == b'{';
                segs.push(Seg { obj, key: (0, 0), idx: 0, secret: false });
                expect_key = obj;
            }
            b'}' | b']' => {
                segs.pop();
                expect_key = false;
            }
            b',' => {
                if let Some(top) = segs.last_mut() {
                    if top.obj {
                        expect_key = true;
                    } else {
                        top.idx += 1;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// The index of the quote that closes the string whose text starts at `j`.
fn string_end(b: &[u8], mut j: usize) -> Option<usize> {
    loop {
        j = quote_or_backslash(b, j);
        if j >= b.len() {
            return None;
        }
        if b[j] == b'"' {
            return Some(j);
        }
        j += 2;
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

fn has_byte(x: u64, c: u8) -> u64 {
    let y = x ^ (LO * c as u64);
    y.wrapping_sub(LO) & !y & HI
}

/// The index of the first `"` or `\\` in `b` from `j` on, or `b.len()`. Eight bytes at a time:
/// strings are most of a frame, and each loop iteration in the guest also pays the host's
/// interrupt check.
fn quote_or_backslash(b: &[u8], mut j: usize) -> usize {
    while j + 8 <= b.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[j..j + 8]);
        let x = u64::from_le_bytes(w);
        if has_byte(x, b'"') | has_byte(x, b'\\') != 0 {
            break;
        }
        j += 8;
    }
    while j < b.len() && b[j] != b'"' && b[j] != b'\\' {
        j += 1;
    }
    j
}

/// The index of the first `\\` in `b` from `j` on, or `b.len()`.
fn backslash(b: &[u8], mut j: usize) -> usize {
    while j + 8 <= b.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[j..j + 8]);
        if has_byte(u64::from_le_bytes(w), b'\\') != 0 {
            break;
        }
        j += 8;
    }
    while j < b.len() && b[j] != b'\\' {
        j += 1;
    }
    j
}

/// Decodes the inside of a JSON string with escapes into `out`: runs of plain bytes are copied
/// whole. False when an escape is malformed (the host validated the frame, so it is not).
fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut i = 0;
    while i < raw.len() {
        let p = backslash(raw, i);
        if p == raw.len() {
            out.extend_from_slice(&raw[i..]);
            break;
        }
        out.extend_from_slice(&raw[i..p]);
        let e = match raw.get(p + 1) {
            Some(&e) => e,
            None => return false,
        };
        i = p + 2;
        let c = match e {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'b' => 8,
            b'f' => 12,
            b'u' => {
                let hex = |at: usize| raw.get(at..at + 4).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u32::from_str_radix(h, 16).ok());
                let mut code = match hex(i) {
                    Some(c) => c,
                    None => return false,
                };
                i += 4;
                if (0xD800..0xDC00).contains(&code) && raw.get(i..i + 2) == Some(b"\\u") {
                    if let Some(lo) = hex(i + 2) {
                        if (0xDC00..0xE000).contains(&lo) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (lo - 0xDC00);
                            i += 6;
                        }
                    }
                }
                let ch = char::from_u32(code).unwrap_or('\u{FFFD}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            other => other, // \" \\ \/
        };
        out.push(c);
    }
    true
}

/// Where a string is, for reasons and events: `arguments.token` for a request's params,
/// `result.content[0].text`, `error.message`.
fn render(frame: &[u8], root: &str, segs: &[Seg], key_finding: bool) -> String {
    let mut s = String::from(root);
    let last = segs.len() - 1;
    for (d, seg) in segs.iter().enumerate().skip(1) {
        if !seg.obj {
            s.push_str(&format!("[{}]", seg.idx));
            continue;
        }
        if !s.is_empty() {
            s.push('.');
        }
        if seg.secret || (key_finding && d == last) {
            s.push_str("(name)");
            continue;
        }
        let raw = &frame[seg.key.0..seg.key.1];
        let name = json::unescape(raw).unwrap_or_default();
        for (k, c) in name.chars().enumerate() {
            if k == 64 {
                s.push('…');
                break;
            }
            s.push(if c.is_control() || c == '"' || c == '\\' { '?' } else { c });
        }
    }
    if s.is_empty() {
        s.push_str("params");
    }
    s
}

struct Hit {
    rule: usize,
    at: String,
}

#[derive(Default)]
struct Scratch {
    segs: Vec<Seg>,
    findings: Vec<Finding>,
    hits: Vec<Hit>,
    edits: Vec<(usize, usize, Vec<u8>)>,
    name: Vec<u8>,
    decoded: Vec<u8>,
    hints: scan::Hints,
}

static mut SCRATCH: Option<Scratch> = None;

fn placeholder(cfg: &Config, rule: usize) -> String {
    format!("[REDACTED:{}]", cfg.id(rule))
}

fn guard(call: &Call) -> Verdict {
    let cfg = match config::get(call.config) {
        Ok(c) => c,
        Err(e) => {
            portcullis::log(Level::Error, &format!("secrets: invalid config: {}", e));
            return Verdict::block(format!("secrets: invalid config: {}", e));
        }
    };
    let (dir, direction) = if call.hook == Hook::ResponseGuard { (1, "response") } else { (0, "request") };
    let action = cfg.action[dir];
    // Safety: one call at a time per instance.
    let st = unsafe { SCRATCH.get_or_insert_with(Scratch::default) };
    st.hits.clear();
    st.edits.clear();
    let frame = call.frame;
    let Scratch { segs, findings, hits, edits, name, decoded, hints } = st;
    walk(frame, segs, |segs, s, is_key| {
        // Only the members params, result and error are scanned, and not their names.
        let root = match segs.first() {
            Some(r) if r.obj && !(segs.len() == 1 && is_key) => match &frame[r.key.0..r.key.1] {
                // A request's arguments read best as `arguments.x`; a notification's as `params.x`.
                b"params" if dir == 0 => "",
                b"params" => "params",
                b"result" => "result",
                b"error" => "error",
                _ => return string_end(frame, s),
            },
            _ => return string_end(frame, s),
        };
        let se = scan::prescan(&frame[s..], true, hints)?;
        let e = s + se.end;
        let raw = &frame[s..e];
        if raw.len() < cfg.min_scan {
            return Some(e);
        }
        // The name of the member this string is the value of (through arrays).
        let member = if is_key {
            None
        } else {
            segs.iter().rev().find(|g| g.obj).map(|g| &frame[g.key.0..g.key.1])
        };
        if let Some(m) = member {
            if (m == b"data" || m == b"blob") && scan::base64_blob(raw) {
                return Some(e);
            }
        }
        // The raw text reads as the text itself unless it has escapes that stand for other
        // characters, or custom rules (written for decoded text) are to run on escaped text.
        let decode = se.complex || (se.escaped && !cfg.custom.is_empty());
        if decode && !unescape_into(raw, decoded) {
            return Some(e);
        }
        let text: &[u8] = if decode { decoded } else { raw };
        let norm = match member {
            Some(m) if text.len() >= cfg.min_length => {
                config::normalize_name(m, name);
                Some(&name[..])
            }
            _ => None,
        };
        findings.clear();
        if decode {
            scan::scan(cfg, text, norm, findings);
        } else {
            scan::scan_hinted(cfg, text, hints, norm, findings);
        }
        if findings.is_empty() {
            return Some(e);
        }
        let at = render(frame, root, segs, is_key);
        if is_key {
            if let Some(top) = segs.last_mut() {
                top.secret = true;
            }
        }
        for f in findings.iter() {
            hits.push(Hit { rule: f.rule, at: at.clone() });
        }
        if action != Action::Redact {
            return Some(e);
        }
        if !decode {
            // Findings never cut an escape in two: splice the raw text.
            for f in findings.iter() {
                edits.push((s + f.start, s + f.end, placeholder(cfg, f.rule).into_bytes()));
            }
        } else {
            // Offsets are in the decoded text: rewrite the whole string, re-escaped.
            let mut out = Vec::with_capacity(text.len());
            let mut at = 0;
            for f in findings.iter() {
                out.extend_from_slice(&text[at..f.start]);
                out.extend_from_slice(placeholder(cfg, f.rule).as_bytes());
                at = f.end;
            }
            out.extend_from_slice(&text[at..]);
            let mut quoted = Vec::with_capacity(out.len() + 2);
            json::push_str(&mut quoted, &String::from_utf8_lossy(&out));
            edits.push((s - 1, e + 1, quoted));
        }
        Some(e)
    });
    if hits.is_empty() {
        return Verdict::Allow;
    }
    for h in hits.iter().take(16) {
        let mut data = Vec::with_capacity(128);
        data.extend_from_slice(b"{\"rule\":");
        json::push_str(&mut data, cfg.id(h.rule));
        data.extend_from_slice(b",\"where\":");
        json::push_str(&mut data, &h.at);
        data.extend_from_slice(b",\"action\":");
        json::push_str(&mut data, action.name());
        data.extend_from_slice(b",\"direction\":");
        json::push_str(&mut data, direction);
        data.extend_from_slice(b",\"server\":");
        json::push_str(&mut data, call.server);
        data.extend_from_slice(b",\"tool\":");
        json::push_str(&mut data, call.tool);
        data.push(b'}');
        portcullis::emit("secrets.finding", &data);
    }
    match action {
        Action::Monitor => Verdict::Allow,
        Action::Block => {
            let h = &hits[0];
            let mut reason = format!("secrets: {} in {}", cfg.id(h.rule), h.at);
            if hits.len() > 1 {
                reason.push_str(&format!(" (and {} more)", hits.len() - 1));
            }
            Verdict::block(reason)
        }
        Action::Redact => {
            let refs: Vec<(usize, usize, &[u8])> = edits.iter().map(|(s, e, w)| (*s, *e, &w[..])).collect();
            Verdict::Rewrite(portcullis::bytes::splice(frame, &refs))
        }
    }
}
