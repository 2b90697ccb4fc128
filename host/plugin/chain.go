package plugin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
)

// Chain runs the bindings of a pipeline snapshot. It is immutable after
// NewChain and safe for concurrent use; each call brings its own Result.
type Chain struct {
	bindings []Binding
	byHook   [abi.HookAudit + 1][]*Binding // in order, per hook
}

// NewChain validates the bindings (unique non-empty names, a plugin each,
// valid JSON config and patterns) and orders them by Order. It keeps a
// copy: later changes to the slice do not affect the chain.
func NewChain(bindings []Binding) (*Chain, error) {
	c := &Chain{bindings: slices.Clone(bindings)}
	seen := make(map[string]bool, len(bindings))
	for i := range c.bindings {
		b := &c.bindings[i]
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("plugin chain: %w", err)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("plugin chain: binding name %q used twice", b.Name)
		}
		seen[b.Name] = true
	}
	slices.SortStableFunc(c.bindings, func(a, b Binding) int { return a.Order - b.Order })
	for _, h := range abi.Hooks {
		for i := range c.bindings {
			if c.bindings[i].runs(h) {
				c.byHook[h] = append(c.byHook[h], &c.bindings[i])
			}
		}
	}
	return c, nil
}

// Bindings returns the chain's bindings in execution order. The caller
// must not modify them.
func (c *Chain) Bindings() []Binding { return c.bindings }

// Has reports whether any binding runs for hook h, so a caller can skip
// building a Call.
func (c *Chain) Has(h abi.Hook) bool { return h.Valid() && len(c.byHook[h]) > 0 }

// Call is what the gateway knows about one frame.
type Call struct {
	Server, Tool, Agent, Team string
	// Frame is the raw JSON-RPC frame; for the audit hook, the finished
	// audit record. Run does not modify or keep it.
	Frame []byte
	// Replicas are the route hook's choices.
	Replicas []abi.Replica
}

// Outcome records what one binding did with a call, for audit and traces.
type Outcome struct {
	Binding *Binding   // the binding; Binding.Plugin.ID() names the version
	Action  abi.Action // the verdict's action, when Err is nil
	Applied bool       // the verdict (or, on failure, the fail-closed block) took effect
	Err     error      // the plugin failure, nil if the call succeeded
	Elapsed time.Duration
}

// Result is the outcome of running a chain on one call. Reuse one per
// goroutine (pool it with the request) so that runs do not allocate. Run
// resets it; fields stay valid until the next Run.
type Result struct {
	// Frame is the frame to pass on: the call's, or a rewrite owned by the
	// Result.
	Frame     []byte
	Rewritten bool
	// Blocked means: answer with a JSON-RPC error of Code and Reason.
	Blocked bool
	Code    int32
	Reason  []byte
	// By indexes the Outcome that decided a block or a route, -1 if none.
	By int
	// Replica is the route hook's choice, -1 when no binding chose (use the
	// built-in strategy).
	Replica int
	// Outcomes lists every binding that saw the call, in order.
	Outcomes []Outcome

	in    abi.Input
	v     abi.Verdict
	bufs  [2][]byte
	spare int // index of the buffer not holding Frame
}

func (r *Result) reset(frame []byte) {
	r.Frame, r.Rewritten, r.Blocked, r.Code, r.Reason = frame, false, false, 0, nil
	r.By, r.Replica = -1, -1
	clear(r.Outcomes)
	r.Outcomes = r.Outcomes[:0]
}

// failureReason is the client-facing reason of a fail-closed failure; the
// details stay in Outcome.Err, away from the client.
var failureReason = []byte("blocked: a policy plugin failed")

// Run runs hook h for call: every matching binding in order, each seeing
// the frame as rewritten by the ones before it.
//
//   - Guards and the tool-list filter: an enforced block stops the chain;
//     an enforced rewrite replaces the frame for later bindings and the
//     caller. Monitor-mode verdicts are only recorded.
//   - Route: the first enforced route verdict picks Result.Replica; allow
//     means no preference; block blocks.
//   - Audit: every binding runs; results, failures included, are only
//     recorded (the record is already final).
//
// Otherwise a failed call (any error from Plugin.Call) blocks with
// abi.CodePluginFailed under fail-closed in enforce mode and is only
// recorded under fail-open or in monitor mode. Run allocates nothing when no binding matches and,
// with a reused Result, nothing on the success path. It is safe for
// concurrent use with distinct Results.
func (c *Chain) Run(ctx context.Context, h abi.Hook, call *Call, res *Result) {
	res.reset(call.Frame)
	if !h.Valid() {
		return
	}
	for _, b := range c.byHook[h] {
		if !b.matches(h, call.Server, call.Tool) {
			continue
		}
		res.in = abi.Input{
			Hook: h, Direction: h.Direction(),
			Server: call.Server, Tool: call.Tool, Agent: call.Agent, Team: call.Team,
			Config: b.Config, Frame: res.Frame, Replicas: call.Replicas,
		}
		res.v.Payload = res.bufs[res.spare][:0]
		start := time.Now()
		err := b.Plugin.Call(ctx, &res.in, b.Timeout, &res.v)
		res.bufs[res.spare] = res.v.Payload[:0]
		res.Outcomes = append(res.Outcomes, Outcome{Binding: b, Err: err, Elapsed: time.Since(start)})
		o := &res.Outcomes[len(res.Outcomes)-1]
		if err != nil {
			if h != abi.HookAudit && b.Mode == ModeEnforce && b.OnFailure == FailClosed {
				o.Applied = true
				res.block(len(res.Outcomes)-1, abi.CodePluginFailed, failureReason)
				return
			}
			continue
		}
		o.Action = res.v.Action
		if b.Mode == ModeMonitor {
			continue
		}
		switch res.v.Action {
		case abi.ActionBlock:
			o.Applied = true
			code := res.v.Code
			if code == 0 {
				code = abi.CodeBlocked
			}
			res.block(len(res.Outcomes)-1, code, res.v.Payload)
			return
		case abi.ActionRewrite:
			o.Applied = true
			res.Frame, res.Rewritten = res.v.Payload, true
			res.spare ^= 1
		case abi.ActionRoute:
			o.Applied = true
			res.Replica, res.By = int(res.v.Replica), len(res.Outcomes)-1
			return
		}
	}
}

func (r *Result) block(by int, code int32, reason []byte) {
	r.Blocked, r.By, r.Code, r.Reason = true, by, code, reason
}
