/*
 * portcullis.h: the C guest SDK for Portcullis plugins (plugin ABI v1, abi/ABI.md).
 *
 * One header, nothing to link. Write a handler per hook and register it:
 *
 *     #include "portcullis.h"
 *
 *     static pc_verdict guard(const pc_call *c) {
 *         if (pc_find(c->frame, PC_STR("rm -rf")) >= 0)
 *             return pc_block(PC_STR("destructive command"));
 *         return pc_allow();
 *     }
 *     PORTCULLIS_REQUEST_GUARD(guard)
 *
 * and build a reactor module:
 *
 *     clang --target=wasm32-wasi --sysroot=/usr -Os -mexec-model=reactor -o guard.wasm guard.c
 *
 * The header may be included from several files of one module: the pieces that must exist once
 * (the ABI exports and the SDK's state) are weak definitions, which the linker merges. Register
 * each hook in exactly one file.
 *
 * Memory: the SDK never calls malloc. It takes whole pages from memory.grow for the host's input
 * buffer and for a per-call arena (pc_alloc, pc_buf, verdicts, decoded replicas), which is reset
 * when the next hook call starts. Everything a handler gets (pc_call fields, arena memory) is valid
 * only until it returns. malloc from wasi-libc works alongside: the SDK only uses pages it grew
 * itself, never memory malloc manages. Running out of memory traps, which costs the instance and
 * this call, like a crash.
 */
#ifndef PORTCULLIS_H
#define PORTCULLIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(__wasm32__)
#error "portcullis.h builds WebAssembly guests: compile with --target=wasm32-wasi"
#endif

/* ---- Types ------------------------------------------------------------------------------- */

/* pc_str is a byte string: a pointer and a length, not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} pc_str;

/* PC_STR makes a pc_str of a string literal. */
#define PC_STR(lit) ((pc_str)PC__LIT(lit))
#define PC__LIT(lit) {"" lit, sizeof(lit) - 1}

/* Hook numbers (ABI §4). */
enum {
    PC_HOOK_REQUEST_GUARD = 1,
    PC_HOOK_RESPONSE_GUARD = 2,
    PC_HOOK_TOOL_FILTER = 3,
    PC_HOOK_ROUTE = 4,
    PC_HOOK_AUDIT = 5,
};

/* Directions of a frame. */
enum { PC_DIR_NONE = 0, PC_DIR_REQUEST = 1, PC_DIR_RESPONSE = 2 };

/* Log levels. */
enum { PC_DEBUG = 0, PC_INFO = 1, PC_WARN = 2, PC_ERROR = 3 };

/* pc_replica is one upstream replica offered to a route handler. */
typedef struct {
    pc_str name;
    uint32_t in_flight;  /* requests in flight */
    uint32_t latency_us; /* recent latency, 0 if unknown */
    bool healthy;
} pc_replica;

/* pc_call is what a handler receives: the decoded input message. Every pointer points into the
 * host's input buffer, which the host reuses: copy what you keep after the handler returns. */
typedef struct {
    int hook;      /* PC_HOOK_* */
    int direction; /* PC_DIR_* */
    pc_str server; /* target server, empty when not known yet */
    pc_str tool;   /* tool of a tools/call, empty otherwise */
    pc_str agent;  /* calling agent, empty when anonymous */
    pc_str team;   /* the agent's team, empty when none */
    pc_str config; /* the binding's config, JSON, empty when none */
    pc_str frame;  /* the raw JSON-RPC frame; for audit, the audit record */
    const pc_replica *replicas; /* route: the server's replicas */
    size_t nreplicas;
} pc_call;

/* pc_verdict is a handler's answer: an encoded verdict message in guest memory, packed as the
 * hook exports return it. Build one with pc_allow, pc_block, pc_block_code, pc_rewrite or
 * pc_route; PC_NO_VERDICT is a failure (log why first), and the binding's failure policy applies. */
typedef struct {
    uint64_t packed;
} pc_verdict;

#define PC_NO_VERDICT ((pc_verdict){0})

/* pc_handler is the type of a hook handler. */
typedef pc_verdict (*pc_handler)(const pc_call *c);

