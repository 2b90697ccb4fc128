// Package config reads the gateway's YAML configuration strictly: unknown keys, bad values and
// duplicate names are errors that name the key and its line, and ${VAR} references are replaced
// from the environment so that secrets stay out of the file.
package config

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/portcullis-mcp/portcullis/plugins"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole gateway configuration.
type Config struct {
	Listen             string   `yaml:"listen"`
	DataDir            string   `yaml:"data_dir"`
	MaxBodyBytes       int      `yaml:"max_body_bytes"`
	NamespaceSeparator string   `yaml:"namespace_separator"`
	AllowedOrigins     []string `yaml:"allowed_origins"`
	AllowedHosts       []string `yaml:"allowed_hosts"`
	ShutdownTimeout    Duration `yaml:"shutdown_timeout"`
	SessionIdleTimeout Duration `yaml:"session_idle_timeout"`
	MaxSessions        int      `yaml:"max_sessions"`
	// StatelessClients serves 2026-07-28 clients statelessly. Off by default until requests from
	// servers to such clients (sampling, elicitation, roots) are bridged: without it those clients
	// fall back to 2025-11-25, where every flow works.
	StatelessClients bool `yaml:"stateless_clients"`
	// SessionKey seals each session's state into its id, so that any replica with the same key
	// can serve the session. Empty: a random key, good for this process only.
	SessionKey    string    `yaml:"session_key"`
	SessionMaxAge Duration  `yaml:"session_max_age"` // how long a sealed id stays valid
	Servers       []Server  `yaml:"servers"`
	Plugins       []Plugin  `yaml:"plugins"`
	Bindings      []Binding `yaml:"bindings"`
	Admin         Admin     `yaml:"admin"`

	// Dir is the folder of the config file; plugin paths are relative to it.
	Dir string `yaml:"-"`

	line map[string]int // "servers[1].name" -> line, for errors raised after decoding
}

// Server is one upstream MCP server, reached through one or more replicas.
type Server struct {
	Name string `yaml:"name"`
	// A server with a single replica may give it inline; Replicas lists several.
	Replica        `yaml:",inline"`
	Replicas       []Replica           `yaml:"replicas"`
	Strategy       string              `yaml:"strategy"` // round_robin, least_inflight, weighted
	Timeout        Duration            `yaml:"timeout"`
	ConnectTimeout Duration            `yaml:"connect_timeout"`
	ToolTimeouts   map[string]Duration `yaml:"tool_timeouts"` // tool name glob -> timeout
	Start          string              `yaml:"start"`         // on_demand or boot (stdio)
	Session        string              `yaml:"session"`       // per_client or shared
	HealthInterval Duration            `yaml:"health_interval"`
	Retries        *int                `yaml:"retries"` // extra attempts on other replicas
	Restart        Backoff             `yaml:"restart"`
	Headers        map[string]string   `yaml:"headers"`
	// Unprefixed shows this server's tools and prompts on the aggregate endpoint under their own
	// names, e.g. for clients with fixed tool names. At most one server may be unprefixed.
	Unprefixed bool `yaml:"unprefixed"`
}

// Plugin is a Wasm plugin version loaded from a file, or a built-in one (no path: name, version and
// hooks default to the built-in's manifest; the entry then only sets limits).
type Plugin struct {
	Name        string   `yaml:"name"`
	Version     string   `yaml:"version"`
	Path        string   `yaml:"path"`  // the .wasm file, relative to the config file; empty for a built-in
	Hooks       []string `yaml:"hooks"` // request_guard, response_guard, tool_filter, route, audit
	MemoryPages uint32   `yaml:"memory_pages"`
	Instances   int      `yaml:"instances"`
	Timeout     Duration `yaml:"timeout"`
	Clock       bool     `yaml:"clock"` // grant the real clock
}

