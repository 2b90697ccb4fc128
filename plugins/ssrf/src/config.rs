//! The binding config; every key is documented in README.md.

use crate::rules;
use canon::glob::{self, Glob};
use canon::ip::{Cidr, Ip};
use canon::keys::{word, Words};
use portcullis::json::{self, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Block,
    Monitor,
    Off,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Monitor => "monitor",
            Action::Off => "off",
        }
    }
    fn parse(v: &Value, what: &str) -> Result<Action, String> {
        match v.as_str() {
            Some("block") => Ok(Action::Block),
            Some("monitor") => Ok(Action::Monitor),
            Some("off") => Ok(Action::Off),
            _ => Err(format!("{} must be \"block\", \"monitor\" or \"off\"", what)),
        }
    }
}

/// Hosts given in the config: name globs (lowercase) and address ranges.
#[derive(Default)]
pub struct HostSet {
    globs: Vec<Glob>,
    ranges: Vec<Cidr>,
}

impl HostSet {
    fn add(&mut self, s: &str) -> Result<(), String> {
        let t = s.trim().to_ascii_lowercase();
        if t.is_empty() {
            return Err("empty host".into());
        }
        if t.bytes().next().map_or(false, |b| b.is_ascii_digit() || b == b':' || b == b'[') && !glob::is_glob(&t) {
            self.ranges.push(Cidr::parse(&t)?);
        } else {
            self.globs.push(Glob::new(t.trim_end_matches('.')));
        }
        Ok(())
    }
    /// Whether the host (canonical text, and its address if it is one) is in the set.
    pub fn contains(&self, text: &str, ip: Option<Ip>) -> bool {
        self.globs.iter().any(|g| g.matches(text)) || ip.map_or(false, |a| self.ranges.iter().any(|r| r.contains(a)))
    }
}

