//! The binding config: parsed and compiled once per distinct config text, then cached.

use crate::rules;
use portcullis::json::{self, Value};
use regex::bytes::{Regex, RegexBuilder};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    Block,
    Redact,
    Monitor,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Redact => "redact",
            Action::Monitor => "monitor",
        }
    }
}

/// An operator's rule: a regex run on every string (or only on strings containing one of its
/// keywords, case-insensitively).
pub struct Custom {
    pub id: String,
    pub re: Regex,
    /// Lowercase.
    pub keywords: Vec<Vec<u8>>,
    /// The index of the group named `secret`, if any: only it is reported and redacted.
    pub group: Option<usize>,
}

pub struct Config {
    /// For requests and for responses.
    pub action: [Action; 2],
    /// Indexed like rule indexes (built-ins, then context rules).
    pub disabled: Vec<bool>,
    pub custom: Vec<Custom>,
    pub allow: Vec<Vec<u8>>,
    pub allow_patterns: Vec<Regex>,
    pub min_length: usize,
    pub min_entropy: f64,
    /// Extra secret names for the generic rule, normalized.
    pub names: Vec<Vec<u8>>,
    /// Strings shorter than this cannot hold a finding and are skipped.
    pub min_scan: usize,
    /// Whether any anchored rule is on (else the token scan is skipped).
    pub anchored: bool,
    /// Whether the assignment rules are on.
    pub assignments: bool,
}

impl Config {
    pub fn id(&self, rule: usize) -> &str {
        if rule < rules::builtin_count() {
            rules::builtin_id(rule)
        } else {
            &self.custom[rule - rules::builtin_count()].id
        }
    }

    pub fn on(&self, rule: usize) -> bool {
        !self.disabled[rule]
    }
}

pub const DEFAULT_MIN_LENGTH: usize = 12;
pub const DEFAULT_MIN_ENTROPY: f64 = 3.0;

fn action(v: &Value, what: &str) -> Result<Action, String> {
    match v.as_str() {
        Some("block") => Ok(Action::Block),
        Some("redact") => Ok(Action::Redact),
        Some("monitor") => Ok(Action::Monitor),
        _ => Err(format!("{} must be \"block\", \"redact\" or \"monitor\"", what)),
    }
}

fn strings<'a>(v: &'a Value, what: &str) -> Result<Vec<&'a str>, String> {
    match v {
        Value::Array(a) => a.iter().map(|e| e.as_str().ok_or_else(|| format!("{} must be a list of strings", what))).collect(),
        _ => Err(format!("{} must be a list of strings", what)),
    }
}

