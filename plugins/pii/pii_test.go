package pii_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
	"github.com/portcullis-mcp/portcullis/plugins"
)

// load loads the module the gateway binary embeds.
func load(t testing.TB) (*plugin.Plugin, *plugintest.Sink) {
	t.Helper()
	b, ok := plugins.Lookup("pii")
	if !ok {
		t.Fatal("pii is not embedded: build it with plugins/build.sh")
	}
	hooks, err := b.Manifest.HookList()
	if err != nil {
		t.Fatal(err)
	}
	return plugintest.Load(t, b.Wasm, plugin.Spec{Name: "pii", Version: b.Manifest.Version, Hooks: hooks})
}

func call(t testing.TB, p *plugin.Plugin, hook abi.Hook, config string, frame []byte) abi.Verdict {
	t.Helper()
	in := abi.Input{Hook: hook, Direction: hook.Direction(), Config: []byte(config), Frame: frame}
	var v abi.Verdict
	if err := p.Call(context.Background(), &in, time.Second, &v); err != nil {
		t.Fatalf("call: %v", err)
	}
	v.Payload = append([]byte(nil), v.Payload...)
	return v
}

// request is a tools/call as a client sends it (Go's encoder escapes <, > and &, as many do).
func request(args map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 42, "method": "tools/call",
		"params": map[string]any{"name": "send_message", "arguments": args}})
	return b
}

// result is a tools/call result with the text as content and as structured content.
func result(text string) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "c-7f3a", "result": map[string]any{
		"content":           []any{map[string]any{"type": "text", "text": text}},
		"structuredContent": map[string]any{"message": text}}})
	return b
}

