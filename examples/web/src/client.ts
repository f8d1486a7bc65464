// One urql client per connection: queries and mutations over HTTP, the subscription over
// graphql-transport-ws, both authenticated with the same bearer token, through graphcache given
// the schema (clients/introspection.json): it matches fragments on the SessionEvent union and
// the Node interface exactly, instead of guessing (and warning) as it does without one.
import { Client, fetchExchange, subscriptionExchange, type CombinedError } from "@urql/core";
import { cacheExchange, type CacheExchangeOpts } from "@urql/exchange-graphcache";
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import schema from "../../../clients/introspection.json";
import type { Connection } from "./connection";

/** graphcache's options for this schema: entities are keyed by `id`; objects without one
 * (pages, edges, messages, payloads) are embedded in their parent, which is what they are. */
export function cacheOptions(): CacheExchangeOpts {
  const types = schema.__schema.types as ReadonlyArray<{
    kind: string;
    name: string;
    fields?: ReadonlyArray<{ name: string }> | null;
  }>;
  const roots = new Set(
    [schema.__schema.queryType, schema.__schema.mutationType, schema.__schema.subscriptionType]
      .map((root) => root?.name),
  );
  const embedded = types.filter(
    (t) => t.kind === "OBJECT" && !roots.has(t.name) && !t.fields?.some((f) => f.name === "id"),
  );
  return {
    schema: schema as CacheExchangeOpts["schema"],
    keys: Object.fromEntries(embedded.map((t) => [t.name, () => null])),
  };
}

export type LiveStatus = "connecting" | "live" | "offline";

export interface Gateway {
  id: number; // a new client, a new list: the view remounts
  client: Client;
  dispose(): void;
}

let opened = 0;

export function connect(connection: Connection, onStatus: (status: LiveStatus) => void): Gateway {
  const authorization = `Bearer ${connection.token}`;
  const ws: WsClient = createWsClient({
    url: connection.url.replace(/^http/, "ws"),
    connectionParams: { authorization },
    retryAttempts: Infinity,
    // Reconnect after anything but a refused token (4403): retrying that cannot succeed.
    shouldRetry: (event) => !(isCloseEvent(event) && event.code === 4403),
    on: {
      connecting: () => onStatus("connecting"),
      connected: () => onStatus("live"),
      closed: () => onStatus("offline"),
    },
  });
  const client = new Client({
    url: connection.url,
    preferGetMethod: false,
    requestPolicy: "network-only", // the list keeps its own state, fed by pages and events
    fetchOptions: () => ({ headers: { authorization } }),
    exchanges: [
      cacheExchange(cacheOptions()),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const operation = { ...request, query: request.query ?? "" };
          return {
            subscribe(sink) {
              return { unsubscribe: ws.subscribe(operation, sink) };
            },
          };
        },
      }),
    ],
  });
  return { id: ++opened, client, dispose: () => void ws.dispose() };
}

function isCloseEvent(event: unknown): event is { code: number } {
  return typeof event === "object" && event !== null && "code" in event;
}

/** The gateway's error code (`extensions.code`) of a failed result, if it sent one. */
export function errorCode(error: CombinedError | undefined): string | null {
  const code = error?.graphQLErrors[0]?.extensions?.code;
  return typeof code === "string" ? code : null;
}
