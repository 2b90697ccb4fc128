// A real TypeScript SDK client for the gateway's end-to-end tests.
//
//   node tsclient.mjs ENDPOINT TOOL ARGS_JSON
//
// connects to ENDPOINT with the Streamable HTTP transport, lists the tools, calls TOOL with
// ARGS_JSON (asking for progress), and prints one JSON object to stdout:
//   {"serverInfo": {...}, "tools": [names], "result": {...}, "progress": [{progress, total}]}
// Any failure goes to stderr with a non-zero exit status.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [endpoint, tool, argsJSON] = process.argv.slice(2);
if (!endpoint || !tool) {
  console.error("usage: node tsclient.mjs ENDPOINT TOOL [ARGS_JSON]");
  process.exit(2);
}

const client = new Client({ name: "portcullis-e2e-ts", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(endpoint));
try {
  await client.connect(transport);
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
  const progress = [];
  const result = await client.callTool(
    { name: tool, arguments: JSON.parse(argsJSON || "{}") },
    undefined,
    { onprogress: (p) => progress.push({ progress: p.progress, total: p.total }), timeout: 30000 },
  );
  process.stdout.write(JSON.stringify({ serverInfo: client.getServerVersion(), tools, result, progress }) + "\n");
  await transport.terminateSession();
  await client.close();
} catch (err) {
  console.error(`tsclient: ${err?.stack ?? err}`);
  process.exit(1);
}
