// Record layouts of every stream, from the same layouts.json the Python package
// reads (py/vpslog/layout.py says why rows are packed and start with time_ms).
// resolve() checks a declaration exactly as Python does; encode/decode speak
// the format for tests, tools and the JS producer API.
import spec from '../py/vpslog/layouts.json' with { type: 'json' };

export const SPEC = spec;
export const BUFFER_BYTES = spec.buffer_bytes;
export const MAX_STREAMS = spec.max_streams;
const NAME = new RegExp(spec.name_pattern);
const RESERVED = new Set(spec.reserved_names);

// type -> DataView [getter, setter]; 64-bit integers are BigInt in JS
const ACCESS = {
  uint8: ['getUint8', 'setUint8'], uint16: ['getUint16', 'setUint16'], uint32: ['getUint32', 'setUint32'], uint64: ['getBigUint64', 'setBigUint64'],
  int8: ['getInt8', 'setInt8'], int16: ['getInt16', 'setInt16'], int32: ['getInt32', 'setInt32'], int64: ['getBigInt64', 'setBigInt64'],
  float32: ['getFloat32', 'setFloat32'], float64: ['getFloat64', 'setFloat64'],
};

export class LayoutError extends Error {}

const pairsOf = (name, fields) => {
  const list = Array.isArray(fields) ? fields : fields && typeof fields === 'object' ? Object.entries(fields) : null;
  if (!list?.length) throw new LayoutError(`stream ${name}: fields must be a non-empty list of [name, type], got ${JSON.stringify(fields)}`);
  return list.map((f, i) => {
    const pair = Array.isArray(f) ? f : [f?.name, f?.type];
    if (pair.length !== 2) throw new LayoutError(`stream ${name}: field ${i} must be a [name, type] pair, got ${JSON.stringify(f)}`);
    return pair;
  });
};

function checkedEnums(name, enums, fields) {
  if (enums === null || typeof enums !== 'object' || Array.isArray(enums)) {
    throw new LayoutError(`stream ${name}: enums must be {field: {label: value}}, got ${JSON.stringify(enums)}`);
  }
  for (const [fname, labels] of Object.entries(enums)) {
    const f = fields.find((x) => x.name === fname);
    if (!f || f.type.startsWith('float')) throw new LayoutError(`stream ${name}: enum ${JSON.stringify(fname)} does not name an integer field`);
    const [lo, hi] = f.range;
    const ok = labels && typeof labels === 'object' && Object.keys(labels).length
      && Object.values(labels).every((v) => Number.isSafeInteger(v) && v >= lo && v <= hi);
    if (!ok) throw new LayoutError(`stream ${name}: enum ${fname} must map labels to values within ${lo}..${hi}, got ${JSON.stringify(labels)}`);
  }
  return enums;
}

const rangeOf = (type, size) => {
  if (type.startsWith('float')) return null;
  const bits = 8 * size;
  return type.startsWith('int') ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
};

/**
 * A stream's resolved layout.
 * @typedef {object} Layout
 * @property {string} name
 * @property {{name: string, type: string, offset: number, size: number, get: string, set: string, range: number[]|null, big: boolean}[]} fields  big: a BigInt in JS
 * @property {number} recordSize
 * @property {number} recordsPerBuffer
 * @property {number} bufferBytes  recordsPerBuffer whole records
 * @property {object} enums
 */

