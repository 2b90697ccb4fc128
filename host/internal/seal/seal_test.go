package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealer_RoundTripAndTamper(t *testing.T) {
	a, err := New([]byte("a shared secret of the cluster"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New([]byte("a shared secret of the cluster"))
	other, _ := New([]byte("another cluster's secret......"))
	state := []byte(`{"v":"2025-11-25","k":"caller"}`)
	tok := a.Seal(state)
	if got, err := b.Open(tok); err != nil || !bytes.Equal(got, state) {
		t.Fatalf("same key on another replica: %q %v", got, err)
	}
	if tok == a.Seal(state) {
		t.Fatal("two seals of the same state gave the same token")
	}
	if _, err := other.Open(tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("other key: %v", err)
	}
	flipped := []byte(tok)
	flipped[len(flipped)/2] ^= 1
	for _, bad := range []string{string(flipped), tok[:10], "", "!!!"} {
		if _, err := a.Open(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("tampered token %q: %v", bad, err)
		}
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

func BenchmarkSealer_Seal(b *testing.B) {
	s := Random()
	state := bytes.Repeat([]byte("x"), 300)
	b.ReportAllocs()
	for b.Loop() {
		s.Seal(state)
	}
}

func BenchmarkNew(b *testing.B) {
	secret := []byte("a shared secret of the cluster")
	for b.Loop() {
		New(secret)
	}
}

func FuzzOpen(f *testing.F) {
	s := Random()
	f.Add(s.Seal([]byte("x")))
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, tok string) { s.Open(tok) })
}
