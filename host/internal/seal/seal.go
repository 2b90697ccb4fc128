// Package seal turns small state into opaque, authenticated tokens and back. The gateway seals a
// client session's state into the session id, so that any replica holding the same key can take
// the session over without a shared store.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// version prefixes every token so that a later format can coexist with this one.
const version = 1

// ErrInvalid is returned for a token that was not sealed with this key, or was altered.
var ErrInvalid = errors.New("seal: invalid token")

// Sealer seals and opens tokens with AES-256-GCM under a key derived from a secret. It is safe
// for concurrent use.
type Sealer struct{ aead cipher.AEAD }

// New derives the sealing key from secret (at least 16 bytes) with HKDF-SHA256, once: sealing a
// token then costs one AEAD operation.
func New(secret []byte) (*Sealer, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("seal: the secret must have at least 16 bytes, has %d", len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, []byte("portcullis"), "session id v1", 32)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Random returns a sealer under a fresh random key: its tokens are valid in this process only.
func Random() *Sealer {
	secret := make([]byte, 32)
	rand.Read(secret)
	s, _ := New(secret)
	return s
}

// Seal returns a URL-safe token carrying plain. Its 96-bit random nonce makes every token
// distinct and unguessable even for equal state.
func (s *Sealer) Seal(plain []byte) string {
	nonce := make([]byte, s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce)
	out := append([]byte{version}, nonce...)
	out = s.aead.Seal(out, nonce, plain, []byte{version})
	return base64.RawURLEncoding.EncodeToString(out)
}

// Open returns the state a token carries, or ErrInvalid.
func (s *Sealer) Open(token string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < 1+n+s.aead.Overhead() || raw[0] != version {
		return nil, ErrInvalid
	}
	plain, err := s.aead.Open(nil, raw[1:1+n], raw[1+n:], raw[:1])
	if err != nil {
		return nil, ErrInvalid
	}
	return plain, nil
}
