// What the manifest of a repaired run says (a run whose tab stopped without
// closing it), or of a snapshot of a live one: the pure half of recovery, shared
// by each sink's repair (sinks/) and the catalogue's snapshot download.
import { createCrc32c } from './checksum.js';
import { RECORD_SIZE } from './record.js';

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
export async function crcOfHandle(access, bytes) {
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
