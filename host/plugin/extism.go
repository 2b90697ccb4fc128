package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin/internal/interrupt"
)

// extismEnv is the import module of the Extism kernel's host functions.
const extismEnv = "extism:host/env"

// loadExtism checks and compiles a module built with an Extism PDK.
//
// Extism plugins use the same messages as native ones: the hook export
// (named as in the native ABI, type () -> i32) reads the input message with
// the PDK's input functions and writes the verdict message as its output; a
// nonzero return code is ErrGuestFailed. The deadline is enforced by
// wazero's close-on-context-done, which costs more than the native path's
// interrupt flag (see the package doc): Extism is the compatibility path.
func (p *Plugin) loadExtism(ctx context.Context, wasm []byte, m *interrupt.Module, rc wazero.RuntimeConfig) error {
	for _, im := range m.Imports {
		if im.Module != extismEnv && im.Module != "wasi_snapshot_preview1" {
			return fmt.Errorf("imports %s.%s, which the host does not provide to Extism plugins", im.Module, im.Name)
		}
	}
	for _, h := range p.spec.Hooks {
		found := false
		for _, ex := range m.Exports {
			found = found || (ex.Name == h.Export() && ex.Kind == 0)
		}
		if !found {
			return fmt.Errorf("missing export %s for declared hook %s", h.Export(), h)
		}
	}
	manifest := extism.Manifest{
		Wasm:   []extism.Wasm{extism.WasmData{Data: wasm}},
		Memory: &extism.ManifestMemory{MaxPages: p.spec.MemoryLimitPages},
	}
	cp, err := extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{
		RuntimeConfig: rc.WithCloseOnContextDone(true),
		EnableWasi:    true,
	}, nil)
	if err != nil {
		return fmt.Errorf("extism: %w", err)
	}
	p.extism = cp
	p.closer = cp
	p.pool.create = p.newExtism
	return nil
}

// extismInstance is one instance of an Extism plugin.
type extismInstance struct {
	p      *Plugin
	plug   *extism.Plugin
	in     []byte
	stderr tail
}

func (p *Plugin) newExtism(ctx context.Context) (instance, error) {
	x := &extismInstance{p: p}
	plug, err := p.extism.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: p.moduleConfig(&x.stderr)})
	if err != nil {
		return nil, fmt.Errorf("extism instance: %w", err)
	}
	if p.engine.logger != nil {
		plug.SetLogger(func(level extism.LogLevel, msg string) {
			// Extism numbers trace..error 1..5; ABI levels debug..error 0..3.
			p.log(abi.LogLevel(max(level-extism.LogLevelDebug, 0)), msg)
		})
	}
	x.plug = plug
	return x, nil
}

func (x *extismInstance) call(in *abi.Input, deadline time.Time) ([]byte, error) {
	x.in = abi.AppendInput(x.in[:0], in)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	rc, out, err := x.plug.CallWithContext(ctx, in.Hook.Export(), x.in)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ErrTimeout
		}
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return nil, fmt.Errorf("%w: %s", ErrTrap, msg)
	}
	if rc != 0 {
		return nil, fmt.Errorf("%w: return code %d", ErrGuestFailed, rc)
	}
	return out, nil
}

func (x *extismInstance) close() { x.plug.Close(context.Background()) }
