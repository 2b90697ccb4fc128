package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tsClientOutput is what testdata/npm/tsclient.mjs prints.
type tsClientOutput struct {
	ServerInfo struct {
		Name string `json:"name"`
	} `json:"serverInfo"`
	Tools  []string `json:"tools"`
	Result struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	} `json:"result"`
	Progress []struct {
		Progress, Total float64
	} `json:"progress"`
}

func (o *tsClientOutput) text() string {
	var parts []string
	for _, c := range o.Result.Content {
		parts = append(parts, c.Text)
	}
	return strings.Join(parts, "\n")
}

// TestTypeScriptClient: the official TypeScript SDK client, run with node, connects through the
// gateway, lists tools and calls one (with progress), on /mcp and on /mcp/{server}, then ends its
// session with DELETE.
func TestTypeScriptClient(t *testing.T) {
	f, ctx := prepare(t, 90*time.Second)
	gw := startGateway(t, servers(
		stdioServer("everything", f.node, []string{f.everything, "stdio"}, nil),
		stdioServer("memory", f.node, []string{f.memory}, map[string]string{"MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "memory.jsonl")}),
	))
	run := func(t *testing.T, endpoint, tool, args string) *tsClientOutput {
		t.Helper()
		cmd := exec.CommandContext(ctx, f.node, filepath.Join(f.npm, "tsclient.mjs"), endpoint, tool, args)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("node tsclient.mjs %s %s: %v\nstderr:\n%s", endpoint, tool, err, stderr.String())
		}
		var out tsClientOutput
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatalf("tsclient.mjs printed something that is not its JSON report (%v):\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
		return &out
	}

	t.Run("/mcp", func(t *testing.T) {
		out := run(t, gw.URL+"/mcp", "everything__trigger-long-running-operation", `{"duration":0.6,"steps":3}`)
		for _, want := range []string{"everything__echo", "everything__trigger-long-running-operation", "memory__read_graph"} {
			if !slices.Contains(out.Tools, want) {
				t.Errorf("TypeScript client's tools/list lacks %s: %v", want, out.Tools)
			}
		}
		if out.Result.IsError || !strings.Contains(out.text(), "Steps: 3") {
			t.Errorf("TypeScript client's call result = %+v, want the completed operation", out.Result)
		}
		if len(out.Progress) != 3 || out.Progress[2].Progress != 3 || out.Progress[2].Total != 3 {
			t.Errorf("TypeScript client's onprogress saw %+v, want steps 1..3 of 3", out.Progress)
		}
	})

	t.Run("/mcp/everything", func(t *testing.T) {
		out := run(t, gw.URL+"/mcp/everything", "echo", `{"message":"hello from TypeScript"}`)
		if out.ServerInfo.Name != "mcp-servers/everything" {
			t.Errorf("serverInfo.name = %q, want server-everything's own", out.ServerInfo.Name)
		}
		if !slices.Contains(out.Tools, "echo") {
			t.Errorf("tools/list lacks echo: %v", out.Tools)
		}
		for _, name := range out.Tools {
			if strings.Contains(name, "__") {
				t.Errorf("/mcp/everything shows the prefixed name %q", name)
			}
		}
		if got := out.text(); out.Result.IsError || got != "Echo: hello from TypeScript" {
			t.Errorf("echo result = %q (isError %v), want %q", got, out.Result.IsError, "Echo: hello from TypeScript")
		}
	})
}
