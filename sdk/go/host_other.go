//go:build !wasip1

package portcullis

import (
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
)

// Outside wasip1 there is no host: these stand-ins let guards be tested
// natively through Test.

var (
	logged  []string
	emitted []string
)

func hostLog(level Level, msg string) { logged = append(logged, level2s(level)+" "+msg) }

func hostEmit(name string, data []byte) { emitted = append(emitted, name+"="+string(data)) }

func level2s(l Level) string {
	return [...]string{"debug", "info", "warn", "error"}[min(uint32(l), 3)]
}

// Now returns time.Now; in a plugin it reads the gateway's clock.
func Now() time.Time { return time.Now() }

// Test runs the handler registered for in.Hook on in, as the gateway would,
// and returns the verdict message it produced (nil for "no verdict") and
// the lines the handler logged. It exists only outside wasip1, for unit
// tests of guards; decode the result with abi.DecodeVerdict.
func Test(in *abi.Input) (verdict []byte, logs []string) {
	logged = logged[:0]
	res := dispatch(in.Hook, abi.AppendInput(nil, in))
	return res, append([]string(nil), logged...)
}
