//! The built-in rules, as data. Ids are stable: operators name them in `disable`, events and
//! block reasons carry them, and redactions write `[REDACTED:<id>]`.
//!
//! An anchored rule fires where one of its anchors starts a token (the byte before is not a
//! letter or digit); its regex must then match there (it is anchored), within `max_len` bytes,
//! and the match passes the rule's check. A regex group named `secret` narrows what is reported
//! and redacted (e.g. the key of `AccountKey=<key>`). Formats are the providers' documented ones.

/// Extra validation after the regex matched.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Check {
    /// The token ends at a non-alphanumeric byte and is not an obvious placeholder
    /// (`EXAMPLE`, `xxxxxx`, a run of one character).
    Token,
    /// As `Token`, and the part after the anchor mixes letters and digits or cases: for prefixes
    /// like `sk-` that also start ordinary kebab-case words.
    Random,
    /// Three base64url parts whose first decodes to a JSON object with an `alg` member.
    Jwt,
    /// A `BEGIN ... PRIVATE KEY` line: the finding runs to the matching `END` line, or to the
    /// end of the text when the block is cut.
    PrivateKey,
}

pub struct Rule {
    pub id: &'static str,
    pub what: &'static str,
    pub anchors: &'static [&'static str],
    pub regex: &'static str,
    pub max_len: usize,
    pub check: Check,
}

const fn r(id: &'static str, what: &'static str, anchors: &'static [&'static str], regex: &'static str, max_len: usize, check: Check) -> Rule {
    Rule { id, what, anchors, regex, max_len, check }
}

use Check::*;

