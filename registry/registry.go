// Package registry stores plugin versions and their bindings, and keeps the running pipeline in
// step with them. Modules are content-addressed (SHA-256) in the gateway's Badger database, each
// version with its manifest and optional signature; versions of a name stay until deleted, so a
// binding can roll back. Nothing runs before it is verified (see Upload), and a change of
// bindings is applied as a new pipeline snapshot, built and warmed before it is swapped in: a
// change that fails at any step leaves the running pipeline as it was and says why.
//
// Built-in plugins (package plugins) are listed and bound like uploaded ones; they come from the
// binary, not the database, and cannot be deleted.
//
// Every change and every refusal is recorded as an Event.
//
// Storage layout, version 1 of the keys (values are JSON):
//
//	reg/v1/blob/<sha256 hex>          the module
//	reg/v1/plugin/<name>/<version>    Version (manifest bytes, digest, signature)
//	reg/v1/bindings                   State (revision and bindings)
//	reg/v1/event/<time><seq>          Event
package registry

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/plugins"
)

const (
	prefixBlob    = "reg/v1/blob/"
	prefixVersion = "reg/v1/plugin/"
	keyBindings   = "reg/v1/bindings"
	prefixEvent   = "reg/v1/event/"
)

// Limits are the operator's maxima for what a manifest may ask. Zero fields take defaults.
type Limits struct {
	MemoryPages uint32        // default plugin.DefaultMemoryLimitPages
	Timeout     time.Duration // default 1s
	Instances   int           // default 16
}

func (l Limits) withDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = plugin.DefaultMemoryLimitPages
	}
	if l.Timeout == 0 {
		l.Timeout = time.Second
	}
	if l.Instances == 0 {
		l.Instances = 16
	}
	return l
}

// Options configure a Registry.
type Options struct {
	// Engine compiles modules to verify them. Required.
	Engine *plugin.Engine
	// TrustedKeys, when not empty, make signatures mandatory: an upload must be signed by one of
	// them (see SignedMessage).
	TrustedKeys []ed25519.PublicKey
	Limits      Limits
	// MaxModuleBytes bounds an uploaded module (default 16 MiB).
	MaxModuleBytes int
	Log            *slog.Logger
}

// Registry is the plugin store. It is safe for concurrent use; changes are serialized.
type Registry struct {
	db   *badger.DB
	opts Options
	log  *slog.Logger

	mu       sync.Mutex // serializes changes, so that each is checked against the state it replaces
	pipeline Pipeline
	eventSeq uint32
}

// Open returns the registry kept in db.
func Open(db *badger.DB, opts Options) (*Registry, error) {
	if opts.Engine == nil {
		return nil, errors.New("registry: no engine")
	}
	opts.Limits = opts.Limits.withDefaults()
	if opts.MaxModuleBytes <= 0 {
		opts.MaxModuleBytes = 16 << 20
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Registry{db: db, opts: opts, log: opts.Log}, nil
}

// Version is one stored plugin version.
type Version struct {
	Name     string          `json:"name"`
	Version  string          `json:"version"`
	Digest   string          `json:"digest"` // "sha256:<hex>" of the module
	Size     int             `json:"size"`
	Manifest json.RawMessage `json:"manifest"` // the manifest as uploaded (signed bytes)
	// Signature is the ed25519 signature of SignedMessage, and SignedBy the hex public key that
	// verified it; both empty for unsigned uploads.
	Signature []byte    `json:"signature,omitempty"`
	SignedBy  string    `json:"signed_by,omitempty"`
	Uploaded  time.Time `json:"uploaded"`
	Builtin   bool      `json:"builtin,omitempty"`
	// BoundBy lists the bindings that use this version now (filled in by List and Get).
	BoundBy []string `json:"bound_by,omitempty"`
}

// ID is name@version.
func (v *Version) ID() string { return v.Name + "@" + v.Version }

// ParsedManifest returns the version's manifest.
func (v *Version) ParsedManifest() (abi.Manifest, error) { return abi.ParseManifest(v.Manifest) }

// Digest returns the "sha256:<hex>" digest of a module.
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// SignedMessage is what an upload's signature covers: a domain prefix, the module's digest and
// the manifest exactly as uploaded, so that neither can be swapped for another:
//
//	"portcullis-plugin-v1\n" + "sha256:<hex of the module's SHA-256>" + "\n" + manifest bytes
func SignedMessage(digest string, manifest []byte) []byte {
	msg := make([]byte, 0, 22+len(digest)+len(manifest))
	msg = append(msg, "portcullis-plugin-v1\n"...)
	msg = append(msg, digest...)
	msg = append(msg, '\n')
	return append(msg, manifest...)
}

// Sign signs a module and its manifest for upload.
func Sign(key ed25519.PrivateKey, wasm, manifest []byte) []byte {
	return ed25519.Sign(key, SignedMessage(Digest(wasm), manifest))
}

// List returns every version, built-in ones included, sorted by name then semantic version.
func (r *Registry) List() ([]Version, error) {
	var out []Version
	err := r.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixVersion), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var v Version
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: list: %w", err)
	}
	for _, name := range plugins.Names() {
		out = append(out, builtinVersion(name))
	}
	state, err := r.State()
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].BoundBy = state.boundBy(out[i].Name, out[i].Version)
	}
	slices.SortFunc(out, func(a, b Version) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return compareSemver(a.Version, b.Version)
	})
	return out, nil
}

