// Package guard puts Wasm plugins on the request path: it loads the plugins a configuration
// names, builds the chain of their bindings, and runs it as the pipeline's guards.
package guard

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/pipeline"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/upstream"
	"github.com/portcullis-mcp/portcullis/plugins"
)

// Guards runs a chain of bindings. It implements pipeline.Guards and is safe for concurrent use.
type Guards struct {
	chain   *plugin.Chain
	release func(context.Context) error // gives the plugin versions back to their Loader
	results sync.Pool                   // *plugin.Result: reused so that runs do not allocate
}

// Source is a plugin version to load: its spec and its module.
type Source struct {
	Spec plugin.Spec
	Wasm []byte
}

// Load loads every plugin of cfg with eng and binds them as cfg says. Paths are relative to dir.
// On error nothing stays loaded.
func Load(ctx context.Context, eng *plugin.Engine, cfg *config.Config, dir string) (*Guards, error) {
	sources, err := ConfigSources(cfg, dir)
	if err != nil {
		return nil, err
	}
	return NewLoader(eng).Build(ctx, sources, ConfigBindings(cfg))
}

// ConfigSources reads the modules of cfg's plugins (paths relative to dir).
func ConfigSources(cfg *config.Config, dir string) ([]Source, error) {
	var out []Source
	for _, pc := range cfg.Plugins {
		wasm, err := readModule(pc, dir)
		if err != nil {
			return nil, fmt.Errorf("plugin %s@%s: %w", pc.Name, pc.Version, err)
		}
		spec := plugin.Spec{Name: pc.Name, Version: pc.Version, MemoryLimitPages: pc.MemoryPages,
			Instances: pc.Instances, Timeout: pc.Timeout.D(), Clock: pc.Clock}
		for _, h := range pc.Hooks {
			hook, _ := abi.ParseHook(h)
			spec.Hooks = append(spec.Hooks, hook)
		}
		out = append(out, Source{Spec: spec, Wasm: wasm})
	}
	return out, nil
}

// ConfigBindings returns cfg's bindings, each naming its plugin as name@version.
func ConfigBindings(cfg *config.Config) []config.Binding {
	out := make([]config.Binding, len(cfg.Bindings))
	for i, bc := range cfg.Bindings {
		pc, _ := cfg.PluginFor(bc)
		bc.Plugin = pc.Name + "@" + pc.Version
		out[i] = bc
	}
	return out
}

// Loader loads plugin versions and shares them between the Guards it builds: a version that the
// next pipeline snapshot binds again is not reloaded, and keeps its warm instances and breaker.
// A version is closed when the last Guards that used it is closed. Safe for concurrent use.
type Loader struct {
	eng    *plugin.Engine
	mu     sync.Mutex
	loaded map[string]*shared
}

type shared struct {
	p    *plugin.Plugin
	refs int
}

// NewLoader returns a loader that loads with eng.
func NewLoader(eng *plugin.Engine) *Loader {
	return &Loader{eng: eng, loaded: map[string]*shared{}}
}

// sourceKey identifies a loaded version: the same module under the same spec.
func sourceKey(s *Source) string {
	sum := sha256.Sum256(s.Wasm)
	return fmt.Sprintf("%s %x %+v", s.Spec.ID(), sum, s.Spec)
}

