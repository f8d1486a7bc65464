import { Client, gql, makeResult, type Exchange, type Operation } from "@urql/core";
import { cacheExchange } from "@urql/exchange-graphcache";
import { afterEach, describe, expect, it, vi } from "vitest";
import { filter, map, pipe, take, toPromise } from "wonka";
import { cacheOptions } from "./client";

// What the gateway answers, for an exchange that stands in for the network.
const answers: Record<string, Record<string, unknown>> = {
  Events: {
    sessionEvents: {
      __typename: "SessionsDeleted",
      ids: ["U2Vzc2lvbjpwMnB8Ym9i"],
      syncToken: "c3Yx",
    },
  },
  Page: {
    sessions: {
      __typename: "SessionConnection",
      edges: [
        {
          __typename: "SessionEdge",
          cursor: "djEu",
          node: { __typename: "Session", id: "U2Vzc2lvbjpwMnB8Ym9i", key: "p2p|bob" },
        },
      ],
      pageInfo: { __typename: "PageInfo", hasNextPage: true, endCursor: "djEu" },
    },
  },
};

function operationName(operation: Operation): string {
  const [definition] = operation.query.definitions;
  return definition.kind === "OperationDefinition" ? (definition.name?.value ?? "") : "";
}

const gateway: Exchange = () => (operations$) =>
  pipe(
    operations$,
    filter((operation) => operation.kind !== "teardown"),
    map((operation) => makeResult(operation, { data: answers[operationName(operation)] })),
  );

const EVENTS = gql`
  subscription Events {
    sessionEvents {
      __typename
      ... on SessionsDeleted { ids syncToken }
      ... on SessionGroupDeleted { id syncToken }
    }
  }
`;
const PAGE = gql`
  query Page {
    sessions(first: 1) { edges { cursor node { id key } } pageInfo { hasNextPage endCursor } }
  }
`;

async function warningsOf(exchange: Exchange): Promise<string[]> {
  const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
  const client = new Client({ url: "http://gateway/graphql", exchanges: [exchange, gateway] });
  await client.query(PAGE, {}).toPromise();
  await pipe(client.subscription(EVENTS, {}), take(1), toPromise); // its first event
  return warn.mock.calls.map((call) => String(call[0]));
}

afterEach(() => vi.restoreAllMocks());

describe("graphcache with the exported schema (clients/introspection.json)", () => {
  it("matches the SessionEvent union and embeds objects without an id, without a warning", async () => {
    expect(await warningsOf(cacheExchange(cacheOptions()))).toEqual([]);
  });

  it("is what keeps it quiet: without the schema graphcache guesses, and says so", async () => {
    const warnings = await warningsOf(cacheExchange({}));
    expect(warnings.some((w) => w.includes("Heuristic Fragment Matching"))).toBe(true);
  });
});
