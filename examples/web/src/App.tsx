import { useState } from "react";
import { ConnectForm } from "./ConnectForm";
import { savedConnection, saveConnection, type Connection } from "./connection";
import { SessionsPage } from "./SessionsPage";

export function App() {
  const [connection, setConnection] = useState<Connection | null>(savedConnection);
  const choose = (next: Connection | null) => {
    saveConnection(next);
    setConnection(next);
  };
  return connection ? (
    <SessionsPage key={connection.token} connection={connection} onDisconnect={() => choose(null)} />
  ) : (
    <ConnectForm onConnect={choose} />
  );
}
