// CLOUD sink: gathers records into 5 MiB parts (524,288 whole records) and PUTs
// each to its own presigned key, runs/<runId>/part-NNNNNN.bin. The run was
// created by the server: `cloud.run` is its capability (see upload.js), kept
// with every DLQ entry so a replay after a reload can still finish the run.
//
// Memory is bounded: the part being filled, sealed parts waiting for a slot,
// and MAX_IN_FLIGHT parts uploading. A sealed part with no free slot, or one
// whose retries ran out, goes to the OPFS dead-letter queue instead of staying
// in memory. While any sealed part waits (its DLQ write is under way, or OPFS
// refused it), `ready` is false and the logger holds producers' credits, so at
// most one part more can fill: backpressure reaches the sims only when OPFS
// itself cannot take parts.
//
// A part may be stored encoded (cloud.encoding, see encoding.js): 5 MiB of
// records are sealed, then encoded one part at a time while the next fills.
// The manifest keeps each part's size and CRC32C of its records, plus its
// encoding and the stored object's size and CRC32C, which the presigned PUT
// signs. A part sealed while another is still encoding waits, credits held:
// the sims are slowed to what the encoder manages.
import { PART_BYTES, partKey } from '../bucket_layout.js';
import { createCrc32c } from '../checksum.js';
import { checkEncoding, DEFAULT_ENCODING, encodePart } from '../encoding.js';
import { EVENTS } from '../layout.js';
import { manifestPart } from '../manifest.js';
import { RECORD_SIZE } from '../record.js';
import { repairedManifest } from '../repair.js';
import { manifestName, progressName, removeIfAny } from '../storage.js';
import { putWithRetry, renewIfDue, RETRY } from '../upload.js';
import { Sink, SinkError } from './base.js';

export const MAX_IN_FLIGHT = 3;

export class CloudSink extends Sink {
  // The bucket holds the records; runs/ keeps only the open run's manifest and
  // progress, so that an interrupted run can be recovered.
  static catalogued = true;
  static label = 'CLOUD (S3 / R2 via presigned URLs)';
  static serverRun = true; // the server creates the run and grants its capability

  // runs/ holds a CLOUD run only until it closes (or is recovered): its records are
  // in the bucket, not here, and only a closed run's copy can be fetched.
  static downloadRefusal(runId) {
    return `run ${runId} is being uploaded to the bucket; fetch it from there (vpslog fetch) once it has closed`;
  }

  // An orphan keeps the gap-free prefix of parts that reached the bucket or the
  // dead-letter queue (the progress file lists them with the run's CRC32C through
  // each); parts that were filling, waiting or in flight died with the tab. The
  // recovered manifest goes through the DLQ, which uploads a run's manifest only
  // after all its queued parts, with the capability of the last checkpoint (without
  // one the DLQ quarantines it, saying so). Nothing of the run stays in runs/.
  static async repair({ dir, manifest, progress, cause, dlq }) {
    const parts = [];
    for (const p of [...(progress?.streams?.[0].parts ?? progress?.parts ?? [])].sort((a, b) => a.part - b.part)) {
      if (p.part !== parts.length + 1) break;
      parts.push(p);
    }
    const bytes = parts.reduce((a, p) => a + p.bytes, 0);
    const through = parts.at(-1)?.through ?? null;
    const m = repairedManifest(manifest, progress, {
      streams: [{ bytes, checksum: through && { algorithm: 'crc32c', value: through }, parts: parts.map(manifestPart) }], cause,
    });
    const body = new TextEncoder().encode(JSON.stringify(m, null, 1));
    const crc = await createCrc32c();
    crc.update(body);
    await dlq.put({ kind: 'manifest', runId: m.run_id, run: progress?.run, part: 0, bytes: body.byteLength, records: 0,
      crc32c: crc.digest('hex'), attempts: 0, lastError: 'recovered run' }, body);
    await removeIfAny(dir, manifestName(m.run_id));
    await removeIfAny(dir, progressName(m.run_id));
    return m;
  }

  // What the page says of where a closed run's records are: only parts that reached the bucket are said to be there.
  static whereStored(manifest, published, delivery) {
    const n = manifest.parts?.length ?? 0;
    const up = delivery?.partsUploaded ?? 0;
    const queued = n - up;
    const parts = `${n} part${n === 1 ? '' : 's'} under runs/${manifest.run_id}/`;
    if (!queued && published === 'uploaded') return ` in ${parts} in the bucket (manifest uploaded: run complete)`;
    return ` in ${parts}: ${up} in the bucket, ${queued} waiting in the dead-letter queue (manifest ${published === 'uploaded' ? 'uploaded' : 'queued until they are uploaded'})`;
  }