// message returns params.arguments.message of a rewritten request.
func message(t *testing.T, frame []byte) string {
	t.Helper()
	var f struct {
		ID     json.RawMessage `json:"id"`
		Params struct {
			Arguments struct {
				Message string `json:"message"`
			} `json:"arguments"`
		} `json:"params"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatalf("rewrite is not JSON: %v\n%s", err, frame)
	}
	if string(f.ID) != "42" {
		t.Fatalf("id changed to %s", f.ID)
	}
	return f.Params.Arguments.Message
}

func TestPII_FindsAndRedacts(t *testing.T) {
	p, sink := load(t)
	for _, tc := range []struct {
		rule, text, want string
	}{
		{"email", "Please reply to jane.doe+billing@acme-corp.co.uk today.", "Please reply to [EMAIL] today."},
		{"email", "Contact: <JOHN@Example.ORG>", "Contact: <[EMAIL]>"},
		{"phone", "Call me at +1 (415) 555-2671 after 5pm.", "Call me at [PHONE] after 5pm."},
		{"phone", "Mobile: +447700900123", "Mobile: [PHONE]"},
		{"phone", "Office (415) 555-2671, fax 415.555.2672", "Office [PHONE], fax [PHONE]"},
		{"phone", "London office 020 7946 0958\nParis 01 42 68 53 00", "London office [PHONE]\nParis [PHONE]"},
		{"card", "Charge card 4111 1111 1111 1111, exp 12/27", "Charge card [CARD], exp 12/27"},
		{"card", "amex=378282246310005;", "amex=[CARD];"},
		{"card", "mc 5555-5555-5555-4444", "mc [CARD]"},
		{"ssn", "Employee SSN: 123-45-6789.", "Employee SSN: [SSN]."},
		{"ssn", "social security number 123456789", "social security number [SSN]"},
		{"nino", "NI number AB 12 34 56 C on file", "NI number [NINO] on file"},
		{"dni", "DNI 12345678Z, NIE X1234567L", "DNI [DNI], NIE [DNI]"},
		{"aadhaar", "Aadhaar: 2345 6789 0124", "Aadhaar: [AADHAAR]"},
		{"bsn", "BSN 111222333", "BSN [BSN]"},
		{"iban", "Pay to DE89 3704 0044 0532 0130 00 by Friday", "Pay to [IBAN] by Friday"},
		{"iban", "IBAN GB82WEST12345698765432", "IBAN [IBAN]"},
		{"iban", "NL91ABNA0417164300", "[IBAN]"},
	} {
		t.Run(tc.rule+"/"+tc.text, func(t *testing.T) {
			v := call(t, p, abi.HookRequestGuard, "", request(map[string]any{"message": tc.text}))
			if v.Action != abi.ActionRewrite {
				t.Fatalf("action %v (%s), want a rewrite", v.Action, v.Payload)
			}
			if got := message(t, v.Payload); got != tc.want {
				t.Fatalf("redacted to %q, want %q", got, tc.want)
			}
			events := sink.Take("pii.finding")
			if len(events) == 0 {
				t.Fatal("no pii.finding event")
			}
			for _, e := range events {
				var ev struct{ Rule, Where, Action, Direction string }
				if err := json.Unmarshal([]byte(e), &ev); err != nil {
					t.Fatalf("event %s: %v", e, err)
				}
				if ev.Where != "params.arguments.message" || ev.Action != "redact" || ev.Direction != "request" {
					t.Errorf("event %s", e)
				}
				if ev.Rule == tc.rule {
					tc.rule = ""
				}
			}
			if tc.rule != "" {
				t.Errorf("no event for rule %s: %v", tc.rule, events)
			}
		})
	}
}

// Text that looks like data to a careless matcher but holds none.
var negatives = []string{
	"The quick brown fox jumps over the lazy dog. Follow the installation instructions in README.md.",
	"request 550e8400-e29b-41d4-a716-446655440000 finished; trace 4bf92f3577b34da6a3ce929d0e0e4736",
	"sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 (tag v1.22.3)",
	"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
	"created 2024-01-15T10:30:00.123Z, updated 2024-01-15 10:30:00 +0000, epoch 1705312200000",
	"listening on 192.168.100.200:8080 and [2001:db8::1]:443; go1.26.0 linux/amd64",
	"order ORD-2024-000123456 and invoice INV/2023/4155552671 shipped",
	"total: 1,234,567.89 USD; 12/31/2024; 10:30:45; 37.7749, -122.4194",
	"sent {\"jsonrpc\":\"2.0\",\"id\":1705312200123,\"method\":\"ping\"}",
	"assets: logo@2x.png, remote git@github.com:acme/api.git, postgres://app:s3cret@db.internal:5432/app",
	"rows 4111 1111 1111 1112 and 123-45-67890 and 666-12-3456",
	"user_4155552671 /users/4155552671/orders id=AB123456 QQ 12 34 56 C",
	"npm i @scope/pkg@1.2.3 && docker pull nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
}

func TestPII_NoFalsePositives(t *testing.T) {
	p, sink := load(t)
	for _, text := range negatives {
		for _, hook := range []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard} {
			frame := request(map[string]any{"message": text})
			if hook == abi.HookResponseGuard {
				frame = result(text)
			}
			if v := call(t, p, hook, "", frame); v.Action != abi.ActionAllow {
				t.Errorf("%s on %q: %v %s", hook, text, v.Action, v.Payload)
			}
		}
	}
	// The envelope is not data: an id or a method that looks like a number or an address.
	for _, frame := range []string{
		`{"jsonrpc":"2.0","id":"+14155552671","method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":"4111111111111111","result":{}}`,
		`{"jsonrpc":"2.0","id":9007199254740991,"method":"notify@acme.com"}`,
	} {
		if v := call(t, p, abi.HookRequestGuard, "", []byte(frame)); v.Action != abi.ActionAllow {
			t.Errorf("%s: %v %s", frame, v.Action, v.Payload)
		}
	}
	if ev := sink.Take("pii.finding"); len(ev) > 0 {
		t.Errorf("events for clean frames: %v", ev)
	}
}

func TestPII_RedactsResultsKeepingTheFrameValid(t *testing.T) {
	p, _ := load(t)
	text := "Customer: Ana <ana@acme.io>, +34 612 34 56 78, card 4111111111111111"
	v := call(t, p, abi.HookResponseGuard, "", result(text))
	if v.Action != abi.ActionRewrite {
		t.Fatalf("action %v %s", v.Action, v.Payload)
	}
	var f struct {
		ID     string `json:"id"`
		Result struct {
			Content []struct{ Text string }  `json:"content"`
			Struct  struct{ Message string } `json:"structuredContent"`
		} `json:"result"`
	}
	if err := json.Unmarshal(v.Payload, &f); err != nil {
		t.Fatalf("%v: %s", err, v.Payload)
	}
	want := "Customer: Ana <[EMAIL]>, [PHONE], card [CARD]"
	if f.ID != "c-7f3a" || f.Result.Content[0].Text != want || f.Result.Struct.Message != want {
		t.Fatalf("got %s", v.Payload)
	}
}

func TestPII_Config(t *testing.T) {
	p, sink := load(t)
	text := "mail bob@acme.com or ops@example.com, card 4111 1111 1111 1111, badge EMP-204815"
	for _, tc := range []struct {
		name, config string
		hook         abi.Hook
		action       abi.Action
		want         string // the redacted text, or the block reason
		event        string // the action named in the events
	}{
		{"default redacts", ``, abi.HookRequestGuard, abi.ActionRewrite,
			"mail [EMAIL] or [EMAIL], card [CARD], badge EMP-204815", "redact"},
		{"disable a rule", `{"disable":["card"]}`, abi.HookRequestGuard, abi.ActionRewrite,
			"mail [EMAIL] or [EMAIL], card 4111 1111 1111 1111, badge EMP-204815", "redact"},
		{"add a rule", `{"rules":[{"id":"employee_id","regex":"EMP-[0-9]{6}","placeholder":"[EMPLOYEE]"}]}`, abi.HookRequestGuard, abi.ActionRewrite,
			"mail [EMAIL] or [EMAIL], card [CARD], badge [EMPLOYEE]", "redact"},
		{"allow a domain", `{"allow":["example.com"]}`, abi.HookRequestGuard, abi.ActionRewrite,
			"mail [EMAIL] or ops@example.com, card [CARD], badge EMP-204815", "redact"},
		{"own placeholders", `{"placeholders":{"email":"<email>","card":"****"}}`, abi.HookRequestGuard, abi.ActionRewrite,
			"mail <email> or <email>, card ****, badge EMP-204815", "redact"},
		{"block", `{"action":"block"}`, abi.HookRequestGuard, abi.ActionBlock,
			"pii: email in params.arguments.message and 2 more (email, card)", "block"},
		{"block requests only: request", `{"action":{"request":"block","response":"redact"}}`, abi.HookRequestGuard, abi.ActionBlock,
			"pii: email in params.arguments.message and 2 more (email, card)", "block"},
		{"block requests only: response", `{"action":{"request":"block","response":"redact"}}`, abi.HookResponseGuard, abi.ActionRewrite,
			"mail [EMAIL] or [EMAIL], card [CARD], badge EMP-204815", "redact"},
		{"monitor", `{"action":"monitor"}`, abi.HookRequestGuard, abi.ActionAllow, "", "monitor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := call(t, p, tc.hook, tc.config, request(map[string]any{"message": text}))
			if v.Action != tc.action {
				t.Fatalf("action %v (%s), want %v", v.Action, v.Payload, tc.action)
			}
			switch v.Action {
			case abi.ActionRewrite:
				if got := message(t, v.Payload); got != tc.want {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			case abi.ActionBlock:
				if string(v.Payload) != tc.want {
					t.Fatalf("reason %q, want %q", v.Payload, tc.want)
				}
			}
			events := sink.Take("pii.finding")
			if len(events) == 0 || !strings.Contains(events[0], `"action":"`+tc.event+`"`) {
				t.Fatalf("events %v, want action %s", events, tc.event)
			}
			for _, e := range append(events, string(v.Payload)) {
				if v.Action != abi.ActionRewrite && (strings.Contains(e, "4111") || strings.Contains(e, "bob@")) {
					t.Errorf("a value leaked into %q", e)
				}
			}
		})
	}
}

// Custom rules see the decoded text, and their matches are spliced back into the raw frame
// around its escapes.
func TestPII_CustomRuleOnEscapedText(t *testing.T) {
	p, _ := load(t)
	config := `{"rules":[{"id":"ticket","regex":"(?i)tkt<[0-9]+>","placeholder":"<TICKET \"id\">"}]}`
	text := "see TKT<8841>\n\tand café tkt<12> & more"
	v := call(t, p, abi.HookRequestGuard, config, request(map[string]any{"message": text}))
	if v.Action != abi.ActionRewrite {
		t.Fatalf("action %v %s", v.Action, v.Payload)
	}
	if got, want := message(t, v.Payload), "see <TICKET \"id\">\n\tand café <TICKET \"id\"> & more"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestPII_BadConfigBlocks(t *testing.T) {
	p, _ := load(t)
	for config, want := range map[string]string{
		`{"action":"shred"}`:                             `action must be "redact", "block" or "monitor"`,
		`{"action":{"inbound":"block"}}`:                 `action: unknown direction "inbound"`,
		`{"disable":["emails"]}`:                         `disable: unknown rule "emails"`,
		`{"rules":[{"id":"x","regex":"("}]}`:             `rules[0].regex:`,
		`{"rules":[{"id":"email","regex":"x"}]}`:         `rules[0].id "email" is already a rule`,
		`{"rules":[{"id":"x"}]}`:                         `rules[0].regex must be a string`,
		`{"acton":"block"}`:                              `unknown key "acton"`,
		`{"placeholders":{"fax":"[FAX]"}}`:               `placeholders: unknown rule "fax"`,
		`[1]`:                                            `the config must be an object`,
		`{"allow":"example.com"}`:                        `allow must be a list of strings`,
		`{"rules":[{"id":"x","regex":"x","flags":"i"}]}`: `rules[0]: unknown key "flags"`,
	} {
		v := call(t, p, abi.HookRequestGuard, config, request(map[string]any{"message": "hello"}))
		if v.Action != abi.ActionBlock || !strings.HasPrefix(string(v.Payload), "pii: config is invalid: ") || !strings.Contains(string(v.Payload), want) {
			t.Errorf("%s: %v %q, want a block naming %q", config, v.Action, v.Payload, want)
		}
	}
}

// TestPII_Gateway runs the built-in as an operator binds it, in front of the demo server (a real
// go-sdk server): requests are only reported, responses redacted, so the echo shows both ways.
func TestPII_Gateway(t *testing.T) {
	cs, sink := plugintest.Gateway(t, `
servers:
  - name: demo
    transport: demo
bindings:
  - name: pii
    plugin: pii
    config:
      action: {request: monitor, response: redact}
      allow: [example.com]
`, t.TempDir())
	got, err := plugintest.CallText(cs, "demo__echo", map[string]any{
		"message": "Ship to Ana Ruiz, ana.ruiz@acme.io, +34 612 34 56 78; support@example.com has the IBAN ES91 2100 0418 4502 0005 1332."})
	if err != nil {
		t.Fatal(err)
	}
	want := "Ship to Ana Ruiz, [EMAIL], [PHONE]; support@example.com has the IBAN [IBAN]."
	if got != want {
		t.Fatalf("echo = %q, want %q", got, want)
	}
	var seen []string
	for _, e := range sink.Take("pii.finding") {
		var ev struct{ Rule, Where, Action, Direction string }
		if err := json.Unmarshal([]byte(e), &ev); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, fmt.Sprintf("%s %s %s %s", ev.Direction, ev.Action, ev.Rule, ev.Where))
	}
	for _, w := range []string{
		"request monitor email params.arguments.message",
		"response redact iban result.content[0].text",
		"response redact phone result.structuredContent.message",
	} {
		if !strings.Contains(strings.Join(seen, "\n"), w) {
			t.Errorf("no event %q in\n%s", w, strings.Join(seen, "\n"))
		}
	}

	// Blocking requests: the client gets the reason, naming the rule and the place only.
	cs, _ = plugintest.Gateway(t, `
servers:
  - name: demo
    transport: demo
bindings:
  - {name: pii, plugin: pii, config: {action: block}}
`, t.TempDir())
	_, err = plugintest.CallText(cs, "demo__echo", map[string]any{"message": "card 4111 1111 1111 1111"})
	if err == nil || !strings.Contains(err.Error(), "pii: card in params.arguments.message") || strings.Contains(err.Error(), "4111") {
		t.Fatalf("err = %v, want a block naming the card rule", err)
	}
	if got, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "build 4b825dc642cb6eb9a060e54bf8d69288fbee4904 ok"}); err != nil || !strings.HasPrefix(got, "build") {
		t.Fatalf("clean call: %q %v", got, err)
	}
}
