//! The binding config (every key is documented in README.md) and the built-in rules.

use canon::glob;
use canon::keys::{word, Words};
use canon::path::{normalize, Anchor, Canon};
use portcullis::json::{self, Value};

/// The sensitive-file rules: stable id, then path patterns. A pattern starting with `/` or a
/// drive is anchored at the root; any other (and `~/...`) matches its segments anywhere in the
/// path, so `.ssh` catches `/home/alice/.ssh/id_rsa`, `~/.ssh/config` and `../.ssh/x`. `*`
/// matches within one segment. Case is ignored.
pub const DENY: &[(&str, &[&str])] = &[
    ("system_credentials", &["/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/sudoers", "/etc/sudoers.d", "/etc/security/opasswd", "/etc/ssh"]),
    ("root_home", &["/root"]),
    ("process_secrets", &["/proc/*/environ", "/proc/*/mem", "/proc/*/maps", "/proc/*/cmdline", "/proc/*/root", "/proc/*/cwd", "/proc/*/fd", "/proc/kcore"]),
    ("container_secrets", &["/var/run/secrets", "/run/secrets", "/var/run/docker.sock", "/run/docker.sock"]),
    ("ssh_keys", &[".ssh"]),
    ("cloud_credentials", &[".aws", ".config/gcloud", ".azure", ".oci"]),
    ("kube_config", &[".kube"]),
    ("docker_config", &[".docker/config.json"]),
    ("gnupg", &[".gnupg"]),
    ("credential_files", &[".netrc", "_netrc", ".git-credentials", ".pgpass", ".npmrc", ".pypirc", ".vault-token"]),
    ("windows_secrets", &["windows/system32/config", "windows/repair/sam"]),
];

/// The checks that are not path lists (see lib.rs).
const CHECKS: &[&str] = &[crate::TRAVERSAL, crate::ENCODED_TRAVERSAL, crate::ABSOLUTE_DOTDOT, crate::NUL_BYTE, crate::OUTSIDE_ROOTS];

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

/// A sensitive-path pattern.
pub struct Pattern {
    anchored: bool,
    root: String,
    /// Lowercase segments, each with whether it is a glob.
    segments: Vec<(String, bool)>,
}

impl Pattern {
    fn parse(s: &str) -> Result<Pattern, String> {
        let s = s.strip_prefix("~/").unwrap_or(s);
        let c = normalize(s);
        if c.dotdot || c.segments().next().is_none() {
            return Err(format!("deny pattern {:?} is empty or has ..", s));
        }
        Ok(Pattern {
            anchored: c.anchor == Anchor::Root,
            root: c.root().to_string(),
            segments: c.segments().map(|x| (x.to_ascii_lowercase(), glob::is_glob(x))).collect(),
        })
    }

    /// Whether the pattern matches the path whose root and segments are given.
    fn matches(&self, root: &str, segs: &[&str]) -> bool {
        let n = self.segments.len();
        let at = |off: usize| self.segments.iter().zip(&segs[off..]).all(|((pat, g), seg)| seg_eq(pat, *g, seg));
        if self.anchored {
            return root == self.root && segs.len() >= n && at(0);
        }
        segs.len() >= n && (0..=segs.len() - n).any(at)
    }
}

fn seg_eq(pat: &str, is_glob: bool, seg: &str) -> bool {
    if is_glob {
        glob::matches(pat, &seg.to_ascii_lowercase())
    } else {
        pat.len() == seg.len() && pat.as_bytes().eq_ignore_ascii_case(seg.as_bytes())
    }
}

/// A rule blocking sensitive paths.
pub struct DenyRule {
    pub id: String,
    patterns: Vec<Pattern>,
}

/// The deny rules, with a prefilter: the bytes that can start a path segment a pattern
/// begins with, so that most paths are cleared without comparing anything.
pub struct DenyRules {
    pub rules: Vec<DenyRule>,
    /// First bytes (both cases) of the first segment of unanchored patterns, and of anchored
    /// ones (all set when one starts with a wildcard).
    unanchored: [bool; 256],
    anchored: [bool; 256],
}

impl DenyRules {
    fn new(rules: Vec<DenyRule>) -> DenyRules {
        let (mut unanchored, mut anchored) = ([false; 256], [false; 256]);
        for p in rules.iter().flat_map(|r| &r.patterns) {
            let set = if p.anchored { &mut anchored } else { &mut unanchored };
            match p.segments[0].0.as_bytes()[0] {
                b'*' | b'?' => *set = [true; 256],
                c => {
                    set[c as usize] = true;
                    set[c.to_ascii_uppercase() as usize] = true;
                }
            }
        }
        DenyRules { rules, unanchored, anchored }
    }

