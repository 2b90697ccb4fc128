package plugin

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin/internal/interrupt"
)

// Defaults for zero Spec fields.
const (
	DefaultMemoryLimitPages = 512 // 32 MiB per instance
	DefaultTimeout          = 50 * time.Millisecond
	DefaultInitTimeout      = 5 * time.Second
)

// Format is how a module talks to the host.
type Format uint8

const (
	// FormatNative is Portcullis's own ABI (abi/ABI.md): the fast path.
	FormatNative Format = iota + 1
	// FormatExtism is a plugin built with an Extism PDK, run through the
	// Extism Go SDK.
	FormatExtism
)

// String returns "native" or "extism".
func (f Format) String() string {
	switch f {
	case FormatNative:
		return "native"
	case FormatExtism:
		return "extism"
	}
	return "unknown"
}

// Spec describes a plugin version to load: its identity, the hooks its
// manifest declares and its resource limits. Zero fields take defaults.
type Spec struct {
	Name    string     // plugin name, e.g. "pii-guard"
	Version string     // plugin version, e.g. "1.2.0"
	Hooks   []abi.Hook // hooks the manifest declares; at least one

	// MemoryLimitPages caps each instance's linear memory, in 64 KiB
	// pages (default DefaultMemoryLimitPages). A module that declares more
	// is refused; growth beyond it fails inside the guest.
	MemoryLimitPages uint32
	// Instances bounds the pool of instances (default GOMAXPROCS, at
	// least 2). Calls beyond it wait for a free instance until their
	// deadline.
	Instances int
	// Timeout is the default deadline of one hook call (DefaultTimeout).
	Timeout time.Duration
	// InitTimeout bounds creating an instance, including the guest's own
	// initialization (DefaultInitTimeout).
	InitTimeout time.Duration
	// Clock grants the real clock: the host function now and WASI clocks.
	// Without it WASI clocks are fake and importing now is refused.
	Clock bool
	// Breaker tunes the circuit breaker.
	Breaker BreakerConfig
}

// ID returns "name@version".
func (s *Spec) ID() string { return s.Name + "@" + s.Version }

func (s *Spec) withDefaults() (Spec, error) {
	out := *s
	if out.Name == "" || out.Version == "" {
		return out, fmt.Errorf("spec needs a name and a version, got %q", s.ID())
	}
	if len(out.Hooks) == 0 {
		return out, fmt.Errorf("spec of %s declares no hooks", s.ID())
	}
	for i, h := range out.Hooks {
		if !h.Valid() {
			return out, fmt.Errorf("spec of %s: hook %d is not a valid hook", s.ID(), h)
		}
		if slices.Contains(out.Hooks[:i], h) {
			return out, fmt.Errorf("spec of %s declares %s twice", s.ID(), h)
		}
	}
	if out.MemoryLimitPages == 0 {
		out.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if out.MemoryLimitPages > 65536 {
		return out, fmt.Errorf("spec of %s: memory limit %d pages exceeds 65536", s.ID(), out.MemoryLimitPages)
	}
	if out.Instances <= 0 {
		out.Instances = max(2, runtime.GOMAXPROCS(0))
	}
	if out.Timeout <= 0 {
		out.Timeout = DefaultTimeout
	}
	if out.InitTimeout <= 0 {
		out.InitTimeout = DefaultInitTimeout
	}
	out.Breaker = out.Breaker.withDefaults()
	return out, nil
}

func refused(id string, format string, args ...any) error {
	return fmt.Errorf("plugin %s: %w: %s", id, ErrRefused, fmt.Sprintf(format, args...))
}

// Load checks, compiles and instantiates a plugin version in a runtime of
// its own. It refuses, with an error wrapping ErrRefused that names the
// reason, a module that is not Wasm, lacks the ABI marker or the exports of
// its declared hooks, imports what the host does not grant, or declares
// more memory than the limit. One instance is created before Load returns,
// so a guest whose initialization fails or hangs is refused too.
//
// Load is safe for concurrent use. The caller owns the plugin and must
// Close it.
func (e *Engine) Load(ctx context.Context, wasm []byte, spec Spec) (p *Plugin, err error) {
	s, err := spec.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("plugin: %w: %w", ErrRefused, err)
	}
	id := s.ID()
	// wazero v1.12.0's validator panics on some malformed modules (found by
	// fuzzing); an upload must not take the gateway down.
	defer func() {
		if r := recover(); r != nil {
			if p != nil && p.closer != nil {
				p.closer.Close(ctx)
			}
			p, err = nil, refused(id, "compiler failed on malformed module: %v", r)
		}
	}()
	mod, err := interrupt.Inspect(wasm)
	if err != nil {
		return nil, refused(id, "%v", err)
	}
	format, err := detect(mod)
	if err != nil {
		return nil, refused(id, "%v", err)
	}
	if err := checkMemory(mod, s.MemoryLimitPages); err != nil {
		return nil, refused(id, "%v", err)
	}
	p = newPlugin(e, s, format)
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(e.cache).
		WithMemoryLimitPages(s.MemoryLimitPages).
		WithDebugInfoEnabled(false)
	switch format {
	case FormatNative:
		err = p.loadNative(ctx, wasm, mod, rc)
	case FormatExtism:
		err = p.loadExtism(ctx, wasm, mod, rc)
	}
	if err != nil {
		if p.closer != nil {
			p.closer.Close(ctx)
		}
		return nil, refused(id, "%v", err)
	}
	if err := p.pool.start(ctx); err != nil {
		p.closer.Close(ctx)
		return nil, refused(id, "first instance: %v", err)
	}
	return p, nil
}

