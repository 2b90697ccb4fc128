package abi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// Manifest describes a plugin version: what it is called, which hooks it
// implements and what it needs from the host. Built-in plugins carry one
// beside their module (plugins/<name>/manifest.json); the registry stores
// one with every uploaded module.
type Manifest struct {
	Name        string `json:"name"`
	Version     string `json:"version"` // semantic version, e.g. 1.2.0 or 2.0.0-rc.1
	Description string `json:"description,omitempty"`
	// ABIVersion is the ABI the module speaks; 0 means Version (1), the only one this host speaks.
	ABIVersion int      `json:"abi_version,omitempty"`
	Hooks      []string `json:"hooks"`
	// MemoryPages caps the guest's memory in 64 KiB pages; 0 is the host's default.
	MemoryPages uint32 `json:"memory_pages,omitempty"`
	// TimeoutMS is the deadline of one hook call in milliseconds; 0 is the host's default.
	TimeoutMS uint32 `json:"timeout_ms,omitempty"`
	// Instances bounds the warm instances per gateway; 0 is the host's default.
	Instances uint32 `json:"instances,omitempty"`
	// Clock asks for the real clock (host function now); the operator must grant it.
	Clock bool `json:"clock,omitempty"`
	// Config is the JSON Schema (2020-12) of the config a binding gives the plugin; the registry
	// validates every binding's config against it. Absent: any config.
	Config json.RawMessage `json:"config,omitempty"`
}

var (
	manifestName    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	manifestVersion = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
	// semver is https://semver.org's grammar, without the leading "v".
	semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
)

// ParseManifest decodes a JSON manifest strictly (unknown fields are errors) and validates it.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return m, fmt.Errorf("abi: manifest: %w", err)
	}
	if d.More() {
		return m, errors.New("abi: manifest: data after the JSON object")
	}
	return m, m.Validate()
}

// Validate reports the first problem of m: a name or version outside
// [a-z0-9._-] (name) or [0-9A-Za-z.+_-] (version), no hooks, unknown or repeated ones, an ABI
// version this host does not speak, a memory limit above 65536 pages, or a config schema that is
// not a JSON object or boolean.
func (m *Manifest) Validate() error {
	if !manifestName.MatchString(m.Name) {
		return fmt.Errorf("abi: manifest: name %q: want 1-64 of a-z 0-9 . _ -, starting with a letter or digit", m.Name)
	}
	if !manifestVersion.MatchString(m.Version) {
		return fmt.Errorf("abi: manifest %s: version %q: want 1-64 of A-Z a-z 0-9 . + _ -", m.Name, m.Version)
	}
	if _, err := m.HookList(); err != nil {
		return err
	}
	if m.ABIVersion != 0 && m.ABIVersion != Version {
		return fmt.Errorf("abi: manifest %s: abi_version %d: this host speaks version %d", m.Name, m.ABIVersion, Version)
	}
	if m.MemoryPages > 65536 {
		return fmt.Errorf("abi: manifest %s: memory_pages %d: at most 65536 (4 GiB)", m.Name, m.MemoryPages)
	}
	if len(m.Config) > 0 {
		if t := bytes.TrimSpace(m.Config); t[0] != '{' && !bytes.Equal(t, []byte("true")) && !bytes.Equal(t, []byte("false")) {
			return fmt.Errorf("abi: manifest %s: config: want a JSON Schema (an object or a boolean)", m.Name)
		}
	}
	return nil
}

// ValidateSemver additionally requires a semantic version (https://semver.org), as the registry
// does for uploads so that versions order.
func (m *Manifest) ValidateSemver() error {
	if !semver.MatchString(m.Version) {
		return fmt.Errorf("abi: manifest %s: version %q is not a semantic version (like 1.2.0)", m.Name, m.Version)
	}
	return nil
}

// HookList returns the manifest's hooks, refusing none, unknown or repeated ones.
func (m *Manifest) HookList() ([]Hook, error) {
	if len(m.Hooks) == 0 {
		return nil, fmt.Errorf("abi: manifest %s: no hooks", m.Name)
	}
	var seen uint32
	hooks := make([]Hook, 0, len(m.Hooks))
	for _, s := range m.Hooks {
		h, ok := ParseHook(s)
		if !ok {
			return nil, fmt.Errorf("abi: manifest %s: %q is not a hook", m.Name, s)
		}
		if seen&h.Bit() != 0 {
			return nil, fmt.Errorf("abi: manifest %s: hook %s listed twice", m.Name, s)
		}
		seen |= h.Bit()
		hooks = append(hooks, h)
	}
	return hooks, nil
}

// ID is name@version.
func (m *Manifest) ID() string { return m.Name + "@" + m.Version }
