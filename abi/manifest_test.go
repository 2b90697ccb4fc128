package abi

import (
	"strings"
	"testing"
)

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"ok", `{"name":"secrets","version":"1.0.0","hooks":["request_guard","response_guard"]}`, ""},
		{"unknown field", `{"name":"s","version":"1","hooks":["audit"],"path":"x"}`, `unknown field "path"`},
		{"no hooks", `{"name":"s","version":"1","hooks":[]}`, "no hooks"},
		{"bad hook", `{"name":"s","version":"1","hooks":["guard"]}`, `"guard" is not a hook`},
		{"hook twice", `{"name":"s","version":"1","hooks":["audit","audit"]}`, "listed twice"},
		{"bad name", `{"name":"../x","version":"1","hooks":["audit"]}`, "name"},
		{"bad version", `{"name":"x","version":"1 0","hooks":["audit"]}`, "version"},
		{"trailing data", `{"name":"x","version":"1","hooks":["audit"]} {}`, "after the JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest([]byte(tt.in))
			if tt.err == "" {
				if err != nil || m.ID() != "secrets@1.0.0" {
					t.Fatalf("got %v %v", m, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}
