package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/portcullis-mcp/portcullis/host/internal/gwtest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// markerEnv tags the stdio servers a test starts, so that /proc tells them apart from every
// other process on a machine shared with concurrent test runs.
const markerEnv = "PORTCULLIS_E2E_MARKER"

func newMarker() string {
	var b [8]byte
	rand.Read(b[:])
	return "e2e-" + hex.EncodeToString(b[:])
}

// proc is a process as /proc shows it.
type proc struct {
	pid, ppid int
	state     byte // R, S, Z, ...
	cmdline   string
}

func (p proc) String() string {
	return fmt.Sprintf("pid %d (parent %d, state %c): %s", p.pid, p.ppid, p.state, p.cmdline)
}

// readProc reads one process; ok is false when it no longer exists.
func readProc(pid int) (p proc, ok bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	fields := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(fields) < 2 {
		return p, false
	}
	p.pid = pid
	p.state = fields[0][0]
	p.ppid, _ = strconv.Atoi(fields[1])
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	p.cmdline = strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
	return p, true
}

// markedProcs lists the live processes whose environment carries the marker. A zombie's
// environment is gone, so zombies are found through the PIDs seen before (see leftovers).
func markedProcs(t *testing.T, marker string) []proc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("reading /proc: %v", err)
	}
	want := []byte(markerEnv + "=" + marker + "\x00")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// leftovers waits briefly for the given processes to be gone and returns those that are not:
