package c_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/abi/abitest"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
)

// cflags are the README's build flags plus warnings as errors, so that the header stays clean
// for users who turn warnings on.
var cflags = []string{"--target=wasm32-wasi", "--sysroot=/usr", "-Os", "-mexec-model=reactor", "-Wl,--strip-all",
	"-Wall", "-Wextra", "-Werror", "-I."}

// build compiles srcs (relative to this directory) with the real clang into a module under
// t.TempDir and returns its bytes.
func build(t testing.TB, srcs ...string) []byte { return buildWith(t, nil, srcs...) }

// buildWith is build with more flags.
func buildWith(t testing.TB, flags []string, srcs ...string) []byte {
	t.Helper()
	clang := plugintest.Tool(t, "/usr/bin/clang", "clang")
	out := filepath.Join(t.TempDir(), "guest.wasm")
	args := append(append(slices.Concat(cflags, flags), "-o", out), srcs...)
	cmd := exec.Command(clang, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func TestGuest_Conformance(t *testing.T) {
	plugintest.Conformance(t, build(t, "conformance/conformance.c"),
		"ERROR portcullis: panic: conformance guest asked to panic")
}

// TestGuest_MalformedInputs hands the golden malformed input messages straight to the hook
// exports (the host never sends them): each is refused with no verdict and a log line naming
// what is wrong, and the instance keeps working.
func TestGuest_MalformedInputs(t *testing.T) {
	ctx := context.Background()
	wasm := build(t, "conformance/conformance.c")
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	var logs []string
	_, err := r.NewHostModuleBuilder("portcullis").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, _, ptr, n uint32) {
		b, _ := m.Memory().Read(ptr, n)
		logs = append(logs, string(b))
	}).Export("log").
		NewFunctionBuilder().WithFunc(func(context.Context, uint32, uint32, uint32, uint32) {}).Export("emit").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.ExportedFunction(abi.AllocExport).Call(ctx, 4096)
	if err != nil || res[0] == 0 {
		t.Fatalf("alloc: %v %v", res, err)
	}
	buf := uint32(res[0])
	call := func(h abi.Hook, msg []byte) uint64 {
		t.Helper()
		if !mod.Memory().Write(buf, msg) {
			t.Fatal("write input")
		}
		res, err := mod.ExportedFunction(h.Export()).Call(ctx, uint64(buf), uint64(len(msg)))
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		return res[0]
	}
	why := map[string]string{
		"short": "short message", "version": "unknown version", "hook": "message for another hook",
		"direction": "unknown direction", "reserved": "reserved flags set",
		"length": "(fields past the end|trailing bytes|replica name past the end)",
	}
	good := abi.AppendInput(nil, &abi.Input{Hook: abi.HookRequestGuard, Config: []byte(`{"action":"block"}`), Frame: []byte(`{}`)})
	cases := abitest.MustLoad(t).MalformedInputs
	other := bytes.Clone(good)
	other[1] = byte(abi.HookResponseGuard)
	cases = append(cases, abitest.Malformed{Name: "other_hook", Rule: "hook", Hex: hex.EncodeToString(other)})
	for _, vec := range cases {
		t.Run(vec.Name, func(t *testing.T) {
			msg := abitest.Bytes(vec.Hex)
			h := abi.HookRequestGuard
			if len(msg) > 1 && abi.Hook(msg[1]).Valid() && vec.Name != "other_hook" {
				h = abi.Hook(msg[1]) // the export of the message's hook, to reach the checks after it
			}
			logs = nil
			if got := call(h, msg); got != 0 {
				t.Fatalf("verdict %#x, want 0 (no verdict)", got)
			}
			want := regexp.MustCompile("^portcullis: bad input message for " + h.String() + ": " + why[vec.Rule] + "$")
			if len(logs) != 1 || !want.MatchString(logs[0]) {
				t.Fatalf("logs %q, want %s", logs, want)
			}
			if got := call(abi.HookRequestGuard, good); got == 0 {
				t.Fatal("no verdict for a good message after a bad one")
			}
		})
	}
}

