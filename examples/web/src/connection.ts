// Where the gateway is and who the viewer is: entered once, kept in localStorage.

export interface Connection {
  url: string; // the gateway's GraphQL endpoint, http(s)://.../graphql
  token: string; // a JWT the gateway accepts (`gateway token alice` prints one)
}

const STORAGE_KEY = "session-gateway.connection";

export function defaultUrl(): string {
  return import.meta.env.VITE_GATEWAY_URL ?? `${window.location.origin}/graphql`;
}

export function savedConnection(): Connection | null {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null") as Connection | null;
    return saved?.url && saved.token ? saved : null;
  } catch {
    return null;
  }
}

export function saveConnection(connection: Connection | null): void {
  if (connection) localStorage.setItem(STORAGE_KEY, JSON.stringify(connection));
  else localStorage.removeItem(STORAGE_KEY);
}

/** The account the token names (its `sub`), to say "You" where the viewer acted. */
export function viewerOf(token: string): string | null {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload)) as { sub?: unknown };
    return typeof claims.sub === "string" ? claims.sub : null;
  } catch {
    return null;
  }
}
