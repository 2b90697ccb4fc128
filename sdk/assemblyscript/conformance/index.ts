// The conformance guest that sdk_test.go runs in the real host against the
// golden vectors (abi/testdata/vectors.json), as host/plugin/plugintest's
// package doc defines it: every hook emits the decoded call as a JSON "call"
// event, then answers as its config says:
//
//   {"action":"block","code":-32050,"payload":"why"}   that verdict
//   {"spin":true}  loop forever     {"hog":true}  allocate without end
//   {"panic":true} throw            {"log":"text"} log, then answer
import {
  Call, Verdict, Level, ByteWriter, allow, blockCode, rewrite, routeTo, log, emit,
  onRequest, onResponse, onToolList, onRoute, onAudit, bytes, hookName, directionName,
  jsonGet, jsonString, jsonInt, jsonBool,
} from "../index";
export * from "../exports";

const hog = new Array<ArrayBuffer>(); // global, so the allocations stay live
let spins: i64 = 0;

onRequest(handle);
onResponse(handle);
onToolList(handle);
onRoute(handle);
onAudit(handle);

function field(w: ByteWriter, name: string, value: Uint8Array): void {
  w.writeByte(0x2c).writeQuoted(bytes(name)).writeByte(0x3a).writeQuoted(value);
}

// describe renders the call as an abitest.Input (name and hex left out).
function describe(call: Call): Uint8Array {
  const w = new ByteWriter(256);
  w.writeString("{").writeQuoted(bytes("hook")).writeByte(0x3a).writeQuoted(bytes(hookName(call.hook)));
  field(w, "direction", bytes(directionName(call.direction)));
  field(w, "server", bytes(call.server));
  field(w, "tool", bytes(call.tool));
  field(w, "agent", bytes(call.agent));
  field(w, "team", bytes(call.team));
  field(w, "config", call.config);
  field(w, "frame", call.frame);
  w.writeString(",\"replicas\":[");
  const rs = call.replicas;
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i];
    if (i > 0) w.writeByte(0x2c);
    w.writeString("{\"name\":").writeQuoted(bytes(r.name));
    w.writeString(",\"in_flight\":" + r.inFlight.toString());
    w.writeString(",\"latency_us\":" + r.latencyMicros.toString());
    w.writeString(",\"healthy\":" + (r.healthy ? "true" : "false") + "}");
  }
  return w.writeString("]}").bytes();
}

function handle(call: Call): Verdict {
  emit("call", describe(call));
  const cfg = call.config;
  if (jsonBool(jsonGet(cfg, "spin"))) {
    while (spins >= 0) spins++; // the host's deadline stops it
  }
  if (jsonBool(jsonGet(cfg, "hog"))) {
    for (;;) hog.push(new ArrayBuffer(1 << 20)); // until memory growth fails
  }
  if (jsonBool(jsonGet(cfg, "panic"))) {
    throw new Error("conformance guest asked to panic");
  }
  const line = jsonString(jsonGet(cfg, "log"));
  if (line != null) log(Level.Info, line);
  const action = jsonString(jsonGet(cfg, "action"));
  const payload = jsonString(jsonGet(cfg, "payload"));
  if (action == "block") return blockCode(<i32>jsonInt(jsonGet(cfg, "code")), payload != null ? payload : "");
  if (action == "rewrite") return rewrite(bytes(payload != null ? payload : ""));
  if (action == "route") return routeTo(<i32>jsonInt(jsonGet(cfg, "replica")));
  return allow();
}