/* ---- Host functions (ABI §5) --------------------------------------------------------------- */

__attribute__((import_module("portcullis"), import_name("log"))) void
pc__host_log(uint32_t level, const char *ptr, size_t len);
__attribute__((import_module("portcullis"), import_name("emit"))) void
pc__host_emit(const char *name, size_t name_len, const char *data, size_t data_len);
__attribute__((import_module("portcullis"), import_name("now"))) int64_t pc__host_now(void);

/* pc_log sends one line to the gateway's log. It keeps at most 16 lines of 1 KiB per call. */
static inline void pc_log(int level, pc_str msg) { pc__host_log((uint32_t)level, msg.ptr, msg.len); }

/* pc_emit sends a named event (a counter tick, an alert) to the gateway's event sink; names are
 * cut at 128 bytes, data at 64 KiB. */
static inline void pc_emit(pc_str name, pc_str data) {
    pc__host_emit(name.ptr, name.len, data.ptr, data.len);
}

/* pc_now returns the gateway's wall clock in Unix nanoseconds. Calling it imports a host
 * function that only plugins granted the clock may import: without the grant the gateway refuses
 * the module. Modules that never call it do not import it. */
static inline int64_t pc_now(void) { return pc__host_now(); }

/* ---- SDK state and memory -------------------------------------------------------------- */

struct pc__runtime {
    char *in;        /* the host's input buffer (ABI §4.2) */
    size_t in_cap;
    char *arena;     /* per-call bump arena */
    size_t arena_cap, arena_used;
    bool grown;      /* the SDK has grown memory */
};

/* Weak so that every file including the header shares one copy. */
__attribute__((weak)) struct pc__runtime pc__rt;

#define PC__PAGE 65536u

static inline size_t pc__pages_of(uint64_t bytes) { return (size_t)((bytes + PC__PAGE - 1) / PC__PAGE); }

/* wasi-libc's malloc makes its first call take the memory between __heap_base and the end of
 * memory (Debian's 2022 wasi-libc: the end as it is then, which would include pages the SDK
 * grew; later versions stop at the initial end). So when the module links malloc, the SDK
 * initializes it before growing memory for the first time. These weak references resolve only
 * if something else pulls malloc in; they are wasi-libc's names for malloc and free. */
extern void *__libc_malloc(size_t) __attribute__((weak));
extern void __libc_free(void *) __attribute__((weak));

/* pc__grow takes fresh pages at the end of memory: nobody else owns them, malloc included. */
static inline char *pc__grow(size_t pages) {
    if (!pc__rt.grown) {
        pc__rt.grown = true;
        if (__libc_malloc && __libc_free)
            __libc_free(__libc_malloc(1));
    }
    size_t old = __builtin_wasm_memory_grow(0, pages);
    return old == (size_t)-1 ? NULL : (char *)(uintptr_t)(old * PC__PAGE);
}

/* pc__extend grows the page-aligned region [p, p+cap) to newcap in place when it ends where
 * memory ends, which is the common case: nothing else grew memory since. */
static inline bool pc__extend(char *p, size_t cap, size_t newcap) {
    if ((uint64_t)(uintptr_t)p + cap != (uint64_t)__builtin_wasm_memory_size(0) * PC__PAGE)
        return false;
    return pc__grow(pc__pages_of(newcap) - pc__pages_of(cap)) != NULL;
}

static inline __attribute__((noinline, cold)) void pc__oom(void) {
    static const char msg[] = "portcullis: out of memory";
    pc__host_log(PC_ERROR, msg, sizeof msg - 1);
    __builtin_trap();
}

/* pc__arena_more is pc__arena_fit's slow path, out of line to keep the callers small. A new
 * region leaves the old one's allocations valid until the call ends; its pages are not reused,
 * which geometric growth keeps below the size of the arena in use. */