/** @returns {Layout} */
export function resolve(name, fields, enums = {}) {
  if (typeof name !== 'string' || !NAME.test(name)) throw new LayoutError(`stream name ${JSON.stringify(name)} is invalid: it must match ${spec.name_pattern}`);
  const out = [];
  let offset = 0;
  for (const [fname, type] of pairsOf(name, fields)) {
    if (typeof fname !== 'string' || !NAME.test(fname)) throw new LayoutError(`stream ${name}: field name ${JSON.stringify(fname)} is invalid: it must match ${spec.name_pattern}`);
    if (out.some((f) => f.name === fname)) throw new LayoutError(`stream ${name}: field ${fname} is declared twice`);
    const size = spec.types[type];
    if (!size) throw new LayoutError(`stream ${name}: field ${fname} has type ${JSON.stringify(type)}; the types are ${Object.keys(spec.types).join(', ')}`);
    out.push({ name: fname, type, offset, size, get: ACCESS[type][0], set: ACCESS[type][1], range: rangeOf(type, size), big: size === 8 && !type.startsWith('float') });
    offset += size;
  }
  const t = spec.time_field;
  if (out[0].name !== t.name || out[0].type !== t.type) {
    throw new LayoutError(`stream ${name}: the first field must be ${t.name} (${t.type}), got ${out[0].name} (${out[0].type})`);
  }
  if (offset > BUFFER_BYTES) throw new LayoutError(`stream ${name}: a record of ${offset} bytes is larger than a ${BUFFER_BYTES}-byte buffer`);
  const recordsPerBuffer = Math.floor(BUFFER_BYTES / offset);
  return { name, fields: out, recordSize: offset, recordsPerBuffer, bufferBytes: recordsPerBuffer * offset, enums: checkedEnums(name, enums ?? {}, out) };
}

// The resolved form a manifest keeps (py: Layout.to_json).
export const toJson = (l) => ({
  name: l.name, byte_order: 'little', record_size: l.recordSize, records_per_buffer: l.recordsPerBuffer, time_unit: spec.time_unit,
  fields: l.fields.map(({ name, type, offset }) => ({ name, type, offset })), enums: l.enums,
});

// A layout a manifest recorded, checked against the packing rule.
export function fromJson(d) {
  const l = resolve(d?.name, (d?.fields ?? []).map((f) => [f.name, f.type]), d?.enums);
  if (d.record_size !== l.recordSize || d.fields.some((f, i) => f.offset !== l.fields[i].offset)) {
    throw new LayoutError(`stream ${l.name}: recorded offsets or record size are not the packed layout of its fields`);
  }
  return l;
}

export const BUILTIN = Object.freeze(Object.fromEntries(Object.entries(spec.builtin).map(([n, d]) => [n, resolve(n, d.fields, d.enums)])));
export const EVENTS = BUILTIN.events;
export const EVENTS_WIDE = BUILTIN.events_wide;

// A source's declared streams, checked as a set (py: declare_streams).
export function declareStreams(declared = []) {
  const out = [];
  for (const d of declared) {
    const l = resolve(d?.name, d?.fields, d?.enums);
    if (BUILTIN[l.name] || RESERVED.has(l.name)) throw new LayoutError(`stream name ${l.name} is reserved (${[...Object.keys(BUILTIN), ...RESERVED].sort().join(', ')})`);
    if (out.some((x) => x.name === l.name)) throw new LayoutError(`stream ${l.name} is declared twice`);
    out.push(l);
  }
  const builtin = Object.keys(BUILTIN).length;
  if (out.length > MAX_STREAMS - builtin) {
    throw new LayoutError(`${out.length} streams declared: a run holds at most ${MAX_STREAMS} streams, ${builtin} of them built in (${Object.keys(BUILTIN).join(', ')}), so ${MAX_STREAMS - builtin} declared`);
  }
  return out;
}

// Write one record's values (in field order) at `at`; 64-bit fields take a BigInt or a safe integer.
export function writeRecord(view, at, layout, values) {
  const { fields } = layout;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    const v = values[i];
    view[f.set](at + f.offset, f.big ? BigInt(v) : v, true);
  }
}

// Records as arrays of values in field order (64-bit integers as BigInt).
export function encode(layout, rows) {
  const out = new Uint8Array(rows.length * layout.recordSize);
  const view = new DataView(out.buffer);
  rows.forEach((r, i) => writeRecord(view, i * layout.recordSize, layout, r));
  return out;
}

export function decode(layout, bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.byteLength % layout.recordSize) throw new RangeError(`${u8.byteLength} bytes is not whole ${layout.recordSize}-byte ${layout.name} records`);
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const out = [];
  for (let at = 0; at < u8.byteLength; at += layout.recordSize) out.push(layout.fields.map((f) => view[f.get](at + f.offset, true)));
  return out;
}
