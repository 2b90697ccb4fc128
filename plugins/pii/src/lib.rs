//! pii: finds personal data in MCP frames (emails, phone numbers, payment cards, national
//! identifiers, IBANs) and redacts it with typed placeholders, blocks the frame, or only reports.
//! See README.md for what each rule matches and the config.

mod checks;
mod config;
mod scan;


use config::{Action, Config};
use portcullis::{json, Call, Direction, Verdict};
use scan::{Hit, RULES};

/// Compiled configs by their bytes, most recently used first. One instance serves every
/// binding of the plugin, each with its own config, and compiling one takes far longer than a
/// call: a few are kept, so that bindings taking turns do not recompile each time.
static mut CACHE: Vec<Box<(Vec<u8>, Result<Config, String>)>> = Vec::new();

fn config(raw: &[u8]) -> &'static Result<Config, String> {
    // Safety: an instance runs one call at a time (ABI §4); entries are boxed, so the reference
    // stays valid while the list is reordered, and it is used only during this call.
    unsafe {
        match CACHE.iter().position(|e| e.0 == raw) {
            Some(0) => {}
            Some(i) => {
                let e = CACHE.remove(i);
                CACHE.insert(0, e);
            }
            None => {
                CACHE.truncate(7);
                CACHE.insert(0, Box::new((raw.to_vec(), config::parse(raw))));
            }
        }
        &CACHE[0].1
    }
}

/// A confirmed finding: rule, raw range in the frame, and where it is.
struct Finding {
    rule: usize,
    start: usize,
    end: usize,
    path: std::rc::Rc<str>,
}

/// Top-level members that are the JSON-RPC envelope itself, never data.
fn envelope(key: &[u8]) -> bool {
    matches!(key, b"id" | b"jsonrpc" | b"method")
}

fn guard(call: &Call) -> Verdict {
    let cfg = match config(call.config) {
        Ok(c) => c,
        Err(e) => return Verdict::block(format!("pii: config is invalid: {}", e)),
    };
    let f = call.frame;
    let mut hits = Vec::new();
    scan::scan(f, cfg.on, &mut hits);
    if hits.is_empty() && cfg.custom.is_empty() {
        return Verdict::Allow;
    }
    let found = resolve(cfg, f, hits);
    if found.is_empty() {
        return Verdict::Allow;
    }
    let dir = if call.direction == Direction::Response { 1 } else { 0 };
    let action = cfg.action[dir];
    report(cfg, call, &found, action, dir);
    match action {
        Action::Monitor => Verdict::Allow,
        Action::Block => Verdict::block(reason(cfg, &found)),
        Action::Redact => {
            let edits: Vec<(usize, usize, &[u8])> = found.iter().map(|x| (x.start, x.end, &cfg.placeholders[x.rule][..])).collect();
            Verdict::Rewrite(portcullis::bytes::splice(f, &edits))
        }
    }
}

/// Keeps the hits that lie in string values (not the envelope's members, not keys, not
/// numbers), adds the custom rules' matches, drops allowed values and overlaps, and names each
/// finding's place.
fn resolve(cfg: &Config, f: &[u8], mut hits: Vec<Hit>) -> Vec<Finding> {
    hits.sort_by_key(|h| h.start);
    let mut found: Vec<Finding> = Vec::new();
    let mut k = 0;
    let (mut text, mut map) = (Vec::new(), Vec::new());
    walk::strings(f, false, |p, s, e, _| {
        if p.depth() == 1 && envelope(p.top_key()) {
            return true;
        }
        while k < hits.len() && hits[k].start < s {
            k += 1; // not inside a string value
        }
        let mut path: Option<std::rc::Rc<str>> = None;
        let name = |path: &mut Option<std::rc::Rc<str>>| path.get_or_insert_with(|| p.render().into()).clone();
        while k < hits.len() && hits[k].end <= e {
            let h = hits[k];
            found.push(Finding { rule: h.rule, start: h.start, end: h.end, path: name(&mut path) });
            k += 1;
        }
        if !cfg.custom.is_empty() {
            let raw = &f[s..e];
            let plain = !raw.contains(&b'\\');
            if plain || walk::decode(raw, &mut text, &mut map) {
                let t: &[u8] = if plain { raw } else { &text };
                for (i, re) in cfg.custom.iter().enumerate() {
                    for m in re.find_iter(t).filter(|m| !m.as_bytes().is_empty()) {
                        // Whole characters only: a byte-level match may end inside one.
                        let (mut a, mut b) = (m.start(), m.end());
                        while a > 0 && t[a] & 0xC0 == 0x80 {
                            a -= 1;
                        }
                        while b < t.len() && t[b] & 0xC0 == 0x80 {
                            b += 1;
                        }
                        let (a, b) = if plain { (a, b) } else { (map[a] as usize, map[b] as usize) };
                        found.push(Finding { rule: RULES.len() + i, start: s + a, end: s + b, path: name(&mut path) });
                    }
                }
            }
        }
        k < hits.len() || !cfg.custom.is_empty()
    });
    found.sort_by_key(|x| (x.start, std::cmp::Reverse(x.end)));
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for x in found {
        if out.last().map_or(false, |l| x.start < l.end) || cfg.allow.allows(x.rule == scan::EMAIL, &f[x.start..x.end]) {
            continue;
        }
        out.push(x);
    }
    out
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Redact => "redact",
        Action::Block => "block",
        Action::Monitor => "monitor",
    }
}

