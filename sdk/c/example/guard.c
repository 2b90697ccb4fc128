// no-destruction: blocks tool calls whose arguments contain a phrase from the binding's config,
// e.g. {"deny": ["rm -rf"]}, and redacts AWS access key IDs from everything servers send back.
#include "portcullis.h"

static pc_verdict guard_request(const pc_call *c) {
    pc_str deny = pc_json_get(c->config, "deny");
    if (c->config.len > 0 && pc_json_kind(c->config) != '{')
        return pc_block(PC_STR("guard misconfigured: config is not a JSON object"));
    if (deny.ptr && pc_json_kind(deny) != '[')
        return pc_block(PC_STR("guard misconfigured: deny is not a list"));

    pc_str method = pc_json_string(pc_json_get(c->frame, "method"));
    if (!pc_eq(method, PC_STR("tools/call")))
        return pc_allow();
    pc_str args = pc_json_get(pc_json_get(c->frame, "params"), "arguments");

    pc_json_iter it = pc_json_iterate(deny);
    pc_str item;
    while (pc_json_next(&it, NULL, &item)) {
        pc_str phrase = pc_json_string(item);
        if (!phrase.ptr)
            return pc_block(PC_STR("guard misconfigured: deny holds a non-string"));
        if (pc_find_fold(args, phrase) < 0)
            continue;
        pc_buf msg = {0};
        pc_buf_puts(&msg, PC_STR("blocked "));
        pc_buf_puts(&msg, c->tool);
        pc_buf_puts(&msg, PC_STR(" on "));
        pc_buf_puts(&msg, c->server);
        pc_buf_puts(&msg, PC_STR(": "));
        pc_buf_json_string(&msg, phrase);
        pc_log(PC_WARN, pc_buf_str(&msg));

        pc_buf reason = {0};
        pc_buf_puts(&reason, PC_STR("denied phrase in arguments: "));
        pc_buf_puts(&reason, phrase);
        return pc_block(pc_buf_str(&reason));
    }
    return pc_allow();
}

// is_aws_key reports whether AKIA at f[i] starts an access key ID: AKIA and 16 of [0-9A-Z].
static bool is_aws_key(pc_str f, size_t i) {
    if (f.len - i < 20)
        return false;
    for (size_t k = i + 4; k < i + 20; k++) {
        char ch = f.ptr[k];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z')))
            return false;
    }
    return true;
}

static pc_verdict redact_response(const pc_call *c) {
    pc_str f = c->frame;
    pc_buf out = {0};
    size_t copied = 0, from = 0;
    ptrdiff_t at;
    while ((at = pc_find(pc_slice(f, from, f.len), PC_STR("AKIA"))) >= 0) {
        size_t i = from + (size_t)at;
        if (!is_aws_key(f, i)) {
            from = i + 1;
            continue;
        }
        pc_buf_put(&out, f.ptr + copied, i - copied);
        pc_buf_puts(&out, PC_STR("[REDACTED]"));
        copied = from = i + 20;
    }
    if (copied == 0)
        return pc_allow();
    pc_buf_put(&out, f.ptr + copied, f.len - copied);
    pc_emit(PC_STR("redacted"), c->server);
    return pc_rewrite(pc_buf_str(&out));
}

PORTCULLIS_REQUEST_GUARD(guard_request)
PORTCULLIS_RESPONSE_GUARD(redact_response)
