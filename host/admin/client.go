package admin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis-mcp/portcullis/registry"
)

// Client calls the admin API; `portcullis plugin` uses it. Errors the API returns are
// *registry.Error values with the API's code.
type Client struct {
	URL   string // e.g. http://127.0.0.1:9090
	Token string
	HTTP  *http.Client // http.DefaultClient when nil
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType, ifMatch string, out any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("admin client: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e Error
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			return resp.Header, &registry.Error{Code: e.Error.Code, Message: e.Error.Message}
		}
		return resp.Header, fmt.Errorf("admin client: %s %s: %s", method, path, resp.Status)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.Header, fmt.Errorf("admin client: %s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// Push uploads a module with its manifest and, when key is not nil, a signature made with it.
func (c *Client) Push(ctx context.Context, wasm, manifest []byte, key ed25519.PrivateKey) (registry.Version, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	parts := map[string][]byte{"wasm": wasm, "manifest": manifest}
	if key != nil {
		parts["signature"] = []byte(base64.StdEncoding.EncodeToString(registry.Sign(key, wasm, manifest)))
	}
	for _, name := range []string{"wasm", "manifest", "signature"} {
		if b, ok := parts[name]; ok {
			w, _ := mw.CreateFormFile(name, name)
			w.Write(b)
		}
	}
	mw.WriteField("digest", registry.Digest(wasm))
	mw.Close()
	var v registry.Version
	_, err := c.do(ctx, "POST", "/v1/plugins", &body, mw.FormDataContentType(), "", &v)
	return v, err
}

// Plugins lists the plugin versions.
func (c *Client) Plugins(ctx context.Context) ([]registry.Version, error) {
	var out struct {
		Plugins []registry.Version `json:"plugins"`
	}
	_, err := c.do(ctx, "GET", "/v1/plugins", nil, "", "", &out)
	return out.Plugins, err
}

// Bindings returns the bindings and their revision.
func (c *Client) Bindings(ctx context.Context) (registry.State, error) {
	var st registry.State
	_, err := c.do(ctx, "GET", "/v1/bindings", nil, "", "", &st)
	return st, err
}

// Bind creates or changes the binding called name: edit gets the current binding (or a new
// one with only the name set) and changes it. The change is sent with the revision it was read
// at, so a concurrent change makes it fail with code conflict rather than be overwritten.
func (c *Client) Bind(ctx context.Context, name string, edit func(*registry.Binding)) (registry.State, error) {
	st, err := c.Bindings(ctx)
	if err != nil {
		return st, err
	}
	b := registry.Binding{Name: name}
	for _, cur := range st.Bindings {
		if cur.Name == name {
			b = cur
		}
	}
	edit(&b)
	b.Previous = nil // the registry keeps the history
	body, _ := json.Marshal(b)
	var out registry.State
	_, err = c.do(ctx, "PUT", "/v1/bindings/"+url.PathEscape(name), bytes.NewReader(body), "application/json", st.ETag(), &out)
	return out, err
}

// Unbind deletes a binding.
func (c *Client) Unbind(ctx context.Context, name string) (registry.State, error) {
	var out registry.State
	_, err := c.do(ctx, "DELETE", "/v1/bindings/"+url.PathEscape(name), nil, "", "", &out)
	return out, err
}

// Rollback binds the version a binding had before.
func (c *Client) Rollback(ctx context.Context, name string) (registry.State, error) {
	var out registry.State
	_, err := c.do(ctx, "POST", "/v1/bindings/"+url.PathEscape(name)+"/rollback", nil, "", "", &out)
	return out, err
}

// Delete removes a stored plugin version. The API refuses built-ins and versions that a binding
// uses or may roll back to (code bound).
func (c *Client) Delete(ctx context.Context, name, version string) error {
	_, err := c.do(ctx, "DELETE", "/v1/plugins/"+url.PathEscape(name)+"/"+url.PathEscape(version), nil, "", "", nil)
	return err
}

// ParsePrivateKey reads an ed25519 private key written as hex or base64: the 32-byte seed or
// the 64-byte key.
func ParsePrivateKey(text []byte) (ed25519.PrivateKey, error) {
	t := strings.TrimSpace(string(text))
	b, err := hex.DecodeString(t)
	if err != nil {
		b, err = base64.StdEncoding.DecodeString(t)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("signing key: want hex or base64: %w", err)
	case len(b) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case len(b) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, fmt.Errorf("signing key: %d bytes; want a %d-byte seed or a %d-byte key", len(b), ed25519.SeedSize, ed25519.PrivateKeySize)
}
