// Package guard puts Wasm plugins on the request path: it loads the plugins a configuration
// names, builds the chain of their bindings, and runs it as the pipeline's guards.
package guard

import (
	"context"
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
	plugins []*plugin.Plugin
	results sync.Pool // *plugin.Result: reused so that runs do not allocate
}

// Load loads every plugin of cfg with eng and binds them as cfg says. Paths are relative to dir.
// On error nothing stays loaded.
func Load(ctx context.Context, eng *plugin.Engine, cfg *config.Config, dir string) (*Guards, error) {
	g := &Guards{}
	loaded := map[string]*plugin.Plugin{}
	for _, pc := range cfg.Plugins {
		p, err := loadPlugin(ctx, eng, pc, dir)
		if err != nil {
			g.Close(ctx)
			return nil, err
		}
		g.plugins = append(g.plugins, p)
		loaded[pc.Name+"@"+pc.Version] = p
	}
	var bindings []plugin.Binding
	for _, bc := range cfg.Bindings {
		pc, _ := cfg.PluginFor(bc)
		b, err := binding(bc, loaded[pc.Name+"@"+pc.Version])
		if err != nil {
			g.Close(ctx)
			return nil, err
		}
		bindings = append(bindings, b)
	}
	chain, err := plugin.NewChain(bindings)
	if err != nil {
		g.Close(ctx)
		return nil, err
	}
	g.chain = chain
	g.results.New = func() any { return new(plugin.Result) }
	return g, nil
}

func loadPlugin(ctx context.Context, eng *plugin.Engine, pc config.Plugin, dir string) (*plugin.Plugin, error) {
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
	return eng.Load(ctx, wasm, spec)
}

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

// Close unloads the plugins, waiting for calls in flight until ctx ends.
func (g *Guards) Close(ctx context.Context) error {
	var errs []error
	for _, p := range g.plugins {
		errs = append(errs, p.Close(ctx))
	}
	return errors.Join(errs...)
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

// Pick asks the route plugins; a failure or no choice falls back to the built-in strategy, so a
// broken routing plugin never makes a server unreachable.
func (r *routeStrategy) Pick(up []*upstream.Replica) int {
	replicas := make([]abi.Replica, len(up))
	for i, rep := range up {
		replicas[i] = abi.Replica{Name: rep.Name(), InFlight: uint32(rep.InFlight()), Healthy: true}
	}
	res := r.g.results.Get().(*plugin.Result)
	defer r.g.results.Put(res)
	r.g.chain.Run(context.Background(), abi.HookRoute, &plugin.Call{Server: r.server, Replicas: replicas}, res)
	if !res.Blocked && res.Replica >= 0 && res.Replica < len(up) {
		return res.Replica
	}
	return r.builtin.Pick(up)
}
