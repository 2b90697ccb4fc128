// Package gwtest runs real gateways for tests outside the gateway package: a configuration from
// YAML text, a loopback listener, and a checked shutdown when the test ends.
package gwtest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/gateway"
)

// Gateway is a running gateway.
type Gateway struct {
	URL string // http://127.0.0.1:PORT
	*gateway.Gateway

	served   chan error
	stopOnce sync.Once
	stopErr  error
}

// Start serves a gateway configured by yamlText until the test ends; opts wire it (log, guards,
// records). The test fails if the config is invalid or the gateway does not shut down cleanly.
func Start(t testing.TB, yamlText string, opts gateway.Options) *Gateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText))
	if err != nil {
		t.Fatalf("config.Parse:\n%s\nerror: %v", yamlText, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{URL: "http://" + ln.Addr().String(), Gateway: gateway.New(cfg, opts), served: make(chan error, 1)}
	go func() { g.served <- g.Serve(ln) }()
	t.Cleanup(func() {
		if err := g.Stop(); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	return g
}

// Stop shuts the gateway down, once, and reports whether it stopped cleanly: Shutdown within its
// deadline, then Serve returning nil.
func (g *Gateway) Stop() error {
	g.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if g.stopErr = g.Shutdown(ctx); g.stopErr != nil {
			return
		}
		select {
		case g.stopErr = <-g.served:
		case <-time.After(5 * time.Second):
			g.stopErr = errors.New("Serve did not return within 5s of shutdown")
		}
	})
	return g.stopErr
}
