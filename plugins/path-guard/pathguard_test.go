package pathguard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	b, ok := plugins.Lookup("path-guard")
	if !ok {
		t.Fatal("path-guard is not embedded: run plugins/build.sh")
	}
	return plugintest.Load(t, b.Wasm, plugin.Spec{Name: "path-guard", Version: b.Manifest.Version, Hooks: []abi.Hook{abi.HookRequestGuard}})
}

// toolCall is a tools/call request whose arguments are the raw JSON args.
func toolCall(tool, args string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":"req-7","method":"tools/call","params":{"name":` + strconv.Quote(tool) + `,"arguments":` + args + `}}`)
}

func run(t testing.TB, p *plugin.Plugin, config string, frame []byte) abi.Verdict {
	t.Helper()
	in := abi.Input{Hook: abi.HookRequestGuard, Direction: abi.DirectionRequest, Server: "fs", Tool: "read_text_file", Config: []byte(config), Frame: frame}
	var v abi.Verdict
	if err := p.Call(context.Background(), &in, time.Second, &v); err != nil {
		t.Fatalf("call: %v", err)
	}
	return v
}

type finding struct {
	Rule, Where, Action, Server, Tool string
}

func findings(t *testing.T, s *plugintest.Sink) []finding {
	t.Helper()
	var out []finding
	for _, e := range s.Take("path-guard.finding") {
		var f finding
		if err := json.Unmarshal([]byte(e), &f); err != nil {
			t.Fatalf("event %q: %v", e, err)
		}
		out = append(out, f)
	}
	return out
}

// check asserts the verdict: want "" is allow, else a block whose reason is
// "path-guard: <want>" (rule and place); the reason never quotes the value.
func check(t *testing.T, v abi.Verdict, want, value string) {
	t.Helper()
	if want == "" {
		if v.Action != abi.ActionAllow {
			t.Fatalf("got %s %q, want allow", v.Action, v.Payload)
		}
		return
	}
	if v.Action != abi.ActionBlock {
		t.Fatalf("got %s, want block (%s)", v.Action, want)
	}
	reason := string(v.Payload)
	if !strings.HasPrefix(reason, "path-guard: "+want) {
		t.Fatalf("reason %q, want %q", reason, "path-guard: "+want)
	}
	rest := strings.TrimPrefix(reason, "path-guard: "+want) // the rule and the key are no echo
	for _, part := range strings.FieldsFunc(value, func(r rune) bool { return strings.ContainsRune(`/\.:"{}[],`, r) }) {
		if len(part) > 4 && strings.Contains(rest, part) {
			t.Fatalf("reason %q echoes the value %q", reason, value)
		}
	}
}

