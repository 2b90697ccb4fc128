package registry

import (
	"context"
	"testing"

	"github.com/portcullis-mcp/portcullis/plugins"
)

// A built-in plugin binds like an uploaded one: self-tested with its config, and run. One is
// enough here (loading a compiled-language module is slow under the race detector); the
// plugins' own tests run each of them.
func TestRegistry_BindBuiltin(t *testing.T) {
	names := plugins.Names()
	if len(names) == 0 {
		t.Skip("no built-in plugin is built yet")
	}
	r := openRig(t, t.TempDir(), Options{})
	if _, err := r.reg.PutBinding(context.Background(), Binding{Name: "b", Plugin: names[0]}, "", "test"); err != nil {
		t.Fatalf("binding built-in %s: %v", names[0], err)
	}
	if got, want := r.running(), "b="+names[0]+"@"; len(got) <= len(want) || got[:len(want)] != want {
		t.Fatalf("running %q", got)
	}
}
