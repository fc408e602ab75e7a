import { defineConfig } from "vite";

// The console ships inside the Python package: `jobtower serve` serves this folder.
// Two pages share the build: the console (index.html) and GraphiQL (graphiql.html, served at
// /graphql to a browser), so both come from this origin and carry content-hashed assets.
export default defineConfig({
  build: {
    outDir: "../jobtower/console/dist",
    emptyOutDir: true,
    // Hashed file names under /assets/ are served with a year-long immutable cache.
    assetsDir: "assets",
    // Strict CSP: every script and stylesheet is a file, never inlined into index.html.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    // GraphiQL's editor (Monaco) is one chunk near 2.8 MB, loaded by its page alone.
    chunkSizeWarningLimit: 3000,
    rolldownOptions: {
      input: { console: "index.html", graphiql: "graphiql.html" },
      // GraphiQL's React packages mark modules "use client", which only a server-components
      // bundler reads: dropping the marker changes nothing in a browser bundle.
      onLog(level, log, handler) {
        if (log.code !== "MODULE_LEVEL_DIRECTIVE") handler(level, log);
      },
    },
  },
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
});
