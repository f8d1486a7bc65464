import { graphql } from "relay-runtime";

// Live updates: upserted sessions update their record by id; deletions remove theirs.
export const sessionEventsSubscription = graphql`
  subscription SessionEventsSubscription($since: String) {
    sessionEvents(since: $since) {
      __typename
      ... on SessionUpserted {
        syncToken
        session {
          id
          ...SessionRow_session
        }
      }
      ... on SessionsDeleted {
        ids @deleteRecord
        syncToken
      }
    }
  }
`;
