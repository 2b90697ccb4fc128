package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/dgraph-io/badger/v4"

	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/guard"
	"github.com/portcullis-mcp/portcullis/host/plugin"
)

// Binding attaches a stored plugin version, with its config, to some of the traffic. Its fields
// mean what the config file's bindings mean (README, Plugins).
type Binding struct {
	Name      string          `json:"name"`
	Plugin    string          `json:"plugin"`            // plugin name
	Version   string          `json:"version,omitempty"` // the bound version; on a change, empty keeps the current one (or, new, takes the latest)
	Config    json.RawMessage `json:"config,omitempty"`  // validated against the plugin's schema
	Servers   []string        `json:"servers,omitempty"`
	Tools     []string        `json:"tools,omitempty"`
	Direction string          `json:"direction,omitempty"`  // both (default), request, response
	Mode      string          `json:"mode,omitempty"`       // enforce (default), monitor
	OnFailure string          `json:"on_failure,omitempty"` // fail-closed (default), fail-open
	Order     int             `json:"order"`
	// Previous are the versions bound before, oldest first: Rollback returns to the last one.
	Previous []string `json:"previous,omitempty"`
}

// ID is the bound plugin version, name@version.
func (b *Binding) ID() string { return b.Plugin + "@" + b.Version }

// State is the registry's set of bindings. Revision grows with each change; it is the ETag of the
// admin API, so that concurrent edits do not overwrite each other.
type State struct {
	Revision uint64    `json:"revision"`
	Bindings []Binding `json:"bindings"`
}

// ETag is the revision as an HTTP entity tag.
func (s *State) ETag() string { return `"` + strconv.FormatUint(s.Revision, 10) + `"` }

func (s *State) boundBy(name, version string) []string {
	var out []string
	for _, b := range s.Bindings {
		if b.Plugin == name && b.Version == version {
			out = append(out, b.Name)
		}
	}
	return out
}

func (s *State) index(name string) int {
	return slices.IndexFunc(s.Bindings, func(b Binding) bool { return b.Name == name })
}

// State returns the stored bindings.
func (r *Registry) State() (State, error) {
	var s State
	err := r.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(keyBindings))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return json.Unmarshal(b, &s) })
	})
	if err != nil {
		return s, &Error{Code: CodeStorage, Message: fmt.Sprintf("reading bindings: %v", err), Err: err}
	}
	return s, nil
}

// Pipeline builds what runs from a set of bindings. The registry calls Prepare with every binding
// it holds, resolved; Prepare builds, validates and warms the new pipeline without touching the
// running one. Then the registry stores the change and calls Commit (swap it in) or, if storing
// failed, Abort (throw it away).
type Pipeline interface {
	Prepare(ctx context.Context, active []Active) (Change, error)
}

// Change is a prepared pipeline, not yet running.
type Change interface {
	Commit()
	Abort()
}

// Active is a binding resolved to its plugin version.
type Active struct {
	Binding Binding
	Source  guard.Source
}

// Config returns the binding in the config file's form, naming its plugin as name@version.
func (a *Active) Config() config.Binding {
	var cfg any
	if len(a.Binding.Config) > 0 {
		json.Unmarshal(a.Binding.Config, &cfg) // validated before
	}
	b := a.Binding
	return config.Binding{Name: b.Name, Plugin: b.ID(), Config: cfg, Servers: b.Servers, Tools: b.Tools,
		Direction: b.Direction, Mode: b.Mode, OnFailure: b.OnFailure, Order: b.Order}
}

// SetPipeline makes p the pipeline that binding changes are applied to.
func (r *Registry) SetPipeline(p Pipeline) {
	r.mu.Lock()
	r.pipeline = p
	r.mu.Unlock()
}

// Activate builds the pipeline of the stored bindings and swaps it in: at start, so that a
// restarted gateway runs what it ran before, and after the config file changed.
func (r *Registry) Activate(ctx context.Context, remote string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	state, err := r.State()
	if err == nil {
		var ch Change
		if ch, err = r.prepare(ctx, &state); err == nil {
			ch.Commit()
		}
	}
	r.record(Event{Action: "pipeline.activate", Remote: remote}, err)
	return err
}

var bindingName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// PutBinding creates or changes a binding and applies the result. ifMatch, when not empty, must
// be the current State's ETag (else CodeConflict). It returns the new state.
func (r *Registry) PutBinding(ctx context.Context, b Binding, ifMatch, remote string) (State, error) {
	return r.change(ctx, Event{Action: "binding.put", Binding: b.Name, Remote: remote}, ifMatch, func(s *State) error {
		if !bindingName.MatchString(b.Name) {
			return errorf(CodeInvalid, "binding name %q: want 1-64 of A-Z a-z 0-9 . _ -", b.Name)
		}
		i := s.index(b.Name)
		if b.Version == "" && i >= 0 && s.Bindings[i].Plugin == b.Plugin {
			b.Version = s.Bindings[i].Version
		}
		v, err := r.Get(b.Plugin, b.Version)
		if err != nil {
			return err
		}
		b.Version = v.Version
		b.Previous = nil
		if i >= 0 {
			old := s.Bindings[i]
			if old.Plugin == b.Plugin {
				b.Previous = old.Previous
				if old.Version != b.Version {
					b.Previous = append(slices.Clone(old.Previous), old.Version)
				}
			}
			s.Bindings[i] = b
		} else {
			s.Bindings = append(s.Bindings, b)
		}
		return nil
	})
}

