// Package identity says who is calling. Every request resolves to a Principal before anything
// else happens; sessions, access checks, guardrails, traces and audit records all key on it.
package identity

import (
	"crypto/sha256"
	"encoding/hex"
)

// Principal is the caller of one request.
type Principal struct {
	Agent  string   // the agent's name, or "anonymous"
	Team   string   // the agent's team, when known
	Scopes []string // what the caller may reach; nil means no restriction has been configured
	// Key identifies the credential the request came with. A session is bound to the key that
	// opened it and refused with any other.
	Key string
}

// Authenticator resolves the Authorization header of a request to a principal.
type Authenticator interface {
	Authenticate(authorization []byte) (Principal, error)
}

// Open accepts every caller and tells them apart by the credential they present, so that one
// caller cannot ride another's session even before agent tokens are configured.
type Open struct{}

// Authenticate implements Authenticator.
func (Open) Authenticate(authorization []byte) (Principal, error) {
	if len(authorization) == 0 {
		return Principal{Agent: "anonymous", Key: "none"}, nil
	}
	sum := sha256.Sum256(authorization)
	return Principal{Agent: "anonymous", Key: hex.EncodeToString(sum[:16])}, nil
}
