//! The binding config (see README.md), checked strictly: unknown keys and rule ids are errors.

use crate::prefilter::Anchors;
use crate::rules::{INVISIBLE, RULES};
use portcullis::json::{self, Value};
use regex::bytes::{Regex, RegexBuilder};
use std::cell::RefCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Block,
    Drop,
    Monitor,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Drop => "drop",
            Action::Monitor => "monitor",
        }
    }
}

pub struct Config {
    pub threshold: f64,
    /// For tool results (any server-to-client message) and for tool descriptions.
    pub results: Action,
    pub tools: Action,
    /// Rule ids and weights: the pattern rules, then the invisible-character rules. A disabled
    /// rule has weight 0 and no pattern.
    pub ids: Vec<String>,
    pub weights: Vec<f64>,
    /// The pattern of each pattern rule, indexed like `ids`; compiled when a text first wakes
    /// the rule (see [`Config::matches`]).
    patterns: Vec<String>,
    compiled: RefCell<Vec<Option<Regex>>>,
    /// Index of the first invisible-character rule in `ids`.
    pub invisible: usize,
    pub anchors: Anchors,
}

fn number(v: &Value, key: &str) -> Result<f64, String> {
    match v.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("{} must be a number, 0 or more", key)),
    }
}

fn strings<'a>(v: &'a Value, key: &str) -> Result<Vec<&'a str>, String> {
    match v {
        Value::Array(a) => a.iter().map(|x| x.as_str().ok_or_else(|| format!("{} must be a list of strings", key))).collect(),
        _ => Err(format!("{} must be a list of strings", key)),
    }
}

fn action(v: &Value, key: &str, allowed: &[Action]) -> Result<Action, String> {
    let a = match v.as_str() {
        Some("block") => Action::Block,
        Some("drop") => Action::Drop,
        Some("monitor") => Action::Monitor,
        _ => Action::Block, // reported below
    };
    if !allowed.contains(&a) || v.as_str().map_or(true, |s| s != a.name()) {
        let names: Vec<String> = allowed.iter().map(|a| format!("{:?}", a.name())).collect();
        return Err(format!("{} must be {}", key, names.join(" or ")));
    }
    Ok(a)
}

/// Expands the `{a|b}` groups of an anchor: `{do not|never} tell` is two anchors.
pub fn expand(anchor: &str) -> Vec<String> {
    let (open, close) = match (anchor.find('{'), anchor.find('}')) {
        (Some(o), Some(c)) if o < c => (o, c),
        _ => return vec![anchor.to_string()],
    };
    let rest = expand(&anchor[close + 1..]);
    let mut out = Vec::new();
    for alt in anchor[open + 1..close].split('|') {
        for r in &rest {
            out.push(format!("{}{}{}", &anchor[..open], alt, r));
        }
    }
    out
}

/// Patterns run on normalized (lowercase) text with ASCII semantics, which keeps them small and
/// fast; case-insensitive so that custom patterns may use capitals.
pub fn compile(p: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(p).unicode(false).case_insensitive(true).size_limit(1 << 20).build()
}

impl Config {
    /// Whether the pattern of rule `i` matches `text`; the pattern is compiled the first time.
    /// (Used in place: a clone of a Regex starts with empty caches, which would make every
    /// call rebuild its automaton.)
    pub fn matches(&self, i: usize, text: &[u8]) -> bool {
        {
            let mut c = self.compiled.borrow_mut();
            if c[i].is_none() {
                c[i] = compile(&self.patterns[i]).ok();
            }
        }
        self.compiled.borrow()[i].as_ref().map_or(false, |re| re.is_match(text))
    }
}

