// What the manifest of a repaired run says (a run whose tab stopped without
// closing it), or of a snapshot of a live one: the pure half of recovery, shared
// by each sink's repair (sinks/) and the catalogue's snapshot download.
import { createCrc32c } from './checksum.js';
import { EVENTS, fromJson, toJson } from './layout.js';
import { binName } from './storage.js';

export const ORPHAN_CAUSE = 'the tab writing this run stopped without closing it (page reload, tab or browser closed, or a crash)';
const READ_CHUNK = 4 * 1024 * 1024;

// The layouts of a manifest's streams, in index order (version 1: events only).
export const manifestStreams = (manifest) => (manifest.streams ? manifest.streams.map((s) => fromJson(s.layout)) : [EVENTS]);

// A checkpoint as this version writes it: {streams: [{bytes, parts?}], producers: {id: [records per stream]} | null}
// (one written before streams existed had {bytes, parts?, producers: {id: records}}).
export function progressStreams(progress) {
  if (!progress || progress.streams) return progress;
  const producers = progress.producers && Object.fromEntries(Object.entries(progress.producers).map(([id, n]) => [id, [n]]));
  return { ...progress, streams: [{ bytes: progress.bytes, parts: progress.parts }], producers };
}

// Per-producer counts are known exactly up to the last progress checkpoint
// (written only when everything appended was stored); records after it are
// counted as unattributed. `records`: what was kept of each stream.
export function attribute(producers, progress, records, recordSizes) {
  const p = progressStreams(progress);
  const known = p?.producers && records.every((n, i) => (p.streams[i]?.bytes ?? Infinity) / recordSizes[i] <= n) ? p.producers : null;
  const byStream = records.map((_, i) => Object.fromEntries(producers.map((row) => [row.id, known?.[row.id]?.[i] ?? 0])));
  const out = producers.map((row) => ({ ...row, records: byStream[0][row.id], buffers: row.buffers ?? 0 }));
  const unattributed = records.map((n, i) => n - Object.values(byStream[i]).reduce((a, x) => a + x, 0));
  return { producers: out, byStream, unattributed };
}

// The manifest of a repaired run (or of a snapshot of a live one): `what` is
// 'recovered' or 'snapshot'; `streams` describe the records actually kept of each
// stream, in index order: {bytes, checksum, cut?, parts?}.
// A writer that could not close its run leaves why in its last checkpoint (`cause`).
export function repairedManifest(manifest, progress, { streams, cause = progress?.cause ?? ORPHAN_CAUSE, what = 'recovered' }) {
  const layouts = manifestStreams(manifest);
  const records = streams.map((s, i) => s.bytes / layouts[i].recordSize);
  const { producers, byStream, unattributed } = attribute(manifest.producers, progress, records, layouts.map((l) => l.recordSize));
  const entries = layouts.map((l, i) => ({
    ...(manifest.streams?.[i] ?? { name: l.name, file: binName(manifest.run_id, l.name), layout: toJson(l) }),
    records: records[i], bytes: streams[i].bytes, checksum: streams[i].checksum, producers: byStream[i], dropped_records: 0,
    ...(streams[i].parts ? { parts: streams[i].parts } : {}),
  }));
  const at = new Date().toISOString();
  return {
    ...manifest,
    ...(streams[0].parts ? { parts: streams[0].parts } : {}),
    status: what,
    ...(what === 'recovered'
      ? { recovered_at: at, recovery: { cause, trailing_bytes_cut: streams[0].cut ?? 0, unattributed_records: unattributed[0], last_checkpoint_at: progress?.at ?? null } }
      : { snapshot_at: at, snapshot: { note: 'a consistent copy of the whole records of a run that was still being written', unattributed_records: unattributed[0] } }),
    producers,
    records: records[0],
    bytes: streams[0].bytes,
    checksum: streams[0].checksum,
    ...(manifest.streams ? { streams: entries.map((e, i) => ({ ...e, unattributed_records: unattributed[i], trailing_bytes_cut: streams[i].cut ?? 0 })) } : {}),
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
