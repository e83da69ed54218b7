import { defaultClientConditions, defineConfig } from "vite";

// The workspace packages (@baton/client, @baton/core) are used from their TypeScript sources
// through the "source" export condition, so the dashboard never needs them built first.
export default defineConfig({
  base: "/",
  resolve: { conditions: ["source", ...defaultClientConditions] },
  oxc: { jsx: { runtime: "automatic" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    rolldownOptions: {
      // react-jsonschema-form marks its hooks "use client", which means nothing outside a server-components
      // bundler; rolldown says so once per file.
      onLog(level, log, handler) {
        if (log.code !== "MODULE_LEVEL_DIRECTIVE") handler(level, log);
      },
    },
  },
  // `npm run dev -w @baton/ui` talks to a server on the default port. The Host is passed on unchanged, so
  // the server sees the page's own origin (localhost:5173) and takes its requests as same-origin.
  server: { proxy: { "/api": { target: "http://127.0.0.1:4200", changeOrigin: false } } },
});
