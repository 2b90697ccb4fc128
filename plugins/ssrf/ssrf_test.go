package ssrf_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
	"github.com/portcullis-mcp/portcullis/plugins"
)

// load runs the module the gateway binary embeds.
func load(t testing.TB) (*plugin.Plugin, *plugintest.Sink) {
	t.Helper()
	b, ok := plugins.Lookup("ssrf")
	if !ok {
		t.Fatal("ssrf is not embedded: run plugins/build.sh")
	}
	return plugintest.Load(t, b.Wasm, plugin.Spec{Name: "ssrf", Version: b.Manifest.Version, Hooks: []abi.Hook{abi.HookRequestGuard}})
}

// toolCall is a tools/call request whose arguments are the raw JSON args.
func toolCall(tool, args string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":` + strconv.Quote(tool) + `,"arguments":` + args + `}}`)
}

// url is the arguments of a fetch call with this URL.
func url(u string) string {
	b, _ := json.Marshal(map[string]string{"url": u})
	return string(b)
}

func run(t testing.TB, p *plugin.Plugin, config string, frame []byte) abi.Verdict {
	t.Helper()
	in := abi.Input{Hook: abi.HookRequestGuard, Direction: abi.DirectionRequest, Server: "web", Tool: "fetch", Config: []byte(config), Frame: frame}
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
	for _, e := range s.Take("ssrf.finding") {
		var f finding
		if err := json.Unmarshal([]byte(e), &f); err != nil {
			t.Fatalf("event %q: %v", e, err)
		}
		out = append(out, f)
	}
	return out
}

// check asserts the verdict: want "" is allow, else a block whose reason starts with
// "ssrf: <want>"; the reason never quotes the URL or its host.
func check(t *testing.T, v abi.Verdict, want, args string) {
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
	if !strings.HasPrefix(reason, "ssrf: "+want) {
		t.Fatalf("reason %q, want %q", reason, "ssrf: "+want)
	}
	rest := strings.TrimPrefix(reason, "ssrf: "+want) // the rule and the key are no echo
	for _, bad := range []string{"127.", "169.254", "::", "localhost", "internal", "//", "10.", "0x"} {
		if strings.Contains(args, bad) && strings.Contains(rest, bad) {
			t.Fatalf("reason %q echoes the value", reason)
		}
	}
}

