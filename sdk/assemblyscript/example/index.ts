// The guardrail of sdk/assemblyscript/README.md (the same as sdk/go/example):
// it blocks tool calls whose arguments contain a denied phrase, and redacts
// AWS access key IDs from everything servers send back. Living inside the
// SDK, it imports the SDK by path; the README's copy imports "@portcullis/sdk".
//
//   npx asc example/index.ts --config asconfig.json -o example.wasm

import {
  Call, Verdict, Level, ByteWriter, allow, block, rewrite, log, emit, onRequest, onResponse,
  bytes, indexOf, containsIgnoreCase, jsonGet, jsonArray, jsonString, jsonUnescape,
} from "../index";
export * from "../exports"; // the entry points the gateway calls

const AKIA = bytes("AKIA");
const REDACTED = bytes("[REDACTED]");

onRequest(guardRequest);
onResponse(redactResponse);

function guardRequest(call: Call): Verdict {
  // The binding's config, e.g. {"deny": ["rm -rf"]}.
  const list = jsonGet(call.config, "deny");
  if (list == null) return allow(); // nothing denied
  const deny = jsonArray(list);
  if (deny == null) return block("guard misconfigured: deny must be a list of phrases");
  if (jsonString(jsonGet(call.frame, "method")) != "tools/call") return allow();
  const args = jsonGet(call.frame, "params.arguments");
  if (args == null) return allow();
  const text = jsonUnescape(args); // so that "rm \u002drf" reads "rm -rf"
  for (let i = 0; i < deny.length; i++) {
    const phrase = jsonString(deny[i]);
    if (phrase == null) return block("guard misconfigured: deny must be a list of phrases");
    if (containsIgnoreCase(text, bytes(phrase))) {
      log(Level.Warn, "blocked " + call.tool + " on " + call.server + ": " + phrase);
      return block("denied phrase in arguments: " + phrase);
    }
  }
  return allow();
}

// awsKeyAt returns where the first AWS access key ID (AKIA then 16 of
// [0-9A-Z]) at or after from starts, or -1.
function awsKeyAt(b: Uint8Array, from: i32): i32 {
  for (let i = indexOf(b, AKIA, from); i >= 0 && i + 20 <= b.length; i = indexOf(b, AKIA, i + 1)) {
    let j = i + 4;
    while (j < i + 20 && ((b[j] >= 0x30 && b[j] <= 0x39) || (b[j] >= 0x41 && b[j] <= 0x5a))) j++;
    if (j == i + 20) return i;
  }
  return -1;
}

function redactResponse(call: Call): Verdict {
  const frame = call.frame;
  let at = awsKeyAt(frame, 0);
  if (at < 0) return allow();
  const out = new ByteWriter(frame.length);
  let from = 0;
  while (at >= 0) {
    out.write(frame, from, at).write(REDACTED);
    from = at + 20;
    at = awsKeyAt(frame, from);
  }
  emit("redacted", bytes(call.server));
  return rewrite(out.write(frame, from).bytes());
}
