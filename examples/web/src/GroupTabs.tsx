import type { Client } from "@urql/core";
import { useEffect, useState } from "react";
import {
  SessionGroupsDocument,
  UnreadCountDocument,
  type SessionGroupItemFragment,
  type UnreadFilter,
} from "../../../clients/generated/operations";

interface Props {
  client: Client;
  selected: string | null; // a group's id; null: the whole list
  onSelect: (groupId: string | null) => void;
  groupsChanged: number; // bumped when a group changes live: the tabs are read again
}

/** "All" and one tab per conversation group, each with its unread badge kept live by the
 * `unreadCount` subscription (muted sessions left out, as in the total). */
export function GroupTabs({ client, selected, onSelect, groupsChanged }: Props) {
  const [groups, setGroups] = useState<readonly SessionGroupItemFragment[]>([]);
  useEffect(() => {
    let current = true;
    void client
      .query(SessionGroupsDocument, {})
      .toPromise()
      .then((result) => current && result.data && setGroups(result.data.sessionGroups));
    return () => {
      current = false;
    };
  }, [client, groupsChanged]);

  const tabs = [{ id: null, name: "All" }, ...groups.map((g) => ({ id: g.id, name: g.name }))];
  return (
    <nav className="tabs" data-testid="group-tabs">
      {tabs.map((tab) => (
        <button
          key={tab.id ?? "all"}
          type="button"
          className={tab.id === selected ? "tab selected" : "tab"}
          aria-pressed={tab.id === selected}
          data-testid="group-tab"
          data-group={tab.name}
          onClick={() => onSelect(tab.id)}
        >
          {tab.name}
          <TabBadge client={client} filter={tab.id ? { groupId: tab.id } : null} />
        </button>
      ))}
    </nav>
  );
}

function TabBadge({ client, filter }: { client: Client; filter: UnreadFilter | null }) {
  const [count, setCount] = useState<number | null>(null);
  const groupId = filter?.groupId ?? null;
  useEffect(() => {
    const subscription = client
      .subscription(UnreadCountDocument, { filter: groupId ? { groupId } : null })
      .subscribe((result) => {
        if (result.data) setCount(result.data.unreadCount);
      });
    return () => subscription.unsubscribe();
  }, [client, groupId]);
  return count ? (
    <span className="tab-unread" data-testid="tab-unread">{count}</span>
  ) : null;
}