// Binding attaches a plugin, with its config, to some of the traffic.
type Binding struct {
	Name      string   `yaml:"name"`
	Plugin    string   `yaml:"plugin"`     // a plugin name, or name@version
	Config    any      `yaml:"config"`     // handed to the plugin as JSON
	Servers   []string `yaml:"servers"`    // globs; empty: every server
	Tools     []string `yaml:"tools"`      // globs; empty: every call
	Direction string   `yaml:"direction"`  // both, request or response
	Mode      string   `yaml:"mode"`       // enforce or monitor
	OnFailure string   `yaml:"on_failure"` // fail-closed or fail-open
	Order     int      `yaml:"order"`
	Timeout   Duration `yaml:"timeout"`
}

// Admin configures the admin API and the plugin registry it drives. The API is off without a
// token.
type Admin struct {
	Listen         string   `yaml:"listen"`          // default 127.0.0.1:9090
	Token          string   `yaml:"token"`           // bearer token, 16+ characters; use ${ENV}
	AllowRemote    bool     `yaml:"allow_remote"`    // allow a non-loopback listen address
	AllowedOrigins []string `yaml:"allowed_origins"` // browser origins allowed; none by default
	// TrustedKeys are ed25519 public keys (hex or base64); when any is set, uploads must be
	// signed by one of them.
	TrustedKeys    []string `yaml:"trusted_keys"`
	MaxUploadBytes int      `yaml:"max_upload_bytes"` // default 16 MiB
	// Maxima a plugin manifest may ask for.
	MaxMemoryPages uint32   `yaml:"max_memory_pages"` // default 512 (32 MiB)
	MaxTimeout     Duration `yaml:"max_timeout"`      // default 1s
	MaxInstances   int      `yaml:"max_instances"`    // default 16
}

// PublicKeys decodes the trusted keys.
func (a *Admin) PublicKeys() ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for i, k := range a.TrustedKeys {
		b, err := hex.DecodeString(k)
		if err != nil {
			b, err = base64.StdEncoding.DecodeString(k)
		}
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("trusted_keys[%d]: want a %d-byte ed25519 public key in hex or base64", i, ed25519.PublicKeySize)
		}
		out = append(out, ed25519.PublicKey(b))
	}
	return out, nil
}

// Replica is one way to reach a server: a command (stdio) or a URL (Streamable HTTP or legacy SSE).
type Replica struct {
	Command   string            `yaml:"command"`
	Args      []string          `yaml:"args"`
	Env       map[string]string `yaml:"env"`
	Dir       string            `yaml:"dir"`
	URL       string            `yaml:"url"`
	Transport string            `yaml:"transport"` // stdio, http, sse; inferred when empty
	Weight    int               `yaml:"weight"`
}

// Backoff bounds how fast a dead stdio process is restarted.
type Backoff struct {
	Initial Duration `yaml:"initial"`
	Max     Duration `yaml:"max"`
}

// Transports.
const (
	TransportStdio = "stdio"
	TransportHTTP  = "http"
	TransportSSE   = "sse"
)

// Duration is a time.Duration written as "30s" or "1m30s" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration (like 30s or 2m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the embedded default configuration: the built-in demo upstream, on loopback.
func Default() *Config {
	c := &Config{Servers: []Server{{Name: "demo", Replica: Replica{Transport: TransportDemo}}}}
	c.applyDefaults()
	return c
}

// TransportDemo is the built-in demo server, run in process.
const TransportDemo = "demo"

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Dir = filepath.Dir(path)
	return c, nil
}

// Parse decodes and validates YAML text.
func Parse(text []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		return nil, err
	}
	if len(root.Content) == 0 {
		return nil, errors.New("empty configuration")
	}
	if err := expandEnv(&root); err != nil {
		return nil, err
	}
	c := &Config{line: map[string]int{}}
	recordLines(root.Content[0], "", c.line)
	// Re-encode the expanded tree and decode it strictly: yaml.v3 checks unknown keys only in
	// Decoder mode.
	expanded, err := yaml.Marshal(&root)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, remapLines(err, &root, expanded)
	}
	c.applyDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := c.validatePlugins(); err != nil {
		return nil, err
	}
	return c, nil
}

// hookNames are the hooks a plugin may declare.
var hookNames = []string{"request_guard", "response_guard", "tool_filter", "route", "audit"}

