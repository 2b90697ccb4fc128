package e2e

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/portcullis-mcp/portcullis/host/internal/gwtest"
)

// realServers starts what a typical deployment fronts: server-everything over stdio and over
// Streamable HTTP, server-filesystem on a temp dir holding one file, and server-memory with its
// graph in a temp file. It returns the gateway and the file's path and content.
func realServers(t *testing.T, f fixtures) (gw *gwtest.Gateway, file, content string) {
	dir := t.TempDir()
	file = filepath.Join(dir, "notes.txt")
	content = "portcullis e2e: the file server-filesystem reads\n"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	gw = everythingGateway(t, f,
		stdioServer("fs", f.node, []string{f.filesystem, dir}, nil),
		stdioServer("memory", f.node, []string{f.memory}, map[string]string{"MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "memory.jsonl")}),
	)
	return gw, file, content
}

// TestAggregate_RealServers: one go-sdk client on /mcp sees and uses the tools, prompts and
// resources of four real servers behind three transports, each under its own prefix.
func TestAggregate_RealServers(t *testing.T) {
	f, ctx := prepare(t, 90*time.Second)
	gw, file, content := realServers(t, f)
	cs := connect(t, ctx, gw.URL+"/mcp", nil)

	t.Run("tools/list shows every server's tools, prefixed", func(t *testing.T) {
		tools := toolNames(t, ctx, cs)
		for _, want := range []string{
			"everything__echo", "everything__get-sum", "everything__trigger-long-running-operation",
			"everything_http__echo", "everything_http__get-sum",
			"fs__read_text_file", "fs__list_directory", "fs__write_file",
			"memory__create_entities", "memory__read_graph",
		} {
			if tools[want] == nil {
				t.Errorf("tools/list lacks %s; it shows %d tools: %v", want, len(tools), slices.Sorted(maps.Keys(tools)))
			}
		}
		for name := range tools {
			if !strings.Contains(name, "__") {
				t.Errorf("tool %q has no server prefix", name)
			}
		}
		// Prefixing must keep what a client needs to call the tool: schema and annotations.
		if echo := tools["everything__echo"]; echo != nil {
			schema, _ := json.Marshal(echo.InputSchema)
			if !strings.Contains(string(schema), `"message"`) {
				t.Errorf("everything__echo lost its input schema: %s", schema)
			}
			if echo.Annotations == nil || !echo.Annotations.ReadOnlyHint {
				t.Errorf("everything__echo lost its readOnlyHint annotation: %+v", echo.Annotations)
			}
		}
	})

	t.Run("a call reaches each server", func(t *testing.T) {
		if got := callTool(t, ctx, cs, "everything__echo", map[string]any{"message": "through stdio"}); got != "Echo: through stdio" {
			t.Errorf("everything__echo = %q, want %q", got, "Echo: through stdio")
		}
		if got := callTool(t, ctx, cs, "everything_http__echo", map[string]any{"message": "through HTTP"}); got != "Echo: through HTTP" {
			t.Errorf("everything_http__echo = %q, want %q", got, "Echo: through HTTP")
		}
		if got := callTool(t, ctx, cs, "everything_http__get-sum", map[string]any{"a": 19, "b": 23}); !strings.Contains(got, "42") {
			t.Errorf("everything_http__get-sum(19, 23) = %q, want the sum 42", got)
		}
		if got := callTool(t, ctx, cs, "fs__read_text_file", map[string]any{"path": file}); got != content {
			t.Errorf("fs__read_text_file(%s) = %q, want the file's content %q", file, got, content)
		}
		entity := map[string]any{"name": "Portcullis", "entityType": "gateway", "observations": []string{"fronts MCP servers"}}
		callTool(t, ctx, cs, "memory__create_entities", map[string]any{"entities": []any{entity}})
		graph := callTool(t, ctx, cs, "memory__read_graph", map[string]any{})
		if !strings.Contains(graph, `"Portcullis"`) || !strings.Contains(graph, "fronts MCP servers") {
			t.Errorf("memory__read_graph after create_entities = %s; want the created entity", graph)
		}
	})

	t.Run("a large result", func(t *testing.T) {
		// Far beyond a pipe or socket buffer: the frame crosses stdio and the gateway in pieces.
		big := filepath.Join(filepath.Dir(file), "big.txt")
		want := strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz \"quoted\" \\ é\n", 40000)
		if err := os.WriteFile(big, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := callTool(t, ctx, cs, "fs__read_text_file", map[string]any{"path": big}); got != want {
			t.Errorf("fs__read_text_file of a %d-byte file returned %d bytes that differ", len(want), len(got))
		}
	})

	t.Run("an unknown prefix is an error naming it", func(t *testing.T) {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "nosuch__echo", Arguments: map[string]any{}})
		if err == nil || !strings.Contains(err.Error(), "nosuch") {
			t.Errorf("tools/call nosuch__echo: err = %v, want an error naming the unknown server", err)
		}
	})

	t.Run("prompts", func(t *testing.T) {
		res, err := cs.ListPrompts(ctx, nil)
		if err != nil {
			t.Fatalf("prompts/list: %v", err)
		}
		var names []string
		for _, p := range res.Prompts {
			names = append(names, p.Name)
		}
		for _, want := range []string{"everything__simple-prompt", "everything_http__simple-prompt"} {
			if !slices.Contains(names, want) {
				t.Errorf("prompts/list lacks %s: %v", want, names)
			}
		}
		got, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "everything_http__simple-prompt"})
		if err != nil {
			t.Fatalf("prompts/get everything_http__simple-prompt: %v", err)
		}
		if len(got.Messages) != 1 || !strings.Contains(textOf(got.Messages[0].Content), "simple prompt without arguments") {
			t.Errorf("prompts/get everything_http__simple-prompt = %+v; want the server's fixed message", got.Messages)
		}
	})

	t.Run("completion", func(t *testing.T) {
		for _, c := range []struct {
			ref  *mcp.CompleteReference
			arg  mcp.CompleteParamsArgument
			want string
		}{
			{&mcp.CompleteReference{Type: "ref/prompt", Name: "everything_http__completable-prompt"}, mcp.CompleteParamsArgument{Name: "department", Value: "Eng"}, "Engineering"},
			{&mcp.CompleteReference{Type: "ref/resource", URI: "demo://resource/dynamic/text/{resourceId}"}, mcp.CompleteParamsArgument{Name: "resourceId", Value: "12"}, "12"},
		} {
			res, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: c.ref, Argument: c.arg})
			if err != nil {
				t.Errorf("completion/complete %+v: %v", c.ref, err)
				continue
			}
			if !slices.Equal(res.Completion.Values, []string{c.want}) {
				t.Errorf("completion/complete %+v %+v = %v, want [%s]", c.ref, c.arg, res.Completion.Values, c.want)
			}
		}
	})

	t.Run("resources", func(t *testing.T) {
		res, err := cs.ListResources(ctx, nil)
		if err != nil {
			t.Fatalf("resources/list: %v", err)
		}
		var uri string
		for _, r := range res.Resources {
			if strings.HasPrefix(r.URI, "demo://resource/static/document/") && strings.HasSuffix(r.URI, ".md") {
				uri = r.URI
				break
			}
		}
		if uri == "" {
			t.Fatalf("resources/list shows no static document of server-everything: %d resources", len(res.Resources))
		}
		read, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		if err != nil {
			t.Fatalf("resources/read %s: %v", uri, err)
		}
		if len(read.Contents) != 1 || read.Contents[0].URI != uri || len(read.Contents[0].Text) == 0 || strings.HasPrefix(read.Contents[0].Text, "Error reading file") {
			t.Errorf("resources/read %s = %+v; want the document's text", uri, read.Contents)
		}
		tmpl, err := cs.ListResourceTemplates(ctx, nil)
		if err != nil {
			t.Fatalf("resources/templates/list: %v", err)
		}
		if len(tmpl.ResourceTemplates) == 0 {
			t.Fatalf("resources/templates/list is empty; server-everything has dynamic templates")
		}
		// A URI from a template is never listed: the gateway routes it by the template's prefix.
		const dynamic = "demo://resource/dynamic/text/7"
		read, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: dynamic})
		if err != nil {
			t.Fatalf("resources/read %s: %v", dynamic, err)
		}
		if len(read.Contents) != 1 || !strings.Contains(read.Contents[0].Text, "7") {
			t.Errorf("resources/read %s = %+v; want the dynamic resource 7", dynamic, read.Contents)
		}
	})
}

