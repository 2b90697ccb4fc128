// Command example is the guardrail of sdk/go/README.md: it blocks tool
// calls whose arguments contain a denied phrase, and redacts AWS access
// key IDs from everything servers send back.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o guard.wasm .
package main

import (
	"bytes"
	"encoding/json"
	"regexp"

	portcullis "github.com/portcullis-mcp/portcullis/sdk/go"
)

// config is the binding's JSON config, e.g. {"deny": ["rm -rf"]}.
type config struct {
	Deny []string `json:"deny"`
}

// request is the part of a JSON-RPC request this guard reads.
type request struct {
	Method string `json:"method"`
	Params struct {
		Arguments json.RawMessage `json:"arguments"`
	} `json:"params"`
}

var awsKey = regexp.MustCompile(`AKIA[0-9A-Z]{16}`)

func init() {
	portcullis.OnRequest(guardRequest)
	portcullis.OnResponse(redactResponse)
}

func guardRequest(c *portcullis.Call) portcullis.Verdict {
	var cfg config
	if err := c.Config(&cfg); err != nil {
		return portcullis.Block("guard misconfigured: " + err.Error())
	}
	var req request
	if err := json.Unmarshal(c.Frame, &req); err != nil || req.Method != "tools/call" {
		return portcullis.Allow()
	}
	// Decoded and encoded again, so that JSON escapes ("rm \u002drf") cannot hide a phrase.
	var decoded any
	if err := json.Unmarshal(req.Params.Arguments, &decoded); err != nil {
		return portcullis.Allow()
	}
	normal, _ := json.Marshal(decoded)
	args := bytes.ToLower(normal)
	for _, phrase := range cfg.Deny {
		if bytes.Contains(args, bytes.ToLower([]byte(phrase))) {
			portcullis.Logf(portcullis.Warn, "blocked %s on %s: %q", c.Tool, c.Server, phrase)
			return portcullis.Block("denied phrase in arguments: " + phrase)
		}
	}
	return portcullis.Allow()
}

func redactResponse(c *portcullis.Call) portcullis.Verdict {
	if !awsKey.Match(c.Frame) {
		return portcullis.Allow()
	}
	portcullis.Emit("redacted", []byte(c.Server))
	return portcullis.Rewrite(awsKey.ReplaceAll(c.Frame, []byte("[REDACTED]")))
}

func main() {}