// TestGuest_Sizes sends messages from 1 KiB to 1 MiB (the input buffer and the arena grow over
// many pages and, interleaved, move to new regions), and a reason too long for the ABI.
func TestGuest_Sizes(t *testing.T) {
	p, _ := plugintest.Load(t, build(t, "conformance/conformance.c"), plugin.Spec{Hooks: []abi.Hook{abi.HookResponseGuard}})
	for _, size := range []int{1 << 10, 5000, 70_000, 300_000, 1 << 20, 100} {
		frame := `{"jsonrpc":"2.0","id":1,"result":{"text":"` + strings.Repeat("x\\\"é", size/5) + `"}}`
		cfg := `{"action":"rewrite","payload":` + jsonString(frame) + `}`
		in := abi.Input{Hook: abi.HookResponseGuard, Config: []byte(cfg), Frame: []byte(frame)}
		var v abi.Verdict
		if err := p.Call(context.Background(), &in, 5*time.Second, &v); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if v.Action != abi.ActionRewrite || string(v.Payload) != frame {
			t.Fatalf("%d bytes: action %s, payload of %d bytes, want the %d-byte frame", size, v.Action, len(v.Payload), len(frame))
		}
	}
	in := abi.Input{Hook: abi.HookResponseGuard, Frame: []byte(`{}`),
		Config: []byte(`{"action":"block","payload":"` + strings.Repeat("é", 600) + `"}`)}
	var v abi.Verdict
	if err := p.Call(context.Background(), &in, 5*time.Second, &v); err != nil {
		t.Fatal(err)
	}
	if v.Action != abi.ActionBlock || string(v.Payload) != strings.Repeat("é", 512) {
		t.Fatalf("1200-byte reason became %s with %d bytes, want block with 1024", v.Action, len(v.Payload))
	}
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestExample runs the README's guardrail the way the gateway will: a chain with one binding.
func TestExample(t *testing.T) {
	wasm := build(t, "example/guard.c")
	if imports := importsOf(t, wasm); !slices.Equal(imports, []string{"portcullis.log", "portcullis.emit"}) {
		t.Fatalf("imports %q, want only portcullis.log and portcullis.emit", imports)
	}
	p, s := plugintest.Load(t, wasm, plugin.Spec{Name: "example", Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}})
	chain, err := plugin.NewChain([]plugin.Binding{{
		Name: "no-destruction", Plugin: p, Config: []byte(`{"deny": ["rm -rf", "drop table"]}`),
		Timeout: 5 * time.Second, // correctness here, not speed: -race on a busy machine is slow
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		hook    abi.Hook
		frame   string
		blocked string
		frameTo string
	}{
		{"harmless call", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls"}}}`, "",
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls"}}}`},
		{"denied phrase", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"RM -RF /"}}}`,
			"denied phrase in arguments: rm -rf", ""},
		{"second phrase, spaced JSON", abi.HookRequestGuard,
			`{ "jsonrpc" : "2.0", "id" : 5, "method" : "tools/call", "params" : { "name" : "sql", "arguments" : { "q" : "Drop Table users" } } }`,
			"denied phrase in arguments: drop table", ""},
		{"phrase outside arguments", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"rm -rf"}}`, "",
			`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"rm -rf"}}`},
		{"phrase in the tool name, not the arguments", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"rm -rf","arguments":{}}}`, "",
			`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"rm -rf","arguments":{}}}`},
		{"secret in result", abi.HookResponseGuard,
			`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"key AKIAABCDEFGHIJKLMNOP"}]}}`, "",
			`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"key [REDACTED]"}]}}`},
		{"two secrets and a near miss", abi.HookResponseGuard,
			`{"jsonrpc":"2.0","id":7,"result":{"text":"AKIAAKIA0123456789ABCDEF AKIAshort AKIAZZZZZZZZZZZZZZZZ"}}`, "",
			`{"jsonrpc":"2.0","id":7,"result":{"text":"[REDACTED]CDEF AKIAshort [REDACTED]"}}`},
		{"no secret", abi.HookResponseGuard,
			`{"jsonrpc":"2.0","id":8,"result":{"text":"AKIA0123456789abcdef"}}`, "",
			`{"jsonrpc":"2.0","id":8,"result":{"text":"AKIA0123456789abcdef"}}`},
	}
	awsKey := regexp.MustCompile(`AKIA[0-9A-Z]{16}`) // what the Go SDK's example redacts
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.hook == abi.HookResponseGuard && awsKey.ReplaceAllString(tt.frame, "[REDACTED]") != tt.frameTo {
				t.Fatalf("the case disagrees with the Go example's regexp")
			}
			var res plugin.Result
			chain.Run(context.Background(), tt.hook, &plugin.Call{Server: "shell", Tool: "sh", Frame: []byte(tt.frame)}, &res)
			if len(res.Outcomes) != 1 || res.Outcomes[0].Err != nil {
				t.Fatalf("outcomes %+v", res.Outcomes)
			}
			if string(res.Reason) != tt.blocked || res.Blocked != (tt.blocked != "") {
				t.Fatalf("blocked=%v reason %q, want %q", res.Blocked, res.Reason, tt.blocked)
			}
			if !res.Blocked && string(res.Frame) != tt.frameTo {
				t.Fatalf("frame %s\nwant  %s", res.Frame, tt.frameTo)
			}
		})
	}
	if ev := s.Take("redacted"); !slices.Equal(ev, []string{"shell", "shell"}) {
		t.Fatalf("redacted events %q", ev)
	}
	if logs := s.Logs(); !slices.Contains(logs, `WARN blocked sh on shell: "rm -rf"`) {
		t.Fatalf("block not logged: %q", logs)
	}

	for _, cfg := range []string{`["rm -rf"]`, `{"deny":"rm -rf"}`, `{"deny":[1]}`} {
		chain, err := plugin.NewChain([]plugin.Binding{{Name: "bad", Plugin: p, Config: []byte(cfg), Timeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		var res plugin.Result
		chain.Run(context.Background(), abi.HookRequestGuard, &plugin.Call{Frame: []byte(tests[0].frame)}, &res)
		if !res.Blocked || !strings.HasPrefix(string(res.Reason), "guard misconfigured: ") {
			t.Fatalf("config %s: blocked=%v reason %q", cfg, res.Blocked, res.Reason)
		}
	}
}

func importsOf(t *testing.T, wasm []byte) []string {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		names = append(names, mod+"."+name)
	}
	return names
}

// TestHeader_Pedantic builds the guests as strict C99 (the header uses no extension beyond
// clang's wasm attributes and builtins), and a file that uses almost none of the header, which
// must not warn about what it leaves unused.
func TestHeader_Pedantic(t *testing.T) {
	little := filepath.Join(t.TempDir(), "little.c")
	src := "#include \"portcullis.h\"\nint has_x(pc_str s) { return pc_find(s, PC_STR(\"x\")) >= 0; }\n"
	if err := os.WriteFile(little, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"example/guard.c", "conformance/conformance.c", little} {
		buildWith(t, []string{"-std=c99", "-pedantic"}, src)
	}
}

// TestHeader_SeveralFiles builds a module from two files that both include the header: the
// shared definitions merge, and pc_now imports the clock, which the gateway then requires a
// grant for. The guard also keeps a malloc'd cache across calls while the arena grows past it.
func TestHeader_SeveralFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"main.c": `#include <stdlib.h>
#include "portcullis.h"
pc_str stamp(void);
static unsigned char *cache;
static pc_verdict guard(const pc_call *c) {
    if (!cache) {
        cache = malloc(300000);
        memset(cache, 7, 300000);
    }
    pc_buf b = {0};
    for (int i = 0; i < 6000; i++)
        pc_buf_puts(&b, PC_STR("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    unsigned char *tmp = malloc(100000);
    memset(tmp, 1, 100000);
    free(tmp);
    for (size_t i = 0; i < 300000; i++)
        if (cache[i] != 7)
            return pc_block(PC_STR("malloc'd memory clobbered"));
    if (pc_find(c->frame, PC_STR("forbidden")) >= 0)
        return pc_block(stamp());
    return pc_allow();
}
PORTCULLIS_REQUEST_GUARD(guard)
`,
		"stamp.c": `#include "portcullis.h"
pc_str stamp(void) {
    pc_buf b = {0};
    pc_buf_puts(&b, PC_STR("forbidden at "));
    pc_buf_int(&b, pc_now() > 0);
    return pc_buf_str(&b);
}
`,
	}
	var srcs []string
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, path)
	}
	wasm := build(t, srcs...)
	if imports := importsOf(t, wasm); !slices.Contains(imports, "portcullis.now") {
		t.Fatalf("imports %q lack portcullis.now", imports)
	}
	e, err := plugin.NewEngine(plugin.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	spec := plugin.Spec{Name: "two-files", Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}}
	if _, err := e.Load(context.Background(), wasm, spec); err == nil {
		t.Fatal("a module importing the clock loaded without the grant")
	}
	spec.Clock = true
	p, _ := plugintest.Load(t, wasm, spec)
	for range 3 {
		var v abi.Verdict
		in := abi.Input{Hook: abi.HookRequestGuard, Frame: []byte(`{"x":"forbidden"}`)}
		if err := p.Call(context.Background(), &in, 5*time.Second, &v); err != nil || v.Action != abi.ActionBlock || string(v.Payload) != "forbidden at 1" {
			t.Fatalf("verdict %s %q, %v", v.Action, v.Payload, err)
		}
	}
}

// probe exposes the header's byte-string and JSON helpers to TestHelpers_AgainstGo: the config
// names the operation, the frame is the input, the block reason is the answer.
const probe = `#include "portcullis.h"
static pc_verdict probe(const pc_call *c) {
    pc_str op = pc_json_string(pc_json_get(c->config, "op"));
    pc_str arg = pc_json_string(pc_json_get(c->config, "arg"));
    pc_buf out = {0};
    if (pc_eq(op, PC_STR("find")) || pc_eq(op, PC_STR("fold"))) {
        pc_buf_int(&out, pc_eq(op, PC_STR("find")) ? pc_find(c->frame, arg) : pc_find_fold(c->frame, arg));
    } else {
        char *key = pc_alloc(arg.len + 1);
        memcpy(key, arg.ptr, arg.len);
        key[arg.len] = 0;
        pc_str raw = pc_json_get(c->frame, key), v = pc_json_string(raw);
        pc_buf_puts(&out, !raw.ptr ? PC_STR("<missing>") : !v.ptr ? PC_STR("<not a string>") : v);
    }
    return pc_block(pc_buf_str(&out));
}
PORTCULLIS_REQUEST_GUARD(probe)
`

// TestHelpers_AgainstGo checks pc_find, pc_find_fold, pc_json_get and pc_json_string on random
// inputs against strings.Index and encoding/json: the eight-bytes-at-a-time scans have edge
// cases at every alignment and length.
func TestHelpers_AgainstGo(t *testing.T) {
	src := filepath.Join(t.TempDir(), "probe.c")
	if err := os.WriteFile(src, []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	p, _ := plugintest.Load(t, build(t, src), plugin.Spec{Hooks: []abi.Hook{abi.HookRequestGuard}})
	ask := func(op, arg string, frame []byte) string {
		t.Helper()
		cfg, _ := json.Marshal(map[string]string{"op": op, "arg": arg})
		in := abi.Input{Hook: abi.HookRequestGuard, Config: cfg, Frame: frame}
		var v abi.Verdict
		if err := p.Call(context.Background(), &in, 5*time.Second, &v); err != nil {
			t.Fatalf("%s %q in %q: %v", op, arg, frame, err)
		}
		return string(v.Payload)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(alphabet []string, n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}

	letters := []string{"a", "A", "b", "B", "-", " ", "z", "Z", "@", "`", "é"} // @ and ` differ in bit 0x20 like A and a, but are no letters
	for range 1500 {
		hay, needle := pick(letters, rng.IntN(40)), pick(letters, rng.IntN(4))
		if got, want := ask("find", needle, []byte(hay)), strconv.Itoa(strings.Index(hay, needle)); got != want {
			t.Fatalf("pc_find(%q, %q) = %s, want %s", hay, needle, got, want)
		}
		if got, want := ask("fold", needle, []byte(hay)), strconv.Itoa(strings.Index(asciiLower(hay), asciiLower(needle))); got != want {
			t.Fatalf("pc_find_fold(%q, %q) = %s, want %s", hay, needle, got, want)
		}
	}

	chars := []string{"a", "k", " ", "\"", "\\", "/", "\n", "\t", "\x01", "é", "😀", "\u2028", "<", "{", "}", "[", "]", ":", ","}
	for i := range 600 {
		want := pick(chars, rng.IntN(30))
		members := []string{`"k":` + escapeRandomly(rng, want)}
		for range rng.IntN(4) { // decoys, some holding a "k" deeper down
			v, _ := json.Marshal(map[string]any{"k": pick(chars, 5), "l": []any{pick(chars, 9), 1.5, nil, true}})
			members = append(members, escapeRandomly(rng, pick(chars, 3))+":"+string(v))
		}
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		sep := []string{",", " , ", ",\n  "}[i%3]
		frame := "{" + strings.Join(members, sep) + "}"
		if i%2 == 0 {
			frame = " \n" + strings.ReplaceAll(frame, ":", " : ") + "\t"
		}
		var parsed map[string]any
		if err := json.Unmarshal([]byte(frame), &parsed); err != nil {
			t.Fatalf("test bug: %q: %v", frame, err)
		}
		if parsed["k"] != want { // a decoy key decoding to "k" came later and won in Go
			continue
		}
		if got := ask("get", "k", []byte(frame)); got != want {
			t.Fatalf("pc_json_string(pc_json_get(%q, \"k\")) = %q, want %q", frame, got, want)
		}
	}
	for _, tc := range []struct{ frame, key, want string }{
		{`{"a":1}`, "k", "<missing>"},
		{`{"k":12}`, "k", "<not a string>"},
		{`["k","v"]`, "k", "<missing>"},
		{`{"k":"\q"}`, "k", "<not a string>"}, // a bad escape
		{`{"k":"\ud83d!"}`, "k", "\uFFFD!"},   // a lone surrogate, as encoding/json decodes it
		{`{"k":"unterminated}`, "k", "<missing>"},
		{`{"a":{"k":"deep"},"k":"top"}`, "k", "top"},
	} {
		if got := ask("get", tc.key, []byte(tc.frame)); got != tc.want {
			t.Errorf("get %q in %s = %q, want %q", tc.key, tc.frame, got, tc.want)
		}
	}
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 32
		}
		return r
	}, s)
}

