package plugintest

import (
	"os"
	"os/exec"
	"testing"
)

// Tool returns the first of candidates (absolute paths or names looked up in PATH) that is an
// executable. When none is, the test is skipped, or fails when the environment variable CI is
// set: CI installs every toolchain (.ci/run), so a missing one there is a broken setup.
//
// List Debian's paths first: on machines with rustup, PATH finds a cargo without wasm targets.
func Tool(t testing.TB, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("none of %q is installed; .ci/run installs them", candidates)
	}
	t.Skipf("none of %q is installed (.ci/run installs them)", candidates)
	return ""
}
