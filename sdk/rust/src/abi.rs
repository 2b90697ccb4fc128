//! The ABI's messages: decoding the input (§6), encoding the verdict (§7), and the buffers.

use std::str;

/// The hook a call is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    RequestGuard = 1,
    ResponseGuard = 2,
    ToolFilter = 3,
    Route = 4,
    Audit = 5,
}

/// Which way the frame travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Audit records.
    None = 0,
    /// Client to server.
    Request = 1,
    /// Server to client.
    Response = 2,
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
    /// Decodes an input message, or says why it is malformed.
    pub fn decode(msg: &'a [u8]) -> Result<Call<'a>, &'static str> {
        if msg.len() < 32 {
            return Err("input shorter than its header");
        }
        if msg[0] != 1 {
            return Err("input version is not 1");
        }
        let hook = match msg[1] {
            1 => Hook::RequestGuard,
            2 => Hook::ResponseGuard,
            3 => Hook::ToolFilter,
            4 => Hook::Route,
            5 => Hook::Audit,
            _ => return Err("unknown hook"),
        };
        let direction = match msg[2] {
            0 => Direction::None,
            1 => Direction::Request,
            2 => Direction::Response,
            _ => return Err("unknown direction"),
        };
        let mut off = 32usize;
        let mut field = |i: usize| -> Result<&'a [u8], &'static str> {
            let n = u32le(msg, 4 + 4 * i) as usize;
            let f = msg.get(off..off.checked_add(n).ok_or("field too long")?).ok_or("field past the end")?;
            off += n;
            Ok(f)
        };
        let text = |b: &'a [u8]| str::from_utf8(b).map_err(|_| "name is not UTF-8");
        let server = text(field(0)?)?;
        let tool = text(field(1)?)?;
        let agent = text(field(2)?)?;
        let team = text(field(3)?)?;
        let config = field(4)?;
        let frame = field(5)?;
        let count = u32le(msg, 28) as usize;
        let table = msg.get(off..off + 16 * count).ok_or("replica table past the end")?;
        let names = &msg[off + 16 * count..];
        let total: usize = (0..count).map(|i| u32le(table, 16 * i) as usize).sum();
        if total != names.len() {
            return Err("replica names do not end the message");
        }
        Ok(Call { hook, direction, server, tool, agent, team, config, frame, table, names })
    }

    /// The replicas of a `route` call, in the host's order (a [`Verdict::Route`] index refers to it).
    pub fn replicas(&self) -> impl Iterator<Item = Replica<'a>> + 'a {
        let (table, names) = (self.table, self.names);
        let mut off = 0usize;
        (0..table.len() / 16).map(move |i| {
            let e = &table[16 * i..16 * i + 16];
            let n = u32le(e, 0) as usize;
            let name = str::from_utf8(&names[off..off + n]).unwrap_or("");
            off += n;
            Replica { name, in_flight: u32le(e, 4), latency_us: u32le(e, 8), healthy: u32le(e, 12) & 1 == 1 }
        })
    }
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// What a hook answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Pass the frame on unchanged (for `route`: no preference).
    Allow,
    /// Answer with a JSON-RPC error: `code` 0 is the host's default (-32001); `reason`, at most
    /// 1024 bytes, becomes the error message.
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

    fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        let (action, value, payload): (u8, u32, &[u8]) = match self {
            Verdict::Allow => (0, 0, &[]),
            Verdict::Block { code, reason } => {
                let mut r = reason.as_bytes();
                if r.len() > 1024 {
                    // Cut at a character boundary: a longer reason would be malformed.
                    let mut n = 1024;
                    while !reason.is_char_boundary(n) {
                        n -= 1;
                    }
                    r = &r[..n];
                }
                (1, *code as u32, r)
            }
            Verdict::Rewrite(frame) => (2, 0, frame),
            Verdict::Route(i) => (3, *i, &[]),
        };
        out.extend_from_slice(&[1, action, 0, 0]);
        out.extend_from_slice(&value.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
    }
}

// The host's input buffer (ABI §4.2: it owns it until it asks for a bigger one) and the verdict
// buffer (ours; reused on the next call).
static mut INPUT: Vec<u8> = Vec::new();
static mut OUTPUT: Vec<u8> = Vec::new();

#[doc(hidden)]
pub fn alloc(size: u32) -> u32 {
    // Safety: one call at a time per instance, and the host never touches the old buffer again.
    unsafe {
        INPUT = vec![0; size as usize];
        INPUT.as_mut_ptr() as u32
    }
}

#[doc(hidden)]
pub fn bit(hook: &str) -> u32 {
    1 << match hook {
        "request_guard" => 1,
        "response_guard" => 2,
        "tool_filter" => 3,
        "route" => 4,
        "audit" => 5,
        _ => 0,
    }
}

#[doc(hidden)]
pub fn run(ptr: u32, len: u32, handler: fn(&Call) -> Verdict) -> u64 {
    crate::host::install_panic_hook();
    // Safety: the host wrote len bytes at ptr, inside the buffer alloc returned.
    let msg = unsafe { std::slice::from_raw_parts(ptr as *const u8, len as usize) };
    let call = match Call::decode(msg) {
        Ok(c) => c,
        Err(why) => {
            crate::log(crate::Level::Error, &format!("portcullis: bad input: {}", why));
            return 0;
        }
    };
    let verdict = handler(&call);
    unsafe {
        verdict.encode(&mut OUTPUT);
        ((OUTPUT.as_ptr() as u64) << 32) | OUTPUT.len() as u64
    }
}