static inline __attribute__((noinline)) size_t pc__arena_more(size_t at, size_t need) {
    struct pc__runtime *rt = &pc__rt;
    uint64_t want = (uint64_t)at + need;
    uint64_t cap = rt->arena_cap ? (uint64_t)rt->arena_cap * 2 : PC__PAGE;
    while (cap < want)
        cap *= 2;
    if (cap > 0x80000000u) /* beyond any memory limit the host allows */
        pc__oom();
    size_t rounded = pc__pages_of(cap) * PC__PAGE;
    if (rt->arena && pc__extend(rt->arena, rt->arena_cap, rounded)) {
        rt->arena_cap = rounded;
        return at;
    }
    char *p = pc__grow(pc__pages_of(rounded));
    if (!p)
        pc__oom();
    rt->arena = p;
    rt->arena_cap = rounded;
    rt->arena_used = 0;
    return 0;
}

/* pc__arena_fit makes room for need bytes past offset at, returning the (maybe new) offset. */
static inline size_t pc__arena_fit(size_t at, size_t need) {
    if (pc__rt.arena && (uint64_t)at + need <= pc__rt.arena_cap)
        return at;
    return pc__arena_more(at, need);
}

/* pc_alloc returns n bytes (8-aligned) of the call's arena, valid until the handler returns. It
 * never returns NULL: when memory runs out the call traps. */
static inline void *pc_alloc(size_t n) {
    size_t at = pc__arena_fit((pc__rt.arena_used + 7) & ~(size_t)7, n);
    pc__rt.arena_used = at + n;
    return pc__rt.arena + at;
}

/* pc__realloc grows the arena block p from old to n bytes, in place when it is the last one. */
static inline char *pc__realloc(char *p, size_t old, size_t n) {
    struct pc__runtime *rt = &pc__rt;
    if (!p || p + old != rt->arena + rt->arena_used) {
        char *q = (char *)pc_alloc(n);
        if (old)
            memcpy(q, p, old);
        return q;
    }
    char *base = rt->arena;
    size_t to = pc__arena_fit((size_t)(p - base), n);
    rt->arena_used = to + n;
    if (rt->arena == base)
        return p;
    memcpy(rt->arena + to, p, old); /* moved to a new region */
    return rt->arena + to;
}

/* ---- Output buffers ---------------------------------------------------------------------- */

/* pc_buf builds bytes in the call's arena: a new frame, a reason, a log line. Start from
 * pc_buf b = {0}; it grows as needed (in place while it is the last arena allocation). */
typedef struct {
    char *ptr;
    size_t len, cap;
} pc_buf;

static inline __attribute__((noinline)) void pc__buf_grow(pc_buf *b, size_t n) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > 0x40000000u)
            pc__oom();
        cap *= 2;
    }
    b->ptr = pc__realloc(b->ptr, b->cap, cap);
    b->cap = cap;
}

/* pc_buf_reserve makes room for n more bytes and returns where they go. */
static inline char *pc_buf_reserve(pc_buf *b, size_t n) {
    if (b->cap - b->len < n)
        pc__buf_grow(b, n);
    return b->ptr + b->len;
}

static inline void pc_buf_put(pc_buf *b, const void *p, size_t n) {
    if (n) {
        memcpy(pc_buf_reserve(b, n), p, n);
        b->len += n;
    }
}

static inline void pc_buf_puts(pc_buf *b, pc_str s) { pc_buf_put(b, s.ptr, s.len); }

static inline void pc_buf_putc(pc_buf *b, char c) {
    *pc_buf_reserve(b, 1) = c;
    b->len++;
}

/* pc_buf_int appends v in decimal. */
static inline void pc_buf_int(pc_buf *b, int64_t v) {
    char tmp[20], *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        pc_buf_putc(b, '-');
    pc_buf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* pc_buf_json_string appends s as a quoted JSON string. */
static inline void pc_buf_json_string(pc_buf *b, pc_str s) {
    static const char hex[] = "0123456789abcdef";
    pc_buf_putc(b, '"');
    size_t done = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        pc_buf_put(b, s.ptr + done, i - done);
        done = i + 1;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
            n = 6;
        }
        pc_buf_put(b, esc, n);
    }
    pc_buf_put(b, s.ptr + done, s.len - done);
    pc_buf_putc(b, '"');
}

/* pc_buf_str returns the bytes built so far. */
static inline pc_str pc_buf_str(const pc_buf *b) { return (pc_str){b->ptr, b->len}; }

/* ---- Verdicts (ABI §7) ----------------------------------------------------------------- */