fn compile(pattern: &str, what: &str) -> Result<Regex, String> {
    // ASCII classes (\w, \d, \s, \b) and no Unicode tables: secrets are ASCII.
    RegexBuilder::new(pattern).unicode(false).size_limit(1 << 20).build().map_err(|e| {
        let msg = e.to_string();
        // regex errors span several lines (pattern, caret, message): keep the message.
        let last = msg.lines().filter(|l| !l.trim().is_empty()).last().unwrap_or("").trim().to_string();
        format!("{}: bad regex: {}", what, last)
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Lowercase, without `_`, `-` and `.`: how names are compared.
pub fn normalize_name(name: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(name.iter().filter(|&&b| !matches!(b, b'_' | b'-' | b'.')).map(|b| b.to_ascii_lowercase()));
}

pub fn parse(text: &[u8]) -> Result<Config, String> {
    let v = json::parse(text)?;
    let mut c = Config {
        action: [Action::Block, Action::Redact],
        disabled: vec![false; rules::builtin_count()],
        custom: Vec::new(),
        allow: Vec::new(),
        allow_patterns: Vec::new(),
        min_length: DEFAULT_MIN_LENGTH,
        min_entropy: DEFAULT_MIN_ENTROPY,
        names: Vec::new(),
        min_scan: 0,
        anchored: true,
        assignments: true,
    };
    let members = match &v {
        Value::Null => &[][..],
        Value::Object(m) => &m[..],
        _ => return Err("the config must be a JSON object".into()),
    };
    for (key, val) in members {
        match key.as_str() {
            "action" => match val {
                Value::String(_) => {
                    let a = action(val, "action")?;
                    c.action = [a, a];
                }
                Value::Object(m) => {
                    for (k, d) in m {
                        match k.as_str() {
                            "request" => c.action[0] = action(d, "action.request")?,
                            "response" => c.action[1] = action(d, "action.response")?,
                            _ => return Err(format!("action.{}: unknown key (request, response)", k)),
                        }
                    }
                }
                _ => return Err("action must be a string or {\"request\": ..., \"response\": ...}".into()),
            },
            "disable" => {
                for id in strings(val, "disable")? {
                    let i = (0..rules::builtin_count()).find(|&i| rules::builtin_id(i) == id);
                    match i {
                        Some(i) => c.disabled[i] = true,
                        None => return Err(format!("disable: no built-in rule {:?}", id)),
                    }
                }
            }
            "rules" => {
                for (n, r) in val.as_array().iter().enumerate() {
                    c.custom.push(custom(r, n)?);
                }
                if !matches!(val, Value::Array(_)) {
                    return Err("rules must be a list of {id, regex, keywords}".into());
                }
            }
            "allow" => c.allow = strings(val, "allow")?.iter().map(|s| s.as_bytes().to_vec()).collect(),
            "allow_patterns" => {
                for (n, p) in strings(val, "allow_patterns")?.iter().enumerate() {
                    c.allow_patterns.push(compile(p, &format!("allow_patterns[{}]", n))?);
                }
            }
            "generic" => {
                if !matches!(val, Value::Object(_)) {
                    return Err("generic must be an object".into());
                }
                for (k, g) in val.as_object() {
                    match k.as_str() {
                        "min_length" => match g.as_f64() {
                            Some(n) if n >= 6.0 && n <= 1024.0 && n.fract() == 0.0 => c.min_length = n as usize,
                            _ => return Err("generic.min_length must be a whole number from 6 to 1024".into()),
                        },
                        "min_entropy" => match g.as_f64() {
                            Some(n) if (0.0..=8.0).contains(&n) => c.min_entropy = n,
                            _ => return Err("generic.min_entropy must be a number of bits per character from 0 to 8".into()),
                        },
                        "names" => {
                            for s in strings(g, "generic.names")? {
                                let mut n = Vec::new();
                                normalize_name(s.as_bytes(), &mut n);
                                if n.len() < 3 {
                                    return Err(format!("generic.names: {:?} is too short", s));
                                }
                                c.names.push(n);
                            }
                        }
                        _ => return Err(format!("generic.{}: unknown key (min_length, min_entropy, names)", k)),
                    }
                }
            }
            _ => return Err(format!("{}: unknown key (action, disable, rules, allow, allow_patterns, generic)", key)),
        }
    }
    let n = rules::RULES.len();
    c.anchored = c.disabled[..n].iter().any(|d| !d);
    c.assignments = c.disabled[n..].iter().any(|d| !d);
    // Anchored findings are at least 20 bytes; a URL with a password at least 8.
    c.min_scan = if c.custom.is_empty() { c.min_length.min(8) } else { 1 };
    Ok(c)
}

fn custom(r: &Value, n: usize) -> Result<Custom, String> {
    let at = format!("rules[{}]", n);
    if !matches!(r, Value::Object(_)) {
        return Err(format!("{}: must be an object {{id, regex, keywords}}", at));
    }
    for (k, _) in r.as_object() {
        if !matches!(k.as_str(), "id" | "regex" | "keywords" | "description") {
            return Err(format!("{}.{}: unknown key (id, regex, keywords, description)", at, k));
        }
    }
    let id = r.get("id").and_then(Value::as_str).ok_or_else(|| format!("{}: needs an id", at))?;
    if !valid_id(id) {
        return Err(format!("{}: id {:?} must be 1-64 letters, digits, '_', '-' or '.'", at, id));
    }
    if (0..rules::builtin_count()).any(|i| rules::builtin_id(i) == id) {
        return Err(format!("{}: id {:?} is a built-in rule (disable it and use another id)", at, id));
    }
    let pattern = r.get("regex").and_then(Value::as_str).ok_or_else(|| format!("{}: needs a regex", at))?;
    let re = compile(pattern, &at)?;
    // A rule that matches the empty string would "find" a secret everywhere.
    if re.is_match(b"") {
        return Err(format!("{}: regex matches the empty string", at));
    }
    let group = re.capture_names().position(|g| g == Some("secret"));
    let keywords = match r.get("keywords") {
        None => Vec::new(),
        Some(k) => strings(k, &format!("{}.keywords", at))?.iter().map(|s| s.to_ascii_lowercase().into_bytes()).collect(),
    };
    if keywords.iter().any(|k| k.is_empty()) {
        return Err(format!("{}.keywords: empty keyword", at));
    }
    Ok(Custom { id: id.to_string(), re, keywords, group })
}

// Compiled configs by their text: one instance serves every binding of the plugin, each with its
// config, so keep a few. A bad config is cached too, with its error.
static mut CACHE: Vec<(Vec<u8>, Result<Config, String>)> = Vec::new();
const CACHE_SIZE: usize = 8;

/// The compiled config for `text`.
pub fn get(text: &[u8]) -> &'static Result<Config, String> {
    // Safety: an instance runs one call at a time, and entries are only dropped here, between
    // calls' uses of them.
    unsafe {
        if let Some(i) = CACHE.iter().position(|(t, _)| t == text) {
            return &CACHE[i].1;
        }
        if CACHE.len() == CACHE_SIZE {
            drop(CACHE.remove(0));
        }
        CACHE.push((text.to_vec(), parse(text)));
        &CACHE.last().unwrap().1
    }
}
