package config

import (
	"strings"
	"testing"
	"time"
)

func TestParse_Example(t *testing.T) {
	t.Setenv("DOCS_TOKEN", "s3cret")
	c, err := Parse([]byte(`
listen: 127.0.0.1:9090
servers:
  # a stdio server
  - name: everything
    command: npx
    args: ["-y", "@modelcontextprotocol/server-everything"]
  - name: docs
    url: http://127.0.0.1:3001/mcp        # Streamable HTTP
    headers: {Authorization: "Bearer ${DOCS_TOKEN}"}
    timeout: 5s
  - name: legacy
    url: http://127.0.0.1:3002/sse
    transport: sse
  - name: pool
    strategy: weighted
    replicas:
      - url: http://127.0.0.1:4001/mcp
        weight: 3
      - command: ./server
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9090" || len(c.Servers) != 4 {
		t.Fatalf("got %+v", c)
	}
	if r := c.Servers[0].Replicas[0]; r.Transport != TransportStdio || r.Command != "npx" || len(r.Args) != 2 {
		t.Errorf("stdio replica = %+v", r)
	}
	if s := c.Servers[1]; s.Headers["Authorization"] != "Bearer s3cret" || s.Timeout.D() != 5*time.Second || s.Replicas[0].Transport != TransportHTTP {
		t.Errorf("docs = %+v", s)
	}
	if c.Servers[2].Replicas[0].Transport != TransportSSE {
		t.Errorf("legacy transport = %q", c.Servers[2].Replicas[0].Transport)
	}
	if p := c.Servers[3]; len(p.Replicas) != 2 || p.Replicas[0].Weight != 3 || *p.Retries != 1 {
		t.Errorf("pool = %+v", p)
	}
}

func TestParse_Errors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "servers:\n  - name: a\n    comand: x\n", "line 3: field comand not found"},
		{"unknown key after comment", "# c\n# c\nservers:\n  - name: a\n    url: http://x/mcp\n    bogus: 1\n", "line 6: field bogus"},
		{"duplicate", "servers:\n  - name: a\n    command: x\n  - name: a\n    command: y\n", "line 4: servers[1].name: duplicate server name \"a\" (first at line 2)"},
		{"bad duration", "servers:\n  - name: a\n    command: x\n    timeout: soon\n", "line 4: \"soon\" is not a duration"},
		{"bad url", "servers:\n  - name: a\n    url: ftp://x\n", "line 3: servers[0].url: \"ftp://x\" is not an http(s) URL"},
		{"no transport", "servers:\n  - name: a\n", "servers[0]: a server needs a command"},
		{"bad name", "servers:\n  - name: a b\n    command: x\n", "servers[0].name: \"a b\" must be"},
		{"separator in name", "servers:\n  - name: a__b\n    command: x\n", "contains the namespace separator"},
		{"bad strategy", "servers:\n  - name: a\n    command: x\n    strategy: random\n", "line 4: servers[0].strategy"},
		{"missing env", "servers:\n  - name: a\n    url: ${NOPE_NOT_SET_42}\n", "line 3: environment variable NOPE_NOT_SET_42 is not set"},
		{"no servers", "listen: 127.0.0.1:1\n", "at least one server"},
		{"bad listen", "listen: nope\nservers:\n  - name: a\n    command: x\n", "line 1: listen"},
		{"wrong type", "servers: 3\n", "line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDefault_HasDemo(t *testing.T) {
	c := Default()
	if c.Listen != "127.0.0.1:8080" || c.DataDir != "./portcullis-data" || c.Servers[0].Name != "demo" {
		t.Fatalf("default = %+v", c)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("servers:\n  - name: a\n    command: x\n")
	f.Add("listen: 1\nservers: [{name: b, url: 'http://h/mcp', replicas: [{url: x}]}]")
	f.Fuzz(func(t *testing.T, s string) { _, _ = Parse([]byte(s)) })
}

func TestParse_OneUnprefixedServer(t *testing.T) {
	_, err := Parse([]byte("servers:\n  - name: a\n    command: x\n    unprefixed: true\n  - name: b\n    command: y\n    unprefixed: true\n"))
	if err == nil || !strings.Contains(err.Error(), "only one server may be unprefixed (a already is)") {
		t.Fatalf("err = %v", err)
	}
}

func TestParse_PluginsAndBindings(t *testing.T) {
	c, err := Parse([]byte(`
servers:
  - name: a
    command: x
plugins:
  - name: guard
    version: 1.0.0
    path: guard.wasm
    hooks: [request_guard, response_guard]
bindings:
  - name: no-rm
    plugin: guard
    config: {deny: ["rm -rf"]}
    servers: ["*"]
    mode: monitor
`))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := c.PluginFor(c.Bindings[0]); !ok || p.Path != "guard.wasm" {
		t.Fatalf("plugin for binding: %+v %v", p, ok)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"plugins:\n  - name: g\n    version: 1\n    path: g.wasm\n    hooks: [sniff]\n", `"sniff" is not a hook`},
		{"plugins:\n  - name: g\n    version: 1\n    path: g.wasm\n    hooks: [audit]\nbindings:\n  - name: b\n    plugin: nope\n", `no plugin "nope"`},
		{"plugins:\n  - name: g\n    version: 1\n    path: g.wasm\n    hooks: [audit]\nbindings:\n  - name: b\n    plugin: g\n    mode: loud\n", `"loud" is not one of enforce, monitor`},
	} {
		_, err := Parse([]byte("servers:\n  - name: a\n    command: x\n" + tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

func TestParse_Admin(t *testing.T) {
	base := "servers:\n  - name: d\n    transport: demo\nadmin:\n"
	for in, want := range map[string]string{
		"  token: 0123456789abcdef\n":                          "",
		"  listen: 0.0.0.0:9090\n":                             "not a loopback address",
		"  listen: 0.0.0.0:9090\n  allow_remote: true\n":       "",
		"  token: short\n":                                     "at least 16",
		"  trusted_keys: [abcd]\n":                             "trusted_keys[0]",
		"  trusted_keys: [" + strings.Repeat("ab", 32) + "]\n": "",
		"  max_upload_bytes: 10\n":                             "at least 1024",
	} {
		_, err := Parse([]byte(base + in))
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}