func TestPathGuard_Blocks(t *testing.T) {
	p, s := load(t)
	tests := []struct {
		name, config, args, want string
	}{
		// Traversal as written, and hidden under every encoding an upstream might undo.
		{"dot-dot", "", `{"path":"../../etc/passwd"}`, "traversal in arguments.path"},
		{"deep dot-dot", "", `{"path":"reports/2024/../../../../home/alice/notes"}`, "traversal in arguments.path"},
		{"json escapes", "", `{"path":"\u002e\u002e/\u002e\u002e/etc/passwd"}`, "traversal in arguments.path"},
		{"percent", "", `{"path":"%2e%2e/%2e%2e/etc/passwd"}`, "traversal in arguments.path"},
		{"percent upper", "", `{"path":"%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"}`, "traversal in arguments.path"},
		{"double percent", "", `{"path":"%252e%252e%252f%252e%252e%252fetc%252fpasswd"}`, "traversal in arguments.path"},
		{"triple percent", "", `{"file":"%25252e%25252e/secret"}`, "traversal in arguments.file"},
		{"overlong utf-8", "", `{"path":"%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd"}`, "traversal in arguments.path"},
		{"overlong slash", "", `{"path":"..%c0%af..%c0%afetc%c0%afpasswd"}`, "traversal in arguments.path"},
		{"iis unicode", "", `{"path":"%u002e%u002e%u2215etc"}`, "traversal in arguments.path"},
		{"fullwidth", "", `{"path":"．．／．．／etc/passwd"}`, "traversal in arguments.path"},
		{"fullwidth escaped", "", `{"path":"\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fetc"}`, "traversal in arguments.path"},
		{"backslashes", "", `{"path":"..\\..\\Windows\\win.ini"}`, "traversal in arguments.path"},
		{"mixed separators", "", `{"path":"docs/..\\../..\\x"}`, "traversal in arguments.path"},
		{"encoded backslash", "", `{"path":"..%5c..%5cboot.ini"}`, "traversal in arguments.path"},
		{"servlet parameter", "", `{"path":"..;/..;/WEB-INF/web.xml"}`, "traversal in arguments.path"},
		{"url-looking path", "", `{"path":"a/..://../../../etc/passwd"}`, "traversal in arguments.path"},
		{"drive that looks like a scheme", "", `{"path":"C://Users/bob/.ssh/id_rsa"}`, "ssh_keys in arguments.path"},
		{"file url with spaces", "", `{"uri":"  file:///etc/shadow"}`, "system_credentials in arguments.uri"},
		{"trailing newline", "", `{"path":"/etc/shadow\n"}`, "system_credentials in arguments.path"},
		{"file url", "", `{"uri":"file:///srv/%2e%2e/%2e%2e/etc/passwd"}`, "traversal in arguments.uri"},
		{"file url dot-dot", "", `{"uri":"file:///srv/data/../../etc/passwd"}`, "absolute_dotdot in arguments.uri"},
		{"file url traversal", "", `{"uri":"file://localhost/../etc/passwd"}`, "traversal in arguments.uri"},
		{"encoded but contained", "", `{"path":"docs/%2e%2e/readme.md"}`, "encoded_traversal in arguments.path"},
		{"absolute with dot-dot", "", `{"path":"/srv/data/../../etc/passwd"}`, "absolute_dotdot in arguments.path"},
		{"nul byte", "", `{"path":"/srv/data/report.pdf\u0000.txt"}`, "nul_byte in arguments.path"},
		{"encoded nul", "", `{"path":"/srv/data/report.pdf%00.txt"}`, "nul_byte in arguments.path"},
		// Which values are paths: key names in any style, arrays, nesting, and path-like values
		// under other keys.
		{"camelCase key", "", `{"filePath":"../.env"}`, "traversal in arguments.filePath"},
		{"snake_case key", "", `{"output_dir":"../../tmp"}`, "traversal in arguments.output_dir"},
		{"array of paths", "", `{"paths":["docs/a.md","../../secret"]}`, "traversal in arguments.paths"},
		{"nested edits", "", `{"edits":[{"file":"..%2f..%2fetc"}]}`, "traversal in arguments.file"},
		{"path under another key", "", `{"query":"../../../etc/passwd"}`, "traversal in arguments.query"},
		{"encoded under another key", "", `{"name":"a%2f..%2f..%2f..%2fetc"}`, "traversal in arguments.name"},
		// Sensitive files, however they are written.
		{"shadow", "", `{"path":"/etc/shadow"}`, "system_credentials in arguments.path"},
		{"shadow encoded", "", `{"path":"/etc/%73hadow"}`, "system_credentials in arguments.path"},
		{"shadow double slash", "", `{"path":"//etc//./shadow"}`, "system_credentials in arguments.path"},
		{"shadow file url", "", `{"uri":"file:///etc/shadow"}`, "system_credentials in arguments.uri"},
		{"proc environ", "", `{"path":"/proc/self/environ"}`, "process_secrets in arguments.path"},
		{"proc pid environ", "", `{"path":"/proc/1/environ"}`, "process_secrets in arguments.path"},
		{"service account token", "", `{"path":"/var/run/secrets/kubernetes.io/serviceaccount/token"}`, "container_secrets in arguments.path"},
		{"ssh key", "", `{"path":"/home/alice/.ssh/id_ed25519"}`, "ssh_keys in arguments.path"},
		{"ssh key home", "", `{"path":"~/.ssh/id_rsa"}`, "ssh_keys in arguments.path"},
		{"ssh key windows", "", `{"path":"C:\\Users\\bob\\.ssh\\id_rsa"}`, "ssh_keys in arguments.path"},
		{"aws credentials", "", `{"path":"/Users/bob/.aws/credentials"}`, "cloud_credentials in arguments.path"},
		{"gcloud", "", `{"dir":"~/.config/gcloud"}`, "cloud_credentials in arguments.dir"},
		{"kubeconfig", "", `{"path":"/root/.kube/config"}`, "root_home in arguments.path"},
		{"netrc", "", `{"path":"/home/ci/.netrc"}`, "credential_files in arguments.path"},
		{"sam hive", "", `{"path":"C:/Windows/System32/config/SAM"}`, "windows_secrets in arguments.path"},
		// Roots: everything must stay inside them, relative paths resolved against the first.
		{"outside roots", `{"roots":["/srv/data"]}`, `{"path":"/etc/hosts"}`, "outside_roots in arguments.path"},
		{"sibling prefix", `{"roots":["/srv/data"]}`, `{"path":"/srv/database/dump.sql"}`, "outside_roots in arguments.path"},
		{"home outside roots", `{"roots":["/srv/data"]}`, `{"path":"~/notes.txt"}`, "outside_roots in arguments.path"},
		{"encoded outside roots", `{"roots":["/srv/data"]}`, `{"path":"%2fetc%2fhosts"}`, "outside_roots in arguments.path"},
		{"relative escape", `{"roots":["/srv/data"]}`, `{"path":"notes/../../x"}`, "traversal in arguments.path"},
		{"second root", `{"roots":["/srv/data","/srv/shared"]}`, `{"source":"/srv/shared/a","destination":"/tmp/a"}`, "outside_roots in arguments.destination"},
		{"windows drive outside", `{"roots":["/srv/data"]}`, `{"path":"D:\\data\\x"}`, "outside_roots in arguments.path"},
		{"file url outside", `{"roots":["/srv/data"]}`, `{"url":"file:///etc/hosts"}`, "outside_roots in arguments.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := run(t, p, tt.config, toolCall("read_text_file", tt.args))
			check(t, v, tt.want, tt.args)
			fs := findings(t, s)
			if len(fs) == 0 {
				t.Fatal("no finding event")
			}
			for _, f := range fs {
				if f.Action != "block" || f.Server != "fs" || f.Tool != "read_text_file" || !strings.HasPrefix(f.Where, "arguments.") {
					t.Fatalf("event %+v", f)
				}
			}
		})
	}
}

