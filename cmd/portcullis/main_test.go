package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestServe_DefaultConfigAndSIGTERM runs the real binary as the README's quick start does: no
// config file, the demo upstream, data in a local folder; then stops it with SIGTERM.
func TestServe_DefaultConfigAndSIGTERM(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "portcullis")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "--listen", addr)
	cmd.Dir = dir // the default data folder is relative: ./portcullis-data
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not listen on %s:\n%s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "quickstart", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if !slices.Contains(names, "demo__echo") || !slices.Contains(names, "demo__count_slowly") {
		t.Fatalf("demo tools missing: %v", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "demo__add", Arguments: map[string]any{"a": 2, "b": 40}})
	if err != nil || res.IsError {
		t.Fatalf("demo__add: %v %+v", err, res)
	}
	cs.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("gateway did not exit after SIGTERM:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "portcullis-data", "MANIFEST")); err != nil {
		t.Fatalf("no database in ./portcullis-data: %v", err)
	}
}

func TestRun_Usage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errOut); code != 2 || !bytes.Contains(errOut.Bytes(), []byte(`unknown command "frobnicate"`)) {
		t.Fatalf("unknown command: code %d, %q", code, errOut.String())
	}
	if code := run(context.Background(), []string{"serve", "--config", "/nonexistent.yaml"}, &out, &errOut); code != 1 || !bytes.Contains(errOut.Bytes(), []byte("nonexistent.yaml")) {
		t.Fatalf("missing config: code %d, %q", code, errOut.String())
	}
}
