// Every GraphQL document of the console goes through `graphql`: gql.tada types it against
// schema.graphql, and `gql.tada check` fails CI when a document asks for what the API lacks.
import { initGraphQLTada } from "gql.tada";
import type { introspection } from "./graphql-env.d.ts";

export const graphql = initGraphQLTada<{
  introspection: introspection;
  scalars: {
    DateTime: string;
    // Counters and seqs: JSON numbers, exact well past any count a console shows.
    BigInt: number;
    JSON: unknown;
  };
  disableMasking: true;
}>();

export type { FragmentOf, ResultOf, VariablesOf, TadaDocumentNode } from "gql.tada";
export { readFragment } from "gql.tada";
