//! The ABI's messages: decoding the input (§6), encoding the verdict (§7), and the buffers (§4).

use std::any::{Any, TypeId};
use std::cell::{RefCell, UnsafeCell};
use std::rc::Rc;
use std::str;

/// The hook a call is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    RequestGuard = 1,
    ResponseGuard = 2,
    ToolFilter = 3,
    Route = 4,
    Audit = 5,
}

impl Hook {
    /// Every hook, in number order.
    pub const ALL: [Hook; 5] = [Hook::RequestGuard, Hook::ResponseGuard, Hook::ToolFilter, Hook::Route, Hook::Audit];

    /// The hook with this ABI number.
    pub fn from_number(n: u8) -> Option<Hook> {
        Hook::ALL.get((n as usize).wrapping_sub(1)).copied()
    }

    /// The ABI name: `request_guard`, `response_guard`, `tool_filter`, `route` or `audit`.
    pub fn name(self) -> &'static str {
        match self {
            Hook::RequestGuard => "request_guard",
            Hook::ResponseGuard => "response_guard",
            Hook::ToolFilter => "tool_filter",
            Hook::Route => "route",
            Hook::Audit => "audit",
        }
    }

    /// This hook's bit in the `portcullis_hooks` mask (§3).
    pub fn bit(self) -> u32 {
        1 << self as u32
    }

    /// Whether the hook may answer this verdict (§4's "may answer" column).
    pub fn may_answer(self, v: &Verdict) -> bool {
        match v {
            Verdict::Allow => true,
            Verdict::Block { .. } => self != Hook::Audit,
            Verdict::Rewrite(_) => matches!(self, Hook::RequestGuard | Hook::ResponseGuard | Hook::ToolFilter),
            Verdict::Route(_) => self == Hook::Route,
        }
    }
}

/// Which way the frame travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Audit records.
    None = 0,
    /// Client to server.
    Request = 1,
    /// Server to client.
    Response = 2,
}

impl Direction {
    /// The name the ABI's golden vectors use: `none`, `request` or `response`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::None => "none",
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }
}

/// One upstream replica offered to a `route` hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replica<'a> {
    pub name: &'a str,
    pub in_flight: u32,
    /// Recent latency in microseconds, 0 if unknown.
    pub latency_us: u32,
    pub healthy: bool,
}

const HEADER: usize = 32;
const ENTRY: usize = 16;

/// One hook call. Its slices point into the host's input buffer and are valid only during the
/// call: copy what you keep.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub hook: Hook,
    pub direction: Direction,
    pub server: &'a str,
    /// The tool of a `tools/call`, else empty.
    pub tool: &'a str,
    /// The calling agent, empty when anonymous.
    pub agent: &'a str,
    pub team: &'a str,
    /// The binding's config, JSON (empty when none). See [`crate::json::parse`].
    pub config: &'a [u8],
    /// The raw JSON-RPC message, or the audit record for `audit`.
    pub frame: &'a [u8],
    table: &'a [u8],
    names: &'a [u8],
}

