package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/portcullis-mcp/portcullis/host/admin"
	"github.com/portcullis-mcp/portcullis/registry"
)

const pluginUsage = `Usage: portcullis plugin COMMAND [flags]

  push FILE.wasm --manifest plugin.json [--sign-key KEYFILE]   upload a plugin version
  list                                                       plugin versions and bindings
  bind NAME[@VERSION] [--as BINDING] [--config JSON] [--servers a,b] [--tools x,y]
       [--direction both|request|response] [--mode enforce|monitor]
       [--on-failure fail-closed|fail-open] [--order N]       create or change a binding (live)
  unbind BINDING                                             remove a binding (live)
  rollback BINDING                                           bind the version it had before (live)
  delete NAME@VERSION                                        delete a stored version (refused while
                                                             bound or a rollback target)
  keygen --out KEYFILE                                       make an ed25519 signing key; prints the public key

Every command but keygen takes --admin URL (default $PORTCULLIS_ADMIN_URL or
http://127.0.0.1:9090) and reads the token from $PORTCULLIS_ADMIN_TOKEN.
`

func pluginMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("plugin "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, pluginUsage) }
	adminURL := fs.String("admin", envOr("PORTCULLIS_ADMIN_URL", "http://127.0.0.1:9090"), "admin API URL")
	fail := func(err error) int {
		var e *registry.Error
		switch {
		case errors.As(err, &e) && e.Code == "unauthorized":
			fmt.Fprintf(stderr, "portcullis: %s: %s (the CLI sends $PORTCULLIS_ADMIN_TOKEN; it must be the gateway's admin.token)\n", e.Code, e.Message)
		case errors.As(err, &e):
			fmt.Fprintf(stderr, "portcullis: %s: %s\n", e.Code, e.Message)
		case errors.Is(err, syscall.ECONNREFUSED):
			fmt.Fprintf(stderr, "portcullis: %v\n(is the gateway running with an admin: section and a token? --admin or $PORTCULLIS_ADMIN_URL names its admin listener)\n", err)
		default:
			fmt.Fprintf(stderr, "portcullis: %v\n", err)
		}
		return 1
	}
	// Flags may come before or after the positional argument.
	parse := func() (string, bool) {
		if err := fs.Parse(args); err != nil {
			return "", false
		}
		pos := fs.Args()
		if len(pos) > 0 && !strings.HasPrefix(pos[0], "-") {
			if err := fs.Parse(pos[1:]); err != nil {
				return "", false
			}
			if fs.NArg() > 0 {
				fmt.Fprintf(stderr, "portcullis: unexpected %q\n", fs.Arg(0))
				return "", false
			}
			return pos[0], true
		}
		return "", true
	}
	client := func() *admin.Client {
		return &admin.Client{URL: *adminURL, Token: os.Getenv("PORTCULLIS_ADMIN_TOKEN")}
	}
	if adminCommands[cmd] && os.Getenv("PORTCULLIS_ADMIN_TOKEN") == "" {
		fmt.Fprintln(stderr, "portcullis: no admin token: set $PORTCULLIS_ADMIN_TOKEN to the gateway's admin.token")
		return 1
	}
	switch cmd {
	case "push":
		manifest := fs.String("manifest", "", "the plugin's manifest (JSON)")
		signKey := fs.String("sign-key", "", "file with an ed25519 private key (hex or base64) to sign the upload")
		file, ok := parse()
		if !ok || file == "" || *manifest == "" {
			fmt.Fprint(stderr, pluginUsage)
			return 2
		}
		wasm, err := os.ReadFile(file)
		if err != nil {
			return fail(err)
		}
		man, err := os.ReadFile(*manifest)
		if err != nil {
			return fail(err)
		}
		var key ed25519.PrivateKey
		if *signKey != "" {
			text, err := os.ReadFile(*signKey)
			if err != nil {
				return fail(err)
			}
			if key, err = admin.ParsePrivateKey(text); err != nil {
				return fail(err)
			}
		}
		v, err := client().Push(ctx, wasm, man, key)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "pushed %s (%s, %d bytes)\n", v.ID(), v.Digest, v.Size)
		return 0
	case "list":
		if _, ok := parse(); !ok {
			return 2
		}
		c := client()
		vs, err := c.Plugins(ctx)
		if err != nil {
			return fail(err)
		}
		st, err := c.Bindings(ctx)
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PLUGIN\tVERSION\tDIGEST\tSIGNED\tBOUND BY")
		for _, v := range vs {
			signed := "-"
			if v.Builtin {
				signed = "built-in"
			} else if v.SignedBy != "" {
				signed = v.SignedBy[:16] + "…"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, v.Version, v.Digest[:19]+"…", signed, strings.Join(v.BoundBy, ","))
		}
		fmt.Fprintf(tw, "\nBINDING (revision %d)\tPLUGIN\tORDER\tSERVERS\tTOOLS\tMODE\tROLLBACK TO\n", st.Revision)
		for _, b := range st.Bindings {
			prev := "-"
			if n := len(b.Previous); n > 0 {
				prev = b.Previous[n-1]
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", b.Name, b.ID(), b.Order, orAll(b.Servers), orAll(b.Tools), or(b.Mode, "enforce"), prev)
		}
		tw.Flush()
		return 0
	case "bind":
		as := fs.String("as", "", "binding name (default: the plugin name)")
		cfg := fs.String("config", "", "binding config, JSON")
		servers := fs.String("servers", "", "server globs, comma-separated (default: every server)")
		tools := fs.String("tools", "", "tool globs, comma-separated (default: every call)")
		direction := fs.String("direction", "", "both, request or response")
		mode := fs.String("mode", "", "enforce or monitor")
		onFailure := fs.String("on-failure", "", "fail-closed or fail-open")
		order := fs.Int("order", 0, "bindings run lowest first")
		target, ok := parse()
		if !ok || target == "" {
			fmt.Fprint(stderr, pluginUsage)
			return 2
		}
		name, version, _ := strings.Cut(target, "@")
		if *as == "" {
			*as = name
		}
		if *cfg != "" && !json.Valid([]byte(*cfg)) {
			return fail(fmt.Errorf("--config is not valid JSON"))
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		st, err := client().Bind(ctx, *as, func(b *registry.Binding) {
			if b.Plugin != name {
				b.Version = "" // another plugin: its latest unless named
			}
			b.Plugin = name
			if version != "" {
				b.Version = version
			}
			if set["config"] {
				b.Config = json.RawMessage(*cfg)
			}
			if set["servers"] {
				b.Servers = splitList(*servers)
			}
			if set["tools"] {
				b.Tools = splitList(*tools)
			}
			if set["direction"] {
				b.Direction = *direction
			}
			if set["mode"] {
				b.Mode = *mode
			}
			if set["on-failure"] {
				b.OnFailure = *onFailure
			}
			if set["order"] {
				b.Order = *order
			}
		})
		if err != nil {
			return fail(err)
		}
		for _, b := range st.Bindings {
			if b.Name == *as {
				fmt.Fprintf(stdout, "bound %s to %s (revision %d): live\n", b.Name, b.ID(), st.Revision)
			}
		}
		return 0
	case "unbind", "rollback":
		binding, ok := parse()
		if !ok || binding == "" {
			fmt.Fprint(stderr, pluginUsage)
			return 2
		}
		c := client()
		var st registry.State
		var err error
		if cmd == "unbind" {
			st, err = c.Unbind(ctx, binding)
		} else {
			st, err = c.Rollback(ctx, binding)
		}
		if err != nil {
			return fail(err)
		}
		if cmd == "unbind" {
			fmt.Fprintf(stdout, "unbound %s (revision %d): live\n", binding, st.Revision)
		}
		for _, b := range st.Bindings {
			if b.Name == binding {
				fmt.Fprintf(stdout, "rolled %s back to %s (revision %d): live\n", b.Name, b.ID(), st.Revision)
			}
		}
		return 0
	case "delete":
		target, ok := parse()
		if !ok || target == "" {
			fmt.Fprint(stderr, pluginUsage)
			return 2
		}
		name, version, _ := strings.Cut(target, "@")
		if name == "" || version == "" {
			fmt.Fprintf(stderr, "portcullis: plugin delete takes NAME@VERSION, got %q\n", target)
			return 2
		}
		if err := client().Delete(ctx, name, version); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "deleted %s@%s\n", name, version)
		return 0
	case "keygen":
		out := fs.String("out", "", "file to write the private key to (hex, mode 0600)")
		if _, ok := parse(); !ok || *out == "" {
			fmt.Fprint(stderr, pluginUsage)
			return 2
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(*out, []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "private key written to %s\npublic key (for admin.trusted_keys): %s\n", *out, hex.EncodeToString(pub))
		return 0
	}
	fmt.Fprintf(stderr, "portcullis: unknown plugin command %q\n\n%s", cmd, pluginUsage)
	return 2
}

// adminCommands are the plugin commands that call the admin API.
var adminCommands = map[string]bool{"push": true, "list": true, "bind": true, "unbind": true, "rollback": true, "delete": true}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func orAll(list []string) string {
	if len(list) == 0 {
		return "*"
	}
	return strings.Join(list, ",")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
