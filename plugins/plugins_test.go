package plugins_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
	"github.com/portcullis-mcp/portcullis/plugins"
)

// want lists the built-ins the gateway promises; each must be embedded.
var want = []string{"path-guard", "pii", "prompt-injection", "secrets", "ssrf", "tool-policy"}

// Every built-in loads in the real engine with the hooks its manifest declares: the engine
// refuses a module whose exports do not match.
func TestBuiltins_LoadAsDeclared(t *testing.T) {
	if got := plugins.Names(); !slices.Equal(got, want) {
		t.Fatalf("built-ins %q, want %q", got, want)
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			b, _ := plugins.Lookup(name)
			hooks, err := b.Manifest.HookList()
			if err != nil {
				t.Fatal(err)
			}
			p, _ := plugintest.Load(t, b.Wasm, plugin.Spec{Name: name, Version: b.Manifest.Version, Hooks: hooks})
			if p.ID() != name+"@"+b.Manifest.Version {
				t.Fatalf("loaded as %s", p.ID())
			}
		})
	}
}

// The committed modules are what their sources build to: build.sh, run on this checkout,
// reproduces every plugin.wasm byte for byte, so a reviewer reads the source of what ships.
func TestBuiltins_ReproducibleFromSource(t *testing.T) {
	plugintest.Tool(t, "/usr/bin/cargo")
	plugintest.Tool(t, "/usr/bin/rustc")
	out := t.TempDir()
	cmd := exec.CommandContext(context.Background(), "bash", "build.sh", out)
	cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+filepath.Join(out, "target"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	for _, name := range want {
		built, err := os.ReadFile(filepath.Join(out, name, "plugin.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := plugins.Lookup(name)
		if !bytes.Equal(built, b.Wasm) {
			t.Errorf("%s: the committed plugin.wasm (%d bytes) differs from its source's build (%d bytes): run plugins/build.sh", name, len(b.Wasm), len(built))
		}
	}
}
