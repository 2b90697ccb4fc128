package gateway

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"

	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
	"github.com/portcullis-mcp/portcullis/host/pipeline"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// listKinds maps each list method to the result field that holds its items and the capability
// a server must have to answer it.
var listKinds = map[string]struct{ field, capability string }{
	"tools/list":               {"tools", "tools"},
	"prompts/list":             {"prompts", "prompts"},
	"resources/list":           {"resources", "resources"},
	"resources/templates/list": {"resourceTemplates", "resources"},
}

// maxPages bounds how many pages the gateway reads from one server for one list.
const maxPages = 100

// list answers a list request on the aggregate: every server's items, all pages, in one page,
// with tool and prompt names prefixed. A server that fails is left out (and logged) so the others
// stay usable.
func (g *Gateway) list(ctx context.Context, cs *clientSession, frame []byte, env *jsonrpc.Envelope, x sink, o *outcome) []byte {
	method := string(env.Method)
	kind := listKinds[method]
	items := g.collect(ctx, cs, method)
	if method == "tools/list" {
		snap := g.pipeline.Acquire()
		if snap.Guards != nil {
			for server, list := range items {
				items[server] = g.filterTools(ctx, snap.Guards, cs, server, list)
			}
		}
		snap.Release()
	}
	if p, ok := x.(interface{ preferStream() }); ok && cs.upstreamsStream() {
		p.preferStream() // the servers answer on streams: so does the aggregate
	}
	out := append([]byte(`{"`), kind.field...)
	out = append(out, `":[`...)
	first := true
	for _, name := range cs.view.servers {
		for _, item := range items[name] {
			if !first {
				out = append(out, ',')
			}
			first = false
			out = append(out, g.exposeItem(cs, name, method, item)...)
		}
	}
	out = append(out, "]}"...)
	return jsonrpc.AppendResult(nil, env.ID.In(frame), out)
}