impl<'a> Call<'a> {
    /// A call of `hook` on `frame`, with the direction the gateway gives that hook and every
    /// other field empty: for tests (set the public fields, then see `portcullis::testing`).
    pub fn new(hook: Hook, frame: &'a [u8]) -> Call<'a> {
        let direction = match hook {
            Hook::RequestGuard | Hook::Route => Direction::Request,
            Hook::ResponseGuard | Hook::ToolFilter => Direction::Response,
            Hook::Audit => Direction::None,
        };
        Call { hook, direction, server: "", tool: "", agent: "", team: "", config: b"", frame, table: b"", names: b"" }
    }

    /// Decodes an input message (§6), or says why it is malformed. It refuses exactly what the
    /// host's own decoder refuses, and also names that are not UTF-8.
    pub fn decode(msg: &'a [u8]) -> Result<Call<'a>, &'static str> {
        if msg.len() < HEADER {
            return Err("input shorter than its header");
        }
        if msg[0] != 1 {
            return Err("input version is not 1");
        }
        if msg[3] != 0 {
            return Err("input flags are not zero");
        }
        let hook = Hook::from_number(msg[1]).ok_or("unknown hook")?;
        let direction = match msg[2] {
            0 => Direction::None,
            1 => Direction::Request,
            2 => Direction::Response,
            _ => return Err("unknown direction"),
        };
        // Lengths are u32 and usize may be 32 bits: add in u64 so that no sum wraps.
        let mut end = HEADER as u64;
        for i in 0..6 {
            end += u32le(msg, 4 + 4 * i) as u64;
        }
        let count = u32le(msg, 28) as u64;
        end += count * ENTRY as u64;
        if end > msg.len() as u64 {
            return Err("input fields run past its end");
        }
        // From here on every offset is within msg, so usize arithmetic cannot overflow.
        let mut off = HEADER;
        let mut field = |i: usize| {
            let n = u32le(msg, 4 + 4 * i) as usize;
            off += n;
            &msg[off - n..off]
        };
        let text = |b: &'a [u8]| str::from_utf8(b).map_err(|_| "a name is not UTF-8");
        let server = text(field(0))?;
        let tool = text(field(1))?;
        let agent = text(field(2))?;
        let team = text(field(3))?;
        let config = field(4);
        let frame = field(5);
        let table = &msg[off..off + count as usize * ENTRY];
        let names = &msg[off + table.len()..];
        let mut at = 0usize;
        for e in table.chunks_exact(ENTRY) {
            let n = u32le(e, 0) as usize;
            if n > names.len() - at {
                return Err("replica names run past the end");
            }
            if u32le(e, 12) & !1 != 0 {
                return Err("replica flags have reserved bits set");
            }
            text(&names[at..at + n])?;
            at += n;
        }
        if at != names.len() {
            return Err("input has bytes after the replica names");
        }
        Ok(Call { hook, direction, server, tool, agent, team, config, frame, table, names })
    }

    /// A value built from the binding's config, once per instance and config: `build` runs the
    /// first time this instance sees these config bytes, later calls get the same value. Use it
    /// for anything that costs more than a lookup: the parsed config, compiled patterns, tables.
    /// Values are told apart by `build`'s type (each function and closure has its own), and one
    /// instance serves every binding of its plugin, so it keeps the values of the last 16
    /// configs and builders.
    ///
    /// ```
    /// # let call = portcullis::Call::new(portcullis::Hook::RequestGuard, b"{}");
    /// let config = call.config_cached(portcullis::json::parse); // Rc<Result<Value, String>>
    /// let words = call.config_cached(|c| c.split(|&b| b == b' ').count());
    /// ```
    pub fn config_cached<T: 'static, F: FnOnce(&[u8]) -> T + 'static>(&self, build: F) -> Rc<T> {
        type Entry = (TypeId, Box<[u8]>, Rc<dyn Any>);
        thread_local! {
            static CACHE: RefCell<Vec<Entry>> = RefCell::new(Vec::new());
        }
        let id = TypeId::of::<F>();
        let hit = CACHE.with(|c| c.borrow().iter().find(|e| e.0 == id && *e.1 == *self.config).map(|e| e.2.clone()));
        if let Some(v) = hit.and_then(|v| v.downcast::<T>().ok()) {
            return v;
        }
        // Built outside the borrow: build may itself use the cache.
        let v = Rc::new(build(self.config));
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() == 16 {
                c.remove(0);
            }
            c.push((id, self.config.into(), v.clone()));
        });
        v
    }

    /// How many replicas a `route` call offers (0 for other hooks).
    pub fn replica_count(&self) -> usize {
        self.table.len() / ENTRY
    }

    /// The replicas of a `route` call, in the host's order (a [`Verdict::Route`] index refers to it).
    pub fn replicas(&self) -> impl Iterator<Item = Replica<'a>> + 'a {
        let names = self.names;
        let mut off = 0usize;
        self.table.chunks_exact(ENTRY).map(move |e| {
            let n = u32le(e, 0) as usize;
            // decode checked the bounds and the UTF-8; a Call from new has no replicas.
            let name = str::from_utf8(&names[off..off + n]).unwrap_or("");
            off += n;
            Replica { name, in_flight: u32le(e, 4), latency_us: u32le(e, 8), healthy: u32le(e, 12) & 1 == 1 }
        })
    }
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The longest block reason the host accepts, in bytes.
pub const MAX_REASON: usize = 1024;