func (c *Config) validatePlugins() error {
	ids := map[string]bool{}
	names := map[string]int{}
	c.addBuiltins()
	for i, p := range c.Plugins {
		key := fmt.Sprintf("plugins[%d]", i)
		if p.Name == "" || p.Version == "" || p.Path == "" && !p.Builtin() {
			return c.errAt(key, "a plugin needs a name, a version and a path (or the name of a built-in: %s)", strings.Join(plugins.Names(), ", "))
		}
		if ids[p.Name+"@"+p.Version] {
			return c.errAt(key, "plugin %s@%s is listed twice", p.Name, p.Version)
		}
		ids[p.Name+"@"+p.Version] = true
		names[p.Name]++
		if len(p.Hooks) == 0 {
			return c.errAt(key+".hooks", "a plugin declares at least one hook (%s)", strings.Join(hookNames, ", "))
		}
		for _, h := range p.Hooks {
			if !slices.Contains(hookNames, h) {
				return c.errAt(key+".hooks", "%q is not a hook (%s)", h, strings.Join(hookNames, ", "))
			}
		}
	}
	bindings := map[string]bool{}
	for i, b := range c.Bindings {
		key := fmt.Sprintf("bindings[%d]", i)
		if b.Name == "" {
			return c.errAt(key, "a binding needs a name")
		}
		if bindings[b.Name] {
			return c.errAt(key+".name", "duplicate binding name %q", b.Name)
		}
		bindings[b.Name] = true
		switch {
		case ids[b.Plugin]:
		case names[b.Plugin] == 1:
		case names[b.Plugin] > 1:
			return c.errAt(key+".plugin", "%q has several versions: name one as name@version", b.Plugin)
		default:
			return c.errAt(key+".plugin", "no plugin %q is configured", b.Plugin)
		}
		for field, v := range map[string]struct {
			value   string
			allowed []string
		}{
			"direction":  {b.Direction, []string{"", "both", "request", "response"}},
			"mode":       {b.Mode, []string{"", "enforce", "monitor"}},
			"on_failure": {b.OnFailure, []string{"", "fail-closed", "fail-open"}},
		} {
			if !slices.Contains(v.allowed, v.value) {
				return c.errAt(key+"."+field, "%q is not one of %s", v.value, strings.Join(v.allowed[1:], ", "))
			}
		}
	}
	return nil
}

// Builtin reports whether p is one of the plugins embedded in the binary.
func (p *Plugin) Builtin() bool {
	if p.Path != "" {
		return false
	}
	b, ok := plugins.Lookup(p.Name)
	return ok && (p.Version == "" || p.Version == b.Manifest.Version)
}

// addBuiltins completes plugin entries of built-ins from their manifests and adds one for each
// built-in that a binding names without listing it, so that `plugin: secrets` is enough.
func (c *Config) addBuiltins() {
	for i := range c.Plugins {
		p := &c.Plugins[i]
		if b, ok := plugins.Lookup(p.Name); ok && p.Path == "" {
			if p.Version == "" {
				p.Version = b.Manifest.Version
			}
			if len(p.Hooks) == 0 {
				p.Hooks = b.Manifest.Hooks
			}
		}
	}
	for _, bd := range c.Bindings {
		if _, ok := c.PluginFor(bd); ok {
			continue
		}
		if b, ok := plugins.Lookup(bd.Plugin); ok {
			c.Plugins = append(c.Plugins, Plugin{Name: b.Manifest.Name, Version: b.Manifest.Version, Hooks: b.Manifest.Hooks})
		}
	}
}

// PluginFor returns the plugin a binding names.
func (c *Config) PluginFor(b Binding) (Plugin, bool) {
	for _, p := range c.Plugins {
		if p.Name+"@"+p.Version == b.Plugin || p.Name == b.Plugin {
			return p, true
		}
	}
	return Plugin{}, false
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} in every scalar; a reference to an unset variable is an error so that
// a missing secret is found at load, not at the first call.
func expandEnv(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		var missing string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := ref[2 : len(ref)-1]
			v, ok := os.LookupEnv(name)
			if !ok && missing == "" {
				missing = name
			}
			return v
		})
		if missing != "" {
			return fmt.Errorf("line %d: environment variable %s is not set", n.Line, missing)
		}
	}
	for _, c := range n.Content {
		if err := expandEnv(c); err != nil {
			return err
		}
	}
	return nil
}

