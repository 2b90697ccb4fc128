//! A guardrail: blocks tool calls whose arguments contain a phrase from the binding's config,
//! and redacts AWS access key IDs from everything servers send back.

use portcullis::{bytes, json, Call, Level, Verdict};

/// The deny list of the binding's config, `{"deny": ["rm -rf", ...]}`.
fn deny_list(config: &[u8]) -> Result<Vec<String>, String> {
    let config = json::parse(config)?;
    let deny = config.get("deny").map(|d| d.strings()).unwrap_or_default();
    // An empty phrase would match every call.
    Ok(deny.into_iter().filter(|p| !p.is_empty()).map(String::from).collect())
}

/// Blocks a `tools/call` whose arguments hold a denied phrase.
fn guard_request(call: &Call) -> Verdict {
    // Parsed once per config and instance, not on every call.
    let deny = call.config_cached(deny_list);
    let deny = match &*deny {
        Ok(d) => d,
        Err(e) => return Verdict::block(format!("guard misconfigured: {}", e)),
    };
    let method = json::member(call.frame, "method").and_then(|(_, m)| json::string(m));
    if method.as_deref() != Some("tools/call") {
        return Verdict::Allow;
    }
    let args = match json::path(call.frame, &["params", "arguments"]) {
        Some((_, args)) => args,
        None => return Verdict::Allow,
    };
    // Look at the decoded strings (keys too), so that "rm -\u0072f" is "rm -rf".
    let mut hit = None;
    json::strings(args, |s| {
        let text = json::unescape(s.raw).unwrap_or_default();
        hit = deny.iter().find(|p| bytes::contains_ignore_case(text.as_bytes(), p.as_bytes()));
        hit.is_none()
    });
    match hit {
        Some(phrase) => {
            portcullis::log(Level::Warn, &format!("blocked {} on {}: \"{}\"", call.tool, call.server, phrase));
            Verdict::block(format!("denied phrase in arguments: {}", phrase))
        }
        None => Verdict::Allow,
    }
}

/// Replaces every AWS access key ID (`AKIA` and 16 of `0-9A-Z`) with `[REDACTED]`.
fn redact_response(call: &Call) -> Verdict {
    let mut edits: Vec<(usize, usize, &[u8])> = Vec::new();
    let mut at = 0;
    while let Some(i) = bytes::find(&call.frame[at..], b"AKIA") {
        let start = at + i;
        let id = call.frame.get(start + 4..start + 20).unwrap_or_default();
        if id.len() == 16 && id.iter().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) {
            edits.push((start, start + 20, b"[REDACTED]"));
            at = start + 20;
        } else {
            at = start + 1;
        }
    }
    if edits.is_empty() {
        return Verdict::Allow;
    }
    portcullis::emit("redacted", call.server.as_bytes());
    Verdict::Rewrite(bytes::splice(call.frame, &edits))
}

portcullis::plugin!(request_guard: guard_request, response_guard: redact_response);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis::{testing, Hook};

    const CONFIG: &[u8] = br#"{"deny":["rm -rf"]}"#;

    fn call(handler: portcullis::Handler, hook: Hook, frame: &str) -> testing::Outcome {
        let mut call = Call::new(hook, frame.as_bytes());
        call.config = CONFIG;
        call.server = "shell";
        call.tool = "sh";
        testing::run(handler, &testing::encode(&call, &[]))
    }

    #[test]
    fn blocks_denied_phrases() {
        for cmd in ["RM -RF /", r"rm -\u0072f /"] {
            let frame = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"sh","arguments":{{"cmd":"{}"}}}}}}"#, cmd);
            let out = call(guard_request, Hook::RequestGuard, &frame);
            assert_eq!(out.verdict, Some(Verdict::block("denied phrase in arguments: rm -rf")), "{}", cmd);
            assert_eq!(out.logs, vec![(Level::Warn, r#"blocked sh on shell: "rm -rf""#.to_string())]);
        }
    }

    #[test]
    fn allows_harmless_calls() {
        let out = call(guard_request, Hook::RequestGuard, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls"}}}"#);
        assert_eq!(out.verdict, Some(Verdict::Allow));
    }

    #[test]
    fn redacts_access_keys() {
        let out = call(redact_response, Hook::ResponseGuard, r#"{"jsonrpc":"2.0","id":1,"result":"AKIAABCDEFGHIJKLMNOP"}"#);
        assert_eq!(out.verdict, Some(Verdict::rewrite(r#"{"jsonrpc":"2.0","id":1,"result":"[REDACTED]"}"#)));
        assert_eq!(out.events, vec![("redacted".to_string(), b"shell".to_vec())]);
    }
}
