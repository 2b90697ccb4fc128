package jsonrpc

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecode_Kinds(t *testing.T) {
	tests := []struct {
		name, frame string
		kind        Kind
		method, id  string
		tool        string
		err         error
	}{
		{"call", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"everything__echo","arguments":{"message":"hi","n":[1,2,{"x":null}]}}}`, KindRequest, "tools/call", "7", `"everything__echo"`, nil},
		{"string id", `{"id":"a-1","method":"ping","jsonrpc":"2.0"}`, KindRequest, "ping", `"a-1"`, "", nil},
		{"notification", ` {"jsonrpc":"2.0","method":"notifications/initialized"} `, KindNotification, "notifications/initialized", "", "", nil},
		{"response", `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`, KindResponse, "", "1", "", nil},
		{"error response", `{"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":"no"}}`, KindResponse, "", `"x"`, "", nil},
		{"completion ref", `{"jsonrpc":"2.0","id":2,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"a__p"},"argument":{"name":"x","value":"y"}}}`, KindRequest, "completion/complete", "2", `"a__p"`, nil},
		{"batch", `[{"jsonrpc":"2.0","method":"ping","id":1}]`, KindInvalid, "", "", "", ErrBatch},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"`, KindInvalid, "", "", "", ErrParse},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"method":"ping"} x`, KindInvalid, "", "", "", ErrParse},
		{"bad escape", `{"jsonrpc":"2.0","id":1,"method":"p\qing"}`, KindInvalid, "", "", "", ErrParse},
		{"empty", ``, KindInvalid, "", "", "", ErrParse},
		{"not object", `42`, KindInvalid, "", "", "", ErrInvalid},
		{"no version", `{"id":1,"method":"ping"}`, KindInvalid, "", "", "", ErrInvalid},
		{"wrong version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, KindInvalid, "", "", "", ErrInvalid},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, KindInvalid, "", "", "", ErrInvalid},
		{"null request id", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, KindInvalid, "", "", "", ErrInvalid},
		{"numeric method", `{"jsonrpc":"2.0","id":1,"method":5}`, KindInvalid, "", "", "", ErrInvalid},
		{"scalar params", `{"jsonrpc":"2.0","id":1,"method":"x","params":3}`, KindInvalid, "", "", "", ErrInvalid},
		{"duplicate id", `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`, KindInvalid, "", "", "", ErrInvalid},
		{"duplicate tool name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe","arguments":{},"name":"delete_all"}}`, KindInvalid, "", "", "", ErrInvalid},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, KindInvalid, "", "", "", ErrInvalid},
		{"escaped duplicate tool name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe","arguments":{},"na\u006de":"delete_all"}}`, KindInvalid, "", "", "", ErrInvalid},
		{"escaped duplicate method", `{"jsonrpc":"2.0","id":1,"method":"ping","\u006dethod":"tools/call"}`, KindInvalid, "", "", "", ErrInvalid},
		{"bad escape in a key", `{"jsonrpc":"2.0","id":1,"method":"ping","\q":1}`, KindInvalid, "", "", "", ErrParse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var env Envelope
			err := Decode([]byte(tc.frame), &env)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			f := []byte(tc.frame)
			if env.Kind != tc.kind || string(env.Method) != tc.method || string(env.ID.In(f)) != tc.id || string(env.Name.In(f)) != tc.tool {
				t.Fatalf("got kind=%v method=%q id=%q name=%q", env.Kind, env.Method, env.ID.In(f), env.Name.In(f))
			}
		})
	}
}

func TestSplice_RenamesToolAndID(t *testing.T) {
	f := []byte(`{"jsonrpc":"2.0","id":"abc","method":"tools/call","params":{"name":"srv__echo","arguments":{"m":1},"_meta":{"progressToken":"p1"}}}`)
	var env Envelope
	if err := Decode(f, &env); err != nil {
		t.Fatal(err)
	}
	out := Splice(nil, f, Edit{env.Name, []byte(`"echo"`)}, Edit{env.ID, []byte(`17`)}, Edit{env.ProgressToken, []byte(`17`)})
	var got struct {
		ID     int `json:"id"`
		Params struct {
			Name string          `json:"name"`
			Args json.RawMessage `json:"arguments"`
			Meta struct {
				Token int `json:"progressToken"`
			} `json:"_meta"`
		} `json:"params"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("spliced frame is not JSON: %v: %s", err, out)
	}
	if got.ID != 17 || got.Params.Name != "echo" || string(got.Params.Args) != `{"m":1}` || got.Params.Meta.Token != 17 {
		t.Fatalf("spliced = %s", out)
	}
}

func TestAppendError_IsValidJSON(t *testing.T) {
	out := AppendError(nil, nil, CodeParseError, "bad \"frame\"\n\x01 é")
	var v struct {
		ID    any `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.ID != nil || v.Error.Code != CodeParseError || v.Error.Message != "bad \"frame\"\n\x01 é" {
		t.Fatalf("got %+v", v)
	}
}

func TestUnquote(t *testing.T) {
	for raw, want := range map[string]string{`"plain"`: "plain", `"a\u0041\n"`: "aA\n"} {
		got, ok := Unquote([]byte(raw))
		if !ok || string(got) != want {
			t.Errorf("Unquote(%s) = %q, %v", raw, got, ok)
		}
	}
	if _, ok := Unquote([]byte(`12`)); ok {
		t.Error("Unquote accepted a number")
	}
}

// FuzzDecode checks that Decode never panics and agrees with encoding/json on what is valid JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{}}}`,
		`{"jsonrpc":"2.0","method":"n","params":{"_meta":{"progressToken":3}}}`,
		`[{"jsonrpc":"2.0"}]`, `{"a":[1,2.5e3,-0,true,false,null,"\u00e9"]}`, `{`, `"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var env Envelope
		err := Decode(b, &env)
		if valid := json.Valid(b); valid == errors.Is(err, ErrParse) {
			t.Fatalf("json.Valid=%v but Decode err=%v for %q", valid, err, b)
		}
		if err == nil && env.Kind == KindInvalid {
			t.Fatalf("no error but invalid kind for %q", b)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	f := []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"everything__echo","arguments":{"message":"hello world","items":[1,2,3,4,5,6,7,8],"nested":{"a":"b","c":[true,false,null]}},"_meta":{"progressToken":"tok-1"}}}`)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	var env Envelope
	for b.Loop() {
		if err := Decode(f, &env); err != nil {
			b.Fatal(err)
		}
	}
}

func TestElements(t *testing.T) {
	f := []byte(` [ {"a":1} , {"b":[2,3]},{} ] `)
	var env Envelope
	if err := Decode(f, &env); !errors.Is(err, ErrBatch) {
		t.Fatal(err)
	}
	var got []string
	for _, s := range Elements(f) {
		got = append(got, string(s.In(f)))
	}
	if len(got) != 3 || got[0] != `{"a":1}` || got[1] != `{"b":[2,3]}` || got[2] != `{}` {
		t.Fatalf("elements = %q", got)
	}
}

func TestWithoutMembers(t *testing.T) {
	f := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"a":1, "io.x/v":"2026", "progressToken":"t"},"name":"n"}}`)
	var env Envelope
	if err := Decode(f, &env); err != nil {
		t.Fatal(err)
	}
	meta, _ := Member(f, env.Params, "_meta")
	got := WithoutMembers(f, meta, "io.x/v", "a")
	if string(got) != `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":"t"},"name":"n"}}` {
		t.Fatalf("got %s", got)
	}
	if same := WithoutMembers(f, meta, "absent"); &same[0] != &f[0] {
		t.Fatal("nothing removed but the frame was copied")
	}
}
