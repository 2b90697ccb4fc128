package plugin

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/portcullis-mcp/portcullis/abi"
)

// fixture reads testdata/name.wasm (built from name.wat, see doc.go).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder collects guest log lines and events.
type recorder struct {
	mu     sync.Mutex
	lines  []string
	levels []slog.Level
	events []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	r.lines = append(r.lines, line)
	r.levels = append(r.levels, rec.Level)
	return nil
}

func (r *recorder) event(id string, name, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, id+" "+string(name)+"="+string(data))
}

func (r *recorder) snapshot() (lines, events []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...), append([]string(nil), r.events...)
}

func newEngine(t testing.TB) (*Engine, *recorder) {
	t.Helper()
	rec := &recorder{}
	e, err := NewEngine(EngineConfig{Logger: slog.New(rec), Events: rec.event})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e, rec
}

// load loads a fixture declaring every hook it is given (all by default).
func load(t testing.TB, e *Engine, name string, spec Spec) *Plugin {
	t.Helper()
	if spec.Name == "" {
		spec.Name, spec.Version = name, "1.0.0"
	}
	if spec.Hooks == nil {
		spec.Hooks = abi.Hooks[:]
	}
	p, err := e.Load(context.Background(), fixture(t, name), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// script returns the config that makes script.wasm answer with v.
func script(v abi.Verdict) []byte {
	return []byte(`"` + hex.EncodeToString(abi.AppendVerdict(nil, &v)) + `"`)
}

// mode returns the config that makes script.wasm misbehave (see script.wat).
func mode(m string) []byte { return []byte(`"` + m + `"`) }

var (
	allowCfg   = script(abi.Verdict{Action: abi.ActionAllow})
	testFrame  = []byte(`{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"read_file"}}`)
	testReplic = []abi.Replica{{Name: "a", Healthy: true}, {Name: "b"}, {Name: "c", Healthy: true}}
)

func input(h abi.Hook, config []byte) *abi.Input {
	return &abi.Input{Hook: h, Direction: h.Direction(), Server: "files", Tool: "read_file",
		Agent: "bot", Team: "ops", Config: config, Frame: testFrame, Replicas: testReplic}
}

// goGuest is a standard Go guest, built with the real toolchain once per
// test binary: Go modules are megabytes, so they are never committed.
type goGuest struct {
	dir, pkg string   // build pkg from dir
	env      []string // added to the environment
	once     sync.Once
	wasm     []byte
	err      error
}

func (g *goGuest) build(t testing.TB) []byte {
	t.Helper()
	g.once.Do(func() {
		tmp, err := os.MkdirTemp("", "go-guest")
		if err != nil {
			g.err = err
			return
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, "guest.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, g.pkg)
		cmd.Dir = g.dir
		cmd.Env = append(append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm"), g.env...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			g.err = fmt.Errorf("go build %s: %w\n%s", g.pkg, err, msg)
			return
		}
		g.wasm, g.err = os.ReadFile(out)
	})
	if g.err != nil {
		t.Fatal(g.err)
	}
	return g.wasm
}
