// Package e2e tests the gateway end to end against real MCP servers and real MCP clients. It
// holds tests only.
//
// Each test starts a gateway in process on a random loopback port, from a YAML configuration
// parsed by config.Parse, in front of servers from npm, pinned in testdata/npm/package.json:
// @modelcontextprotocol/server-everything (over stdio, Streamable HTTP and the legacy HTTP+SSE
// transport), server-filesystem and server-memory (over stdio). The clients are the go-sdk client
// and the TypeScript SDK client (testdata/npm/tsclient.mjs, run with node).
//
// What the tests cover:
//   - servers_test.go: /mcp lists and calls the tools, prompts, completions and resources of every
//     server under its prefix; /mcp/{server} shows one server unprefixed, as it is.
//   - flows_test.go: progress (streamed while the call runs, with the client's token),
//     cancellation, sampling, elicitation, roots, logging, tools/list_changed and resource
//     subscriptions, for stdio and Streamable HTTP upstreams; server requests reaching the client
//     that caused them; a stdio server shared by clients.
//   - sse_test.go: a legacy HTTP+SSE upstream behind /mcp.
//   - tsclient_test.go: the TypeScript SDK client through /mcp and /mcp/{server}.
//   - resources_test.go: resources with the same URI on two servers; subscriptions to
//     server-memory's graph.
//   - robustness_test.go: per-tool timeouts, calls that do not block each other, many concurrent
//     calls on one session, a Streamable HTTP server that restarts.
//   - process_test.go: closing a session and shutting the gateway down stop every stdio server
//     and its children, leaving nothing running and no zombie (found through /proc by a marker
//     in their environment); a server killed mid-call fails that call only.
//
// Running them needs node (20 or newer) and the npm fixtures:
//
//	make npm-deps                           # npm ci in testdata/npm
//	go test -race ./host/internal/e2e/      # about a minute
//
// Without the fixtures the tests skip, unless CI is set (CI=true), where they fail: a CI run
// must not pass by skipping them. They run on Linux only, since they read /proc.
package e2e
