//! The host functions of ABI §5.

#[link(wasm_import_module = "portcullis")]
extern "C" {
    #[link_name = "log"]
    fn host_log(level: u32, ptr: *const u8, len: u32);
    #[link_name = "emit"]
    fn host_emit(name_ptr: *const u8, name_len: u32, data_ptr: *const u8, data_len: u32);
}

/// Log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Logs one line through the gateway; it keeps at most 16 lines of 1024 bytes per call.
pub fn log(level: Level, msg: &str) {
    unsafe { host_log(level as u32, msg.as_ptr(), msg.len() as u32) }
}

/// Sends an event (a counter, an alert) to the gateway's event sink: name at most 128 bytes,
/// data at most 64 KiB.
pub fn emit(name: &str, data: &[u8]) {
    unsafe { host_emit(name.as_ptr(), name.len() as u32, data.as_ptr(), data.len() as u32) }
}

/// Routes panic messages to the gateway's log before the instance traps, so that the operator
/// sees why a call failed.
pub(crate) fn install_panic_hook() {
    static mut DONE: bool = false;
    unsafe {
        if DONE {
            return;
        }
        DONE = true;
    }
    std::panic::set_hook(Box::new(|info| log(Level::Error, &format!("portcullis: handler panicked: {}", info))));
}
