package bench

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-mcp/portcullis/bench/mcpclient"
)

const usageText = `Usage: portcullis bench --url URL [flags]
       portcullis bench echo [--listen ADDR]

Puts an MCP workload on a Streamable HTTP (or legacy HTTP+SSE) endpoint and
reports throughput, errors by kind and latency percentiles. 'echo' serves a
fast built-in MCP server to measure against.

Examples:
  portcullis bench --url http://127.0.0.1:8080/mcp --tool everything__echo \
      --args '{"message":"hi"}' --duration 30s --concurrency 32
  portcullis bench --url http://127.0.0.1:9000/mcp --tool echo --rate 5000
  portcullis bench --url http://127.0.0.1:9000/mcp --tool echo \
      --compare http://127.0.0.1:8080/mcp --compare-tool echo-server__echo --plot out.html

Target:
  --url URL               MCP endpoint (required); for --transport sse, the GET stream URL
  --transport T           streamable (default) or sse (the 2024-11-05 HTTP+SSE transport)
  --protocol-version V    version to ask for (default 2025-11-25, or 2024-11-05 with sse);
                          2026-07-28 or later goes stateless: no initialize, _meta on every request
  --header 'Name: value'  extra HTTP header, repeatable (e.g. 'Authorization: Bearer x')
  --sessions N            sessions to spread the load over (default: one per worker)
  --timeout D             per-request timeout (default 10s)
  --insecure              skip TLS certificate verification

Workload:
  --tool NAME             tool for tools/call
  --args JSON             arguments object for tools/call (default {})
  --prompt NAME           prompt for prompts/get
  --prompt-args JSON      arguments object for prompts/get (default {})
  --uri URI               resource for resources/read
  --mix LIST              weighted methods, e.g. 'tools/call=8,tools/list=1,resources/read=1';
                          any other method (ping, prompts/list...) is sent with empty params
                          (default tools/call=1 with --tool, else tools/list=1)

Load model:
  --concurrency N         closed loop: workers; open loop: most requests in flight (default 32)
  --rate R                open loop at R requests/s; latency counts from the intended send time
                          (default 0: closed loop)
  --duration D            measured time (default 10s, or none when only --requests is given)
  --requests N            stop after N measured requests
  --warmup D              unmeasured load before the clock starts (default 1s)

Compare (the same workload on two endpoints, alternating A B A B ...):
  --compare URL           second endpoint (B)
  --compare-tool NAME     tool name at B (default --tool), e.g. a gateway's namespaced name
  --compare-prompt NAME   prompt name at B (default --prompt)
  --compare-header H      header for B only, repeatable (B also gets every --header)
  --compare-transport T   transport of B (default --transport)
  --label NAME            name of the first endpoint in reports (default A)
  --compare-label NAME    name of the second endpoint (default B)
  --slice D               length of each turn (default 1s)

Output:
  --json FILE             write the full results as JSON
  --plot FILE             write a plot: FILE.svg, or FILE.html with the summary
  --interval D            timeline resolution (default: duration/60 within 100ms..10s; --slice when comparing)

Exit status: 0 when the run completed with at least one successful request,
1 when nothing succeeded or an output file could not be written, 2 for bad flags.
`

// options is the parsed command line.
type options struct {
	url, transport, version string
	headers                 []mcpclient.Header
	sessions                int
	timeout                 time.Duration
	insecure                bool

	tool, prompt, uri    string
	argsText             string
	promptArgsText       string
	args, promptArgs     json.RawMessage
	mix                  []mixEntry
	mixText              string
	concurrency          int
	rate                 float64
	duration, warmup     time.Duration
	requests             int64
	compare              string
	compareTool          string
	comparePrompt        string
	compareHeaders       []mcpclient.Header
	compareTransport     string
	label, compareLabel  string
	slice, interval      time.Duration
	jsonFile, plotFile   string
	plotHTML             bool
	rawArgs              []string
	durationSet, compSet bool
}

type mixEntry struct {
	method string
	weight int
}

// headerList is a repeatable 'Name: value' flag.
type headerList struct{ list *[]mcpclient.Header }

func (h headerList) String() string { return "" }

func (h headerList) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("want 'Name: value', got %q", s)
	}
	*h.list = append(*h.list, mcpclient.Header{Name: name, Value: strings.TrimSpace(value)})
	return nil
}

// parseFlags reads args; errors are meant for the user, followed by a hint
// to --help.
func parseFlags(args []string, output io.Writer) (*options, error) {
	o := &options{rawArgs: args}
	fs := o.flagSet()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(output, usageText)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "duration":
			o.durationSet = true
		case "compare-transport", "compare-tool", "compare-prompt", "compare-header", "compare-label", "slice":
			o.compSet = true
		}
	})
	o.args, o.promptArgs = json.RawMessage(o.argsText), json.RawMessage(o.promptArgsText)
	return o, o.validate()
}

