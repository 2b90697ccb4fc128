package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// clientEvents is a go-sdk client that records what servers send it through the gateway and
// answers their requests (sampling, elicitation, roots) with recognisable values.
type clientEvents struct {
	progress chan progressEvent
	logs     chan *mcp.LoggingMessageParams
	updated  chan string
	sampled  chan string // the prompt text of each sampling request
	changed  chan struct{}
}

const (
	sampledAnswer = "sampled answer from the e2e client"
	sampledModel  = "e2e-model"
	elicitedName  = "Ada Lovelace"
	rootURI       = "file:///e2e/workspace"
)

// progressEvent is a progress notification and when the client got it.
type progressEvent struct {
	*mcp.ProgressNotificationParams
	at time.Time
}

func newEventClient() (*clientEvents, *mcp.ClientOptions) {
	ev := &clientEvents{
		progress: make(chan progressEvent, 64),
		logs:     make(chan *mcp.LoggingMessageParams, 64),
		updated:  make(chan string, 64),
		sampled:  make(chan string, 8),
		changed:  make(chan struct{}, 8),
	}
	opts := &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			ev.progress <- progressEvent{r.Params, time.Now()}
		},
		LoggingMessageHandler:  func(_ context.Context, r *mcp.LoggingMessageRequest) { ev.logs <- r.Params },
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { ev.changed <- struct{}{} },
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { ev.updated <- r.Params.URI },
		CreateMessageHandler: func(_ context.Context, r *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			var prompt string
			if len(r.Params.Messages) > 0 {
				prompt = textOf(r.Params.Messages[0].Content)
			}
			ev.sampled <- prompt
			return &mcp.CreateMessageResult{Content: &mcp.TextContent{Text: sampledAnswer}, Model: sampledModel, Role: "assistant"}, nil
		},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": elicitedName, "check": true}}, nil
		},
	}
	return ev, opts
}

// TestFlows_ServerEverything: the flows that make MCP more than request/response, through the
// gateway to server-everything behind stdio and Streamable HTTP, on the aggregate endpoint and on
// a single-server one.
func TestFlows_ServerEverything(t *testing.T) {
	f, ctx := prepare(t, 150*time.Second)
	gw := everythingGateway(t, f)
	for _, tc := range []struct {
		name, path, prefix string
		// Whether the case can tell where a list_changed or resources/updated comes from.
		// Through /mcp, everything_http's are masked: the stdio server in the same view sends
		// the same notification, and claims the same resource URIs (see
		// TestAggregate_SameResourceURIOnTwoServers).
		ownNotifications bool
	}{
		{"stdio via /mcp", "/mcp", "everything__", true},
		{"Streamable HTTP via /mcp", "/mcp", "everything_http__", false},
		{"Streamable HTTP via /mcp/everything_http", "/mcp/everything_http", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, opts := newEventClient()
			client := mcp.NewClient(&mcp.Implementation{Name: "portcullis-e2e", Version: "1.0.0"}, opts)
			client.AddRoots(&mcp.Root{URI: rootURI, Name: "e2e workspace"})
			cs := connectClient(t, ctx, gw.URL+tc.path, client)
			tool := func(name string) string { return tc.prefix + name }

			t.Run("progress", func(t *testing.T) { checkProgress(t, ctx, cs, ev, tool("trigger-long-running-operation")) })
			t.Run("cancellation", func(t *testing.T) { checkCancel(t, ctx, cs, ev, tool("trigger-long-running-operation"), tool("echo")) })
			t.Run("sampling", func(t *testing.T) { checkSampling(t, ctx, cs, ev, tool("trigger-sampling-request")) })
			t.Run("elicitation", func(t *testing.T) {
				got := callTool(t, ctx, cs, tool("trigger-elicitation-request"), map[string]any{})
				if !strings.Contains(got, "- Name: "+elicitedName) {
					t.Errorf("%s result lacks the client's elicited answer %q:\n%s", tool("trigger-elicitation-request"), elicitedName, got)
				}
			})
			t.Run("roots", func(t *testing.T) {
				got := callTool(t, ctx, cs, tool("get-roots-list"), map[string]any{})
				if !strings.Contains(got, rootURI) {
					t.Errorf("%s result lacks the client's root %s:\n%s", tool("get-roots-list"), rootURI, got)
				}
			})
			t.Run("logging", func(t *testing.T) { checkLogging(t, ctx, cs, ev, tool("toggle-simulated-logging")) })
			if !tc.ownNotifications {
				return
			}
			t.Run("tools/list_changed", func(t *testing.T) {
				// server-everything adds the tools that depend on client capabilities once the
				// session is initialized, and says so.
				select {
				case <-ev.changed:
				case <-time.After(3 * time.Second):
					t.Fatalf("no notifications/tools/list_changed reached the client; server-everything sends one when the session is initialized")
				}
			})
			t.Run("resource subscription", func(t *testing.T) { checkSubscription(t, ctx, cs, ev, tool("toggle-subscriber-updates")) })
		})
	}
}

