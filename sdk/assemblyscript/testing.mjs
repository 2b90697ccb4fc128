// Runs a built plugin in Node the way the gateway calls it (abi/ABI.md), so
// guards can be unit-tested with `node --test` before they meet a gateway.
//
//   import { load } from "@portcullis/sdk/testing.mjs";
//   const guard = await load("guard.wasm");
//   guard.call("request_guard", { config: { deny: ["rm -rf"] }, frame: {...} });
import { readFile } from "node:fs/promises";

const HOOKS = { request_guard: 1, response_guard: 2, tool_filter: 3, route: 4, audit: 5 };
const DIRECTIONS = { request_guard: 1, response_guard: 2, tool_filter: 2, route: 1, audit: 0 };
const ACTIONS = ["allow", "block", "rewrite", "route"];
const LEVELS = ["debug", "info", "warn", "error"];

const utf8 = new TextEncoder();
const fromUTF8 = new TextDecoder("utf-8", { fatal: false });
const asBytes = (v) => utf8.encode(v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));

/** Loads and instantiates the plugin at path (a .wasm file) with recording host functions. */
export async function load(path) {
  return new Guest(await readFile(path));
}

export class Guest {
  /** Lines logged, as "level message". */
  logs = [];
  /** Events emitted, as [name, data] with data decoded as UTF-8. */
  events = [];

  constructor(wasm) {
    const mem = () => new Uint8Array(this.instance.exports.memory.buffer);
    const text = (ptr, len) => fromUTF8.decode(mem().subarray(ptr, ptr + len));
    const imports = {
      portcullis: {
        log: (level, ptr, len) => this.logs.push(`${LEVELS[Math.min(level, 3)]} ${text(ptr, len)}`),
        emit: (np, nl, dp, dl) => this.events.push([text(np, nl), text(dp, dl)]),
        now: () => BigInt(Date.now()) * 1000000n,
      },
    };
    this.instance = new WebAssembly.Instance(new WebAssembly.Module(wasm), imports); // runs the start function
    this.buffer = 0;
    this.capacity = 0;
    this.mem = mem;
  }

  /** The hook mask the plugin reports (bit h set for hook number h). */
  hooks() {
    const f = this.instance.exports.portcullis_hooks;
    return f ? f() : 0;
  }

  /**
   * Calls hook (e.g. "request_guard") with call's fields: server, tool, agent,
   * team (strings), config and frame (strings, or values sent as JSON), and
   * replicas ([{name, inFlight, latencyMicros, healthy}]). Returns the verdict
   * {action, code, replica, payload} (payload as a string), or null for "no
   * verdict". A trap throws, as it costs the gateway the instance.
   */
  call(hook, call = {}) {
    const h = HOOKS[hook];
    if (!h) throw new Error(`unknown hook ${hook}`);
    const names = [call.server, call.tool, call.agent, call.team].map((s) => utf8.encode(s ?? ""));
    const config = asBytes(call.config), frame = asBytes(call.frame);
    const replicas = call.replicas ?? [];
    const replicaNames = replicas.map((r) => utf8.encode(r.name ?? ""));
    const fields = [...names, config, frame];
    const size = 32 + fields.reduce((n, f) => n + f.length, 0) + 16 * replicas.length +
      replicaNames.reduce((n, f) => n + f.length, 0);
    if (size > this.capacity) {
      this.buffer = this.instance.exports.portcullis_alloc(size);
      if (this.buffer === 0) throw new Error("portcullis_alloc returned 0");
      this.capacity = size;
    }
    const msg = new Uint8Array(size);
    const le = new DataView(msg.buffer);
    msg.set([1, h, DIRECTIONS[hook], 0]);
    fields.forEach((f, i) => le.setUint32(4 + 4 * i, f.length, true));
    le.setUint32(28, replicas.length, true);
    let off = 32;
    for (const f of fields) { msg.set(f, off); off += f.length; }
    replicas.forEach((r, i) => {
      le.setUint32(off, replicaNames[i].length, true);
      le.setUint32(off + 4, r.inFlight ?? 0, true);
      le.setUint32(off + 8, r.latencyMicros ?? 0, true);
      le.setUint32(off + 12, r.healthy ? 1 : 0, true);
      off += 16;
    });
    for (const n of replicaNames) { msg.set(n, off); off += n.length; }
    this.mem().set(msg, this.buffer);

    const res = BigInt.asUintN(64, this.instance.exports[`portcullis_${hook}`](this.buffer, size));
    if (res === 0n) return null;
    const ptr = Number(res >> 32n), len = Number(res & 0xffffffffn);
    const out = this.mem().slice(ptr, ptr + len);
    const view = new DataView(out.buffer);
    if (len < 12 || out[0] !== 1 || out[2] !== 0 || out[3] !== 0 || view.getUint32(8, true) !== len - 12 || !ACTIONS[out[1]]) {
      throw new Error(`malformed verdict ${Buffer.from(out).toString("hex")}`);
    }
    const action = ACTIONS[out[1]];
    return {
      action,
      code: action === "block" ? view.getInt32(4, true) : 0,
      replica: action === "route" ? view.getUint32(4, true) : 0,
      payload: fromUTF8.decode(out.subarray(12)),
    };
  }
}