/// What a hook answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the frame on unchanged (for `route`: no preference).
    Allow,
    /// Answer with a JSON-RPC error: `code` 0 is the host's default (-32001); `reason`, at most
    /// 1024 bytes (longer ones are cut at a character boundary), becomes the error message.
    Block { code: i32, reason: String },
    /// Replace the frame: a JSON-RPC 2.0 object with the original's `id`, byte for byte.
    Rewrite(Vec<u8>),
    /// Send a request to the replica at this index of [`Call::replicas`].
    Route(u32),
}

impl Verdict {
    /// Block with the host's default error code.
    pub fn block(reason: impl Into<String>) -> Verdict {
        Verdict::Block { code: 0, reason: reason.into() }
    }

    /// Block with this JSON-RPC error code.
    pub fn block_code(code: i32, reason: impl Into<String>) -> Verdict {
        Verdict::Block { code, reason: reason.into() }
    }

    /// Replace the frame.
    pub fn rewrite(frame: impl Into<Vec<u8>>) -> Verdict {
        Verdict::Rewrite(frame.into())
    }

    /// The verdict message (§7).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Writes the verdict message into `out`, replacing its content. A reason longer than
    /// [`MAX_REASON`] is cut at a character boundary: the whole one would be malformed.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        let (action, value, payload): (u8, u32, &[u8]) = match self {
            Verdict::Allow => (0, 0, &[]),
            Verdict::Block { code, reason } => {
                let mut n = reason.len().min(MAX_REASON);
                while !reason.is_char_boundary(n) {
                    n -= 1;
                }
                (1, *code as u32, &reason.as_bytes()[..n])
            }
            Verdict::Rewrite(frame) => (2, 0, frame),
            Verdict::Route(i) => (3, *i, &[]),
        };
        out.reserve(12 + payload.len());
        out.extend_from_slice(&[1, action, 0, 0]);
        out.extend_from_slice(&value.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
    }

    /// Decodes a verdict message as the host does, or says why it is malformed. For tests.
    pub fn decode(msg: &[u8]) -> Result<Verdict, &'static str> {
        if msg.len() < 12 {
            return Err("verdict shorter than its header");
        }
        if msg[0] != 1 {
            return Err("verdict version is not 1");
        }
        if msg[2] != 0 || msg[3] != 0 {
            return Err("verdict reserved bytes are not zero");
        }
        let value = u32le(msg, 4);
        let payload = &msg[12..];
        if u32le(msg, 8) as u64 != payload.len() as u64 {
            return Err("verdict length does not match its header");
        }
        match msg[1] {
            0 if value != 0 => Err("allow with a value"),
            0 if !payload.is_empty() => Err("allow with a payload"),
            0 => Ok(Verdict::Allow),
            1 if payload.len() > MAX_REASON => Err("block reason longer than 1024 bytes"),
            1 => match str::from_utf8(payload) {
                Ok(r) => Ok(Verdict::Block { code: value as i32, reason: r.to_string() }),
                Err(_) => Err("block reason is not UTF-8"),
            },
            2 if value != 0 => Err("rewrite with a value"),
            2 => Ok(Verdict::Rewrite(payload.to_vec())),
            3 if !payload.is_empty() => Err("route with a payload"),
            3 => Ok(Verdict::Route(value)),
            _ => Err("unknown verdict action"),
        }
    }
}

/// A handler, as [`crate::plugin!`] takes it.
pub type Handler = fn(&Call) -> Verdict;

/// Runs one call: decodes `msg`, checks it is for `hook`, runs the handler and writes its
/// verdict to `out`. False is "no verdict" (§4.5), with the reason logged first.
pub(crate) fn handle(hook: Hook, msg: &[u8], handler: Handler, out: &mut Vec<u8>) -> bool {
    let call = match Call::decode(msg) {
        Ok(c) if c.hook == hook => c,
        Ok(c) => return fail(hook, &format!("bad input: the message is for {}", c.hook.name())),
        Err(why) => return fail(hook, &format!("bad input: {}", why)),
    };
    let verdict = handler(&call);
    // The host would refuse these too, but only we can say which handler and why.
    if !hook.may_answer(&verdict) {
        return fail(hook, &format!("handler answered {}, which {} may not give", verdict_name(&verdict), hook.name()));
    }
    if let Verdict::Route(i) = verdict {
        if i as usize >= call.replica_count() {
            return fail(hook, &format!("handler routed to replica {} of {}", i, call.replica_count()));
        }
    }
    verdict.encode_into(out);
    true
}