func TestSSRF_Blocks(t *testing.T) {
	p, s := load(t)
	tests := []struct{ name, args, want string }{
		// Cloud metadata, in every notation of its address.
		{"metadata", url("http://169.254.169.254/latest/meta-data/iam/security-credentials/"), "metadata in arguments.url"},
		{"metadata decimal", url("http://2852039166/latest/meta-data/"), "metadata in arguments.url"},
		{"metadata hex", url("http://0xa9fea9fe/"), "metadata in arguments.url"},
		{"metadata dotted hex", url("http://0xa9.0xfe.0xa9.0xfe/"), "metadata in arguments.url"},
		{"metadata octal", url("http://0251.0376.0251.0376/"), "metadata in arguments.url"},
		{"metadata short form", url("http://169.254.43518/"), "metadata in arguments.url"},
		{"metadata ipv4-mapped", url("http://[::ffff:169.254.169.254]/"), "metadata in arguments.url"},
		{"metadata ipv4-mapped hex", url("http://[::ffff:a9fe:a9fe]/"), "metadata in arguments.url"},
		{"metadata nat64", url("http://[64:ff9b::a9fe:a9fe]/"), "metadata in arguments.url"},
		{"metadata aws ipv6", url("http://[fd00:ec2::254]/latest/meta-data/"), "metadata in arguments.url"},
		{"metadata gcp name", url("http://metadata.google.internal/computeMetadata/v1/?recursive=true"), "metadata in arguments.url"},
		{"metadata gcp name trailing dot", url("http://METADATA.google.internal./"), "metadata in arguments.url"},
		{"metadata alibaba", url("http://100.100.100.200/latest/meta-data/"), "metadata in arguments.url"},
		{"metadata ecs", url("http://169.254.170.2/v2/credentials"), "metadata in arguments.url"},
		// Loopback and friends.
		{"loopback", url("http://127.0.0.1:8080/admin"), "loopback in arguments.url"},
		{"loopback decimal", url("http://2130706433/"), "loopback in arguments.url"},
		{"loopback hex", url("http://0x7f000001/"), "loopback in arguments.url"},
		{"loopback octal", url("http://0177.0.0.1/"), "loopback in arguments.url"},
		{"loopback short", url("http://127.1/"), "loopback in arguments.url"},
		{"loopback other", url("https://127.42.0.9/"), "loopback in arguments.url"},
		{"loopback ipv6", url("http://[::1]:3000/"), "loopback in arguments.url"},
		{"loopback mapped", url("http://[::ffff:127.0.0.1]/"), "loopback in arguments.url"},
		{"loopback mapped hex", url("http://[::ffff:7f00:1]/"), "loopback in arguments.url"},
		{"loopback mapped long", url("http://[0:0:0:0:0:ffff:127.0.0.1]/"), "loopback in arguments.url"},
		{"loopback compatible", url("http://[::127.0.0.1]/"), "loopback in arguments.url"},
		{"loopback 6to4", url("http://[2002:7f00:1::]/"), "loopback in arguments.url"},
		{"loopback percent host", url("http://%31%32%37.0.0.1/"), "loopback in arguments.url"},
		{"loopback ideographic dots", url("http://127。0。0。1/"), "loopback in arguments.url"},
		{"loopback circled digits", url("http://①②⑦.0.0.1/"), "loopback in arguments.url"},
		{"loopback fullwidth", url("http://１２７.０.０.１/"), "loopback in arguments.url"},
		{"loopback backslashes", url(`http:\\127.0.0.1\admin`), "loopback in arguments.url"},
		{"loopback one slash", url("http:/127.0.0.1/"), "loopback in arguments.url"},
		{"loopback no slash", url("http:127.0.0.1/"), "loopback in arguments.url"},
		{"no slash under any key", `{"q":"HTTP:0x7f.1"}`, "loopback in arguments.q"},
		{"loopback spaces", url("  http://127.0.0.1/  "), "loopback in arguments.url"},
		{"loopback newline inside", url("http://127.0.\n0.1/"), "loopback in arguments.url"},
		{"loopback json escapes", `{"url":"\u0068ttp://127.0.0.1/"}`, "loopback in arguments.url"},
		{"userinfo disguise", url("http://trusted.example.com@127.0.0.1/"), "loopback in arguments.url"},
		{"userinfo with port", url("http://trusted.example.com:443@10.0.0.7/"), "private in arguments.url"},
		{"fragment disguise", url("http://127.0.0.1#@trusted.example.com/"), "loopback in arguments.url"},
		{"backslash disguise", url(`http://trusted.example.com\@127.0.0.1/`), "loopback in arguments.url"},
		{"unspecified", url("http://0.0.0.0:8080/"), "unspecified in arguments.url"},
		{"unspecified zero", url("http://0/"), "unspecified in arguments.url"},
		{"unspecified ipv6", url("http://[::]/"), "unspecified in arguments.url"},
		{"localhost", url("http://localhost:8080/actuator/env"), "localhost in arguments.url"},
		{"localhost case and dot", url("http://LocalHost./"), "localhost in arguments.url"},
		{"localhost subdomain", url("http://admin.localhost/"), "localhost in arguments.url"},
		{"localhost websocket", url("ws://localhost:9222/devtools/browser"), "localhost in arguments.url"},
		{"localhost fullwidth", url("http://ｌｏｃａｌｈｏｓｔ/"), "localhost in arguments.url"},
		// Private networks.
		{"rfc1918 10", url("http://10.0.0.5/"), "private in arguments.url"},
		{"rfc1918 172", url("https://172.16.3.4:8443/"), "private in arguments.url"},
		{"rfc1918 192", url("http://192.168.1.1/cgi-bin/"), "private in arguments.url"},
		{"unique local ipv6", url("http://[fd12:3456:789a::1]/"), "private in arguments.url"},
		{"link local", url("http://169.254.10.20/"), "link_local in arguments.url"},
		{"link local ipv6 zone", url("http://[fe80::1%25eth0]/"), "link_local in arguments.url"},
		{"cgnat", url("http://100.64.1.1/"), "cgnat in arguments.url"},
		{"multicast", url("http://224.0.0.251/"), "reserved in arguments.url"},
		{"broadcast", url("http://255.255.255.255/"), "reserved in arguments.url"},
		// Names that lead inside.
		{"single label", url("http://redis:6379/"), "single_label in arguments.url"},
		{"internal name", url("https://vault.internal/v1/secret"), "internal_names in arguments.url"},
		{"mdns name", url("http://printer.local/"), "internal_names in arguments.url"},
		{"wildcard dns", url("http://127.0.0.1.nip.io/"), "wildcard_dns in arguments.url"},
		{"wildcard dns localtest", url("http://app.localtest.me:8080/"), "wildcard_dns in arguments.url"},
		// Odd notations of public addresses, and what parsers disagree on.
		{"hex public", url("http://0x08080808/"), "ip_notation in arguments.url"},
		{"integer public", url("http://134744072/"), "ip_notation in arguments.url"},
		{"leading zero ambiguity", url("http://010.0.0.1/"), "ip_notation in arguments.url"},
		// Schemes that speak to raw services.
		{"gopher", url("gopher://example.com:6379/_INFO"), "scheme in arguments.url"},
		{"dict", url("dict://example.com:11211/stats"), "scheme in arguments.url"},
		{"gopher loopback", url("gopher://127.0.0.1:6379/_FLUSHALL"), "scheme in arguments.url"},
		// Where URLs and hosts are found.
		{"host key", `{"host":"127.0.0.1","port":6379}`, "loopback in arguments.host"},
		{"host and port", `{"hostname":"10.1.2.3:5432"}`, "private in arguments.hostname"},
		{"endpoint without scheme", `{"endpoint":"localhost:8080/v1"}`, "localhost in arguments.endpoint"},
		{"bare ipv6 host", `{"host":"::1"}`, "loopback in arguments.host"},
		{"camelCase key", `{"baseUrl":"http://192.168.0.10"}`, "private in arguments.baseUrl"},
		{"array of urls", `{"urls":["https://example.com/a","http://127.0.0.1/b"]}`, "loopback in arguments.urls"},
		{"nested", `{"request":{"method":"GET","url":"http://10.0.0.1/"}}`, "private in arguments.url"},
		{"url under any key", `{"q":"http://169.254.169.254/latest/"}`, "metadata in arguments.q"},
		{"repeated arguments", `{"url":"https://example.com"},"arguments":{"url":"http://127.0.0.1"}`, "loopback in arguments.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, p, "", toolCall("fetch", tt.args)), tt.want, tt.args)
			fs := findings(t, s)
			if len(fs) == 0 {
				t.Fatal("no finding event")
			}
			for _, f := range fs {
				if f.Action != "block" || f.Server != "web" || f.Tool != "fetch" || !strings.HasPrefix(f.Where, "arguments.") {
					t.Fatalf("event %+v", f)
				}
			}
		})
	}
	// 010.0.0.1 is 8.0.0.1 to libc and 10.0.0.1 to other parsers: both readings are checked.
	run(t, p, "", toolCall("fetch", url("http://010.0.0.1/")))
	var rules []string
	for _, f := range findings(t, s) {
		rules = append(rules, f.Rule)
	}
	if strings.Join(rules, ",") != "ip_notation,private" {
		t.Errorf("010.0.0.1: findings %v, want ip_notation and private", rules)
	}
}