// checkProgress: each step's progress reaches the client's handler with the client's own token,
// while the call is still running (streamed, not buffered until the result).
func checkProgress(t *testing.T, ctx context.Context, cs *mcp.ClientSession, ev *clientEvents, tool string) {
	const steps = 4
	token := "progress-" + tool
	drain(ev.progress)
	params := &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"duration": 1.2, "steps": steps}}
	params.SetProgressToken(token)
	start := time.Now()
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("tools/call %s: %v", tool, err)
	}
	done := time.Now()
	if want := fmt.Sprintf("Steps: %d", steps); !strings.Contains(resultText(res), want) {
		t.Errorf("%s result = %q, want it to report %q", tool, resultText(res), want)
	}
	var first time.Time
	for i := 1; i <= steps; i++ {
		select {
		case p := <-ev.progress:
			if i == 1 {
				first = p.at
			}
			if p.ProgressToken != token {
				t.Errorf("progress %d carries token %#v, want the client's %q", i, p.ProgressToken, token)
			}
			if p.Progress != float64(i) || p.Total != steps {
				t.Errorf("progress notification %d = %v/%v, want %d/%d", i, p.Progress, p.Total, i, steps)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d of %d progress notifications for %s", i-1, steps, tool)
		}
	}
	// The first step ends 300ms in, the call at 1.2s: a first notification that arrives only
	// with the result means the gateway held the stream back.
	if lead := done.Sub(first); lead < 300*time.Millisecond {
		t.Errorf("first progress notification arrived %v after the call started, only %v before the result: progress was not streamed while the call ran",
			first.Sub(start), lead)
	}
	select {
	case p := <-ev.progress:
		t.Errorf("unexpected extra progress notification: %+v", p)
	default:
	}
}

// checkCancel: a client that cancels a call gets control back at once, hears nothing more about
// the call (server-everything ignores the cancellation and keeps reporting progress, which the
// gateway must not relay with a token the client never issued), and the session stays usable.
func checkCancel(t *testing.T, ctx context.Context, cs *mcp.ClientSession, ev *clientEvents, tool, echo string) {
	const token = "cancel-me"
	drain(ev.progress)
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ev.progress: // the call is running upstream
		case <-time.After(5 * time.Second):
		}
		cancel()
	}()
	params := &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"duration": 1.2, "steps": 4}}
	params.SetProgressToken(token)
	start := time.Now()
	if _, err := cs.CallTool(callCtx, params); err == nil {
		t.Fatalf("%s returned a result although the client cancelled it", tool)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("cancelled call returned after %v; the operation would have taken 1.2s anyway", took)
	}
	// Wait out the rest of the operation upstream.
	for _, p := range receivedUntilQuiet(ev.progress, 1500*time.Millisecond) {
		if p.ProgressToken != token {
			t.Errorf("after cancelling, the client got progress %v/%v with token %#v, which it never issued (its token was %q)",
				p.Progress, p.Total, p.ProgressToken, token)
		}
	}
	if got := callTool(t, ctx, cs, echo, map[string]any{"message": "after cancel"}); got != "Echo: after cancel" {
		t.Errorf("%s after a cancelled call = %q", echo, got)
	}
}

// checkSampling: the server's sampling request reaches the client's CreateMessageHandler during
// the call, and the client's answer reaches the tool's result.
func checkSampling(t *testing.T, ctx context.Context, cs *mcp.ClientSession, ev *clientEvents, tool string) {
	const prompt = "what does a portcullis guard?"
	got := callTool(t, ctx, cs, tool, map[string]any{"prompt": prompt, "maxTokens": 20})
	select {
	case asked := <-ev.sampled:
		if !strings.Contains(asked, prompt) {
			t.Errorf("sampling request text = %q, want it to carry the prompt %q", asked, prompt)
		}
	default:
		t.Fatalf("%s returned without the client's CreateMessageHandler being called: %s", tool, got)
	}
	if !strings.Contains(got, sampledAnswer) || !strings.Contains(got, sampledModel) {
		t.Errorf("%s result lacks the client's sampling answer %q from model %q:\n%s", tool, sampledAnswer, sampledModel, got)
	}
}

var simulatedLog = regexp.MustCompile(`^(Debug|Info|Notice|Warning|Error|Critical|Alert|Emergency)[- ]level`)

// checkLogging: after logging/setLevel through the gateway, the log messages the server emits
// reach the client's handler.
func checkLogging(t *testing.T, ctx context.Context, cs *mcp.ClientSession, ev *clientEvents, tool string) {
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatalf("logging/setLevel: %v", err)
	}
	drain(ev.logs)
	callTool(t, ctx, cs, tool, map[string]any{}) // starts: one message now, then one every 5s
	defer callTool(t, ctx, cs, tool, map[string]any{})
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-ev.logs:
			if s, _ := m.Data.(string); simulatedLog.MatchString(s) {
				return
			}
		case <-timeout:
			t.Fatalf("no simulated log message reached the client within 10s of %s", tool)
		}
	}
}

