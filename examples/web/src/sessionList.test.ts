import { describe, expect, it } from "vitest";
import { compareRows, initialList, listReducer, type ListState, type Row } from "./sessionList";

function row(key: string, minute: number, extra: Partial<Row> = {}): Row {
  return {
    id: `id-${key}`,
    key,
    type: "P2P",
    target: key.split("|")[1],
    updateTime: `2026-11-26T08:${String(minute).padStart(2, "0")}:00.000Z`,
    serverExt: "",
    unreadCount: 0,
    pinned: false,
    pinnedAt: null,
    muted: false,
    lastMessageKind: "MESSAGE",
    lastMessage: null,
    lastRevokeNotification: null,
    ...extra,
  };
}

function page(rows: Row[], hasNextPage: boolean, state: ListState = initialList): ListState {
  return listReducer(state, { type: "page", rows, endCursor: "c", hasNextPage, reset: false });
}

const keys = (state: ListState) => state.rows.map((r) => r.key);

describe("the session list", () => {
  it("orders like the server: pinned by pin time, then newest first, ties by key descending", () => {
    const rows = [
      row("p2p|a", 10),
      row("p2p|b", 30),
      row("p2p|c", 30),
      row("p2p|d", 5, { pinned: true, pinnedAt: "2026-11-26T07:00:00.000Z" }),
      row("p2p|e", 1, { pinned: true, pinnedAt: "2026-11-26T07:30:00.000Z" }),
    ];
    expect([...rows].sort(compareRows).map((r) => r.key)).toEqual([
      "p2p|e", "p2p|d", "p2p|c", "p2p|b", "p2p|a",
    ]);
  });

  it("appends pages without duplicates, keeping the newer copy of a session", () => {
    const first = page([row("p2p|a", 50), row("p2p|b", 40)], true);
    const moved = listReducer(first, { type: "upserted", row: row("p2p|c", 59) });
    // The next page still carries c's older state: the event's newer one wins.
    const second = page([row("p2p|c", 30), row("p2p|d", 20)], false, moved);
    expect(keys(second)).toEqual(["p2p|c", "p2p|a", "p2p|b", "p2p|d"]);
    expect(second.rows[0].updateTime).toBe(row("p2p|c", 59).updateTime);
  });

  it("puts a live message at the top", () => {
    const state = page([row("p2p|a", 50), row("p2p|b", 40)], true);
    const next = listReducer(state, { type: "upserted", row: row("p2p|b", 55) });
    expect(keys(next)).toEqual(["p2p|b", "p2p|a"]);
  });

  it("leaves a session that sorts below the loaded pages for the page that has it", () => {
    const state = page([row("p2p|a", 50), row("p2p|b", 40)], true);
    const next = listReducer(state, { type: "upserted", row: row("p2p|old", 1) });
    expect(keys(next)).toEqual(["p2p|a", "p2p|b"]);
    // ...unless every page is loaded: then it belongs at the end.
    const all = page([], false, state);
    expect(keys(listReducer(all, { type: "upserted", row: row("p2p|old", 1) }))).toEqual([
      "p2p|a", "p2p|b", "p2p|old",
    ]);
  });

  it("keeps a loaded session it already shows, wherever it moves", () => {
    const state = page([row("p2p|a", 50), row("p2p|b", 40)], true);
    // b is the last loaded row; an ext change keeps its time and its place.
    const next = listReducer(state, { type: "upserted", row: row("p2p|b", 40, { serverExt: "x" }) });
    expect(keys(next)).toEqual(["p2p|a", "p2p|b"]);
    expect(next.rows[1].serverExt).toBe("x");
  });

  it("removes deleted sessions and patches others in place", () => {
    const state = page([row("p2p|a", 50), row("p2p|b", 40)], false);
    const patched = listReducer(state, { type: "patched", id: "id-p2p|b", patch: { unreadCount: 0, pinned: true, pinnedAt: "2026-11-26T09:00:00.000Z" } });
    expect(keys(patched)).toEqual(["p2p|b", "p2p|a"]);
    expect(keys(listReducer(patched, { type: "deleted", ids: ["id-p2p|b"] }))).toEqual(["p2p|a"]);
  });
});

describe("a group's tab", () => {
  it("updates the rows it holds and leaves the others out", () => {
    const state = page([row("p2p|a", 1), row("p2p|b", 2)], false);
    const changed = listReducer(state, { type: "changed", row: row("p2p|a", 9) });
    expect(changed.rows.map((r) => r.key)).toEqual(["p2p|a", "p2p|b"]);
    const stranger = listReducer(changed, { type: "changed", row: row("p2p|c", 10) });
    expect(stranger).toBe(changed);
  });
});