    /// The rules matching `p`, in order.
    pub fn matching<'a>(&'a self, p: &Canon) -> Vec<&'a str> {
        let first = |s: &str| s.as_bytes()[0] as usize;
        let maybe_anchored = p.anchor == Anchor::Root && p.segments().next().map_or(false, |s| self.anchored[first(s)]);
        let maybe_unanchored = p.segments().any(|s| self.unanchored[first(s)]);
        if !maybe_anchored && !maybe_unanchored {
            return Vec::new();
        }
        let segs: Vec<&str> = p.segments().collect();
        let root = if p.anchor == Anchor::Root { p.root() } else { "" };
        self.rules
            .iter()
            .filter(|r| r.patterns.iter().any(|x| (if x.anchored { maybe_anchored } else { maybe_unanchored }) && x.matches(root, &segs)))
            .map(|r| r.id.as_str())
            .collect()
    }
}

pub struct Config {
    /// Extra path keys (see [`canon::keys::whole`]).
    keys: Vec<u64>,
    pub roots: Vec<Canon<'static>>,
    pub base: Option<Canon<'static>>,
    pub deny: DenyRules,
    pub scan_values: bool,
    action: Action,
    actions: Vec<(String, Action)>,
}

impl Config {
    pub fn parse(raw: &[u8]) -> Result<Config, String> {
        let v = json::parse(raw)?;
        let mut deny: Vec<DenyRule> = DENY.iter().map(|(id, pats)| DenyRule { id: id.to_string(), patterns: pats.iter().map(|p| Pattern::parse(p).unwrap()).collect() }).collect();
        let mut c = Config {
            keys: Vec::new(),
            roots: Vec::new(),
            base: None,
            deny: DenyRules::new(Vec::new()),
            scan_values: true,
            action: Action::Block,
            actions: Vec::new(),
        };
        let members = match &v {
            Value::Null => {
                c.deny = DenyRules::new(deny);
                return Ok(c);
            }
            Value::Object(m) => m,
            _ => return Err("config must be a JSON object".into()),
        };
        let mut disable: Vec<String> = Vec::new();
        for (k, val) in members {
            match k.as_str() {
                "keys" => {
                    for s in strings(val, "keys")? {
                        c.keys.push(canon::keys::whole(s).ok_or_else(|| format!("keys: {:?} has no letters or digits", s))?);
                    }
                }
                "roots" => {
                    for s in strings(val, "roots")? {
                        c.roots.push(anchored(s, "roots")?);
                    }
                }
                "base" => {
                    let s = val.as_str().ok_or("base must be a string")?;
                    c.base = Some(anchored(s, "base")?);
                }
                "deny" => {
                    for item in val.as_array() {
                        match item {
                            Value::String(s) => custom(&mut deny, "deny").patterns.push(Pattern::parse(s)?),
                            Value::Object(_) => {
                                let id = item.get("id").and_then(Value::as_str).ok_or("deny: an object needs an \"id\"")?;
                                if DENY.iter().any(|(d, _)| *d == id) || CHECKS.contains(&id) {
                                    return Err(format!("deny: id {:?} is a built-in rule", id));
                                }
                                let pats = strings(item.get("paths").unwrap_or(&Value::Null), "deny[].paths")?;
                                if pats.is_empty() {
                                    return Err(format!("deny: rule {:?} has no paths", id));
                                }
                                let rule = custom(&mut deny, id);
                                for p in pats {
                                    rule.patterns.push(Pattern::parse(p)?);
                                }
                            }
                            _ => return Err("deny: items must be paths or {id, paths} objects".into()),
                        }
                    }
                    if !matches!(val, Value::Array(_)) {
                        return Err("deny must be a list".into());
                    }
                }
                "disable" => disable = strings(val, "disable")?.into_iter().map(String::from).collect(),
                "scan_values" => c.scan_values = val.as_bool().ok_or("scan_values must be true or false")?,
                "action" => {
                    c.action = Action::parse(val, "action")?;
                    if c.action == Action::Off {
                        return Err("action must be \"block\" or \"monitor\"".into());
                    }
                }
                "actions" => {
                    for (id, a) in val.as_object() {
                        c.actions.push((id.clone(), Action::parse(a, &format!("actions.{}", id))?));
                    }
                    if !matches!(val, Value::Object(_)) {
                        return Err("actions must be an object of rule id to action".into());
                    }
                }
                other => return Err(format!("unknown key {:?} (keys, roots, base, deny, disable, scan_values, action, actions)", other)),
            }
        }
        for id in disable {
            c.actions.push((id, Action::Off));
        }
        c.deny = DenyRules::new(deny);
        for (id, _) in &c.actions {
            if !CHECKS.contains(&id.as_str()) && !c.deny.rules.iter().any(|r| &r.id == id) {
                return Err(format!("no rule {:?}", id));
            }
        }
        if c.base.is_none() {
            c.base = c.roots.first().cloned();
        }
        Ok(c)
    }

    /// What to do when rule `id` finds something.
    pub fn action_for(&self, id: &str) -> Action {
        for (r, a) in self.actions.iter().rev() {
            if r == id {
                return if *a == Action::Off { Action::Off } else if self.action == Action::Monitor { Action::Monitor } else { *a };
            }
        }
        self.action
    }