#define PC_MAX_REASON 1024

static inline void pc__le32(char *p, uint32_t v) { memcpy(p, &v, 4); /* wasm is little-endian */ }

static inline pc_verdict pc__verdict(uint8_t action, uint32_t value, pc_str payload) {
    char *m = (char *)pc_alloc(12 + payload.len);
    m[0] = 1, m[1] = (char)action, m[2] = 0, m[3] = 0;
    pc__le32(m + 4, value);
    pc__le32(m + 8, (uint32_t)payload.len);
    if (payload.len)
        memcpy(m + 12, payload.ptr, payload.len);
    return (pc_verdict){(uint64_t)(uintptr_t)m << 32 | (uint64_t)(12 + payload.len)};
}

/* pc_allow lets the frame pass unchanged (for route: no preference). */
static inline pc_verdict pc_allow(void) {
    static const char allow[12] = {1};
    return (pc_verdict){(uint64_t)(uintptr_t)allow << 32 | 12};
}

/* pc_block_code answers the frame with a JSON-RPC error: code (0 is the gateway's default,
 * -32001) and reason, cut at a UTF-8 boundary to the 1024 bytes the ABI allows. */
static inline pc_verdict pc_block_code(int32_t code, pc_str reason) {
    if (reason.len > PC_MAX_REASON) {
        size_t n = PC_MAX_REASON;
        while (n > 0 && ((unsigned char)reason.ptr[n] & 0xc0) == 0x80)
            n--;
        reason.len = n;
    }
    return pc__verdict(1, (uint32_t)code, reason);
}

/* pc_block is pc_block_code with the gateway's default code. */
static inline pc_verdict pc_block(pc_str reason) { return pc_block_code(0, reason); }

/* pc_rewrite replaces the frame (the bytes are copied). The new frame must be a JSON-RPC 2.0
 * object keeping the original "id", or the gateway treats the plugin as failed. */
static inline pc_verdict pc_rewrite(pc_str frame) { return pc__verdict(2, 0, frame); }

/* pc_route sends the request to c->replicas[i] (route hook only). */
static inline pc_verdict pc_route(uint32_t i) { return pc__verdict(3, i, (pc_str){0, 0}); }

/* pc_panic logs msg at error level as "portcullis: panic: <msg>" and traps: the gateway
 * destroys the instance and applies the binding's failure policy. */
static inline _Noreturn void pc_panic(pc_str msg) {
    pc_buf b = {0};
    pc_buf_puts(&b, PC_STR("portcullis: panic: "));
    pc_buf_puts(&b, msg);
    pc_log(PC_ERROR, pc_buf_str(&b));
    __builtin_trap();
}

/* ---- Names ------------------------------------------------------------------------------ */

/* pc_hook_name returns a hook's ABI name ("request_guard"...), "" for an unknown number. */
static inline pc_str pc_hook_name(int hook) {
    static const pc_str names[] = {PC__LIT(""), PC__LIT("request_guard"), PC__LIT("response_guard"),
                                   PC__LIT("tool_filter"), PC__LIT("route"), PC__LIT("audit")};
    return hook > 0 && hook <= PC_HOOK_AUDIT ? names[hook] : names[0];
}

/* pc_direction_name returns "none", "request" or "response". */
static inline pc_str pc_direction_name(int dir) {
    static const pc_str names[] = {PC__LIT("none"), PC__LIT("request"), PC__LIT("response")};
    return dir >= 0 && dir <= PC_DIR_RESPONSE ? names[dir] : PC_STR("");
}

/* ---- Byte strings ---------------------------------------------------------------------- */

/* pc_cstr makes a pc_str of a NUL-terminated string. */
static inline pc_str pc_cstr(const char *s) { return (pc_str){s, s ? strlen(s) : 0}; }

/* pc_slice returns s[from:to], clamped to s. */
static inline pc_str pc_slice(pc_str s, size_t from, size_t to) {
    if (to > s.len)
        to = s.len;
    if (from > to)
        from = to;
    return (pc_str){s.ptr + from, to - from};
}

static inline bool pc_eq(pc_str a, pc_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

static inline unsigned char pc_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }

