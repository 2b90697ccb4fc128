package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/portcullis-mcp/portcullis/host/gateway"
	"github.com/portcullis-mcp/portcullis/host/internal/gwtest"
)

// knownLoss is a check known to be lost through the gateway, with why. The test logs such
// losses instead of failing; once one passes through the gateway again, the test fails until its
// entry is removed.
type knownLoss struct {
	server   string // the upstream's name in the gateway, or "" for any
	endpoint string // "/mcp", "/mcp/{server}", or "" for both
	check    string // scenario/check id
	why      string
}

func (k knownLoss) matches(server, endpoint, check string) bool {
	return (k.server == "" || k.server == server) && (k.endpoint == "" || k.endpoint == endpoint) && k.check == check
}

var knownLosses = []knownLoss{
	{server: "everything", check: "server-sse-polling/incoming-sse-event", why: "server-everything " +
		"answers the scenario's POST, which carries MCP-Protocol-Version 2025-03-26 on a session " +
		"that negotiated 2025-11-25, with HTTP 400, so directly the suite never calls the tool; " +
		"the gateway accepts any supported version header (as the go-sdk does), forwards the call, " +
		"and server-everything answers that it has no test_reconnection tool. Not a gateway fault: " +
		"the check passes through the gateway in front of the reference server."},
}

// referenceServer is the go-sdk's conformance server; referenceVersion is used only when the
// main module cannot build it (its go.mod requires the go-sdk at this version).
const (
	referenceServer  = "github.com/modelcontextprotocol/go-sdk/conformance/everything-server"
	referenceVersion = "v1.8.0"
)

// TestGoSDKEverythingServer runs the suite against the go-sdk's conformance server, which passes
// every check directly, and through the gateway's two endpoints in front of it.
func TestGoSDKEverythingServer(t *testing.T) {
	s := need(findSuite())(t)
	bin := need(buildReference(t))(t)
	ctx := budget(t)
	addr := freeAddr(t)
	startProcess(t, "everything-server", addr, exec.Command(bin, "-http", addr, "-stateless=false"))
	url := "http://" + addr + "/mcp"
	direct := s.run(ctx, t, "direct", url)
	for scenario, checks := range direct.checks {
		for _, c := range checks {
			if c.Status == "FAILURE" {
				t.Errorf("the reference server fails %s/%s directly: %s", scenario, c.ID, c.ErrorMessage)
			}
		}
	}
	compareThroughGateway(ctx, t, s, "conf", url, direct)
}

// TestServerEverything runs the suite against @modelcontextprotocol/server-everything (the e2e
// fixtures) over Streamable HTTP. It fails much of the suite directly; what it passes must pass
// through the gateway too.
func TestServerEverything(t *testing.T) {
	s := need(findSuite())(t)
	npm := need(e2eFixtures())(t)
	ctx := budget(t)
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(s.node, "--require", filepath.Join(npm, "loopback.cjs"),
		filepath.Join(npm, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js"), "streamableHttp")
	cmd.Env = append(os.Environ(), "PORT="+port)
	startProcess(t, "server-everything", addr, cmd)
	url := "http://" + addr + "/mcp"
	compareThroughGateway(ctx, t, s, "everything", url, s.run(ctx, t, "direct", url))
}

// compareThroughGateway puts a gateway in front of the upstream at url, runs the suite on
// /mcp/{server} and on the aggregate /mcp (the server unprefixed there), prints the scenario
// table and reports every check lost against the direct run.
func compareThroughGateway(ctx context.Context, t *testing.T, s *suite, server, url string, direct *results) {
	t.Helper()
	base := startGateway(t, fmt.Sprintf("listen: 127.0.0.1:0\nshutdown_timeout: 5s\nservers:\n"+
		"  - name: %s\n    url: %q\n    transport: http\n    unprefixed: true\n", server, url))
	runs := []*results{direct, s.run(ctx, t, "/mcp/"+server, base+"/mcp/"+server), s.run(ctx, t, "/mcp", base+"/mcp")}

	t.Logf("conformance of %s, direct and through the gateway:\n%s", url, table(s.scenarios, runs))

	d := direct.byKey()
	for i, endpoint := range []string{"/mcp/{server}", "/mcp"} {
		via := runs[i+1]
		v := via.byKey()
		for _, k := range knownLosses {
			if k.matches(server, endpoint, k.check) && d[k.check].Status == "SUCCESS" && v[k.check].Status == "SUCCESS" {
				t.Errorf("known loss %s passes through %s now: remove it from knownLosses", k.check, via.label)
			}
		}
	lost:
		for _, key := range lostChecks(d, v) {
			msg := fmt.Sprintf("%s: %s directly, %s through %s", key, status(d[key]), status(v[key]), via.label)
			for _, k := range knownLosses {
				if k.matches(server, endpoint, key) {
					t.Logf("known loss, %s\n\tcause: %s", msg, k.why)
					continue lost
				}
			}
			says := v[key].ErrorMessage
			if says == "" {
				says = v[key].Description
			}
			msg += "\n\tsuite says: " + says
			if len(v[key].Details) > 0 {
				var details bytes.Buffer
				json.Compact(&details, v[key].Details)
				msg += "\n\tdetails: " + clip(details.String(), 1500)
			}
			t.Errorf("lost %s", msg)
		}
	}
}

// table renders each scenario's tally in each run, and the totals.
func table(scenarios []string, runs []*results) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "scenario")
	for _, r := range runs {
		fmt.Fprintf(tw, "\t%s", r.label)
	}
	totals := make([][]check, len(runs))
	for _, scenario := range scenarios {
		fmt.Fprintf(tw, "\n%s", scenario)
		for i, r := range runs {
			fmt.Fprintf(tw, "\t%s", cell(r.checks[scenario]))
			totals[i] = append(totals[i], r.checks[scenario]...)
		}
	}
	fmt.Fprint(tw, "\ntotal")
	for _, all := range totals {
		fmt.Fprintf(tw, "\t%s", cell(all))
	}
	tw.Flush()
	return b.String()
}

