//! The binding config (every key is documented in README.md): an ordered list of rules, the
//! first matching one deciding.

use canon::glob::Glob;
use canon::ip::Cidr;
use canon::path::{normalize, Anchor, Canon};
use portcullis::json::{self, Value};
use regex::{Regex, RegexBuilder};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Block,
    Monitor,
}

pub struct Config {
    pub rules: Vec<Rule>,
    pub default_allow: bool,
    pub action: Action,
    /// Remove denied tools from tools/list results.
    pub hide: bool,
}

pub struct Rule {
    pub id: String,
    servers: Vec<Glob>,
    tools: Vec<Glob>,
    agents: Vec<Glob>,
    teams: Vec<Glob>,
    pub allow: bool,
    pub reason: Option<String>,
    pub required: Vec<String>,
    pub forbidden: Vec<Glob>,
    pub args: Vec<(Glob, Constraint)>,
    pub enabled: bool,
}

impl Rule {
    /// Whether the rule is about this call.
    pub fn matches(&self, server: &str, tool: &str, agent: &str, team: &str) -> bool {
        let any = |globs: &[Glob], s: &str| globs.is_empty() || globs.iter().any(|g| g.matches(s));
        self.enabled && any(&self.servers, server) && any(&self.tools, tool) && any(&self.agents, agent) && any(&self.teams, team)
    }
    /// Whether the rule decides a tool's visibility alone (it looks at no argument).
    pub fn unconditional(&self) -> bool {
        self.required.is_empty() && self.forbidden.is_empty() && self.args.is_empty()
    }
}

/// What one argument must satisfy; every check set applies.
#[derive(Default)]
pub struct Constraint {
    pub path_prefix: Vec<Canon<'static>>,
    pub base: Option<Canon<'static>>,
    pub regex: Option<Regex>,
    pub max_length: Option<usize>,
    pub allowed_hosts: Option<(Vec<Glob>, Vec<Cidr>)>,
    pub enumeration: Option<Vec<Value>>,
}

impl Config {
    pub fn parse(raw: &[u8]) -> Result<Config, String> {
        let v = json::parse(raw)?;
        let mut c = Config { rules: Vec::new(), default_allow: true, action: Action::Block, hide: true };
        let members = match &v {
            Value::Null => return Ok(c),
            Value::Object(m) => m,
            _ => return Err("config must be a JSON object".into()),
        };
        let mut disable = Vec::new();
        for (k, val) in members {
            match k.as_str() {
                "default" => {
                    c.default_allow = match val.as_str() {
                        Some("allow") => true,
                        Some("deny") => false,
                        _ => return Err("default must be \"allow\" or \"deny\"".into()),
                    }
                }
                "action" => {
                    c.action = match val.as_str() {
                        Some("block") => Action::Block,
                        Some("monitor") => Action::Monitor,
                        _ => return Err("action must be \"block\" or \"monitor\"".into()),
                    }
                }
                "hide" => c.hide = val.as_bool().ok_or("hide must be true or false")?,
                "disable" => disable = strings(val, "disable")?,
                "rules" => {
                    if !matches!(val, Value::Array(_)) {
                        return Err("rules must be a list".into());
                    }
                    for (i, r) in val.as_array().iter().enumerate() {
                        let rule = parse_rule(r, i)?;
                        if c.rules.iter().any(|x| x.id == rule.id) {
                            return Err(format!("rules: id {:?} is used twice", rule.id));
                        }
                        c.rules.push(rule);
                    }
                }
                other => return Err(format!("unknown key {:?} (default, action, hide, disable, rules)", other)),
            }
        }
        for id in disable {
            match c.rules.iter_mut().find(|r| r.id == id) {
                Some(r) => r.enabled = false,
                None => return Err(format!("disable: no rule {:?}", id)),
            }
        }
        Ok(c)
    }
}

