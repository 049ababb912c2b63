// One CLOUD run's uploads, shared by its stream sinks (sinks/cloud.js, one per
// stream): the run's capability (renewed once, in place, so every stream and
// every later DLQ entry sees the new token), one encoder, MAX_IN_FLIGHT upload
// slots and one hand-off to the dead-letter queue at a time. Sharing them, not
// having them per stream, is what bounds the run's memory whatever its number
// of streams S (docs/cloud.md#memory):
//   S parts filling (one per stream, <= 5 MiB each)
//   + sealed parts waiting for the encoder or a slot (while any waits, `ready` is
//     false and the logger holds every producer's credits: at most one per stream)
//   + the part being encoded (its records, its shuffle and its compressed form)
//   + MAX_IN_FLIGHT parts uploading.
// A sealed part that finds no free slot, or whose retries ran out, goes to the
// DLQ instead of staying in memory.
import { createCrc32c } from '../checksum.js';
import { DEFAULT_ENCODING, encodePart } from '../encoding.js';
import { manifestPart } from '../manifest.js';
import { putWithRetry, renewIfDue, RETRY } from '../upload.js';

export const MAX_IN_FLIGHT = 3;

// Every stream's open of a run is given the same capability object (the run's
// cloud options): it finds that run's uploads here.
const RUNS = new WeakMap();

export class CloudRun {
  static of(runId, cloud, dlq) {
    if (!RUNS.has(cloud.run)) RUNS.set(cloud.run, createCrc32c().then((crc) => new CloudRun(runId, cloud, dlq, crc)));
    return RUNS.get(cloud.run);
  }

  constructor(runId, cloud, dlq, crc) {
    this.runId = runId;
    this.api = cloud.api;
    this.cap = { ...cloud.run };
    this.retry = { ...RETRY, ...(cloud.retry ?? {}) };
    this.encoding = cloud.encoding ?? DEFAULT_ENCODING;
    this.dlq = dlq;
    this.crc = crc;           // of the stored form being encoded (one at a time), then of the manifest
    this.sinks = [];          // the stream sinks, in the order they opened (stream index order)
    this.toEncode = [];       // {sink, part, pieces}: sealed, waiting for the encoder, oldest first
    this.encoder = null;      // promise of the part being encoded
    this.waiting = [];        // {sink, part, blob}: sealed parts with nowhere to go yet, oldest first
    this.uploads = new Set(); // promises of parts in flight, every stream's
    this.handoff = null;      // promise of a DLQ write under way
    this.renewing = null;
    this.error = null;
  }

  get ready() {
    return this.waiting.length === 0 && this.toEncode.length === 0;
  }

  get busy() {
    return Boolean(this.uploads.size || this.waiting.length || this.handoff || this.encoder);
  }

  tick() {
    if (!this.renewing && Date.now() / 1000 >= this.cap.renewAfter) {
      this.renewing = renewIfDue(this.api, this.cap)
        .catch((e) => { this.error = `renewing the run token: ${e.message}`; })
        .finally(() => { this.renewing = null; });
    }
    this.settle();
  }

  // Move waiting parts on, and give credits back once nothing waits.
  settle() {
    this.#dispatch();
    if (this.ready) for (const s of this.sinks) s.onReady();
  }

  // A stream sink sealed `part` (its records: `pieces`).
  sealed(sink, part, pieces) {
    if (this.encoding === 'raw') this.waiting.push({ sink, part, blob: new Blob(pieces) });
    else this.toEncode.push({ sink, part, pieces });
    this.#encodeNext();
    this.#dispatch();
  }

