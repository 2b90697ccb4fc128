package abi_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"testing"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/abi/abitest"
)

var update = flag.Bool("update", false, "rewrite the hex of valid vectors in testdata/vectors.json from the encoder")

func loadVectors(t testing.TB) *abitest.Vectors {
	t.Helper()
	v, err := abitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	if v.ABIVersion != abi.Version {
		t.Fatalf("vectors are for ABI %d, package is %d", v.ABIVersion, abi.Version)
	}
	return v
}

// TestGolden_Update regenerates hex fields when run with -update; the other
// tests then check that the file and the code agree.
func TestGolden_Update(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate vectors")
	}
	v := loadVectors(t)
	for i := range v.Inputs {
		in, err := v.Inputs[i].ABI()
		if err != nil {
			t.Fatal(err)
		}
		v.Inputs[i].Hex = hex.EncodeToString(abi.AppendInput(nil, &in))
	}
	for i := range v.Verdicts {
		vd, err := v.Verdicts[i].ABI()
		if err != nil {
			t.Fatal(err)
		}
		v.Verdicts[i].Hex = hex.EncodeToString(abi.AppendVerdict(nil, &vd))
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(abitest.Path(), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPutInput_Golden(t *testing.T) {
	for _, vec := range loadVectors(t).Inputs {
		t.Run(vec.Name, func(t *testing.T) {
			in, err := vec.ABI()
			if err != nil {
				t.Fatal(err)
			}
			want := abitest.Bytes(vec.Hex)
			if n := abi.InputSize(&in); n != len(want) {
				t.Fatalf("InputSize = %d, want %d", n, len(want))
			}
			got := make([]byte, len(want))
			abi.PutInput(got, &in)
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding differs\n got %x\nwant %x", got, want)
			}
		})
	}
}

func TestDecodeInput_Golden(t *testing.T) {
	for _, vec := range loadVectors(t).Inputs {
		t.Run(vec.Name, func(t *testing.T) {
			want, err := vec.ABI()
			if err != nil {
				t.Fatal(err)
			}
			var got abi.Input
			if err := abi.DecodeInput(abitest.Bytes(vec.Hex), &got); err != nil {
				t.Fatal(err)
			}
			normalize := func(in *abi.Input) {
				if len(in.Config) == 0 {
					in.Config = nil
				}
				if len(in.Frame) == 0 {
					in.Frame = nil
				}
				if len(in.Replicas) == 0 {
					in.Replicas = nil
				}
			}
			normalize(&got)
			normalize(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestDecodeInput_Malformed(t *testing.T) {
	for _, vec := range loadVectors(t).MalformedInputs {
		t.Run(vec.Name, func(t *testing.T) {
			var in abi.Input
			err := abi.DecodeInput(abitest.Bytes(vec.Hex), &in)
			if got := abitest.RuleOf(err); got != vec.Rule {
				t.Fatalf("error %v has rule %q, want %q", err, got, vec.Rule)
			}
		})
	}
}

func TestAppendVerdict_Golden(t *testing.T) {
	for _, vec := range loadVectors(t).Verdicts {
		t.Run(vec.Name, func(t *testing.T) {
			v, err := vec.ABI()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := abi.AppendVerdict(nil, &v), abitest.Bytes(vec.Hex); !bytes.Equal(got, want) {
				t.Fatalf("encoding differs\n got %x\nwant %x", got, want)
			}
		})
	}
}

func TestDecodeVerdict_Golden(t *testing.T) {
	for _, vec := range loadVectors(t).Verdicts {
		t.Run(vec.Name, func(t *testing.T) {
			want, err := vec.ABI()
			if err != nil {
				t.Fatal(err)
			}
			var got abi.Verdict
			if err := abi.DecodeVerdict(abitest.Bytes(vec.Hex), &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Payload) == 0 {
				got.Payload = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded %+v, want %+v", got, want)
			}
		})
	}
}

func TestDecodeVerdict_Malformed(t *testing.T) {
	for _, vec := range loadVectors(t).MalformedVerdicts {
		t.Run(vec.Name, func(t *testing.T) {
			var v abi.Verdict
			err := abi.DecodeVerdict(abitest.Bytes(vec.Hex), &v)
			if got := abitest.RuleOf(err); got != vec.Rule {
				t.Fatalf("error %v has rule %q, want %q", err, got, vec.Rule)
			}
		})
	}
}

// TestPutInput_Layout pins the layout byte by byte, independently of the
// vectors file, so that a wrong encoder cannot regenerate wrong vectors.
func TestPutInput_Layout(t *testing.T) {
	in := abi.Input{
		Hook: abi.HookRoute, Direction: abi.DirectionRequest, Server: "s", Tool: "tt",
		Config: []byte("{}"), Frame: []byte("F"),
		Replicas: []abi.Replica{{Name: "r1", InFlight: 2, LatencyMicros: 3, Healthy: true}},
	}
	want := []byte{
		1, 4, 1, 0, // version, hook, direction, flags
		1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // server, tool, agent, team lengths
		2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, // config, frame lengths, replica count
		's', 't', 't', '{', '}', 'F',
		2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, // replica entry
		'r', '1',
	}
	if got := abi.AppendInput(nil, &in); !bytes.Equal(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	v := abi.Verdict{Action: abi.ActionBlock, Code: -2, Payload: []byte("no")}
	wantV := []byte{1, 1, 0, 0, 0xfe, 0xff, 0xff, 0xff, 2, 0, 0, 0, 'n', 'o'}
	if got := abi.AppendVerdict(nil, &v); !bytes.Equal(got, wantV) {
		t.Fatalf("got  %v\nwant %v", got, wantV)
	}
}

func TestPutInput_NoAllocs(t *testing.T) {
	in := abi.Input{Hook: abi.HookRequestGuard, Server: "srv", Frame: []byte(`{"jsonrpc":"2.0"}`),
		Replicas: []abi.Replica{{Name: "a"}}}
	buf := make([]byte, abi.InputSize(&in))
	var v abi.Verdict
	verdict := abi.AppendVerdict(nil, &abi.Verdict{Action: abi.ActionRewrite, Payload: []byte("{}")})
	allocs := testing.AllocsPerRun(100, func() {
		abi.PutInput(buf, &in)
		if err := abi.DecodeVerdict(verdict, &v); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("PutInput+DecodeVerdict allocate %.1f times, want 0", allocs)
	}
}

func TestHook_Allows(t *testing.T) {
	tests := []struct {
		hook abi.Hook
		ok   []abi.Action
	}{
		{abi.HookRequestGuard, []abi.Action{abi.ActionAllow, abi.ActionBlock, abi.ActionRewrite}},
		{abi.HookResponseGuard, []abi.Action{abi.ActionAllow, abi.ActionBlock, abi.ActionRewrite}},
		{abi.HookToolFilter, []abi.Action{abi.ActionAllow, abi.ActionBlock, abi.ActionRewrite}},
		{abi.HookRoute, []abi.Action{abi.ActionAllow, abi.ActionBlock, abi.ActionRoute}},
		{abi.HookAudit, []abi.Action{abi.ActionAllow}},
		{0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.hook.String(), func(t *testing.T) {
			for a := abi.Action(0); a < 5; a++ {
				want := false
				for _, ok := range tt.ok {
					want = want || ok == a
				}
				if got := tt.hook.Allows(a); got != want {
					t.Errorf("Allows(%s) = %v, want %v", a, got, want)
				}
			}
		})
	}
}

func TestParseHook(t *testing.T) {
	for _, h := range abi.Hooks {
		got, ok := abi.ParseHook(h.String())
		if !ok || got != h {
			t.Errorf("ParseHook(%q) = %v, %v", h.String(), got, ok)
		}
		if h.Export() != "portcullis_"+h.String() {
			t.Errorf("%s.Export() = %q", h, h.Export())
		}
	}
	if _, ok := abi.ParseHook("nope"); ok {
		t.Error("ParseHook accepted an unknown name")
	}
}

func FuzzDecodeInput(f *testing.F) {
	for _, vec := range loadVectors(f).Inputs {
		f.Add(abitest.Bytes(vec.Hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in abi.Input
		if abi.DecodeInput(b, &in) != nil {
			return
		}
		if got := abi.AppendInput(nil, &in); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeVerdict(f *testing.F) {
	for _, vec := range loadVectors(f).Verdicts {
		f.Add(abitest.Bytes(vec.Hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v abi.Verdict
		if abi.DecodeVerdict(b, &v) != nil {
			return
		}
		if got := abi.AppendVerdict(nil, &v); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs\n got %x\nwant %x", got, b)
		}
	})
}
