// The run catalogue: what runs/ in OPFS holds, as every tab of the origin sees
// it. Listing, download (a consistent snapshot while a run is being written)
// and delete (refused while a run is being written, by any tab).
import { createCrc32c } from './checksum.js';
import { liveRunIds } from './locks.js';
import { RECORD_SIZE } from './record.js';
import { repairedManifest } from './repair.js';
import { sinkFor } from './sinks/index.js';
import {
  RUN_FILE_RE, binName, manifestName, opfsDir, progressName, readJson, readJsonIfAny, removeIfAny, runsDir, writeAll, writeJson,
} from './storage.js';

const SNAPSHOTS = 'snapshots';
const COPY_CHUNK = 4 * 1024 * 1024;
const COPY_RETRIES = 20;

// current: {runId, bytes} of the run this tab's logger writes, if any.
export async function listRuns(current = null) {
  const dir = await runsDir();
  const live = await liveRunIds();
  const runs = new Map();
  const entry = (runId) => runs.get(runId) ?? runs.set(runId, {
    runId, bytes: null, records: null, status: 'no manifest', mode: null, createdAt: null, noDownload: null,
    live: live.has(runId) ? (current?.runId === runId ? 'here' : 'elsewhere') : null,
  }).get(runId);
  const gone = new Set(); // runs with a file removed while listing: being deleted, not runs any more
  for await (const [name, handle] of dir.entries()) {
    const m = handle.kind === 'file' && RUN_FILE_RE.exec(name);
    if (!m || m[2] === 'progress.json') continue;
    try {
      if (m[2] === 'bin') {
        const bytes = current?.runId === m[1] ? current.bytes : (await handle.getFile()).size;
        entry(m[1]).bytes = bytes;
      } else {
        const man = await readJson(dir, name);
        Object.assign(entry(m[1]), {
          status: man.status, records: man.records, mode: man.mode, createdAt: man.created_at,
          noDownload: sinkFor(man.mode)?.downloadRefusal(m[1]) ?? null,
        });
      }
    } catch (err) {
      // removed since the listing began (a delete or the retention policy, in any tab)
      if (err.name === 'NotFoundError') {
        gone.add(m[1]);
        continue;
      }
      if (m[2] === 'bin') throw err;
      entry(m[1]).status = `unreadable manifest: ${err.message}`;
    }
  }
  for (const runId of gone) runs.delete(runId);
  for (const e of runs.values()) {
    if (e.status === 'open' && e.live === 'here') e.bytes = current.bytes;
    if (e.bytes != null && e.status === 'open') e.records = Math.floor(e.bytes / RECORD_SIZE);
  }
  return [...runs.values()].sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
}

// File objects are references to the stored bytes: the page can hand them to
// a download without the data ever being copied into its heap. A run being
// written (by any tab) is copied first, so the download cannot change or stop
// under the browser's feet.
export async function getRun(runId) {
  const dir = await runsDir();
  const live = (await liveRunIds()).has(runId);
  const manifest = await readJsonIfAny(dir, manifestName(runId));
  if (!manifest) throw new Error(`run ${runId} has no manifest (deleted?)`);
  const refusal = sinkFor(manifest.mode)?.downloadRefusal(runId);
  if (refusal) throw new Error(refusal);
  if (live || manifest.status === 'open') return snapshot(dir, runId, manifest);
  return {
    bin: await (await dir.getFileHandle(binName(runId))).getFile(),
    manifest: await (await dir.getFileHandle(manifestName(runId))).getFile(),
  };
}

// Bytes of a file another tab appends to: a File read fails once the file has
// changed since getFile(), but bytes below the size we saw never change (the
// writer only appends), so a fresh File per retry reads the same bytes.
async function readStable(handle, off, len) {
  for (let attempt = 0; ; attempt++) {
    try {
      return new Uint8Array(await (await handle.getFile()).slice(off, off + len).arrayBuffer());
    } catch (e) {
      if (attempt >= COPY_RETRIES) throw new Error(`the run kept changing while it was copied: ${e.name}: ${e.message}`);
    }
  }
}

async function snapshot(dir, runId, manifest) {
  const src = await dir.getFileHandle(binName(runId));
  const size = (await src.getFile()).size;
  const bytes = size - (size % RECORD_SIZE); // whole records only
  const snaps = await opfsDir(SNAPSHOTS);
  const crc = await createCrc32c();
  let access;
  try {
    access = await (await snaps.getFileHandle(binName(runId), { create: true })).createSyncAccessHandle();
  } catch (e) {
    throw new Error(`cannot copy run ${runId} for download: ${e.name === 'NoModificationAllowedError' ? 'another download of it is being prepared' : e.message}`);
  }
  try {
    access.truncate(0);
    for (let off = 0; off < bytes; off += COPY_CHUNK) {
      const chunk = await readStable(src, off, Math.min(COPY_CHUNK, bytes - off));
      writeAll(access, chunk, off, `snapshot of ${runId}`);
      crc.update(chunk);
    }
    access.flush();
  } catch (e) {
    access.truncate(0);
    throw new Error(`cannot copy run ${runId} for download: ${e.message}`);
  } finally {
    access.close();
  }
  const progress = await readJsonIfAny(dir, progressName(runId), { torn: null }) /* a torn checkpoint is no checkpoint */;
  const m = repairedManifest(manifest, progress, {
    records: bytes / RECORD_SIZE, bytes, checksum: { algorithm: 'crc32c', value: crc.digest('hex') }, what: 'snapshot',
  });
  await writeJson(snaps, manifestName(runId), m);
  return {
    bin: await (await snaps.getFileHandle(binName(runId))).getFile(),
    manifest: await (await snaps.getFileHandle(manifestName(runId))).getFile(),
  };
}

export async function deleteRun(runId, current = null) {
  if (current?.runId === runId) throw new Error(`run ${runId} is being written by this tab; stop it first`);
  if ((await liveRunIds()).has(runId)) throw new Error(`run ${runId} is being written by another tab; stop it there first`);
  const dir = await runsDir();
  for (const name of [binName(runId), manifestName(runId), progressName(runId)]) {
    try {
      await removeIfAny(dir, name);
    } catch (e) {
      if (e.name === 'NoModificationAllowedError') throw new Error(`run ${runId} is still open somewhere (another tab?); try again once it has closed`);
      throw e;
    }
  }
  const snaps = await opfsDir(SNAPSHOTS);
  await removeIfAny(snaps, binName(runId));
  await removeIfAny(snaps, manifestName(runId));
}
