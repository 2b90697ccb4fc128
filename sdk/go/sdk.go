// Package portcullis is the Go guest SDK for Portcullis plugins: write a
// guardrail, routing strategy or audit sink in standard Go and build it to
// a WebAssembly module that the gateway loads.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o guard.wasm .
//
// Register a handler per hook in an init function; the SDK exports the ABI
// entry points (abi/ABI.md) and turns each call into a *Call and your
// Verdict back into bytes:
//
//	func init() {
//		portcullis.OnRequest(func(c *portcullis.Call) portcullis.Verdict {
//			if bytes.Contains(c.Frame, []byte("rm -rf")) {
//				return portcullis.Block("destructive command")
//			}
//			return portcullis.Allow()
//		})
//	}
//
// A handler runs on one goroutine at a time per instance; the gateway runs
// several instances in parallel, so package state is per instance, not
// shared. Outside GOOS=wasip1 the package builds with stand-in host
// functions, so guards can be unit-tested with plain go test (see Test).
package portcullis

import (
	"encoding/json"
	"fmt"

	"github.com/portcullis-mcp/portcullis/abi"
)

// Replica is one upstream replica offered to a route handler.
type Replica = abi.Replica

// Call is what a handler receives.
type Call struct {
	Hook      abi.Hook
	Direction abi.Direction
	Server    string // target server, "" when not known yet
	Tool      string // tool of a tools/call, "" otherwise
	Agent     string // calling agent, "" when anonymous
	Team      string // the agent's team, "" when none
	// Frame is the raw JSON-RPC frame (for OnAudit, the audit record).
	// Like RawConfig it points into memory the host reuses: copy what you
	// keep after the handler returns.
	Frame     []byte
	RawConfig []byte    // the binding's JSON config, empty when none
	Replicas  []Replica // OnRoute only
}

// Config decodes the binding's JSON config into v. An empty config leaves
// v unchanged.
func (c *Call) Config(v any) error {
	if len(c.RawConfig) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.RawConfig, v); err != nil {
		return fmt.Errorf("portcullis: binding config: %w", err)
	}
	return nil
}

// Verdict is a handler's answer. Build one with Allow, Block, BlockCode,
// Rewrite or RouteTo.
type Verdict struct{ v abi.Verdict }

// Allow lets the frame pass unchanged (for OnRoute: no preference).
func Allow() Verdict { return Verdict{abi.Verdict{Action: abi.ActionAllow}} }

// Block answers the frame with a JSON-RPC error carrying reason (at most
// 1024 bytes of UTF-8; a longer reason is cut) and the gateway's default
// code.
func Block(reason string) Verdict { return BlockCode(0, reason) }

// BlockCode is Block with an explicit JSON-RPC error code.
func BlockCode(code int32, reason string) Verdict {
	if len(reason) > abi.MaxReasonLen {
		reason = cutUTF8(reason, abi.MaxReasonLen)
	}
	return Verdict{abi.Verdict{Action: abi.ActionBlock, Code: code, Payload: []byte(reason)}}
}

// Rewrite replaces the frame, e.g. with secrets redacted. The new frame
// must be a JSON-RPC 2.0 object keeping the original "id", or the gateway
// treats the plugin as failed.
func Rewrite(frame []byte) Verdict {
	return Verdict{abi.Verdict{Action: abi.ActionRewrite, Payload: frame}}
}

// RouteTo picks Call.Replicas[i] (OnRoute only).
func RouteTo(i int) Verdict {
	return Verdict{abi.Verdict{Action: abi.ActionRoute, Replica: uint32(i)}}
}

func cutUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// Handler handles one hook call.
type Handler func(c *Call) Verdict

var handlers [abi.HookAudit + 1]Handler

// OnRequest registers the request guard: frames from client to server.
func OnRequest(h Handler) { handlers[abi.HookRequestGuard] = h }

// OnResponse registers the response guard: results and notifications from
// server to client.
func OnResponse(h Handler) { handlers[abi.HookResponseGuard] = h }

// OnToolList registers the tool-list filter: tools/list results. Rewrite
// the frame to hide tools.
func OnToolList(h Handler) { handlers[abi.HookToolFilter] = h }

// OnRoute registers the routing strategy: return RouteTo(i).
func OnRoute(h Handler) { handlers[abi.HookRoute] = h }

// OnAudit registers the audit sink: Frame is a finished audit record.
func OnAudit(h Handler) { handlers[abi.HookAudit] = h }

// implemented returns the HooksExport mask of registered handlers.
func implemented() uint32 {
	var mask uint32
	for _, h := range abi.Hooks {
		if handlers[h] != nil {
			mask |= h.Bit()
		}
	}
	return mask
}

// Level is a log level.
type Level = abi.LogLevel

// Log levels.
const (
	Debug = abi.LogDebug
	Info  = abi.LogInfo
	Warn  = abi.LogWarn
	Error = abi.LogError
)

// Log sends one line to the gateway's log, tagged with the plugin. The
// gateway keeps at most 16 lines of 1 KiB per call.
func Log(level Level, msg string) { hostLog(level, msg) }

// Logf formats and logs.
func Logf(level Level, format string, args ...any) { hostLog(level, fmt.Sprintf(format, args...)) }

// Emit sends a named event (a counter tick, an alert) to the gateway's
// event sink.
func Emit(name string, data []byte) { hostEmit(name, data) }

var (
	call    Call
	out     []byte
	decoded abi.Input
)

// dispatch runs the handler of hook h on the input message in and returns
// the verdict message, or nil for "no verdict" (a failure under the
// binding's policy): bad input, no handler, or a panic, which is logged.
func dispatch(h abi.Hook, in []byte) (res []byte) {
	handler := handlers[h]
	if handler == nil {
		hostLog(Error, "portcullis: no handler registered for hook "+h.String())
		return nil
	}
	if err := abi.DecodeInput(in, &decoded); err != nil || decoded.Hook != h {
		hostLog(Error, fmt.Sprintf("portcullis: bad input message for %s: %v", h, err))
		return nil
	}
	call = Call{
		Hook: h, Direction: decoded.Direction, Server: decoded.Server, Tool: decoded.Tool,
		Agent: decoded.Agent, Team: decoded.Team, Frame: decoded.Frame,
		RawConfig: decoded.Config, Replicas: decoded.Replicas,
	}
	defer func() {
		if r := recover(); r != nil {
			hostLog(Error, fmt.Sprintf("portcullis: %s handler panicked: %v", h, r))
			res = nil
		}
	}()
	v := handler(&call)
	out = abi.AppendVerdict(out[:0], &v.v)
	return out
}
