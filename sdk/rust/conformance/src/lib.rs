//! The conformance guest: sdk_test.go runs it in the real host against the ABI's golden vectors
//! (host/plugin/plugintest's package doc defines it). Every hook emits the decoded call as a
//! JSON "call" event, then answers as the binding config says:
//!
//! ```text
//! {"action":"allow|block|rewrite|route","code":-32050,"replica":2,"payload":"..."}
//! {"spin":true} loop forever   {"hog":true} allocate without end
//! {"panic":true} panic         {"log":"text"} log at info level, then answer
//! ```

use portcullis::json::{self, Value};
use portcullis::{Call, Level, Verdict};

/// The call in the shape of a golden input vector (abitest.Input).
fn describe(call: &Call) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + call.config.len() + call.frame.len());
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let fields = [
        ("hook", call.hook.name().to_string()),
        ("direction", call.direction.name().to_string()),
        ("server", call.server.to_string()),
        ("tool", call.tool.to_string()),
        ("agent", call.agent.to_string()),
        ("team", call.team.to_string()),
        ("config", text(call.config)),
        ("frame", text(call.frame)),
    ];
    out.push(b'{');
    for (name, value) in &fields {
        json::push_str(&mut out, name);
        out.push(b':');
        json::push_str(&mut out, value);
        out.push(b',');
    }
    out.extend_from_slice(b"\"replicas\":[");
    for (i, r) in call.replicas().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        json::push_str(&mut out, r.name);
        let rest = format!(",\"in_flight\":{},\"latency_us\":{},\"healthy\":{}}}", r.in_flight, r.latency_us, r.healthy);
        out.extend_from_slice(rest.as_bytes());
    }
    out.extend_from_slice(b"]}");
    out
}

// Where "hog" keeps what it allocates, so that the allocations cannot be optimized away.
static mut HOARD: Vec<Vec<u8>> = Vec::new();

fn handle(call: &Call) -> Verdict {
    portcullis::emit("call", &describe(call));
    // Golden configs need not be ours: anything unreadable is allow.
    let config = json::parse(call.config).unwrap_or(Value::Null);
    let flag = |k: &str| config.get(k).and_then(Value::as_bool) == Some(true);
    if flag("spin") {
        let stop = false;
        // A volatile read the compiler cannot prove false: a real loop for the deadline to stop.
        while !unsafe { std::ptr::read_volatile(&stop) } {}
    }
    if flag("hog") {
        loop {
            // Safety: one call at a time per instance, and nothing else touches HOARD.
            unsafe { (*std::ptr::addr_of_mut!(HOARD)).push(vec![1; 1 << 20]) };
        }
    }
    if flag("panic") {
        panic!("conformance guest asked to panic");
    }
    if let Some(text) = config.get("log").and_then(Value::as_str) {
        portcullis::log(Level::Info, text);
    }
    let num = |k: &str| config.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let payload = config.get("payload").and_then(Value::as_str).unwrap_or("");
    match config.get("action").and_then(Value::as_str) {
        Some("block") => Verdict::block_code(num("code") as i32, payload),
        Some("rewrite") => Verdict::rewrite(payload),
        Some("route") => Verdict::Route(num("replica") as u32),
        _ => Verdict::Allow,
    }
}

portcullis::plugin!(
    request_guard: handle,
    response_guard: handle,
    tool_filter: handle,
    route: handle,
    audit: handle,
);
