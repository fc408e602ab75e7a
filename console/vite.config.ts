import { defineConfig } from "vite";

// The console ships inside the Python package: `jobtower serve` serves this folder.
export default defineConfig({
  build: {
    outDir: "../jobtower/console/dist",
    emptyOutDir: true,
    // Hashed file names under /assets/ are served with a year-long immutable cache.
    assetsDir: "assets",
    // Strict CSP: every script and stylesheet is a file, never inlined into index.html.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
});
