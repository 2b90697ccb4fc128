//! tool-policy: allows or denies tools per server, tool, agent and team (the first matching rule
//! decides), constrains the arguments of allowed calls, and removes denied tools from
//! `tools/list` results so that agents never see them. See README.md.

mod config;

use canon::json::{self, Walk};
use canon::path::{self, Anchor};
use canon::url;
use config::{Action, Config, Constraint, Rule};
use portcullis::json::{push_str, Value};
use portcullis::{Call, Verdict};

/// Events sent per call at most.
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

/// The rule deciding a tool, if one matches, and whether the tool is allowed.
fn decide<'a>(cfg: &'a Config, call: &Call, tool: &str) -> (bool, Option<&'a Rule>) {
    match cfg.rules.iter().find(|r| r.matches(call.server, tool, call.agent, call.team)) {
        Some(r) => (r.allow, Some(r)),
        None => (cfg.default_allow, None),
    }
}

fn rule_id(rule: Option<&Rule>) -> &str {
    rule.map_or("default", |r| r.id.as_str())
}

fn event(call: &Call, tool: &str, rule: &str, check: &str, place: &str, action: &str) {
    let mut data = Vec::with_capacity(160);
    data.extend_from_slice(b"{\"rule\":");
    push_str(&mut data, rule);
    data.extend_from_slice(b",\"check\":");
    push_str(&mut data, check);
    data.extend_from_slice(b",\"where\":");
    push_str(&mut data, place);
    data.extend_from_slice(b",\"action\":");
    push_str(&mut data, action);
    data.extend_from_slice(b",\"server\":");
    push_str(&mut data, call.server);
    data.extend_from_slice(b",\"tool\":");
    push_str(&mut data, tool);
    data.push(b'}');
    portcullis::emit("tool-policy.finding", &data);
}

/// request_guard: the decision for the called tool, then its argument constraints.
fn guard(call: &Call) -> Verdict {
    let cfg = match config(call.config) {
        Ok(c) => c,
        Err(e) => return Verdict::block(format!("tool-policy: invalid config: {}", e)),
    };
    // The gateway names the tool of every tools/call, and only of those.
    if call.tool.is_empty() {
        return Verdict::Allow;
    }
    let (allow, rule) = decide(cfg, call, call.tool);
    let action = if cfg.action == Action::Monitor { "monitor" } else { "block" };
    if !allow {
        event(call, call.tool, rule_id(rule), "deny", "tool", action);
        if cfg.action == Action::Monitor {
            return Verdict::Allow;
        }
        let mut reason = match rule {
            Some(r) => format!("tool-policy: rule {:?} denies {}/{}", r.id, call.server, call.tool),
            None => format!("tool-policy: {}/{} is not allowed (no rule matches and the default is deny)", call.server, call.tool),
        };
        if let Some(why) = rule.and_then(|r| r.reason.as_ref()) {
            reason.push_str(": ");
            reason.push_str(why);
        }
        return Verdict::block(reason);
    }
    let rule = match rule {
        Some(r) if !r.unconditional() => r,
        _ => return Verdict::Allow,
    };
    match check_arguments(rule, call.frame) {
        None => Verdict::Allow,
        Some(v) => {
            event(call, call.tool, &rule.id, v.check, &v.place, action);
            if cfg.action == Action::Monitor {
                Verdict::Allow
            } else {
                Verdict::block(format!("tool-policy: rule {:?}: {} {}", rule.id, v.place, v.problem))
            }
        }
    }
}

/// An argument that breaks a constraint. The problem never quotes the value.
struct Violation {
    check: &'static str,
    place: String,
    problem: String,
}

fn check_arguments(rule: &Rule, frame: &[u8]) -> Option<Violation> {
    let mut present: Vec<String> = Vec::new();
    let mut found: Option<Violation> = None;
    json::each_arguments(frame, |b, at| {
        json::members(b, at, |k, v| {
            let name = json::unescape(k).unwrap_or_default();
            if rule.forbidden.iter().any(|g| g.matches(&name)) {
                found = Some(Violation { check: "forbidden", place: place(&name), problem: "is not allowed".into() });
                return Walk::Stop;
            }
            let mut end = None;
            for (g, c) in &rule.args {
                if g.matches(&name) {
                    match check_value(c, b, v) {
                        Ok(e) => end = Some(e),
                        Err((check, problem)) => {
                            found = Some(Violation { check, place: place(&name), problem });
                            return Walk::Stop;
                        }
                    }
                }
            }
            if rule.required.iter().any(|r| *r == name) {
                present.push(name.into_owned());
            }
            end.map_or(Walk::Skip, Walk::Done)
        })
    });
    if found.is_some() {
        return found;
    }
    for r in &rule.required {
        if !present.iter().any(|p| p == r) {
            return Some(Violation { check: "required", place: format!("arguments.{}", r), problem: "is required".into() });
        }
    }
    None
}

