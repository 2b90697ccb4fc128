package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-mcp/portcullis/host/admin"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/store"
	"github.com/portcullis-mcp/portcullis/plugins"
	"github.com/portcullis-mcp/portcullis/registry"
)

// adminAPI is a registry on real Badger behind the real admin API, without a gateway: enough for
// the commands that manage stored versions.
func adminAPI(t *testing.T, token string) (*registry.Registry, string) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := plugin.NewEngine(plugin.EngineConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(db, registry.Options{Engine: eng, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	api, err := admin.New(admin.Options{Token: token, Registry: reg, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		eng.Close(context.Background())
		db.Close()
	})
	return reg, srv.URL
}

// plugin delete removes an unused version, and is refused, with the registry's reason and a
// non-zero exit, for a bound version, a rollback target, a built-in and an unknown version.
func TestPlugin_Delete(t *testing.T) {
	const token = "delete-test-token-0123456789"
	reg, url := adminAPI(t, token)
	t.Setenv("PORTCULLIS_ADMIN_TOKEN", token)
	ctx := context.Background()
	allow, err := os.ReadFile(filepath.Join("..", "..", "host", "plugin", "testdata", "allow.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	c := &admin.Client{URL: url, Token: token}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		m := `{"name":"g","version":"` + v + `","hooks":["request_guard"],"timeout_ms":1000}`
		if _, err := c.Push(ctx, allow, []byte(m), nil); err != nil {
			t.Fatal(err)
		}
	}
	// b binds 1.1.0, having bound 1.0.0 before: 1.0.0 is its rollback target, 1.2.0 is unused.
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := reg.PutBinding(ctx, registry.Binding{Name: "b", Plugin: "g", Version: v}, "", "test"); err != nil {
			t.Fatal(err)
		}
	}
	cmd := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append([]string{"plugin", "delete", "--admin", url}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	builtin := plugins.Names()[0]
	bv, _ := reg.Get(builtin, "")
	for _, tt := range []struct {
		target string
		code   int
		stderr string
	}{
		{"g", 2, `takes NAME@VERSION, got "g"`},
		{"g@1.1.0", 1, "bound: g@1.1.0 is bound by b: unbind it first"},
		{"g@1.0.0", 1, "bound: g@1.0.0 is binding b's rollback target"},
		{builtin + "@" + bv.Version, 1, "builtin: " + builtin + "@" + bv.Version + " is built into the gateway"},
		{"g@9.9.9", 1, "not_found: no plugin g@9.9.9"},
	} {
		code, out, errOut := cmd(tt.target)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("delete %s: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.target, code, out, errOut, tt.code, tt.stderr)
		}
	}
	if vs, _ := reg.List(); len(vs) != 3+len(plugins.Names()) {
		t.Fatalf("a refused delete removed something: %d versions", len(vs))
	}

	if code, out, errOut := cmd("g@1.2.0"); code != 0 || out != "deleted g@1.2.0\n" {
		t.Fatalf("delete g@1.2.0: exit %d, %q %q", code, out, errOut)
	}
	if _, err := reg.Get("g", "1.2.0"); registry.CodeOf(err) != registry.CodeNotFound {
		t.Fatalf("g@1.2.0 still stored: %v", err)
	}
	// The module's bytes are shared with the versions still stored: they stay usable.
	if _, err := reg.Rollback(ctx, "b", "", "test"); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cmd("g@1.1.0"); code != 0 {
		t.Fatalf("delete g@1.1.0 once unbound: %s", errOut)
	}
	if st, err := reg.State(); err != nil || st.Bindings[0].Version != "1.0.0" {
		t.Fatalf("binding after deletes: %+v %v", st, err)
	}
}

// Without a token, or with no admin API listening, the CLI says what to set.
func TestPlugin_NoToken(t *testing.T) {
	t.Setenv("PORTCULLIS_ADMIN_TOKEN", "some-token-0123456789")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"plugin", "list", "--admin", "http://" + freeAddr(t)}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "connection refused") || !strings.Contains(errOut.String(), "$PORTCULLIS_ADMIN_URL") {
		t.Fatalf("nothing listening: exit %d, %q", code, errOut.String())
	}
	t.Setenv("PORTCULLIS_ADMIN_TOKEN", "")
	errOut.Reset()
	if code := run(context.Background(), []string{"plugin", "delete", "g@1.0.0"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "no admin token: set $PORTCULLIS_ADMIN_TOKEN") {
		t.Fatalf("exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"plugin", "frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown plugin command "frobnicate"`) {
		t.Fatalf("exit %d, %q", code, errOut.String())
	}
}
