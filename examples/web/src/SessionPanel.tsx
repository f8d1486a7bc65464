import type { AnyVariables, Client, OperationResult } from "@urql/core";
import { useState } from "react";
import {
  DeleteSessionsDocument,
  MarkSessionsReadDocument,
  MuteSessionsDocument,
  PinSessionDocument,
  UpdateSessionExtDocument,
} from "../../../clients/generated/operations";
import { errorCode } from "./client";
import { title, when } from "./format";
import type { ListAction, Row } from "./sessionList";

interface Props {
  client: Client;
  row: Row;
  apply: (action: ListAction) => void;
}

/** One session: its server ext (the viewer's own note on it), read state, pin, delete. */
export function SessionPanel({ client, row, apply }: Props) {
  const [ext, setExt] = useState(row.serverExt);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // Runs a mutation; shows what it did, or the gateway's error code and message.
  async function run<T>(
    work: () => Promise<OperationResult<T, AnyVariables>>,
    done: (data: T) => string | null,
  ) {
    setBusy(true);
    const result = await work();
    setBusy(false);
    if (result.data) {
      setMessage(done(result.data));
      return;
    }
    const error = result.error?.graphQLErrors[0]?.message ?? result.error?.message;
    setMessage(`${errorCode(result.error) ?? "ERROR"}: ${error}`);
  }

  const saveExt = () =>
    run(
      () => client.mutation(UpdateSessionExtDocument, { id: row.id, ext }).toPromise(),
      (data) => {
        apply({ type: "patched", id: row.id, patch: { serverExt: data.updateSessionExt.session.serverExt } });
        return "Saved";
      },
    );
  const markRead = () =>
    run(
      () => client.mutation(MarkSessionsReadDocument, { ids: [row.id] }).toPromise(),
      () => {
        apply({ type: "patched", id: row.id, patch: { unreadCount: 0 } });
        return "Marked read";
      },
    );
  const pin = () =>
    run(
      () => client.mutation(PinSessionDocument, { id: row.id, pinned: !row.pinned }).toPromise(),
      (data) => {
        const { pinned, pinnedAt } = data.pinSession.session;
        apply({ type: "patched", id: row.id, patch: { pinned, pinnedAt } });
        return pinned ? "Pinned" : "Unpinned";
      },
    );
  const mute = () =>
    run(
      () => client.mutation(MuteSessionsDocument, { ids: [row.id], muted: !row.muted }).toPromise(),
      (data) => {
        const [session] = data.muteSessions.sessions;
        if (session) apply({ type: "patched", id: row.id, patch: { muted: session.muted } });
        return session?.muted ? "Muted" : "Unmuted";
      },
    );
  const remove = () =>
    run(
      () => client.mutation(DeleteSessionsDocument, { ids: [row.id] }).toPromise(),
      (data) => {
        apply({ type: "deleted", ids: data.deleteSessions.deletedIds });
        return null;
      },
    );

  return (
    <section className="panel" data-testid="session-panel">
      <h2>{title(row)}</h2>
      <dl>
        <dt>Key</dt>
        <dd><code>{row.key}</code></dd>
        <dt>Updated</dt>
        <dd>{when(row.updateTime)}</dd>
        <dt>Unread</dt>
        <dd>{row.unreadCount}</dd>
      </dl>
      <label>
        Server ext <small>(yours only, up to 1024 bytes)</small>
        <textarea data-testid="ext-editor" rows={4} value={ext} onChange={(e) => setExt(e.target.value)} />
      </label>
      <div className="actions">
        <button type="button" onClick={saveExt} disabled={busy || ext === row.serverExt}>Save ext</button>
        <button type="button" onClick={markRead} disabled={busy || row.unreadCount === 0}>Mark read</button>
        <button type="button" onClick={pin} disabled={busy}>{row.pinned ? "Unpin" : "Pin"}</button>
        <button type="button" onClick={mute} disabled={busy}>{row.muted ? "Unmute" : "Mute"}</button>
        <button type="button" className="danger" onClick={remove} disabled={busy}>Delete session</button>
      </div>
      {message && <p className="message" role="status">{message}</p>}
    </section>
  );
}