/// The host-name rules, grouped by the last label their patterns end with, so that a host is
/// compared with the few patterns that could match it (`docs.example.com`: those ending in `com`).
pub struct NameRules {
    groups: Vec<(String, Vec<(&'static str, Glob)>)>,
}

impl NameRules {
    fn new() -> NameRules {
        let mut groups: Vec<(String, Vec<(&'static str, Glob)>)> = Vec::new();
        for (id, globs) in rules::NAMES {
            for g in *globs {
                let last = g.rsplit('.').next().unwrap_or(g);
                debug_assert!(!glob::is_glob(last), "name patterns end in a literal label");
                match groups.iter_mut().find(|(l, _)| l == last) {
                    Some((_, v)) => v.push((id, Glob::new(g))),
                    None => groups.push((last.to_string(), vec![(id, Glob::new(g))])),
                }
            }
        }
        NameRules { groups }
    }

    /// The rules matching the canonical name `n`, in table order, each once.
    pub fn matching(&self, n: &str) -> Vec<&'static str> {
        let last = n.rsplit('.').next().unwrap_or(n);
        let mut ids: Vec<&'static str> = Vec::new();
        for (_, pats) in self.groups.iter().filter(|(l, _)| l == last) {
            for (id, g) in pats {
                if !ids.contains(id) && g.matches(n) {
                    ids.push(id);
                }
            }
        }
        // Table order, so that `metadata` names the finding first.
        ids.sort_by_key(|id| rules::NAMES.iter().position(|(x, _)| x == id));
        ids
    }
}

pub struct Config {
    keys: Vec<u64>,
    /// The name rules of rules.rs, compiled.
    pub names: NameRules,
    /// When set, the only schemes allowed.
    pub schemes: Option<Vec<String>>,
    pub deny_schemes: Vec<String>,
    pub allow_hosts: HostSet,
    pub deny_hosts: HostSet,
    pub embedded: bool,
    action: Action,
    actions: Vec<(String, Action)>,
}

/// Last words of keys whose values are URLs or hosts...
const URL_WORDS: [u64; 22] = [
    word("url"),
    word("urls"),
    word("uri"),
    word("uris"),
    word("href"),
    word("link"),
    word("links"),
    word("endpoint"),
    word("endpoints"),
    word("host"),
    word("hosts"),
    word("hostname"),
    word("domain"),
    word("domains"),
    word("ip"),
    word("addr"),
    word("address"),
    word("webhook"),
    word("callback"),
    word("proxy"),
    word("origin"),
    word("server"),
];
/// ...and whole keys.
const URL_KEYS: [u64; 3] = [word("baseurl"), word("redirecturi"), word("remote")];

impl Config {
    pub fn parse(raw: &[u8]) -> Result<Config, String> {
        let v = json::parse(raw)?;
        let mut c = Config {
            keys: Vec::new(),
            names: NameRules::new(),
            schemes: None,
            deny_schemes: rules::DENY_SCHEMES.iter().map(|s| s.to_string()).collect(),
            allow_hosts: HostSet::default(),
            deny_hosts: HostSet::default(),
            embedded: false,
            action: Action::Block,
            actions: Vec::new(),
        };
        let members = match &v {
            Value::Null => return Ok(c),
            Value::Object(m) => m,
            _ => return Err("config must be a JSON object".into()),
        };
        for (k, val) in members {
            match k.as_str() {
                "keys" => {
                    for s in strings(val, "keys")? {
                        c.keys.push(canon::keys::whole(s).ok_or_else(|| format!("keys: {:?} has no letters or digits", s))?);
                    }
                }
                "schemes" => c.schemes = Some(schemes(val, "schemes")?),
                "deny_schemes" => c.deny_schemes = schemes(val, "deny_schemes")?,
                "allow_hosts" => {
                    for s in strings(val, "allow_hosts")? {
                        c.allow_hosts.add(s).map_err(|e| format!("allow_hosts: {}", e))?;
                    }
                }
                "allow_private" => {
                    for s in strings(val, "allow_private")? {
                        c.allow_hosts.ranges.push(Cidr::parse(s.trim()).map_err(|e| format!("allow_private: {}", e))?);
                    }
                }
                "deny_hosts" => {
                    for s in strings(val, "deny_hosts")? {
                        c.deny_hosts.add(s).map_err(|e| format!("deny_hosts: {}", e))?;
                    }
                }
                "embedded" => c.embedded = val.as_bool().ok_or("embedded must be true or false")?,
                "disable" => {
                    for id in strings(val, "disable")? {
                        c.actions.push((id.to_string(), Action::Off));
                    }
                }
                "action" => {
                    c.action = Action::parse(val, "action")?;
                    if c.action == Action::Off {
                        return Err("action must be \"block\" or \"monitor\"".into());
                    }
                }
                "actions" => {
                    if !matches!(val, Value::Object(_)) {
                        return Err("actions must be an object of rule id to action".into());
                    }
                    for (id, a) in val.as_object() {
                        c.actions.push((id.clone(), Action::parse(a, &format!("actions.{}", id))?));
                    }
                }
                other => {
                    return Err(format!(
                        "unknown key {:?} (keys, schemes, deny_schemes, allow_hosts, allow_private, deny_hosts, embedded, disable, action, actions)",
                        other
                    ))
                }
            }
        }
        for (id, _) in &c.actions {
            if !rules::ids().any(|r| r == id) {
                return Err(format!("no rule {:?}", id));
            }
        }
        Ok(c)
    }

    /// What to do when rule `id` finds something.
    pub fn action_for(&self, id: &str) -> Action {
        for (r, a) in self.actions.iter().rev() {
            if r == id {
                return if self.action == Action::Monitor { a.min_monitor() } else { *a };
            }
        }
        self.action
    }

    /// Whether values under the raw JSON key `key` are URLs or hosts.
    pub fn is_url_key(&self, key: &[u8]) -> bool {
        if key.is_empty() || key.len() > 64 {
            return false;
        }
        let w = Words::of(key);
        w.is(&URL_WORDS, &URL_KEYS) || w.whole.map_or(false, |x| self.keys.contains(&x))
    }

    /// Whether a scheme is blocked.
    pub fn scheme_blocked(&self, scheme: &str) -> bool {
        match &self.schemes {
            Some(allowed) => !allowed.iter().any(|s| s == scheme),
            None => self.deny_schemes.iter().any(|s| s == scheme),
        }
    }
}

impl Action {
    /// Under a global `monitor`, a rule's block only reports.
    fn min_monitor(self) -> Action {
        if self == Action::Block {
            Action::Monitor
        } else {
            self
        }
    }
}

fn strings<'a>(v: &'a Value, what: &str) -> Result<Vec<&'a str>, String> {
    match v {
        Value::Array(items) => items.iter().map(|i| i.as_str().ok_or_else(|| format!("{} must be a list of strings", what))).collect(),
        _ => Err(format!("{} must be a list of strings", what)),
    }
}

fn schemes(v: &Value, what: &str) -> Result<Vec<String>, String> {
    strings(v, what)?
        .into_iter()
        .map(|s| {
            let t = s.trim().trim_end_matches(':').to_ascii_lowercase();
            if canon::url::scheme_len(format!("{}:", t).as_bytes()) == Some(t.len()) {
                Ok(t)
            } else {
                Err(format!("{}: {:?} is not a URL scheme", what, s))
            }
        })
        .collect()
}
