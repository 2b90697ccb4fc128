// Package admin is the gateway's admin API: plugins, bindings, servers and config reload, on a
// listener of its own (loopback by default), every call authenticated with the admin token and
// refused from browsers of foreign origins. Errors are JSON, {"error":{"code","message"}}, with
// the registry's codes; the OpenAPI 3.1 document of every route is served at /openapi.json.
// It is off the hot path, so it uses net/http.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/gateway"
	"github.com/portcullis-mcp/portcullis/registry"
)

// Options wire the admin API to the gateway.
type Options struct {
	Token    string // required: every call carries Authorization: Bearer <Token>
	Registry *registry.Registry
	Live     *registry.Live
	Gateway  *gateway.Gateway
	// Config is the running configuration; ConfigPath, when set, is the file that reload reads.
	Config     *config.Config
	ConfigPath string
	// MaxUploadBytes bounds an upload request (module, manifest and signature); default 16 MiB.
	MaxUploadBytes int64
	// AllowedOrigins are browser origins allowed to call; none by default.
	AllowedOrigins []string
	Log            *slog.Logger
}

// Server is the admin API's handler.
type Server struct {
	opts  Options
	token [32]byte
	mux   *http.ServeMux
	doc   map[string]any
}

type route struct {
	method, path, summary string
	ok                    int // the success status
	handle                func(*Server, http.ResponseWriter, *http.Request) error
}

// routes is the one list of what the API serves: the mux and the OpenAPI document come from it.
var routes = []route{
	{"GET", "/healthz", "Liveness", 200, (*Server).healthz},
	{"GET", "/readyz", "Readiness: 200 once the gateway serves", 200, (*Server).readyz},
	{"GET", "/openapi.json", "This document", 200, (*Server).openapi},
	{"GET", "/v1/plugins", "List plugin versions, built-ins included", 200, (*Server).listPlugins},
	{"POST", "/v1/plugins", "Upload a plugin version (multipart: wasm, manifest, optional signature and digest); verified before it is stored", 201, (*Server).upload},
	{"GET", "/v1/plugins/{name}", "List the versions of one plugin", 200, (*Server).pluginVersions},
	{"GET", "/v1/plugins/{name}/{version}", "Show one version", 200, (*Server).showPlugin},
	{"DELETE", "/v1/plugins/{name}/{version}", "Delete a version; refused while bound or a rollback target", 204, (*Server).deletePlugin},
	{"GET", "/v1/bindings", "List bindings; the ETag header is their revision", 200, (*Server).listBindings},
	{"PUT", "/v1/bindings/{name}", "Create or change a binding and apply it as a new pipeline (If-Match: revision)", 200, (*Server).putBinding},
	{"DELETE", "/v1/bindings/{name}", "Delete a binding and apply the result (If-Match: revision)", 200, (*Server).deleteBinding},
	{"POST", "/v1/bindings/{name}/rollback", "Bind the version the binding had before (If-Match: revision)", 200, (*Server).rollback},
	{"POST", "/v1/bindings/reorder", "Set the order of every binding: {\"names\": [first, ...]} (If-Match: revision)", 200, (*Server).reorder},
	{"GET", "/v1/servers", "List upstream servers with replicas and health", 200, (*Server).servers},
	{"POST", "/v1/config/reload", "Re-read the YAML config file and apply its plugins and bindings", 200, (*Server).reload},
	{"GET", "/v1/events", "The last admin events (changes and refusals), oldest first; ?limit=N", 200, (*Server).events},
}

// New returns the admin API. It fails without a token.
func New(opts Options) (*Server, error) {
	if len(opts.Token) < 16 {
		return nil, errors.New("admin: the admin token must have at least 16 characters")
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 16 << 20
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Server{opts: opts, token: sha256.Sum256([]byte(opts.Token)), mux: http.NewServeMux()}
	s.doc = document()
	for _, rt := range routes {
		s.mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			if err := rt.handle(s, w, r); err != nil {
				s.fail(w, r, err)
			}
		})
	}
	return s, nil
}

// CheckListen refuses a listen address that is not loopback unless allowRemote: the admin API
// changes what runs in the gateway.
func CheckListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin: listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" || allowRemote {
		return nil
	}
	return fmt.Errorf("admin: listen %q is not a loopback address; set admin.allow_remote to expose the admin API", addr)
}

// ServeHTTP checks the Origin and the token, then serves the route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !slices.Contains(s.opts.AllowedOrigins, o) {
		s.refuse(w, r, http.StatusForbidden, "forbidden_origin", fmt.Sprintf("origin %q may not call the admin API", o))
		return
	}
	got := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(got) <= len(prefix) || got[:len(prefix)] != prefix {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis-admin"`)
		s.refuse(w, r, http.StatusUnauthorized, "unauthorized", "missing admin token: send Authorization: Bearer <token>")
		return
	}
	// Hashing first makes the comparison constant-time in the token's length too.
	sum := sha256.Sum256([]byte(got[len(prefix):]))
	if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis-admin", error="invalid_token"`)
		s.refuse(w, r, http.StatusUnauthorized, "unauthorized", "wrong admin token")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if s.opts.Registry != nil {
		s.opts.Registry.Record(registry.Event{Action: "admin.refused", Code: code, Message: msg + ": " + r.Method + " " + r.URL.Path, Remote: r.RemoteAddr})
	}
	writeError(w, status, code, msg)
}