// Build loads the sources (or reuses them) and binds them; each binding names its plugin as
// name@version. It validates and warms everything before returning; on error nothing it loaded
// stays loaded.
func (l *Loader) Build(ctx context.Context, sources []Source, bindings []config.Binding) (*Guards, error) {
	byID := map[string]*plugin.Plugin{}
	var keys []string
	release := func(ctx context.Context) error {
		var errs []error
		for _, k := range keys {
			errs = append(errs, l.release(ctx, k))
		}
		return errors.Join(errs...)
	}
	for i := range sources {
		src := &sources[i]
		if byID[src.Spec.ID()] != nil {
			release(ctx)
			return nil, fmt.Errorf("plugin %s is given twice", src.Spec.ID())
		}
		key := sourceKey(src)
		p, err := l.acquire(ctx, key, src)
		if err != nil {
			release(ctx)
			return nil, err
		}
		keys = append(keys, key)
		byID[src.Spec.ID()] = p
	}
	var bs []plugin.Binding
	for _, bc := range bindings {
		p := byID[bc.Plugin]
		if p == nil {
			release(ctx)
			return nil, fmt.Errorf("binding %s: no plugin %s is loaded", bc.Name, bc.Plugin)
		}
		b, err := binding(bc, p)
		if err != nil {
			release(ctx)
			return nil, err
		}
		bs = append(bs, b)
	}
	chain, err := plugin.NewChain(bs)
	if err != nil {
		release(ctx)
		return nil, err
	}
	g := &Guards{chain: chain, release: release}
	g.results.New = func() any { return new(plugin.Result) }
	return g, nil
}

func (l *Loader) acquire(ctx context.Context, key string, src *Source) (*plugin.Plugin, error) {
	l.mu.Lock()
	if s := l.loaded[key]; s != nil {
		s.refs++
		l.mu.Unlock()
		return s.p, nil
	}
	l.mu.Unlock()
	// Loading takes milliseconds to seconds: not under the lock. Two builds racing to load one
	// version keep the first and close the second.
	p, err := l.eng.Load(ctx, src.Wasm, src.Spec)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.loaded[key]; s != nil {
		s.refs++
		go p.Close(context.Background())
		return s.p, nil
	}
	l.loaded[key] = &shared{p: p, refs: 1}
	return p, nil
}

func (l *Loader) release(ctx context.Context, key string) error {
	l.mu.Lock()
	s := l.loaded[key]
	s.refs--
	if s.refs > 0 {
		l.mu.Unlock()
		return nil
	}
	delete(l.loaded, key)
	l.mu.Unlock()
	return s.p.Close(ctx)
}

// Loaded returns how many plugin versions are loaded now.
func (l *Loader) Loaded() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.loaded)
}

// Bindings returns the bindings in execution order, with their loaded plugins. The caller must
// not modify them.
func (g *Guards) Bindings() []plugin.Binding { return g.chain.Bindings() }

// readModule returns a built-in's embedded module, or reads the file at the plugin's path.
func readModule(pc config.Plugin, dir string) ([]byte, error) {
	if pc.Builtin() {
		b, _ := plugins.Lookup(pc.Name)
		return b.Wasm, nil
	}
	path := pc.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	return os.ReadFile(path)
}

func binding(bc config.Binding, p *plugin.Plugin) (plugin.Binding, error) {
	b := plugin.Binding{Name: bc.Name, Plugin: p, Servers: bc.Servers, Tools: bc.Tools, Order: bc.Order, Timeout: bc.Timeout.D()}
	var err error
	if b.Direction, err = plugin.ParseDirection(bc.Direction); err != nil {
		return b, fmt.Errorf("binding %s: %w", bc.Name, err)
	}
	if b.Mode, err = plugin.ParseMode(bc.Mode); err != nil {
		return b, fmt.Errorf("binding %s: %w", bc.Name, err)
	}
	if b.OnFailure, err = plugin.ParseFailurePolicy(bc.OnFailure); err != nil {
		return b, fmt.Errorf("binding %s: %w", bc.Name, err)
	}
	if bc.Config != nil {
		if b.Config, err = json.Marshal(bc.Config); err != nil {
			return b, fmt.Errorf("binding %s: config: %w", bc.Name, err)
		}
	}
	return b, nil
}

// Request implements pipeline.Guards.
func (g *Guards) Request(ctx context.Context, c *pipeline.Call, frame []byte) ([]byte, error) {
	return g.run(ctx, abi.HookRequestGuard, c, frame)
}

// Response implements pipeline.Guards.
func (g *Guards) Response(ctx context.Context, c *pipeline.Call, frame []byte) ([]byte, error) {
	return g.run(ctx, abi.HookResponseGuard, c, frame)
}

