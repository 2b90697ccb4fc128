package registry

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/plugins"
)

// Upload is a plugin version offered to the registry.
type Upload struct {
	Wasm     []byte
	Manifest []byte // JSON, see abi.Manifest
	// Digest, when not empty, is the "sha256:<hex>" (or bare hex) digest the sender computed; a
	// module that does not match it was damaged on the way.
	Digest    string
	Signature []byte // ed25519 over SignedMessage; required when trusted keys are configured
	Remote    string // who uploaded, for the event
}

// Upload verifies a plugin version and stores it. Verification, in order: module size, digest,
// manifest (strict, semantic version, not a built-in's name@version), signature, limits within
// the operator's maxima, config schema, then the engine compiles the module with the manifest's
// spec (Wasm well-formed, ABI marker, an export per declared hook, only granted imports, memory
// within the limit) and a self-test runs every declared hook on the golden vectors, each of which
// must give a well-formed verdict. The refusal is an *Error naming the reason; it is recorded,
// and nothing is stored. Uploading the same module and manifest again is a no-op.
//
// Nothing is bound by an upload: the running pipeline does not change.
func (r *Registry) Upload(ctx context.Context, u Upload) (Version, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, err := r.upload(ctx, u)
	id := v.ID()
	if v.Name == "" {
		id = ""
	}
	r.record(Event{Action: "plugin.upload", Plugin: id, Remote: u.Remote}, err)
	return v, err
}

func (r *Registry) upload(ctx context.Context, u Upload) (Version, error) {
	var v Version
	if len(u.Wasm) > r.opts.MaxModuleBytes {
		return v, errorf(CodeTooLarge, "module is %d bytes, above the limit of %d", len(u.Wasm), r.opts.MaxModuleBytes)
	}
	digest := Digest(u.Wasm)
	if u.Digest != "" && u.Digest != digest && "sha256:"+u.Digest != digest {
		return v, errorf(CodeDigestMismatch, "module digest is %s, not %s as given: the upload was damaged or is not the module you meant", digest, u.Digest)
	}
	m, err := abi.ParseManifest(u.Manifest)
	if err != nil {
		return v, &Error{Code: CodeBadManifest, Message: err.Error(), Err: err}
	}
	v = Version{Name: m.Name, Version: m.Version, Digest: digest, Size: len(u.Wasm), Manifest: json.RawMessage(u.Manifest)}
	if err := m.ValidateSemver(); err != nil {
		return v, &Error{Code: CodeBadManifest, Message: err.Error(), Err: err}
	}
	if b, ok := plugins.Lookup(m.Name); ok && b.Manifest.Version == m.Version {
		return v, errorf(CodeBuiltin, "%s is built into the gateway; upload another version", m.ID())
	}
	if err := r.verifySignature(&v, u); err != nil {
		return v, err
	}
	if err := r.checkLimits(&m); err != nil {
		return v, err
	}
	schema, err := compileSchema(&m)
	if err != nil {
		return v, err
	}
	if old, err := r.stored(m.Name, m.Version); err == nil {
		if old.Digest == digest && bytes.Equal(old.Manifest, u.Manifest) {
			return old, nil // the same upload again
		}
		return v, errorf(CodeExists, "%s is already stored with another module or manifest: versions are immutable, upload a new one", m.ID())
	} else if CodeOf(err) != CodeNotFound {
		return v, err
	}
	if err := r.compileAndTest(ctx, u.Wasm, &m, schema); err != nil {
		return v, err
	}
	v.Uploaded = time.Now().UTC()
	rec, _ := json.Marshal(v)
	err = r.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set([]byte(prefixBlob+digest[len("sha256:"):]), u.Wasm); err != nil {
			return err
		}
		return txn.Set([]byte(prefixVersion+m.Name+"/"+m.Version), rec)
	})
	if err != nil {
		return v, &Error{Code: CodeStorage, Message: fmt.Sprintf("storing %s: %v", m.ID(), err), Err: err}
	}
	return v, nil
}

func (r *Registry) stored(name, version string) (Version, error) {
	var v Version
	err := r.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(prefixVersion + name + "/" + version))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return json.Unmarshal(b, &v) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return v, errorf(CodeNotFound, "no plugin %s@%s", name, version)
	}
	if err != nil {
		return v, &Error{Code: CodeStorage, Message: err.Error(), Err: err}
	}
	return v, nil
}

func (r *Registry) verifySignature(v *Version, u Upload) error {
	if len(r.opts.TrustedKeys) == 0 {
		if len(u.Signature) > 0 {
			v.Signature = u.Signature // kept, unverified: no key to check it with
		}
		return nil
	}
	if len(u.Signature) == 0 {
		return errorf(CodeSignatureRequired, "%s is unsigned, and this gateway accepts only plugins signed by a trusted key", v.ID())
	}
	msg := SignedMessage(v.Digest, u.Manifest)
	for _, k := range r.opts.TrustedKeys {
		if ed25519.Verify(k, msg, u.Signature) {
			v.Signature, v.SignedBy = u.Signature, hex.EncodeToString(k)
			return nil
		}
	}
	return errorf(CodeBadSignature, "the signature of %s is not valid for this module and manifest under any trusted key", v.ID())
}

