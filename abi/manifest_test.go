package abi

import (
	"strings"
	"testing"
)

func TestManifest_ValidateSemver(t *testing.T) {
	for v, ok := range map[string]bool{"1.0.0": true, "2.10.3-rc.1+build.5": true, "1.0": false, "01.0.0": false, "v1.0.0": false} {
		m := Manifest{Name: "x", Version: v, Hooks: []string{"audit"}}
		if err := m.ValidateSemver(); (err == nil) != ok {
			t.Errorf("%s: %v", v, err)
		}
	}
}

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
		{"limits", `{"name":"secrets","version":"1.0.0","abi_version":1,"hooks":["audit"],"memory_pages":16,"timeout_ms":20,"instances":2,"config":{"type":"object"}}`, ""},
		{"abi 2", `{"name":"s","version":"1","abi_version":2,"hooks":["audit"]}`, "abi_version 2"},
		{"schema not an object", `{"name":"s","version":"1","hooks":["audit"],"config":[1]}`, "JSON Schema"},
		{"too much memory", `{"name":"s","version":"1","hooks":["audit"],"memory_pages":65537}`, "memory_pages"},
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

func TestGoldenInputs(t *testing.T) {
	ins, err := GoldenInputs()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Hook]bool{}
	for _, in := range ins {
		seen[in.Hook] = true
	}
	for _, h := range Hooks {
		if !seen[h] {
			t.Errorf("no golden input for %s", h)
		}
	}
}

// FuzzParseManifest: any bytes give a manifest or an error, never a panic, and an accepted
// manifest always validates.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"name":"secrets","version":"1.0.0","hooks":["request_guard","response_guard"],"memory_pages":64}`))
	f.Add([]byte(`{"name":"x","version":"1","hooks":["audit"],"config":{"type":"object"}}`))
	f.Add([]byte(`{"hooks":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err == nil {
			if verr := m.Validate(); verr != nil {
				t.Fatalf("accepted %q but Validate says %v", b, verr)
			}
		}
	})
}
