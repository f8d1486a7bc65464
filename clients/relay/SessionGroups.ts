import { graphql } from "relay-runtime";

// The group tabs: every group by its global id, so renames from any device update them in place.
export const sessionGroupsQuery = graphql`
  query SessionGroupsQuery {
    sessionGroups {
      id
      name
      serverExt
    }
  }
`;

// Muting returns each session by its global id: Relay updates the cached rows in place.
export const muteSessionsMutation = graphql`
  mutation MuteSessionsMutation($input: MuteSessionsInput!) {
    muteSessions(input: $input) {
      sessions {
        id
        muted
      }
    }
  }
`;

// A group that is deleted leaves the store's list of groups.
export const deleteSessionGroupMutation = graphql`
  mutation DeleteSessionGroupMutation($input: DeleteSessionGroupInput!) {
    deleteSessionGroup(input: $input) {
      deletedId @deleteRecord
    }
  }
`;
