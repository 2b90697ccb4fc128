package registry

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/gateway"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/store"
	"github.com/portcullis-mcp/portcullis/plugins"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "host", "plugin", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rig is a registry on a real Badger database, applying its bindings to a real (unserved)
// gateway.
type rig struct {
	dir  string
	db   *badger.DB
	reg  *Registry
	live *Live
	gw   *gateway.Gateway
	eng  *plugin.Engine
}

func openRig(t testing.TB, dir string, opts Options) *rig {
	t.Helper()
	db, err := store.Open(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := plugin.NewEngine(plugin.EngineConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(config.Default(), gateway.Options{Log: quiet})
	opts.Engine, opts.Log = eng, quiet
	reg, err := Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive(eng, gw.SwapGuards, Static{})
	reg.SetPipeline(live)
	r := &rig{dir: dir, db: db, reg: reg, live: live, gw: gw, eng: eng}
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	if r.db == nil {
		return
	}
	ctx := context.Background()
	r.gw.Shutdown(ctx)
	r.live.Close(ctx)
	r.eng.Close(ctx)
	r.db.Close()
	r.db = nil
}

// running names the plugin versions of the running pipeline's bindings.
func (r *rig) running() string {
	snap := r.gw.Pipeline().Acquire()
	defer snap.Release()
	if snap.Guards == nil {
		return ""
	}
	var ids []string
	for _, b := range snap.Guards.(interface{ Bindings() []plugin.Binding }).Bindings() {
		ids = append(ids, b.Name+"="+b.Plugin.ID())
	}
	return strings.Join(ids, ",")
}

func manifest(name, version, hooks string, extra ...string) []byte {
	s := `{"name":"` + name + `","version":"` + version + `","hooks":[` + hooks + `]`
	for _, e := range extra {
		s += "," + e
	}
	return []byte(s + "}")
}

const guards = `"request_guard","response_guard"`

func TestRegistry_Lifecycle(t *testing.T) {
	r := openRig(t, t.TempDir(), Options{})
	ctx := context.Background()
	allow := fixture(t, "allow.wasm")
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := r.reg.Upload(ctx, Upload{Wasm: allow, Manifest: manifest("g", v, guards), Digest: Digest(allow)}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := r.reg.PutBinding(ctx, Binding{Name: "b", Plugin: "g", Version: "1.0.0"}, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.running(); got != "b=g@1.0.0" {
		t.Fatalf("running %q", got)
	}
	if _, err := r.reg.PutBinding(ctx, Binding{Name: "b", Plugin: "g", Version: "1.1.0"}, `"0"`, "test"); CodeOf(err) != CodeConflict {
		t.Fatalf("stale If-Match: %v", err)
	}
	if st, err = r.reg.PutBinding(ctx, Binding{Name: "b", Plugin: "g", Version: "1.1.0"}, st.ETag(), "test"); err != nil {
		t.Fatal(err)
	}
	if got := r.running(); got != "b=g@1.1.0" {
		t.Fatalf("running %q", got)
	}
	if err := r.reg.Delete(ctx, "g", "1.0.0"); CodeOf(err) != CodeBound {
		t.Fatalf("deleting the rollback target: %v", err)
	}
	if _, err = r.reg.Rollback(ctx, "b", st.ETag(), "test"); err != nil {
		t.Fatal(err)
	}
	if got := r.running(); got != "b=g@1.0.0" {
		t.Fatalf("after rollback, running %q", got)
	}
	if err := r.reg.Delete(ctx, "g", "1.0.0"); CodeOf(err) != CodeBound {
		t.Fatalf("deleting a bound version: %v", err)
	}
	if err := r.reg.Delete(ctx, "g", "1.1.0"); err != nil {
		t.Fatalf("deleting an unused version: %v", err)
	}
	if _, err = r.reg.DeleteBinding(ctx, "b", "", "test"); err != nil {
		t.Fatal(err)
	}
	if got := r.running(); got != "" {
		t.Fatalf("after unbind, running %q", got)
	}
	if err := r.reg.Delete(ctx, "g", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := r.live.Settled(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r.live.Loaded(); n != 0 {
		t.Errorf("%d plugin versions still loaded after unbinding everything", n)
	}
	evs, _ := r.reg.Events(100)
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "plugin.upload plugin.upload binding.put binding.put binding.put plugin.delete binding.rollback") {
		t.Errorf("events: %s", got)
	}
}

func TestRegistry_BuiltinsListed(t *testing.T) {
	r := openRig(t, t.TempDir(), Options{})
	list, err := r.reg.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range plugins.Names() {
		v, err := r.reg.Get(name, "")
		if err != nil || !v.Builtin {
			t.Errorf("built-in %s: %+v %v", name, v, err)
		}
	}
	if len(list) != len(plugins.Names()) {
		t.Errorf("listed %d versions, want the %d built-ins", len(list), len(plugins.Names()))
	}
}

// Each bad input is refused with its code and a message that says why, is recorded, and leaves
// the stored versions and the running pipeline as they were.
func TestRegistry_UploadBadInput(t *testing.T) {
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	allow := fixture(t, "allow.wasm")
	goodManifest := manifest("g", "2.0.0", guards)
	tests := []struct {
		name   string
		opts   Options
		upload Upload
		code   string
		msg    string
	}{
		{"not wasm", Options{}, Upload{Wasm: []byte("#!/bin/sh\nrm -rf /\n"), Manifest: goodManifest}, CodeModuleRefused, "refused"},
		{"truncated", Options{}, Upload{Wasm: allow[:len(allow)/2], Manifest: goodManifest}, CodeModuleRefused, "refused"},
		{"wrong digest", Options{}, Upload{Wasm: allow, Manifest: goodManifest, Digest: Digest([]byte("x"))}, CodeDigestMismatch, "damaged"},
		{"unsigned", Options{TrustedKeys: []ed25519.PublicKey{pub}}, Upload{Wasm: allow, Manifest: goodManifest}, CodeSignatureRequired, "unsigned"},
		{"signed by another key", Options{TrustedKeys: []ed25519.PublicKey{pub}}, Upload{Wasm: allow, Manifest: goodManifest, Signature: Sign(other, allow, goodManifest)}, CodeBadSignature, "not valid"},
		{"signature of another manifest", Options{TrustedKeys: []ed25519.PublicKey{pub}}, Upload{Wasm: allow, Manifest: goodManifest, Signature: Sign(priv, allow, manifest("g", "2.0.1", guards))}, CodeBadSignature, "not valid"},
		{"manifest unknown field", Options{}, Upload{Wasm: allow, Manifest: manifest("g", "2.0.0", guards, `"path":"/etc"`)}, CodeBadManifest, `unknown field "path"`},
		{"manifest not semver", Options{}, Upload{Wasm: allow, Manifest: manifest("g", "latest", guards)}, CodeBadManifest, "semantic version"},
		{"hook the module lacks", Options{}, Upload{Wasm: fixture(t, "requestonly.wasm"), Manifest: manifest("g", "2.0.0", guards)}, CodeModuleRefused, "missing export portcullis_response_guard for declared hook response_guard"},
		{"import not granted", Options{}, Upload{Wasm: fixture(t, "badimport.wasm"), Manifest: manifest("g", "2.0.0", `"request_guard"`)}, CodeModuleRefused, "env.open_socket, which the host does not provide"},
		{"over the size limit", Options{MaxModuleBytes: 300}, Upload{Wasm: fixture(t, "script.wasm"), Manifest: goodManifest}, CodeTooLarge, "above the limit of 300"},
		{"memory over the operator's maximum", Options{}, Upload{Wasm: allow, Manifest: manifest("g", "2.0.0", guards, `"memory_pages":4096`)}, CodeLimits, "at most 512"},
		{"bad schema", Options{}, Upload{Wasm: allow, Manifest: manifest("g", "2.0.0", guards, `"config":{"$ref":"#/$defs/missing"}`)}, CodeBadManifest, "config schema"},
		{"fails its self-test", Options{}, Upload{Wasm: fixture(t, "recurse.wasm"), Manifest: manifest("g", "2.0.0", `"request_guard"`, `"timeout_ms":20`)}, CodeSelfTest, "deadline exceeded"},
		{"accepted", Options{}, Upload{Wasm: fixture(t, "script.wasm"), Manifest: manifest("g", "2.0.0", guards, `"config":{"type":"object"}`)}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := openRig(t, t.TempDir(), tt.opts)
			// A running pipeline that must survive the refusal.
			if _, err := r.reg.Upload(ctx, Upload{Wasm: allow, Manifest: manifest("g", "1.0.0", guards), Signature: Sign(priv, allow, manifest("g", "1.0.0", guards))}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.reg.PutBinding(ctx, Binding{Name: "b", Plugin: "g"}, "", "test"); err != nil {
				t.Fatal(err)
			}
			before := r.gw.Pipeline().Load()
			_, err := r.reg.Upload(ctx, tt.upload)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q (code %s), want code %s and %q", err, CodeOf(err), tt.code, tt.msg)
			}
			if r.gw.Pipeline().Load() != before || r.running() != "b=g@1.0.0" {
				t.Error("the running pipeline changed")
			}
			if vs, _ := r.reg.List(); len(vs) != 1+len(plugins.Names()) {
				t.Errorf("stored versions: %+v", vs)
			}
			evs, _ := r.reg.Events(1)
			if len(evs) != 1 || evs[0].OK || evs[0].Code != tt.code || evs[0].Message != err.Error() {
				t.Errorf("last event %+v", evs)
			}
		})
	}
}

// A binding whose config fails the plugin's schema, or with which the plugin fails its
// self-test, is refused; the running pipeline and the stored bindings stay.
func TestRegistry_BindBadInput(t *testing.T) {
	ctx := context.Background()
	r := openRig(t, t.TempDir(), Options{})
	script := fixture(t, "script.wasm")
	m := manifest("script", "1.0.0", guards, `"config":{"type":"string","maxLength":64}`)
	if _, err := r.reg.Upload(ctx, Upload{Wasm: script, Manifest: m}); err != nil {
		t.Fatal(err)
	}
	st, err := r.reg.PutBinding(ctx, Binding{Name: "s", Plugin: "script", Config: []byte(`"L"`)}, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	before := r.gw.Pipeline().Load()
	for _, tt := range []struct{ config, code, msg string }{
		{`42`, CodeBadConfig, "does not match the schema of script@1.0.0"},
		{`"T"`, CodeSelfTest, "self-test of script@1.0.0 on the golden request_guard input failed"},
		{`"N"`, CodeSelfTest, "guest returned no verdict"},
	} {
		_, err := r.reg.PutBinding(ctx, Binding{Name: "s", Plugin: "script", Config: []byte(tt.config)}, st.ETag(), "test")
		if CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("config %s: error %v (code %s), want %s %q", tt.config, err, CodeOf(err), tt.code, tt.msg)
		}
		if now, _ := r.reg.State(); now.Revision != st.Revision || string(now.Bindings[0].Config) != `"L"` {
			t.Errorf("config %s: stored state changed: %+v", tt.config, now)
		}
		if r.gw.Pipeline().Load() != before {
			t.Errorf("config %s: the running pipeline changed", tt.config)
		}
	}
	if _, err := r.reg.PutBinding(ctx, Binding{Name: "t", Plugin: "nope"}, "", "test"); CodeOf(err) != CodeNotFound {
		t.Errorf("binding an unknown plugin: %v", err)
	}
}

func TestRegistry_SignedUpload(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	r := openRig(t, t.TempDir(), Options{TrustedKeys: []ed25519.PublicKey{pub}})
	allow := fixture(t, "allow.wasm")
	m := manifest("g", "1.0.0", guards)
	v, err := r.reg.Upload(context.Background(), Upload{Wasm: allow, Manifest: m, Signature: Sign(priv, allow, m)})
	if err != nil {
		t.Fatal(err)
	}
	if v.SignedBy == "" {
		t.Error("signer not recorded")
	}
}

// A restarted gateway runs the pipeline it ran before.
func TestRegistry_Restart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openRig(t, dir, Options{})
	allow := fixture(t, "allow.wasm")
	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		if _, err := r.reg.Upload(ctx, Upload{Wasm: allow, Manifest: manifest("g", v, guards)}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.reg.PutBinding(ctx, Binding{Name: "b" + v, Plugin: "g", Version: v, Order: -i}, "", "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.reg.Rollback(ctx, "b1.0.0", "", "test"); CodeOf(err) != CodeInvalid {
		t.Fatalf("rollback without history: %v", err)
	}
	want := r.running()
	wantState, _ := r.reg.State()
	r.close()

	r2 := openRig(t, dir, Options{})
	if err := r2.reg.Activate(ctx, "restart"); err != nil {
		t.Fatal(err)
	}
	if got := r2.running(); got != want || want == "" {
		t.Fatalf("after restart running %q, want %q", got, want)
	}
	if st, _ := r2.reg.State(); st.ETag() != wantState.ETag() {
		t.Errorf("revision %s, want %s", st.ETag(), wantState.ETag())
	}
}

// livePlugin returns the loaded plugin of the running binding called name.
func (r *rig) livePlugin(t testing.TB, name string) *plugin.Plugin {
	t.Helper()
	snap := r.gw.Pipeline().Acquire()
	defer snap.Release()
	if snap.Guards != nil {
		for _, b := range snap.Guards.(interface{ Bindings() []plugin.Binding }).Bindings() {
			if b.Name == name {
				return b.Plugin
			}
		}
	}
	t.Fatalf("binding %s is not running (%s)", name, r.running())
	return nil
}

// The bind-time self-test of a plugin version that serves traffic runs on a copy: its failures
// do not open the running version's circuit breaker, and a breaker opened by traffic does not make
// changes to other bindings fail.
func TestRegistry_SelfTestSparesLiveBreaker(t *testing.T) {
	ctx := context.Background()
	r := openRig(t, t.TempDir(), Options{})
	script := fixture(t, "script.wasm")
	m := manifest("script", "1.0.0", guards, `"config":{"type":"string"}`, `"timeout_ms":1000`)
	if _, err := r.reg.Upload(ctx, Upload{Wasm: script, Manifest: m}); err != nil {
		t.Fatal(err)
	}
	st, err := r.reg.PutBinding(ctx, Binding{Name: "s", Plugin: "script", Config: []byte(`"L"`)}, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	live := r.livePlugin(t, "s")
	before := live.Stats() // its own self-test, before it ran
	// Far more failed self-tests than the breaker allows in a row (5): a new binding of the live
	// version, and a change of the live binding's config.
	for i := range 8 {
		b := Binding{Name: "t", Plugin: "script", Config: []byte(`"T"`)}
		if i%2 == 1 {
			b.Name = "s"
		}
		if _, err := r.reg.PutBinding(ctx, b, "", "test"); CodeOf(err) != CodeSelfTest {
			t.Fatalf("bind %s with a trapping config: %v", b.Name, err)
		}
	}
	if s := live.Stats(); s != before || s.BreakerOpen {
		t.Fatalf("self-tests counted on the running plugin: %+v", s)
	}
	if r.livePlugin(t, "s") != live {
		t.Fatal("refused changes replaced the running plugin")
	}

	// Traffic opens the breaker of the running version...
	in := abi.Input{Hook: abi.HookRequestGuard, Config: []byte(`"T"`), Frame: []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)}
	var out abi.Verdict
	for range 5 {
		live.Call(ctx, &in, 0, &out)
	}
	if !live.Stats().BreakerOpen {
		t.Fatalf("breaker closed after 5 traps: %+v", live.Stats())
	}
	// ...which neither blocks a change to another binding, nor is closed by it.
	allow := fixture(t, "allow.wasm")
	if _, err := r.reg.Upload(ctx, Upload{Wasm: allow, Manifest: manifest("g", "1.0.0", guards)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.reg.PutBinding(ctx, Binding{Name: "g", Plugin: "g"}, st.ETag(), "test"); err != nil {
		t.Fatalf("a change beside a running plugin with an open breaker: %v", err)
	}
	if got := r.running(); got != "s=script@1.0.0,g=g@1.0.0" {
		t.Fatalf("running %q", got)
	}
	if r.livePlugin(t, "s") != live || !live.Stats().BreakerOpen {
		t.Fatalf("the running plugin was replaced or its breaker reset: %+v", live.Stats())
	}
}