/// `arguments.<name>`, the name cut short and stripped of control characters.
fn place(name: &str) -> String {
    let mut p = String::from("arguments.");
    p.extend(name.chars().filter(|c| !c.is_control()).take(64));
    p
}

type Problem = (&'static str, String);

/// Checks the JSON value at `at` against a constraint, answering where it ends. Arrays are
/// checked element by element.
fn check_value(c: &Constraint, b: &[u8], at: usize) -> Result<usize, Problem> {
    if b.get(at) == Some(&b'"') {
        let (end, escaped) = json::scan_string(b, at).ok_or(("enum", "is malformed".to_string()))?;
        return check_text(c, &b[at + 1..end - 1], escaped).map(|_| end);
    }
    let end = json::skip_value(b, at).ok_or(("enum", "is malformed".to_string()))?;
    let raw = &b[at..end];
    match raw.first() {
        Some(b'[') => {
            let mut res = Ok(());
            json::elements(b, at, |e| {
                let eend = match json::skip_value(b, e) {
                    Some(x) => x,
                    None => return Walk::Stop,
                };
                let item = &b[e..eend];
                res = if item.first() == Some(&b'"') { check_text(c, &item[1..item.len() - 1], true) } else { check_other(c, item) };
                if res.is_err() {
                    Walk::Stop
                } else {
                    Walk::Done(eend)
                }
            });
            res
        }
        _ => check_other(c, raw),
    }
    .map(|_| end)
}

/// A string value: the raw text between its quotes, and whether it may have escapes.
fn check_text(c: &Constraint, raw: &[u8], escaped: bool) -> Result<(), Problem> {
    let decode = || {
        let s = if escaped { json::unescape(raw) } else { std::str::from_utf8(raw).ok().map(std::borrow::Cow::Borrowed) };
        s.ok_or(("regex", "is not valid text".to_string()))
    };
    if let Some(n) = c.max_length {
        // A string is at most as many characters as its raw bytes: count only past the limit.
        if raw.len() > n && decode()?.chars().count() > n {
            return Err(("max_length", format!("is longer than {} characters", n)));
        }
    }
    if c.enumeration.is_none() && c.regex.is_none() && c.path_prefix.is_empty() && c.allowed_hosts.is_none() {
        return Ok(());
    }
    let s = decode()?;
    if let Some(items) = &c.enumeration {
        if !items.iter().any(|x| x.as_str() == Some(&s)) {
            return Err(("enum", "is not one of the allowed values".into()));
        }
    }
    if let Some(re) = &c.regex {
        if !re.is_match(&s) {
            return Err(("regex", "does not match the pattern".into()));
        }
    }
    if !c.path_prefix.is_empty() && !path_allowed(c, &s) {
        return Err(("path_prefix", "is outside the allowed path prefixes".into()));
    }
    if let Some((globs, ranges)) = &c.allowed_hosts {
        let u = url::parse(&s).or_else(|| url::parse_host_value(&s)).filter(|u| !u.hosts.is_empty());
        let u = u.ok_or(("allowed_hosts", "is not a URL or host".to_string()))?;
        for h in &u.hosts {
            let text = h.host.text();
            let ip = match h.host {
                url::Host::Ip(a) => Some(a),
                url::Host::Name(_) => None,
            };
            if !globs.iter().any(|g| g.matches(&text)) && !ip.map_or(false, |a| ranges.iter().any(|r| r.contains(a))) {
                return Err(("allowed_hosts", "names a host that is not allowed".into()));
            }
        }
    }
    Ok(())
}

/// Every canonical form of the path (as written and decoded), resolved against the base, must
/// lie within a prefix, without climbing above its start on the way or holding a NUL.
fn path_allowed(c: &Constraint, s: &str) -> bool {
    let base = c.base.as_ref().unwrap_or(&c.path_prefix[0]);
    path::decode_path(s).all().all(|f| {
        if f.nul || f.escapes {
            return false;
        }
        let within = |p: &canon::path::Canon| c.path_prefix.iter().any(|x| p.within(x, false));
        if f.anchor == Anchor::Relative {
            within(&f.resolve(base))
        } else {
            within(f)
        }
    })
}

/// A number, boolean, null or object value (raw).
fn check_other(c: &Constraint, raw: &[u8]) -> Result<(), Problem> {
    let need_text = [(c.regex.is_some(), "regex"), (!c.path_prefix.is_empty(), "path_prefix"), (c.allowed_hosts.is_some(), "allowed_hosts")];
    if let Some((_, check)) = need_text.iter().find(|(on, _)| *on) {
        return Err((check, "is not a string".into()));
    }
    if let Some(n) = c.max_length {
        if raw.len() > n {
            return Err(("max_length", format!("is longer than {} characters", n)));
        }
    }
    if let Some(items) = &c.enumeration {
        let v = portcullis::json::parse(raw).unwrap_or(Value::Object(Vec::new()));
        let same = |x: &Value| match (x, &v) {
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Null, Value::Null) => true,
            _ => false,
        };
        if !items.iter().any(same) {
            return Err(("enum", "is not one of the allowed values".into()));
        }
    }
    Ok(())
}

