package plugin

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin/internal/glob"
)

// Direction limits a binding to the frames going one way. The zero value
// binds both ways.
type Direction uint8

const (
	DirectionBoth     Direction = iota // requests and responses
	DirectionRequest                   // client -> server: request guard, route
	DirectionResponse                  // server -> client: response guard, tool filter
)

// Mode says whether a binding's verdicts take effect. The zero value
// enforces.
type Mode uint8

const (
	ModeEnforce Mode = iota // verdicts take effect
	ModeMonitor             // verdicts are recorded in Outcomes only
)

// FailurePolicy says what a failed plugin call means. The zero value fails
// closed.
type FailurePolicy uint8

const (
	FailClosed FailurePolicy = iota // block the frame
	FailOpen                        // let the frame pass as if allowed
)

var (
	directionNames = map[string]Direction{"both": DirectionBoth, "request": DirectionRequest, "response": DirectionResponse}
	modeNames      = map[string]Mode{"enforce": ModeEnforce, "monitor": ModeMonitor}
	policyNames    = map[string]FailurePolicy{"fail-closed": FailClosed, "fail-open": FailOpen}
)

// ParseDirection parses "both", "request" or "response"; "" is "both".
func ParseDirection(s string) (Direction, error) { return parseName(directionNames, s, "direction") }

// ParseMode parses "enforce" or "monitor"; "" is "enforce".
func ParseMode(s string) (Mode, error) { return parseName(modeNames, s, "mode") }

// ParseFailurePolicy parses "fail-closed" or "fail-open"; "" is
// "fail-closed".
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	return parseName(policyNames, s, "failure policy")
}

func parseName[T ~uint8](names map[string]T, s, what string) (T, error) {
	if s == "" {
		return 0, nil
	}
	v, ok := names[s]
	if !ok {
		return 0, fmt.Errorf("unknown %s %q", what, s)
	}
	return v, nil
}

// Binding attaches a plugin version, with its config, to part of the
// traffic. Bindings are values; NewChain copies and validates them.
type Binding struct {
	// Name identifies the binding in outcomes and errors; unique in a chain.
	Name   string
	Plugin *Plugin
	// Config is the binding's JSON config, handed to every hook call. Empty
	// means no config.
	Config []byte
	// Servers and Tools are glob patterns ('*' and '?'); empty matches
	// everything. A call without a tool (initialize, tools/list...) matches
	// only bindings without Tools, except for the tool-list filter, which
	// ignores Tools because it sees every tool of a server.
	Servers []string
	Tools   []string
	// Direction, Mode and OnFailure default to both, enforce, fail-closed.
	Direction Direction
	Mode      Mode
	OnFailure FailurePolicy
	// Order sorts the bindings of a chain, lowest first; equal orders keep
	// their position in the slice given to NewChain.
	Order int
	// Timeout overrides the plugin's per-call deadline when positive.
	Timeout time.Duration
}

// validate checks one binding on its own.
func (b *Binding) validate() error {
	if b.Name == "" {
		return fmt.Errorf("binding needs a name")
	}
	if b.Plugin == nil {
		return fmt.Errorf("binding %s: no plugin", b.Name)
	}
	if len(b.Config) > 0 && !json.Valid(b.Config) {
		return fmt.Errorf("binding %s: config is not valid JSON", b.Name)
	}
	for _, list := range [][]string{b.Servers, b.Tools} {
		for _, p := range list {
			if err := glob.Validate(p); err != nil {
				return fmt.Errorf("binding %s: pattern %q: %w", b.Name, p, err)
			}
		}
	}
	if b.Direction > DirectionResponse || b.Mode > ModeMonitor || b.OnFailure > FailOpen {
		return fmt.Errorf("binding %s: invalid direction, mode or failure policy", b.Name)
	}
	if b.Timeout < 0 {
		return fmt.Errorf("binding %s: negative timeout", b.Name)
	}
	return nil
}

// runs reports whether the binding takes part in hook h at all.
func (b *Binding) runs(h abi.Hook) bool {
	if !b.Plugin.Implements(h) {
		return false
	}
	switch h.Direction() {
	case abi.DirectionRequest:
		return b.Direction != DirectionResponse
	case abi.DirectionResponse:
		return b.Direction != DirectionRequest
	}
	return true
}

// matches reports whether the binding covers a call to server and tool.
func (b *Binding) matches(h abi.Hook, server, tool string) bool {
	if !glob.MatchAny(b.Servers, server) {
		return false
	}
	if len(b.Tools) == 0 || h == abi.HookToolFilter {
		return true
	}
	return tool != "" && glob.MatchAny(b.Tools, tool)
}
