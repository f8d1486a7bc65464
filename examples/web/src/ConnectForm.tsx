import { useState, type FormEvent } from "react";
import { defaultUrl, type Connection } from "./connection";

export function ConnectForm({ onConnect }: { onConnect: (connection: Connection) => void }) {
  const [url, setUrl] = useState(defaultUrl);
  const [token, setToken] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onConnect({ url: url.trim(), token: token.trim() });
  };
  return (
    <form className="connect" onSubmit={submit}>
      <h1>Session gateway</h1>
      <p>
        Sign in with a token the gateway accepts: <code>make demo</code> prints one, and{" "}
        <code>gateway token &lt;account&gt;</code> makes more.
      </p>
      <label>
        GraphQL endpoint
        <input name="url" value={url} onChange={(e) => setUrl(e.target.value)} required />
      </label>
      <label>
        Token
        <textarea name="token" rows={4} value={token} onChange={(e) => setToken(e.target.value)} required />
      </label>
      <button type="submit">Connect</button>
    </form>
  );
}
