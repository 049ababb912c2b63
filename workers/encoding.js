// How a CLOUD part is stored, from the same part_encoding.json the Python
// readers use (py/vpslog/part_encoding.py): raw records, or the records' bytes
// transposed into columns (byte k of record i at k*n + i) and then compressed
// with the browser's native CompressionStream.
//
// Encoding runs in the logger worker, never on the main thread, in slices (a
// byte column of the shuffle, 256 KiB of compression) with a yield to the
// event loop between them: producers' buffers and credits keep flowing while a
// part is encoded, and the worker is held for one slice at a time (`stallMs`).
import spec from '../py/vpslog/part_encoding.json' with { type: 'json' };
import { RECORD_SIZE } from './record.js';

export const ENCODINGS = Object.freeze({ ...spec.encodings });
export const DEFAULT_ENCODING = spec.default;
const SLICE = 256 * 1024;
const SHUFFLE_SLICE = 512 * 1024; // one byte column of a 5 MiB events part

export function checkEncoding(name) {
  if (!Object.hasOwn(ENCODINGS, name)) throw new Error(`unknown part encoding ${JSON.stringify(name)} (one of ${Object.keys(ENCODINGS).join(', ')})`);
  return ENCODINGS[name];
}

// Byte k of every record (of `size` bytes: the part's stream's) into column k of `out`.
function column(u8, out, k, size) {
  const n = u8.byteLength / size;
  const base = k * n;
  for (let i = 0, j = k; i < n; i++, j += size) out[base + i] = u8[j];
}

export function unshuffle(u8, size = RECORD_SIZE) {
  const n = u8.byteLength / size;
  const out = new Uint8Array(u8.byteLength);
  for (let k = 0; k < size; k++) {
    const base = k * n;
    for (let i = 0, j = k; i < n; i++, j += size) out[j] = u8[base + i];
  }
  return out;
}

// A task queued behind the messages already waiting (producers' buffers): not
// scheduler.yield(), whose continuation runs before them, nor setTimeout, which
// is clamped to 4 ms once nested.
// (Node, in the unit tests: the port keeps the process alive only while a wakeup is due.)
const wakeups = [];
const channel = new MessageChannel();
channel.port1.onmessage = () => {
  wakeups.shift()();
  if (!wakeups.length) channel.port1.unref?.();
};
channel.port1.unref?.();
const yieldToEvents = () => new Promise((resolve) => {
  wakeups.push(resolve);
  channel.port1.ref?.();
  channel.port2.postMessage(null);
});

async function collect(readable) {
  const chunks = [];
  for await (const c of readable) chunks.push(c);
  return chunks;
}

// Runs step(i) for i < n, one at a time with a yield between: the time spent
// in the steps (cpuMs) and in the longest one (stallMs).
async function sliced(n, step) {
  let cpuMs = 0;
  let stallMs = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await step(i);
    const dt = performance.now() - t;
    cpuMs += dt;
    stallMs = Math.max(stallMs, dt);
    await yieldToEvents();
  }
  return { cpuMs, stallMs };
}

// Pipes `u8` through a (De)CompressionStream in slices; resolves the output chunks and the
// time the worker spent inside the slices (cpuMs) and in the longest one (stallMs).
async function stream(transform, u8) {
  const out = collect(transform.readable);
  out.catch(() => {}); // awaited below; a failing write must not leave it unhandled
  const writer = transform.writable.getWriter();
  const { cpuMs, stallMs } = await sliced(Math.ceil(u8.byteLength / SLICE), (i) => writer.write(u8.subarray(i * SLICE, (i + 1) * SLICE)));
  const t = performance.now();
  await writer.close();
  const chunks = await out;
  return { chunks, cpuMs: cpuMs + performance.now() - t, stallMs };
}

// The stored form of a part of `recordSize`-byte records: {chunks (Uint8Arrays, a Blob's parts), bytes, cpuMs, stallMs}.
export async function encodePart(u8, name, recordSize = RECORD_SIZE) {
  const { shuffle: shuffled, codec } = checkEncoding(name);
  if (!shuffled && !codec) return { chunks: [u8], bytes: u8.byteLength, cpuMs: 0, stallMs: 0 };
  const body = shuffled ? new Uint8Array(u8.byteLength) : u8;
  // the shuffle too goes in slices of whole byte columns, ~SHUFFLE_SLICE bytes each (~5 ms):
  // one column of a 5 MiB events part, many narrow ones of a wide record's part
  const perSlice = Math.max(1, Math.floor(SHUFFLE_SLICE / (u8.byteLength / recordSize || 1)));
  const shuffleSlice = (i) => {
    for (let k = i * perSlice; k < Math.min(recordSize, (i + 1) * perSlice); k++) column(u8, body, k, recordSize);
  };
  const s = shuffled ? await sliced(Math.ceil(recordSize / perSlice), shuffleSlice) : { cpuMs: 0, stallMs: 0 };
  if (!codec) return { chunks: [body], bytes: body.byteLength, ...s };
  const r = await stream(new CompressionStream(codec), body);
  return {
    chunks: r.chunks, bytes: r.chunks.reduce((a, c) => a + c.byteLength, 0),
    cpuMs: s.cpuMs + r.cpuMs, stallMs: Math.max(s.stallMs, r.stallMs),
  };
}

// Data that is not what its entry says it is (not a bug in the reader).
export class DecodeError extends Error {}

// The records (of `recordSize` bytes) a stored part holds, or a DecodeError saying why not (the DLQ checks an entry before replaying it).
export async function decodePart(stored, name, size, recordSize = RECORD_SIZE) {
  const { shuffle: shuffled, codec } = checkEncoding(name);
  let body = stored;
  if (codec) {
    const { chunks } = await stream(new DecompressionStream(codec), stored).catch((e) => {
      throw new DecodeError(`not valid ${codec} data (${e.message})`);
    });
    body = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0));
    let off = 0;
    for (const c of chunks) {
      body.set(c, off);
      off += c.byteLength;
    }
  }
  if (body.byteLength !== size) throw new DecodeError(`decodes to ${body.byteLength} bytes, not ${size}`);
  if (size % recordSize) throw new DecodeError(`${size} bytes is not whole ${recordSize}-byte records`);
  return shuffled ? unshuffle(body, recordSize) : body;
}
