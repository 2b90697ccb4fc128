//! Running handlers natively, exactly as the gateway's call does, for `cargo test`.
//!
//! Outside wasm there is no gateway: [`crate::log`] and [`crate::emit`] record into the current
//! thread (keeping what the host would keep), and [`run`] returns what one call recorded.
//!
//! ```
//! use portcullis::{testing, Call, Hook, Verdict};
//!
//! fn guard(call: &Call) -> Verdict {
//!     if call.tool == "rm" { Verdict::block("no") } else { Verdict::Allow }
//! }
//!
//! let mut call = Call::new(Hook::RequestGuard, br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
//! call.tool = "rm";
//! let out = testing::run(guard, &testing::encode(&call, &[]));
//! assert_eq!(out.verdict, Some(Verdict::block("no")));
//! ```

use crate::abi::{handle, Call, Handler, Hook, Replica, Verdict};
use crate::host::native::{Record, RECORD};
use crate::host::Level;

/// The input message (ABI §6) the gateway would send for `call`, offering `replicas` (the
/// call's own replicas are ignored: pass them here). Decode it back with [`Call::decode`].
pub fn encode(call: &Call, replicas: &[Replica]) -> Vec<u8> {
    let names: usize = replicas.iter().map(|r| r.name.len()).sum();
    let fields = [call.server.as_bytes(), call.tool.as_bytes(), call.agent.as_bytes(), call.team.as_bytes(), call.config, call.frame];
    let mut out = Vec::with_capacity(32 + fields.iter().map(|f| f.len()).sum::<usize>() + 16 * replicas.len() + names);
    out.extend_from_slice(&[1, call.hook as u8, call.direction as u8, 0]);
    for f in &fields {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&(replicas.len() as u32).to_le_bytes());
    for f in &fields {
        out.extend_from_slice(f);
    }
    for r in replicas {
        for v in [r.name.len() as u32, r.in_flight, r.latency_us, r.healthy as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    for r in replicas {
        out.extend_from_slice(r.name.as_bytes());
    }
    out
}

/// What one call did.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The verdict as the gateway decodes it, or `None` for "no verdict" (a failure: the
    /// binding's failure policy applies; the logs say why).
    pub verdict: Option<Verdict>,
    /// The lines logged, at most 16, each cut to 1024 bytes, as the gateway keeps them.
    pub logs: Vec<(Level, String)>,
    /// The events emitted: name and data.
    pub events: Vec<(String, Vec<u8>)>,
}

/// Runs `handler` on the input message `msg` as the exported hook entry does in the gateway:
/// decoding, checking the verdict suits the hook, encoding it. The hook is the message's. A
/// handler that panics panics here too (in the gateway its instance traps).
pub fn run(handler: Handler, msg: &[u8]) -> Outcome {
    RECORD.with(|r| *r.borrow_mut() = Record::default());
    let hook = msg.get(1).and_then(|&n| Hook::from_number(n)).unwrap_or(Hook::RequestGuard);
    let mut out = Vec::new();
    let ok = handle(hook, msg, handler, &mut out);
    let verdict = if ok {
        Some(Verdict::decode(&out).expect("the SDK encoded a malformed verdict"))
    } else {
        None
    };
    let rec = RECORD.with(|r| std::mem::take(&mut *r.borrow_mut()));
    Outcome { verdict, logs: rec.logs, events: rec.events }
}
