package gateway

import (
	"crypto/rand"
	"encoding/json"
	"time"

	"github.com/portcullis-mcp/portcullis/host/identity"
)

// sessionState is what a Streamable HTTP session id carries, sealed: enough for any replica with
// the same session_key to take the session over. Upstream sessions are not in it: the replica
// that takes over opens its own.
type sessionState struct {
	Version string          `json:"v"`
	Caps    json.RawMessage `json:"c,omitempty"`
	Info    json.RawMessage `json:"i,omitempty"`
	Caller  string          `json:"k"`
	Server  string          `json:"s,omitempty"` // the endpoint's server; "" for the aggregate
	Created int64           `json:"t"`
	Random  []byte          `json:"r"` // 128 random bits, so that every id is unique and unguessable
}

// sealID gives an initialized session its id.
func (g *Gateway) sealID(cs *clientSession) string {
	r := make([]byte, 16)
	rand.Read(r)
	b, _ := json.Marshal(sessionState{Version: cs.version, Caps: cs.caps, Info: cs.info, Caller: cs.caller.Key,
		Server: cs.view.single, Created: time.Now().Unix(), Random: r})
	return g.sealer.Seal(b)
}

// resume rebuilds a session this replica does not hold from its sealed id: one opened on another
// replica, or one this replica let expire while idle. It refuses ids that fail to open, belong
// to another caller or endpoint, are older than session_max_age, or were ended with DELETE here.
func (g *Gateway) resume(id string, v *view, caller identity.Principal) *clientSession {
	plain, err := g.sealer.Open(id)
	if err != nil {
		return nil
	}
	var st sessionState
	if json.Unmarshal(plain, &st) != nil || st.Caller != caller.Key || st.Server != v.single ||
		time.Since(time.Unix(st.Created, 0)) > g.cfg.SessionMaxAge.D() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ended := g.ended[id]; ended || len(g.sessions) >= g.cfg.MaxSessions {
		return nil
	}
	if cs := g.sessions[id]; cs != nil { // resumed meanwhile by a concurrent request
		return cs
	}
	cs := newClientSession(caller, v)
	cs.id, cs.version, cs.caps, cs.info = id, st.Version, st.Caps, st.Info
	g.sessions[id] = cs
	g.log.Info("session resumed from its id", "session", id[:12])
	return cs
}