/* Scanning eight bytes at a time (wasm loads need no alignment). With x = word ^ (c * ONES),
 * PC__HAS_ZERO(x) is nonzero when some byte of the word is c, and pc__zero_bytes(x) marks
 * exactly those bytes (0x80 in each). */
#define PC__ONES 0x0101010101010101ull
#define PC__HAS_ZERO(x) (((x) - PC__ONES) & ~(x) & (PC__ONES << 7))

static inline uint64_t pc__load64(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t pc__zero_bytes(uint64_t x) {
    const uint64_t low7 = PC__ONES * 0x7f;
    return ~(((x & low7) + low7) | x | low7);
}

static inline bool pc__match_at(const unsigned char *h, pc_str needle, bool fold) {
    const unsigned char *n = (const unsigned char *)needle.ptr;
    if (!fold)
        return memcmp(h, n, needle.len) == 0;
    for (size_t k = 0; k < needle.len; k++)
        if (pc_lower(h[k]) != pc_lower(n[k]))
            return false;
    return true;
}

/* pc__find returns the offset of needle in hay, or -1; fold ignores ASCII case. Candidates are
 * positions where both the needle's first and last bytes match, eight positions per step. */
static inline ptrdiff_t pc__find(pc_str hay, pc_str needle, bool fold) {
    if (needle.len == 0)
        return 0;
    if (needle.len > hay.len)
        return -1;
    const unsigned char *h = (const unsigned char *)hay.ptr, *n = (const unsigned char *)needle.ptr;
    size_t end = needle.len - 1, last = hay.len - needle.len, i = 0;
    unsigned char first = fold ? pc_lower(n[0]) : n[0], final = fold ? pc_lower(n[end]) : n[end];
    /* With a letter, byte | 0x20 equals its lower case for both cases of it and nothing else. */
    unsigned char set1 = fold && first >= 'a' && first <= 'z' ? 0x20 : 0;
    unsigned char set2 = fold && final >= 'a' && final <= 'z' ? 0x20 : 0;
    uint64_t pat1 = PC__ONES * first, pat2 = PC__ONES * final, mask1 = PC__ONES * set1, mask2 = PC__ONES * set2;
    for (; i <= last && last - i >= 7; i += 8) {
        uint64_t m = pc__zero_bytes((pc__load64(h + i) | mask1) ^ pat1) &
                     pc__zero_bytes((pc__load64(h + i + end) | mask2) ^ pat2);
        for (; m; m &= m - 1) {
            size_t at = i + (size_t)__builtin_ctzll(m) / 8;
            if (pc__match_at(h + at, needle, fold))
                return (ptrdiff_t)at;
        }
    }
    for (; i <= last; i++)
        if ((h[i] | set1) == first && pc__match_at(h + i, needle, fold))
            return (ptrdiff_t)i;
    return -1;
}

/* pc_find returns the offset of the first needle in hay, or -1. */
static inline ptrdiff_t pc_find(pc_str hay, pc_str needle) { return pc__find(hay, needle, false); }

/* pc_find_fold is pc_find ignoring ASCII case. */
static inline ptrdiff_t pc_find_fold(pc_str hay, pc_str needle) { return pc__find(hay, needle, true); }

/* ---- Reading JSON -------------------------------------------------------------------------
 *
 * Enough JSON to read configs and frames without copying: values are returned raw, as slices of
 * the input ("\"tools/call\"", "{...}", "42"). The reader does not validate (the gateway already
 * parsed the frame, and configs come from its YAML); on malformed input it returns empty values
 * and never reads past the end. Object keys are compared as written, escapes included; with
 * duplicate keys the first wins.
 */

static inline const char *pc__ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* pc__string_end returns the end of the string starting at p (on its opening quote). */
static inline const char *pc__string_end(const char *p, const char *e) {
    const uint64_t quotes = PC__ONES * '"', slashes = PC__ONES * '\\';
    for (p++;;) {
        while (e - p >= 8) { /* skip words holding neither a quote nor a backslash */
            uint64_t w = pc__load64((const unsigned char *)p), q = w ^ quotes, b = w ^ slashes;
            if (PC__HAS_ZERO(q) | PC__HAS_ZERO(b))
                break;
            p += 8;
        }
        while (p < e && *p != '"' && *p != '\\')
            p++;
        if (p >= e)
            return NULL;
        if (*p == '"')
            return p + 1;
        p += 2; /* an escape */
    }
}

/* pc__value_end returns the end of the value starting at p, or NULL. */
static inline const char *pc__value_end(const char *p, const char *e) {
    /* 1: a string starts, 2: a container opens, 3: one closes */
    static const unsigned char special[256] = {['"'] = 1, ['{'] = 2, ['['] = 2, ['}'] = 3, [']'] = 3};
    if (p >= e)
        return NULL;
    if (*p == '"')
        return pc__string_end(p, e);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        for (; p < e; p++) {
            switch (special[(unsigned char)*p]) {
            case 0:
                break;
            case 1:
                if (!(p = pc__string_end(p, e)))
                    return NULL;
                p--;
                break;
            case 2:
                depth++;
                break;
            default:
                if (--depth == 0)
                    return p + 1;
            }
        }
        return NULL;
    }
    const char *s = p;
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ':' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p > s ? p : NULL;
}