// Encoded traversal is reported as such too (the block names the first finding).
func TestPathGuard_EncodedFindings(t *testing.T) {
	p, s := load(t)
	for _, args := range []string{`{"path":"%2e%2e/x"}`, `{"path":"%252e%252e/x"}`, `{"path":"%c0%ae%c0%ae/x"}`, `{"path":"．．/x"}`} {
		run(t, p, "", toolCall("read_file", args))
		var rules []string
		for _, f := range findings(t, s) {
			rules = append(rules, f.Rule)
		}
		if strings.Join(rules, ",") != "traversal,encoded_traversal" {
			t.Errorf("%s: findings %v, want traversal and encoded_traversal", args, rules)
		}
	}
}

func TestPathGuard_Allows(t *testing.T) {
	p, s := load(t)
	roots := `{"roots":["/srv/data"]}`
	tests := []struct{ name, config, args string }{
		{"absolute path", "", `{"path":"/home/alice/project/README.md"}`},
		{"relative path", "", `{"path":"docs/readme.md"}`},
		{"dot slash", "", `{"path":"./src/main.rs"}`},
		{"dot-dot that stays inside", "", `{"path":"docs/../README.md"}`},
		{"dotfile", "", `{"path":".gitignore"}`},
		{"double dot in a name", "", `{"path":"release..notes.md"}`},
		{"three dots", "", `{"path":"src/.../x"}`},
		{"percent in a name", "", `{"path":"/srv/data/100%25 done.txt"}`},
		{"spaces", "", `{"path":"/home/alice/My Documents/plan.txt"}`},
		{"unicode name", "", `{"path":"/home/zoë/café/menu.txt"}`},
		{"windows path", "", `{"path":"C:\\Users\\bob\\Documents\\plan.docx"}`},
		{"inside roots", roots, `{"path":"/srv/data/notes.txt"}`},
		{"the root itself", roots, `{"path":"/srv/data"}`},
		{"relative inside roots", roots, `{"path":"notes/today.md"}`},
		{"relative dot-dot inside roots", roots, `{"path":"./notes/../readme.md"}`},
		{"file url inside roots", roots, `{"uri":"file:///srv/data/a.txt"}`},
		{"non-path key outside roots", roots, `{"pattern":"/api/v1/*","query":"/help"}`},
		{"target that is a word", roots, `{"target":"production","source":"web"}`},
		// Values that are not paths must pass whatever they hold.
		{"prose", "", `{"message":"Go up one level with ../ and then open the etc folder; 1..10 works too."}`},
		{"code", "", `{"content":"import x from '../lib/x.js';\nconst up = '../../';\n"}`},
		{"https url", "", `{"url":"https://example.com/docs/../guide?q=%2e%2e"}`},
		{"uuid", "", `{"id":"3f2b8c1e-9d4a-4b7e-8f21-6c0d5e4a7b19"}`},
		{"sha256", "", `{"digest":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}`},
		{"git commit", "", `{"ref":"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"}`},
		{"base64 jpeg", "", `{"image":"/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/"}`},
		{"data url", "", `{"image":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}`},
		{"version range", "", `{"range":"1.2.0...1.4.0"}`},
		{"numbers and bools", "", `{"path_depth":3,"recursive":true,"file":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, p, tt.config, toolCall("read_text_file", tt.args)), "", "")
			if fs := findings(t, s); len(fs) != 0 {
				t.Fatalf("findings %+v", fs)
			}
		})
	}
	// Frames other than tools/call pass untouched, whatever they carry.
	for _, frame := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"../../x","version":"1"}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"../../etc/shadow"}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file"}}`,
	} {
		check(t, run(t, p, "", []byte(frame)), "", "")
	}
}

func TestPathGuard_Config(t *testing.T) {
	p, s := load(t)
	tests := []struct{ name, config, args, want, action string }{
		{"disable a rule", `{"disable":["traversal"]}`, `{"path":"../notes.txt"}`, "", ""},
		{"disable a file rule", `{"disable":["ssh_keys"]}`, `{"path":"/home/a/.ssh/known_hosts"}`, "", ""},
		{"add paths", `{"deny":["/srv/private","*.pem"]}`, `{"path":"/srv/private/payroll.csv"}`, "deny in arguments.path", "block"},
		{"add a glob", `{"deny":["*.pem"]}`, `{"path":"certs/server.PEM"}`, "deny in arguments.path", "block"},
		{"add a named rule", `{"deny":[{"id":"hr_records","paths":["/data/hr"]}]}`, `{"path":"/data/hr/2024/reviews.xlsx"}`, "hr_records in arguments.path", "block"},
		{"monitor only", `{"action":"monitor"}`, `{"path":"../../etc/passwd"}`, "", "monitor"},
		{"monitor one rule", `{"actions":{"absolute_dotdot":"monitor"}}`, `{"path":"/srv/a/../b"}`, "", "monitor"},
		{"rule off", `{"actions":{"absolute_dotdot":"off"}}`, `{"path":"/srv/a/../b"}`, "", ""},
		{"extra key", `{"roots":["/srv/data"],"keys":["location"]}`, `{"location":"/etc"}`, "outside_roots in arguments.location", "block"},
		{"values not scanned", `{"scan_values":false}`, `{"query":"../../../etc/passwd"}`, "", ""},
		{"base for relative paths", `{"roots":["/srv/data"],"base":"/"}`, `{"path":"etc/hosts"}`, "outside_roots in arguments.path", "block"},
		{"relative deny with base", `{"base":"/"}`, `{"path":"etc/shadow"}`, "system_credentials in arguments.path", "block"},
		{"case-sensitive roots", `{"roots":["/srv/data"]}`, `{"path":"/SRV/DATA/x"}`, "outside_roots in arguments.path", "block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, p, tt.config, toolCall("read_text_file", tt.args)), tt.want, tt.args)
			fs := findings(t, s)
			if tt.action == "" {
				if len(fs) != 0 {
					t.Fatalf("findings %+v", fs)
				}
				return
			}
			if len(fs) == 0 || fs[0].Action != tt.action {
				t.Fatalf("findings %+v, want action %s", fs, tt.action)
			}
		})
	}
}

