import { graphql } from "relay-runtime";

export const sessionDetailQuery = graphql`
  query SessionDetailQuery($id: ID!) {
    session(id: $id) {
      ...SessionRow_session
      lastReadTime
      pinnedAt
    }
  }
`;
