package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/portcullis-mcp/portcullis/host/internal/gwtest"
)

// twoMemories fronts two server-memory instances, each with its own graph holding one entity.
// Both expose the same resource URI, memory://knowledge-graph, as any two instances of one
// server do.
func twoMemories(t *testing.T, ctx context.Context, f fixtures) (*gwtest.Gateway, map[string]string) {
	gw := startGateway(t, servers(
		stdioServer("memory_a", f.node, []string{f.memory}, map[string]string{"MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "a.jsonl")}),
		stdioServer("memory_b", f.node, []string{f.memory}, map[string]string{"MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "b.jsonl")}),
	))
	entities := map[string]string{"memory_a": "alpha-entity", "memory_b": "beta-entity"}
	for server, name := range entities {
		cs := connect(t, ctx, gw.URL+"/mcp/"+server, nil)
		callTool(t, ctx, cs, "create_entities", map[string]any{"entities": []any{
			map[string]any{"name": name, "entityType": "test", "observations": []string{"kept by " + server}},
		}})
		cs.Close()
	}
	return gw, entities
}

// TestAggregate_SameResourceURIOnTwoServers: when two servers list the same resource URI, /mcp
// must still let the client read each server's resource. Each listed resource, read by the URI
// the gateway listed it under, must come from the server that listed it.
func TestAggregate_SameResourceURIOnTwoServers(t *testing.T) {
	f, ctx := prepare(t, 60*time.Second)
	gw, entities := twoMemories(t, ctx, f)
	cs := connect(t, ctx, gw.URL+"/mcp", nil)

	res, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatalf("resources/list: %v", err)
	}
	seen := map[string]string{} // URI -> the server that listed it
	for _, r := range res.Resources {
		server, _, ok := strings.Cut(r.Name, "__")
		if !ok || entities[server] == "" {
			t.Errorf("resource %q (%s) carries no known server prefix", r.Name, r.URI)
			continue
		}
		if other, dup := seen[r.URI]; dup {
			t.Errorf("resources/list shows URI %s for both %s and %s: the client cannot choose which one it reads", r.URI, other, server)
		}
		seen[r.URI] = server
		read, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: r.URI})
		if err != nil {
			t.Errorf("resources/read %s (listed as %s): %v", r.URI, r.Name, err)
			continue
		}
		if len(read.Contents) == 0 || !strings.Contains(read.Contents[0].Text, entities[server]) {
			t.Errorf("resources/read %s, listed as %s, did not return %s's graph (which holds %s); got %.200q",
				r.URI, r.Name, server, entities[server], firstText(read))
		}
	}
	if len(seen) == 0 {
		t.Fatalf("resources/list shows no resources; each server-memory lists its knowledge graph")
	}
}

// TestResourceSubscription_Memory: a client subscribed to server-memory's graph through the
// gateway hears about every change a tool makes to it, on /mcp and on /mcp/{server}.
func TestResourceSubscription_Memory(t *testing.T) {
	f, ctx := prepare(t, 60*time.Second)
	gw := startGateway(t, servers(
		stdioServer("memory", f.node, []string{f.memory}, map[string]string{"MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "m.jsonl")}),
	))
	const uri = "memory://knowledge-graph"
	for _, tc := range []struct{ path, tool string }{
		{"/mcp", "memory__create_entities"},
		{"/mcp/memory", "create_entities"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			ev, opts := newEventClient()
			cs := connect(t, ctx, gw.URL+tc.path, opts)
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
				t.Fatalf("resources/subscribe %s: %v", uri, err)
			}
			callTool(t, ctx, cs, tc.tool, map[string]any{"entities": []any{
				map[string]any{"name": "subscribed-" + tc.tool, "entityType": "test", "observations": []string{}},
			}})
			select {
			case got := <-ev.updated:
				if got != uri {
					t.Errorf("notifications/resources/updated for %q, want %q", got, uri)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no notifications/resources/updated within 5s of %s changing the subscribed graph", tc.tool)
			}
		})
	}
}

func firstText(r *mcp.ReadResourceResult) string {
	if len(r.Contents) == 0 {
		return ""
	}
	return r.Contents[0].Text
}