// The frame walk skips strings sixteen bytes at a time: quotes and escapes at every offset
// around those blocks must not make it lose its place.
func TestSSRF_WalkBoundaries(t *testing.T) {
	p, _ := load(t)
	for n := 0; n < 40; n++ {
		// JSON string contents: an escaped quote, an escaped backslash, a \u escape, UTF-8.
		for _, pad := range []string{`\"`, `\\`, `\u0022`, `é\"`, `\\\"`} {
			args := `{"note":"` + strings.Repeat("x", n) + pad + strings.Repeat("y", 40-n) + `","url":"http://127.0.0.1/"}`
			if !json.Valid([]byte(args)) {
				t.Fatalf("bad test JSON %s", args)
			}
			if v := run(t, p, "", toolCall("fetch", args)); v.Action != abi.ActionBlock {
				t.Fatalf("%s: %s", args, v.Action)
			}
		}
	}
}

func TestSSRF_Allows(t *testing.T) {
	p, s := load(t)
	tests := []struct{ name, args string }{
		{"docs", url("https://example.com/docs")},
		{"api", url("https://api.github.com/repos/portcullis-mcp/portcullis/issues?state=open")},
		{"public ipv4", url("http://93.184.216.34/")},
		{"public ipv6", url("https://[2606:4700:4700::1111]/dns-query")},
		{"public dns", url("https://8.8.8.8/resolve?name=example.com")},
		{"public with credentials", url("https://user:secret@example.com/")},
		{"redirect parameter", url("https://example.com/login?next=http://127.0.0.1/")},
		{"look-alike names", url("https://localhost.example.com/ and https://metadata.example.org/")},
		{"bucket scheme", url("s3://backups/2024/db.dump")},
		{"file url", url("file:///srv/data/readme.md")},
		{"mailto", url("mailto:alice@example.com")},
		{"urn", url("urn:isbn:0451450523")},
		{"data url", `{"image":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}`},
		{"relative url", `{"url":"/docs/getting-started"}`},
		{"host key public", `{"host":"db.example.com","port":5432}`},
		{"domain key", `{"domain":"example.org"}`},
		{"server name", `{"server":"fs"}`},
		{"email address", `{"address":"alice@example.com"}`},
		{"postal address", `{"address":"10 Downing Street, London"}`},
		{"prose with a local url", `{"message":"The dev server listens on http://localhost:3000 and the docs are at https://example.com/docs."}`},
		{"prose about addresses", `{"text":"Private ranges are 10.0.0.0/8 and 192.168.0.0/16; 127.0.0.1 is loopback."}`},
		{"uuid", `{"id":"3f2b8c1e-9d4a-4b7e-8f21-6c0d5e4a7b19"}`},
		{"sha256", `{"digest":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}`},
		{"git commit", `{"ref":"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"}`},
		{"version", `{"version":"10.0.0.1-beta"}`},
		{"numbers", `{"url":null,"port":8080,"timeout":1.5}`},
		{"scheme-like prose", `{"note":"http: the protocol, ftp:anonymous login, https:// alone"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, p, "", toolCall("fetch", tt.args)), "", tt.args)
			if fs := findings(t, s); len(fs) != 0 {
				t.Fatalf("findings %+v", fs)
			}
		})
	}
	// Frames other than tools/call arguments pass, whatever they hold.
	for _, frame := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"http://127.0.0.1","version":"1"}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"http://169.254.169.254/"}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fetch","_meta":{"url":"http://127.0.0.1"}}}`,
	} {
		check(t, run(t, p, "", []byte(frame)), "", "")
	}
}

func TestSSRF_Config(t *testing.T) {
	p, s := load(t)
	tests := []struct{ name, config, args, want, action string }{
		{"allow a host", `{"allow_hosts":["localhost"]}`, url("http://localhost:8080/"), "", ""},
		{"allow a glob", `{"allow_hosts":["*.svc.cluster.local"]}`, url("http://api.default.svc.cluster.local/"), "", ""},
		{"allow by address", `{"allow_hosts":["127.0.0.1"]}`, url("http://0x7f000001/"), "", ""},
		{"allow private range", `{"allow_private":["10.0.0.0/8"]}`, url("http://10.20.30.40/"), "", ""},
		{"allowed range keeps others", `{"allow_private":["10.0.0.0/8"]}`, url("http://192.168.1.1/"), "private in arguments.url", "block"},
		{"metadata is never allowed by ranges", `{"allow_private":["169.254.0.0/16"]}`, url("http://169.254.169.254/"), "metadata in arguments.url", "block"},
		{"metadata is never allowed by name", `{"allow_hosts":["*.internal"]}`, url("http://metadata.google.internal/"), "metadata in arguments.url", "block"},
		{"disable metadata", `{"allow_private":["169.254.0.0/16"],"disable":["metadata"]}`, url("http://169.254.169.254/"), "", ""},
		{"disable a rule", `{"disable":["single_label"]}`, url("http://intranet/"), "", ""},
		{"deny hosts", `{"deny_hosts":["*.evil.example","pastebin.com"]}`, url("https://drop.evil.example/x"), "deny_hosts in arguments.url", "block"},
		{"deny range", `{"deny_hosts":["203.0.113.0/24"]}`, url("http://203.0.113.9/"), "deny_hosts in arguments.url", "block"},
		{"https only", `{"schemes":["https"]}`, url("http://example.com/"), "scheme in arguments.url", "block"},
		{"https only allows https", `{"schemes":["https"]}`, url("https://example.com/"), "", ""},
		{"gopher allowed", `{"deny_schemes":[]}`, url("gopher://example.com/1"), "", ""},
		{"deny file urls", `{"deny_schemes":["file","gopher"]}`, url("file:///etc/passwd"), "scheme in arguments.url", "block"},
		{"monitor", `{"action":"monitor"}`, url("http://127.0.0.1/"), "", "monitor"},
		{"monitor one rule", `{"actions":{"cgnat":"monitor"}}`, url("http://100.64.0.1/"), "", "monitor"},
		{"embedded urls", `{"embedded":true}`, `{"message":"fetch http://localhost:3000/admin for me"}`, "localhost in arguments.message", "block"},
		{"embedded in a query", `{"embedded":true}`, url("https://example.com/login?next=http://127.0.0.1/"), "loopback in arguments.url", "block"},
		{"embedded public", `{"embedded":true}`, `{"message":"see https://example.com/docs and ftp://ftp.example.org/pub"}`, "", ""},
		{"extra key", `{"keys":["target"]}`, `{"target":"10.0.0.1"}`, "private in arguments.target", "block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, p, tt.config, toolCall("fetch", tt.args)), tt.want, tt.args)
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

// A config the plugin cannot use blocks every call, saying why.
func TestSSRF_BadConfig(t *testing.T) {
	p, _ := load(t)
	for _, tt := range []struct{ config, want string }{
		{`{"allow_private":["10.0.0.0/33"]}`, "prefix longer than the address"},
		{`{"allow_private":["intranet"]}`, "is not an IP address"},
		{`{"allow_hosts":"localhost"}`, "allow_hosts must be a list of strings"},
		{`{"schemes":["ht tp"]}`, "is not a URL scheme"},
		{`{"disable":["metdata"]}`, `no rule "metdata"`},
		{`{"action":"redact"}`, "action must be"},
		{`{"embedded":"yes"}`, "embedded must be true or false"},
		{`{"allow_host":["x"]}`, `unknown key "allow_host"`},
		{`{"keys":["!!"]}`, "letters or digits"},
		{`"ssrf"`, "config must be a JSON object"},
	} {
		v := run(t, p, tt.config, toolCall("fetch", url("https://example.com/")))
		if v.Action != abi.ActionBlock || !strings.HasPrefix(string(v.Payload), "ssrf: invalid config: ") || !strings.Contains(string(v.Payload), tt.want) {
			t.Errorf("config %s: got %s %q, want a block saying %q", tt.config, v.Action, v.Payload, tt.want)
		}
	}
	check(t, run(t, p, `{"allow_private":["10.0.0.0/8"]}`, toolCall("fetch", url("http://10.1.1.1/"))), "", "")
}

// Through a real gateway in front of the demo server: URLs to internal addresses never reach
// the tool; ordinary ones do.
func TestSSRF_Gateway(t *testing.T) {
	yaml := `servers:
  - name: demo
    transport: demo
bindings:
  - name: no-ssrf
    plugin: ssrf
    config: {allow_hosts: ["*.corp.example.com"]}
`
	cs, sink := plugintest.Gateway(t, yaml, t.TempDir())
	for _, msg := range []string{
		"https://example.com/docs",
		"The service runs on http://localhost:8080 in development.",
		"https://wiki.corp.example.com/runbook",
		"3f2b8c1e-9d4a-4b7e-8f21-6c0d5e4a7b19",
	} {
		if got, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": msg}); err != nil || got != msg {
			t.Fatalf("echo %q: %q %v", msg, got, err)
		}
	}
	for msg, rule := range map[string]string{
		"http://169.254.169.254/latest/meta-data/": "metadata",
		"http://[::ffff:169.254.169.254]/":         "metadata",
		"http://0xa9fea9fe/":                       "metadata",
		"http://2130706433:6379/":                  "loopback",
		"http://admin@192.168.0.1/":                "private",
		"gopher://example.com:25/_HELO":            "scheme",
	} {
		_, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": msg})
		if err == nil || !strings.Contains(err.Error(), "ssrf: "+rule+" in arguments.message") {
			t.Errorf("echo %q: %v, want an ssrf %s block", msg, err, rule)
		}
	}
	if n := len(sink.Take("ssrf.finding")); n < 6 {
		t.Errorf("%d finding events", n)
	}
}

// The README's example bindings are valid gateway config, and the plugin accepts their config.
func TestSSRF_ReadmeExamples(t *testing.T) {
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
			if b.Plugin != "ssrf" {
				t.Fatalf("binding %s uses %s", b.Name, b.Plugin)
			}
			raw, _ := json.Marshal(b.Config)
			if b.Config == nil {
				raw = nil
			}
			v := run(t, p, string(raw), toolCall("fetch", url("https://example.com/")))
			if v.Action == abi.ActionBlock && strings.Contains(string(v.Payload), "invalid config") {
				t.Fatalf("binding %s: %s", b.Name, v.Payload)
			}
		}
	}
}

// ~1 KiB tools/call that matches nothing: a public URL, prose, ids and hashes.
var nomatch = toolCall("fetch", `{"url":"https://docs.example.com/guides/routing?lang=en#replicas","max_length":5000,"prompt":"`+
	strings.Repeat("Summarise how calls are routed between replicas when one is slow. ", 11)+`","request_id":"3f2b8c1e-9d4a-4b7e-8f21-6c0d5e4a7b19","commit":"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3","headers":{"accept":"text/html"}}`)

func BenchmarkSSRF(b *testing.B) {
	config := []byte(`{"allow_hosts":["*.corp.example.com"]}`)
	bench := func(name string, frame []byte) {
		b.Run(name, func(b *testing.B) {
			p, _ := load(b)
			in := abi.Input{Hook: abi.HookRequestGuard, Direction: abi.DirectionRequest, Server: "web", Tool: "fetch", Config: config, Frame: frame}
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
	// The hook sees requests only: its large case is a 64 KiB request.
	bench("64KiB-request", toolCall("post", `{"url":"https://api.example.com/notes","body":`+strconv.Quote(strings.Repeat("Calls go to the replica with the fewest in flight; see https://example.com/docs.\n", 809))+`}`))
	b.Run("instantiate", func(b *testing.B) {
		bi, _ := plugins.Lookup("ssrf")
		e, err := plugin.NewEngine(plugin.EngineConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close(context.Background())
		spec := plugin.Spec{Name: "ssrf", Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}, Instances: 1}
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
