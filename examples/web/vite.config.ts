import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies /graphql (HTTP and WebSocket) to a gateway on :8000 (`make demo`), so the
// app and the API share an origin. A gateway elsewhere: enter its URL in the app, and list the
// app's origin in GATEWAY_ALLOWED_ORIGINS (CORS and WebSockets both check it).
const gateway = process.env.GATEWAY_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: { proxy: { "/graphql": { target: gateway, ws: true } } },
  preview: { proxy: { "/graphql": { target: gateway, ws: true } } },
});
