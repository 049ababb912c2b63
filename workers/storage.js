// OPFS layout shared by the logger's sinks, its run catalogue and recovery:
// runs/<runId>.bin (the events stream), runs/<runId>.<stream>.bin (every other
// stream, docs/streams.md), runs/<runId>.manifest.json, and while the run is
// open runs/<runId>.progress.json (what is safe so far, for recovery).
export const RUNS_DIR = 'runs';
export const binName = (runId, stream = 'events') => (stream === 'events' ? `${runId}.bin` : `${runId}.${stream}.bin`);
export const manifestName = (runId) => `${runId}.manifest.json`;
export const progressName = (runId) => `${runId}.progress.json`;
// [, runId, stream (undefined: events), 'bin' | 'manifest.json' | 'progress.json']; run ids have no dots
export const RUN_FILE_RE = /^([^.]+)\.(?:([a-z][a-z0-9_]*)\.)?(bin|manifest\.json|progress\.json)$/;

// A top-level OPFS directory: runs/, dlq/, quarantine/, snapshots/, settings/.
export async function opfsDir(name) {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(name, { create: true });
}

export const runsDir = () => opfsDir(RUNS_DIR);

// Total size of the files in a top-level directory.
export async function dirBytes(name) {
  let n = 0;
  for await (const [, h] of (await opfsDir(name)).entries()) if (h.kind === 'file') n += (await h.getFile()).size;
  return n;
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
  const json = new TextEncoder().encode(JSON.stringify(value, null, 1) + '\n');
  const bytes = new Uint8Array(Math.max(minSize, json.byteLength + headroom)).fill(0x20);
  bytes.set(json);
  await writeFile(dir, name, bytes);
  return bytes.byteLength;
}

// The one checked write to an OPFS sync access handle. Chrome at quota may
// return a bogus count instead of throwing, Firefox a short one: anything but
// the full length is an error (a StorageWriteError naming `what`).
export class StorageWriteError extends Error {}

export function writeAll(access, bytes, at, what) {
  let n;
  try {
    n = access.write(bytes, { at });
  } catch (e) {
    throw new StorageWriteError(`${what}: write of ${bytes.byteLength} bytes at ${at} failed: ${e.name}: ${e.message}`);
  }
  if (n !== bytes.byteLength) {
    throw new StorageWriteError(`${what}: write of ${bytes.byteLength} bytes at ${at} returned ${n} (storage full?)`);
  }
}

// Replace a whole file with `bytes`, checked and flushed.
export async function writeFile(dir, name, bytes) {
  const access = await (await dir.getFileHandle(name, { create: true })).createSyncAccessHandle();
  try {
    writeAll(access, bytes, 0, name);
    if (access.getSize() > bytes.byteLength) access.truncate(bytes.byteLength);
    access.flush();
  } finally {
    access.close();
  }
}

// Another context (a logger checkpointing or closing a run) rewrites JSON files
// in place, so a read can land mid-write: the text is torn or empty, or reading
// it fails as the file changes under it. Read again for a while before calling
// it torn; only a file that stays torn is one (its writer died).
const TORN_FOR_MS = 500;
const TORN_WAIT_MS = 20;

export async function readJson(dir, name) {
  const handle = await dir.getFileHandle(name);
  const until = performance.now() + TORN_FOR_MS;
  for (;;) {
    try {
      return JSON.parse(await (await handle.getFile()).text());
    } catch (e) {
      if (!(e instanceof SyntaxError || e.name === 'NotReadableError') || performance.now() > until) throw e;
      await new Promise((r) => setTimeout(r, TORN_WAIT_MS));
    }
  }
}

// readJson, or null if the file does not exist. A file that is not whole JSON
// (a tab died between creating and writing it) gives `torn` if one is given.
export async function readJsonIfAny(dir, name, { torn } = {}) {
  try {
    return await readJson(dir, name);
  } catch (e) {
    if (e.name === 'NotFoundError') return null;
    if (e instanceof SyntaxError && torn !== undefined) return torn;
    throw e;
  }
}

export async function removeIfAny(dir, name) {
  try {
    await dir.removeEntry(name);
  } catch (e) {
    if (e.name !== 'NotFoundError') throw e;
  }
}

// Human-readable cause for the errors OPFS throws when opening a handle.
export function explainOpenError(e, name) {
  if (e?.name === 'NoModificationAllowedError') return `${name} is open elsewhere (another tab logging to it?)`;
  if (e?.name === 'QuotaExceededError') return `storage quota exceeded opening ${name}`;
  return `cannot open ${name}: ${e?.message ?? e}`;
}