/// tool_filter: removes denied tools from a tools/list result, keeping the rest byte for byte.
fn filter(call: &Call) -> Verdict {
    let cfg = match config(call.config) {
        Ok(c) => c,
        Err(e) => return Verdict::block(format!("tool-policy: invalid config: {}", e)),
    };
    if !cfg.hide {
        return Verdict::Allow;
    }
    let frame = call.frame;
    // Every tools array of the result: (array start, array end, [(element start, end, hidden)]).
    let mut arrays: Vec<(usize, usize, Vec<(usize, usize, bool)>)> = Vec::new();
    let mut events = 0;
    json::members(frame, 0, |k, v| {
        if k != b"result" {
            return Walk::Skip;
        }
        let end = json::members(frame, v, |k2, v2| {
            if k2 != b"tools" {
                return Walk::Skip;
            }
            let mut items = Vec::new();
            let end = json::elements(frame, v2, |e| {
                let (name, eend) = match tool_name(frame, e) {
                    Some(x) => x,
                    None => return Walk::Stop,
                };
                let hidden = match &name {
                    Some(n) => {
                        let (allow, rule) = decide(cfg, call, n);
                        if !allow && events < MAX_EVENTS {
                            events += 1;
                            let action = if cfg.action == Action::Monitor { "monitor" } else { "hide" };
                            event(call, n, rule_id(rule), "deny", "tools/list", action);
                        }
                        !allow
                    }
                    None => false,
                };
                items.push((e, eend, hidden));
                Walk::Done(eend)
            });
            match end {
                Some(end) => {
                    arrays.push((v2, end, items));
                    Walk::Done(end)
                }
                None => Walk::Skip,
            }
        });
        match end {
            Some(e) => Walk::Done(e),
            None => Walk::Skip,
        }
    });
    if cfg.action == Action::Monitor || arrays.iter().all(|(_, _, items)| items.iter().all(|i| !i.2)) {
        return Verdict::Allow;
    }
    let mut texts: Vec<Vec<u8>> = Vec::new();
    for (_, _, items) in &arrays {
        let mut t = vec![b'['];
        for (s, e, _) in items.iter().filter(|i| !i.2) {
            if t.len() > 1 {
                t.push(b',');
            }
            t.extend_from_slice(&frame[*s..*e]);
        }
        t.push(b']');
        texts.push(t);
    }
    let edits: Vec<(usize, usize, &[u8])> = arrays.iter().zip(&texts).map(|((s, e, _), t)| (*s, *e, t.as_slice())).collect();
    Verdict::Rewrite(portcullis::bytes::splice(frame, &edits))
}

/// The `name` of the tool at `at` if it is an object with a string one (the last, should it be
/// repeated), and where the tool ends. One pass over the tool.
fn tool_name(frame: &[u8], at: usize) -> Option<(Option<String>, usize)> {
    if frame.get(at) != Some(&b'{') {
        return Some((None, json::skip_value(frame, at)?));
    }
    let mut name = None;
    let end = json::members(frame, at, |k, v| {
        if k != b"name" || frame.get(v) != Some(&b'"') {
            return Walk::Skip;
        }
        match json::skip_string(frame, v) {
            Some(e) => {
                name = json::unescape(&frame[v + 1..e - 1]).map(|s| s.into_owned());
                Walk::Done(e)
            }
            None => Walk::Stop,
        }
    })?;
    Some((name, end))
}

portcullis::plugin!(request_guard: guard, tool_filter: filter);
