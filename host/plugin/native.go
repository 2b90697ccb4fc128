package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin/internal/interrupt"
)

// Limits on what one hook call may send to the host.
const (
	maxLogLines  = 16   // log lines per call; more are dropped
	maxLogBytes  = 1024 // bytes per log line; longer lines are cut
	maxEventName = 128
	maxEventData = 64 << 10
	minInputBuf  = 4096
)

var (
	errAllocNull   = fmt.Errorf("%w: allocator returned 0", ErrGuestFailed)
	errAllocBounds = fmt.Errorf("%w: allocator returned memory out of bounds", ErrGuestFailed)
	errOutOfBounds = fmt.Errorf("%w: verdict lies outside guest memory", ErrMalformedVerdict)
)

// instanceKey finds the calling instance from a host function's context.
type instanceKey struct{}

// native is an instance of a native-ABI module.
//
// The deadline works without allocating per call: each instance owns a
// timer, re-armed per call, whose callback sets the interrupt flag that
// the instrumented guest checks at loop heads and function entries (see
// package interrupt, which also explains why the guest yields to Go). The
// mutex orders the callback against the end of the call, so that a timer
// firing late never leaves the flag set for the next call.
type native struct {
	p      *Plugin
	mod    api.Module
	mem    api.Memory
	ctx    context.Context // carries the instance to host functions
	alloc  api.Function
	hooks  [abi.HookAudit + 1]api.Function
	flag   api.MutableGlobal // nil when not instrumented
	fuel   api.MutableGlobal
	buf    uint32 // guest address of the input buffer
	bufLen uint32
	stack  [2]uint64
	logs   int // log lines this call
	stderr tail

	timer    *time.Timer
	mu       sync.Mutex
	deadline time.Time
	armed    bool
	fired    bool
}

