package plugin

import "errors"

// Errors a hook call can return, always wrapped with the plugin ID and hook
// (test with errors.Is). Every one of them is a plugin failure: the caller
// applies the binding's failure policy (Chain does this).
var (
	// ErrTimeout: the guest ran past its deadline and was stopped; its
	// instance was replaced.
	ErrTimeout = errors.New("deadline exceeded")
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access, memory
	// limit, Go panic...); its instance was replaced.
	ErrTrap = errors.New("guest trapped")
	// ErrGuestFailed: the hook returned 0, the ABI's "no verdict".
	ErrGuestFailed = errors.New("guest returned no verdict")
	// ErrMalformedVerdict: the verdict breaks the layout of ABI.md, points
	// outside guest memory, or uses an action the hook does not allow.
	ErrMalformedVerdict = errors.New("malformed verdict")
	// ErrInvalidRewrite: a rewritten frame is not a JSON-RPC 2.0 object or
	// changes the frame's id.
	ErrInvalidRewrite = errors.New("rewrite is not valid JSON-RPC")
	// ErrBreakerOpen: the plugin failed too often lately and is skipped
	// until its backoff ends.
	ErrBreakerOpen = errors.New("circuit breaker open")
	// ErrBusy: every instance stayed busy until the deadline.
	ErrBusy = errors.New("no instance free before the deadline")
	// ErrClosed: the plugin was closed.
	ErrClosed = errors.New("plugin closed")
	// ErrHookNotDeclared: the plugin's spec does not list the hook.
	ErrHookNotDeclared = errors.New("hook not declared by the plugin")
)

// ErrRefused wraps every reason Engine.Load refuses a module.
var ErrRefused = errors.New("plugin refused")

// replaces reports whether err means the instance must be thrown away.
func replaces(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrTrap)
}
