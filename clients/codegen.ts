// graphql-codegen over ../schema.graphql and operations/:
//   generated/schema.ts      every schema type (typescript plugin), for code that handles raw data
//   generated/operations.ts  each operation's result and variables types (typescript-operations),
//                            with typed documents for urql, Apollo Client or graphql-request
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
  },
  // Any error (an operation that does not validate, a plugin failure) fails the run.
  ignoreNoDocuments: false,
  noSilentErrors: true,
};

export default config;
