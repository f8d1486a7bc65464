// Loads the list (or one conversation group's) page by page and keeps it current with
// `sessionEvents`, resuming from the page's sync token so nothing committed in between is missed.
import type { Client } from "@urql/core";
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import {
  GroupSessionListDocument,
  SessionEventsDocument,
  SessionListDocument,
  TotalUnreadCountDocument,
} from "../../../clients/generated/operations";
import { errorCode } from "./client";
import { initialList, listReducer, type ListAction, type ListState } from "./sessionList";

export const PAGE_SIZE = 20;

export interface SessionList extends ListState {
  totalUnread: number | null;
  liveError: string | null;
  groupsChanged: number; // counts the conversation groups' changes seen live
  loadMore(): void;
  apply(action: ListAction): void;
}

/** The whole list, or with `groupId` the sessions of one conversation group. */
export function useSessionList(client: Client, groupId: string | null = null): SessionList {
  const [state, dispatch] = useReducer(listReducer, initialList);
  const [totalUnread, setTotalUnread] = useState<number | null>(null);
  const [syncToken, setSyncToken] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0); // bumped to reload everything
  const [liveError, setLiveError] = useState<string | null>(null);
  const [groupsChanged, setGroupsChanged] = useState(0);
  const loading = useRef(false);

  // The badge counts sessions not loaded too: ask the server after changes, at most every 300 ms.
  const refreshTotal = useRef<number | undefined>(undefined);
  const scheduleTotal = useCallback(() => {
    window.clearTimeout(refreshTotal.current);
    refreshTotal.current = window.setTimeout(async () => {
      const result = await client.query(TotalUnreadCountDocument, {}).toPromise();
      if (result.data) setTotalUnread(result.data.totalUnreadCount);
    }, 300);
  }, [client]);

  const load = useCallback(
    async (after: string | null) => {
      if (loading.current) return;
      loading.current = true;
      dispatch({ type: "loading" });
      const variables = { first: PAGE_SIZE, after };
      const result = groupId
        ? await client.query(GroupSessionListDocument, { ...variables, groupId }).toPromise()
        : await client.query(SessionListDocument, variables).toPromise();
      loading.current = false;
      const sessions = result.data?.sessions;
      if (!sessions) {
        dispatch({ type: "failed", error: result.error?.message ?? "no data" });
        return;
      }
      dispatch({
        type: "page",
        rows: sessions.edges.map((edge) => edge.node),
        endCursor: sessions.pageInfo.endCursor,
        hasNextPage: sessions.pageInfo.hasNextPage,
        reset: after === null,
      });
      if (result.data && "totalUnreadCount" in result.data) {
        setTotalUnread(result.data.totalUnreadCount);
      } else if (after === null) {
        scheduleTotal();
      }
      if (after === null) setSyncToken(sessions.syncToken);
    },
    [client, groupId, scheduleTotal],
  );

  useEffect(() => {
    void load(null);
  }, [load, generation]);

  useEffect(() => {
    if (syncToken === null) return;
    const subscription = client
      .subscription(SessionEventsDocument, { since: syncToken })
      .subscribe((result) => {
        if (errorCode(result.error) === "SYNC_TOKEN_EXPIRED") {
          setSyncToken(null);
          setGeneration((n) => n + 1); // offline too long: the changes are gone, reload
          return;
        }
        setLiveError(result.error ? result.error.message : null);
        const event = result.data?.sessionEvents;
        if (event?.__typename === "SessionUpserted") {
          // In a group's tab, a session the page did not bring may belong to another group.
          dispatch({ type: groupId ? "changed" : "upserted", row: event.session });
        } else if (event?.__typename === "SessionsDeleted") {
          dispatch({ type: "deleted", ids: event.ids });
        } else if (event) {
          setGroupsChanged((n) => n + 1); // a group was made, renamed or deleted
        }
        if (event) scheduleTotal();
      });
    return () => subscription.unsubscribe();
  }, [client, syncToken, scheduleTotal, groupId]);

  const loadMore = useCallback(() => {
    if (state.hasNextPage && state.endCursor) void load(state.endCursor);
  }, [load, state.hasNextPage, state.endCursor]);

  const apply = useCallback(
    (action: ListAction) => {
      dispatch(action);
      scheduleTotal();
    },
    [scheduleTotal],
  );

  return { ...state, totalUnread, liveError, groupsChanged, loadMore, apply };
}
