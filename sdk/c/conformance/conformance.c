// The conformance guest that sdk_test.go runs in the real host against the golden vectors
// (abi/testdata/vectors.json), as host/plugin/plugintest's package doc defines it. Every hook
// emits the decoded call as a JSON "call" event in the shape of an input vector, then answers
// as its config says:
//
//   {"action":"block","code":-32050,"payload":"why"}   that verdict (also rewrite, route)
//   {"spin":true}   loop forever      {"hog":true}   allocate without end
//   {"panic":true}  pc_panic          {"log":"text"} log at info, then answer
#include "portcullis.h"

static void field(pc_buf *b, const char *name, pc_str value) {
    pc_buf_putc(b, b->len ? ',' : '{');
    pc_buf_json_string(b, pc_cstr(name));
    pc_buf_putc(b, ':');
    pc_buf_json_string(b, value);
}

static void number(pc_buf *b, const char *name, int64_t v) {
    pc_buf_putc(b, ',');
    pc_buf_json_string(b, pc_cstr(name));
    pc_buf_putc(b, ':');
    pc_buf_int(b, v);
}

static void emit_call(const pc_call *c) {
    pc_buf b = {0};
    field(&b, "hook", pc_hook_name(c->hook));
    field(&b, "direction", pc_direction_name(c->direction));
    field(&b, "server", c->server);
    field(&b, "tool", c->tool);
    field(&b, "agent", c->agent);
    field(&b, "team", c->team);
    field(&b, "config", c->config);
    field(&b, "frame", c->frame);
    pc_buf_puts(&b, PC_STR(",\"replicas\":["));
    for (size_t i = 0; i < c->nreplicas; i++) {
        const pc_replica *r = &c->replicas[i];
        pc_buf_puts(&b, i ? PC_STR(",{\"name\":") : PC_STR("{\"name\":"));
        pc_buf_json_string(&b, r->name);
        number(&b, "in_flight", r->in_flight);
        number(&b, "latency_us", r->latency_us);
        pc_buf_puts(&b, r->healthy ? PC_STR(",\"healthy\":true}") : PC_STR(",\"healthy\":false}"));
    }
    pc_buf_puts(&b, PC_STR("]}"));
    pc_emit(PC_STR("call"), pc_buf_str(&b));
}

static pc_verdict handle(const pc_call *c) {
    emit_call(c);
    pc_str cfg = c->config;
    if (pc_json_kind(cfg) != '{')
        return pc_allow(); // golden configs need not be ours
    if (pc_json_true(pc_json_get(cfg, "spin"))) {
        for (volatile uint32_t n = 0;; n++) {
        }
    }
    if (pc_json_true(pc_json_get(cfg, "hog"))) {
        for (;;)
            ((volatile char *)pc_alloc(1 << 20))[0] = 1; // traps when memory reaches its limit
    }
    if (pc_json_true(pc_json_get(cfg, "panic")))
        pc_panic(PC_STR("conformance guest asked to panic"));
    pc_str log = pc_json_string(pc_json_get(cfg, "log"));
    if (log.len)
        pc_log(PC_INFO, log);

    pc_str action = pc_json_string(pc_json_get(cfg, "action"));
    int64_t code = 0, replica = 0;
    pc_json_int(pc_json_get(cfg, "code"), &code);
    pc_json_int(pc_json_get(cfg, "replica"), &replica);
    pc_str payload = pc_json_string(pc_json_get(cfg, "payload"));
    if (pc_eq(action, PC_STR("block")))
        return pc_block_code((int32_t)code, payload);
    if (pc_eq(action, PC_STR("rewrite")))
        return pc_rewrite(payload);
    if (pc_eq(action, PC_STR("route")))
        return pc_route((uint32_t)replica);
    return pc_allow();
}

PORTCULLIS_REQUEST_GUARD(handle)
PORTCULLIS_RESPONSE_GUARD(handle)
PORTCULLIS_TOOL_FILTER(handle)
PORTCULLIS_ROUTE(handle)
PORTCULLIS_AUDIT(handle)
