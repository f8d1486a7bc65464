import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` serves the app on http://127.0.0.1:5173 (WEB_PORT) and proxies /graphql (HTTP and
// WebSocket) to a gateway on :8000 (`make demo`; GATEWAY_URL), so the app and the API share an
// origin. A gateway elsewhere: enter its URL in the app, and list the app's origin in
// GATEWAY_ALLOWED_ORIGINS (CORS and WebSockets both check it).
const gateway = process.env.GATEWAY_URL ?? "http://127.0.0.1:8000";
const proxy = { "/graphql": { target: gateway, ws: true } };
// The address the README prints, IPv4 as written (Vite's "localhost" may be IPv6 only); taken
// means taken, not quietly the next port.
const listen = { host: "127.0.0.1", port: Number(process.env.WEB_PORT ?? 5173), strictPort: true };

export default defineConfig({
  plugins: [react()],
  server: { ...listen, proxy },
  preview: { proxy },
});
