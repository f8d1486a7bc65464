import { graphql } from "relay-runtime";

// deletedIds are global ids: @deleteRecord removes the rows from every connection in the store.
export const deleteSessionsMutation = graphql`
  mutation DeleteSessionsMutation($input: DeleteSessionsInput!) {
    deleteSessions(input: $input) {
      deletedIds @deleteRecord
    }
  }
`;