// recordLines maps each key path ("servers[0].url") to its line in the original text.
func recordLines(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			out[p] = n.Content[i].Line
			recordLines(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = c.Line
			recordLines(c, p, out)
		}
	}
}

// remapLines makes decode errors speak of the user's lines: the strict pass ran on re-encoded
// text whose line numbers differ when the file had comments or flow style.
func remapLines(err error, root *yaml.Node, expanded []byte) error {
	var reenc yaml.Node
	if yaml.Unmarshal(expanded, &reenc) != nil {
		return err
	}
	lines := map[int]int{}
	var walk func(a, b *yaml.Node)
	walk = func(a, b *yaml.Node) {
		lines[b.Line] = a.Line
		for i := range min(len(a.Content), len(b.Content)) {
			walk(a.Content[i], b.Content[i])
		}
	}
	walk(root, &reenc)
	msg := regexp.MustCompile(`line (\d+)`).ReplaceAllStringFunc(err.Error(), func(s string) string {
		var n int
		fmt.Sscanf(s, "line %d", &n)
		if orig, ok := lines[n]; ok {
			return fmt.Sprintf("line %d", orig)
		}
		return s
	})
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	return errors.New(strings.ReplaceAll(msg, "\n  ", "; "))
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "./portcullis-data"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.NamespaceSeparator == "" {
		c.NamespaceSeparator = "__"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(30 * time.Second)
	}
	if c.SessionIdleTimeout == 0 {
		c.SessionIdleTimeout = Duration(30 * time.Minute)
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 10000
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = "127.0.0.1:9090"
	}
	if c.Admin.MaxUploadBytes == 0 {
		c.Admin.MaxUploadBytes = 16 << 20
	}
	if c.SessionMaxAge == 0 {
		c.SessionMaxAge = Duration(24 * time.Hour)
	}
	for i := range c.Servers {
		s := &c.Servers[i]
		if len(s.Replicas) == 0 {
			s.Replicas = []Replica{s.Replica}
		}
		for j := range s.Replicas {
			r := &s.Replicas[j]
			if r.Transport == "" {
				switch {
				case r.Command != "":
					r.Transport = TransportStdio
				case r.URL != "":
					r.Transport = TransportHTTP
				}
			}
			if r.Weight == 0 {
				r.Weight = 1
			}
		}
		if s.Strategy == "" {
			s.Strategy = "round_robin"
		}
		if s.Timeout == 0 {
			s.Timeout = Duration(60 * time.Second)
		}
		if s.ConnectTimeout == 0 {
			s.ConnectTimeout = Duration(10 * time.Second)
		}
		if s.Start == "" {
			s.Start = "on_demand"
		}
		if s.Session == "" {
			s.Session = "per_client"
		}
		if s.HealthInterval == 0 {
			s.HealthInterval = Duration(10 * time.Second)
		}
		if s.Retries == nil {
			n := len(s.Replicas) - 1
			s.Retries = &n
		}
		if s.Restart.Initial == 0 {
			s.Restart.Initial = Duration(500 * time.Millisecond)
		}
		if s.Restart.Max == 0 {
			s.Restart.Max = Duration(30 * time.Second)
		}
	}
}

var serverName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)