// escapeRandomly encodes s as a JSON string, writing some runes as \u escapes (surrogate pairs
// beyond the BMP) and the rest as they are, where JSON allows.
func escapeRandomly(rng *rand.Rand, s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20 || rng.IntN(3) == 0:
			if r >= 0x10000 {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04X`, r1, r2)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// readme holds the parts of README.md that a newcomer copies.
type readme struct {
	guard, build, config string
}

func parseREADME(t *testing.T) readme {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?ms)^```(\\w+)\n(.*?)^```").FindAllStringSubmatch(string(b), -1)
	var r readme
	for _, m := range blocks {
		switch lang, body := m[1], m[2]; {
		case lang == "c" && r.guard == "":
			r.guard = body
		case lang == "sh" && r.build == "":
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, "clang ") {
					r.build = line
				}
			}
		case lang == "yaml" && r.config == "":
			r.config = body
		}
	}
	if r.guard == "" || r.build == "" || r.config == "" {
		t.Fatalf("README.md lacks the guard (c), build (sh, clang ...) or config (yaml) block: %+v", r)
	}
	return r
}

// TestREADME follows README.md literally: its guard.c (which must be example/guard.c), next to a
// copy of the header, built with its clang command, bound with its YAML in a real gateway in
// front of the built-in demo server.
func TestREADME(t *testing.T) {
	r := parseREADME(t)
	example, err := os.ReadFile("example/guard.c")
	if err != nil {
		t.Fatal(err)
	}
	if r.guard != string(example) {
		t.Fatal("the README's guard.c differs from example/guard.c")
	}
	header, err := os.ReadFile("portcullis.h")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, b := range map[string][]byte{"guard.c": example, "portcullis.h": header} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	clang := plugintest.Tool(t, "/usr/bin/clang", "clang")
	cmd := exec.Command("sh", "-c", clang+strings.TrimPrefix(r.build, "clang"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", r.build, err, out)
	}

	cs, s := plugintest.Gateway(t, r.config, dir)
	echo := func(msg string) (string, error) {
		return plugintest.CallText(cs, "demo__echo", map[string]any{"message": msg})
	}
	_, err = echo("please RM -RF / now")
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != -32001 || rpcErr.Message != "blocked by no-rm: denied phrase in arguments: rm -rf" {
		t.Fatalf("dangerous call: %v", err)
	}
	if got, err := echo("harmless"); err != nil || got != "harmless" {
		t.Fatalf("harmless call: %q %v", got, err)
	}
	if got, err := echo("the key is AKIAABCDEFGHIJKLMNOP, keep it"); err != nil || got != "the key is [REDACTED], keep it" {
		t.Fatalf("redaction: %q %v", got, err)
	}
	if ev := s.Take("redacted"); len(ev) == 0 || ev[0] != "demo" {
		t.Fatalf("redacted events %q", ev)
	}
	if logs := s.Logs(); !slices.Contains(logs, `WARN blocked echo on demo: "rm -rf"`) {
		t.Fatalf("the README's log line is missing: %q", logs)
	}
}

// BenchmarkGuest_Call measures one hook call into the README's guard, host side included: a
// harmless tools/call checked against two phrases, with short arguments and with 1 KiB of prose.
func BenchmarkGuest_Call(b *testing.B) {
	p, _ := plugintest.Load(b, build(b, "example/guard.c"), plugin.Spec{Hooks: []abi.Hook{abi.HookRequestGuard}})
	frames := []struct{ name, frame string }{
		{"100B", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls -la"}}}`},
		{"1KiB", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/tmp/notes.txt","content":"` +
			strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 16) + `"}}}`},
	}
	for _, f := range frames {
		b.Run(f.name, func(b *testing.B) {
			in := abi.Input{Hook: abi.HookRequestGuard, Config: []byte(`{"deny":["rm -rf","drop table"]}`), Frame: []byte(f.frame)}
			var v abi.Verdict
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Call(context.Background(), &in, time.Second, &v); err != nil {
					b.Fatal(err)
				}
			}
			if v.Action != abi.ActionAllow {
				b.Fatalf("verdict %s", v.Action)
			}
		})
	}
}

