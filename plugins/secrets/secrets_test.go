package secrets_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
	"github.com/portcullis-mcp/portcullis/plugins"
)

// load runs the module the gateway binary embeds.
func load(t testing.TB) (*plugin.Plugin, *plugintest.Sink) {
	t.Helper()
	b, ok := plugins.Lookup("secrets")
	if !ok {
		t.Fatal("secrets is not embedded: run plugins/build.sh \"\" secrets")
	}
	return plugintest.Load(t, b.Wasm, plugin.Spec{Name: "secrets", Version: b.Manifest.Version,
		Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}})
}

// The fake credentials are generated (deterministically) rather than written out, so that no
// token-shaped literal sits in the repository for secret scanners to trip on.
const (
	upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	letters     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	alnum       = letters + "0123456789"
	b64url      = alnum + "-_"
	b64std      = alnum + "+/"
	hexLower    = "0123456789abcdef"
	digits      = "0123456789"
)

var rng = rand.New(rand.NewPCG(5, 2026))

func gen(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func b64j(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// sample is a realistic text holding a credential for rule; secret is the part that must be
// found (and disappear when redacted).
type sample struct {
	rule, text, secret string
}

func samples() []sample {
	one := func(rule, secret string) sample { return sample{rule, secret, secret} }
	in := func(rule, before, secret, after string) sample { return sample{rule, before + secret + after, secret} }
	sasSig := url.QueryEscape(gen(b64std, 43) + "=")
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\n"
	for range 6 {
		pem += gen(b64std, 70) + "\n"
	}
	pem += "-----END OPENSSH PRIVATE KEY-----"
	rsa := "-----BEGIN RSA PRIVATE KEY-----\n" + gen(b64std, 64) + "\n" + gen(b64std, 64) + "\n-----END RSA PRIVATE KEY-----"
	jwt := b64j(`{"alg":"HS256","typ":"JWT"}`) + "." + b64j(`{"sub":"user-1234","name":"Ada","iat":1735689600}`) + "." + gen(b64url, 43)
	return []sample{
		in("aws_access_key_id", "[default]\naws_access_key_id = ", "AKIA"+gen(upperDigits, 16), "\nregion = eu-west-1"),
		in("aws_access_key_id", "export AWS_ACCESS_KEY_ID=", "ASIA"+gen(upperDigits, 16), ""),
		in("aws_secret_access_key", "[default]\naws_secret_access_key = ", gen(b64std, 40), "\n"),
		in("aws_secret_access_key", `{"Credentials": {"SecretAccessKey": "`, gen(b64std, 40), `", "Expiration": "2030-01-01T00:00:00Z"}}`),
		in("gcp_api_key", "https://maps.googleapis.com/maps/api/geocode/json?address=x&key=", "AIza"+gen(b64url, 35), ""),
		one("google_oauth_client_secret", "GOCSPX-"+gen(b64url, 28)),
		in("google_oauth_access_token", "curl -H 'Authorization: Bearer ", "ya29."+gen(b64url, 150), "' https://www.googleapis.com/drive/v3/files"),
		in("google_oauth_refresh_token", "refresh: ", "1//0"+gen(b64url, 98), ""),
		in("azure_storage_key", "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=", gen(b64std, 86)+"==", ";EndpointSuffix=core.windows.net"),
		in("azure_shared_access_key", "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=", gen(b64std, 43)+"=", ""),
		in("azure_sas_signature", "https://acme.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&sig=", sasSig, ""),
		in("github_token", "git clone https://x-access-token:", "ghs_"+gen(alnum, 36), "@github.com/acme/app.git"),
		one("github_token", "ghp_"+gen(alnum, 36)),
		in("github_token", "GH_TOKEN=", "github_pat_"+gen(alnum, 22)+"_"+gen(alnum, 59), ""),
		one("gitlab_token", "glpat-"+gen(b64url, 20)),
		in("npm_token", "//registry.npmjs.org/:_authToken=", "npm_"+gen(alnum, 36), ""),
		in("pypi_token", "[pypi]\nusername = __token__\npassword = ", "pypi-AgEIcHlwaS5vcmc"+gen(b64url, 70), ""),
		one("docker_hub_token", "dckr_pat_"+gen(b64url, 27)),
		in("slack_token", "SLACK_BOT_TOKEN=", "xoxb-"+gen(digits, 12)+"-"+gen(digits, 13)+"-"+gen(alnum, 24), ""),
		in("slack_webhook", "curl -X POST https://", "hooks.slack.com/services/T"+gen(upperDigits, 8)+"/B"+gen(upperDigits, 10)+"/"+gen(alnum, 24), " -d '{}'"),
		in("discord_webhook", "webhook: https://", "discord.com/api/webhooks/"+gen(digits, 18)+"/"+gen(b64url, 68), ""),
		one("twilio_api_key", "SK"+gen(hexLower, 32)),
		in("sendgrid_api_key", "SENDGRID_API_KEY='", "SG."+gen(b64url, 22)+"."+gen(b64url, 43), "'"),
		one("mailgun_api_key", "key-"+gen(hexLower, 32)),
		in("stripe_key", "stripe.api_key = \"", "sk_live_"+gen(alnum, 24), "\""),
		one("stripe_key", "whsec_"+gen(alnum, 32)),
		one("square_token", "sq0atp-"+gen(b64url, 22)),
		one("shopify_token", "shpat_"+gen(hexLower, 32)),
		one("atlassian_api_token", "ATATT3"+gen(b64url, 180)),
		one("linear_api_key", "lin_api_"+gen(alnum, 40)),
		one("postman_api_key", "PMAK-"+gen(hexLower, 24)+"-"+gen(hexLower, 34)),
		one("newrelic_api_key", "NRAK-"+gen(upperDigits, 27)),
		one("sentry_token", "sntryu_"+gen(hexLower, 64)),
		in("anthropic_api_key", "ANTHROPIC_API_KEY=", "sk-ant-api03-"+gen(b64url, 93)+"AA", ""),
		in("openai_api_key", "client = OpenAI(api_key=\"", "sk-proj-"+gen(b64url, 48), "\")"),
		one("openai_api_key", "sk-"+gen(alnum, 20)+"T3BlbkFJ"+gen(alnum, 20)),
		one("huggingface_token", "hf_"+gen(letters, 34)),
		one("groq_api_key", "gsk_"+gen(alnum, 52)),
		one("replicate_token", "r8_"+gen(alnum, 37)),
		one("digitalocean_token", "dop_v1_"+gen(hexLower, 64)),
		in("vault_token", "VAULT_TOKEN=", "hvs."+gen(b64url, 90), ""),
		one("databricks_token", "dapi"+gen(hexLower, 32)),
		one("doppler_token", "dp.pt."+gen(alnum, 43)),
		one("grafana_token", "glsa_"+gen(alnum, 32)+"_"+gen(hexLower, 8)),
		one("supabase_token", "sbp_"+gen(hexLower, 40)),
		one("age_secret_key", "AGE-SECRET-KEY-1"+gen(upperDigits, 58)),
		in("private_key", "id_ed25519:\n", pem, "\n"),
		in("private_key", "key.pem (truncated):\n", "-----BEGIN PRIVATE KEY-----\n"+gen(b64std, 64)+"\n"+gen(b64std, 30), ""),
		one("private_key", rsa),
		in("jwt", "Authorization: Bearer ", jwt, ""),
		in("connection_string", "DATABASE_URL=postgres://app:", gen(alnum, 18), "@db.internal:5432/prod?sslmode=require"),
		in("connection_string", "mongodb+srv://svc:", gen(alnum, 12)+"!"+gen(alnum, 6), "@cluster0.mongodb.net/"),
		in("connection_string", "redis://:", gen(alnum, 24), "@cache:6379/0"),
		in("connection_string", "amqp://guest:", "Gu3st-"+gen(alnum, 10), "@rabbit:5672/"),
		in("generic_secret", "DB_PASSWORD=", "Zx8#kQ2v"+gen(alnum, 10)+"$w", "\nDB_HOST=db"),
		in("generic_secret", "client_secret: \"", gen(b64url, 40), "\""),
		in("generic_secret", "X-Api-Key: ", gen(alnum, 32), ""),
	}
}

// ruleIDs reads the built-in rule ids from the Rust source, so that a new rule without a test
// case fails TestEveryRuleHasCases.
func ruleIDs(t *testing.T) []string {
	src, err := os.ReadFile("src/rules.rs")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:r\(|\()"([a-z0-9_]+)", "`).FindAllSubmatch(src, -1) {
		ids = append(ids, string(m[1]))
	}
	if len(ids) < 40 {
		t.Fatalf("found %d rule ids in src/rules.rs", len(ids))
	}
	return ids
}

func TestEveryRuleHasCases(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, s := range samples() {
		covered[s.rule] = true
	}
	for _, id := range ruleIDs(t) {
		if !covered[id] {
			t.Errorf("rule %s has no positive case in samples()", id)
		}
		if !strings.Contains(string(readme), "`"+id+"`") {
			t.Errorf("README.md does not document rule %s", id)
		}
	}
}

func toolCall(args string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":"call-42","method":"tools/call","params":{"name":"run","arguments":` + args + `}}`)
}

func toolResult(text string) []byte {
	q := strconv.Quote(text) // Go quoting is JSON-compatible for this ASCII text
	return []byte(`{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":` + q + `}],"isError":false}}`)
}

func jstr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func call(t testing.TB, p *plugin.Plugin, hook abi.Hook, config string, frame []byte) abi.Verdict {
	t.Helper()
	in := abi.Input{Hook: hook, Direction: hook.Direction(), Server: "files", Tool: "run", Config: []byte(config), Frame: frame}
	var v abi.Verdict
	if err := p.Call(context.Background(), &in, 5*time.Second, &v); err != nil {
		t.Fatalf("call: %v", err)
	}
	return v
}

type finding struct {
	Rule, Where, Action, Direction, Server, Tool string
}

func findings(t *testing.T, s *plugintest.Sink, secret string) []finding {
	t.Helper()
	var out []finding
	for _, e := range s.Take("secrets.finding") {
		if secret != "" && strings.Contains(e, secret) {
			t.Fatalf("event echoes the secret: %s", e)
		}
		var f finding
		if err := json.Unmarshal([]byte(e), &f); err != nil {
			t.Fatalf("event %q: %v", e, err)
		}
		out = append(out, f)
	}
	for _, l := range s.Logs() {
		if secret != "" && strings.Contains(l, secret) {
			t.Fatalf("log echoes the secret: %s", l)
		}
	}
	return out
}

// TestPositives: each sample, in a tool argument, blocks the call with a reason naming the rule
// and the argument; in a tool result, it is replaced by [REDACTED:<rule>] and nothing else
// changes.
func TestPositives(t *testing.T) {
	p, sink := load(t)
	for i, s := range samples() {
		t.Run(fmt.Sprintf("%02d-%s", i, s.rule), func(t *testing.T) {
			v := call(t, p, abi.HookRequestGuard, "", toolCall(`{"path":"notes.txt","content":`+jstr("see:\n"+s.text+"\nthanks")+`}`))
			want := "secrets: " + s.rule + " in arguments.content"
			if v.Action != abi.ActionBlock || string(v.Payload) != want {
				t.Fatalf("request: got %s %q, want block %q", v.Action, v.Payload, want)
			}
			if f := findings(t, sink, s.secret); len(f) != 1 || f[0] != (finding{s.rule, "arguments.content", "block", "request", "files", "run"}) {
				t.Fatalf("request events: %+v", f)
			}

			text := "file contents:\n" + s.text + "\n-- end"
			v = call(t, p, abi.HookResponseGuard, "", toolResult(text))
			if v.Action != abi.ActionRewrite {
				t.Fatalf("response: got %s %q, want rewrite", v.Action, v.Payload)
			}
			wantText := strings.Replace(text, s.secret, "[REDACTED:"+s.rule+"]", 1)
			if got := string(v.Payload); got != string(toolResult(wantText)) {
				t.Fatalf("response rewritten to\n%s\nwant\n%s", got, toolResult(wantText))
			}
			if f := findings(t, sink, s.secret); len(f) != 1 || f[0].Where != "result.content[0].text" || f[0].Action != "redact" {
				t.Fatalf("response events: %+v", f)
			}
		})
	}
}

// TestJSONMembers: a secret-like member name makes its whole string value the candidate (e.g.
// an HTTP tool's headers); a secret as a member name is found too, and not shown.
func TestJSONMembers(t *testing.T) {
	p, _ := load(t)
	key, bearer := gen(alnum, 32), gen(b64url, 40)
	cases := []struct {
		name, args, where string
	}{
		{"api_key member", `{"url":"https://api.acme.dev/v1/items","api_key":"` + key + `"}`, "arguments.api_key"},
		{"authorization header", `{"headers":{"Accept":"application/json","Authorization":"Bearer ` + bearer + `"}}`, "arguments.headers.Authorization"},
		{"password in an array of objects", `{"users":[{"name":"ada"},{"name":"bob","password":"Tr0ub4dor&3-` + gen(alnum, 6) + `"}]}`, "arguments.users[1].password"},
		{"secret as a key", `{"env":{"` + "ghp_" + gen(alnum, 36) + `":"x"}}`, "arguments.env.(name)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := call(t, p, abi.HookRequestGuard, "", toolCall(c.args))
			if v.Action != abi.ActionBlock || !strings.HasSuffix(string(v.Payload), " in "+c.where) {
				t.Fatalf("got %s %q, want a block in %s", v.Action, v.Payload, c.where)
			}
		})
	}
	// Redacting a member keeps the Bearer scheme and the rest of the frame.
	v := call(t, p, abi.HookRequestGuard, `{"action":"redact"}`, toolCall(cases[1].args))
	want := toolCall(`{"headers":{"Accept":"application/json","Authorization":"Bearer [REDACTED:generic_secret]"}}`)
	if v.Action != abi.ActionRewrite || string(v.Payload) != string(want) {
		t.Fatalf("got %s %s", v.Action, v.Payload)
	}
}

// TestWhere: block reasons and events say where the secret was, for each kind of frame.
func TestWhere(t *testing.T) {
	p, sink := load(t)
	tok := "npm_" + gen(alnum, 36)
	cases := []struct {
		name  string
		hook  abi.Hook
		frame string
		where string
	}{
		{"tool argument", abi.HookRequestGuard, string(toolCall(`{"env":{"NPM_TOKEN":"` + tok + `"}}`)), "arguments.env.NPM_TOKEN"},
		{"resource read", abi.HookRequestGuard, `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"https://x.dev/?t=` + tok + `"}}`, "uri"},
		{"tool result", abi.HookResponseGuard, string(toolResult("publish with " + tok)), "result.content[0].text"},
		{"structured result", abi.HookResponseGuard, `{"jsonrpc":"2.0","id":1,"result":{"content":[],"structuredContent":{"items":[{"k":"a"},{"k":"` + tok + `"}]}}}`, "result.structuredContent.items[1].k"},
		{"error", abi.HookResponseGuard, `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"npm publish failed with token ` + tok + `"}}`, "error.message"},
		{"log notification", abi.HookResponseGuard, `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"auth ` + tok + `"}}`, "params.data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := call(t, p, c.hook, `{"action":"block"}`, []byte(c.frame))
			if want := "secrets: npm_token in " + c.where; v.Action != abi.ActionBlock || string(v.Payload) != want {
				t.Fatalf("got %s %q, want %q", v.Action, v.Payload, want)
			}
			if f := findings(t, sink, tok); len(f) != 1 || f[0].Where != c.where {
				t.Fatalf("events: %+v", f)
			}
		})
	}
}

