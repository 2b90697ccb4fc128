package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/bench/internal/benchtest"
	"github.com/portcullis-mcp/portcullis/bench/internal/sdkecho"
	"github.com/portcullis-mcp/portcullis/bench/report"
)

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestMain_FlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no url", []string{"--tool", "echo"}, "--url is required"},
		{"unknown flag", []string{"--url", "http://x/mcp", "--bogus"}, "flag provided but not defined"},
		{"bad url", []string{"--url", "ftp://x/mcp"}, "invalid endpoint url"},
		{"bad duration", []string{"--url", "http://x/mcp", "--duration", "soon"}, "invalid value"},
		{"zero concurrency", []string{"--url", "http://x/mcp", "--concurrency", "0"}, "--concurrency"},
		{"negative rate", []string{"--url", "http://x/mcp", "--rate", "-1"}, "--rate"},
		{"args not object", []string{"--url", "http://x/mcp", "--tool", "t", "--args", "[1]"}, "--args must be a JSON object"},
		{"bad mix", []string{"--url", "http://x/mcp", "--mix", "tools/list"}, "method=weight"},
		{"mix weight", []string{"--url", "http://x/mcp", "--mix", "tools/list=0"}, "method=weight"},
		{"mix needs tool", []string{"--url", "http://x/mcp", "--mix", "tools/call=1"}, "give --tool"},
		{"mix needs uri", []string{"--url", "http://x/mcp", "--mix", "resources/read=1"}, "give --uri"},
		{"bad header", []string{"--url", "http://x/mcp", "--header", "nocolon"}, "Name: value"},
		{"bad transport", []string{"--url", "http://x/mcp", "--transport", "ws"}, "streamable or sse"},
		{"plot extension", []string{"--url", "http://x/mcp", "--plot", "out.png"}, ".svg or .html"},
		{"compare flags alone", []string{"--url", "http://x/mcp", "--compare-tool", "x"}, "need --compare"},
		{"stray argument", []string{"--url", "http://x/mcp", "extra"}, "unexpected argument"},
		{"stateless sse", []string{"--url", "http://x/sse", "--transport", "sse", "--protocol-version", "2026-07-28"}, "no legacy sse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q, want it to mention %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

// TestMain_HelpDocumentsEveryFlag keeps --help and the flags in step.
func TestMain_HelpDocumentsEveryFlag(t *testing.T) {
	code, stdout, _ := runMain(t, "--help")
	if code != 0 || !strings.HasPrefix(stdout, "Usage: portcullis bench") {
		t.Fatalf("--help: exit %d, output %q", code, stdout)
	}
	var o options
	o.flagSet().VisitAll(func(f *flag.Flag) {
		if !regexp.MustCompile(`(?m)^  --` + regexp.QuoteMeta(f.Name) + `\b`).MatchString(usageText) {
			t.Errorf("--help does not document --%s", f.Name)
		}
	})
	if code, stdout, _ := runMain(t, "echo", "--help"); code != 0 || !strings.Contains(stdout, "--listen") {
		t.Errorf("echo --help: exit %d, output %q", code, stdout)
	}
}

func TestMain_RunWritesReports(t *testing.T) {
	dir := t.TempDir()
	jsonFile, svgFile, htmlFile := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg"), filepath.Join(dir, "r.html")
	code, stdout, stderr := runMain(t, "--url", benchtest.Echo(t), "--tool", "echo", "--args", `{"message":"hi"}`,
		"--mix", "tools/call=3,tools/list=1", "--duration", "400ms", "--warmup", "100ms", "--concurrency", "4",
		"--json", jsonFile, "--plot", svgFile)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"closed loop, 4 workers", "throughput", "latency p99.9", "tools/call", "load generator CPU"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	var doc report.Document
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	tg := doc.Targets[0]
	if tg.OK == 0 || tg.Errors != 0 || tg.LatencyMS.P50 <= 0 || len(tg.Timeline) == 0 || len(tg.Histogram) == 0 || len(tg.Methods) != 2 {
		t.Errorf("json document: %+v", tg)
	}
	if doc.Client.CPUPerRequestUS <= 0 {
		t.Errorf("cpu per request %v", doc.Client.CPUPerRequestUS)
	}
	svg, _ := os.ReadFile(svgFile)
	if !bytes.HasPrefix(svg, []byte("<svg")) || bytes.Count(svg, []byte("<polyline")) < 5 {
		t.Errorf("plot is not an svg with lines: %.200s", svg)
	}

	// Open loop, with an HTML plot.
	code, stdout, stderr = runMain(t, "--url", benchtest.Echo(t), "--tool", "echo", "--rate", "500", "--duration", "300ms",
		"--warmup", "0s", "--plot", htmlFile)
	if code != 0 || !strings.Contains(stdout, "open loop at 500 req/s") || !strings.Contains(stdout, "service p99") {
		t.Errorf("open loop: exit %d\n%s%s", code, stdout, stderr)
	}
	page, _ := os.ReadFile(htmlFile)
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) || !bytes.Contains(page, []byte("<svg")) {
		t.Errorf("html plot: %.200s", page)
	}
}

