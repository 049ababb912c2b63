// The JS producer API's log: a model written in JavaScript logs through the
// same streams as a Python one (docs/streams.md). Each record is checked, then
// written with DataView straight into a whole-record buffer of its stream; a
// full buffer is transferred to the logger as it is (zero-copy).
//
//   log.enter(t, vehicle, edge), log.exit(...), log.error(...)   the events stream
//   log.stream('fcd')(t, vehicle, x, speed)  or  log.fcd(...)      a declared stream
// Real-time pace: a partial buffer leaves once its records waited this long (as vpslog.packer's).
export const PARTIAL_AFTER_MS = 1000;
const FLT_MAX = 3.4028234663852886e38;
const BIG = { int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n] };

// Why `v` cannot be field `f`, or null. Floats: any number (NaN and ±Infinity are
// stored as given, as in Python) that float32 can hold; integers: in the type's range.
function badValue(f, v) {
  if (f.range === null) {
    if (typeof v !== 'number') return 'is not a number';
    return f.size === 4 && Number.isFinite(v) && Math.abs(v) > FLT_MAX ? 'is too large for float32' : null;
  }
  if (f.big) {
    if (typeof v !== 'bigint' && !Number.isSafeInteger(v)) return 'is not an integer (a BigInt or a safe integer)';
    const [lo, hi] = BIG[f.type];
    return BigInt(v) < lo || BigInt(v) > hi ? `is outside ${lo}..${hi}` : null;
  }
  if (!Number.isInteger(v)) return 'is not an integer';
  return v < f.range[0] || v > f.range[1] ? `is outside ${f.range[0]}..${f.range[1]}` : null;
}

// One stream's records: whole buffers ready to leave, and the one filling.
export class StreamBuffers {
  full = [];     // Uint8Array whole buffers, oldest first
  records = 0;   // written
  out = 0;       // taken

  constructor(layout) {
    this.layout = layout;
    this.#fresh();
  }

  #fresh() {
    this.buf = new Uint8Array(this.layout.bufferBytes);
    this.view = new DataView(this.buf.buffer);
    this.at = 0;
  }

  // One record, values in field order; nothing is written unless all are valid.
  write(values) {
    const { fields, name } = this.layout;
    if (values.length !== fields.length) {
      throw new RangeError(`stream ${name} takes ${fields.length} values (${fields.map((f) => f.name).join(', ')}), got ${values.length}`);
    }
    for (let i = 0; i < fields.length; i++) {
      const why = badValue(fields[i], values[i]);
      if (why) throw new RangeError(`stream ${name}, field ${fields[i].name}: ${String(values[i])} ${why}`);
    }
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      this.view[f.set](this.at + f.offset, f.big ? BigInt(values[i]) : values[i], true);
    }
    this.at += this.layout.recordSize;
    this.records++;
    if (this.at === this.buf.byteLength) {
      this.full.push(this.buf);
      this.#fresh();
    }
  }

  get lastTime() {
    const size = this.layout.recordSize;
    if (this.at) return this.view.getUint32(this.at - size, true);
    const b = this.full.at(-1);
    return b ? new DataView(b.buffer).getUint32(b.byteLength - size, true) : null;
  }

  // Up to `max` buffers that may leave now (untilMs < 0: full pace, all whole ones;
  // else those whose last record is due, and once records have waited
  // PARTIAL_AFTER_MS the due ones of the filling buffer, copied out of it).
  take(max, untilMs) {
    const size = this.layout.recordSize;
    const timeAt = (b, i) => new DataView(b.buffer, b.byteOffset).getUint32(i * size, true);
    const out = [];
    while (out.length < max && this.full.length && (untilMs < 0 || timeAt(this.full[0], this.layout.recordsPerBuffer - 1) <= untilMs)) out.push(this.full.shift());
    if (untilMs >= 0 && !out.length && !this.full.length && this.at && max > 0 && timeAt(this.buf, 0) <= untilMs - PARTIAL_AFTER_MS) {
      let n = 0;
      while (n * size < this.at && timeAt(this.buf, n) <= untilMs) n++;
      out.push(this.buf.slice(0, n * size));
      this.buf.copyWithin(0, n * size, this.at);
      this.at -= n * size;
    }
    this.out += out.reduce((a, b) => a + b.byteLength / size, 0);
    return out;
  }

  // Everything not taken yet: the whole buffers and the filled part of the last.
  flush() {
    const out = [...this.full, ...(this.at ? [this.buf.subarray(0, this.at)] : [])];
    this.full = [];
    this.out = this.records;
    this.#fresh();
    return out;
  }
}

// What a JS model logs on. `layouts`: the run's streams in index order.
export class JsLog {
  constructor(layouts, { wide }) {
    this.buffers = layouts.map((l) => new StreamBuffers(l));
    const byName = new Map(layouts.map((l, i) => [l.name, this.buffers[i]]));
    const events = byName.get(wide ? 'events_wide' : 'events');
    const status = events.layout.enums.status;
    this.enter = (t, v, e) => events.write([t, v, e, status.enter, ...(wide ? [] : [0])]);
    this.exit = (t, v, e) => events.write([t, v, e, status.exit, ...(wide ? [] : [0])]);
    this.error = (t, v, e) => events.write([t, v, e, status.error, ...(wide ? [] : [0])]);
    this.writers = new Map([...byName].filter(([n]) => !n.startsWith('events')).map(([n, b]) => [n, (...values) => b.write(values)]));
    for (const [n, w] of this.writers) this[n] = w;
  }

  stream(name) {
    const w = this.writers.get(name);
    if (!w) throw new RangeError(`no stream ${JSON.stringify(name)}: the model declares ${[...this.writers.keys()].join(', ') || 'none'}`);
    return w;
  }

  get pending() {
    return this.buffers.reduce((a, b) => a + b.records - b.out, 0);
  }
}