// TestEscapedStrings: secrets inside JSON escapes (a PEM file with \n, a URL with \/, JSON
// text with \") are found, and the rewrite is valid JSON with the original id, whether the
// string is read in place (escapes of whitespace and quotes) or decoded first (\u, \/).
func TestEscapedStrings(t *testing.T) {
	p, _ := load(t)
	body := gen(b64std, 64)
	for _, tail := range []string{`\"quoted\"`, `\"quoted\" \u00e9`} {
		frame := []byte(`{"jsonrpc":"2.0","id":{"n":[1,"x"]},"result":{"contents":[{"uri":"file:///k.pem","text":` +
			`"-----BEGIN EC PRIVATE KEY-----\n` + body + `\n-----END EC PRIVATE KEY-----\n` + tail + `"}]}}`)
		v := call(t, p, abi.HookResponseGuard, "", frame)
		if v.Action != abi.ActionRewrite {
			t.Fatalf("got %s %q", v.Action, v.Payload)
		}
		var got struct {
			ID     json.RawMessage
			Result struct{ Contents []struct{ URI, Text string } }
		}
		if err := json.Unmarshal(v.Payload, &got); err != nil {
			t.Fatal(err)
		}
		var want string
		json.Unmarshal([]byte(`"[REDACTED:private_key]\n`+tail+`"`), &want)
		if string(got.ID) != `{"n":[1,"x"]}` || got.Result.Contents[0].Text != want {
			t.Fatalf("rewrite: %s", v.Payload)
		}
	}

	pw := gen(alnum, 16)
	v := call(t, p, abi.HookRequestGuard, `{"action":"redact"}`, toolCall(`{"dsn":"mysql:\/\/root:`+pw+`@db\/shop"}`))
	if v.Action != abi.ActionRewrite || !strings.Contains(string(v.Payload), `"dsn":"mysql://root:[REDACTED:connection_string]@db/shop"`) {
		t.Fatalf("got %s %s", v.Action, v.Payload)
	}

	secret := gen(b64url, 32)
	text := `{\"db\": {\"host\": \"db\", \"password\": \"` + secret + `\"}}`
	v = call(t, p, abi.HookResponseGuard, "", toolResultRaw(text))
	if v.Action != abi.ActionRewrite || string(v.Payload) != string(toolResultRaw(strings.Replace(text, secret, "[REDACTED:generic_secret]", 1))) {
		t.Fatalf("got %s %s", v.Action, v.Payload)
	}
}

