package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/portcullis-mcp/portcullis/abi"
)

// binDir holds the binary that the tests build once.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portcullis-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// binary builds ./cmd/portcullis once per test run and returns its path.
func binary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(binDir, "portcullis")
	buildOnce.Do(func() {
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer collects a child's output; the test reads it while the child runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a running `portcullis serve`.
type proc struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error // receives Wait's result once
	err  error
	exit bool
}

func startServe(t testing.TB, bin, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), logs: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exited reports whether the process has ended, without waiting.
func (p *proc) exited() bool {
	if p.exit {
		return true
	}
	select {
	case p.err = <-p.done:
		p.exit = true
	default:
	}
	return p.exit
}

// stop sends SIGTERM and requires a clean exit within 15 s.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if p.exited() {
		t.Fatalf("gateway exited early: %v\n%s", p.err, p.logs.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case p.err = <-p.done:
		p.exit = true
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.err, p.logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("gateway did not exit after SIGTERM:\n%s", p.logs.String())
	}
}

// waitFor polls ok for up to 20 s while the process runs.
func (p *proc) waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if p.exited() {
			t.Fatalf("gateway exited before %s: %v\n%s", what, p.err, p.logs.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 20 s:\n%s", what, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitListen(t testing.TB, p *proc, addr string) {
	t.Helper()
	p.waitFor(t, "listener on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func mcpSession(ctx context.Context, t testing.TB, addr string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "cmd-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// TestServe_DefaultConfigAndSIGTERM runs the real binary as the README's quick start does: no
// config file, the demo upstream, data in a local folder; then stops it with SIGTERM.
func TestServe_DefaultConfigAndSIGTERM(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	// The default data folder is relative: ./portcullis-data.
	g := startServe(t, bin, dir, nil, "serve", "--listen", addr)
	waitListen(t, g, addr)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs := mcpSession(ctx, t, addr)
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if !slices.Contains(names, "demo__echo") || !slices.Contains(names, "demo__count_slowly") {
		t.Fatalf("demo tools missing: %v", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "demo__add", Arguments: map[string]any{"a": 2, "b": 40}})
	if err != nil || res.IsError {
		t.Fatalf("demo__add: %v %+v", err, res)
	}
	cs.Close()

	g.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "portcullis-data", "MANIFEST")); err != nil {
		t.Fatalf("no database in ./portcullis-data: %v", err)
	}
}

func TestRun_Usage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errOut); code != 2 || !bytes.Contains(errOut.Bytes(), []byte(`unknown command "frobnicate"`)) {
		t.Fatalf("unknown command: code %d, %q", code, errOut.String())
	}
	if code := run(context.Background(), []string{"serve", "--config", "/nonexistent.yaml"}, &out, &errOut); code != 1 || !bytes.Contains(errOut.Bytes(), []byte("nonexistent.yaml")) {
		t.Fatalf("missing config: code %d, %q", code, errOut.String())
	}
}