// Error is the JSON error body.
type Error struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var e Error
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// statuses maps registry codes to HTTP.
var statuses = map[string]int{
	registry.CodeInvalid: 400, registry.CodeTooLarge: 413, registry.CodeNotFound: 404,
	registry.CodeExists: 409, registry.CodeBound: 409, registry.CodeBuiltin: 409,
	registry.CodeConflict: 412, registry.CodeStorage: 500,
	registry.CodeSignatureRequired: 422, registry.CodeBadSignature: 422, registry.CodeDigestMismatch: 422,
	registry.CodeBadManifest: 422, registry.CodeLimits: 422, registry.CodeModuleRefused: 422,
	registry.CodeSelfTest: 422, registry.CodeBadConfig: 422, registry.CodePipeline: 422,
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := registry.CodeOf(err)
	status, ok := statuses[code]
	if !ok {
		status = 500
	}
	if status == 500 {
		s.opts.Log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, code, err.Error())
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, 200, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Gateway != nil && !s.opts.Gateway.Ready() {
		writeError(w, 503, "not_ready", "the gateway is shutting down")
		return nil
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) listPlugins(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.opts.Registry.List()
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"plugins": vs})
	return nil
}

func (s *Server) pluginVersions(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.opts.Registry.List()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	vs = slices.DeleteFunc(vs, func(v registry.Version) bool { return v.Name != name })
	if len(vs) == 0 {
		return &registry.Error{Code: registry.CodeNotFound, Message: "no plugin " + name}
	}
	writeJSON(w, 200, map[string]any{"plugins": vs})
	return nil
}

func (s *Server) showPlugin(w http.ResponseWriter, r *http.Request) error {
	v, err := s.opts.Registry.Get(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, v)
	return nil
}

func (s *Server) deletePlugin(w http.ResponseWriter, r *http.Request) error {
	if err := s.opts.Registry.Delete(r.Context(), r.PathValue("name"), r.PathValue("version")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// upload reads a multipart form: wasm (the module), manifest (JSON), and optionally signature
// (raw 64 bytes, or base64/hex text) and digest ("sha256:<hex>").
func (s *Server) upload(w http.ResponseWriter, r *http.Request) error {
	u, err := s.readUpload(w, r)
	if err != nil {
		// Refused before the registry saw it: recorded here.
		s.opts.Registry.Record(registry.Event{Action: "plugin.upload", Code: registry.CodeOf(err), Message: err.Error(), Remote: r.RemoteAddr})
		return err
	}
	v, err := s.opts.Registry.Upload(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, 201, v)
	return nil
}

func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) (registry.Upload, error) {
	var u registry.Upload
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxUploadBytes)
	if err := r.ParseMultipartForm(s.opts.MaxUploadBytes); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return u, &registry.Error{Code: registry.CodeTooLarge, Message: fmt.Sprintf("upload is larger than %d bytes", s.opts.MaxUploadBytes)}
		}
		return u, &registry.Error{Code: registry.CodeInvalid, Message: "want a multipart/form-data upload with parts wasm and manifest: " + err.Error()}
	}
	defer r.MultipartForm.RemoveAll()
	part := func(name string) ([]byte, error) {
		f, _, err := r.FormFile(name)
		if errors.Is(err, http.ErrMissingFile) {
			if v, ok := r.MultipartForm.Value[name]; ok && len(v) > 0 {
				return []byte(v[0]), nil
			}
			return nil, nil
		}
		if err != nil {
			return nil, &registry.Error{Code: registry.CodeInvalid, Message: "upload part " + name + ": " + err.Error()}
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	var err error
	if u.Wasm, err = part("wasm"); err == nil {
		if u.Manifest, err = part("manifest"); err == nil {
			u.Signature, err = part("signature")
		}
	}
	if err != nil {
		return u, err
	}
	if len(u.Wasm) == 0 || len(u.Manifest) == 0 {
		return u, &registry.Error{Code: registry.CodeInvalid, Message: "an upload needs the parts wasm and manifest"}
	}
	u.Signature = registry.DecodeSignature(u.Signature)
	u.Digest = r.FormValue("digest")
	u.Remote = r.RemoteAddr
	return u, nil
}

func (s *Server) listBindings(w http.ResponseWriter, r *http.Request) error {
	st, err := s.opts.Registry.State()
	if err != nil {
		return err
	}
	w.Header().Set("ETag", st.ETag())
	writeJSON(w, 200, st)
	return nil
}

func (s *Server) answerState(w http.ResponseWriter, st registry.State, err error) error {
	if err != nil {
		return err
	}
	w.Header().Set("ETag", st.ETag())
	writeJSON(w, 200, st)
	return nil
}

func decodeStrict(r *http.Request, v any) error {
	d := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return &registry.Error{Code: registry.CodeInvalid, Message: "request body: " + err.Error()}
	}
	return nil
}