pub fn parse(raw: &[u8]) -> Result<Config, String> {
    let v = json::parse(raw)?;
    let members: &[(String, Value)] = match &v {
        Value::Null => &[],
        Value::Object(m) => m,
        _ => return Err("the config must be an object".into()),
    };
    let mut ids: Vec<String> = RULES.iter().map(|r| r.id.to_string()).collect();
    let mut weights: Vec<f64> = RULES.iter().map(|r| r.weight).collect();
    let mut patterns: Vec<String> = RULES.iter().map(|r| r.pattern.to_string()).collect();
    let mut anchors: Vec<Vec<String>> = RULES.iter().map(|r| r.anchors.iter().flat_map(|s| expand(s)).collect()).collect();
    // Custom rules come after the built-in pattern rules, before the invisible ones.
    if let Some(rules) = v.get("rules") {
        if !matches!(rules, Value::Array(_)) {
            return Err("rules must be a list of {id, pattern, weight, anchors}".into());
        }
        for (i, r) in rules.as_array().iter().enumerate() {
            let at = format!("rules[{}]", i);
            for (k, _) in r.as_object() {
                if !matches!(k.as_str(), "id" | "pattern" | "weight" | "anchors") {
                    return Err(format!("{}: unknown key {:?} (id, pattern, weight, anchors)", at, k));
                }
            }
            let id = r.get("id").and_then(Value::as_str).ok_or_else(|| format!("{}.id must be a string", at))?;
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(format!("{}.id must be 1-64 letters, digits, '_' or '-'", at));
            }
            if ids.iter().any(|x| x == id) || INVISIBLE.iter().any(|x| x.0 == id) {
                return Err(format!("{}.id {:?} is already a rule", at, id));
            }
            let pattern = r.get("pattern").and_then(Value::as_str).ok_or_else(|| format!("{}.pattern must be a string", at))?;
            let weight = match r.get("weight") {
                None => 1.0,
                Some(w) => number(w, &format!("{}.weight", at))?,
            };
            let words = match r.get("anchors") {
                None => Vec::new(),
                Some(a) => strings(a, &format!("{}.anchors", at))?.iter().flat_map(|s| expand(s)).collect(),
            };
            if ids.len() >= 63 {
                return Err(format!("{}: at most {} custom rules", at, 63 - RULES.len()));
            }
            ids.push(id.to_string());
            weights.push(weight);
            patterns.push(pattern.to_string());
            anchors.push(words);
        }
    }
    let invisible = ids.len();
    for (id, w) in INVISIBLE {
        ids.push(id.to_string());
        weights.push(*w);
    }
    let mut threshold = 1.0;
    let (mut results, mut tools) = (Action::Block, Action::Drop);
    let mut enabled = vec![true; ids.len()];
    for (k, val) in members {
        match k.as_str() {
            "rules" => {}
            "threshold" => {
                threshold = number(val, "threshold")?;
                if threshold == 0.0 {
                    return Err("threshold must be more than 0".into());
                }
            }
            "action" => match val {
                Value::Object(m) => {
                    for (d, a) in m {
                        match d.as_str() {
                            "results" => results = action(a, "action.results", &[Action::Block, Action::Monitor])?,
                            "tools" => tools = action(a, "action.tools", &[Action::Drop, Action::Block, Action::Monitor])?,
                            _ => return Err(format!("action: unknown key {:?} (results, tools)", d)),
                        }
                    }
                }
                _ => {
                    let a = action(val, "action", &[Action::Block, Action::Monitor])?;
                    results = a;
                    tools = a;
                }
            },
            "disable" => {
                for id in strings(val, "disable")? {
                    match ids.iter().position(|x| x == id) {
                        Some(i) => enabled[i] = false,
                        None => return Err(format!("disable: unknown rule {:?}", id)),
                    }
                }
            }
            "weights" => {
                if !matches!(val, Value::Object(_)) {
                    return Err("weights must be an object of rule id to number".into());
                }
                for (id, w) in val.as_object() {
                    let i = ids.iter().position(|x| x == id).ok_or_else(|| format!("weights: unknown rule {:?}", id))?;
                    weights[i] = number(w, &format!("weights.{}", id))?;
                }
            }
            _ => return Err(format!("unknown key {:?} (threshold, action, disable, weights, rules)", k)),
        }
    }
    for (i, on) in enabled.iter().enumerate() {
        if !on {
            weights[i] = 0.0;
        }
    }
    // Custom patterns are compiled now, to report a bad one; the built-in ones (tested) when a
    // text first needs them, since compiling all of them takes longer than a call may.
    let mut compiled: Vec<Option<Regex>> = vec![None; invisible];
    for i in RULES.len()..invisible {
        let re = compile(&patterns[i])
            .map_err(|e| format!("rules[{}].pattern: {}", i - RULES.len(), e.to_string().lines().last().unwrap_or("invalid")))?;
        compiled[i] = Some(re);
    }
    let (mut always, mut all, mut tags, mut images) = (0u64, 0u64, 0u64, 0u64);
    let mut words: Vec<(String, u64)> = Vec::new();
    debug_assert!(expand("{a|b} c{|d}") == ["a c", "a cd", "b c", "b cd"]);
    for i in 0..invisible {
        if !enabled[i] || weights[i] == 0.0 {
            continue;
        }
        let bit = 1u64 << i;
        all |= bit;
        words.extend(anchors[i].iter().map(|w| (w.clone(), bit)));
        match ids[i].as_str() {
            "hidden_tags" => tags |= bit,
            "image_url_params" | "image_url_template" => images |= bit,
            // A custom rule without anchors must look at every text.
            _ if i >= RULES.len() && anchors[i].is_empty() => always |= bit,
            _ => {}
        }
    }
    Ok(Config {
        threshold,
        results,
        tools,
        ids,
        weights,
        patterns,
        compiled: RefCell::new(compiled),
        invisible,
        anchors: Anchors::new(words.iter().map(|(w, b)| (w.as_str(), *b)), always, all, tags, images),
    })
}