// detect tells the ABI from the exports and imports.
func detect(m *interrupt.Module) (Format, error) {
	for _, ex := range m.Exports {
		if ex.Name == abi.VersionExport && ex.Kind == 0 {
			return FormatNative, nil
		}
	}
	for _, im := range m.Imports {
		if im.Module == extismEnv {
			return FormatExtism, nil
		}
	}
	for _, ex := range m.Exports {
		if v, ok := strings.CutPrefix(ex.Name, abi.VersionExportPrefix); ok {
			return 0, fmt.Errorf("module implements ABI version %s; this host speaks version %d", v, abi.Version)
		}
	}
	return 0, fmt.Errorf("module exports no %s and imports nothing from %s: not a Portcullis or Extism plugin",
		abi.VersionExport, extismEnv)
}

// checkMemory requires one memory the module defines itself, exported as
// "memory", declared within limit pages.
func checkMemory(m *interrupt.Module, limit uint32) error {
	for _, im := range m.Imports {
		if im.Kind == 2 {
			return fmt.Errorf("imports memory %s.%s; a plugin must define its own", im.Module, im.Name)
		}
	}
	if len(m.Memories) != 1 {
		return fmt.Errorf("defines %d memories, want 1", len(m.Memories))
	}
	exported := false
	for _, ex := range m.Exports {
		exported = exported || (ex.Name == abi.MemoryExport && ex.Kind == 2)
	}
	if !exported {
		return fmt.Errorf("does not export its memory as %q", abi.MemoryExport)
	}
	mem := m.Memories[0]
	if mem.Min > uint64(limit) {
		return fmt.Errorf("declares %d pages of initial memory, above the limit of %d", mem.Min, limit)
	}
	if mem.HasMax && mem.Max > uint64(limit) {
		return fmt.Errorf("declares a maximum of %d memory pages, above the limit of %d", mem.Max, limit)
	}
	return nil
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type signature struct{ params, results []api.ValueType }

func (s signature) String() string {
	name := func(ts []api.ValueType) string {
		var b strings.Builder
		for i, t := range ts {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(api.ValueTypeName(t))
		}
		return "(" + b.String() + ")"
	}
	return name(s.params) + " -> " + name(s.results)
}

func (s signature) matches(f api.FunctionDefinition) bool {
	return slices.Equal(f.ParamTypes(), s.params) && slices.Equal(f.ResultTypes(), s.results)
}

// hostFunctions are the host functions of ABI v1 with their signatures;
// now needs the clock grant.
var hostFunctions = map[string]signature{
	abi.HostLog:  {[]api.ValueType{i32, i32, i32}, nil},
	abi.HostEmit: {[]api.ValueType{i32, i32, i32, i32}, nil},
	abi.HostNow:  {nil, []api.ValueType{i64}},
}

// loadNative instruments, compiles and checks a native module.
func (p *Plugin) loadNative(ctx context.Context, wasm []byte, m *interrupt.Module, rc wazero.RuntimeConfig) error {
	code := wasm
	switch p.engine.limit {
	case limitInterrupt:
		var err error
		if code, err = interrupt.Instrument(wasm); err != nil {
			return err
		}
	case limitCloseOnDone:
		rc = rc.WithCloseOnContextDone(true)
	}
	p.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	p.closer = p.rt
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return fmt.Errorf("wasi: %w", err)
	}
	wasi := p.rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions()
	if err := p.instantiateHost(ctx); err != nil {
		return err
	}
	var err error
	p.compiled, err = p.rt.CompileModule(ctx, code)
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	for _, f := range p.compiled.ImportedFunctions() {
		module, name, _ := f.Import()
		switch module {
		case abi.HostModule:
			sig, ok := hostFunctions[name]
			if !ok {
				return fmt.Errorf("imports %s.%s, which the host does not provide", module, name)
			}
			if name == abi.HostNow && !p.spec.Clock {
				return fmt.Errorf("imports %s.%s, which needs the clock grant", module, name)
			}
			if !sig.matches(f) {
				return fmt.Errorf("imports %s.%s as %s, want %s", module, name,
					signature{f.ParamTypes(), f.ResultTypes()}, sig)
			}
		case wasi_snapshot_preview1.ModuleName:
			if _, ok := wasi[name]; !ok {
				return fmt.Errorf("imports %s.%s, which the host does not provide", module, name)
			}
		default:
			return fmt.Errorf("imports %s.%s, which the host does not provide", module, name)
		}
	}
	for _, im := range m.Imports {
		if im.Kind != 0 {
			return fmt.Errorf("imports %s.%s, which is not a function; the host grants only functions", im.Module, im.Name)
		}
	}
	exports := p.compiled.ExportedFunctions()
	want := map[string]signature{
		abi.VersionExport: {},
		abi.AllocExport:   {[]api.ValueType{i32}, []api.ValueType{i32}},
	}
	for _, h := range p.spec.Hooks {
		want[h.Export()] = signature{[]api.ValueType{i32, i32}, []api.ValueType{i64}}
	}
	for name, sig := range want {
		f, ok := exports[name]
		if !ok {
			return fmt.Errorf("missing export %s%s", name, hookNote(name))
		}
		if !sig.matches(f) {
			return fmt.Errorf("export %s has type %s, want %s", name, signature{f.ParamTypes(), f.ResultTypes()}, sig)
		}
	}
	optional := map[string]signature{
		abi.HooksExport:      {nil, []api.ValueType{i32}},
		abi.InitializeExport: {},
	}
	for name, sig := range optional {
		if f, ok := exports[name]; ok && !sig.matches(f) {
			return fmt.Errorf("export %s has type %s, want %s", name, signature{f.ParamTypes(), f.ResultTypes()}, sig)
		}
	}
	p.pool.create = p.newNative
	return nil
}

// hookNote explains a missing hook export.
func hookNote(export string) string {
	for _, h := range abi.Hooks {
		if h.Export() == export {
			return " for declared hook " + h.String()
		}
	}
	return ""
}

// instantiateHost provides the host functions of abi.HostModule.
func (p *Plugin) instantiateHost(ctx context.Context) error {
	b := p.rt.NewHostModuleBuilder(abi.HostModule)
	fns := map[string]api.GoModuleFunc{abi.HostLog: p.hostLog, abi.HostEmit: p.hostEmit}
	if p.spec.Clock {
		fns[abi.HostNow] = hostNow
	}
	for name, fn := range fns {
		sig := hostFunctions[name]
		b.NewFunctionBuilder().WithGoModuleFunction(fn, sig.params, sig.results).Export(name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("host functions: %w", err)
	}
	return nil
}

// moduleConfig is the sandbox of one instance: no files, no environment,
// no arguments, fake clocks unless granted; stdout and stderr go to w.
func (p *Plugin) moduleConfig(w io.Writer) wazero.ModuleConfig {
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(w).
		WithStderr(w).
		WithRandSource(rand.Reader)
	if p.spec.Clock {
		mc = mc.WithSysWalltime().WithSysNanotime()
	}
	return mc
}