/* pc_json_iter walks the members of an object or the elements of an array. */
typedef struct {
    const char *p, *end;
    char close;
    bool object, started;
} pc_json_iter;

/* pc_json_iterate starts walking v, a raw object or array; anything else yields nothing. */
static inline pc_json_iter pc_json_iterate(pc_str v) {
    pc_json_iter it = {0};
    if (!v.ptr)
        return it;
    const char *e = v.ptr + v.len, *p = pc__ws(v.ptr, e);
    if (p < e && (*p == '{' || *p == '[')) {
        it.object = *p == '{';
        it.close = it.object ? '}' : ']';
        it.p = p + 1, it.end = e;
    }
    return it;
}

/* pc_json_next yields the next element (key stays empty) or member (key is the name as written,
 * without quotes). It returns false at the end or on malformed input. */
static inline bool pc_json_next(pc_json_iter *it, pc_str *key, pc_str *value) {
    const char *e = it->end, *p;
    if (!it->p || (p = pc__ws(it->p, e)) >= e)
        goto done;
    if (*p == it->close)
        goto done;
    if (it->started) {
        if (*p != ',')
            goto done;
        p = pc__ws(p + 1, e);
    }
    if (key)
        *key = (pc_str){0, 0};
    if (it->object) {
        const char *k = p, *ke = p < e && *p == '"' ? pc__string_end(p, e) : NULL;
        if (!ke || (p = pc__ws(ke, e)) >= e || *p != ':')
            goto done;
        if (key)
            *key = (pc_str){k + 1, (size_t)(ke - k - 2)};
        p = pc__ws(p + 1, e);
    }
    const char *ve = pc__value_end(p, e);
    if (!ve)
        goto done;
    *value = (pc_str){p, (size_t)(ve - p)};
    it->p = ve, it->started = true;
    return true;
done:
    it->p = NULL;
    return false;
}

/* pc_json_get returns the raw value of member key of the object obj, or an empty pc_str (ptr
 * NULL) when obj is not an object or has no such member. */
static inline pc_str pc_json_get(pc_str obj, const char *key) {
    pc_json_iter it = pc_json_iterate(obj);
    pc_str k, v;
    size_t n = strlen(key);
    if (!it.object)
        return (pc_str){0, 0};
    while (pc_json_next(&it, &k, &v))
        if (k.len == n && memcmp(k.ptr, key, n) == 0)
            return v;
    return (pc_str){0, 0};
}

