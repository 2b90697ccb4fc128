// Package abi is the contract between the Portcullis gateway and its Wasm
// plugins: hook and export names, host functions, the binary layout of the
// messages that cross the boundary, verdict actions and the ABI version.
//
// ABI.md beside this file is the normative text; this package mirrors it for
// Go code on both sides (the host engine in host/plugin and the guest SDK in
// sdk/go). It depends on the standard library only. Golden vectors that every
// SDK is tested against live in testdata/vectors.json (see package abitest).
//
// All functions are safe for concurrent use; they keep no state.
package abi

// Version is the ABI version this package describes. A guest declares the
// version it implements by exporting the function named by VersionExport.
const Version = 1

// Names a native guest exports.
const (
	// VersionExport marks a module as a Portcullis plugin of ABI version 1:
	// a function of type () -> () that the host never calls.
	VersionExport = "portcullis_abi_v1"
	// VersionExportPrefix is the prefix of version markers of any version,
	// used to tell "another ABI version" apart from "not a plugin at all".
	VersionExportPrefix = "portcullis_abi_v"
	// AllocExport is the guest allocator, (size i32) -> (ptr i32).
	AllocExport = "portcullis_alloc"
	// HooksExport optionally reports the implemented hooks as a bitmask,
	// () -> (mask i32), bit h set for hook h (see Hook.Bit).
	HooksExport = "portcullis_hooks"
	// MemoryExport is the guest's linear memory.
	MemoryExport = "memory"
	// InitializeExport is the WASI reactor initializer; the host calls it
	// once per instance, before anything else, when it is exported.
	InitializeExport = "_initialize"
)

// HostModule is the import module name of the host functions.
const HostModule = "portcullis"

// Host functions a guest may import from HostModule.
const (
	// HostLog is log(level i32, ptr i32, len i32): one log line.
	HostLog = "log"
	// HostEmit is emit(name_ptr i32, name_len i32, data_ptr i32, data_len i32):
	// a named event (counter, alert) for the host's event sink.
	HostEmit = "emit"
	// HostNow is now() -> i64, the wall clock in Unix nanoseconds. Only
	// plugins granted the clock may import it.
	HostNow = "now"
)

// Hook identifies an extension point. The zero value is not a hook.
type Hook uint8

// Hooks, numbered as in the input message's hook byte.
const (
	HookRequestGuard  Hook = 1 // client -> server frames, before routing
	HookResponseGuard Hook = 2 // server -> client frames (results, notifications)
	HookToolFilter    Hook = 3 // tools/list results
	HookRoute         Hook = 4 // choose an upstream replica
	HookAudit         Hook = 5 // finished audit records
)

// Hooks lists every hook in numeric order.
var Hooks = [...]Hook{HookRequestGuard, HookResponseGuard, HookToolFilter, HookRoute, HookAudit}

var hookNames = [...]string{
	HookRequestGuard:  "request_guard",
	HookResponseGuard: "response_guard",
	HookToolFilter:    "tool_filter",
	HookRoute:         "route",
	HookAudit:         "audit",
}

var hookExports = [...]string{
	HookRequestGuard:  "portcullis_request_guard",
	HookResponseGuard: "portcullis_response_guard",
	HookToolFilter:    "portcullis_tool_filter",
	HookRoute:         "portcullis_route",
	HookAudit:         "portcullis_audit",
}

// Valid reports whether h is one of the defined hooks.
func (h Hook) Valid() bool { return h >= HookRequestGuard && h <= HookAudit }

// String returns the hook's manifest name, e.g. "request_guard".
func (h Hook) String() string {
	if !h.Valid() {
		return "unknown_hook"
	}
	return hookNames[h]
}

// Export returns the name of the guest function implementing h, e.g.
// "portcullis_request_guard", or "" for an invalid hook.
func (h Hook) Export() string {
	if !h.Valid() {
		return ""
	}
	return hookExports[h]
}

// Bit returns h's bit in the HooksExport mask.
func (h Hook) Bit() uint32 { return 1 << h }

// ParseHook returns the hook with the manifest name s.
func ParseHook(s string) (Hook, bool) {
	for _, h := range Hooks {
		if hookNames[h] == s {
			return h, true
		}
	}
	return 0, false
}

// Allows reports whether a verdict with action a is valid for hook h.
func (h Hook) Allows(a Action) bool {
	switch h {
	case HookRequestGuard, HookResponseGuard, HookToolFilter:
		return a == ActionAllow || a == ActionBlock || a == ActionRewrite
	case HookRoute:
		return a == ActionAllow || a == ActionBlock || a == ActionRoute
	case HookAudit:
		return a == ActionAllow
	}
	return false
}

// Direction tells which way a frame travels.
type Direction uint8

// Directions, numbered as in the input message's direction byte.
const (
	DirectionNone     Direction = 0 // not a frame in flight (audit records)
	DirectionRequest  Direction = 1 // client -> server
	DirectionResponse Direction = 2 // server -> client
)

// String returns "none", "request" or "response".
func (d Direction) String() string {
	switch d {
	case DirectionNone:
		return "none"
	case DirectionRequest:
		return "request"
	case DirectionResponse:
		return "response"
	}
	return "unknown_direction"
}

// Direction returns the direction of the frames hook h sees.
func (h Hook) Direction() Direction {
	switch h {
	case HookRequestGuard, HookRoute:
		return DirectionRequest
	case HookResponseGuard, HookToolFilter:
		return DirectionResponse
	}
	return DirectionNone
}

// Action is what a verdict asks the host to do.
type Action uint8

// Actions, numbered as in the verdict message's action byte.
const (
	ActionAllow   Action = 0 // pass the frame on unchanged
	ActionBlock   Action = 1 // answer with a JSON-RPC error; payload is the reason
	ActionRewrite Action = 2 // replace the frame; payload is the new frame
	ActionRoute   Action = 3 // route hook: send to replica Verdict.Value
)

// String returns "allow", "block", "rewrite" or "route".
func (a Action) String() string {
	switch a {
	case ActionAllow:
		return "allow"
	case ActionBlock:
		return "block"
	case ActionRewrite:
		return "rewrite"
	case ActionRoute:
		return "route"
	}
	return "unknown_action"
}

// LogLevel is the level argument of HostLog.
type LogLevel uint32

// Log levels.
const (
	LogDebug LogLevel = 0
	LogInfo  LogLevel = 1
	LogWarn  LogLevel = 2
	LogError LogLevel = 3
)

// JSON-RPC error codes the host uses when a verdict leaves the code at 0.
const (
	// CodeBlocked answers a frame a plugin blocked.
	CodeBlocked int32 = -32001
	// CodePluginFailed answers a frame whose fail-closed plugin failed.
	CodePluginFailed int32 = -32002
)

// MaxReasonLen bounds a block reason in bytes; a longer one is malformed.
const MaxReasonLen = 1024