func (r *Registry) checkLimits(m *abi.Manifest) error {
	l := r.opts.Limits
	switch {
	case m.MemoryPages > l.MemoryPages:
		return errorf(CodeLimits, "%s asks for %d memory pages; this gateway allows at most %d", m.ID(), m.MemoryPages, l.MemoryPages)
	case time.Duration(m.TimeoutMS)*time.Millisecond > l.Timeout:
		return errorf(CodeLimits, "%s asks for a %dms deadline; this gateway allows at most %v", m.ID(), m.TimeoutMS, l.Timeout)
	case int(m.Instances) > l.Instances:
		return errorf(CodeLimits, "%s asks for %d instances; this gateway allows at most %d", m.ID(), m.Instances, l.Instances)
	}
	return nil
}

// compileSchema resolves the manifest's config schema; nil when it has none.
func compileSchema(m *abi.Manifest) (*jsonschema.Resolved, error) {
	if len(m.Config) == 0 {
		return nil, nil
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(m.Config, &s); err != nil {
		return nil, errorf(CodeBadManifest, "%s: config schema: %w", m.ID(), err)
	}
	res, err := s.Resolve(nil)
	if err != nil {
		return nil, errorf(CodeBadManifest, "%s: config schema: %w", m.ID(), err)
	}
	return res, nil
}

// validateConfig checks a binding's config against a schema; no config is checked as {}.
func validateConfig(schema *jsonschema.Resolved, id string, config json.RawMessage) error {
	if schema == nil {
		return nil
	}
	var v any = map[string]any{}
	if len(config) > 0 {
		if err := json.Unmarshal(config, &v); err != nil {
			return errorf(CodeBadConfig, "config for %s is not JSON: %w", id, err)
		}
	}
	if err := schema.Validate(v); err != nil {
		return errorf(CodeBadConfig, "config does not match the schema of %s: %w", id, err)
	}
	return nil
}

// Spec is the engine spec of a manifest: its hooks and limits.
func Spec(m *abi.Manifest) plugin.Spec {
	s := plugin.Spec{Name: m.Name, Version: m.Version, MemoryLimitPages: m.MemoryPages,
		Instances: int(m.Instances), Timeout: time.Duration(m.TimeoutMS) * time.Millisecond, Clock: m.Clock}
	hooks, _ := m.HookList() // validated with the manifest
	s.Hooks = hooks
	return s
}

// compileAndTest loads the module as the engine would for traffic, then runs the self-test with
// no config when the schema allows that; a plugin that needs config is tested when bound.
func (r *Registry) compileAndTest(ctx context.Context, wasm []byte, m *abi.Manifest, schema *jsonschema.Resolved) error {
	if m.Clock {
		return errorf(CodeLimits, "%s asks for the real clock, which uploads are not granted", m.ID())
	}
	p, err := r.opts.Engine.Load(ctx, wasm, Spec(m))
	if err != nil {
		return &Error{Code: CodeModuleRefused, Message: err.Error(), Err: err}
	}
	defer p.Close(context.Background())
	if validateConfig(schema, m.ID(), nil) != nil {
		return nil
	}
	return SelfTest(ctx, p, nil)
}

// selfTestTimeout bounds each self-test call. It is looser than traffic deadlines on purpose: the
// self-test checks behaviour, and runs while the host is busy compiling the very module.
const selfTestTimeout = 2 * time.Second

// SelfTest runs every hook p declares on its golden inputs (abi.GoldenInputs) with config in
// place of the vector's, and requires a well-formed verdict from each: no trap, no overrun, no
// "no verdict", nothing the ABI forbids. The verdict itself (allow, block, rewrite) is the
// plugin's business.
func SelfTest(ctx context.Context, p *plugin.Plugin, config []byte) error {
	ins, err := abi.GoldenInputs()
	if err != nil {
		return err
	}
	var out abi.Verdict
	for _, in := range ins {
		if !p.Implements(in.Hook) {
			continue
		}
		in.Config = config
		if err := p.Call(ctx, &in, selfTestTimeout, &out); err != nil {
			return errorf(CodeSelfTest, "self-test of %s on the golden %s input failed: %w", p.ID(), in.Hook, err)
		}
	}
	return nil
}

// DecodeSignature accepts a signature as its 64 raw bytes or as base64 or hex text (what a file
// written by `portcullis plugin sign` or a shell tool holds). Anything else is returned as it is,
// and fails verification.
func DecodeSignature(b []byte) []byte {
	t := bytes.TrimSpace(b)
	if len(t) == ed25519.SignatureSize && len(b) == ed25519.SignatureSize {
		return b
	}
	if d, err := hex.DecodeString(string(t)); err == nil && len(d) == ed25519.SignatureSize {
		return d
	}
	if d, err := base64.StdEncoding.DecodeString(string(t)); err == nil && len(d) == ed25519.SignatureSize {
		return d
	}
	return b
}