fn fail(hook: Hook, why: &str) -> bool {
    crate::log(crate::Level::Error, &format!("portcullis: {}: {}", hook.name(), why));
    false
}

fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Block { .. } => "block",
        Verdict::Rewrite(_) => "rewrite",
        Verdict::Route(_) => "route",
    }
}

/// A static for a plugin instance, which runs one call at a time on one thread (§4): plain
/// memory, no locking. Only the exports below touch these.
struct Global<T>(UnsafeCell<T>);

// Safety: wasm32-wasi instances are single-threaded, and natively only tests call the exports.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    fn get(&self) -> *mut T {
        self.0.get()
    }
}

// The host's input buffer (§4.2: the host owns it until it asks for a bigger one) and the
// verdict buffer (ours; reused on the next call).
static INPUT: Global<Vec<u8>> = Global(UnsafeCell::new(Vec::new()));
static OUTPUT: Global<Vec<u8>> = Global(UnsafeCell::new(Vec::new()));

#[doc(hidden)]
pub fn alloc(size: u32) -> u32 {
    // Safety: one call at a time per instance, and the host never touches the old buffer again,
    // so dropping it here is what §4.2 allows.
    let input = unsafe { &mut *INPUT.get() };
    let mut buf = Vec::new();
    // 0 tells the host we are out of memory (§4.1) instead of trapping in the allocator.
    if buf.try_reserve_exact((size as usize).max(1)).is_err() {
        return 0;
    }
    buf.resize(buf.capacity(), 0);
    *input = buf;
    input.as_mut_ptr() as usize as u32
}

#[doc(hidden)]
pub fn bit(hook: &str) -> u32 {
    Hook::ALL.iter().find(|h| h.name() == hook).map_or(0, |h| h.bit())
}