// A config the plugin cannot use blocks every call, saying why: a typo must not turn the guard
// off.
func TestPathGuard_BadConfig(t *testing.T) {
	p, _ := load(t)
	for _, tt := range []struct{ config, want string }{
		{`{"roots":["relative/dir"]}`, "must be an absolute path"},
		{`{"roots":"/srv"}`, "roots must be a list of strings"},
		{`{"disable":["traversl"]}`, `no rule "traversl"`},
		{`{"action":"redact"}`, "action must be"},
		{`{"rots":["/srv"]}`, `unknown key "rots"`},
		{`{"deny":[{"id":"ssh_keys","paths":["/x"]}]}`, "is a built-in rule"},
		{`{"deny":["../up"]}`, "has .."},
		{`[1,2]`, "config must be a JSON object"},
		{`{"roots":`, "json"},
	} {
		v := run(t, p, tt.config, toolCall("read_text_file", `{"path":"docs/readme.md"}`))
		if v.Action != abi.ActionBlock || !strings.HasPrefix(string(v.Payload), "path-guard: invalid config: ") || !strings.Contains(string(v.Payload), tt.want) {
			t.Errorf("config %s: got %s %q, want a block saying %q", tt.config, v.Action, v.Payload, tt.want)
		}
	}
	// The same instance recovers once the config is fixed.
	check(t, run(t, p, `{"roots":["/srv"]}`, toolCall("read_text_file", `{"path":"/srv/x"}`)), "", "")
}

