// The viewer's list as the app holds it: pages as they load, events as they arrive, one order.
import type { SessionListItemFragment } from "../../../clients/generated/operations";

export type Row = SessionListItemFragment;

export interface ListState {
  rows: Row[];
  endCursor: string | null;
  hasNextPage: boolean;
  loading: boolean;
  error: string | null;
}

export const initialList: ListState = {
  rows: [],
  endCursor: null,
  hasNextPage: true,
  loading: false,
  error: null,
};

export type ListAction =
  | { type: "loading" }
  | { type: "failed"; error: string }
  | { type: "page"; rows: Row[]; endCursor: string | null; hasNextPage: boolean; reset: boolean }
  | { type: "upserted"; row: Row }
  | { type: "changed"; row: Row } // a row of the list changed; one not in it stays out
  | { type: "patched"; id: string; patch: Partial<Row> }
  | { type: "deleted"; ids: readonly string[] };

/** The server's order with `pinnedFirst: true`: pinned by pin time, then by update time, key. */
export function compareRows(a: Row, b: Row): number {
  if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
  const byPin = a.pinned ? (b.pinnedAt ?? "").localeCompare(a.pinnedAt ?? "") : 0;
  if (byPin !== 0) return byPin;
  const byTime = b.updateTime.localeCompare(a.updateTime); // ISO-8601 UTC sorts as text
  return byTime !== 0 ? byTime : b.key.localeCompare(a.key);
}

function merge(rows: Row[], incoming: Row[]): Row[] {
  const byId = new Map(rows.map((row) => [row.id, row]));
  for (const row of incoming) {
    const known = byId.get(row.id);
    // A page may carry an older state of a session an event already updated.
    if (!known || known.updateTime <= row.updateTime) byId.set(row.id, row);
  }
  return [...byId.values()].sort(compareRows);
}

export function listReducer(state: ListState, action: ListAction): ListState {
  switch (action.type) {
    case "loading":
      return { ...state, loading: true, error: null };
    case "failed":
      return { ...state, loading: false, error: action.error };
    case "page":
      return {
        rows: merge(action.reset ? [] : state.rows, action.rows),
        endCursor: action.endCursor,
        hasNextPage: action.hasNextPage,
        loading: false,
        error: null,
      };
    case "upserted": {
      const known = state.rows.some((row) => row.id === action.row.id);
      const tail = state.rows[state.rows.length - 1];
      // A session new to the list that sorts below the loaded rows belongs to a page not
      // loaded yet: it arrives with that page when the user scrolls there.
      if (!known && state.hasNextPage && tail && compareRows(action.row, tail) > 0) return state;
      const others = state.rows.filter((row) => row.id !== action.row.id);
      return { ...state, rows: [...others, action.row].sort(compareRows) };
    }
    case "changed": {
      if (!state.rows.some((row) => row.id === action.row.id)) return state;
      const others = state.rows.filter((row) => row.id !== action.row.id);
      return { ...state, rows: [...others, action.row].sort(compareRows) };
    }
    case "patched":
      return {
        ...state,
        rows: state.rows
          .map((row) => (row.id === action.id ? { ...row, ...action.patch } : row))
          .sort(compareRows),
      };
    case "deleted": {
      const gone = new Set(action.ids);
      return { ...state, rows: state.rows.filter((row) => !gone.has(row.id)) };
    }
  }
}
