import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: 'web',
  // build/public/pyodide/ is staged by scripts/stage_pyodide.py: the Pyodide
  // core from npm, our wheel and a lock; served as-is, never from a CDN.
  publicDir: '../build/public',
  server: {
    host: '127.0.0.1',
    port: 5173,
    // workers/ and py/vpslog/layout.json live beside web/, not below it.
    fs: { allow: [repo] },
    // the presign API of `vpslog serve` (CLOUD mode), same-origin for the page and workers
    proxy: { '/api': process.env.VPSLOG_API_ORIGIN ?? 'http://127.0.0.1:8787' },
  },
  preview: { host: '127.0.0.1', port: 4173 },
  worker: { format: 'es' },
  // Pre-bundling discovers deps lazily and then reloads the page mid-session;
  // our only dependency in the page graph (hash-wasm) is plain ESM already.
  optimizeDeps: { noDiscovery: true, include: [] },
  build: { outDir: '../dist', emptyOutDir: true, target: 'es2022' },
});
