import { graphql } from "relay-runtime";

// One row of the session list: what a row needs, colocated with the row component.
export const sessionRowFragment = graphql`
  fragment SessionRow_session on Session {
    id
    key
    type
    target
    updateTime
    serverExt
    unreadCount
    pinned
    lastMessageKind
    lastMessage {
      serverId
      from
      type
      text
      time
    }
    lastRevokeNotification {
      operator
      time
    }
  }
`;