// lostChecks lists the checks that pass directly and not through the gateway, or fail through
// the gateway only, sorted.
func lostChecks(direct, via map[string]check) []string {
	var lost []string
	for key, c := range via {
		if c.Status == "FAILURE" && direct[key].Status != "FAILURE" {
			lost = append(lost, key)
		}
	}
	for key, c := range direct {
		if c.Status == "SUCCESS" && via[key].Status != "SUCCESS" && via[key].Status != "FAILURE" {
			lost = append(lost, key)
		}
	}
	slices.Sort(lost)
	return lost
}

func status(c check) string {
	if c.Status == "" {
		return "absent"
	}
	return c.Status
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// need turns a prerequisite lookup into a value, skipping the test when it failed, or failing
// it under CI, where a run must not pass by skipping.
func need[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			if ci := os.Getenv("CI"); ci != "" && ci != "0" && ci != "false" {
				t.Fatalf("CI=%s and a conformance prerequisite is missing: %v", ci, err)
			}
			t.Skipf("skipping: %v (with CI=true this fails)", err)
		}
		return v
	}
}

// budget bounds a test's suite runs: three take seconds; a hung scenario fails the test after
// two minutes at most.
func budget(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// buildReference builds the go-sdk's conformance server from the module cache at the version
// go.mod requires, or else installs it at referenceVersion.
func buildReference(t *testing.T) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("no go on PATH to build " + referenceServer)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "everything-server")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, referenceServer).CombinedOutput()
	if err == nil {
		return bin, nil
	}
	install := exec.CommandContext(ctx, goTool, "install", referenceServer+"@"+referenceVersion)
	install.Env = append(os.Environ(), "GOBIN="+dir)
	if out2, err2 := install.CombinedOutput(); err2 != nil {
		return "", fmt.Errorf("building %s: %v\n%s\ninstalling it @%s: %v\n%s", referenceServer, err, out, referenceVersion, err2, out2)
	}
	return bin, nil
}

// e2eFixtures returns the e2e npm folder, with server-everything and loopback.cjs, which makes a
// server given a bare port listen on 127.0.0.1 only.
func e2eFixtures() (string, error) {
	dir, err := filepath.Abs("../e2e/testdata/npm")
	if err != nil {
		return "", err
	}
	for _, p := range []string{"loopback.cjs", "node_modules/@modelcontextprotocol/server-everything/dist/index.js"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return "", fmt.Errorf("the e2e npm fixtures are not installed (%v); run `make npm-deps`", err)
		}
	}
	return dir, nil
}

// freeAddr returns a loopback address whose port was free a moment ago, for servers that take
// an address rather than a listener.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// logFile is a file in the test's temporary folder that collects a process's log; its tail is
// shown only if the test fails.
func logFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if data, _ := os.ReadFile(f.Name()); t.Failed() && len(data) > 0 {
			t.Logf("--- %s log (tail) ---\n%s", name, data[max(0, len(data)-8<<10):])
		}
	})
	return f
}

// inGroup makes cmd lead a process group of its own and returns what kills the whole group,
// children included.
func inGroup(cmd *exec.Cmd) (kill func() error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// startProcess starts cmd, killed when the test ends, and waits until it accepts connections on
// addr.
func startProcess(t *testing.T, name, addr string, cmd *exec.Cmd) {
	t.Helper()
	log := logFile(t, name)
	cmd.Stdout, cmd.Stderr = log, log
	kill := inGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { kill(); <-exited })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before listening on %s", name, addr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening on %s after 30s", name, addr)
		}
	}
}

// startGateway serves a gateway configured by yamlText on a loopback port, in process, until the
// test ends, and returns its base URL.
func startGateway(t *testing.T, yamlText string) string {
	t.Helper()
	debug := slog.NewTextHandler(logFile(t, "gateway"), &slog.HandlerOptions{Level: slog.LevelDebug})
	return gwtest.Start(t, yamlText, gateway.Options{Log: slog.New(debug)}).URL
}