func (s *Server) putBinding(w http.ResponseWriter, r *http.Request) error {
	var b registry.Binding
	if err := decodeStrict(r, &b); err != nil {
		return err
	}
	if b.Name == "" {
		b.Name = r.PathValue("name")
	}
	if b.Name != r.PathValue("name") {
		return &registry.Error{Code: registry.CodeInvalid, Message: fmt.Sprintf("body names binding %q, path %q", b.Name, r.PathValue("name"))}
	}
	st, err := s.opts.Registry.PutBinding(r.Context(), b, r.Header.Get("If-Match"), r.RemoteAddr)
	return s.answerState(w, st, err)
}

func (s *Server) deleteBinding(w http.ResponseWriter, r *http.Request) error {
	st, err := s.opts.Registry.DeleteBinding(r.Context(), r.PathValue("name"), r.Header.Get("If-Match"), r.RemoteAddr)
	return s.answerState(w, st, err)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	st, err := s.opts.Registry.Rollback(r.Context(), r.PathValue("name"), r.Header.Get("If-Match"), r.RemoteAddr)
	return s.answerState(w, st, err)
}

func (s *Server) reorder(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Names []string `json:"names"`
	}
	if err := decodeStrict(r, &body); err != nil {
		return err
	}
	st, err := s.opts.Registry.Reorder(r.Context(), body.Names, r.Header.Get("If-Match"), r.RemoteAddr)
	return s.answerState(w, st, err)
}

// ServerInfo is one upstream server in GET /v1/servers.
type ServerInfo struct {
	Name     string        `json:"name"`
	Strategy string        `json:"strategy"`
	Session  string        `json:"session"`
	Replicas []ReplicaInfo `json:"replicas"`
}

// ReplicaInfo is one replica of a server.
type ReplicaInfo struct {
	Name      string `json:"name"`
	Transport string `json:"transport"`
	Healthy   bool   `json:"healthy"` // false while ejected after failures
	InFlight  int64  `json:"in_flight"`
}

func (s *Server) servers(w http.ResponseWriter, r *http.Request) error {
	snap := s.opts.Gateway.Pipeline().Load()
	now := time.Now()
	out := []ServerInfo{}
	for _, name := range snap.Order {
		srv := snap.Server(name)
		si := ServerInfo{Name: name, Strategy: srv.Config.Strategy, Session: srv.Config.Session}
		for _, rep := range srv.Replicas {
			si.Replicas = append(si.Replicas, ReplicaInfo{Name: rep.Name(), Transport: rep.Spec.Transport, Healthy: rep.Up(now), InFlight: rep.InFlight()})
		}
		out = append(out, si)
	}
	writeJSON(w, 200, map[string]any{"servers": out})
	return nil
}

// reload re-reads the config file and applies its plugins and bindings. Server changes need a
// restart: they are refused rather than half applied.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) error {
	err := s.reloadConfig(r)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]string{"status": "reloaded"})
	return nil
}

func (s *Server) reloadConfig(r *http.Request) error {
	record := func(err error) error {
		s.opts.Registry.Record(registry.Event{Action: "pipeline.reload", Code: registry.CodeOf(err), Message: err.Error(), Remote: r.RemoteAddr})
		return err
	}
	if s.opts.ConfigPath == "" {
		return record(&registry.Error{Code: registry.CodeInvalid, Message: "the gateway runs without a config file: nothing to reload"})
	}
	cfg, err := config.Load(s.opts.ConfigPath)
	if err != nil {
		return record(&registry.Error{Code: registry.CodeInvalid, Message: err.Error(), Err: err})
	}
	if !reflect.DeepEqual(cfg.Servers, s.opts.Config.Servers) {
		return record(&registry.Error{Code: registry.CodeInvalid, Message: "servers changed in " + s.opts.ConfigPath + ": restart the gateway to apply server changes (plugins and bindings reload live)"})
	}
	static, err := registry.StaticFrom(cfg)
	if err != nil {
		return record(&registry.Error{Code: registry.CodeInvalid, Message: err.Error(), Err: err})
	}
	return s.opts.Live.Reload(r.Context(), s.opts.Registry, static, r.RemoteAddr)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	n := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 || n > 10000 {
			return &registry.Error{Code: registry.CodeInvalid, Message: "limit: want 1-10000"}
		}
	}
	evs, err := s.opts.Registry.Events(n)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"events": evs})
	return nil
}
