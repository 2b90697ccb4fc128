// A routing strategy for sdk_test.go: the healthy replica with the fewest
// requests in flight, each decision stamped with the gateway's clock (so the
// module imports portcullis.now and needs the clock grant).
import { Call, Verdict, block, routeTo, emit, now, onRoute, bytes } from "../index";
export * from "../exports";

onRoute(route);

function route(call: Call): Verdict {
  const rs = call.replicas;
  let best = -1;
  for (let i = 0; i < rs.length; i++) {
    if (rs[i].healthy && (best < 0 || rs[i].inFlight < rs[best].inFlight)) best = i;
  }
  emit("routed", bytes(now().toString()));
  if (best < 0) return block("no healthy replica of " + call.server);
  return routeTo(best);
}
