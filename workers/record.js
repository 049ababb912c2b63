// The built-in 10-byte events record: the `events` layout of layouts.json
// (workers/layout.js). LAYOUT keeps the shape manifests' record_layout has
// always had (py: vpslog.record.LAYOUT).
import { EVENTS, SPEC, toJson } from './layout.js';

export const RECORD_SIZE = EVENTS.recordSize;
export const RECORDS_PER_BUFFER = EVENTS.recordsPerBuffer;
export const BUFFER_BYTES = EVENTS.bufferBytes;
export const Status = Object.freeze({ ...EVENTS.enums.status });
export const LAYOUT = Object.freeze({
  format_version: 1, byte_order: 'little', record_size: RECORD_SIZE, records_per_buffer: RECORDS_PER_BUFFER,
  time_unit: SPEC.time_unit, fields: toJson(EVENTS).fields, status: EVENTS.enums.status,
});
const FIELDS = EVENTS.fields;
// Each field by name: {name, type, offset, get, set}.
export const FIELD = Object.freeze(Object.fromEntries(FIELDS.map((f) => [f.name, f])));

// Encode objects {time_ms, vehicle_id, edge_id, status} (pad is always 0).
// Not the hot path (Python packs); used by tests and tools to speak the format.
export function encodeRecords(records) {
  const out = new Uint8Array(records.length * RECORD_SIZE);
  const view = new DataView(out.buffer);
  records.forEach((r, i) => {
    for (const f of FIELDS) view[f.set](i * RECORD_SIZE + f.offset, f.name === 'pad' ? 0 : r[f.name], true);
  });
  return out;
}

export function decodeRecords(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.byteLength % RECORD_SIZE) throw new RangeError(`${u8.byteLength} bytes is not whole ${RECORD_SIZE}-byte records`);
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const out = [];
  for (let off = 0; off < u8.byteLength; off += RECORD_SIZE) {
    const r = {};
    for (const f of FIELDS) r[f.name] = view[f.get](off + f.offset, true);
    out.push(r);
  }
  return out;
}