// cli runs the built binary as a user would, with env added to the test's environment.
func cli(t testing.TB, bin, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("portcullis %s: %v", strings.Join(args, " "), err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("portcullis %s did not end in 60 s", strings.Join(args, " "))
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// TestServe_PluginWalkthrough drives the built binary through the README's "Write and ship a
// guardrail": a gateway with an admin listener in front of the demo server, then the CLI as the
// README runs it: keygen, push (signed), bind, list, a call the binding blocks, a new version,
// rollback, a restart that keeps the binding, unbind and delete. The guard is script.wasm (it
// answers the verdict its binding config spells out in hex, here a block) and its "fix" is
// allow.wasm.
func TestServe_PluginWalkthrough(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	testdata := filepath.Join("..", "..", "host", "plugin", "testdata")
	for _, f := range []string{"script.wasm", "allow.wasm"} {
		b, err := os.ReadFile(filepath.Join(testdata, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const token = "walkthrough-admin-token-0123456789"
	addr, adminAddr := freeAddr(t), freeAddr(t)
	env := []string{"PORTCULLIS_ADMIN_TOKEN=" + token, "PORTCULLIS_ADMIN_URL=http://" + adminAddr}
	run := func(args ...string) (string, string, int) {
		t.Helper()
		return cli(t, bin, dir, env, args...)
	}
	ok := func(want string, args ...string) string {
		t.Helper()
		out, errOut, code := run(args...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("portcullis %s: exit %d, want %q in the output\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}
	refused := func(want string, args ...string) {
		t.Helper()
		out, errOut, code := run(args...)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("portcullis %s: exit %d, want 1 and %q on stderr\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
	}

	// Signatures: a key made by the CLI, its public key trusted by the gateway.
	out := ok("public key (for admin.trusted_keys): ", "plugin", "keygen", "--out", "signing.key")
	pub := regexp.MustCompile(`public key \(for admin\.trusted_keys\): ([0-9a-f]{64})`).FindStringSubmatch(out)
	if pub == nil {
		t.Fatalf("keygen printed no public key: %q", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "signing.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key file: %v %v", fi, err)
	}
	yaml := fmt.Sprintf(`listen: %s
data_dir: %s
servers:
  - name: demo
    transport: demo
admin:
  listen: %s
  token: ${PORTCULLIS_ADMIN_TOKEN}
  trusted_keys: [%s]
`, addr, filepath.Join(dir, "data"), adminAddr, pub[1])
	if err := os.WriteFile(filepath.Join(dir, "portcullis.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	serve := func() *proc {
		t.Helper()
		g := startServe(t, bin, dir, []string{"PORTCULLIS_ADMIN_TOKEN=" + token}, "serve", "--config", "portcullis.yaml")
		g.waitFor(t, "admin API ready", func() bool {
			req, _ := http.NewRequest("GET", "http://"+adminAddr+"/readyz", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
		waitListen(t, g, addr)
		return g
	}
	g := serve()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs := mcpSession(ctx, t, addr)
	// add is what the guard is about: blocked while it acts, 42 otherwise. echo is never covered.
	const reason = "adding is off today"
	blocked := func(cs *mcp.ClientSession, when string) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "demo__add", Arguments: map[string]any{"a": 2, "b": 40}})
		if err == nil || !strings.Contains(err.Error(), "blocked by guard: "+reason) {
			t.Fatalf("%s: demo__add should be blocked by the guard; got %v %+v", when, err, res)
		}
		if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "demo__echo", Arguments: map[string]any{"message": "hi"}}); err != nil || res.IsError {
			t.Fatalf("%s: demo__echo is not covered by the binding: %v %+v", when, err, res)
		}
	}
	passes := func(cs *mcp.ClientSession, when string) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "demo__add", Arguments: map[string]any{"a": 2, "b": 40}})
		if err != nil || res.IsError || fmt.Sprint(res.StructuredContent) != "map[sum:42]" {
			t.Fatalf("%s: demo__add: %v %+v", when, err, res)
		}
	}
	passes(cs, "before any binding")

	// 1. Describe the guard.
	manifest := func(version string) {
		t.Helper()
		m := `{"name": "guard", "version": "` + version + `", "hooks": ["request_guard"],
 "timeout_ms": 1000, "memory_pages": 64, "config": {"type": "string"}}`
		if err := os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	manifest("1.0.0")
	// 2. Upload it: unsigned is refused when keys are trusted; signed is stored.
	refused("signature_required", "plugin", "push", "script.wasm", "--manifest", "plugin.json")
	ok("pushed guard@1.0.0 (sha256:", "plugin", "push", "script.wasm", "--manifest", "plugin.json", "--sign-key", "signing.key")

	// 3. Bind it. A config that fails the manifest's schema is refused and changes nothing.
	refused("bad_config", "plugin", "bind", "guard@1.0.0", "--servers", "demo", "--tools", "add", "--config", `{"deny":["rm -rf"]}`)
	passes(cs, "after a refused bind")
	block := `"` + hex.EncodeToString(abi.AppendVerdict(nil, &abi.Verdict{Action: abi.ActionBlock, Payload: []byte(reason)})) + `"`
	ok("bound guard to guard@1.0.0 (revision 1): live", "plugin", "bind", "guard@1.0.0", "--servers", "demo", "--tools", "add", "--config", block)
	blocked(cs, "bound to 1.0.0")
	out = ok("BINDING (revision 1)", "plugin", "list")
	signer := pub[1][:16] + "…"
	for _, row := range []string{`(?m)^guard +1\.0\.0 +sha256:[0-9a-f]{12}… +` + signer + ` +guard\n`, `(?m)^guard +guard@1\.0\.0 +0 +demo +add +enforce +-\n`} {
		if !regexp.MustCompile(row).MatchString(out) {
			t.Fatalf("plugin list: no row %q in\n%s", row, out)
		}
	}

	// 4. Ship a "fix" (allow.wasm as 1.0.1), swap to it, then roll back.
	manifest("1.0.1")
	ok("pushed guard@1.0.1 (sha256:", "plugin", "push", "allow.wasm", "--manifest", "plugin.json", "--sign-key", "signing.key")
	ok("bound guard to guard@1.0.1 (revision 2): live", "plugin", "bind", "guard@1.0.1")
	passes(cs, "bound to 1.0.1") // the same client session, across the swap
	out = ok("", "plugin", "list")
	if !regexp.MustCompile(`(?m)^guard +guard@1\.0\.1 +0 +demo +add +enforce +1\.0\.0\n`).MatchString(out) {
		t.Fatalf("plugin list after the swap: binding should keep its config and name 1.0.0 to roll back to:\n%s", out)
	}
	refused("bound by guard", "plugin", "delete", "guard@1.0.1")
	refused("rollback target", "plugin", "delete", "guard@1.0.0")
	ok("rolled guard back to guard@1.0.0 (revision 3): live", "plugin", "rollback", "guard")
	blocked(cs, "rolled back to 1.0.0")

	// The wrong token, or none, is refused with a message that says what to set; nothing changes.
	out, errOut, code := cli(t, bin, dir, append(slices.Clone(env), "PORTCULLIS_ADMIN_TOKEN=not-the-admin-token-at-all"), "plugin", "unbind", "guard")
	if code != 1 || out != "" || !strings.Contains(errOut, "unauthorized: wrong admin token") || !strings.Contains(errOut, "PORTCULLIS_ADMIN_TOKEN") {
		t.Fatalf("wrong token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = cli(t, bin, dir, append(slices.Clone(env), "PORTCULLIS_ADMIN_TOKEN="), "plugin", "list")
	if code != 1 || !strings.Contains(errOut, "no admin token") {
		t.Fatalf("no token: exit %d, stderr %q", code, errOut)
	}
	blocked(cs, "after refused calls")

	// A restart comes up with the same binding, and the guard acts on a new session at once.
	before := ok("BINDING (revision 3)", "plugin", "list")
	cs.Close()
	g.stop(t)
	g = serve()
	if after := ok("", "plugin", "list"); after != before {
		t.Fatalf("plugin list after a restart:\n%s\nbefore:\n%s", after, before)
	}
	cs = mcpSession(ctx, t, addr)
	blocked(cs, "after a restart")

	// 5. Unbind: calls pass again; an unbound version can be deleted, a built-in never.
	ok("unbound guard (revision 4): live", "plugin", "unbind", "guard")
	passes(cs, "unbound")
	ok("deleted guard@1.0.0", "plugin", "delete", "guard@1.0.0")
	refused("not_found", "plugin", "delete", "guard@1.0.0")
	out = ok("BINDING (revision 4)", "plugin", "list")
	if regexp.MustCompile(`(?m)^guard +1\.0\.0 `).MatchString(out) || !regexp.MustCompile(`(?m)^guard +1\.0\.1 `).MatchString(out) {
		t.Fatalf("plugin list after deleting 1.0.0:\n%s", out)
	}
	cs.Close()
	g.stop(t)
}
