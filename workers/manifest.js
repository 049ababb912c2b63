// The run manifest: everything `vpslog verify` and the analysis need to read
// a run's files without asking anyone. Field names are part of the file
// format (read by py/vpslog/manifest.py). Version 2 lists every stream in
// `streams`; the top-level counts still describe the events stream (docs/streams.md).
import { toJson } from './layout.js';
import { LAYOUT } from './record.js';
import { binName } from './storage.js';

export const MANIFEST_FORMAT = 'vpslog-run';
export const MANIFEST_VERSION = 2;
// Replaced by Vite (vite.config.js `define`); null where no bundler ran (node tests).
export const VPSLOG_VERSION = typeof __VPSLOG_VERSION__ === 'string' ? __VPSLOG_VERSION__ : null;
export const APP_BUILD = typeof __VPSLOG_APP_BUILD__ === 'string' ? __VPSLOG_APP_BUILD__ : null;

// A stream's entry while the run is open: its layout, and no records yet.
const openStream = (runId, producers) => (layout) => ({
  name: layout.name, file: binName(runId, layout.name), layout: toJson(layout), records: 0, bytes: 0, checksum: null,
  producers: Object.fromEntries(producers.map((id) => [id, 0])), dropped_records: 0,
});

export function openManifest({ runId, mode, config, producers, layouts }) {
  return {
    format: MANIFEST_FORMAT,
    manifest_version: MANIFEST_VERSION,
    vpslog_version: VPSLOG_VERSION,
    app_build: APP_BUILD,
    run_id: runId,
    status: 'open',
    mode,
    record_layout: LAYOUT,
    time_unit: LAYOUT.time_unit,
    created_at: new Date().toISOString(),
    closed_at: null,
    config,
    source: null,
    producers: producers.map((id) => ({ id, records: 0, buffers: 0, reported_records: null, source: null, stats: null })),
    records: 0,
    bytes: 0,
    checksum: null,
    streams: layouts.map(openStream(runId, producers)),
    errors: { rejected_messages: 0, dropped_records: 0, messages: [] },
  };
}

// The event source's description arrives from the sims after the run opened:
// run-level facts once (identical in every sim), each sim's own part per producer.
export function withSource(manifest, source, producerSources) {
  return {
    ...manifest,
    source,
    producers: manifest.producers.map((p) => ({ ...p, source: producerSources.get(p.id) ?? null })),
  };
}

// A stream's entry once its sink has closed: `received` {producerId: records} counts
// what the logger received, `stored` what the sink kept. They differ only after a
// storage failure (or a producer refused), by dropped_records.
export function closedStream(entry, received, stored) {
  const records = stored.bytes / entry.layout.record_size;
  const total = Object.values(received).reduce((a, n) => a + n, 0);
  return {
    ...entry, records, bytes: stored.bytes, checksum: stored.checksum, producers: received, dropped_records: total - records,
    ...(stored.parts ? { parts: stored.parts } : {}),
  };
}

// `streams`: each stream's closed entry (closedStream), in index order; the
// top-level counts are the events stream's, as in version 1.
export function closeManifest(manifest, { producers, streams, error, errors }) {
  const [events] = streams;
  return {
    ...(events.parts ? { parts: events.parts } : {}),
    ...manifest,
    // A sink that failed, a model that raised, or a producer that never said where it
    // ended (the drain timed out): what was stored is valid, the run is not whole.
    status: error || producers.some((p) => p.error || p.refused || p.reported_records === null) ? 'error' : 'closed',
    closed_at: new Date().toISOString(),
    producers,
    records: events.records,
    bytes: events.bytes,
    checksum: events.checksum,
    streams,
    errors: { ...errors, dropped_records: events.dropped_records, ...(error ? { storage: error } : {}) },
  };
}

// A CLOUD part's manifest entry: bytes and crc32c of its records, and how it is
// stored (encoding, stored_bytes, stored_crc32c: the object in the bucket).
export function manifestPart({ part, key, bytes, records, crc32c, encoding = 'raw', stored_bytes = bytes, stored_crc32c = crc32c }) {
  return { part, key, bytes, records, crc32c, encoding, stored_bytes, stored_crc32c };
}