// DeleteBinding removes a binding and applies the result.
func (r *Registry) DeleteBinding(ctx context.Context, name, ifMatch, remote string) (State, error) {
	return r.change(ctx, Event{Action: "binding.delete", Binding: name, Remote: remote}, ifMatch, func(s *State) error {
		i := s.index(name)
		if i < 0 {
			return errorf(CodeNotFound, "no binding %s", name)
		}
		s.Bindings = slices.Delete(s.Bindings, i, i+1)
		return nil
	})
}

// Reorder sets the bindings' order: names lists every binding, first to run first (orders
// become 10, 20, 30...).
func (r *Registry) Reorder(ctx context.Context, names []string, ifMatch, remote string) (State, error) {
	return r.change(ctx, Event{Action: "binding.reorder", Remote: remote}, ifMatch, func(s *State) error {
		if len(names) != len(s.Bindings) {
			return errorf(CodeInvalid, "reorder lists %d bindings; there are %d", len(names), len(s.Bindings))
		}
		out := make([]Binding, 0, len(names))
		for n, name := range names {
			i := s.index(name)
			if i < 0 || slices.Contains(names[:n], name) {
				return errorf(CodeInvalid, "reorder: %q is not a binding, or is listed twice", name)
			}
			b := s.Bindings[i]
			b.Order = 10 * (n + 1)
			out = append(out, b)
		}
		s.Bindings = out
		return nil
	})
}

// Rollback binds the version the binding had before its current one, and applies the result.
func (r *Registry) Rollback(ctx context.Context, name, ifMatch, remote string) (State, error) {
	return r.change(ctx, Event{Action: "binding.rollback", Binding: name, Remote: remote}, ifMatch, func(s *State) error {
		i := s.index(name)
		if i < 0 {
			return errorf(CodeNotFound, "no binding %s", name)
		}
		b := &s.Bindings[i]
		if len(b.Previous) == 0 {
			return errorf(CodeInvalid, "binding %s has no earlier version to roll back to", name)
		}
		b.Version = b.Previous[len(b.Previous)-1]
		b.Previous = slices.Clone(b.Previous[:len(b.Previous)-1])
		return nil
	})
}

// change applies edit to a copy of the state, prepares the pipeline of the result, stores it
// and swaps the pipeline in; any failure leaves the running pipeline and the stored state as they
// were. Each change is recorded.
func (r *Registry) change(ctx context.Context, ev Event, ifMatch string, edit func(*State) error) (State, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.changeLocked(ctx, ifMatch, edit)
	r.record(ev, err)
	return s, err
}

func (r *Registry) changeLocked(ctx context.Context, ifMatch string, edit func(*State) error) (State, error) {
	cur, err := r.State()
	if err != nil {
		return cur, err
	}
	if ifMatch != "" && ifMatch != "*" && ifMatch != cur.ETag() {
		return cur, errorf(CodeConflict, "the bindings changed (now revision %s, you sent %s): read them again and retry", cur.ETag(), ifMatch)
	}
	next := State{Revision: cur.Revision + 1, Bindings: slices.Clone(cur.Bindings)}
	if err := edit(&next); err != nil {
		return cur, err
	}
	ch, err := r.prepare(ctx, &next)
	if err != nil {
		return cur, err
	}
	b, _ := json.Marshal(next)
	if err := r.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(keyBindings), b) }); err != nil {
		ch.Abort()
		return cur, &Error{Code: CodeStorage, Message: fmt.Sprintf("storing bindings: %v", err), Err: err}
	}
	ch.Commit()
	return next, nil
}

// prepare resolves the bindings of s to modules, validates their configs against their
// plugins' schemas, and has the pipeline build them.
func (r *Registry) prepare(ctx context.Context, s *State) (Change, error) {
	active := make([]Active, 0, len(s.Bindings))
	for _, b := range s.Bindings {
		v, err := r.Get(b.Plugin, b.Version)
		if err != nil {
			return nil, fmt.Errorf("binding %s: %w", b.Name, err)
		}
		m, err := v.ParsedManifest()
		if err != nil {
			return nil, &Error{Code: CodeBadManifest, Message: fmt.Sprintf("binding %s: %v", b.Name, err), Err: err}
		}
		schema, err := compileSchema(&m)
		if err != nil {
			return nil, err
		}
		if err := validateConfig(schema, v.ID(), b.Config); err != nil {
			return nil, err
		}
		if err := validateBinding(&b); err != nil {
			return nil, err
		}
		wasm, err := r.module(&v)
		if err != nil {
			return nil, &Error{Code: CodeStorage, Message: err.Error(), Err: err}
		}
		active = append(active, Active{Binding: b, Source: guard.Source{Spec: Spec(&m), Wasm: wasm}})
	}
	if r.pipeline == nil {
		return nopChange{}, nil
	}
	ch, err := r.pipeline.Prepare(ctx, active)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, err
		}
		return nil, &Error{Code: CodePipeline, Message: fmt.Sprintf("the new pipeline failed to build, the running one is unchanged: %v", err), Err: err}
	}
	return ch, nil
}

func validateBinding(b *Binding) error {
	_, e1 := plugin.ParseDirection(b.Direction)
	_, e2 := plugin.ParseMode(b.Mode)
	_, e3 := plugin.ParseFailurePolicy(b.OnFailure)
	if err := errors.Join(e1, e2, e3); err != nil {
		return errorf(CodeInvalid, "binding %s: %w", b.Name, err)
	}
	return nil
}

type nopChange struct{}

func (nopChange) Commit() {}
func (nopChange) Abort()  {}
