import { graphql } from "relay-runtime";

// The payload returns the session by its global id, so Relay updates the cached row in place.
export const updateSessionExtMutation = graphql`
  mutation UpdateSessionExtMutation($input: UpdateSessionExtInput!) {
    updateSessionExt(input: $input) {
      session {
        id
        serverExt
      }
    }
  }
`;
