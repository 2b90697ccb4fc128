//! Write Portcullis plugins in Rust.
//!
//! The gateway runs a plugin, a WebAssembly module, on the MCP messages it routes. This crate
//! implements the plugin ABI (`abi/ABI.md` in the Portcullis repository) so that a plugin is a
//! few handler functions and one [`plugin!`] line:
//!
//! ```ignore
//! use portcullis::{Call, Verdict};
//!
//! fn guard(call: &Call) -> Verdict {
//!     if portcullis::bytes::contains_ignore_case(call.frame, b"rm -rf") {
//!         return Verdict::block("no deleting");
//!     }
//!     Verdict::Allow
//! }
//!
//! portcullis::plugin!(request_guard: guard);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasi` from a `cdylib` crate. The crate uses
//! `std` only, so it builds offline with Debian's `rustc` and `libstd-rust-dev-wasm32`. Natively
//! the host functions record instead, so handlers can be unit tested: see `testing`.
//!
//! A plugin instance runs one call at a time, so the crate keeps its buffers in plain statics.
//! A panic logs "portcullis: handler panicked: ..." and traps the instance (wasm aborts on
//! panic); the gateway applies the binding's failure policy and replaces the instance.

pub mod bytes;
pub mod json;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

mod abi;
mod host;

pub use abi::{Call, Direction, Handler, Hook, Replica, Verdict, MAX_REASON};
pub use host::{emit, log, now, Level};

#[doc(hidden)]
pub mod __private {
    pub use crate::abi::{alloc, bit, run};
}

/// Exports the plugin: the ABI marker and allocator, the hooks mask, and one entry per hook
/// named, each calling the given `fn(&Call) -> Verdict`. Hooks: `request_guard`,
/// `response_guard`, `tool_filter`, `route`, `audit`. Use it once, at the crate root.
///
/// ```ignore
/// portcullis::plugin!(request_guard: check_call, response_guard: redact);
/// ```
#[macro_export]
macro_rules! plugin {
    ($($hook:ident : $handler:path),+ $(,)?) => {
        #[no_mangle]
        pub extern "C" fn portcullis_abi_v1() {}

        #[no_mangle]
        pub extern "C" fn portcullis_alloc(size: u32) -> u32 {
            $crate::__private::alloc(size)
        }

        #[no_mangle]
        pub extern "C" fn portcullis_hooks() -> u32 {
            0 $(| $crate::plugin!(@hook $hook).bit())+
        }

        $($crate::plugin!(@export $hook, $handler);)+
    };
    (@hook request_guard) => { $crate::Hook::RequestGuard };
    (@hook response_guard) => { $crate::Hook::ResponseGuard };
    (@hook tool_filter) => { $crate::Hook::ToolFilter };
    (@hook route) => { $crate::Hook::Route };
    (@hook audit) => { $crate::Hook::Audit };
    (@export request_guard, $h:path) => {
        #[no_mangle]
        pub extern "C" fn portcullis_request_guard(ptr: u32, len: u32) -> u64 {
            $crate::__private::run($crate::Hook::RequestGuard, ptr, len, $h)
        }
    };
    (@export response_guard, $h:path) => {
        #[no_mangle]
        pub extern "C" fn portcullis_response_guard(ptr: u32, len: u32) -> u64 {
            $crate::__private::run($crate::Hook::ResponseGuard, ptr, len, $h)
        }
    };
    (@export tool_filter, $h:path) => {
        #[no_mangle]
        pub extern "C" fn portcullis_tool_filter(ptr: u32, len: u32) -> u64 {
            $crate::__private::run($crate::Hook::ToolFilter, ptr, len, $h)
        }
    };
    (@export route, $h:path) => {
        #[no_mangle]
        pub extern "C" fn portcullis_route(ptr: u32, len: u32) -> u64 {
            $crate::__private::run($crate::Hook::Route, ptr, len, $h)
        }
    };
    (@export audit, $h:path) => {
        #[no_mangle]
        pub extern "C" fn portcullis_audit(ptr: u32, len: u32) -> u64 {
            $crate::__private::run($crate::Hook::Audit, ptr, len, $h)
        }
    };
}