fn parse_rule(v: &Value, i: usize) -> Result<Rule, String> {
    let what = |field: &str| format!("rules[{}].{}", i, field);
    let members = match v {
        Value::Object(m) => m,
        _ => return Err(format!("rules[{}] must be an object", i)),
    };
    let mut r = Rule {
        id: format!("rules[{}]", i),
        servers: Vec::new(),
        tools: Vec::new(),
        agents: Vec::new(),
        teams: Vec::new(),
        allow: true,
        reason: None,
        required: Vec::new(),
        forbidden: Vec::new(),
        args: Vec::new(),
        enabled: true,
    };
    for (k, val) in members {
        match k.as_str() {
            "id" => r.id = val.as_str().filter(|s| !s.is_empty()).ok_or_else(|| format!("{} must be a non-empty string", what("id")))?.to_string(),
            "server" | "servers" => r.servers = globs(val, &what(k))?,
            "tool" | "tools" => r.tools = globs(val, &what(k))?,
            "agent" | "agents" => r.agents = globs(val, &what(k))?,
            "team" | "teams" => r.teams = globs(val, &what(k))?,
            "action" => {
                r.allow = match val.as_str() {
                    Some("allow") => true,
                    Some("deny") => false,
                    _ => return Err(format!("{} must be \"allow\" or \"deny\"", what("action"))),
                }
            }
            "reason" => r.reason = Some(val.as_str().ok_or_else(|| format!("{} must be a string", what("reason")))?.chars().take(200).collect()),
            "required" => r.required = strings(val, &what("required"))?,
            "forbidden" => r.forbidden = globs(val, &what("forbidden"))?,
            "args" => {
                if !matches!(val, Value::Object(_)) {
                    return Err(format!("{} must be an object of argument name to constraint", what("args")));
                }
                for (name, cv) in val.as_object() {
                    let c = parse_constraint(cv, &format!("{}.{}", what("args"), name))?;
                    r.args.push((Glob::new(name), c));
                }
            }
            other => {
                return Err(format!(
                    "{}: unknown key {:?} (id, servers, tools, agents, teams, action, reason, required, forbidden, args)",
                    format!("rules[{}]", i),
                    other
                ))
            }
        }
    }
    if !r.allow && !(r.required.is_empty() && r.forbidden.is_empty() && r.args.is_empty()) {
        return Err(format!("rules[{}]: required, forbidden and args constrain allowed calls; a deny rule cannot have them", i));
    }
    Ok(r)
}

fn parse_constraint(v: &Value, what: &str) -> Result<Constraint, String> {
    let members = match v {
        Value::Object(m) => m,
        _ => return Err(format!("{} must be an object", what)),
    };
    let mut c = Constraint::default();
    for (k, val) in members {
        let at = format!("{}.{}", what, k);
        match k.as_str() {
            "path_prefix" => {
                for s in strings(val, &at)? {
                    let p = normalize(&s).into_owned();
                    if p.anchor == Anchor::Relative || p.dotdot {
                        return Err(format!("{}: {:?} must be an absolute path without ..", at, s));
                    }
                    c.path_prefix.push(p);
                }
                if c.path_prefix.is_empty() {
                    return Err(format!("{} is empty: nothing would be allowed", at));
                }
            }
            "base" => {
                let s = val.as_str().ok_or_else(|| format!("{} must be a string", at))?;
                let p = normalize(s).into_owned();
                if p.anchor == Anchor::Relative || p.dotdot {
                    return Err(format!("{}: {:?} must be an absolute path without ..", at, s));
                }
                c.base = Some(p);
            }
            "regex" => {
                let re = val.as_str().ok_or_else(|| format!("{} must be a string", at))?;
                // Whole-value match, with bounded compiled size (config is data, not code).
                let compiled = RegexBuilder::new(&format!("^(?:{})$", re)).size_limit(1 << 20).dfa_size_limit(1 << 20).build();
                c.regex = Some(compiled.map_err(|e| format!("{}: {}", at, first_line(&e.to_string())))?);
            }
            "max_length" => {
                let n = val.as_f64().filter(|n| *n >= 0.0 && n.fract() == 0.0).ok_or_else(|| format!("{} must be a whole number", at))?;
                c.max_length = Some(n as usize);
            }
            "allowed_hosts" => {
                let (mut gl, mut ranges) = (Vec::new(), Vec::new());
                for s in strings(val, &at)? {
                    let t = s.trim().trim_end_matches('.').to_ascii_lowercase();
                    if t.bytes().next().map_or(false, |b| b.is_ascii_digit() || b == b':' || b == b'[') && !canon::glob::is_glob(&t) {
                        ranges.push(Cidr::parse(&t).map_err(|e| format!("{}: {}", at, e))?);
                    } else if t.is_empty() {
                        return Err(format!("{}: empty host", at));
                    } else {
                        gl.push(Glob::new(&t));
                    }
                }
                c.allowed_hosts = Some((gl, ranges));
            }
            "enum" => {
                let items = match val {
                    Value::Array(a) if !a.is_empty() => a.clone(),
                    _ => return Err(format!("{} must be a non-empty list", at)),
                };
                if items.iter().any(|x| matches!(x, Value::Array(_) | Value::Object(_))) {
                    return Err(format!("{}: values must be strings, numbers, booleans or null", at));
                }
                c.enumeration = Some(items);
            }
            other => return Err(format!("{}: unknown check {:?} (path_prefix, base, regex, max_length, allowed_hosts, enum)", what, other)),
        }
    }
    if c.base.is_some() && c.path_prefix.is_empty() {
        return Err(format!("{}: base needs path_prefix", what));
    }
    Ok(c)
}

fn first_line(s: &str) -> String {
    s.lines().filter(|l| !l.trim().is_empty()).last().unwrap_or(s).trim().chars().take(200).collect()
}

/// A string or a list of strings.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items.iter().map(|i| i.as_str().map(String::from).ok_or_else(|| format!("{} must be a list of strings", what))).collect(),
        _ => Err(format!("{} must be a string or a list of strings", what)),
    }
}

fn globs(v: &Value, what: &str) -> Result<Vec<Glob>, String> {
    Ok(strings(v, what)?.iter().map(|s| Glob::new(s)).collect())
}
