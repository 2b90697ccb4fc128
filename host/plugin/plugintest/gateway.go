package plugintest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/demo"
	"github.com/portcullis-mcp/portcullis/host/gateway"
	"github.com/portcullis-mcp/portcullis/host/guard"
	"github.com/portcullis-mcp/portcullis/host/internal/gwtest"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// Gateway serves a real gateway configured by yamlText until the test ends, with the plugins and
// bindings it names loaded as `portcullis serve` loads them (plugin paths relative to dir), and
// returns a go-sdk client connected to its aggregate endpoint /mcp. Plugin logs and events go
// to the returned Sink.
func Gateway(t testing.TB, yamlText, dir string) (*mcp.ClientSession, *Sink) {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText))
	if err != nil {
		t.Fatalf("config.Parse:\n%s\nerror: %v", yamlText, err)
	}
	s := &Sink{}
	eng, err := plugin.NewEngine(plugin.EngineConfig{CacheDir: t.TempDir(), Logger: slog.New(s), Events: s.event})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	guards, err := guard.Load(ctx, eng, cfg, dir)
	if err != nil {
		eng.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs after the gateway's own cleanup below
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		guards.Close(sctx)
		eng.Close(sctx)
	})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g := gwtest.Start(t, yamlText, gateway.Options{Log: log, Guards: guards,
		Env: upstream.Env{Log: log, Demo: demo.Serve, Route: guards.Route}})
	client := mcp.NewClient(&mcp.Implementation{Name: "plugintest", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, s
}

// CallText calls a tool and returns the text of its result, or the error the client got (a
// blocked call is a JSON-RPC error whose message holds the guard's reason).
func CallText(cs *mcp.ClientSession, tool string, args map[string]any) (string, error) {
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), nil
}
