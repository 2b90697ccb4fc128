// Package abitest loads the ABI golden vectors (abi/testdata/vectors.json)
// for SDK and host tests, and converts them to and from abi types.
//
// The file is language neutral: SDKs in other languages read the same JSON.
// Strings in it are the exact bytes of the message fields; "hex" is the exact
// encoding. Malformed cases carry a rule name (see Rule) instead of fields.
package abitest

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/portcullis-mcp/portcullis/abi"
)

// Vectors is the content of vectors.json.
type Vectors struct {
	ABIVersion        int         `json:"abi_version"`
	Inputs            []Input     `json:"inputs"`
	Verdicts          []Verdict   `json:"verdicts"`
	MalformedInputs   []Malformed `json:"malformed_inputs"`
	MalformedVerdicts []Malformed `json:"malformed_verdicts"`
}

// Input is one encoded input message and its fields.
type Input struct {
	Name      string    `json:"name"`
	Hook      string    `json:"hook"`
	Direction string    `json:"direction"`
	Server    string    `json:"server"`
	Tool      string    `json:"tool"`
	Agent     string    `json:"agent"`
	Team      string    `json:"team"`
	Config    string    `json:"config"`
	Frame     string    `json:"frame"`
	Replicas  []Replica `json:"replicas"`
	Hex       string    `json:"hex"`
}

// Replica is one replica table entry.
type Replica struct {
	Name          string `json:"name"`
	InFlight      uint32 `json:"in_flight"`
	LatencyMicros uint32 `json:"latency_us"`
	Healthy       bool   `json:"healthy"`
}

// Verdict is one encoded verdict message and its fields.
type Verdict struct {
	Name    string `json:"name"`
	Action  string `json:"action"`
	Code    int32  `json:"code"`
	Replica uint32 `json:"replica"`
	Payload string `json:"payload"`
	Hex     string `json:"hex"`
}

// Malformed is a message a decoder must refuse, with the rule it breaks.
type Malformed struct {
	Name string `json:"name"`
	Hex  string `json:"hex"`
	Rule string `json:"rule"`
}

// Path returns the location of vectors.json in this repository.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "vectors.json")
}

// Load reads and parses vectors.json.
func Load() (*Vectors, error) {
	b, err := os.ReadFile(Path())
	if err != nil {
		return nil, fmt.Errorf("abitest: %w", err)
	}
	var v Vectors
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("abitest: parse %s: %w", Path(), err)
	}
	return &v, nil
}

// MustLoad is Load for tests: it fails t on error.
func MustLoad(t testing.TB) *Vectors {
	t.Helper()
	v, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Bytes decodes a vector's hex, or panics: the file is test data.
func Bytes(h string) []byte {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(fmt.Sprintf("abitest: bad hex %q: %v", h, err))
	}
	return b
}

var directions = map[string]abi.Direction{
	"none": abi.DirectionNone, "request": abi.DirectionRequest, "response": abi.DirectionResponse,
}

var actions = map[string]abi.Action{
	"allow": abi.ActionAllow, "block": abi.ActionBlock, "rewrite": abi.ActionRewrite, "route": abi.ActionRoute,
}

// ABI returns the vector as an abi.Input.
func (v *Input) ABI() (abi.Input, error) {
	h, ok := abi.ParseHook(v.Hook)
	if !ok {
		return abi.Input{}, fmt.Errorf("abitest: input %s: unknown hook %q", v.Name, v.Hook)
	}
	d, ok := directions[v.Direction]
	if !ok {
		return abi.Input{}, fmt.Errorf("abitest: input %s: unknown direction %q", v.Name, v.Direction)
	}
	in := abi.Input{
		Hook: h, Direction: d, Server: v.Server, Tool: v.Tool, Agent: v.Agent, Team: v.Team,
		Config: []byte(v.Config), Frame: []byte(v.Frame),
	}
	for _, r := range v.Replicas {
		in.Replicas = append(in.Replicas, abi.Replica(r))
	}
	return in, nil
}

// ABI returns the vector as an abi.Verdict.
func (v *Verdict) ABI() (abi.Verdict, error) {
	a, ok := actions[v.Action]
	if !ok {
		return abi.Verdict{}, fmt.Errorf("abitest: verdict %s: unknown action %q", v.Name, v.Action)
	}
	out := abi.Verdict{Action: a, Code: v.Code, Replica: v.Replica}
	if v.Payload != "" {
		out.Payload = []byte(v.Payload)
	}
	return out, nil
}

var rules = map[string]error{
	"short":           abi.ErrShortMessage,
	"version":         abi.ErrVersion,
	"length":          abi.ErrLength,
	"reserved":        abi.ErrReserved,
	"hook":            abi.ErrUnknownHook,
	"direction":       abi.ErrDirection,
	"action":          abi.ErrUnknownAction,
	"reason_too_long": abi.ErrReasonTooLong,
	"reason_utf8":     abi.ErrReasonNotUTF8,
	"value":           abi.ErrUnexpectedValue,
	"payload":         abi.ErrUnexpectedBody,
}

// RuleOf returns the rule name of an abi decoding error, or "" if err is
// not one.
func RuleOf(err error) string {
	for name, e := range rules {
		if errors.Is(err, e) {
			return name
		}
	}
	return ""
}
