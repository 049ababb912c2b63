// The run manifest: everything `vpslog verify` and the analysis need to read
// a runs/<runId>.bin without asking anyone. Field names are part of the file
// format (read by py/vpslog/manifest.py).
import { LAYOUT, RECORD_SIZE } from './record.js';

export const MANIFEST_FORMAT = 'vpslog-run';
export const MANIFEST_VERSION = 1;

export function openManifest({ runId, mode, config, producers }) {
  return {
    format: MANIFEST_FORMAT,
    manifest_version: MANIFEST_VERSION,
    run_id: runId,
    status: 'open',
    mode,
    record_layout: LAYOUT,
    time_unit: LAYOUT.time_unit,
    created_at: new Date().toISOString(),
    closed_at: null,
    config,
    producers: producers.map((id) => ({ id, records: 0, buffers: 0, reported_records: null })),
    records: 0,
    bytes: 0,
    checksum: null,
    errors: { rejected_messages: 0, dropped_records: 0, messages: [] },
  };
}

export function closeManifest(manifest, { producers, sink, errors }) {
  const out = {
    ...manifest,
    status: sink.error ? 'error' : 'closed',
    closed_at: new Date().toISOString(),
    producers,
    records: sink.bytes / RECORD_SIZE,
    bytes: sink.bytes,
    checksum: sink.checksum,
    errors,
  };
  if (sink.error) out.errors = { ...errors, storage: sink.error };
  return out;
}