// BenchmarkGuest_Instantiate reports module sizes and what creating an instance costs: "instance"
// is a new instance of the compiled module, _initialize included (the pool does this to replace
// a failed instance); "load" is Engine.Load, which also validates and instruments the module
// (compilation is cached after the first).
func BenchmarkGuest_Instantiate(b *testing.B) {
	ctx := context.Background()
	for _, src := range []string{"example/guard.c", "conformance/conformance.c"} {
		wasm := build(b, src)
		name := filepath.Dir(src)
		b.Run(name+"/instance", func(b *testing.B) {
			r := wazero.NewRuntime(ctx)
			defer r.Close(ctx)
			_, err := r.NewHostModuleBuilder("portcullis").
				NewFunctionBuilder().WithFunc(func(uint32, uint32, uint32) {}).Export("log").
				NewFunctionBuilder().WithFunc(func(uint32, uint32, uint32, uint32) {}).Export("emit").
				Instantiate(ctx)
			if err != nil {
				b.Fatal(err)
			}
			cm, err := r.CompileModule(ctx, wasm)
			if err != nil {
				b.Fatal(err)
			}
			cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize")
			for b.Loop() {
				mod, err := r.InstantiateModule(ctx, cm, cfg)
				if err != nil {
					b.Fatal(err)
				}
				mod.Close(ctx)
			}
			b.ReportMetric(float64(len(wasm)), "wasm-bytes")
		})
		b.Run(name+"/load", func(b *testing.B) {
			e, err := plugin.NewEngine(plugin.EngineConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(ctx)
			spec := plugin.Spec{Name: "guest", Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}, Instances: 1}
			for b.Loop() {
				p, err := e.Load(ctx, wasm, spec)
				if err != nil {
					b.Fatal(err)
				}
				p.Close(ctx)
			}
		})
	}
}
