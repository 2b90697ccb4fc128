//! The host functions of ABI §5. In wasm they are imports from the gateway; natively (for
//! `cargo test`) they record into a per-thread buffer that `crate::testing` reads.

/// Log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "portcullis")]
    extern "C" {
        pub fn log(level: u32, ptr: *const u8, len: u32);
        pub fn emit(name_ptr: *const u8, name_len: u32, data_ptr: *const u8, data_len: u32);
        // Linked in only when a plugin calls now(): importing it without the grant gets the
        // module refused.
        pub fn now() -> i64;
    }
}

/// Logs one line through the gateway; it keeps at most 16 lines of 1024 bytes per call.
pub fn log(level: Level, msg: &str) {
    #[cfg(target_arch = "wasm32")]
    // Safety: the host only reads the given range during the call.
    unsafe {
        imports::log(level as u32, msg.as_ptr(), msg.len() as u32);
    }
    #[cfg(not(target_arch = "wasm32"))]
    native::log(level, msg);
}

/// Sends an event (a counter, an alert) to the gateway's event sink: name at most 128 bytes,
/// data at most 64 KiB (the host cuts longer ones).
pub fn emit(name: &str, data: &[u8]) {
    #[cfg(target_arch = "wasm32")]
    // Safety: the host only reads the given ranges during the call.
    unsafe {
        imports::emit(name.as_ptr(), name.len() as u32, data.as_ptr(), data.len() as u32);
    }
    #[cfg(not(target_arch = "wasm32"))]
    native::emit(name, data);
}

/// The gateway's wall clock. Only for plugins the operator grants the clock (`clock: true`):
/// calling it makes the module import `now`, and the gateway refuses such a module without the
/// grant. (`SystemTime::now()` works everywhere but reads a fake clock unless granted.)
pub fn now() -> std::time::SystemTime {
    #[cfg(target_arch = "wasm32")]
    {
        // Safety: a host function without arguments.
        let nanos = unsafe { imports::now() };
        let since = std::time::Duration::from_nanos(nanos.unsigned_abs());
        if nanos >= 0 {
            std::time::UNIX_EPOCH + since
        } else {
            std::time::UNIX_EPOCH - since
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    std::time::SystemTime::now()
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use super::Level;
    use std::cell::RefCell;

    // What the host keeps of one call's logs and events (§5).
    const MAX_LOG_LINES: usize = 16;
    const MAX_LOG_BYTES: usize = 1024;
    const MAX_EVENT_NAME: usize = 128;
    const MAX_EVENT_DATA: usize = 64 << 10;

    /// One call's logs and events, kept as the host keeps them.
    #[derive(Default)]
    pub(crate) struct Record {
        pub logs: Vec<(Level, String)>,
        pub events: Vec<(String, Vec<u8>)>,
    }

    thread_local! {
        // Per thread: `cargo test` runs tests in parallel, each on its own thread.
        pub(crate) static RECORD: RefCell<Record> = RefCell::new(Record::default());
    }

    pub(super) fn log(level: Level, msg: &str) {
        RECORD.with(|r| {
            let mut r = r.borrow_mut();
            if r.logs.len() < MAX_LOG_LINES {
                r.logs.push((level, cut(msg.as_bytes(), MAX_LOG_BYTES)));
            }
        })
    }

    pub(super) fn emit(name: &str, data: &[u8]) {
        let data = data[..data.len().min(MAX_EVENT_DATA)].to_vec();
        RECORD.with(|r| r.borrow_mut().events.push((cut(name.as_bytes(), MAX_EVENT_NAME), data)))
    }

    // The host cuts at a byte count, not a character boundary.
    fn cut(b: &[u8], max: usize) -> String {
        String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
    }
}

/// Routes panic messages to the gateway's log (and stderr, which the gateway quotes in its trap
/// report) before the instance traps, so that the operator sees why a call failed. Wasm builds
/// abort on panic: the instance traps and the gateway replaces it.
pub(crate) fn install_panic_hook() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    // The closure's argument is not named: its type was renamed after Rust 1.63.
    std::panic::set_hook(Box::new(|info| {
        let p = info.payload();
        let msg = match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
            (Some(s), _) => s,
            (_, Some(s)) => s.as_str(),
            _ => "(no message)",
        };
        let line = match info.location() {
            Some(l) => format!("portcullis: handler panicked: {} ({}:{}:{})", msg, l.file(), l.line(), l.column()),
            None => format!("portcullis: handler panicked: {}", msg),
        };
        log(Level::Error, &line);
        stderr(&(line + "\n"));
    }));
}

/// Writes to stderr, which the gateway quotes in its trap report, straight through WASI:
/// `std::io::stderr` would add 4 KB of locking code to every plugin.
fn stderr(text: &str) {
    #[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
    {
        #[link(wasm_import_module = "wasi_snapshot_preview1")]
        extern "C" {
            fn fd_write(fd: u32, iovs: *const [usize; 2], iovs_len: u32, written: *mut usize) -> u16;
        }
        let iov = [text.as_ptr() as usize, text.len()];
        let mut written = 0;
        // Safety: one iovec over a live string. A short or failed write loses only the copy.
        unsafe { fd_write(2, &iov, 1, &mut written) };
    }
    #[cfg(not(all(target_arch = "wasm32", target_os = "wasi")))]
    eprint!("{}", text);
}