// toolResultRaw is a tool result whose text is raw JSON string content (escapes as given).
func toolResultRaw(raw string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"` + raw + `"}],"isError":false}}`)
}

func pngBase64() string {
	b := make([]byte, 6000)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	copy(b, "\x89PNG\r\n\x1a\n")
	return base64.StdEncoding.EncodeToString(b)
}

// TestNegatives: what looks a little like a secret but is not must pass untouched.
func TestNegatives(t *testing.T) {
	p, sink := load(t)
	sha1, sha256, commit := gen(hexLower, 40), gen(hexLower, 64), gen(hexLower, 40)
	uuid := fmt.Sprintf("%s-%s-4%s-a%s-%s", gen(hexLower, 8), gen(hexLower, 4), gen(hexLower, 3), gen(hexLower, 3), gen(hexLower, 12))
	img := pngBase64()
	texts := map[string]string{
		"uuids": "request " + uuid + " failed; session_token: " + uuid + "\nX-Request-Id: " + uuid,
		"hashes": "fixed in commit " + commit + " (sha1 " + sha1 + ")\nsha256: " + sha256 + "\nintegrity: sha512-" + gen(b64std, 86) + "==\n" +
			"image: ghcr.io/acme/app@sha256:" + sha256 + "\netag: \"" + sha1 + "\"\ntoken_sha256 = " + sha256,
		"prose": "Please reset your password before Friday: the token you were sent expires in 3600 seconds. " +
			"Keep the secret key of your team in the vault, never in chat. Our API key rotation policy is documented in the wiki. " +
			"Authorization: see the admin guide. Password: required. The secret: patience.",
		"placeholders": "API_KEY=<your-api-key>\npassword: ${DB_PASSWORD}\ntoken = \"{{ secrets.GITHUB_TOKEN }}\"\nSECRET_KEY=changeme\n" +
			"\"password\": \"********\"\nclient_secret: YOUR_CLIENT_SECRET_HERE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n" +
			"aws_access_key_id = AKIAIOSFODNN7EXAMPLE\nGITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\npostgres://user:password@localhost/db",
		"code": "api_key = os.environ[\"OPENAI_API_KEY\"]\ntoken := os.Getenv(\"TOKEN\")\nconst secret = process.env.APP_SECRET;\n" +
			"if password == confirm_password_field { ok() }\npassword = getpass.getpass(prompt)\nself.token = token_from_header(request)\n" +
			"auth_token: settings.auth.default_token\nmax_tokens = 4096\n",
		"urls": "https://user@example.com/repo.git https://abc:xyz@example.com/ https://ada:hunter22@docs.example/ redis://localhost:6379/0 http://[::1]:8080/health ssh://git@github.com:22/acme/app " +
			"postgres://app:${DB_PASS}@db:5432/app mailto:ada@example.com https://example.com/a:b@c",
		"kebab and near misses": "sk-learn-style-long-identifier-name-for-docs and glpat-something-not-random-enough " +
			"AKIA is a prefix; ghp_short; eyJhbGci.not.decodable eyJzb21lIjoianNvbiJ9.e30.sig (no alg)",
		"markdown image": "![chart](data:image/png;base64," + img[:3000] + ")",
		"base64 text":    img[:4096],
	}
	for name, text := range texts {
		t.Run(name, func(t *testing.T) {
			v := call(t, p, abi.HookRequestGuard, "", toolCall(`{"content":`+jstr(text)+`}`))
			if v.Action != abi.ActionAllow {
				t.Errorf("request: got %s %q", v.Action, v.Payload)
			}
			v = call(t, p, abi.HookResponseGuard, "", toolResult(text))
			if v.Action != abi.ActionAllow {
				t.Errorf("response: got %s %s", v.Action, v.Payload)
			}
			if f := findings(t, sink, ""); len(f) > 0 {
				t.Errorf("findings: %+v", f)
			}
		})
	}
	frames := map[string]string{
		"image content": `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"image","data":"` + img + `","mimeType":"image/png"}]}}`,
		"blob resource": `{"jsonrpc":"2.0","id":4,"result":{"contents":[{"uri":"file:///a.bin","mimeType":"application/octet-stream","blob":"` + img + `"}]}}`,
		"initialize": `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{},"elicitation":{}},` +
			`"clientInfo":{"name":"claude-code","version":"1.0.31"}}}`,
		"progress": `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"` + gen(b64url, 32) + `","progress":3,"total":10}}`,
		"paging":   `{"jsonrpc":"2.0","id":9,"result":{"tools":[],"nextCursor":"` + gen(b64std, 60) + `","_meta":{"nextPageToken":"` + gen(b64url, 60) + `"}}}`,
		"tools/list": `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"create_token","description":"Creates a personal access token (ghp_...) for the user; the password is never stored.",` +
			`"inputSchema":{"type":"object","properties":{"token_name":{"type":"string"},"password":{"type":"string","description":"the account password"}}}}]}}`,
		"ids with secrets are not ours": `{"jsonrpc":"2.0","id":"` + "ghp_" + gen(alnum, 36) + `","result":{}}`,
		"usage":                         `{"jsonrpc":"2.0","id":5,"result":{"usage":{"input_tokens":1200,"output_tokens":300},"token_type":"Bearer","expires_in":3600}}`,
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			hook := abi.HookResponseGuard
			if strings.Contains(frame, `"method"`) {
				hook = abi.HookRequestGuard
			}
			if v := call(t, p, hook, "", []byte(frame)); v.Action != abi.ActionAllow {
				t.Errorf("got %s %q", v.Action, v.Payload)
			}
		})
	}
}

// TestConfig: actions per direction, disabling and adding rules, allow lists, generic tuning.
func TestConfig(t *testing.T) {
	p, sink := load(t)
	gh := "ghp_" + gen(alnum, 36)
	aws := "AKIA" + gen(upperDigits, 16)
	acme := "acme_live_" + gen(hexLower, 32)
	frame := toolCall(`{"text":` + jstr("token "+gh+" and key "+aws) + `}`)
	result := toolResult("token " + gh + " and key " + aws)
	type want struct {
		action abi.Action
		out    string // block: the reason; rewrite: the frame
	}
	cases := []struct {
		name, config string
		hook         abi.Hook
		frame        []byte
		want         want
	}{
		{"default request", ``, abi.HookRequestGuard, frame, want{abi.ActionBlock, "secrets: github_token in arguments.text (and 1 more)"}},
		{"default response", ``, abi.HookResponseGuard, result, want{abi.ActionRewrite, string(toolResult("token [REDACTED:github_token] and key [REDACTED:aws_access_key_id]"))}},
		{"redact requests", `{"action":{"request":"redact"}}`, abi.HookRequestGuard, frame,
			want{abi.ActionRewrite, string(toolCall(`{"text":"token [REDACTED:github_token] and key [REDACTED:aws_access_key_id]"}`))}},
		{"block responses", `{"action":{"response":"block"}}`, abi.HookResponseGuard, result, want{abi.ActionBlock, "secrets: github_token in result.content[0].text (and 1 more)"}},
		{"one action for both", `{"action":"monitor"}`, abi.HookRequestGuard, frame, want{abi.ActionAllow, ""}},
		{"disable a rule", `{"disable":["github_token"]}`, abi.HookRequestGuard, frame, want{abi.ActionBlock, "secrets: aws_access_key_id in arguments.text"}},
		{"disable both", `{"disable":["github_token","aws_access_key_id"]}`, abi.HookRequestGuard, frame, want{abi.ActionAllow, ""}},
		{"allow a literal", `{"allow":["` + gh + `"]}`, abi.HookRequestGuard, frame, want{abi.ActionBlock, "secrets: aws_access_key_id in arguments.text"}},
		{"allow a pattern", `{"allow_patterns":["^AKIA"],"disable":["github_token"]}`, abi.HookRequestGuard, frame, want{abi.ActionAllow, ""}},
		{"custom rule", `{"rules":[{"id":"acme_key","regex":"acme_live_[0-9a-f]{32}","keywords":["acme_live_"]}]}`, abi.HookRequestGuard,
			toolCall(`{"text":"ACME=` + acme + `"}`), want{abi.ActionBlock, "secrets: acme_key in arguments.text"}},
		{"custom rule, keyword absent", `{"rules":[{"id":"acme_key","regex":"acme_live_[0-9a-f]{32}","keywords":["nope"]}]}`, abi.HookRequestGuard,
			toolCall(`{"text":"ACME=` + acme + `"}`), want{abi.ActionAllow, ""}},
		{"custom rule with a secret group", `{"rules":[{"id":"pin","regex":"(?i)\\bpin code:\\s*(?P<secret>\\d{6})\\b"}]}`, abi.HookResponseGuard,
			toolResult("Your PIN code: 493017, valid today."), want{abi.ActionRewrite, string(toolResult("Your PIN code: [REDACTED:pin], valid today."))}},
		{"custom rule on escaped text", `{"rules":[{"id":"pin","regex":"(?i)pin code: (?P<secret>[0-9]{6})"}]}`, abi.HookResponseGuard,
			toolResult("Dear Ada,\n\tyour PIN code: 493017 \"today\""), want{abi.ActionRewrite, string(toolResult("Dear Ada,\n\tyour PIN code: [REDACTED:pin] \"today\""))}},
		{"generic tuned down", `{"generic":{"min_length":8}}`, abi.HookRequestGuard, toolCall(`{"password":"x7#Kp2!q"}`), want{abi.ActionBlock, "secrets: generic_secret in arguments.password"}},
		{"generic default length", ``, abi.HookRequestGuard, toolCall(`{"password":"x7#Kp2!q"}`), want{abi.ActionAllow, ""}},
		{"generic extra names", `{"generic":{"names":["signing_material"]}}`, abi.HookRequestGuard, toolCall(`{"signing_material":"` + gen(b64std, 44) + `"}`),
			want{abi.ActionBlock, "secrets: generic_secret in arguments.signing_material"}},
		{"generic off", `{"disable":["generic_secret"]}`, abi.HookRequestGuard, toolCall(`{"api_key":"` + gen(alnum, 32) + `"}`), want{abi.ActionAllow, ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := call(t, p, c.hook, c.config, c.frame)
			if v.Action != c.want.action || string(v.Payload) != c.want.out {
				t.Fatalf("got %s %s\nwant %s %s", v.Action, v.Payload, c.want.action, c.want.out)
			}
			sink.Take("secrets.finding")
		})
	}
	// Monitor emits what it would have done.
	call(t, p, abi.HookRequestGuard, `{"action":"monitor"}`, frame)
	f := findings(t, sink, gh)
	if len(f) != 2 || f[0].Rule != "github_token" || f[1].Rule != "aws_access_key_id" || f[0].Action != "monitor" {
		t.Fatalf("monitor events: %+v", f)
	}
}

// TestBadConfig: a config the plugin cannot use blocks in both directions (fail closed) with a
// reason that says why.
func TestBadConfig(t *testing.T) {
	p, _ := load(t)
	cases := map[string]string{
		`{"action":"drop"}`:                                  `action must be "block", "redact" or "monitor"`,
		`{"action":{"requests":"block"}}`:                    `action.requests: unknown key`,
		`{"disable":["github"]}`:                             `disable: no built-in rule "github"`,
		`{"rules":[{"id":"x","regex":"("}]}`:                 `rules[0]: bad regex`,
		`{"rules":[{"id":"x","regex":"a*"}]}`:                `rules[0]: regex matches the empty string`,
		`{"rules":[{"id":"jwt","regex":"x"}]}`:               `rules[0]: id "jwt" is a built-in rule`,
		`{"rules":[{"id":"has space","regex":"x"}]}`:         `rules[0]: id "has space" must be`,
		`{"rules":[{"regex":"x"}]}`:                          `rules[0]: needs an id`,
		`{"allow_patterns":["["]}`:                           `allow_patterns[0]: bad regex`,
		`{"generic":{"min_entropy":9}}`:                      `generic.min_entropy must be`,
		`{"generic":{"min_length":2}}`:                       `generic.min_length must be`,
		`{"block":true}`:                                     `block: unknown key`,
		`["github_token"]`:                                   `the config must be a JSON object`,
		`{"action":`:                                         `json:`,
		`{"rules":[{"id":"x","regex":"x","keyword":["y"]}]}`: `rules[0].keyword: unknown key`,
	}
	for config, want := range cases {
		for _, hook := range []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard} {
			v := call(t, p, hook, config, toolCall(`{"a":"b"}`))
			if v.Action != abi.ActionBlock || !strings.HasPrefix(string(v.Payload), "secrets: invalid config: ") || !strings.Contains(string(v.Payload), want) {
				t.Errorf("%s on %s: got %s %q, want a block mentioning %q", config, hook, v.Action, v.Payload, want)
			}
		}
	}
}

// TestConfigsAlternate: one instance serves bindings with different configs.
func TestConfigsAlternate(t *testing.T) {
	p, _ := load(t)
	frame := toolCall(`{"k":"` + "npm_" + gen(alnum, 36) + `"}`)
	for i := range 40 {
		config := fmt.Sprintf(`{"allow":["n%d"]}`, i%10)
		if i%3 == 0 {
			config = `{"disable":["npm_token"]}`
		}
		v := call(t, p, abi.HookRequestGuard, config, frame)
		if (i%3 == 0) != (v.Action == abi.ActionAllow) {
			t.Fatalf("call %d with %s: %s %q", i, config, v.Action, v.Payload)
		}
	}
}

// TestGatewayDemo runs the built-in through a real gateway in front of the demo server: a secret
// in a tool argument is blocked by default, and with requests only monitored, the echoed secret
// is redacted from the result the client gets.
func TestGatewayDemo(t *testing.T) {
	token := "glpat-" + gen(b64url, 20)
	cs, sink := plugintest.Gateway(t, "servers:\n  - name: demo\n    transport: demo\nbindings:\n  - name: secrets\n    plugin: secrets\n", "")
	_, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "deploy with " + token})
	if err == nil || !strings.Contains(err.Error(), "secrets: gitlab_token in arguments.message") || strings.Contains(err.Error(), token) {
		t.Fatalf("echo with a token: err = %v", err)
	}
	if ev := sink.Take("secrets.finding"); len(ev) != 1 || strings.Contains(ev[0], token) {
		t.Fatalf("events: %q", ev)
	}
	text, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "nothing to see"})
	if err != nil || text != "nothing to see" {
		t.Fatalf("clean echo: %q %v", text, err)
	}

	cs, _ = plugintest.Gateway(t, "servers:\n  - name: demo\n    transport: demo\nbindings:\n  - name: secrets\n    plugin: secrets\n"+
		"    config: {action: {request: monitor, response: redact}}\n", "")
	text, err = plugintest.CallText(cs, "demo__echo", map[string]any{"message": "deploy with " + token})
	if err != nil || text != "deploy with [REDACTED:gitlab_token]" {
		t.Fatalf("echo, redacted: %q %v", text, err)
	}
}

// TestGatewayFilesystem: an agent reads a .env file through the gateway from the real
// server-filesystem; the credentials in it never reach the client.
func TestGatewayFilesystem(t *testing.T) {
	node := plugintest.Tool(t, "node")
	entry, err := filepath.Abs("../../host/internal/e2e/testdata/npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(entry); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("server-filesystem is not installed (make npm-deps): %v", err)
		}
		t.Skipf("server-filesystem is not installed (make npm-deps): %v", err)
	}
	dir := t.TempDir()
	aws, pw := "AKIA"+gen(upperDigits, 16), gen(alnum, 20)
	env := "# app settings\nAWS_ACCESS_KEY_ID=" + aws + "\nDATABASE_URL=postgres://app:" + pw + "@db:5432/app\nLOG_LEVEL=debug\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("servers:\n  - name: fs\n    command: %s\n    args: [%s, %s]\nbindings:\n  - name: secrets\n    plugin: secrets\n",
		strconv.Quote(node), strconv.Quote(entry), strconv.Quote(dir))
	cs, sink := plugintest.Gateway(t, yaml, "")
	text, err := plugintest.CallText(cs, "fs__read_text_file", map[string]any{"path": filepath.Join(dir, ".env")})
	if err != nil {
		t.Fatal(err)
	}
	want := "# app settings\nAWS_ACCESS_KEY_ID=[REDACTED:aws_access_key_id]\nDATABASE_URL=postgres://app:[REDACTED:connection_string]@db:5432/app\nLOG_LEVEL=debug\n"
	if strings.TrimRight(text, "\n") != strings.TrimRight(want, "\n") {
		t.Fatalf("read .env through the gateway:\n%s\nwant\n%s", text, want)
	}
	var rules []string
	for _, e := range sink.Take("secrets.finding") {
		var f finding
		json.Unmarshal([]byte(e), &f)
		rules = append(rules, f.Rule+"@"+f.Server)
	}
	slices.Sort(rules)
	rules = slices.Compact(rules)
	if !slices.Equal(rules, []string{"aws_access_key_id@fs", "connection_string@fs"}) {
		t.Fatalf("events: %v", rules)
	}
}

// benchFrame is a 1 KiB tools/call frame that matches nothing: a file write with prose, code
// and config, the kind of argument an agent sends.
func benchFrame() []byte {
	content := "# Release notes\n\nThis release fixes the retry loop in the uploader (see commit 3f9c2e1) and adds a --dry-run flag. " +
		"The config file now accepts `timeout: 30s` and `retries: 5`; the old keys still work. Thanks to everyone who reported " +
		"the issue with large files on slow links: uploads above 2 GiB are now split into 64 MiB parts.\n\n" +
		"```python\ndef upload(path, client, retries=5):\n    for attempt in range(retries):\n        try:\n            return client.put(path)\n" +
		"        except TimeoutError:\n            time.sleep(2 ** attempt)\n    raise RuntimeError(\"upload failed\")\n```\n\n" +
		"Known issues: the progress bar may flicker on Windows terminals. Contact: ops@example.com.\n"
	frame := func() []byte {
		return toolCall(`{"path":"/home/ada/projects/uploader/CHANGELOG.md","content":` + jstr(content) + `,"mode":"overwrite"}`)
	}
	for _, w := range strings.Fields("Upgrade notes: run the migration once, then restart the workers; nothing else changes for existing users of the tool.") {
		if len(frame())+len(w)+1 > 1024 {
			break
		}
		content += " " + w
	}
	for len(frame()) < 1024 {
		content += " "
	}
	return frame()
}

