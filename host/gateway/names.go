package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxToolName is the longest tool name MCP clients accept.
const maxToolName = 64

// view is what one endpoint exposes: every server with prefixed names (/mcp), or one server as
// it is (/mcp/{server}).
type view struct {
	single  string   // the server of a single-server view; "" for the aggregate
	servers []string // the servers the view reaches, in configuration order
	sep     string   // namespace separator of the aggregate
	bare    string   // the server whose names the aggregate shows without a prefix, if any
}

func (v *view) aggregate() bool { return v.single == "" }

// expose returns the name a client sees for a server's tool or prompt. Names that would pass the
// 64-character limit are shortened deterministically: the head of the name, then a hash of the
// whole so that two long names with the same head stay apart.
func (v *view) expose(server, name string) (exposed string, shortened bool) {
	if !v.aggregate() || server == v.bare {
		return name, false
	}
	full := server + v.sep + name
	if len(full) <= maxToolName {
		return full, false
	}
	sum := sha256.Sum256([]byte(name))
	tag := "-" + hex.EncodeToString(sum[:4])
	keep := maxToolName - len(server) - len(v.sep) - len(tag)
	return server + v.sep + name[:keep] + tag, true
}

// split finds the server a client-visible name belongs to and the name without the prefix.
// Server names never contain the separator, so the first separator ends the server name.
func (v *view) split(exposed string) (server, name string, ok bool) {
	if !v.aggregate() {
		return v.single, exposed, true
	}
	server, name, ok = strings.Cut(exposed, v.sep)
	if !ok || name == "" || !v.has(server) || server == v.bare {
		if v.bare != "" {
			return v.bare, exposed, true
		}
		return "", "", false
	}
	return server, name, true
}

func (v *view) has(server string) bool {
	for _, s := range v.servers {
		if s == server {
			return true
		}
	}
	return false
}