// checkSubscription: resources/subscribe reaches the server, and its resources/updated
// notifications for that URI reach the client's handler.
func checkSubscription(t *testing.T, ctx context.Context, cs *mcp.ClientSession, ev *clientEvents, toggle string) {
	res, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatalf("resources/list: %v", err)
	}
	var uri string
	for _, r := range res.Resources {
		if strings.HasPrefix(r.URI, "demo://resource/static/document/") {
			uri = r.URI
			break
		}
	}
	if uri == "" {
		t.Fatalf("resources/list shows no static document to subscribe to")
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
		t.Fatalf("resources/subscribe %s: %v", uri, err)
	}
	drain(ev.updated)
	callTool(t, ctx, cs, toggle, map[string]any{}) // sends updates for subscribed URIs now, then every 5s
	defer callTool(t, ctx, cs, toggle, map[string]any{})
	select {
	case got := <-ev.updated:
		if got != uri {
			t.Errorf("notifications/resources/updated for %q, want the subscribed %q", got, uri)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no notifications/resources/updated for %s reached the client within 10s", uri)
	}
}

// receivedUntilQuiet returns what arrives on c until nothing has for quiet.
func receivedUntilQuiet[T any](c <-chan T, quiet time.Duration) []T {
	var got []T
	for {
		select {
		case v := <-c:
			got = append(got, v)
		case <-time.After(quiet):
			return got
		}
	}
}

func drain[T any](c chan T) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// TestSessions_RequestsReachTheirOwnClient: two clients at once, each calling a tool that asks
// the client for sampling, each get the answer of their own handler, through a stdio server
// (a process per client session) and a Streamable HTTP one (one process, a session per client).
func TestSessions_RequestsReachTheirOwnClient(t *testing.T) {
	f, ctx := prepare(t, 60*time.Second)
	gw := everythingGateway(t, f)
	clients := map[string]*mcp.ClientSession{}
	for _, who := range []string{"alice", "bob"} {
		clients[who] = connect(t, ctx, gw.URL+"/mcp", &mcp.ClientOptions{
			CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
				return &mcp.CreateMessageResult{Content: &mcp.TextContent{Text: "answered by " + who}, Model: who, Role: "assistant"}, nil
			},
		})
	}
	var wg sync.WaitGroup
	for who, cs := range clients {
		for _, server := range []string{"everything", "everything_http"} {
			wg.Go(func() {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: server + "__trigger-sampling-request",
					Arguments: map[string]any{"prompt": "who are you?"}})
				if err != nil {
					t.Errorf("%s: %s__trigger-sampling-request: %v", who, server, err)
					return
				}
				if got := resultText(res); !strings.Contains(got, "answered by "+who) {
					t.Errorf("%s's call of %s__trigger-sampling-request got another client's answer:\n%s", who, server, got)
				}
			})
		}
	}
	wg.Wait()
}

// TestSessions_SharedStdioServer: with `session: shared`, every client uses one process, and two
// clients that pick the same progress token each get only their own call's progress.
func TestSessions_SharedStdioServer(t *testing.T) {
	f, ctx := prepare(t, 60*time.Second)
	marker := newMarker()
	gw := startGateway(t, servers(
		stdioServer("everything", f.node, []string{f.everything, "stdio"}, map[string]string{markerEnv: marker})+
			"    session: shared\n",
	))
	const steps, token = 3, "same-token"
	events := map[string]*clientEvents{}
	clients := map[string]*mcp.ClientSession{}
	for _, who := range []string{"alice", "bob"} {
		ev, opts := newEventClient()
		events[who], clients[who] = ev, connect(t, ctx, gw.URL+"/mcp", opts)
	}
	var wg sync.WaitGroup
	for who, cs := range clients {
		wg.Go(func() {
			params := &mcp.CallToolParams{Name: "everything__trigger-long-running-operation",
				Arguments: map[string]any{"duration": 0.9, "steps": steps}}
			params.SetProgressToken(token)
			res, err := cs.CallTool(ctx, params)
			if err != nil || res.IsError {
				t.Errorf("%s's call on the shared server: %v %v", who, err, res)
			}
		})
	}
	wg.Wait()
	if ps := markedProcs(t, marker); len(ps) != 1 {
		t.Errorf("two clients of a shared stdio server run %d processes, want 1:\n%s", len(ps), procList(ps))
	}
	for who, ev := range events {
		var got []string
		for _, p := range receivedUntilQuiet(ev.progress, time.Second) {
			got = append(got, fmt.Sprintf("%v/%v", p.Progress, p.Total))
		}
		if len(got) != steps {
			t.Errorf("%s got %d progress notifications %v for its call of %d steps: progress is not kept apart between clients sharing a server",
				who, len(got), got, steps)
		}
	}
}
