// Repair of orphaned runs: a run whose manifest still says `open` although no
// tab holds its Web Lock (the writing tab was reloaded, closed or crashed).
// The writer holds runLock(runId) for the run's whole life, so a free lock is
// exact proof that nobody writes it any more; the repair itself runs while
// holding that lock, so two tabs never repair the same run.
import { createCrc32c } from './checksum.js';
import { runLock } from './locks.js';
import { manifestPart } from './manifest.js';
import { RECORD_SIZE } from './record.js';
import {
  binName, manifestName, progressName, readJsonIfAny, removeIfAny, runsDir, writeJson,
} from './storage.js';

export const ORPHAN_CAUSE = 'the tab writing this run stopped without closing it (page reload, tab or browser closed, or a crash)';
const READ_CHUNK = 4 * 1024 * 1024;

// Per-producer counts are known exactly up to the last progress checkpoint
// (written only when everything appended was stored); records after it are
// counted as unattributed.
export function attribute(producers, progress, records) {
  const known = progress?.producers && progress.bytes / RECORD_SIZE <= records ? progress.producers : null;
  const out = producers.map((p) => ({ ...p, records: known?.[p.id] ?? 0, buffers: p.buffers ?? 0 }));
  return { producers: out, unattributed: records - out.reduce((a, p) => a + p.records, 0) };
}

// The manifest of a repaired run (or of a snapshot of a live one): `what` is
// 'recovered' or 'snapshot'; `facts` describe the records actually kept.
// A writer that could not close its run leaves why in its last checkpoint (`cause`).
export function repairedManifest(manifest, progress, { records, bytes, checksum, parts, cut = 0, cause = progress?.cause ?? ORPHAN_CAUSE, what = 'recovered' }) {
  const { producers, unattributed } = attribute(manifest.producers, progress, records);
  const at = new Date().toISOString();
  return {
    ...manifest,
    ...(parts ? { parts } : {}),
    status: what,
    ...(what === 'recovered'
      ? { recovered_at: at, recovery: { cause, trailing_bytes_cut: cut, unattributed_records: unattributed, last_checkpoint_at: progress?.at ?? null } }
      : { snapshot_at: at, snapshot: { note: 'a consistent copy of the whole records of a run that was still being written', unattributed_records: unattributed } }),
    producers,
    records,
    bytes,
    checksum,
  };
}

// CRC32C of the first `bytes` bytes of an open sync access handle.
async function crcOfHandle(access, bytes) {
  const crc = await createCrc32c();
  const buf = new Uint8Array(Math.min(READ_CHUNK, Math.max(bytes, 1)));
  for (let off = 0; off < bytes; off += buf.byteLength) {
    const view = buf.subarray(0, Math.min(buf.byteLength, bytes - off));
    const n = access.read(view, { at: off });
    if (n !== view.byteLength) throw new Error(`short read at ${off}: ${n} of ${view.byteLength} bytes`);
    crc.update(view);
  }
  return { algorithm: 'crc32c', value: crc.digest('hex') };
}

async function repairOpfs(dir, manifest, progress, cause) {
  let access;
  try {
    access = await (await dir.getFileHandle(binName(manifest.run_id), { create: true })).createSyncAccessHandle();
  } catch (e) {
    throw new Error(`cannot open ${binName(manifest.run_id)} to repair it: ${e.name}: ${e.message}`);
  }
  try {
    const size = access.getSize();
    const cut = size % RECORD_SIZE; // a write cut short by the tab's death
    if (cut) access.truncate(size - cut);
    access.flush();
    const bytes = size - cut;
    return repairedManifest(manifest, progress, { records: bytes / RECORD_SIZE, bytes, checksum: await crcOfHandle(access, bytes), cut, cause });
  } finally {
    access.close();
  }
}

// A CLOUD run keeps the records that are safe: the gap-free prefix of parts
// that reached the bucket or the dead-letter queue (the progress file lists
// them with the run's CRC32C through each). Parts that were filling, waiting
// or in flight died with the tab. The recovered manifest goes through the DLQ,
// which uploads a run's manifest only after all its queued parts.
function repairCloud(manifest, progress, cause) {
  const parts = [];
  for (const p of [...(progress?.parts ?? [])].sort((a, b) => a.part - b.part)) {
    if (p.part !== parts.length + 1) break;
    parts.push(p);
  }
  const bytes = parts.reduce((a, p) => a + p.bytes, 0);
  const through = parts.at(-1)?.through ?? null;
  return repairedManifest(manifest, progress, {
    records: bytes / RECORD_SIZE, bytes, checksum: through && { algorithm: 'crc32c', value: through },
    parts: parts.map(manifestPart), cause,
  });
}

// Call only while holding runLock(runId): then nobody writes the run, and a
// manifest that still says `open` belongs to a writer that died (or, with a
// `cause`, to this tab's writer, whose close failed).
export async function repairIfOrphan(runId, dlq, cause) {
  const dir = await runsDir();
  const manifest = await readJsonIfAny(dir, manifestName(runId));
  if (manifest?.status !== 'open') return null; // closed, repaired by another tab, or deleted
  const progress = await readJsonIfAny(dir, progressName(runId), { torn: null }) /* a torn checkpoint is no checkpoint */;
  if (manifest.mode === 'cloud') {
    const m = repairCloud(manifest, progress, cause);
    const body = new TextEncoder().encode(JSON.stringify(m, null, 1));
    const crc = await createCrc32c();
    crc.update(body);
    // With the run's capability from the last checkpoint (without one the DLQ
    // quarantines it, saying so) and its CRC32C, which the presigned PUT signs.
    await dlq.put({ kind: 'manifest', runId, run: progress?.run, part: 0, bytes: body.byteLength, records: 0,
      crc32c: crc.digest('hex'), attempts: 0, lastError: 'recovered run' }, body);
    // The bucket holds the run now (or will, once the DLQ drains): nothing stays in runs/.
    await removeIfAny(dir, manifestName(runId));
    await removeIfAny(dir, progressName(runId));
    return m;
  }
  const m = await repairOpfs(dir, manifest, progress, cause);
  const size = (await (await dir.getFileHandle(manifestName(runId))).getFile()).size;
  await writeJson(dir, manifestName(runId), m, { minSize: size }); // reuse the reserved space
  await removeIfAny(dir, progressName(runId));
  return m;
}

// Repair every orphan in runs/; returns the repaired manifests. Runs whose lock
// is held (written by a live tab) are left alone.
export async function recoverOrphans(dlq, onError = () => {}) {
  const dir = await runsDir();
  const open = [];
  for await (const [name, handle] of dir.entries()) {
    if (!name.endsWith('.manifest.json')) continue;
    try {
      const m = JSON.parse(await (await handle.getFile()).text());
      if (m.status === 'open') open.push(m.run_id);
    } catch {
      /* the catalogue reports unreadable manifests */
    }
  }
  const repaired = [];
  for (const runId of open) {
    await navigator.locks.request(runLock(runId), { ifAvailable: true }, async (lock) => {
      if (!lock) return;
      try {
        const m = await repairIfOrphan(runId, dlq);
        if (m) repaired.push(m);
      } catch (e) {
        onError(`could not repair run ${runId}: ${e.message}`);
      }
    });
  }
  return repaired;
}