// TestSingleServer_Unprefixed: /mcp/{server} shows one server as it is, with its own identity and
// tool names, for stdio and Streamable HTTP servers.
func TestSingleServer_Unprefixed(t *testing.T) {
	f, ctx := prepare(t, 90*time.Second)
	gw, file, content := realServers(t, f)

	fs := connect(t, ctx, gw.URL+"/mcp/fs", nil)
	if info := fs.InitializeResult().ServerInfo; info == nil || info.Name != "secure-filesystem-server" {
		t.Errorf("/mcp/fs serverInfo = %+v, want server-filesystem's own (secure-filesystem-server)", info)
	}
	tools := toolNames(t, ctx, fs)
	if tools["read_text_file"] == nil || len(tools) == 0 {
		t.Errorf("/mcp/fs tools/list lacks read_text_file: %v", slices.Sorted(maps.Keys(tools)))
	}
	for name := range tools {
		if strings.Contains(name, "__") {
			t.Errorf("/mcp/fs shows the prefixed name %q", name)
		}
	}
	if got := callTool(t, ctx, fs, "read_text_file", map[string]any{"path": file}); got != content {
		t.Errorf("/mcp/fs read_text_file = %q, want %q", got, content)
	}

	ev := connect(t, ctx, gw.URL+"/mcp/everything_http", nil)
	if info := ev.InitializeResult().ServerInfo; info == nil || info.Name != "mcp-servers/everything" {
		t.Errorf("/mcp/everything_http serverInfo = %+v, want server-everything's own", info)
	}
	if got := callTool(t, ctx, ev, "echo", map[string]any{"message": "unprefixed"}); got != "Echo: unprefixed" {
		t.Errorf("/mcp/everything_http echo = %q, want %q", got, "Echo: unprefixed")
	}
	// The aggregate's names mean nothing on a single-server endpoint.
	if res, err := ev.CallTool(ctx, &mcp.CallToolParams{Name: "everything_http__echo", Arguments: map[string]any{"message": "x"}}); err == nil && !res.IsError {
		t.Errorf("/mcp/everything_http accepted the prefixed name everything_http__echo: %s", resultText(res))
	}
	p, err := ev.GetPrompt(ctx, &mcp.GetPromptParams{Name: "simple-prompt"})
	if err != nil || len(p.Messages) == 0 {
		t.Errorf("/mcp/everything_http prompts/get simple-prompt = %+v, %v", p, err)
	}
}

func textOf(c mcp.Content) string {
	if tc, ok := c.(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}
