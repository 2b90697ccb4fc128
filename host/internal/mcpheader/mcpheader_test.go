package mcpheader

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
)

func TestCheck(t *testing.T) {
	call := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_all","arguments":{}}}`)
	read := []byte(`{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///é.txt"}}`)
	tests := []struct {
		name, method, header string
		frame                []byte
		want                 string // error substring; "" for none
	}{
		{"match", "tools/call", "delete_all", call, ""},
		{"no headers", "", "", call, ""},
		{"name mismatch", "tools/call", "safe", call, `"safe" does not match the body's "delete_all"`},
		{"method mismatch", "tools/list", "", call, `Mcp-Method header "tools/list"`},
		{"base64 name", "tools/call", "=?base64?" + base64.StdEncoding.EncodeToString([]byte("delete_all")) + "?=", call, ""},
		{"base64 mismatch", "", "=?base64?" + base64.StdEncoding.EncodeToString([]byte("safe")) + "?=", call, "does not match"},
		{"bad base64", "", "=?base64?***?=", call, "bad base64"},
		{"uri", "resources/read", "=?base64?" + base64.StdEncoding.EncodeToString([]byte("file:///é.txt")) + "?=", read, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var env jsonrpc.Envelope
			if err := jsonrpc.Decode(tc.frame, &env); err != nil {
				t.Fatal(err)
			}
			err := Check(tc.method, tc.header, tc.frame, &env)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("plain")
	f.Add("=?base64?aGk=?=")
	f.Add("=?base64??=")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := Decode(v)
		if err == nil && !strings.HasPrefix(v, base64Prefix) && got != v {
			t.Fatalf("plain value %q changed to %q", v, got)
		}
	})
}
