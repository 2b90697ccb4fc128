// Command sdk-echo serves the go-sdk echo server for the benchmark scenarios:
// Streamable HTTP on /mcp and the legacy HTTP+SSE transport on /sse.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/portcullis-mcp/portcullis/bench/internal/sdkecho"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to serve on")
	stateless := flag.Bool("stateless", false, "serve Streamable HTTP without sessions")
	jsonResponse := flag.Bool("json", false, "answer application/json instead of event streams")
	flag.Parse()

	mux := http.NewServeMux()
	mux.Handle("/mcp", sdkecho.Streamable(*stateless, *jsonResponse))
	mux.Handle("/sse", sdkecho.SSE())
	srv := &http.Server{Addr: *listen, Handler: mux}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "sdk-echo: serving http://%s/mcp and http://%s/sse\n", *listen, *listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "sdk-echo:", err)
		os.Exit(1)
	}
}