// fsServer returns the path of @modelcontextprotocol/server-filesystem's entry script from the
// e2e fixtures. It skips when they are not installed (`make npm-deps`), except under CI.
func fsServer(t *testing.T) (node, script string) {
	t.Helper()
	script, _ = filepath.Abs("../../host/internal/e2e/testdata/npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js")
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
	return node, script
}

// Through a real gateway in front of the real filesystem server: a legitimate read works and
// traversal attempts are answered by the gateway, never reaching the server.
func TestPathGuard_GatewayFilesystem(t *testing.T) {
	node, script := fsServer(t)
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(filepath.Join(data, "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	const content = "quarterly plan: ship the gateway\n"
	if err := os.WriteFile(filepath.Join(data, "notes", "plan.md"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "secret.txt"), []byte("outside the root"), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`servers:
  - name: fs
    command: %q
    args: [%q, %q]
bindings:
  - name: paths
    plugin: path-guard
    servers: [fs]
`, node, script, data)
	cs, sink := plugintest.Gateway(t, yaml, t.TempDir())

	for _, path := range []string{filepath.Join(data, "notes", "plan.md"), "notes/plan.md", "notes/../notes/plan.md"} {
		got, err := plugintest.CallText(cs, "fs__read_text_file", map[string]any{"path": path})
		if err != nil || got != content {
			t.Fatalf("read %s: %q, %v", path, got, err)
		}
	}
	attempts := map[string]string{
		"../secret.txt":                    "traversal",
		"%2e%2e/secret.txt":                "traversal",
		"..%252fsecret.txt":                "traversal",
		"．．/secret.txt":                    "traversal",
		data + "/../secret.txt":            "absolute_dotdot",
		"notes/..\\..\\secret.txt":         "traversal",
		"file://" + data + "/../../x":      "absolute_dotdot",
		data + "/notes/plan.md\x00.png":    "nul_byte",
		"/proc/self/environ":               "process_secrets",
		"/home/someone/.ssh/id_ed25519":    "ssh_keys",
		"notes/%c0%ae%c0%ae/../secret.txt": "traversal",
	}
	for path, rule := range attempts {
		_, err := plugintest.CallText(cs, "fs__read_text_file", map[string]any{"path": path})
		if err == nil {
			t.Fatalf("read %q passed", path)
		}
		// The gateway's block (code -32001, our reason), not the server's "Access denied".
		if msg := err.Error(); !strings.Contains(msg, "path-guard: "+rule+" in arguments.path") || strings.Contains(msg, "Access denied") {
			t.Errorf("read %q: %v, want a path-guard %s block", path, err, rule)
		}
	}
	if n := len(sink.Take("path-guard.finding")); n < len(attempts) {
		t.Errorf("%d finding events for %d attempts", n, len(attempts))
	}

	// The server's other tools pass too.
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "fs__list_directory", Arguments: map[string]any{"path": data}})
	if err != nil || res.IsError {
		t.Fatalf("list_directory: %v %+v", err, res)
	}
}