func builtinVersion(name string) Version {
	b, _ := plugins.Lookup(name)
	man, _ := json.Marshal(b.Manifest)
	return Version{Name: name, Version: b.Manifest.Version, Digest: Digest(b.Wasm), Size: len(b.Wasm), Manifest: man, Builtin: true}
}

// Get returns one version; version "" is the latest. The error is an *Error with code not_found
// when there is none.
func (r *Registry) Get(name, version string) (Version, error) {
	vs, err := r.List()
	if err != nil {
		return Version{}, err
	}
	var found *Version
	for i := range vs {
		if vs[i].Name == name && (version == "" || vs[i].Version == version) {
			found = &vs[i] // sorted: the last match is the latest
		}
	}
	if found == nil {
		if version == "" {
			return Version{}, errorf(CodeNotFound, "no plugin %s", name)
		}
		return Version{}, errorf(CodeNotFound, "no plugin %s@%s", name, version)
	}
	return *found, nil
}

// module returns a version's module bytes.
func (r *Registry) module(v *Version) ([]byte, error) {
	if v.Builtin {
		b, _ := plugins.Lookup(v.Name)
		return b.Wasm, nil
	}
	var wasm []byte
	err := r.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(prefixBlob + strings.TrimPrefix(v.Digest, "sha256:")))
		if err != nil {
			return err
		}
		wasm, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("registry: module of %s: %w", v.ID(), err)
	}
	if Digest(wasm) != v.Digest {
		return nil, fmt.Errorf("registry: module of %s: stored bytes do not match digest %s", v.ID(), v.Digest)
	}
	return wasm, nil
}

// Delete removes a stored version. It refuses built-ins and versions that a binding uses or may
// roll back to.
func (r *Registry) Delete(ctx context.Context, name, version string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.delete(name, version)
	r.record(Event{Action: "plugin.delete", Plugin: name + "@" + version}, err)
	return err
}

func (r *Registry) delete(name, version string) error {
	v, err := r.Get(name, version)
	if err != nil {
		return err
	}
	if version == "" {
		return errorf(CodeInvalid, "name the version to delete (%s@%s)", name, v.Version)
	}
	if v.Builtin {
		return errorf(CodeBuiltin, "%s is built into the gateway and cannot be deleted", v.ID())
	}
	if len(v.BoundBy) > 0 {
		return errorf(CodeBound, "%s is bound by %s: unbind it first", v.ID(), strings.Join(v.BoundBy, ", "))
	}
	state, err := r.State()
	if err != nil {
		return err
	}
	for _, b := range state.Bindings {
		if b.Plugin == name && slices.Contains(b.Previous, version) {
			return errorf(CodeBound, "%s is binding %s's rollback target: unbind it first", v.ID(), b.Name)
		}
	}
	shared := false
	all, err := r.List()
	if err != nil {
		return err
	}
	for _, o := range all {
		shared = shared || (o.Digest == v.Digest && o.ID() != v.ID())
	}
	err = r.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete([]byte(prefixVersion + name + "/" + version)); err != nil {
			return err
		}
		if shared {
			return nil
		}
		return txn.Delete([]byte(prefixBlob + strings.TrimPrefix(v.Digest, "sha256:")))
	})
	if err != nil {
		return fmt.Errorf("registry: delete %s: %w", v.ID(), err)
	}
	return nil
}