static inline int pc__hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static inline int32_t pc__hex4(const char *p, const char *e) {
    if (e - p < 4)
        return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = pc__hex(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* pc_json_string decodes the raw JSON string raw. Without escapes it returns a slice of raw; with
 * escapes, a copy in the arena. Not a string, or a bad escape: an empty pc_str with ptr NULL. */
static inline pc_str pc_json_string(pc_str raw) {
    if (raw.len < 2 || raw.ptr[0] != '"' || raw.ptr[raw.len - 1] != '"')
        return (pc_str){0, 0};
    const char *p = raw.ptr + 1, *e = raw.ptr + raw.len - 1;
    if (!memchr(p, '\\', (size_t)(e - p)))
        return (pc_str){p, (size_t)(e - p)};
    char *out = (char *)pc_alloc((size_t)(e - p)), *o = out; /* decoding never lengthens */
    while (p < e) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        if (++p >= e)
            return (pc_str){0, 0};
        char c = *p++;
        switch (c) {
        case '"': case '\\': case '/': *o++ = c; continue;
        case 'b': *o++ = '\b'; continue;
        case 'f': *o++ = '\f'; continue;
        case 'n': *o++ = '\n'; continue;
        case 'r': *o++ = '\r'; continue;
        case 't': *o++ = '\t'; continue;
        case 'u': break;
        default: return (pc_str){0, 0};
        }
        int32_t r = pc__hex4(p, e);
        if (r < 0)
            return (pc_str){0, 0};
        p += 4;
        if (r >= 0xd800 && r < 0xdc00) { /* a surrogate pair makes one code point */
            int32_t lo = e - p >= 6 && p[0] == '\\' && p[1] == 'u' ? pc__hex4(p + 2, e) : -1;
            if (lo >= 0xdc00 && lo < 0xe000) {
                r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            } else {
                r = 0xfffd;
            }
        } else if (r >= 0xdc00 && r < 0xe000) {
            r = 0xfffd; /* a lone low surrogate, as encoding/json decodes it */
        }
        if (r < 0x80) {
            *o++ = (char)r;
        } else if (r < 0x800) {
            *o++ = (char)(0xc0 | r >> 6), *o++ = (char)(0x80 | (r & 0x3f));
        } else if (r < 0x10000) {
            *o++ = (char)(0xe0 | r >> 12), *o++ = (char)(0x80 | (r >> 6 & 0x3f));
            *o++ = (char)(0x80 | (r & 0x3f));
        } else {
            *o++ = (char)(0xf0 | r >> 18), *o++ = (char)(0x80 | (r >> 12 & 0x3f));
            *o++ = (char)(0x80 | (r >> 6 & 0x3f)), *o++ = (char)(0x80 | (r & 0x3f));
        }
    }
    return (pc_str){out, (size_t)(o - out)};
}

/* pc_json_int parses the raw JSON integer raw into *out; false if it is not an integer that
 * fits an int64 (fractions and exponents included). */
static inline bool pc_json_int(pc_str raw, int64_t *out) {
    const char *p = raw.ptr, *e = raw.ptr + raw.len;
    bool neg = p < e && *p == '-';
    p += neg;
    if (p >= e)
        return false;
    uint64_t v = 0, max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9' || v > (max - (uint64_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* pc_json_kind returns the first byte of the JSON value raw: '{' object, '[' array, '"' string,
 * 't' or 'f' boolean, 'n' null, '-' or a digit for a number; 0 when raw is empty. */
static inline char pc_json_kind(pc_str raw) {
    const char *p = raw.ptr ? pc__ws(raw.ptr, raw.ptr + raw.len) : NULL;
    return p && p < raw.ptr + raw.len ? *p : 0;
}

/* pc_json_true reports whether raw is the literal true. */
static inline bool pc_json_true(pc_str raw) { return pc_eq(raw, PC_STR("true")); }

/* ---- Dispatch (ABI §4 and §6) ------------------------------------------------------------ */

static inline uint32_t pc__u32(const char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* pc__decode decodes the input message in[0:n] for hook into *c, or returns why it cannot. */
static inline const char *pc__decode(int hook, const char *in, size_t n, pc_call *c) {
    if (n < 32)
        return "short message";
    if (in[0] != 1)
        return "unknown version";
    if (in[3] != 0)
        return "reserved flags set";
    if (in[1] != hook)
        return "message for another hook";
    if ((unsigned char)in[2] > PC_DIR_RESPONSE)
        return "unknown direction";
    uint64_t lens[6], total = 32;
    for (int i = 0; i < 6; i++)
        total += lens[i] = pc__u32(in + 4 + 4 * i);
    uint64_t count = pc__u32(in + 28);
    total += count * 16;
    if (total > n)
        return "fields past the end";
    pc_str *fields[6] = {&c->server, &c->tool, &c->agent, &c->team, &c->config, &c->frame};
    const char *p = in + 32;
    for (int i = 0; i < 6; i++) {
        *fields[i] = (pc_str){p, (size_t)lens[i]};
        p += lens[i];
    }
    const char *table = p, *names = p + count * 16, *end = in + n;
    pc_replica *r = count ? (pc_replica *)pc_alloc((size_t)count * sizeof *r) : NULL;
    for (uint64_t i = 0; i < count; i++) {
        const char *entry = table + i * 16;
        uint32_t len = pc__u32(entry), flags = pc__u32(entry + 12);
        if ((uint64_t)(end - names) < len)
            return "replica name past the end";
        if (flags & ~1u)
            return "reserved replica flags set";
        r[i] = (pc_replica){{names, len}, pc__u32(entry + 4), pc__u32(entry + 8), flags & 1};
        names += len;
    }
    if (names != end)
        return "trailing bytes";
    c->hook = hook;
    c->direction = in[2];
    c->replicas = r;
    c->nreplicas = (size_t)count;
    return NULL;
}

/* pc__dispatch runs fn on the input message of a hook call. A message that does not decode is
 * logged and answered with no verdict. */
static inline uint64_t pc__dispatch(int hook, const char *in, uint32_t n, pc_handler fn) {
    pc__rt.arena_used = 0; /* the previous call's verdict is no longer needed (ABI §4.4) */
    pc_call c;
    const char *err = pc__decode(hook, in, n, &c);
    if (err) {
        pc_buf b = {0};
        pc_buf_puts(&b, PC_STR("portcullis: bad input message for "));
        pc_buf_puts(&b, pc_hook_name(hook));
        pc_buf_puts(&b, PC_STR(": "));
        pc_buf_puts(&b, pc_cstr(err));
        pc_log(PC_ERROR, pc_buf_str(&b));
        return 0;
    }
    return fn(&c).packed;
}

/* The version marker and the allocator (ABI §2, §4.1-2). */
__attribute__((weak, export_name("portcullis_abi_v1"))) void pc__abi_v1(void) {}

__attribute__((weak, export_name("portcullis_alloc"))) void *pc__export_alloc(uint32_t size) {
    struct pc__runtime *rt = &pc__rt;
    size_t cap = pc__pages_of(size ? size : 1) * PC__PAGE;
    if (rt->in && cap <= rt->in_cap)
        return rt->in;
    /* The host never touches the old buffer again, so growing it in place is allowed. */
    if (rt->in && pc__extend(rt->in, rt->in_cap, cap)) {
        rt->in_cap = cap;
        return rt->in;
    }
    char *p = pc__grow(pc__pages_of(cap));
    if (!p)
        return NULL; /* the host reports the failure */
    rt->in = p;
    rt->in_cap = cap;
    return p;
}

/* ---- Registration ----------------------------------------------------------------------- */

/* PORTCULLIS_<HOOK>(fn) exports the hook's entry point and makes fn its handler. Use each at
 * file scope, at most once per module; one function may handle several hooks. */
#define PC__HOOK(hook, name, fn)                                                                   \
    __attribute__((export_name("portcullis_" #name))) uint64_t pc__export_##name(const char *in,   \
                                                                                 uint32_t n) {     \
        return pc__dispatch(hook, in, n, fn);                                                      \
    }

#define PORTCULLIS_REQUEST_GUARD(fn) PC__HOOK(PC_HOOK_REQUEST_GUARD, request_guard, fn)
#define PORTCULLIS_RESPONSE_GUARD(fn) PC__HOOK(PC_HOOK_RESPONSE_GUARD, response_guard, fn)
#define PORTCULLIS_TOOL_FILTER(fn) PC__HOOK(PC_HOOK_TOOL_FILTER, tool_filter, fn)
#define PORTCULLIS_ROUTE(fn) PC__HOOK(PC_HOOK_ROUTE, route, fn)
#define PORTCULLIS_AUDIT(fn) PC__HOOK(PC_HOOK_AUDIT, audit, fn)

#endif /* PORTCULLIS_H */
