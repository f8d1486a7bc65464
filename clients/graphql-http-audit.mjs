// graphql-http's GraphQL-over-HTTP server audits against a running gateway:
// `node graphql-http-audit.mjs http://127.0.0.1:8000/graphql` prints one JSON line per audit.
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node graphql-http-audit.mjs <url of /graphql>");
  process.exit(2);
}
for (const result of await auditServer({ url })) {
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") line.reason = result.reason;
  console.log(JSON.stringify(line));
}
