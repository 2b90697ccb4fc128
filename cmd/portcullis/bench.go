package main

import (
	"context"
	"fmt"
	"io"
)

// benchMain is replaced by the load tool once bench/ lands.
func benchMain(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis bench: not built into this binary yet")
	return 2
}