pub static RULES: &[Rule] = &[
    // Cloud providers.
    r("aws_access_key_id", "AWS access key id (AKIA, ASIA, ABIA, ACCA)", &["AKIA", "ASIA", "ABIA", "ACCA"], r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}", 20, Token),
    r("gcp_api_key", "Google Cloud / Firebase API key (AIza...)", &["AIza"], r"AIza[0-9A-Za-z_-]{35}", 39, Token),
    r("google_oauth_client_secret", "Google OAuth client secret (GOCSPX-...)", &["GOCSPX-"], r"GOCSPX-[0-9A-Za-z_-]{28}", 35, Token),
    r("google_oauth_access_token", "Google OAuth access token (ya29....)", &["ya29."], r"ya29\.[0-9A-Za-z_-]{30,}", 2048, Random),
    r("google_oauth_refresh_token", "Google OAuth refresh token (1//0...)", &["1//0"], r"1//0[0-9A-Za-z_-]{40,}", 512, Random),
    r("azure_storage_key", "Azure storage account key in a connection string (AccountKey=...)", &["AccountKey="], r"AccountKey=(?P<secret>[A-Za-z0-9+/]{86}==)", 99, Token),
    r("azure_shared_access_key", "Azure Service Bus / Event Hubs / IoT key (SharedAccessKey=...)", &["SharedAccessKey="], r"SharedAccessKey=(?P<secret>[A-Za-z0-9+/]{43}=)", 60, Token),
    r("azure_sas_signature", "Azure shared access signature (sig= of a SAS URL)", &["sig="], r"sig=(?P<secret>(?:[A-Za-z0-9+/]|%2[BbFf]){42,}(?:=|%3[Dd]){0,2})", 200, Token),
    // Code hosts and package registries.
    r("github_token", "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)", &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"], r"gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", 255, Token),
    r("gitlab_token", "GitLab token (glpat-, gldt-, glrt-, glptt-, glft-, glsoat-, gloas-, glimt-, glcbt-, glagent-)", &["glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glsoat-", "gloas-", "glimt-", "glcbt-", "glagent-"], r"gl(?:pat|dt|rt|ptt|ft|soat|oas|imt|cbt|agent)-[0-9A-Za-z_.-]{20,}", 255, Random),
    r("npm_token", "npm access token (npm_...)", &["npm_"], r"npm_[A-Za-z0-9]{36}", 40, Token),
    r("pypi_token", "PyPI / TestPyPI upload token (pypi-AgE...)", &["pypi-AgE"], r"pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,}", 512, Token),
    r("docker_hub_token", "Docker Hub personal access token (dckr_pat_...)", &["dckr_pat_"], r"dckr_pat_[A-Za-z0-9_-]{27,}", 128, Token),
    // Chat and messaging.
    r("slack_token", "Slack token (xoxb-, xoxp-, xoxa-, xoxo-, xoxr-, xoxs-, xapp-)", &["xoxb-", "xoxp-", "xoxa-", "xoxo-", "xoxr-", "xoxs-", "xapp-"], r"xox[abposr]-[0-9A-Za-z-]{20,}|xapp-[0-9]-[A-Z0-9]{4,}-[0-9]+-[a-z0-9]{8,}", 255, Random),
    r("slack_webhook", "Slack incoming webhook or workflow URL (hooks.slack.com/...)", &["hooks.slack.com/"], r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}", 255, Token),
    r("discord_webhook", "Discord webhook URL (discord.com/api/webhooks/...)", &["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"], r"discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]{50,}", 255, Token),
    r("twilio_api_key", "Twilio API key SID (SK + 32 hex)", &["SK"], r"SK[0-9a-fA-F]{32}", 34, Token),
    r("sendgrid_api_key", "SendGrid API key (SG.xxx.yyy)", &["SG."], r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", 69, Token),
    r("mailgun_api_key", "Mailgun API key (key- + 32 hex)", &["key-"], r"key-[0-9a-f]{32}", 36, Token),
    // Payments and SaaS.
    r("stripe_key", "Stripe live secret or restricted key, webhook secret (sk_live_, rk_live_, whsec_)", &["sk_live_", "rk_live_", "whsec_"], r"[sr]k_live_[0-9A-Za-z]{20,247}|whsec_[A-Za-z0-9+/=]{32,}", 255, Token),
    r("square_token", "Square access token or application secret (sq0atp-, sq0csp-)", &["sq0atp-", "sq0csp-"], r"sq0(?:atp|csp)-[0-9A-Za-z_-]{22,60}", 67, Token),
    r("shopify_token", "Shopify access token or shared secret (shpat_, shpca_, shppa_, shpss_)", &["shpat_", "shpca_", "shppa_", "shpss_"], r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}", 38, Token),
    r("atlassian_api_token", "Atlassian API token (ATATT3...)", &["ATATT3"], r"ATATT3[A-Za-z0-9_=-]{150,}", 512, Token),
    r("linear_api_key", "Linear API key (lin_api_...)", &["lin_api_"], r"lin_api_[A-Za-z0-9]{40}", 48, Token),
    r("postman_api_key", "Postman API key (PMAK-...)", &["PMAK-"], r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}", 64, Token),
    r("newrelic_api_key", "New Relic user API key (NRAK-...)", &["NRAK-"], r"NRAK-[A-Z0-9]{27}", 32, Token),
    r("sentry_token", "Sentry auth token (sntrys_, sntryu_)", &["sntrys_", "sntryu_"], r"sntry[su]_[A-Za-z0-9+/=_-]{40,}", 512, Token),
    // AI providers.
    r("anthropic_api_key", "Anthropic API or admin key (sk-ant-...)", &["sk-ant-"], r"sk-ant-[a-z]{2,8}[0-9]{2}-[A-Za-z0-9_-]{32,}", 255, Token),
    r("openai_api_key", "OpenAI and OpenAI-style API key (sk-, sk-proj-, sk-svcacct-, sk-admin-)", &["sk-"], r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}", 255, Random),
    r("huggingface_token", "Hugging Face token (hf_...)", &["hf_"], r"hf_[A-Za-z0-9]{34,}", 64, Random),
    r("groq_api_key", "Groq API key (gsk_...)", &["gsk_"], r"gsk_[A-Za-z0-9]{48,}", 64, Token),
    r("replicate_token", "Replicate API token (r8_...)", &["r8_"], r"r8_[A-Za-z0-9]{37}", 40, Random),
    // Infrastructure.
    r("digitalocean_token", "DigitalOcean token (dop_v1_, doo_v1_, dor_v1_)", &["dop_v1_", "doo_v1_", "dor_v1_"], r"do[por]_v1_[a-f0-9]{64}", 71, Token),
    r("vault_token", "HashiCorp Vault token (hvs., hvb.)", &["hvs.", "hvb."], r"hv[sb]\.[A-Za-z0-9_-]{24,}", 512, Random),
    r("databricks_token", "Databricks personal access token (dapi + 32 hex)", &["dapi"], r"dapi[a-f0-9]{32}(?:-[0-9]+)?", 40, Token),
    r("doppler_token", "Doppler token (dp.pt., dp.st., dp.sa., dp.ct., dp.scim., dp.audit.)", &["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."], r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}", 128, Token),
    r("grafana_token", "Grafana Cloud or service account token (glc_, glsa_)", &["glc_", "glsa_"], r"glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}", 512, Random),
    r("supabase_token", "Supabase personal access token (sbp_ + 40 hex)", &["sbp_"], r"sbp_[a-f0-9]{40}", 44, Token),
    r("age_secret_key", "age encryption secret key (AGE-SECRET-KEY-1...)", &["AGE-SECRET-KEY-1"], r"AGE-SECRET-KEY-1[0-9A-Z]{58}", 74, Token),
    // Structural.
    r("private_key", "PEM / OpenSSH / PGP private key block (-----BEGIN ... PRIVATE KEY-----)", &["-----BEGIN "], r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----", 80, PrivateKey),
    r("jwt", "JSON Web Token (eyJ... . ... . ...) whose header decodes to JSON with alg", &["eyJ"], r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", 16384, Jwt),
];

/// Rules found by context rather than by an anchor (see scan.rs). Their indexes follow RULES.
pub static CONTEXT_RULES: &[(&str, &str)] = &[
    ("aws_secret_access_key", "AWS secret access key: 40 base64 characters assigned to a name with aws and secret (or SecretAccessKey)"),
    ("connection_string", "password in a URL or connection string (scheme://user:password@host)"),
    ("generic_secret", "high-entropy value assigned to a secret-like name (password, secret, token, api_key, ...), in text or as a JSON member"),
];

pub const AWS_SECRET: usize = 0;
pub const CONNECTION_STRING: usize = 1;
pub const GENERIC: usize = 2;

/// The number of built-in rules; custom rules are numbered from here.
pub fn builtin_count() -> usize {
    RULES.len() + CONTEXT_RULES.len()
}

/// The index of a context rule.
pub fn context(i: usize) -> usize {
    RULES.len() + i
}

/// The id of built-in rule `i`.
pub fn builtin_id(i: usize) -> &'static str {
    if i < RULES.len() {
        RULES[i].id
    } else {
        CONTEXT_RULES[i - RULES.len()].0
    }
}

/// Names (normalized: lowercase, without `_`, `-` and `.`) that make an assignment's value a
/// candidate for the generic rule.
pub static SECRET_NAMES: &[&str] = &[
    "password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey", "credential", "authorization",
    "auth", "pwd",
];

/// Names containing one of these are not secrets even though they contain a secret name: they
/// describe a secret (its hash, its type, where it lives) or are pagination/progress handles.
pub static NOT_SECRET_NAMES: &[&str] = &[
    "hash", "digest", "checksum", "fingerprint", "sha1", "sha256", "sha512", "shasum", "url", "uri", "endpoint", "path", "file", "type", "name", "count",
    "length", "limit", "expir", "ttl", "size", "format", "policy", "version", "tokenizer", "pagetoken", "nexttoken",
    "progresstoken", "continuationtoken", "synctoken", "resumetoken", "oauthprovider", "authmethod", "authmode",
    "authenticated", "authorized", "required", "enabled", "field", "label", "prompt", "usage",
];

/// Lowercase substrings that mark a value as a placeholder or a reference, not a secret.
pub static PLACEHOLDER_WORDS: &[&str] = &[
    "example", "changeme", "change_me", "placeholder", "your_", "your-", "yourtoken", "yourkey", "yourpassword", "redacted",
    "xxxx", "****", "....", "dummy", "sample", "fake", "test", "todo", "notreal", "insert", "replace", "undefined", "null",
    "none", "secret", "password", "passwd", "token", "apikey", "api_key", "api-key", "environ", "getenv", "process.env",
    "config.", "settings.", "vault:", "${", "{{", "$(", "<%", "#{", "%(",
];
