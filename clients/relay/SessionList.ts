import { graphql } from "relay-runtime";

// The session list page: a Relay connection paginated with usePaginationFragment.
export const sessionListQuery = graphql`
  query SessionListQuery($first: Int!, $after: String) {
    ...SessionList_query @arguments(first: $first, after: $after)
  }
`;

export const sessionListFragment = graphql`
  fragment SessionList_query on Query
  @refetchable(queryName: "SessionListPaginationQuery")
  @argumentDefinitions(first: { type: "Int", defaultValue: 20 }, after: { type: "String" }) {
    totalUnreadCount
    sessions(first: $first, after: $after, pinnedFirst: true)
      @connection(key: "SessionList_sessions", filters: ["pinnedFirst"]) {
      syncToken
      edges {
        node {
          id
          ...SessionRow_session
        }
      }
    }
  }
`;