// flagSet binds every flag to o. Their documentation is usageText.
func (o *options) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("portcullis bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Main prints errors; parseFlags prints help
	fs.Usage = func() {}
	fs.StringVar(&o.url, "url", "", "")
	fs.StringVar(&o.transport, "transport", string(mcpclient.Streamable), "")
	fs.StringVar(&o.version, "protocol-version", "", "")
	fs.Var(headerList{&o.headers}, "header", "")
	fs.IntVar(&o.sessions, "sessions", 0, "")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "")
	fs.BoolVar(&o.insecure, "insecure", false, "")
	fs.StringVar(&o.tool, "tool", "", "")
	fs.StringVar(&o.argsText, "args", "{}", "")
	fs.StringVar(&o.prompt, "prompt", "", "")
	fs.StringVar(&o.promptArgsText, "prompt-args", "{}", "")
	fs.StringVar(&o.uri, "uri", "", "")
	fs.StringVar(&o.mixText, "mix", "", "")
	fs.IntVar(&o.concurrency, "concurrency", 32, "")
	fs.Float64Var(&o.rate, "rate", 0, "")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "")
	fs.Int64Var(&o.requests, "requests", 0, "")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "")
	fs.StringVar(&o.compare, "compare", "", "")
	fs.StringVar(&o.compareTool, "compare-tool", "", "")
	fs.StringVar(&o.comparePrompt, "compare-prompt", "", "")
	fs.Var(headerList{&o.compareHeaders}, "compare-header", "")
	fs.StringVar(&o.compareTransport, "compare-transport", "", "")
	fs.StringVar(&o.label, "label", "A", "")
	fs.StringVar(&o.compareLabel, "compare-label", "B", "")
	fs.DurationVar(&o.slice, "slice", time.Second, "")
	fs.StringVar(&o.jsonFile, "json", "", "")
	fs.StringVar(&o.plotFile, "plot", "", "")
	fs.DurationVar(&o.interval, "interval", 0, "")
	return fs
}

func (o *options) validate() error {
	if o.url == "" {
		return errors.New("--url is required")
	}
	for _, u := range []string{o.url, o.compare} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("invalid endpoint url %q: want http:// or https://", u)
		}
	}
	if o.compSet && o.compare == "" {
		return errors.New("--compare-* and --slice need --compare URL")
	}
	for _, t := range []string{o.transport, o.compareTransport} {
		if t != "" && t != string(mcpclient.Streamable) && t != string(mcpclient.LegacySSE) {
			return fmt.Errorf("--transport %q: want streamable or sse", t)
		}
	}
	if o.compareTransport == "" {
		o.compareTransport = o.transport
	}
	if o.compareTool == "" {
		o.compareTool = o.tool
	}
	if o.comparePrompt == "" {
		o.comparePrompt = o.prompt
	}
	if o.requests > 0 && !o.durationSet {
		o.duration = 0
	}
	switch {
	case o.concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	case o.rate < 0:
		return errors.New("--rate must not be negative")
	case o.duration < 0 || o.warmup < 0 || o.timeout <= 0 || o.slice <= 0 || o.interval < 0:
		return errors.New("--duration, --warmup and --interval must not be negative; --timeout and --slice must be positive")
	case o.duration == 0 && o.requests <= 0:
		return errors.New("need --duration or --requests")
	case o.requests < 0:
		return errors.New("--requests must not be negative")
	case o.sessions < 0:
		return errors.New("--sessions must not be negative")
	}
	if o.sessions == 0 {
		o.sessions = o.concurrency
	}
	for name, raw := range map[string]json.RawMessage{"--args": o.args, "--prompt-args": o.promptArgs} {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return fmt.Errorf("%s must be a JSON object, got %s", name, raw)
		}
	}
	if err := o.parseMix(); err != nil {
		return err
	}
	if o.plotFile != "" {
		switch strings.ToLower(filepath.Ext(o.plotFile)) {
		case ".svg":
		case ".html", ".htm":
			o.plotHTML = true
		default:
			return fmt.Errorf("--plot %q: want a .svg or .html file", o.plotFile)
		}
	}
	if o.interval == 0 {
		o.interval = defaultInterval(o)
	}
	return nil
}

func defaultInterval(o *options) time.Duration {
	switch {
	case o.compare != "":
		return o.slice
	case o.duration == 0:
		return time.Second
	default:
		return min(max((o.duration/60).Round(100*time.Millisecond), 100*time.Millisecond), 10*time.Second)
	}
}

// parseMix reads --mix, or picks the default, and checks that each method
// has what it needs.
func (o *options) parseMix() error {
	text := o.mixText
	if text == "" {
		text = "tools/list=1"
		if o.tool != "" {
			text = "tools/call=1"
		}
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(text, ",") {
		method, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.Atoi(weight)
		if !ok || method == "" || err != nil || w < 1 || w > 1000 {
			return fmt.Errorf("--mix entry %q: want method=weight with a weight in 1..1000", part)
		}
		if seen[method] {
			return fmt.Errorf("--mix names %s twice", method)
		}
		seen[method] = true
		switch {
		case method == "tools/call" && o.tool == "":
			return errors.New("--mix has tools/call: give --tool")
		case method == "prompts/get" && o.prompt == "":
			return errors.New("--mix has prompts/get: give --prompt")
		case method == "resources/read" && o.uri == "":
			return errors.New("--mix has resources/read: give --uri")
		}
		o.mix = append(o.mix, mixEntry{method, w})
	}
	o.mixText = text
	return nil
}