// Tools implements pipeline.Guards.
func (g *Guards) Tools(ctx context.Context, c *pipeline.Call, frame []byte) ([]byte, error) {
	return g.run(ctx, abi.HookToolFilter, c, frame)
}

// Audit hands a finished record to the audit sinks. Their failures are recorded by the engine
// and never affect the request, which has already been answered.
func (g *Guards) Audit(ctx context.Context, record []byte) {
	if !g.chain.Has(abi.HookAudit) {
		return
	}
	res := g.results.Get().(*plugin.Result)
	g.chain.Run(ctx, abi.HookAudit, &plugin.Call{Frame: record}, res)
	g.results.Put(res)
}

func (g *Guards) run(ctx context.Context, h abi.Hook, c *pipeline.Call, frame []byte) ([]byte, error) {
	if !g.chain.Has(h) {
		return frame, nil
	}
	res := g.results.Get().(*plugin.Result)
	defer g.results.Put(res)
	call := plugin.Call{Server: c.Server, Tool: c.Tool(), Agent: c.Principal.Agent, Team: c.Principal.Team, Frame: frame}
	g.chain.Run(ctx, h, &call, res)
	for _, o := range res.Outcomes {
		c.Plugins = appendOnce(c.Plugins, o.Binding.Plugin.ID())
	}
	if res.Blocked {
		return nil, &pipeline.Blocked{Code: int(res.Code), Reason: string(res.Reason), By: res.Outcomes[res.By].Binding.Name}
	}
	if res.Rewritten {
		return append([]byte(nil), res.Frame...), nil // the Result owns its buffer and goes back to the pool
	}
	return frame, nil
}

func appendOnce(list []string, id string) []string {
	for _, s := range list {
		if s == id {
			return list
		}
	}
	return append(list, id)
}

// Close gives back the plugin versions (closing those no other Guards uses), waiting for calls
// in flight until ctx ends. Call it once no request uses g any more.
func (g *Guards) Close(ctx context.Context) error {
	return g.release(ctx)
}

// CacheDir is where compiled plugins are kept between runs, under the gateway's data folder.
func CacheDir(dataDir string) string { return filepath.Join(dataDir, "wasm-cache") }

var _ pipeline.Guards = (*Guards)(nil)

// Route returns the strategy for a server: routing plugins bound to it when there are any, with
// the built-in strategy deciding when no plugin chooses. It fits upstream.Env.Route.
func (g *Guards) Route(server string, builtin upstream.Strategy) upstream.Strategy {
	if !g.chain.Has(abi.HookRoute) {
		return builtin
	}
	return &routeStrategy{g: g, server: server, builtin: builtin}
}

type routeStrategy struct {
	g       *Guards
	server  string
	builtin upstream.Strategy
}

func (r *routeStrategy) Pick(up []*upstream.Replica) int { return r.g.Pick(r.server, r.builtin, up) }

// Pick asks the route plugins; a failure or no choice falls back to the built-in strategy, so a
// broken routing plugin never makes a server unreachable. It implements pipeline.Router.
func (g *Guards) Pick(server string, builtin upstream.Strategy, up []*upstream.Replica) int {
	if !g.chain.Has(abi.HookRoute) {
		return builtin.Pick(up)
	}
	replicas := make([]abi.Replica, len(up))
	for i, rep := range up {
		replicas[i] = abi.Replica{Name: rep.Name(), InFlight: uint32(rep.InFlight()), Healthy: true}
	}
	res := g.results.Get().(*plugin.Result)
	defer g.results.Put(res)
	g.chain.Run(context.Background(), abi.HookRoute, &plugin.Call{Server: server, Replicas: replicas}, res)
	if !res.Blocked && res.Replica >= 0 && res.Replica < len(up) {
		return res.Replica
	}
	return builtin.Pick(up)
}

var (
	_ pipeline.Router  = (*Guards)(nil)
	_ pipeline.Auditor = (*Guards)(nil)
)
