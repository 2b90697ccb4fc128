package plugin

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tetratelabs/wazero"
)

// EventSink receives the events a plugin emits through the host function
// emit. It runs on the goroutine of the hook call, inside the call's
// deadline: it must not block, and must copy name and data to keep them.
type EventSink func(pluginID string, name, data []byte)

// EngineConfig configures an Engine.
type EngineConfig struct {
	// CacheDir holds compiled machine code across restarts (wazero's
	// on-disk compilation cache). Empty keeps it in memory only.
	CacheDir string
	// Logger receives guest log lines, with a "plugin" attribute. Nil
	// discards them.
	Logger *slog.Logger
	// Events receives emitted events. Nil discards them.
	Events EventSink
}

// cpuLimit selects how runaway guests are stopped. Only benchmarks change
// it, to compare the mechanisms.
type cpuLimit uint8

const (
	limitInterrupt   cpuLimit = iota // instrumented flag checks (default)
	limitNone                        // no instrumentation, no deadline
	limitCloseOnDone                 // wazero's WithCloseOnContextDone
)

// Engine loads plugins. It owns the compilation cache shared by all plugin
// runtimes. It is safe for concurrent use.
type Engine struct {
	cache  wazero.CompilationCache
	logger *slog.Logger
	events EventSink
	limit  cpuLimit
}

// NewEngine returns an engine. It fails if CacheDir cannot be used.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	e := &Engine{logger: cfg.Logger, events: cfg.Events}
	if cfg.CacheDir == "" {
		e.cache = wazero.NewCompilationCache()
	} else {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugin: compilation cache %s: %w", cfg.CacheDir, err)
		}
		e.cache = c
	}
	return e, nil
}

// Close releases the compilation cache. Close every plugin first.
func (e *Engine) Close(ctx context.Context) error {
	if err := e.cache.Close(ctx); err != nil {
		return fmt.Errorf("plugin: close compilation cache: %w", err)
	}
	return nil
}