  static async open(runId, { cloud, dlq, layout = EVENTS } = {}) {
    if (layout.name !== 'events') throw new SinkError(`CLOUD mode stores the events stream only so far: stream ${layout.name} cannot be uploaded (log it to OPFS)`);
    if (!cloud?.api || !/^https?:\/\//.test(cloud.api)) throw new Error('CLOUD mode needs an absolute presign API URL (cloud.api)');
    if (cloud.run?.runId !== runId || !cloud.run.token) throw new Error(`CLOUD run ${runId} needs its capability from the server (POST /api/runs)`);
    checkEncoding(cloud.encoding ?? DEFAULT_ENCODING);
    return new CloudSink(runId, cloud, dlq, await createCrc32c(), await createCrc32c(), await createCrc32c());
  }

  constructor(runId, cloud, dlq, runCrc, partCrc, storedCrc) {
    super();
    this.runId = runId;
    this.encoding = cloud.encoding ?? DEFAULT_ENCODING;
    this.storedCrc = storedCrc; // of the part being encoded (one at a time)
    this.toEncode = [];       // sealed parts waiting for the encoder, oldest first
    this.encoder = null;      // promise of the part being encoded
    this.api = cloud.api;
    this.cap = { ...cloud.run };
    this.renewing = null;
    this.retry = { ...RETRY, ...(cloud.retry ?? {}) };
    this.dlq = dlq;
    this.runCrc = runCrc;
    this.filling = [];
    this.fillingBytes = 0;
    this.partCrc = partCrc; // reused: init() after each part
    this.nextPart = 1;
    this.parts = [];          // manifest entries, in part order
    this.waiting = [];        // sealed parts with nowhere to go yet, oldest first
    this.uploads = new Set(); // promises of parts in flight
    this.handoff = null;      // promise of a DLQ write under way
    this.bytes = 0;
    // bytesUploaded: the parts' records; storedBytesUploaded: what went over the wire
    this.stats_ = {
      partsUploaded: 0, bytesUploaded: 0, storedBytesUploaded: 0, retries: 0, partsToDlq: 0,
      encoding: this.encoding, encodeMs: [], encodeStallMs: 0, encodeError: null,
    };
  }

  get ready() {
    return this.waiting.length === 0 && this.toEncode.length === 0;
  }

  append(u8) {
    this.bytes += u8.byteLength;
    let off = 0;
    while (off < u8.byteLength) {
      const take = Math.min(PART_BYTES - this.fillingBytes, u8.byteLength - off);
      const piece = u8.subarray(off, off + take); // the transferred buffer is ours: no copy
      this.filling.push(piece);
      // per piece, so that the run's checksum through a part ends exactly at its last byte
      this.runCrc.update(piece);
      this.partCrc.update(piece);
      this.fillingBytes += take;
      off += take;
      if (this.fillingBytes === PART_BYTES) this.#seal();
    }
  }

  tick() {
    if (!this.renewing && Date.now() / 1000 >= this.cap.renewAfter) {
      this.renewing = renewIfDue(this.api, this.cap)
        .catch((e) => { this.error = `renewing the run token: ${e.message}`; })
        .finally(() => { this.renewing = null; });
    }
    this.#settle();
  }

  // Move waiting parts on, and give credits back once nothing waits.
  #settle() {
    this.#dispatch();
    if (this.ready) this.onReady();
  }

