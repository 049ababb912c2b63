// The 10-byte record, read from the same layout.json the Python package uses.
import layout from '../py/vpslog/layout.json' with { type: 'json' };

export const LAYOUT = layout;
export const RECORD_SIZE = layout.record_size;
export const RECORDS_PER_BUFFER = layout.records_per_buffer;
export const BUFFER_BYTES = RECORD_SIZE * RECORDS_PER_BUFFER;
export const Status = Object.freeze({ ...layout.status });

const ACCESS = {
  uint8: ['getUint8', 'setUint8'],
  uint16: ['getUint16', 'setUint16'],
  uint32: ['getUint32', 'setUint32'],
};
const FIELDS = layout.fields.map((f) => ({ ...f, get: ACCESS[f.type][0], set: ACCESS[f.type][1] }));
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
