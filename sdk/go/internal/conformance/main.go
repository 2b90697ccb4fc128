// Command conformance is the guest the SDK's tests run in the real host
// against the golden vectors (abi/testdata/vectors.json). Every hook emits
// the decoded Call as a JSON "call" event in the shape of an input vector, then answers as its config says:
//
//	{"action":"block","code":-32050,"payload":"why"}   build that verdict
//	{"spin":true}   loop forever      {"hog":true}   allocate without end
//	{"panic":true}  panic             {"log":"text"} log, then allow
package main

import (
	"encoding/json"

	"github.com/portcullis-mcp/portcullis/abi/abitest"

	portcullis "github.com/portcullis-mcp/portcullis/sdk/go"
)

type config struct {
	Action  string `json:"action"`
	Code    int32  `json:"code"`
	Replica int    `json:"replica"`
	Payload string `json:"payload"`
	Spin    bool   `json:"spin"`
	Hog     bool   `json:"hog"`
	Panic   bool   `json:"panic"`
	Log     string `json:"log"`
}

var sink [][]byte

func handle(c *portcullis.Call) portcullis.Verdict {
	e := abitest.Input{Hook: c.Hook.String(), Direction: c.Direction.String(), Server: c.Server, Tool: c.Tool,
		Agent: c.Agent, Team: c.Team, Config: string(c.RawConfig), Frame: string(c.Frame)}
	for _, r := range c.Replicas {
		e.Replicas = append(e.Replicas, abitest.Replica(r))
	}
	b, _ := json.Marshal(e)
	portcullis.Emit("call", b)
	var cfg config
	if err := c.Config(&cfg); err != nil {
		return portcullis.Allow() // golden configs need not be ours
	}
	switch {
	case cfg.Spin:
		for n := 0; ; n++ {
			if n < 0 {
				break
			}
		}
	case cfg.Hog:
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	case cfg.Panic:
		panic("conformance guest asked to panic")
	case cfg.Log != "":
		portcullis.Log(portcullis.Info, cfg.Log)
	}
	switch cfg.Action {
	case "block":
		return portcullis.BlockCode(cfg.Code, cfg.Payload)
	case "rewrite":
		return portcullis.Rewrite([]byte(cfg.Payload))
	case "route":
		return portcullis.RouteTo(cfg.Replica)
	}
	return portcullis.Allow()
}

func init() {
	portcullis.OnRequest(handle)
	portcullis.OnResponse(handle)
	portcullis.OnToolList(handle)
	portcullis.OnRoute(handle)
	portcullis.OnAudit(handle)
}

func main() {}