func TestMain_Compare(t *testing.T) {
	sdk := httptest.NewServer(sdkecho.Streamable(false, false))
	defer sdk.Close()
	file := filepath.Join(t.TempDir(), "c.json")
	code, stdout, stderr := runMain(t, "--url", benchtest.Echo(t), "--label", "echo", "--tool", "echo",
		"--compare", sdk.URL, "--compare-label", "go-sdk", "--duration", "600ms", "--slice", "100ms",
		"--warmup", "0s", "--concurrency", "4", "--json", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`throughput\s+[\d,]+/s\s+[\d,]+/s\s+\d+\.\d\dx`).MatchString(stdout) {
		t.Errorf("summary lacks a throughput ratio:\n%s", stdout)
	}
	var doc report.Document
	data, _ := os.ReadFile(file)
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Targets) != 2 || doc.Ratio == nil || doc.Ratio.Throughput <= 0 || doc.Ratio.P50 <= 0 {
		t.Fatalf("compare document: %d targets, ratio %+v", len(doc.Targets), doc.Ratio)
	}
	for _, tg := range doc.Targets {
		if tg.OK == 0 || tg.Errors != 0 {
			t.Errorf("%s: %d ok, %d errors %v", tg.Label, tg.OK, tg.Errors, tg.ErrorSamples)
		}
	}
}

func TestMain_UnreachableEndpoint(t *testing.T) {
	url := benchtest.Refused(t)
	start := time.Now()
	code, stdout, stderr := runMain(t, "--url", url, "--duration", "200ms", "--warmup", "0s", "--concurrency", "2")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v", took)
	}
	if code != 1 || !strings.Contains(stdout, "connect_refused") || !strings.Contains(stderr, "no request succeeded") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestMain_EchoSubcommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	announce, stdout := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- Main(ctx, []string{"echo", "--listen", "127.0.0.1:0"}, stdout, &stderr) }()
	line, err := bufio.NewReader(announce).ReadString('\n')
	url := regexp.MustCompile(`http://\S+/mcp`).FindString(line)
	if err != nil || url == "" {
		t.Fatalf("no address announced: %q, %v", line, err)
	}
	code, out, errOut := runMain(t, "--url", url, "--requests", "50", "--warmup", "0s", "--concurrency", "2")
	if code != 0 || !regexp.MustCompile(`requests\s+50\s`).MatchString(out) {
		t.Errorf("bench against the echo subcommand: exit %d\n%s%s", code, out, errOut)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("echo exit %d: %s", code, stderr.String())
	}
	if code, _, _ := runMain(t, "echo", "--listen", "not-an-address"); code != 1 {
		t.Errorf("echo with a bad address: exit %d, want 1", code)
	}
}
