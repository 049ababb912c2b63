// The run manifest: everything `vpslog verify` and the analysis need to read
// a runs/<runId>.bin without asking anyone. Field names are part of the file
// format (read by py/vpslog/manifest.py).
import { LAYOUT, RECORD_SIZE } from './record.js';

export const MANIFEST_FORMAT = 'vpslog-run';
export const MANIFEST_VERSION = 1;
// Replaced by Vite (vite.config.js `define`); null where no bundler ran (node tests).
export const VPSLOG_VERSION = typeof __VPSLOG_VERSION__ === 'string' ? __VPSLOG_VERSION__ : null;
export const APP_BUILD = typeof __VPSLOG_APP_BUILD__ === 'string' ? __VPSLOG_APP_BUILD__ : null;

export function openManifest({ runId, mode, config, producers }) {
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

// producers[].records counts what the logger received; `records` what the sink
// stored. They differ only after a storage failure, by errors.dropped_records.
export function closeManifest(manifest, { producers, sink, errors }) {
  const received = producers.reduce((a, p) => a + p.records, 0);
  const records = sink.bytes / RECORD_SIZE;
  return {
    ...(sink.parts ? { parts: sink.parts } : {}),
    ...manifest,
    // A sink that failed, a model that raised, or a producer that never said where it
    // ended (the drain timed out): what was stored is valid, the run is not whole.
    status: sink.error || producers.some((p) => p.error || p.reported_records === null) ? 'error' : 'closed',
    closed_at: new Date().toISOString(),
    producers,
    records,
    bytes: sink.bytes,
    checksum: sink.checksum,
    errors: { ...errors, dropped_records: received - records, ...(sink.error ? { storage: sink.error } : {}) },
  };
}

// A CLOUD part's manifest entry: bytes and crc32c of its records, and how it is
// stored (encoding, stored_bytes, stored_crc32c: the object in the bucket).
export function manifestPart({ part, key, bytes, records, crc32c, encoding = 'raw', stored_bytes = bytes, stored_crc32c = crc32c }) {
  return { part, key, bytes, records, crc32c, encoding, stored_bytes, stored_crc32c };
}
