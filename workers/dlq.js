// The dead-letter queue in OPFS: parts (and run manifests) that could not be
// uploaded wait in dlq/ as <name>.bin + <name>.json (payload + metadata) and
// are replayed one at a time when no live upload is running, also after the
// page starts again. Each entry keeps its run's capability (token), so a tab
// can finish its own runs after a reload, and only those. A payload that fails
// validation, or that the server refuses for good (token expired or not for
// this run, another object already stored), moves to quarantine/.
// A part is kept in its stored form (encoded, if its run encodes parts): the
// payload is what the PUT sends, checked against stored_bytes/stored_crc32c,
// and an encoded one must also decode to its records' size and CRC32C.
// A part entry names its stream and that stream's record size (entries written
// before streams have neither: events); its name says the stream too, so parts
// of two streams never share an entry.
import { EVENTS_STREAM, partNumber } from './bucket_layout.js';
import { createCrc32c } from './checksum.js';
import { decodePart, DecodeError } from './encoding.js';
import { RECORD_SIZE } from './record.js';
import { exists, opfsDir as dir, writeFile, writeJson } from './storage.js';
import { putOnce, renewIfDue, UploadError } from './upload.js';

const SCAN_LIMIT = 32; // bounded scan: the oldest of the first K entries

export async function crc32cOf(bytes) {
  const h = await createCrc32c();
  h.update(bytes);
  return h.digest('hex');
}

// The payload's size and CRC32C (a part's stored form; a manifest is stored as is).
const stored = (meta) => ({ bytes: meta.stored_bytes ?? meta.bytes, crc32c: meta.stored_crc32c ?? meta.crc32c });

const streamOf = (meta) => meta.stream ?? EVENTS_STREAM;

// <runId>.manifest, <runId>.part-NNNNNN (events), <runId>.<stream>.part-NNNNNN: neither a
// run id nor a stream name holds a dot.
const entryName = (meta) => (meta.kind === 'manifest' ? `${meta.runId}.manifest`
  : `${meta.runId}.${streamOf(meta) === EVENTS_STREAM ? '' : `${meta.stream}.`}part-${partNumber(meta.part)}`);
const ENTRY = /^([^.]+)\.(?:([^.]+)\.)?part-(\d+)\.json$/;

export class DeadLetterQueue {
  constructor() {
    this.entries = 0;
    this.bytes = 0;
    this.quarantined = 0;
    this.partsByRun = new Map(); // runId -> part entries waiting (a manifest waits for them)
    this.replaying = false;
    this.replayed = 0;
    this.partsReplayed = 0;
    this.lastError = null;
    this.onChange = () => {}; // entries added or removed (the logger tells the other tabs)
  }

  // Count what is queued: at start (a previous page left it) and whenever another tab changed it.
  // Counted aside and swapped in at the end, so overlapping loads never add up.
  async load() {
    const d = await dir('dlq');
    const counts = { entries: 0, bytes: 0, partsByRun: new Map() };
    for await (const [name, handle] of d.entries()) {
      if (!name.endsWith('.json')) continue;
      try {
        DeadLetterQueue.#add(counts, JSON.parse(await (await handle.getFile()).text()), +1);
      } catch (e) {
        if (e.name !== 'NotFoundError') throw e; // replayed by another tab meanwhile
      }
    }
    let quarantined = 0;
    for await (const [name] of (await dir('quarantine')).entries()) if (name.endsWith('.json')) quarantined++;
    Object.assign(this, counts, { quarantined });
    return this;
  }