func (c *Config) validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return c.errAt("listen", "%q is not host:port", c.Listen)
	}
	if c.SessionKey != "" && len(c.SessionKey) < 16 {
		return c.errAt("session_key", "must have at least 16 characters")
	}
	if err := c.validateAdmin(); err != nil {
		return err
	}
	if c.MaxBodyBytes < 1024 {
		return c.errAt("max_body_bytes", "must be at least 1024")
	}
	if len(c.NamespaceSeparator) > 4 || strings.ContainsAny(c.NamespaceSeparator, " /") {
		return c.errAt("namespace_separator", "%q must be 1-4 characters without spaces or slashes", c.NamespaceSeparator)
	}
	if len(c.Servers) == 0 {
		return c.errAt("servers", "at least one server is required")
	}
	first := map[string]int{}
	unprefixed := -1
	for i, s := range c.Servers {
		if s.Unprefixed {
			if unprefixed >= 0 {
				return c.errAt(fmt.Sprintf("servers[%d].unprefixed", i), "only one server may be unprefixed (%s already is)", c.Servers[unprefixed].Name)
			}
			unprefixed = i
		}
		key := fmt.Sprintf("servers[%d]", i)
		switch {
		case s.Name == "":
			return c.errAt(key, "name is required")
		case !serverName.MatchString(s.Name):
			return c.errAt(key+".name", "%q must be 1-32 letters, digits, '_', '.' or '-'", s.Name)
		case strings.Contains(s.Name, c.NamespaceSeparator):
			return c.errAt(key+".name", "%q contains the namespace separator %q", s.Name, c.NamespaceSeparator)
		}
		if j, dup := first[s.Name]; dup {
			return c.errAt(key+".name", "duplicate server name %q (first at line %d)", s.Name, c.line[fmt.Sprintf("servers[%d].name", j)])
		}
		first[s.Name] = i
		if (s.Command != "" || s.URL != "") && len(c.Servers[i].Replicas) > 1 {
			return c.errAt(key, "give either command/url or replicas, not both")
		}
		for j, r := range s.Replicas {
			rkey := key
			if _, listed := c.line[key+".replicas"]; listed {
				rkey = fmt.Sprintf("%s.replicas[%d]", key, j)
			}
			if err := c.validateReplica(rkey, r); err != nil {
				return err
			}
		}
		switch s.Strategy {
		case "round_robin", "least_inflight", "weighted":
		default:
			return c.errAt(key+".strategy", "%q is not round_robin, least_inflight or weighted", s.Strategy)
		}
		switch s.Start {
		case "on_demand", "boot":
		default:
			return c.errAt(key+".start", "%q is not on_demand or boot", s.Start)
		}
		switch s.Session {
		case "per_client", "shared":
		default:
			return c.errAt(key+".session", "%q is not per_client or shared", s.Session)
		}
		if *s.Retries < 0 || *s.Retries > 10 {
			return c.errAt(key+".retries", "must be between 0 and 10")
		}
	}
	return nil
}

func (c *Config) validateAdmin() error {
	a := &c.Admin
	host, _, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return c.errAt("admin.listen", "%q is not host:port", a.Listen)
	}
	if ip := net.ParseIP(host); !a.AllowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return c.errAt("admin.listen", "%q is not a loopback address; set allow_remote: true to expose the admin API", a.Listen)
	}
	if a.Token != "" && len(a.Token) < 16 {
		return c.errAt("admin.token", "must have at least 16 characters")
	}
	if _, err := a.PublicKeys(); err != nil {
		return c.errAt("admin."+strings.SplitN(err.Error(), ":", 2)[0], "%s", strings.SplitN(err.Error(), ": ", 2)[1])
	}
	if a.MaxUploadBytes < 1024 {
		return c.errAt("admin.max_upload_bytes", "must be at least 1024")
	}
	return nil
}

func (c *Config) validateReplica(key string, r Replica) error {
	switch r.Transport {
	case TransportStdio:
		if r.Command == "" {
			return c.errAt(key, "a stdio server needs a command")
		}
		if r.URL != "" {
			return c.errAt(key+".url", "a stdio server takes a command, not a url")
		}
	case TransportHTTP, TransportSSE:
		if r.Command != "" {
			return c.errAt(key+".command", "an %s server takes a url, not a command", r.Transport)
		}
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.errAt(key+".url", "%q is not an http(s) URL", r.URL)
		}
	case TransportDemo:
	case "":
		return c.errAt(key, "a server needs a command (stdio) or a url (http, sse)")
	default:
		return c.errAt(key+".transport", "%q is not stdio, http or sse", r.Transport)
	}
	if r.Weight < 0 {
		return c.errAt(key+".weight", "must not be negative")
	}
	return nil
}

// errAt builds an error naming the key and, when known, its line.
func (c *Config) errAt(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	for k := key; k != ""; {
		if l, ok := c.line[k]; ok {
			return fmt.Errorf("line %d: %s: %s", l, key, msg)
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return fmt.Errorf("%s: %s", key, msg)
}