  #seal() {
    if (!this.fillingBytes) return;
    const n = this.nextPart++;
    const crc32c = this.partCrc.digest('hex');
    const part = {
      part: n, key: partKey(this.runId, n),
      bytes: this.fillingBytes, records: this.fillingBytes / RECORD_SIZE, crc32c,
      encoding: 'raw', stored_bytes: this.fillingBytes, stored_crc32c: crc32c, through: this.#runCrcSoFar(),
    };
    this.partCrc.init();
    this.parts.push(part);
    if (this.encoding === 'raw') this.waiting.push({ part, blob: new Blob(this.filling) });
    else this.toEncode.push({ part, pieces: this.filling });
    this.filling = [];
    this.fillingBytes = 0;
    this.#encodeNext();
    this.#dispatch();
  }

  // One part at a time, while the next one fills. A part that cannot be
  // encoded is stored raw (its manifest entry says so): no record is lost.
  #encodeNext() {
    if (this.encoder || !this.toEncode.length) return;
    const { part, pieces } = this.toEncode.shift();
    this.encoder = (async () => {
      const records = pieces.length === 1 ? pieces[0] : new Uint8Array(await new Blob(pieces).arrayBuffer());
      try {
        const e = await encodePart(records, this.encoding);
        this.storedCrc.init();
        for (const c of e.chunks) this.storedCrc.update(c);
        Object.assign(part, { encoding: this.encoding, stored_bytes: e.bytes, stored_crc32c: this.storedCrc.digest('hex') });
        if (this.stats_.encodeMs.length < 1024) this.stats_.encodeMs.push(Math.round(e.cpuMs * 10) / 10);
        this.stats_.encodeStallMs = Math.max(this.stats_.encodeStallMs, e.stallMs);
        this.waiting.push({ part, blob: new Blob(e.chunks) });
      } catch (err) {
        this.stats_.encodeError = `part ${part.part} stored raw: ${err.message}`;
        this.waiting.push({ part, blob: new Blob([records]) });
      }
    })().finally(() => {
      this.encoder = null;
      this.#encodeNext();
      this.#settle();
    });
  }

  // The run's CRC32C up to here, without ending the running checksum.
  #runCrcSoFar() {
    const state = this.runCrc.save();
    const hex = this.runCrc.digest('hex');
    this.runCrc.load(state);
    return hex;
  }

  #dispatch() {
    const w = this.waiting[0];
    if (!w || this.handoff) return; // a part being written to the DLQ must not also upload
    if (this.uploads.size < MAX_IN_FLIGHT) {
      this.waiting.shift();
      this.#upload(w);
      this.#dispatch();
    } else {
      this.handoff = this.#toDlq(w.part, w.blob, { attempts: 0, lastError: 'no upload slot free' })
        .then((ok) => {
          if (ok) this.waiting.shift();
        })
        .finally(() => {
          this.handoff = null;
          this.#settle();
        });
    }
  }

  #upload({ part, blob }) {
    const p = putWithRetry(this.api, this.cap, part.part, blob, part.stored_crc32c, { retry: this.retry, onRetry: () => this.stats_.retries++ })
      .then(async (r) => {
        if (r.ok) {
          part.state = 'uploaded';
          this.stats_.partsUploaded++;
          this.stats_.bytesUploaded += part.bytes;
          this.stats_.storedBytesUploaded += part.stored_bytes;
        } else if (!(await this.#toDlq(part, blob, { attempts: r.attempts, lastError: r.error }))) {
          // OPFS refused too: it waits (credits held) until a slot or the DLQ takes it
          this.waiting.push({ part, blob });
        }
      })
      .finally(() => {
        this.uploads.delete(p);
        this.#settle();
      });
    this.uploads.add(p);
  }

  // The DLQ keeps what is to be uploaded (the stored form) with the part's manifest entry.
  async #toDlq(part, blob, { attempts, lastError }) {
    try {
      await this.dlq.put({ kind: 'part', runId: this.runId, run: { ...this.cap }, ...part, attempts, lastError }, new Uint8Array(await blob.arrayBuffer()));
      part.state = 'dlq';
      this.stats_.partsToDlq++;
      return true;
    } catch (e) {
      this.error = `dead-letter queue: ${e.message}`;
      return false;
    }
  }

  // Safe parts: in the bucket or the DLQ (the logger records them for recovery).
  // With the capability as renewed so far: recovery publishes the run with it.
  checkpoint() {
    const parts = this.parts.filter((p) => p.state);
    return { bytes: parts.reduce((a, p) => a + p.bytes, 0), parts, run: { ...this.cap } };
  }

  // Seal the final short part and wait until every part is uploaded or queued.
  async close() {
    this.#seal();
    while (this.uploads.size || this.waiting.length || this.handoff || this.encoder) {
      this.#dispatch();
      await Promise.race([...this.uploads, this.handoff, this.encoder].filter(Boolean));
    }
    const parts = this.parts.map(manifestPart);
    return { bytes: this.bytes, checksum: { algorithm: 'crc32c', value: this.runCrc.digest('hex') }, error: null, parts };
  }

  static publish(manifest, [sink]) {
    return sink.publishManifest(manifest);
  }

  // The manifest goes last, and only when every part is in the bucket; otherwise
  // it waits in the DLQ and replay uploads it after the run's last part.
  async publishManifest(manifest) {
    const body = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
    this.partCrc.init();
    this.partCrc.update(body);
    const crc32c = this.partCrc.digest('hex');
    const meta = { kind: 'manifest', runId: this.runId, run: { ...this.cap }, part: 0, bytes: body.byteLength, records: 0, crc32c };
    if (this.parts.every((p) => p.state === 'uploaded')) {
      const r = await putWithRetry(this.api, this.cap, 'manifest', body, crc32c, { retry: this.retry, onRetry: () => this.stats_.retries++ });
      if (r.ok) {
        this.stats_.catalogue = r.landed;
        return 'uploaded';
      }
      await this.dlq.put({ ...meta, attempts: r.attempts, lastError: r.error }, body);
    } else {
      await this.dlq.put({ ...meta, attempts: 0, lastError: 'parts still in the dead-letter queue' }, body);
    }
    return 'queued';
  }

  get uploading() {
    return this.uploads.size > 0;
  }

  stats() {
    // filling + sealed parts not yet uploaded or queued (in flight or waiting)
    const held = this.fillingBytes + this.parts.filter((p) => !p.state).reduce((a, p) => a + p.bytes, 0);
    return {
      bytesWritten: this.stats_.bytesUploaded, bytesStaged: this.fillingBytes, writes: this.stats_.partsUploaded,
      ...this.stats_, partsInFlight: this.uploads.size, bytesInMemory: held, sinkError: this.error ?? null,
    };
  }
}
