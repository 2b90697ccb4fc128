// Package bench is the `portcullis bench` command: an MCP-aware load
// generator (see the load, mcpclient and report packages) and, as
// `portcullis bench echo`, the fast echo upstream of package echo.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/portcullis-mcp/portcullis/bench/echo"
	"github.com/portcullis-mcp/portcullis/bench/load"
	"github.com/portcullis-mcp/portcullis/bench/mcpclient"
	"github.com/portcullis-mcp/portcullis/bench/report"
)

// Main runs `portcullis bench` with args (without the program and
// subcommand names) and returns the exit status: 0 after a run with at least
// one successful request, 1 when nothing succeeded or an output could not be
// written, 2 for invalid flags. Cancelling ctx ends the run early and still
// reports what was measured.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "echo" {
		return echoMain(ctx, args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "portcullis bench: %v\nUsage: portcullis bench --url URL [flags]\nRun 'portcullis bench --help' for every flag.\n", err)
		return 2
	}
	cfg, err := o.loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "portcullis bench: %v\n", err)
		return 2
	}
	if isTerminal(stderr) {
		p := &progressLine{w: stderr}
		cfg.Progress = p.update
		defer p.clear()
	}

	started := time.Now()
	res, err := load.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis bench: %v\n", err)
		return 2
	}
	run := report.Run{Started: started, Settings: o.settings(), Result: res}
	status := 0
	if err := report.WriteSummary(stdout, run); err != nil {
		fmt.Fprintf(stderr, "portcullis bench: %v\n", err)
		status = 1
	}
	if o.jsonFile != "" {
		status = max(status, writeFile(o.jsonFile, stderr, func(w io.Writer) error { return report.WriteJSON(w, run) }))
	}
	if o.plotFile != "" {
		status = max(status, writeFile(o.plotFile, stderr, func(w io.Writer) error { return report.WritePlot(w, run, o.plotHTML) }))
	}
	var ok uint64
	for _, t := range res.Targets {
		ok += t.OK
	}
	if ok == 0 {
		fmt.Fprintln(stderr, "portcullis bench: no request succeeded")
		status = 1
	}
	return status
}

// loadConfig turns the options into the load generator's configuration.
func (o *options) loadConfig() (load.Config, error) {
	a, err := o.target(o.label, o.url, o.transport, o.tool, o.prompt, o.headers)
	if err != nil {
		return load.Config{}, err
	}
	cfg := load.Config{
		Targets:     []load.Target{a},
		Concurrency: o.concurrency, Rate: o.rate, Duration: o.duration, Requests: o.requests,
		Warmup: o.warmup, Slice: o.slice, Timeout: o.timeout, Interval: o.interval,
	}
	if o.compare != "" {
		headers := append(append([]mcpclient.Header(nil), o.headers...), o.compareHeaders...)
		b, err := o.target(o.compareLabel, o.compare, o.compareTransport, o.compareTool, o.comparePrompt, headers)
		if err != nil {
			return load.Config{}, err
		}
		cfg.Targets = append(cfg.Targets, b)
	}
	return cfg, nil
}

func (o *options) target(label, url, transport, tool, prompt string, headers []mcpclient.Header) (load.Target, error) {
	e, err := mcpclient.NewEndpoint(mcpclient.Options{
		URL: url, Transport: mcpclient.Transport(transport), ProtocolVersion: o.version,
		Headers: headers, MaxConns: 2*o.concurrency + 8, Insecure: o.insecure,
	})
	if err != nil {
		return load.Target{}, err
	}
	t := load.Target{Label: label, Endpoint: e, Sessions: o.sessions}
	for _, m := range o.mix {
		name, args := "", o.args
		switch m.method {
		case "tools/call":
			name = tool
		case "prompts/get":
			name, args = prompt, o.promptArgs
		case "resources/read":
			name = o.uri
		}
		call, err := e.Compile(m.method, name, args)
		if err != nil {
			return load.Target{}, err
		}
		t.Mix = append(t.Mix, load.Weighted{Call: call, Weight: m.weight})
	}
	return t, nil
}

func (o *options) settings() report.Settings {
	s := report.Settings{
		Model: "closed", Concurrency: o.concurrency, Rate: o.rate, DurationS: o.duration.Seconds(), Requests: o.requests,
		WarmupS: o.warmup.Seconds(), TimeoutS: o.timeout.Seconds(), Sessions: o.sessions,
		Transport: o.transport, ProtocolVersion: o.version, Mix: o.mixText, Args: o.rawArgs,
	}
	if o.rate > 0 {
		s.Model = "open"
	}
	if o.compare != "" {
		s.SliceS = o.slice.Seconds()
		if o.compareTransport != o.transport {
			s.Transport += " / " + o.compareTransport
		}
	}
	if s.ProtocolVersion == "" {
		s.ProtocolVersion = mcpclient.DefaultVersion(mcpclient.Transport(o.transport))
	}
	return s
}

func writeFile(path string, stderr io.Writer, write func(io.Writer) error) int {
	f, err := os.Create(path)
	if err == nil {
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "portcullis bench: %v\n", err)
		return 1
	}
	return 0
}

// echoMain serves the echo upstream until ctx is cancelled.
func echoMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("portcullis bench echo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "127.0.0.1:9000", "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, echoUsage)
			return 0
		}
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		fmt.Fprintf(stderr, "portcullis bench echo: %v\n%s", err, echoUsage)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis bench echo: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "echo MCP server on http://%s/mcp (any path)\n", ln.Addr())
	if err := echo.ServeListener(ctx, ln); err != nil {
		fmt.Fprintf(stderr, "portcullis bench echo: %v\n", err)
		return 1
	}
	return 0
}

const echoUsage = `Usage: portcullis bench echo [--listen ADDR]

Serves a fast MCP server over Streamable HTTP on every path, with the tool,
prompt and resource 'echo' (tools/call returns its arguments as text), for
measuring a gateway without the cost of a real upstream.

  --listen ADDR   address to listen on (default 127.0.0.1:9000)
`

// isTerminal reports whether w is a character device, i.e. a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

const clearLine = "\r\033[K"

// progressLine redraws one status line on the terminal.
type progressLine struct {
	w         io.Writer
	last      uint64
	lastAt    time.Duration
	drawnOnce bool
}

func (p *progressLine) update(pr load.Progress) {
	var b strings.Builder
	b.WriteString(clearLine)
	rate := 0.0
	if dt := (pr.Elapsed - p.lastAt).Seconds(); dt > 0 && p.drawnOnce {
		rate = float64(pr.Requests-p.last) / dt
	}
	p.last, p.lastAt, p.drawnOnce = pr.Requests, pr.Elapsed, true
	switch {
	case pr.Elapsed < 0:
		fmt.Fprintf(&b, "warm-up, %.1fs left", -pr.Elapsed.Seconds())
	case pr.Duration > 0:
		const width = 20
		done := min(int(width*pr.Elapsed/pr.Duration), width)
		fmt.Fprintf(&b, "[%s%s] %.1fs/%gs", strings.Repeat("#", done), strings.Repeat(".", width-done),
			pr.Elapsed.Seconds(), pr.Duration.Seconds())
	default:
		fmt.Fprintf(&b, "%.1fs", pr.Elapsed.Seconds())
	}
	fmt.Fprintf(&b, "  %.0f req/s  %d done  %d errors  %d in flight", rate, pr.Requests, pr.Errors, pr.InFlight)
	if pr.Target != "" {
		b.WriteString("  now: " + pr.Target)
	}
	_, _ = io.WriteString(p.w, b.String())
}

func (p *progressLine) clear() { _, _ = io.WriteString(p.w, clearLine) }