  static #add(counts, meta, sign) {
    counts.entries += sign;
    counts.bytes += sign * stored(meta).bytes;
    if (meta.kind === 'part') counts.partsByRun.set(meta.runId, (counts.partsByRun.get(meta.runId) ?? 0) + sign);
  }

  #count(meta, sign) {
    DeadLetterQueue.#add(this, meta, sign);
  }

  // meta: {kind: 'part'|'manifest', runId, run: {runId, token, expires, renewAfter}, [stream, record_size],
  //        part, bytes, records, crc32c, [encoding, stored_bytes, stored_crc32c], attempts, lastError}
  async put(meta, bytes) {
    const d = await dir('dlq');
    const name = entryName(meta);
    await writeFile(d, `${name}.bin`, bytes);
    const replacing = await exists(d, `${name}.json`);
    await writeJson(d, `${name}.json`, { ...meta, createdAt: new Date().toISOString() });
    if (!replacing) this.#count(meta, +1);
    this.onChange();
  }

  // One replay step: upload the oldest of the first SCAN_LIMIT entries. Every
  // tab of the origin shares dlq/: a Web Lock lets one of them replay at a time.
  async replayOne(api) {
    if (this.replaying || !this.entries) return false;
    this.replaying = true;
    try {
      return await navigator.locks.request('vpslog-dlq-replay', { ifAvailable: true },
        (lock) => (lock ? this.#replayOne(api) : false));
    } finally {
      this.replaying = false;
    }
  }

  async #replayOne(api) {
    const d = await dir('dlq');
    const metas = [];
    let seen = 0;
    for await (const [name, handle] of d.entries()) {
      if (!name.endsWith('.json')) continue;
      seen++;
      const meta = JSON.parse(await (await handle.getFile()).text());
      // a run's manifest goes last: only once none of its parts wait here
      if (meta.kind === 'manifest' && this.partsByRun.get(meta.runId)) continue;
      if (meta.notBefore > Date.now()) continue; // the server asked to wait (429 Retry-After)
      metas.push({ name: name.slice(0, -5), meta });
      if (metas.length >= SCAN_LIMIT) break;
    }
    if (!seen) {
      // another tab of this origin replayed what this one counted
      this.entries = this.bytes = 0;
      this.partsByRun.clear();
    }
    if (!metas.length) return false;
    const { name, meta } = metas.reduce((a, b) => (b.meta.createdAt < a.meta.createdAt ? b : a));
    const payload = new Uint8Array(await (await (await d.getFileHandle(`${name}.bin`)).getFile()).arrayBuffer());
    const invalid = (await DeadLetterQueue.#invalid(meta, payload))
      ?? (meta.run?.runId !== meta.runId ? 'no run token for this run' : null)
      ?? (meta.kind === 'manifest' ? await DeadLetterQueue.#lostParts(meta.runId, payload) : null);
    if (invalid) {
      await this.#quarantine(d, name, meta, invalid);
      return true;
    }
    try {
      if (await renewIfDue(api, meta.run)) await writeJson(d, `${name}.json`, meta);
      const target = meta.kind === 'manifest' ? { part: 'manifest' } : { stream: streamOf(meta), part: meta.part };
      await putOnce(api, meta.run, target, payload, stored(meta).crc32c);
    } catch (e) {
      if (e instanceof UploadError && !e.retryable) {
        await this.#quarantine(d, name, meta, e.message);
        return true;
      }
      this.lastError = e.message;
      const notBefore = e.retryAfterMs ? Date.now() + e.retryAfterMs : undefined;
      await writeJson(d, `${name}.json`, { ...meta, attempts: (meta.attempts ?? 0) + 1, lastError: e.message, notBefore });
      return false;
    }
    await d.removeEntry(`${name}.bin`);
    await d.removeEntry(`${name}.json`);
    this.#count(meta, -1);
    this.replayed++;
    if (meta.kind === 'part') this.partsReplayed++;
    this.lastError = null;
    this.onChange();
    return true;
  }

  static async #invalid(meta, payload) {
    const encoding = meta.kind === 'part' ? meta.encoding ?? 'raw' : 'raw';
    const recordSize = meta.record_size ?? RECORD_SIZE;
    if (meta.kind === 'part' && !(Number.isSafeInteger(recordSize) && recordSize > 0)) return `record size ${JSON.stringify(recordSize)} is not a size`;
    if (meta.kind === 'part' && encoding === 'raw' && payload.byteLength % recordSize) {
      return `size ${payload.byteLength} is not a whole number of ${recordSize}-byte records`;
    }
    if (payload.byteLength !== stored(meta).bytes) return `size ${payload.byteLength} differs from the ${stored(meta).bytes} bytes recorded`;
    if ((await crc32cOf(payload)) !== stored(meta).crc32c) return 'checksum mismatch';
    if (encoding === 'raw') return null;
    try {
      return (await crc32cOf(await decodePart(payload, encoding, meta.bytes, recordSize))) === meta.crc32c ? null : 'decoded records: checksum mismatch';
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      return `cannot decode the ${encoding} part: ${e.message}`;
    }
  }

  // A quarantined part never reaches the bucket. A run is complete there exactly when its
  // manifest is, so a manifest that lists such a part, of any of its streams, must not go
  // either: it joins it.
  static async #lostParts(runId, payload) {
    const listed = new Set();
    try {
      const m = JSON.parse(new TextDecoder().decode(payload));
      for (const s of m.streams ?? [{ name: EVENTS_STREAM, parts: m.parts }]) for (const p of s.parts ?? []) listed.add(`${s.name} ${p.part}`);
    } catch (e) {
      return `not a readable manifest: ${e.message}`;
    }
    const lost = [];
    for await (const [name] of (await dir('quarantine')).entries()) {
      const m = ENTRY.exec(name);
      const [stream, part] = [m?.[2] ?? EVENTS_STREAM, Number(m?.[3])];
      if (m?.[1] === runId && listed.has(`${stream} ${part}`)) lost.push({ stream, part });
    }
    if (!lost.length) return null;
    const named = lost.sort((a, b) => a.stream.localeCompare(b.stream) || a.part - b.part)
      .map((p) => (p.stream === EVENTS_STREAM ? `${p.part}` : `${p.stream} ${p.part}`));
    return `part ${named.join(', ')} of this run is quarantined: the run cannot be completed in the bucket`;
  }

  async #quarantine(d, name, meta, reason) {
    const q = await dir('quarantine');
    const src = await (await d.getFileHandle(`${name}.bin`)).getFile();
    await writeFile(q, `${name}.bin`, new Uint8Array(await src.arrayBuffer()));
    await writeJson(q, `${name}.json`, { ...meta, quarantinedAt: new Date().toISOString(), reason });
    await d.removeEntry(`${name}.bin`);
    await d.removeEntry(`${name}.json`);
    this.#count(meta, -1);
    this.quarantined++;
    this.lastError = `quarantined ${name}: ${reason}`;
    this.onChange();
  }

  stats() {
    return { dlqEntries: this.entries, dlqBytes: this.bytes, quarantined: this.quarantined, replayed: this.replayed, dlqError: this.lastError };
  }
}