    /// Whether values under the raw JSON key `key` are paths: its last word (`file_path`,
    /// `outputDir`, `projectRoot`) or the whole key (`source`, `dest`) says so, ignoring case and
    /// punctuation, or the config lists it.
    pub fn is_path_key(&self, key: &[u8]) -> bool {
        if key.is_empty() || key.len() > 64 {
            return false;
        }
        let w = Words::of(key);
        w.is(&LAST_WORDS, &WHOLE_KEYS) || w.whole.map_or(false, |x| self.keys.contains(&x))
    }
}

/// Last words of keys whose values are paths.
const LAST_WORDS: [u64; 15] = [
    word("path"),
    word("paths"),
    word("file"),
    word("files"),
    word("filename"),
    word("filenames"),
    word("dir"),
    word("dirs"),
    word("directory"),
    word("directories"),
    word("folder"),
    word("folders"),
    word("root"),
    word("roots"),
    word("cwd"),
];

/// Whole keys (letters and digits only) whose values are paths.
const WHOLE_KEYS: [u64; 9] = [word("source"), word("sources"), word("src"), word("destination"), word("dest"), word("dst"), word("target"), word("pathname"), word("workdir")];

fn custom<'a>(rules: &'a mut Vec<DenyRule>, id: &str) -> &'a mut DenyRule {
    if let Some(i) = rules.iter().position(|r| r.id == id) {
        return &mut rules[i];
    }
    rules.push(DenyRule { id: id.to_string(), patterns: Vec::new() });
    rules.last_mut().unwrap()
}

fn strings<'a>(v: &'a Value, what: &str) -> Result<Vec<&'a str>, String> {
    match v {
        Value::Array(items) => items.iter().map(|i| i.as_str().ok_or_else(|| format!("{} must be a list of strings", what))).collect(),
        _ => Err(format!("{} must be a list of strings", what)),
    }
}

fn anchored(s: &str, what: &str) -> Result<Canon<'static>, String> {
    let c = normalize(s).into_owned();
    if c.anchor == Anchor::Relative || c.dotdot {
        return Err(format!("{}: {:?} must be an absolute path without ..", what, s));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys() {
        let c = Config::parse(br#"{"keys":["log_location"]}"#).unwrap();
        for k in ["path", "file_path", "filePath", "outputDir", "projectRoot", "paths", "source", "dest", "workingDirectory", "FILE", "logLocation", "filename"] {
            assert!(c.is_path_key(k.as_bytes()), "{}", k);
        }
        for k in ["profile", "message", "content", "query", "url", "name", "pathology", "sourcemap", "targeted", ""] {
            assert!(!c.is_path_key(k.as_bytes()), "{}", k);
        }
    }

    #[test]
    fn patterns() {
        let m = |pat: &str, path: &str| {
            let rules = DenyRules::new(vec![DenyRule { id: "x".into(), patterns: vec![Pattern::parse(pat).unwrap()] }]);
            let c = normalize(path);
            let hit = rules.matching(&c).len() == 1;
            hit
        };
        assert!(m("/proc/*/environ", "/proc/self/environ"));
        assert!(m("/proc/*/environ", "/PROC/1/environ"));
        assert!(!m("/proc/*/environ", "/proc/self/status"));
        assert!(!m("/proc/*/environ", "proc/self/environ"));
        assert!(m("~/.ssh", "/home/alice/.ssh/id_rsa"));
        assert!(m("~/.ssh", "~/.ssh"));
        assert!(m("~/.ssh", "C:\\Users\\bob\\.SSH\\id_ed25519"));
        assert!(!m("~/.ssh", "/home/alice/ssh/notes"));
        assert!(m("*.pem", "certs/server.PEM"));
        assert!(m("/etc/shadow", "/etc/shadow"));
        assert!(!m("/etc/shadow", "c:/etc/shadow"));
        assert!(Pattern::parse("../x").is_err());
    }

    #[test]
    fn bad_configs() {
        for (raw, want) in [
            (r#"[]"#, "object"),
            (r#"{"roots":["relative/dir"]}"#, "absolute"),
            (r#"{"roots":"/srv"}"#, "list of strings"),
            (r#"{"disable":["no_such_rule"]}"#, "no rule"),
            (r#"{"action":"redact"}"#, "action"),
            (r#"{"rots":["/srv"]}"#, "unknown key"),
            (r#"{"deny":[{"id":"ssh_keys","paths":["/x"]}]}"#, "built-in"),
            (r#"{"deny":[{"id":"x"}]}"#, "list of strings"),
            (r#"{"roots":["/srv"],"#, "json"),
        ] {
            match Config::parse(raw.as_bytes()) {
                Ok(_) => panic!("{} parsed", raw),
                Err(e) => assert!(e.contains(want), "{}: {}", raw, e),
            }
        }
        assert!(Config::parse(b"").is_ok());
        assert!(Config::parse(br#"{"disable":["ssh_keys","traversal"],"deny":["/srv/private",{"id":"hr","paths":["/data/hr"]}],"actions":{"hr":"monitor"}}"#).is_ok());
    }
}