// still running, or zombies that the gateway (this process) never reaped. A zombie whose parent
// is init is dead and about to be reaped by it, which is not the gateway's doing.
func leftovers(before []proc) []proc {
	deadline := time.Now().Add(3 * time.Second)
	for {
		var left []proc
		for _, b := range before {
			p, ok := readProc(b.pid)
			if !ok || (p.state == 'Z' && p.ppid != os.Getpid()) {
				continue
			}
			if p.state != 'Z' && p.cmdline != b.cmdline {
				continue // the PID was reused by an unrelated process
			}
			left = append(left, p)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// markedGateway fronts stdio servers tagged with a new marker: server-everything and
// server-memory started directly, and server-everything under a shell, the way npx starts node as
// its child, so that the server's own children are covered too.
func markedGateway(t *testing.T, f fixtures) (*gwtest.Gateway, string) {
	marker := newMarker()
	env := map[string]string{markerEnv: marker}
	memEnv := map[string]string{markerEnv: marker, "MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "memory.jsonl")}
	return startGateway(t, servers(
		stdioServer("everything", f.node, []string{f.everything, "stdio"}, env),
		stdioServer("memory", f.node, []string{f.memory}, memEnv),
		// The trailing command keeps sh from exec'ing node: node stays sh's child.
		stdioServer("wrapped", "/bin/sh", []string{"-c", `"$0" "$1" stdio; echo "wrapped server exited: $?" >&2`, f.node, f.everything}, env),
	)), marker
}

// TestShutdown_StopsStdioServers: closing a client session stops the stdio servers it started,
// and gateway shutdown lets a call in flight finish, then stops every remaining server and their
// children, reaping them: nothing is left running and no zombie remains.
func TestShutdown_StopsStdioServers(t *testing.T) {
	f, ctx := prepare(t, 90*time.Second)
	gw, marker := markedGateway(t, f)

	first := connect(t, ctx, gw.URL+"/mcp", nil)
	toolNames(t, ctx, first) // starts the session's three servers
	afterFirst := markedProcs(t, marker)
	// Per session: everything, memory, and sh with its node child.
	if len(afterFirst) != 4 {
		t.Fatalf("after one session listed tools, found %d marked processes, want 4:\n%s", len(afterFirst), procList(afterFirst))
	}
	var grandchild bool
	for _, p := range afterFirst {
		grandchild = grandchild || p.ppid != os.Getpid()
	}
	if !grandchild {
		t.Fatalf("no server runs as a grandchild of the gateway; the shell wrapper did not keep node as its child:\n%s", procList(afterFirst))
	}

	second := connect(t, ctx, gw.URL+"/mcp", nil)
	toolNames(t, ctx, second)
	if n := len(markedProcs(t, marker)); n != 8 {
		t.Fatalf("after two sessions listed tools, found %d marked processes, want 8", n)
	}

	t.Run("closing a session stops its servers", func(t *testing.T) {
		if err := first.Close(); err != nil {
			t.Fatalf("closing the first client session: %v", err)
		}
		if left := leftovers(afterFirst); len(left) != 0 {
			t.Errorf("after the client closed its session (DELETE), its servers are still there:\n%s", procList(left))
		}
		if n := len(markedProcs(t, marker)); n != 4 {
			t.Errorf("after the first session closed, %d marked processes remain, want the second session's 4", n)
		}
	})

	t.Run("shutdown finishes the call in flight and stops every server", func(t *testing.T) {
		before := markedProcs(t, marker)
		called := callAsync(ctx, second, "wrapped__trigger-long-running-operation", map[string]any{"duration": 1, "steps": 2})
		time.Sleep(300 * time.Millisecond) // the call is running upstream
		start := time.Now()
		if err := gw.Stop(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		took := time.Since(start)
		select {
		case o := <-called:
			if err := o.failure(); err != nil || !strings.Contains(resultText(o.res), "completed") {
				t.Errorf("the call in flight at shutdown did not finish: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("the call in flight at shutdown never returned")
		}
		if left := leftovers(before); len(left) != 0 {
			t.Errorf("after Shutdown returned (in %v), server processes remain:\n%s", took, procList(left))
		}
		if late := markedProcs(t, marker); len(late) != 0 {
			t.Errorf("after Shutdown, server processes were started again:\n%s", procList(late))
		}
	})
}

// TestStdioServer_DiesMidCall: a stdio server killed during a call fails that call with an error
// that names the server, without hurting other servers, and the next call gets a new process.
func TestStdioServer_DiesMidCall(t *testing.T) {
	f, ctx := prepare(t, 60*time.Second)
	gw, marker := markedGateway(t, f)
	cs := connect(t, ctx, gw.URL+"/mcp", nil)
	toolNames(t, ctx, cs)

	var victim proc
	for _, p := range markedProcs(t, marker) {
		// node itself, not the shell that runs the "wrapped" server (whose arguments name it too).
		if p.ppid == os.Getpid() && strings.HasPrefix(p.cmdline, f.node+" "+f.everything) {
			victim = p
		}
	}
	if victim.pid == 0 {
		t.Fatalf("found no server-everything process started by the gateway")
	}
	start := time.Now()
	called := callAsync(ctx, cs, "everything__trigger-long-running-operation", map[string]any{"duration": 10, "steps": 2})
	time.Sleep(500 * time.Millisecond)
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing %v: %v", victim, err)
	}
	select {
	case o := <-called:
		if err := o.failure(); err == nil || !strings.Contains(err.Error(), "everything") {
			t.Errorf("the call to the killed server ended with %v; want an error naming the server", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the call failed only after %v; the server died 0.5s in", took)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the call to the killed server has not returned 15s later")
	}
	if p, ok := readProc(victim.pid); ok && p.state == 'Z' && p.ppid == os.Getpid() {
		t.Errorf("the killed server is a zombie: the gateway did not reap it: %v", p)
	}
	if got := callTool(t, ctx, cs, "memory__read_graph", map[string]any{}); !strings.Contains(got, "entities") {
		t.Errorf("memory__read_graph after another server died = %q", got)
	}
	if got := callTool(t, ctx, cs, "everything__echo", map[string]any{"message": "back"}); got != "Echo: back" {
		t.Errorf("everything__echo after the server was killed = %q, want a new process to answer %q", got, "Echo: back")
	}
}

func procList(ps []proc) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %v\n", p)
	}
	return b.String()
}
