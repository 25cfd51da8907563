import { defineConfig } from "vite";

// The API runs on :8000 under `make run`; `npm run dev` proxies to it for hot reloading.
export default defineConfig({
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/metrics": "http://127.0.0.1:8000",
    },
  },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
});
