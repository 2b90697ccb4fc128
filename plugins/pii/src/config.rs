//! The binding config (see README.md), checked strictly: a typo must not silently turn a rule
//! off, so unknown keys and rule ids are errors.

use crate::scan::RULES;
use portcullis::json::{self, Value};
use regex::bytes::{Regex, RegexBuilder};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Redact,
    Block,
    Monitor,
}

pub struct Config {
    /// Enabled built-in rules, one bit each.
    pub on: u32,
    /// For requests and for responses.
    pub action: [Action; 2],
    /// Rule ids: the built-ins, then the custom rules.
    pub ids: Vec<String>,
    /// Placeholder text per rule, already escaped for a JSON string.
    pub placeholders: Vec<Vec<u8>>,
    /// Custom rules, numbered after the built-ins.
    pub custom: Vec<Regex>,
    pub allow: Allow,
}

/// Values that are never reported.
#[derive(Default)]
pub struct Allow {
    /// Whole addresses, lowercase.
    pub emails: Vec<Vec<u8>>,
    /// Email domains, lowercase: the domain itself and its subdomains.
    pub domains: Vec<Vec<u8>>,
    /// Other values as their letters and digits only, uppercase.
    pub values: Vec<Vec<u8>>,
}

impl Allow {
    pub fn allows(&self, email: bool, value: &[u8]) -> bool {
        if email {
            let v = value.to_ascii_lowercase();
            let domain = match v.iter().position(|&c| c == b'@') {
                Some(at) => &v[at + 1..],
                None => return false,
            };
            return self.emails.iter().any(|e| *e == v)
                || self.domains.iter().any(|d| {
                    domain == &d[..] || domain.len() > d.len() && domain.ends_with(d) && domain[domain.len() - d.len() - 1] == b'.'
                });
        }
        !self.values.is_empty() && self.values.contains(&normalize(value))
    }
}

/// Letters and digits of a value, uppercase: `+1 (800) 555-0100` and `18005550100` are one.
pub fn normalize(v: &[u8]) -> Vec<u8> {
    v.iter().filter(|c| c.is_ascii_alphanumeric()).map(u8::to_ascii_uppercase).collect()
}

fn action(v: &Value, key: &str) -> Result<Action, String> {
    match v.as_str() {
        Some("redact") => Ok(Action::Redact),
        Some("block") => Ok(Action::Block),
        Some("monitor") => Ok(Action::Monitor),
        _ => Err(format!("{} must be \"redact\", \"block\" or \"monitor\"", key)),
    }
}

fn strings<'a>(v: &'a Value, key: &str) -> Result<Vec<&'a str>, String> {
    match v {
        Value::Array(a) => a.iter().map(|x| x.as_str().ok_or_else(|| format!("{} must be a list of strings", key))).collect(),
        _ => Err(format!("{} must be a list of strings", key)),
    }
}

fn escaped(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    json::push_str(&mut out, s);
    out[1..out.len() - 1].to_vec()
}

pub fn parse(raw: &[u8]) -> Result<Config, String> {
    let v = json::parse(raw)?;
    let mut c = Config {
        on: (1 << RULES.len()) - 1,
        action: [Action::Redact; 2],
        ids: RULES.iter().map(|r| r.0.to_string()).collect(),
        placeholders: RULES.iter().map(|r| r.1.as_bytes().to_vec()).collect(),
        custom: Vec::new(),
        allow: Allow::default(),
    };
    let members = match &v {
        Value::Null => return Ok(c),
        Value::Object(m) => m,
        _ => return Err("the config must be an object".into()),
    };
    // Custom rules first, so that disable and placeholders may name them.
    if let Some(rules) = v.get("rules") {
        for (i, r) in rules.as_array().iter().enumerate() {
            let at = format!("rules[{}]", i);
            for (k, _) in r.as_object() {
                if !matches!(k.as_str(), "id" | "regex" | "placeholder") {
                    return Err(format!("{}: unknown key {:?} (id, regex, placeholder)", at, k));
                }
            }
            let id = r.get("id").and_then(Value::as_str).ok_or_else(|| format!("{}.id must be a string", at))?;
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(format!("{}.id must be 1-64 letters, digits, '_' or '-'", at));
            }
            if c.ids.iter().any(|x| x == id) {
                return Err(format!("{}.id {:?} is already a rule", at, id));
            }
            let pattern = r.get("regex").and_then(Value::as_str).ok_or_else(|| format!("{}.regex must be a string", at))?;
            let re = RegexBuilder::new(pattern)
                .unicode(false)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("{}.regex: {}", at, e.to_string().lines().last().unwrap_or("invalid")))?;
            let ph = match r.get("placeholder") {
                None => format!("[{}]", id.to_ascii_uppercase()),
                Some(p) => p.as_str().ok_or_else(|| format!("{}.placeholder must be a string", at))?.to_string(),
            };
            c.ids.push(id.to_string());
            c.placeholders.push(escaped(&ph));
            c.custom.push(re);
        }
        if !matches!(rules, Value::Array(_)) {
            return Err("rules must be a list of {id, regex, placeholder}".into());
        }
    }
    for (k, val) in members {
        match k.as_str() {
            "rules" => {}
            "action" => match val {
                Value::Object(m) => {
                    for (d, a) in m {
                        match d.as_str() {
                            "request" => c.action[0] = action(a, "action.request")?,
                            "response" => c.action[1] = action(a, "action.response")?,
                            _ => return Err(format!("action: unknown direction {:?} (request, response)", d)),
                        }
                    }
                }
                _ => c.action = [action(val, "action")?; 2],
            },
            "disable" => {
                for id in strings(val, "disable")? {
                    match c.ids.iter().position(|x| x == id) {
                        Some(i) if i < RULES.len() => c.on &= !(1 << i),
                        Some(_) => return Err(format!("disable: {:?} is a custom rule: remove it from rules instead", id)),
                        None => return Err(format!("disable: unknown rule {:?} ({})", id, c.ids.join(", "))),
                    }
                }
            }
            "allow" => {
                for a in strings(val, "allow")? {
                    let a = a.trim();
                    if a.contains('@') {
                        c.allow.emails.push(a.to_ascii_lowercase().into_bytes());
                    } else if a.contains('.') && a.bytes().any(|b| b.is_ascii_alphabetic()) && !a.contains(' ') {
                        c.allow.domains.push(a.trim_start_matches('.').to_ascii_lowercase().into_bytes());
                    } else if !normalize(a.as_bytes()).is_empty() {
                        c.allow.values.push(normalize(a.as_bytes()));
                    }
                }
            }
            "placeholders" => {
                for (id, p) in val.as_object() {
                    let i = c.ids.iter().position(|x| x == id).ok_or_else(|| format!("placeholders: unknown rule {:?}", id))?;
                    c.placeholders[i] = escaped(p.as_str().ok_or_else(|| format!("placeholders.{} must be a string", id))?);
                }
                if !matches!(val, Value::Object(_)) {
                    return Err("placeholders must be an object of rule id to text".into());
                }
            }
            _ => return Err(format!("unknown key {:?} (action, disable, rules, allow, placeholders)", k)),
        }
    }
    Ok(c)
}
