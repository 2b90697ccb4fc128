// Command portcullis is the Portcullis MCP gateway: `portcullis serve` runs it, `portcullis
// plugin` manages its plugins through the admin API, `portcullis version` prints its version. Flags and wiring only; the gateway lives in host/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/portcullis-mcp/portcullis/host/admin"
	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/demo"
	"github.com/portcullis-mcp/portcullis/host/gateway"
	"github.com/portcullis-mcp/portcullis/host/guard"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/record"
	"github.com/portcullis-mcp/portcullis/host/store"
	"github.com/portcullis-mcp/portcullis/host/upstream"
	"github.com/portcullis-mcp/portcullis/registry"
)

const usage = `Portcullis: a gateway for the Model Context Protocol.

Usage:
  portcullis serve [--config FILE] [--listen ADDR] [--data DIR]
  portcullis plugin COMMAND     push, list, bind, unbind, rollback, delete plugins (admin API); keygen
  portcullis bench [flags]      MCP load generator (portcullis bench --help)
  portcullis version

With no config file, serve runs the built-in demo server behind /mcp on 127.0.0.1:8080 and keeps
its data in ./portcullis-data.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "bench":
		return benchMain(ctx, args[1:], stdout, stderr)
	case "plugin":
		return pluginMain(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "portcullis", gateway.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "portcullis: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func serve(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML configuration file (default: the built-in demo)")
	listen := fs.String("listen", "", "address to listen on, overriding the config")
	dataDir := fs.String("data", "", "data folder, overriding the config")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "portcullis: bad --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "portcullis: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "portcullis: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintf(stderr, "portcullis: %v\n", err)
			return 1
		}
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}

	db, err := store.Open(cfg.DataDir, log)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis: %v\n", err)
		return 1
	}
	defer db.Close()
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go store.RunGC(bg, db, 5*time.Minute)
	opts := gateway.Options{Log: log, Env: upstream.Env{Log: log, Demo: demo.Serve}}
	eng, err := plugin.NewEngine(plugin.EngineConfig{CacheDir: guard.CacheDir(cfg.DataDir), Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "portcullis: %v\n", err)
		return 1
	}
	defer eng.Close(context.Background())
	var gw *gateway.Gateway
	records := record.NewQueue(db, 8192, log, func(rec []byte) { gw.Audit(bg, rec) })
	opts.Records = records
	gw = gateway.New(cfg, opts)

	// The pipeline: the config file's plugins and bindings plus the registry's, rebuilt and
	// swapped in on every change.
	keys, _ := cfg.Admin.PublicKeys() // validated with the config
	reg, err := registry.Open(db, registry.Options{Engine: eng, TrustedKeys: keys, Log: log,
		MaxModuleBytes: cfg.Admin.MaxUploadBytes,
		Limits:         registry.Limits{MemoryPages: cfg.Admin.MaxMemoryPages, Timeout: cfg.Admin.MaxTimeout.D(), Instances: cfg.Admin.MaxInstances}})
	if err != nil {
		fmt.Fprintf(stderr, "portcullis: %v\n", err)
		return 1
	}
	static, err := registry.StaticFrom(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis: %v\n", err)
		return 1
	}
	live := registry.NewLive(eng, gw.SwapGuards, static)
	defer func() {
		records.Close() // flushed to the audit sinks of the pipeline still running
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		live.Close(cctx)
	}()
	reg.SetPipeline(live)
	if err := reg.Activate(ctx, "startup"); err != nil {
		fmt.Fprintf(stderr, "portcullis: plugins: %v\n", err)
		return 1
	}
	if st, _ := reg.State(); len(cfg.Plugins)+len(st.Bindings) > 0 {
		log.Info("plugins loaded", "plugins", len(cfg.Plugins), "bindings", len(cfg.Bindings), "registry_bindings", len(st.Bindings))
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis: listen: %v\n", err)
		return 1
	}
	if cfg.Admin.Token != "" {
		api, err := admin.New(admin.Options{Token: cfg.Admin.Token, Registry: reg, Live: live, Gateway: gw,
			Config: cfg, ConfigPath: *cfgPath, MaxUploadBytes: int64(cfg.Admin.MaxUploadBytes) + 1<<20,
			AllowedOrigins: cfg.Admin.AllowedOrigins, Log: log})
		if err != nil {
			fmt.Fprintf(stderr, "portcullis: %v\n", err)
			return 1
		}
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			fmt.Fprintf(stderr, "portcullis: admin listen: %v\n", err)
			return 1
		}
		asrv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
		go asrv.Serve(aln)
		defer asrv.Close()
		log.Info("admin API listening", "url", "http://"+aln.Addr().String())
	}
	log.Info("portcullis listening", "addr", ln.Addr().String(), "endpoint", "http://"+ln.Addr().String()+"/mcp", "servers", len(cfg.Servers), "data", cfg.DataDir)
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ln) }()
	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down", "deadline", cfg.ShutdownTimeout.D())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.D())
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown", "err", err)
	}
	log.Info("stopped")
	return 0
}
