//go:build wasip1

package portcullis

import (
	"time"
	"unsafe"

	"github.com/portcullis-mcp/portcullis/abi"
)

// ABI entry points (abi/ABI.md). Every hook is exported; portcullis_hooks
// tells the host which ones have a handler.

//go:wasmexport portcullis_abi_v1
func abiV1() {}

// input is the host's input buffer; keeping it referenced keeps it alive.
var input []byte

//go:wasmexport portcullis_alloc
func alloc(size uint32) unsafe.Pointer {
	input = make([]byte, size)
	return unsafe.Pointer(unsafe.SliceData(input))
}

//go:wasmexport portcullis_hooks
func hooks() uint32 { return implemented() }

//go:wasmexport portcullis_request_guard
func requestGuard(ptr unsafe.Pointer, size uint32) uint64 {
	return entry(abi.HookRequestGuard, ptr, size)
}

//go:wasmexport portcullis_response_guard
func responseGuard(ptr unsafe.Pointer, size uint32) uint64 {
	return entry(abi.HookResponseGuard, ptr, size)
}

//go:wasmexport portcullis_tool_filter
func toolFilter(ptr unsafe.Pointer, size uint32) uint64 { return entry(abi.HookToolFilter, ptr, size) }

//go:wasmexport portcullis_route
func route(ptr unsafe.Pointer, size uint32) uint64 { return entry(abi.HookRoute, ptr, size) }

//go:wasmexport portcullis_audit
func audit(ptr unsafe.Pointer, size uint32) uint64 { return entry(abi.HookAudit, ptr, size) }

func entry(h abi.Hook, ptr unsafe.Pointer, size uint32) uint64 {
	res := dispatch(h, unsafe.Slice((*byte)(ptr), size))
	if res == nil {
		return 0
	}
	return abi.PackResult(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(res)))), uint32(len(res)))
}

//go:wasmimport portcullis log
func importLog(level uint32, ptr unsafe.Pointer, size uint32)

//go:wasmimport portcullis emit
func importEmit(name unsafe.Pointer, nameLen uint32, data unsafe.Pointer, dataLen uint32)

//go:wasmimport portcullis now
func importNow() int64

func hostLog(level Level, msg string) {
	importLog(uint32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

func hostEmit(name string, data []byte) {
	importEmit(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)),
		unsafe.Pointer(unsafe.SliceData(data)), uint32(len(data)))
}

// Now returns the gateway's wall clock. Only plugins granted the clock may
// call it: using Now imports the host function that needs the grant, and
// the gateway refuses the module without it. (time.Now inside a plugin
// reads a fake clock unless the grant is given.)
func Now() time.Time { return time.Unix(0, importNow()) }
