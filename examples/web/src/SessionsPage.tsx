import type { Client } from "@urql/core";
import { useEffect, useRef, useState } from "react";
import { connect, type Gateway, type LiveStatus } from "./client";
import { viewerOf, type Connection } from "./connection";
import { GroupTabs } from "./GroupTabs";
import { SessionPanel } from "./SessionPanel";
import { SessionRow } from "./SessionRow";
import { useSessionList } from "./useSessionList";

interface Props {
  connection: Connection;
  onDisconnect: () => void;
}

/** Owns the connection: made in an effect and disposed by its cleanup, so React's StrictMode
 * (which runs effects twice in development) never leaves the page on a disposed client. */
export function SessionsPage({ connection, onDisconnect }: Props) {
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const [gateway, setGateway] = useState<Gateway | null>(null);
  const [groupId, setGroupId] = useState<string | null>(null); // the tab: null is "All"
  useEffect(() => {
    const opened = connect(connection, setStatus);
    setGateway(opened);
    return () => opened.dispose();
  }, [connection]);
  if (!gateway) return null;
  return (
    <SessionsView
      key={`${gateway.id}:${groupId ?? ""}`}
      client={gateway.client}
      groupId={groupId}
      onTab={setGroupId}
      status={status}
      viewer={viewerOf(connection.token)}
      onDisconnect={onDisconnect}
    />
  );
}

interface ViewProps {
  client: Client;
  groupId: string | null;
  onTab: (groupId: string | null) => void;
  status: LiveStatus;
  viewer: string | null;
  onDisconnect: () => void;
}

function SessionsView({ client, groupId, onTab, status, viewer, onDisconnect }: ViewProps) {
  const list = useSessionList(client, groupId);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const selected = list.rows.find((row) => row.id === selectedId) ?? null;

  // Infinite scroll: the next page loads when the end of the list scrolls into view.
  const scroller = useRef<HTMLDivElement>(null);
  const end = useRef<HTMLDivElement>(null);
  const { loadMore } = list;
  useEffect(() => {
    if (!end.current) return;
    const observer = new IntersectionObserver(
      (entries) => entries.some((entry) => entry.isIntersecting) && loadMore(),
      { root: scroller.current, rootMargin: "200px" },
    );
    observer.observe(end.current);
    return () => observer.disconnect();
  }, [loadMore, list.rows.length]);

  return (
    <div className="page">
      <header>
        <h1>
          Sessions
          {list.totalUnread ? (
            <span className="badge" data-testid="total-unread">{list.totalUnread}</span>
          ) : null}
        </h1>
        <span className={`status ${status}`} data-testid="live-status" title={list.liveError ?? ""}>
          {list.liveError ? "live updates failed" : status}
        </span>
        <span className="viewer">{viewer}</span>
        <button type="button" className="link" onClick={onDisconnect}>Sign out</button>
      </header>
      <GroupTabs client={client} selected={groupId} onSelect={onTab} groupsChanged={list.groupsChanged} />
      <main>
        <div className="list" ref={scroller} data-testid="session-list">
          <ul>
            {list.rows.map((row) => (
              <SessionRow
                key={row.id}
                row={row}
                viewer={viewer}
                selected={row.id === selectedId}
                onSelect={() => setSelectedId(row.id)}
              />
            ))}
          </ul>
          <div className="end" ref={end} data-testid="list-end">
            {list.error ? (
              <span className="error" role="alert">{list.error}</span>
            ) : list.loading ? (
              "Loading…"
            ) : list.hasNextPage ? (
              ""
            ) : (
              `${list.rows.length} sessions, no more`
            )}
          </div>
        </div>
        {selected ? (
          <SessionPanel key={selected.id} client={client} row={selected} apply={list.apply} />
        ) : (
          <section className="panel empty">Select a session</section>
        )}
      </main>
    </div>
  );
}
