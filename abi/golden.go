package abi

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

//go:embed testdata/vectors.json
var vectors []byte

// GoldenInputs returns the input messages of the golden vectors (testdata/vectors.json), one or
// more per hook, decoded from their exact encoding. The registry runs a plugin's declared hooks on
// them as a self-test before the plugin may run on traffic.
func GoldenInputs() ([]Input, error) {
	var v struct {
		Inputs []struct {
			Name string `json:"name"`
			Hex  string `json:"hex"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(vectors, &v); err != nil {
		return nil, fmt.Errorf("abi: golden vectors: %w", err)
	}
	out := make([]Input, 0, len(v.Inputs))
	for _, vi := range v.Inputs {
		b, err := hex.DecodeString(vi.Hex)
		if err != nil {
			return nil, fmt.Errorf("abi: golden input %s: %w", vi.Name, err)
		}
		var in Input
		if err := DecodeInput(b, &in); err != nil {
			return nil, fmt.Errorf("abi: golden input %s: %w", vi.Name, err)
		}
		out = append(out, in)
	}
	return out, nil
}
