// graphql-codegen over ../schema.graphql and operations/:
//   generated/schema.ts      every schema type (typescript plugin), for code that handles raw data
//   generated/operations.ts  each operation's result and variables types (typescript-operations),
//                            with typed documents for urql, Apollo Client or graphql-request
// and, committed (tests/test_clients.py fails when they are not in step with schema.graphql):
//   introspection.json       the schema for urql's graphcache (`cacheExchange({ schema })`)
//   possibleTypes.json       the union and interface members for Apollo's InMemoryCache
import type { CodegenConfig } from "@graphql-codegen/cli";

const scalars = { DateTime: "string", JSON: "unknown" };

const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: "operations/*.graphql",
  generates: {
    "generated/schema.ts": {
      plugins: ["typescript"],
      config: { strictScalars: true, scalars, enumsAsTypes: true, useTypeImports: true },
    },
    "generated/operations.ts": {
      plugins: ["typescript-operations", "typed-document-node"],
      config: { strictScalars: true, scalars, enumType: "string-literal", useTypeImports: true },
    },
    "introspection.json": {
      plugins: ["urql-introspection"],
      config: { includeScalars: true, includeEnums: true, includeInputs: true },
    },
    "possibleTypes.json": {
      plugins: ["fragment-matcher"],
      config: { apolloClientVersion: 3 }, // the possibleTypes format, the same in Apollo Client 4
    },
  },
  // Any error (an operation that does not validate, a plugin failure) fails the run.
  ignoreNoDocuments: false,
  noSilentErrors: true,
};

export default config;