// filterTools runs the tool-list filters on one server's tools, as a tools/list result of that
// server. A filter that fails under fail-closed hides the server's tools.
func (g *Gateway) filterTools(ctx context.Context, guards pipeline.Guards, cs *clientSession, server string, tools []json.RawMessage) []json.RawMessage {
	result, _ := json.Marshal(map[string]any{"tools": tools})
	frame := jsonrpc.AppendResult(nil, []byte("0"), result)
	call := pipeline.Call{Principal: cs.caller, Method: "tools/list", Server: server}
	out, err := guards.Tools(ctx, &call, frame)
	if err != nil {
		g.log.Warn("tool filter hid a server's tools", "server", server, "err", err)
		return nil
	}
	if sameSlice(out, frame) {
		return tools
	}
	var r struct {
		Result struct {
			Tools []json.RawMessage `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		g.log.Warn("tool filter answered garbage; server's tools hidden", "server", server, "err", err)
		return nil
	}
	return r.Result.Tools
}

// collect lists method on every server of the view at once.
func (g *Gateway) collect(ctx context.Context, cs *clientSession, method string) map[string][]json.RawMessage {
	snap := g.pipeline.Load()
	var mu sync.Mutex
	var wg sync.WaitGroup
	all := map[string][]json.RawMessage{}
	for _, name := range cs.view.servers {
		srv := snap.Server(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			items, err := g.listServer(ctx, cs, srv, method)
			if err != nil {
				g.log.Warn("list failed; server left out", "server", name, "method", method, "err", err)
				return
			}
			mu.Lock()
			all[name] = items
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// listServer reads every page of one server's list.
func (g *Gateway) listServer(ctx context.Context, cs *clientSession, srv *upstream.Server, method string) ([]json.RawMessage, error) {
	kind := listKinds[method]
	ctx, cancel := context.WithTimeout(ctx, srv.Config.Timeout.D())
	defer cancel()
	sess, err := g.upstreamSession(ctx, cs, srv, nil)
	if err != nil {
		return nil, err
	}
	var caps map[string]json.RawMessage
	if json.Unmarshal(sess.Init.Capabilities, &caps) == nil {
		if _, ok := caps[kind.capability]; !ok {
			return nil, nil // the server offers none of these
		}
	}
	var items []json.RawMessage
	cursor := ""
	for range maxPages {
		var params json.RawMessage
		if cursor != "" {
			params, _ = json.Marshal(map[string]string{"cursor": cursor})
		}
		res, err := sess.Request(ctx, method, params)
		if err != nil {
			return nil, err
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(res, &page); err != nil {
			return nil, err
		}
		var got []json.RawMessage
		if err := json.Unmarshal(page[kind.field], &got); err != nil && page[kind.field] != nil {
			return nil, err
		}
		items = append(items, got...)
		cursor = ""
		if c, ok := page["nextCursor"]; ok {
			json.Unmarshal(c, &cursor)
		}
		if cursor == "" {
			break
		}
	}
	if method == "tools/list" {
		var tools []upstream.ToolInfo
		for _, it := range items {
			var t upstream.ToolInfo
			if json.Unmarshal(it, &t) == nil {
				tools = append(tools, t)
			}
		}
		srv.NoteTools(tools)
	}
	return items, nil
}

// exposeItem prefixes the name of one listed item and remembers what the client needs routed
// back: shortened names and resource URIs.
func (g *Gateway) exposeItem(cs *clientSession, server, method string, item json.RawMessage) []byte {
	obj := jsonrpc.Span{Start: 0, End: len(item)}
	switch method {
	case "resources/list":
		if s, ok := jsonrpc.Member(item, obj, "uri"); ok {
			if uri, ok := jsonrpc.Unquote(s.In(item)); ok {
				if exposed := cs.claimURI(server, string(uri)); exposed != string(uri) {
					item = jsonrpc.Splice(nil, item, jsonrpc.Edit{Span: s, With: jsonrpc.AppendQuote(nil, exposed)})
					obj = jsonrpc.Span{Start: 0, End: len(item)}
				}
			}
		}
	case "resources/templates/list":
		if s, ok := jsonrpc.Member(item, obj, "uriTemplate"); ok {
			if t, ok := jsonrpc.Unquote(s.In(item)); ok {
				prefix, _, _ := strings.Cut(string(t), "{")
				cs.mu.Lock()
				cs.templates = append(cs.templates, uriTemplate{prefix: prefix, server: server})
				cs.mu.Unlock()
			}
		}
	}
	s, ok := jsonrpc.Member(item, obj, "name")
	if !ok {
		return item
	}
	name, ok := jsonrpc.Unquote(s.In(item))
	if !ok {
		return item
	}
	exposed, shortened := cs.view.expose(server, string(name))
	if shortened {
		cs.mu.Lock()
		if cs.names[server] == nil {
			cs.names[server] = map[string]string{}
		}
		cs.names[server][exposed] = string(name)
		cs.mu.Unlock()
	}
	return jsonrpc.Splice(nil, item, jsonrpc.Edit{Span: s, With: jsonrpc.AppendQuote(nil, exposed)})
}

// original returns the server's name for a shortened exposed name.
func (cs *clientSession) original(server, exposed string) (string, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n, ok := cs.names[server][exposed]
	return n, ok
}

// claimURI records which server listed a resource URI and returns the URI the client sees. The
// first server (in configuration order) to list a URI keeps it; another server listing the same
// URI gets it under an alias of the gateway's, so that the client can reach both.
func (cs *clientSession) claimURI(server, uri string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	owner, taken := cs.uris[uri]
	if !taken || owner == server {
		cs.uris[uri] = server
		return uri
	}
	alias := "portcullis://" + server + "/" + url.PathEscape(uri)
	cs.aliases[alias] = serverURI{server, uri}
	cs.aliasOf[serverURI{server, uri}] = alias
	return alias
}

// serverURI is a resource as one server knows it.
type serverURI struct{ server, uri string }

// unalias returns the server and its own URI for an aliased URI.
func (cs *clientSession) unalias(uri string) (serverURI, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a, ok := cs.aliases[uri]
	return a, ok
}

// aliasFor returns the URI the client knows a server's resource by.
func (cs *clientSession) aliasFor(server, uri string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if a, ok := cs.aliasOf[serverURI{server, uri}]; ok {
		return a
	}
	return uri
}

// resolveURI finds the server of a resource: one that listed it, else the one whose template
// matches the longest prefix.
func (cs *clientSession) resolveURI(uri string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if s, ok := cs.uris[uri]; ok {
		return s
	}
	best, server := -1, ""
	for _, t := range cs.templates {
		if strings.HasPrefix(uri, t.prefix) && len(t.prefix) > best {
			best, server = len(t.prefix), t.server
		}
	}
	return server
}

// indexResources lists resources and templates of every server so that a client that reads a
// URI without listing first still reaches the right server.
func (g *Gateway) indexResources(ctx context.Context, cs *clientSession) {
	for _, method := range []string{"resources/list", "resources/templates/list"} {
		items := g.collect(ctx, cs, method)
		for _, server := range cs.view.servers { // in order: the first server keeps a shared URI
			for _, it := range items[server] {
				g.exposeItem(cs, server, method, it)
			}
		}
	}
}

// noteTools records tool annotations from a tools/list response of a single-server endpoint.
func noteTools(srv *upstream.Server, resp []byte) {
	var r struct {
		Result struct {
			Tools []upstream.ToolInfo `json:"tools"`
		} `json:"result"`
	}
	if json.Unmarshal(resp, &r) == nil {
		srv.NoteTools(r.Result.Tools)
	}
}

// renameURIs replaces every "uri" member equal to from with to, anywhere in a frame: a read of an
// aliased resource answers with the server's URI, which the client knows under the alias.
func renameURIs(frame []byte, from, to string) []byte {
	var v any
	if json.Unmarshal(frame, &v) != nil {
		return frame
	}
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, m := range t {
				if s, ok := m.(string); ok && k == "uri" && s == from {
					t[k] = to
				} else {
					walk(m)
				}
			}
		case []any:
			for _, m := range t {
				walk(m)
			}
		}
	}
	walk(v)
	out, err := json.Marshal(v)
	if err != nil {
		return frame
	}
	return out
}