#[doc(hidden)]
pub fn run(hook: Hook, ptr: u32, len: u32, handler: Handler) -> u64 {
    crate::host::install_panic_hook();
    // Safety: one call at a time; nothing else holds these buffers during a call.
    let (input, out) = unsafe { (&*INPUT.get(), &mut *OUTPUT.get()) };
    // Only read inside the buffer we handed out: any other range is not ours to trust.
    let at = (ptr as usize).wrapping_sub(input.as_ptr() as usize);
    let msg = match at.checked_add(len as usize).and_then(|end| input.get(at..end)) {
        Some(m) if !input.is_empty() => m,
        _ => {
            fail(hook, "input is outside the buffer portcullis_alloc returned");
            return 0;
        }
    };
    if !handle(hook, msg, handler, out) {
        return 0;
    }
    ((out.as_ptr() as usize as u64) << 32) | out.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{self, Value};
    use crate::testing;

    /// The ABI's golden vectors, shared by every SDK.
    fn vectors() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../abi/testdata/vectors.json");
        json::parse(&std::fs::read(path).expect("read vectors.json")).expect("parse vectors.json")
    }

    fn text<'a>(v: &'a Value, key: &str) -> &'a str {
        v.get(key).and_then(Value::as_str).unwrap_or("")
    }

    fn num(v: &Value, key: &str) -> f64 {
        v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
    }

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
    }

    fn guard(_: &Call) -> Verdict {
        Verdict::Allow
    }

    #[test]
    fn decodes_golden_inputs() {
        let v = vectors();
        for vec in v.get("inputs").unwrap().as_array() {
            let name = text(vec, "name");
            let msg = unhex(text(vec, "hex"));
            let c = Call::decode(&msg).unwrap_or_else(|e| panic!("{}: {}", name, e));
            assert_eq!(c.hook.name(), text(vec, "hook"), "{}", name);
            assert_eq!(c.direction.name(), text(vec, "direction"), "{}", name);
            assert_eq!((c.server, c.tool, c.agent, c.team), (text(vec, "server"), text(vec, "tool"), text(vec, "agent"), text(vec, "team")), "{}", name);
            assert_eq!(c.config, text(vec, "config").as_bytes(), "{}", name);
            assert_eq!(c.frame, text(vec, "frame").as_bytes(), "{}", name);
            let want: Vec<Replica> = vec
                .get("replicas")
                .map_or(&[][..], Value::as_array)
                .iter()
                .map(|r| Replica {
                    name: text(r, "name"),
                    in_flight: num(r, "in_flight") as u32,
                    latency_us: num(r, "latency_us") as u32,
                    healthy: r.get("healthy").and_then(Value::as_bool).unwrap_or(false),
                })
                .collect();
            assert_eq!(c.replicas().collect::<Vec<_>>(), want, "{}", name);
            assert_eq!(c.replica_count(), want.len(), "{}", name);
            // The test encoder writes what the host writes.
            assert_eq!(testing::encode(&c, &want), msg, "{}", name);
            assert_eq!(testing::run(guard, &msg).verdict, Some(Verdict::Allow), "{}", name);
        }
    }

    #[test]
    fn refuses_malformed_inputs() {
        let v = vectors();
        let mut extra = vec![
            // A replica name that is not UTF-8, and reserved replica flags.
            [&[1u8, 4, 1, 0][..], &[0; 24], &[1, 0, 0, 0], &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], &[0xff]].concat(),
            [&[1u8, 4, 1, 0][..], &[0; 24], &[1, 0, 0, 0], &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0], b"a"].concat(),
            // Lengths whose sum wraps 32 bits, and a replica count whose table size does.
            [&[1u8, 1, 1, 0][..], &[0xff; 8], &[2, 0, 0, 0], &[0; 16], b"ab"].concat(),
            [&[1u8, 4, 1, 0][..], &[0; 24], &[0, 0, 0, 0x10]].concat(),
        ];
        for vec in v.get("malformed_inputs").unwrap().as_array() {
            extra.push(unhex(text(vec, "hex")));
        }
        for msg in &extra {
            assert!(Call::decode(msg).is_err(), "accepted {:02x?}", msg);
            let out = testing::run(guard, msg);
            assert_eq!(out.verdict, None);
            assert!(out.logs[0].1.contains("bad input"), "{:?}", out.logs);
        }
    }

    fn golden(vec: &Value) -> Verdict {
        let payload = text(vec, "payload");
        match text(vec, "action") {
            "allow" => Verdict::Allow,
            "block" => Verdict::block_code(num(vec, "code") as i32, payload),
            "rewrite" => Verdict::rewrite(payload),
            "route" => Verdict::Route(num(vec, "replica") as u32),
            a => panic!("action {}", a),
        }
    }

    #[test]
    fn encodes_golden_verdicts() {
        let v = vectors();
        for vec in v.get("verdicts").unwrap().as_array() {
            let msg = unhex(text(vec, "hex"));
            assert_eq!(golden(vec).encode(), msg, "{}", text(vec, "name"));
            assert_eq!(Verdict::decode(&msg), Ok(golden(vec)), "{}", text(vec, "name"));
        }
        for vec in v.get("malformed_verdicts").unwrap().as_array() {
            assert!(Verdict::decode(&unhex(text(vec, "hex"))).is_err(), "{}", text(vec, "name"));
        }
    }

    #[test]
    fn cuts_long_reasons_at_a_character() {
        let v = Verdict::block("é".repeat(600)); // 1200 bytes
        match Verdict::decode(&v.encode()) {
            Ok(Verdict::Block { reason, .. }) => assert_eq!(reason, "é".repeat(512)),
            other => panic!("{:?}", other),
        }
        let v = Verdict::block(format!("a{}", "é".repeat(600))); // cut falls inside a character
        match Verdict::decode(&v.encode()) {
            Ok(Verdict::Block { reason, .. }) => assert_eq!(reason.len(), 1023),
            other => panic!("{:?}", other),
        }
    }

    fn answer(call: &Call) -> Verdict {
        match call.config {
            b"rewrite" => Verdict::rewrite(&b"{}"[..]),
            b"route" => Verdict::Route(1),
            b"block" => Verdict::block_code(-32050, "no"),
            _ => Verdict::Allow,
        }
    }

    #[test]
    fn refuses_verdicts_the_hook_may_not_answer() {
        let replicas = [Replica { name: "a", in_flight: 0, latency_us: 0, healthy: true }];
        let cases: [(Hook, &[u8], &[Replica], bool); 8] = [
            (Hook::RequestGuard, b"rewrite", &[], true),
            (Hook::RequestGuard, b"route", &[], false),
            (Hook::Route, b"rewrite", &replicas, false),
            (Hook::Route, b"block", &replicas, true),
            (Hook::Route, b"route", &replicas, false), // index 1 of 1 replica
            (Hook::Audit, b"block", &[], false),
            (Hook::Audit, b"allow", &[], true),
            (Hook::ToolFilter, b"rewrite", &[], true),
        ];
        for (hook, config, replicas, ok) in cases {
            let mut call = Call::new(hook, b"{}");
            call.config = config;
            let out = testing::run(answer, &testing::encode(&call, replicas));
            assert_eq!(out.verdict.is_some(), ok, "{:?} {:?}: {:?}", hook, String::from_utf8_lossy(config), out);
            if !ok {
                assert!(out.logs[0].1.starts_with(&format!("portcullis: {}: handler ", hook.name())), "{:?}", out.logs);
            }
        }
    }

    #[test]
    fn refuses_a_message_for_another_hook() {
        let msg = testing::encode(&Call::new(Hook::ResponseGuard, b"{}"), &[]);
        let mut out = Vec::new();
        assert!(!handle(Hook::RequestGuard, &msg, guard, &mut out));
    }

    #[test]
    fn records_what_the_host_keeps() {
        fn chatty(_: &Call) -> Verdict {
            for i in 0..20 {
                crate::log(crate::Level::Info, &format!("{}{}", i, "x".repeat(2000)));
            }
            crate::emit("n", &[7; 70 << 10]);
            Verdict::Allow
        }
        let out = testing::run(chatty, &testing::encode(&Call::new(Hook::Audit, b"{}"), &[]));
        assert_eq!(out.logs.len(), 16);
        assert!(out.logs.iter().all(|(l, m)| *l == crate::Level::Info && m.len() == 1024));
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].1.len(), 64 << 10);
    }

    #[test]
    fn exports_serve_the_host() {
        assert_eq!(Hook::RequestGuard.bit() | Hook::Audit.bit(), 0b100010);
        assert_eq!(bit("route"), 1 << 4);
        assert_eq!(Hook::from_number(0), None);
        assert_eq!(Hook::from_number(6), None);
        // The only test touching the statics (natively pointers do not fit the ABI's 32 bits,
        // so the call path itself is tested in wasm, by sdk_test.go's conformance run).
        assert_ne!(alloc(100), 0);
        assert_eq!(unsafe { &*INPUT.get() }.len(), 100);
        assert_ne!(alloc(0), 0);
    }

    #[test]
    fn caches_per_config_and_builder() {
        use std::cell::Cell;
        thread_local!(static BUILDS: Cell<u32> = const { Cell::new(0) });
        fn count(c: &[u8]) -> usize {
            BUILDS.with(|b| b.set(b.get() + 1));
            c.len()
        }
        let mut call = Call::new(Hook::RequestGuard, b"{}");
        call.config = b"abc";
        assert_eq!(*call.config_cached(count), 3);
        assert_eq!(*call.config_cached(count), 3);
        assert_eq!(*call.config_cached(|c: &[u8]| c.len() * 2), 6); // another builder, same T
        assert_eq!(BUILDS.with(Cell::get), 1);
        let configs: Vec<Vec<u8>> = (0..16).map(|i| vec![b'x'; i]).collect();
        for c in &configs {
            call.config = c;
            assert_eq!(*call.config_cached(count), c.len());
        }
        assert_eq!(BUILDS.with(Cell::get), 17);
        call.config = b"abc"; // evicted by the 16 newer ones
        call.config_cached(count);
        assert_eq!(BUILDS.with(Cell::get), 18);
    }
}