  // One part at a time, every stream's, while the next ones fill. A part that cannot be
  // encoded, or that its encoding does not shrink (a part's object must fit the presigned
  // size limit), is stored raw, and its manifest entry says so: no record is lost.
  #encodeNext() {
    if (this.encoder || !this.toEncode.length) return;
    const { sink, part, pieces } = this.toEncode.shift();
    this.encoder = (async () => {
      const records = pieces.length === 1 ? pieces[0] : new Uint8Array(await new Blob(pieces).arrayBuffer());
      let chunks = [records];
      try {
        const e = await encodePart(records, this.encoding, sink.layout.recordSize);
        sink.encoded(e);
        if (e.bytes < part.bytes) {
          this.crc.init();
          for (const c of e.chunks) this.crc.update(c);
          Object.assign(part, { encoding: this.encoding, stored_bytes: e.bytes, stored_crc32c: this.crc.digest('hex') });
          chunks = e.chunks;
        }
      } catch (err) {
        sink.stats_.encodeError = `${sink.partName(part)} stored raw: ${err.message}`;
      }
      this.waiting.push({ sink, part, blob: new Blob(chunks) });
    })().finally(() => {
      this.encoder = null;
      this.#encodeNext();
      this.settle();
    });
  }

  #dispatch() {
    const w = this.waiting[0];
    if (!w || this.handoff) return; // a part being written to the DLQ must not also upload
    if (this.uploads.size < MAX_IN_FLIGHT) {
      this.waiting.shift();
      this.#upload(w);
      this.#dispatch();
    } else {
      this.handoff = this.#toDlq(w, { attempts: 0, lastError: 'no upload slot free' })
        .then((ok) => {
          if (ok) this.waiting.shift();
        })
        .finally(() => {
          this.handoff = null;
          this.settle();
        });
    }
  }

  #upload(w) {
    const { sink, part, blob } = w;
    sink.inFlight++;
    const p = putWithRetry(this.api, this.cap, { stream: sink.layout.name, part: part.part }, blob, part.stored_crc32c,
      { retry: this.retry, onRetry: () => sink.stats_.retries++ })
      .then(async (r) => {
        if (r.ok) sink.uploaded(part);
        // OPFS refused too: it waits (credits held) until a slot or the DLQ takes it
        else if (!(await this.#toDlq(w, { attempts: r.attempts, lastError: r.error }))) this.waiting.push(w);
      })
      .finally(() => {
        sink.inFlight--;
        this.uploads.delete(p);
        this.settle();
      });
    this.uploads.add(p);
  }

  // The DLQ keeps what is to be uploaded (the stored form) with the part's manifest entry,
  // its stream and that stream's record size (replay checks and decodes it with them).
  async #toDlq({ sink, part, blob }, { attempts, lastError }) {
    try {
      await this.dlq.put({
        kind: 'part', runId: this.runId, run: { ...this.cap }, stream: sink.layout.name, record_size: sink.layout.recordSize,
        ...manifestPart(part), attempts, lastError,
      }, new Uint8Array(await blob.arrayBuffer()));
      part.state = 'dlq';
      sink.stats_.partsToDlq++;
      return true;
    } catch (e) {
      sink.error = `dead-letter queue: ${e.message}`;
      return false;
    }
  }

  // Until every sealed part of every stream is uploaded or queued.
  async drain() {
    while (this.busy) {
      this.#dispatch();
      await Promise.race([...this.uploads, this.handoff, this.encoder].filter(Boolean));
    }
  }

  // The manifest goes last, and only when every part of every stream is in the bucket;
  // otherwise it waits in the DLQ, which replays it after all of the run's parts.
  async publish(manifest) {
    const [first] = this.sinks;
    const body = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
    this.crc.init();
    this.crc.update(body);
    const crc32c = this.crc.digest('hex');
    const meta = { kind: 'manifest', runId: this.runId, run: { ...this.cap }, part: 0, bytes: body.byteLength, records: 0, crc32c };
    if (this.sinks.every((s) => s.parts.every((p) => p.state === 'uploaded'))) {
      const r = await putWithRetry(this.api, this.cap, { part: 'manifest' }, body, crc32c, { retry: this.retry, onRetry: () => first.stats_.retries++ });
      if (r.ok) {
        first.stats_.catalogue = r.landed;
        return 'uploaded';
      }
      await this.dlq.put({ ...meta, attempts: r.attempts, lastError: r.error }, body);
    } else {
      await this.dlq.put({ ...meta, attempts: 0, lastError: 'parts still in the dead-letter queue' }, body);
    }
    return 'queued';
  }
}
