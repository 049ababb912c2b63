import { defineConfig } from 'vite';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('.', import.meta.url));
// What wrote a run, recorded in its manifest (workers/manifest.js): the vpslog
// version (py/vpslog/__init__.py, the one the Python package reports) and the
// app build (set by scripts/build_wheel.py; 'dev' under `npm start`).
const VPSLOG_VERSION = readFileSync(`${repo}py/vpslog/__init__.py`, 'utf8').match(/^__version__ = "([^"]+)"/m)[1];
// Cross-origin isolation: SharedArrayBuffer, hence Pyodide's interrupt buffer,
// which lets Stop interrupt a model step that never yields. Every subresource
// is same-origin (Pyodide, our wheel, /api); CLOUD PUTs are CORS requests.
// A static host serving `vite build` output must send the same two headers.
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: 'web',
  // build/public/pyodide/ is staged by scripts/stage_pyodide.py: the Pyodide
  // core from npm, our wheel and a lock; served as-is, never from a CDN.
  publicDir: '../build/public',
  server: {
    host: '127.0.0.1',
    port: 5173,
    // workers/ and py/vpslog/layouts.json live beside web/, not below it.
    fs: { allow: [repo] },
    // the presign API of `vpslog serve` (CLOUD mode), same-origin for the page and workers
    proxy: { '/api': process.env.VPSLOG_API_ORIGIN ?? 'http://127.0.0.1:8787' },
    headers: ISOLATION_HEADERS,
  },
  preview: { host: '127.0.0.1', port: 4173, headers: ISOLATION_HEADERS },
  define: {
    __VPSLOG_VERSION__: JSON.stringify(VPSLOG_VERSION),
    __VPSLOG_APP_BUILD__: JSON.stringify(process.env.VPSLOG_APP_BUILD || 'dev'),
  },
  worker: { format: 'es' },
  // Pre-bundling discovers deps lazily and then reloads the page mid-session;
  // our only dependency in the page graph (hash-wasm) is plain ESM already.
  optimizeDeps: { noDiscovery: true, include: [] },
  build: { outDir: '../dist', emptyOutDir: true, target: 'es2022' },
});
