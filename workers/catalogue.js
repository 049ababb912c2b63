// The run catalogue: what runs/ in OPFS holds, as every tab of the origin sees
// it. Listing, download (a consistent snapshot while a run is being written)
// and delete (refused while a run is being written, by any tab). A run is its
// manifest and one file per stream; sizes and deletes count every file.
import { makeZip } from 'client-zip';
import { createCrc32c } from './checksum.js';
import { liveRunIds } from './locks.js';
import { EVENTS } from './layout.js';
import { manifestStreams, repairedManifest } from './repair.js';
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
  // bytes: of every file of the run; records: of every stream (an open run's: of its events file so far)
  const entry = (runId) => runs.get(runId) ?? runs.set(runId, {
    runId, bytes: null, eventsBytes: null, records: null, streams: null, status: 'no manifest', mode: null, createdAt: null, noDownload: null,
    live: live.has(runId) ? (current?.runId === runId ? 'here' : 'elsewhere') : null,
  }).get(runId);
  const gone = new Set(); // runs with a file removed while listing: being deleted, not runs any more
  for await (const [name, handle] of dir.entries()) {
    const m = handle.kind === 'file' && RUN_FILE_RE.exec(name);
    if (!m || m[3] === 'progress.json' || (m[2] && m[3] !== 'bin')) continue;
    try {
      if (m[3] === 'bin') {
        const e = entry(m[1]);
        const size = (await handle.getFile()).size;
        e.bytes = (e.bytes ?? 0) + size;
        if (!m[2]) e.eventsBytes = size;
      } else {
        const man = await readJson(dir, name);
        Object.assign(entry(m[1]), {
          status: man.status, records: recordsOf(man), streams: man.streams?.length ?? 1, mode: man.mode, createdAt: man.created_at,
          noDownload: sinkFor(man.mode)?.downloadRefusal(m[1]) ?? null,
        });
      }
    } catch (err) {
      // removed since the listing began (a delete or the retention policy, in any tab)
      if (err.name === 'NotFoundError') {
        gone.add(m[1]);
        continue;
      }
      if (m[3] === 'bin') throw err;
      entry(m[1]).status = `unreadable manifest: ${err.message}`;
    }
  }
  for (const runId of gone) runs.delete(runId);
  for (const e of runs.values()) {
    // this tab's own run: what its logger has stored, staged bytes included
    if (e.status === 'open' && e.live === 'here') e.bytes = current.bytes;
    if (e.status === 'open' && e.eventsBytes != null) e.records = Math.floor((e.live === 'here' ? current.eventsBytes : e.eventsBytes) / EVENTS.recordSize);
    delete e.eventsBytes;
  }
  return [...runs.values()].sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
}

// Every stream's records of a closed manifest (an open one counts none yet).
const recordsOf = (man) => (man.streams ? man.streams.reduce((a, s) => a + s.records, 0) : man.records);

// File objects are references to the stored bytes: the page can hand them to
// a download without the data ever being copied into its heap. A run being
// written (by any tab) is copied first, so the download cannot change or stop
// under the browser's feet. -> {files: [File of each stream, events first], manifest: File}
export async function getRun(runId) {
  const dir = await runsDir();
  const live = (await liveRunIds()).has(runId);
  const manifest = await readJsonIfAny(dir, manifestName(runId));
  if (!manifest) throw new Error(`run ${runId} has no manifest (deleted?)`);
  const refusal = sinkFor(manifest.mode)?.downloadRefusal(runId);
  if (refusal) throw new Error(refusal);
  if (live || manifest.status === 'open') return snapshot(dir, runId, manifest);
  return filesOf(dir, runId, manifest);
}

// The whole run in one file, <runId>.zip: every stream's file and the manifest,
// as getRun gives them, stored, not compressed (records hardly compress, and a
// plain copy keeps it a stream). A Blob, not an OPFS file: it costs no quota (a
// full disk must not keep a run from being downloaded) and leaves nothing behind;
// the browser keeps a large Blob on disk, not in memory.
export async function archiveRun(runId) {
  const { files, manifest } = await getRun(runId);
  const zip = await new Response(makeZip([...files, manifest])).blob();
  return new File([zip], `${runId}.zip`, { type: 'application/zip' });
}

async function filesOf(dir, runId, manifest) {
  const files = [];
  for (const l of manifestStreams(manifest)) files.push(await (await dir.getFileHandle(binName(runId, l.name))).getFile());
  return { files, manifest: await (await dir.getFileHandle(manifestName(runId))).getFile() };
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
  const snaps = await opfsDir(SNAPSHOTS);
  const kept = [];
  for (const l of manifestStreams(manifest)) kept.push(await snapshotFile(dir, snaps, binName(runId, l.name), l.recordSize));
  const progress = await readJsonIfAny(dir, progressName(runId), { torn: null }) /* a torn checkpoint is no checkpoint */;
  await writeJson(snaps, manifestName(runId), repairedManifest(manifest, progress, { streams: kept, what: 'snapshot' }));
  return filesOf(snaps, runId, manifest);
}

// A copy of the whole records (of `recordSize` bytes) a stream's file holds now.
async function snapshotFile(dir, snaps, name, recordSize) {
  const src = await dir.getFileHandle(name);
  const size = (await src.getFile()).size;
  const bytes = size - (size % recordSize);
  const crc = await createCrc32c();
  let access;
  try {
    access = await (await snaps.getFileHandle(name, { create: true })).createSyncAccessHandle();
  } catch (e) {
    throw new Error(`cannot copy ${name} for download: ${e.name === 'NoModificationAllowedError' ? 'another download of it is being prepared' : e.message}`);
  }
  try {
    access.truncate(0);
    for (let off = 0; off < bytes; off += COPY_CHUNK) {
      const chunk = await readStable(src, off, Math.min(COPY_CHUNK, bytes - off));
      writeAll(access, chunk, off, `snapshot of ${name}`);
      crc.update(chunk);
    }
    access.flush();
  } catch (e) {
    access.truncate(0);
    throw new Error(`cannot copy ${name} for download: ${e.message}`);
  } finally {
    access.close();
  }
  return { bytes, checksum: { algorithm: 'crc32c', value: crc.digest('hex') } };
}

export async function deleteRun(runId, current = null) {
  if (current?.runId === runId) throw new Error(`run ${runId} is being written by this tab; stop it first`);
  if ((await liveRunIds()).has(runId)) throw new Error(`run ${runId} is being written by another tab; stop it there first`);
  const dir = await runsDir();
  const snaps = await opfsDir(SNAPSHOTS);
  // the manifest goes last: until then a listing still shows the run, whatever is left of it
  for (const d of [dir, snaps]) {
    for (const name of [...await runFiles(d, runId), progressName(runId), manifestName(runId)]) {
      try {
        await removeIfAny(d, name);
      } catch (e) {
        if (e.name === 'NoModificationAllowedError') throw new Error(`run ${runId} is still open somewhere (another tab?); try again once it has closed`);
        throw e;
      }
    }
  }
}

// Every stream file of a run in `dir`, whatever its manifest says (it may be gone or torn).
async function runFiles(dir, runId) {
  const names = [];
  for await (const [name] of dir.entries()) {
    const m = RUN_FILE_RE.exec(name);
    if (m?.[1] === runId && m[3] === 'bin') names.push(name);
  }
  return names;
}
