// Package walk_test runs the Rust unit tests of the walk crate (the JSON string walk shared by
// the pii and prompt-injection plugins), so that `go test ./plugins/...` covers them too.
package walk_test

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
)

func TestWalk_RustUnitTests(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the crate's unit tests run natively on linux/amd64")
	}
	cargo := plugintest.Tool(t, "/usr/bin/cargo")
	rustc := plugintest.Tool(t, "/usr/bin/rustc")
	// Natively: the plugins' .cargo/config.toml defaults to wasm32-wasi, which cannot run here.
	cmd := exec.CommandContext(context.Background(), cargo, "test", "--quiet", "--target", "x86_64-unknown-linux-gnu")
	cmd.Env = append(os.Environ(), "RUSTC="+rustc, "CARGO_TARGET_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cargo test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "test result: ok") {
		t.Fatalf("cargo test ran no tests:\n%s", out)
	}
}
