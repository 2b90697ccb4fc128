package main

import (
	"context"
	"io"

	"github.com/portcullis-mcp/portcullis/bench"
)

// benchMain runs the bundled MCP load tool.
func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return bench.Main(ctx, args, stdout, stderr)
}