/// One `pii.finding` event per rule and place, with a count; never the value.
fn report(cfg: &Config, call: &Call, found: &[Finding], action: Action, dir: usize) {
    let mut seen: Vec<(usize, &str, usize)> = Vec::new();
    for x in found {
        match seen.iter_mut().find(|s| s.0 == x.rule && s.1 == &*x.path) {
            Some(s) => s.2 += 1,
            None => seen.push((x.rule, &x.path, 1)),
        }
    }
    for (rule, path, count) in seen.into_iter().take(64) {
        let mut d = Vec::with_capacity(128);
        d.extend_from_slice(b"{\"rule\":");
        json::push_str(&mut d, &cfg.ids[rule]);
        d.extend_from_slice(b",\"where\":");
        json::push_str(&mut d, path);
        d.extend_from_slice(b",\"action\":");
        json::push_str(&mut d, action_name(action));
        d.extend_from_slice(b",\"direction\":");
        json::push_str(&mut d, if dir == 1 { "response" } else { "request" });
        d.extend_from_slice(b",\"server\":");
        json::push_str(&mut d, call.server);
        d.extend_from_slice(b",\"tool\":");
        json::push_str(&mut d, call.tool);
        d.extend_from_slice(format!(",\"count\":{}}}", count).as_bytes());
        portcullis::emit("pii.finding", &d);
    }
}

/// `pii: email in params.arguments.to`, and how many more.
fn reason(cfg: &Config, found: &[Finding]) -> String {
    let first = &found[0];
    let mut r = format!("pii: {} in {}", cfg.ids[first.rule], first.path);
    if found.len() > 1 {
        let mut others: Vec<&str> = Vec::new();
        for x in &found[1..] {
            if !others.contains(&cfg.ids[x.rule].as_str()) {
                others.push(&cfg.ids[x.rule]);
            }
        }
        r.push_str(&format!(" and {} more ({})", found.len() - 1, others.join(", ")));
    }
    r
}

portcullis::plugin!(request_guard: guard, response_guard: guard);
#[cfg(test)]
mod corpus {
    /// Lists the findings in every file listed in $PII_CORPUS (one path a line).
    #[test]
    fn corpus() {
        let list = match std::env::var("PII_CORPUS") {
            Ok(l) => l,
            Err(_) => return,
        };
        let cfg = super::config::parse(b"").unwrap();
        let mut counts = std::collections::BTreeMap::new();
        for path in std::fs::read_to_string(list).unwrap().lines() {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(_) => continue,
            };
            let mut frame = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"#.to_vec();
            portcullis::json::push_str(&mut frame, &text);
            frame.extend_from_slice(b"}]}}");
            let mut hits = Vec::new();
            super::scan::scan(&frame, cfg.on, &mut hits);
            for x in super::resolve(&cfg, &frame, hits) {
                *counts.entry(cfg.ids[x.rule].clone()).or_insert(0) += 1;
                if x.rule != super::scan::EMAIL {
                    eprintln!(
                        "{} {:?} {}",
                        cfg.ids[x.rule],
                        String::from_utf8_lossy(&frame[x.start.saturating_sub(20)..(x.end + 10).min(frame.len())]),
                        path
                    );
                }
            }
        }
        eprintln!("{:?}", counts);
    }
}
