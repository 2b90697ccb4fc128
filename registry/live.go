package registry

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/guard"
	"github.com/portcullis-mcp/portcullis/host/pipeline"
	"github.com/portcullis-mcp/portcullis/host/plugin"
)

// Static is what the config file binds: plugin versions read from files or built in, and their
// bindings. It runs beside the registry's bindings; names may not clash.
type Static struct {
	Sources  []guard.Source
	Bindings []config.Binding
}

// StaticFrom reads the plugins and bindings of a config file (paths relative to cfg.Dir).
func StaticFrom(cfg *config.Config) (Static, error) {
	src, err := guard.ConfigSources(cfg, cfg.Dir)
	if err != nil {
		return Static{}, err
	}
	return Static{Sources: src, Bindings: guard.ConfigBindings(cfg)}, nil
}

// Install swaps guards in and calls drained once requests that started on the previous guards
// are done; gateway.Gateway.SwapGuards fits.
type Install func(guards pipeline.Guards, drained func()) <-chan struct{}

// Live is the Pipeline of a running gateway: it builds guards from the config file's bindings and
// the registry's with one guard.Loader (so a swap loads only versions that are new), self-tests
// every new or changed registry binding with its config (see selfTest), and installs the result.
// Retired guards are closed once drained.
type Live struct {
	eng     *plugin.Engine
	loader  *guard.Loader
	install Install

	mu      sync.Mutex
	static  Static
	current *guard.Guards
	retired sync.WaitGroup
}

// NewLive returns a Live that loads with eng and installs with install, starting from static.
func NewLive(eng *plugin.Engine, install Install, static Static) *Live {
	return &Live{eng: eng, loader: guard.NewLoader(eng), install: install, static: static}
}

type liveChange struct {
	l *Live
	g *guard.Guards
}

// Prepare implements Pipeline.
func (l *Live) Prepare(ctx context.Context, active []Active) (Change, error) {
	l.mu.Lock()
	static := l.static
	l.mu.Unlock()
	sources := slices.Clone(static.Sources)
	bindings := slices.Clone(static.Bindings)
	have := map[string]bool{}
	for _, s := range sources {
		have[s.Spec.ID()] = true
	}
	for _, b := range static.Bindings {
		for _, a := range active {
			if a.Binding.Name == b.Name {
				return nil, errorf(CodeInvalid, "binding %s is already defined in the config file", b.Name)
			}
		}
	}
	for i := range active {
		a := &active[i]
		if id := a.Source.Spec.ID(); !have[id] {
			have[id] = true
			sources = append(sources, a.Source)
		}
		bindings = append(bindings, a.Config())
	}
	g, err := l.loader.Build(ctx, sources, bindings)
	if err != nil {
		return nil, err
	}
	if err := l.selfTest(ctx, g, active); err != nil {
		g.Close(ctx)
		return nil, err
	}
	return &liveChange{l: l, g: g}, nil
}

// selfTest runs the golden vectors on each registry binding of g with that binding's config,
// before it sees traffic. A binding that runs now with the same plugin and config passed when it
// was bound and is not tested again. A plugin version that serves traffic now is tested on a
// fresh copy, so that the test neither counts toward its circuit breaker (nor resets it) nor
// replaces its warm instances, and a breaker opened by traffic does not refuse the change.
func (l *Live) selfTest(ctx context.Context, g *guard.Guards, active []Active) error {
	l.mu.Lock()
	cur := l.current
	l.mu.Unlock()
	serving := map[*plugin.Plugin]bool{}
	running := map[string]plugin.Binding{}
	if cur != nil {
		for _, b := range cur.Bindings() {
			serving[b.Plugin] = true
			running[b.Name] = b
		}
	}
	sources := make(map[string]*guard.Source, len(active))
	for i := range active {
		sources[active[i].Binding.Name] = &active[i].Source
	}
	for _, b := range g.Bindings() {
		src := sources[b.Name]
		if src == nil { // the config file's
			continue
		}
		if old, ok := running[b.Name]; ok && old.Plugin == b.Plugin && bytes.Equal(old.Config, b.Config) {
			continue
		}
		p := b.Plugin
		if serving[p] {
			cp, err := l.eng.Load(ctx, src.Wasm, src.Spec)
			if err != nil {
				return fmt.Errorf("binding %s: loading a copy of %s to self-test: %w", b.Name, p.ID(), err)
			}
			defer cp.Close(context.Background())
			p = cp
		}
		if err := SelfTest(ctx, p, b.Config); err != nil {
			return fmt.Errorf("binding %s: %w", b.Name, err)
		}
	}
	return nil
}

func (c *liveChange) Commit() {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.current
	l.current = c.g
	var guards pipeline.Guards
	if len(c.g.Bindings()) > 0 {
		guards = c.g
	}
	l.retired.Add(1)
	l.install(guards, func() {
		defer l.retired.Done()
		if old != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			old.Close(ctx)
		}
	})
}

func (c *liveChange) Abort() { c.g.Close(context.Background()) }

// Reload replaces the config file's part and rebuilds the pipeline with the registry's bindings.
// On failure the running pipeline and the previous static part stay.
func (l *Live) Reload(ctx context.Context, r *Registry, static Static, remote string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	l.mu.Lock()
	old := l.static
	l.static = static
	l.mu.Unlock()
	state, err := r.State()
	var ch Change
	if err == nil {
		ch, err = r.prepare(ctx, &state)
	}
	if err != nil {
		l.mu.Lock()
		l.static = old
		l.mu.Unlock()
	} else {
		ch.Commit()
	}
	r.record(Event{Action: "pipeline.reload", Remote: remote}, err)
	return err
}

// Close waits until every retired pipeline has drained and closed (or ctx ends), then closes the
// current one. Call it after the gateway has shut down.
func (l *Live) Close(ctx context.Context) error {
	if err := l.Settled(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	cur := l.current
	l.current = nil
	l.mu.Unlock()
	if cur != nil {
		return cur.Close(ctx)
	}
	return nil
}

// Settled waits until every replaced pipeline has drained and closed, or ctx ends.
func (l *Live) Settled(ctx context.Context) error {
	done := make(chan struct{})
	go func() { l.retired.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Loaded returns how many plugin versions are loaded now.
func (l *Live) Loaded() int { return l.loader.Loaded() }
