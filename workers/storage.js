// OPFS layout shared by the logger's sinks and its run listing:
// runs/<runId>.bin (records) and runs/<runId>.manifest.json.
export const RUNS_DIR = 'runs';
export const binName = (runId) => `${runId}.bin`;
export const manifestName = (runId) => `${runId}.manifest.json`;

export async function runsDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(RUNS_DIR, { create: true });
}

export async function exists(dir, name) {
  try {
    await dir.getFileHandle(name);
    return true;
  } catch (e) {
    if (e.name === 'NotFoundError') return false;
    throw e;
  }
}

// JSON files are padded with JSON whitespace to a size the caller controls and
// rewritten in place, so a rewrite can reuse space reserved earlier instead of
// needing more (see saveManifest in logger.worker.js). Returns the file size.
export const JSON_RESERVE = 16 * 1024;

export async function writeJson(dir, name, value, { minSize = 0, headroom = 0 } = {}) {
  const handle = await dir.getFileHandle(name, { create: true });
  const access = await handle.createSyncAccessHandle();
  try {
    const json = new TextEncoder().encode(JSON.stringify(value, null, 1) + '\n');
    const bytes = new Uint8Array(Math.max(minSize, json.byteLength + headroom)).fill(0x20);
    bytes.set(json);
    const n = access.write(bytes, { at: 0 });
    if (n !== bytes.byteLength) throw new Error(`writing ${name}: wrote ${n} of ${bytes.byteLength} bytes (storage full?)`);
    if (access.getSize() > bytes.byteLength) access.truncate(bytes.byteLength);
    access.flush();
    return bytes.byteLength;
  } finally {
    access.close();
  }
}

export async function readJson(dir, name) {
  const file = await (await dir.getFileHandle(name)).getFile();
  return JSON.parse(await file.text());
}

// Human-readable cause for the errors OPFS throws when opening a handle.
export function explainOpenError(e, name) {
  if (e?.name === 'NoModificationAllowedError') return `${name} is open elsewhere (another tab logging to it?)`;
  if (e?.name === 'QuotaExceededError') return `storage quota exceeded opening ${name}`;
  return `cannot open ${name}: ${e?.message ?? e}`;
}