func (p *Plugin) newNative(ctx context.Context) (instance, error) {
	n := &native{p: p}
	n.ctx = context.WithValue(context.Background(), instanceKey{}, n)
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, p.moduleConfig(&n.stderr))
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	n.mod = mod
	n.mem = mod.ExportedMemory(abi.MemoryExport)
	n.alloc = mod.ExportedFunction(abi.AllocExport)
	for _, h := range abi.Hooks {
		if p.Implements(h) {
			n.hooks[h] = mod.ExportedFunction(h.Export())
		}
	}
	if g, ok := mod.ExportedGlobal(interrupt.FlagExport).(api.MutableGlobal); ok {
		n.flag = g
		n.fuel, _ = mod.ExportedGlobal(interrupt.FuelExport).(api.MutableGlobal)
		n.timer = time.AfterFunc(time.Hour, n.interrupt)
		n.timer.Stop()
	}
	deadline := time.Now().Add(p.spec.InitTimeout)
	for _, name := range []string{interrupt.StartExport, abi.InitializeExport} {
		if f := mod.ExportedFunction(name); f != nil {
			if err := n.invoke(f, deadline); err != nil {
				n.close()
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	if f := mod.ExportedFunction(abi.HooksExport); f != nil {
		if err := n.invoke(f, deadline); err != nil {
			n.close()
			return nil, fmt.Errorf("%s: %w", abi.HooksExport, err)
		}
		if missing := p.hooks &^ uint32(n.stack[0]); missing != 0 {
			n.close()
			return nil, fmt.Errorf("%s reports declared hooks %s as not implemented", abi.HooksExport, hookList(missing))
		}
	}
	return n, nil
}

func hookList(mask uint32) string {
	var names []string
	for _, h := range abi.Hooks {
		if mask&h.Bit() != 0 {
			names = append(names, h.String())
		}
	}
	return strings.Join(names, ", ")
}

func (n *native) call(in *abi.Input, deadline time.Time) ([]byte, error) {
	size := abi.InputSize(in)
	if uint64(size) > uint64(n.bufLen) {
		want := uint64(minInputBuf)
		for want < uint64(size) {
			want *= 2
		}
		if want > 1<<31 {
			return nil, fmt.Errorf("%w: input of %d bytes is too large", ErrGuestFailed, size)
		}
		n.stack[0] = want
		if err := n.invoke(n.alloc, deadline); err != nil {
			return nil, fmt.Errorf("%s: %w", abi.AllocExport, err)
		}
		if n.stack[0] == 0 {
			return nil, errAllocNull
		}
		n.buf, n.bufLen = uint32(n.stack[0]), uint32(want)
	}
	dst, ok := n.mem.Read(n.buf, uint32(size))
	if !ok {
		n.bufLen = 0
		return nil, errAllocBounds
	}
	abi.PutInput(dst, in)
	n.stack[0], n.stack[1] = uint64(n.buf), uint64(size)
	if err := n.invoke(n.hooks[in.Hook], deadline); err != nil {
		return nil, err
	}
	if n.stack[0] == 0 {
		return nil, ErrGuestFailed
	}
	ptr, length := abi.UnpackResult(n.stack[0])
	out, ok := n.mem.Read(ptr, length)
	if !ok {
		return nil, errOutOfBounds
	}
	return out, nil
}

// invoke calls f with n.stack under deadline.
func (n *native) invoke(f api.Function, deadline time.Time) error {
	if n.flag == nil {
		return n.invokeUnguarded(f, deadline)
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return ErrTimeout
	}
	n.logs = 0
	n.mu.Lock()
	n.deadline, n.armed = deadline, true
	n.mu.Unlock()
	n.timer.Reset(wait)
	err := f.CallWithStack(n.ctx, n.stack[:])
	n.timer.Stop()
	n.mu.Lock()
	fired := n.fired
	n.armed, n.fired = false, false
	if fired {
		n.flag.Set(0)
	}
	n.mu.Unlock()
	switch {
	case err == nil:
		return nil
	case fired:
		return ErrTimeout
	}
	return n.trap(err)
}

// interrupt is the timer callback: it stops the guest if the current call
// is past its deadline (and not if the timer belongs to a finished call).
func (n *native) interrupt() {
	n.mu.Lock()
	if n.armed && !time.Now().Before(n.deadline) {
		n.flag.Set(1)
		n.fuel.Set(0) // look at the flag at the next check
		n.fired = true
	}
	n.mu.Unlock()
}

// invokeUnguarded serves the benchmark baselines: no instrumentation, and
// a deadline only through wazero's close-on-context-done when that is on.
func (n *native) invokeUnguarded(f api.Function, deadline time.Time) error {
	ctx := n.ctx
	if n.p.engine.limit == limitCloseOnDone {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	err := f.CallWithStack(ctx, n.stack[:])
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ErrTimeout
	}
	return n.trap(err)
}

// trap wraps a guest error with its first line and the end of the guest's
// stderr, where a Go guest prints its panic.
func (n *native) trap(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if out := n.stderr.String(); out != "" {
		return fmt.Errorf("%w: %s (stderr: %q)", ErrTrap, msg, out)
	}
	return fmt.Errorf("%w: %s", ErrTrap, msg)
}

func (n *native) close() {
	if n.timer != nil {
		n.timer.Stop()
	}
	n.mod.Close(context.Background())
}

// hostLog implements abi.HostLog.
func (p *Plugin) hostLog(ctx context.Context, m api.Module, stack []uint64) {
	n, _ := ctx.Value(instanceKey{}).(*native)
	if p.engine.logger == nil || n == nil || n.logs >= maxLogLines {
		return
	}
	n.logs++
	level, ptr, size := abi.LogLevel(api.DecodeU32(stack[0])), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	msg, ok := m.Memory().Read(ptr, min(size, maxLogBytes))
	if !ok {
		return
	}
	p.log(level, string(msg))
}

// log logs a guest line; ABI levels 0..3 map to slog's debug..error
// (-4, 0, 4, 8), anything higher to error.
func (p *Plugin) log(level abi.LogLevel, msg string) {
	l := slog.Level(4*int(min(level, abi.LogError)) - 4)
	p.engine.logger.LogAttrs(context.Background(), l, msg, slog.String("plugin", p.id))
}

// hostEmit implements abi.HostEmit.
func (p *Plugin) hostEmit(_ context.Context, m api.Module, stack []uint64) {
	if p.engine.events == nil {
		return
	}
	mem := m.Memory()
	name, ok1 := mem.Read(api.DecodeU32(stack[0]), min(api.DecodeU32(stack[1]), maxEventName))
	data, ok2 := mem.Read(api.DecodeU32(stack[2]), min(api.DecodeU32(stack[3]), maxEventData))
	if ok1 && ok2 {
		p.engine.events(p.id, name, data)
	}
}

// hostNow implements abi.HostNow, registered only with the clock grant.
func hostNow(_ context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(time.Now().UnixNano())
}

// tail keeps the last bytes a guest wrote to stdout or stderr. Only the
// goroutine running the instance writes and reads it.
type tail struct{ buf []byte }

const tailSize = 512

func (t *tail) Write(b []byte) (int, error) {
	t.buf = append(t.buf, b...)
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	b := t.buf
	if len(b) > tailSize {
		b = b[len(b)-tailSize:]
	}
	return strings.TrimSpace(string(b))
}
