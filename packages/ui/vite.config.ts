import { defaultClientConditions, defineConfig } from "vite";

// The workspace packages (@baton/client, @baton/core) are used from their TypeScript sources
// through the "source" export condition, so the dashboard never needs them built first.
export default defineConfig({
  base: "/",
  resolve: { conditions: ["source", ...defaultClientConditions] },
  oxc: { jsx: { runtime: "automatic" } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  // `npm run dev -w @baton/ui` talks to a server on the default port.
  server: { proxy: { "/api": { target: "http://127.0.0.1:4200", changeOrigin: true } } },
});