// benchResult is a 64 KiB tool result: source code and logs, with no secret, or with a few.
func benchResult(secrets bool) []byte {
	var b strings.Builder
	for i := 0; b.Len() < 64<<10-300; i++ {
		fmt.Fprintf(&b, "2026-01-02T10:%02d:%02dZ INFO request id=%s path=/api/v1/items/%d status=200 duration=%dms user=ada@example.com\n",
			i/60%60, i%60, gen(hexLower, 16), i, i%97)
		if i%5 == 0 {
			b.WriteString("    if err := client.Do(ctx, req); err != nil { return fmt.Errorf(\"fetch %s: %w\", url, err) }\n")
		}
		if secrets && i%100 == 50 {
			b.WriteString("config: GITHUB_TOKEN=ghp_" + gen(alnum, 36) + "\n")
		}
	}
	return toolResult(b.String())
}

// benchLoad loads the embedded module in an engine that discards events, as a gateway with a
// cheap event sink would: plugintest's Sink keeps every event, which would grow the heap.
func benchLoad(b *testing.B) *plugin.Plugin {
	bi, ok := plugins.Lookup("secrets")
	if !ok {
		b.Fatal("secrets is not embedded")
	}
	e, err := plugin.NewEngine(plugin.EngineConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(context.Background()) })
	p, err := e.Load(context.Background(), bi.Wasm, plugin.Spec{Name: "secrets", Version: bi.Manifest.Version,
		Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func BenchmarkSecrets(b *testing.B) {
	p := benchLoad(b)
	run := func(b *testing.B, hook abi.Hook, frame []byte, want abi.Action) {
		in := abi.Input{Hook: hook, Direction: hook.Direction(), Server: "files", Tool: "write_file", Frame: frame}
		var v abi.Verdict
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			if err := p.Call(context.Background(), &in, time.Second, &v); err != nil {
				b.Fatal(err)
			}
		}
		if v.Action != want {
			b.Fatalf("got %s %q", v.Action, v.Payload)
		}
	}
	b.Run("1KiB-nomatch", func(b *testing.B) {
		f := benchFrame()
		if len(f) < 1024 || len(f) > 1100 {
			b.Fatalf("frame is %d bytes", len(f))
		}
		run(b, abi.HookRequestGuard, f, abi.ActionAllow)
	})
	b.Run("64KiB-result", func(b *testing.B) { run(b, abi.HookResponseGuard, benchResult(false), abi.ActionAllow) })
	b.Run("64KiB-result-redact", func(b *testing.B) { run(b, abi.HookResponseGuard, benchResult(true), abi.ActionRewrite) })
}

// BenchmarkSecrets_Instantiate reports the module size and the time to load it (compilation is
// cached after the first load; this is the host's per-load module check and rewrite) and create
// its first instance.
func BenchmarkSecrets_Instantiate(b *testing.B) {
	bi, ok := plugins.Lookup("secrets")
	if !ok {
		b.Fatal("secrets is not embedded")
	}
	e, err := plugin.NewEngine(plugin.EngineConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background())
	spec := plugin.Spec{Name: "secrets", Version: bi.Manifest.Version, Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}, Instances: 1}
	for b.Loop() {
		p, err := e.Load(context.Background(), bi.Wasm, spec) // compiled once, then cached
		if err != nil {
			b.Fatal(err)
		}
		p.Close(context.Background())
	}
	b.ReportMetric(float64(len(bi.Wasm)), "wasm-bytes")
}