// With roots matching the server's allowed directory, anything outside is stopped at the gateway.
func TestPathGuard_GatewayRoots(t *testing.T) {
	node, script := fsServer(t)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "a.txt"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`servers:
  - name: fs
    command: %q
    args: [%q, %q]
bindings:
  - name: paths
    plugin: path-guard
    config: {roots: [%q]}
`, node, script, data, data)
	cs, _ := plugintest.Gateway(t, yaml, t.TempDir())
	if got, err := plugintest.CallText(cs, "fs__read_text_file", map[string]any{"path": "a.txt"}); err != nil || got != "inside" {
		t.Fatalf("read inside: %q %v", got, err)
	}
	for _, args := range []map[string]any{
		{"path": "/etc/hostname"},
		{"path": data + "-sibling/a.txt"},
		{"source": filepath.Join(data, "a.txt"), "destination": "/tmp/stolen.txt"},
	} {
		tool := "fs__read_text_file"
		if _, ok := args["source"]; ok {
			tool = "fs__move_file"
		}
		if _, err := plugintest.CallText(cs, tool, args); err == nil || !strings.Contains(err.Error(), "path-guard: outside_roots") {
			t.Errorf("%s %v: %v", tool, args, err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "a.txt")); err != nil {
		t.Fatal("the file was moved out of the root")
	}
}

// The README's example bindings are valid gateway config, and the plugin accepts their config.
func TestPathGuard_ReadmeExamples(t *testing.T) {
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
			if b.Plugin != "path-guard" {
				t.Fatalf("binding %s uses %s", b.Name, b.Plugin)
			}
			raw, _ := json.Marshal(b.Config)
			if b.Config == nil {
				raw = nil
			}
			v := run(t, p, string(raw), toolCall("read_text_file", `{"path":"/srv/data/notes.txt"}`))
			if v.Action == abi.ActionBlock && strings.Contains(string(v.Payload), "invalid config") {
				t.Fatalf("binding %s: %s", b.Name, v.Payload)
			}
		}
	}
}

// ~1 KiB tools/call that matches nothing: a path inside the roots, prose, ids and hashes.
var nomatch = toolCall("search_files", `{"path":"/srv/data/projects/portcullis/docs","pattern":"**/*.md","query":"`+
	strings.Repeat("How do we route calls between replicas when one is slow? ", 13)+`","request_id":"3f2b8c1e-9d4a-4b7e-8f21-6c0d5e4a7b19","commit":"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3","excludePatterns":["node_modules","target"]}`)

func BenchmarkPathGuard(b *testing.B) {
	config := []byte(`{"roots":["/srv/data"]}`)
	bench := func(name string, frame []byte) {
		b.Run(name, func(b *testing.B) {
			p, _ := load(b)
			in := abi.Input{Hook: abi.HookRequestGuard, Direction: abi.DirectionRequest, Server: "fs", Tool: "search_files", Config: config, Frame: frame}
			var v abi.Verdict
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if err := p.Call(context.Background(), &in, time.Second, &v); err != nil || v.Action != abi.ActionAllow {
					b.Fatal(err, v.Action, string(v.Payload))
				}
			}
		})
	}
	if len(nomatch) < 1000 || len(nomatch) > 1100 {
		b.Fatalf("nomatch frame is %d bytes", len(nomatch))
	}
	bench("1KiB-nomatch", nomatch)
	// The hook sees requests only: its large case is a 64 KiB write_file request.
	bench("64KiB-request", toolCall("write_file", `{"path":"/srv/data/notes/log.md","content":`+strconv.Quote(strings.Repeat("Calls are routed to the replica with the fewest in flight.\n", 1111))+`}`))
	b.Run("instantiate", func(b *testing.B) {
		bi, _ := plugins.Lookup("path-guard")
		e, err := plugin.NewEngine(plugin.EngineConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close(context.Background())
		spec := plugin.Spec{Name: "path-guard", Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}, Instances: 1}
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
