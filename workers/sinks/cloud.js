// CLOUD sink of one stream: gathers its records into parts of 5 MiB of whole
// records (bucket_layout.js partBytes: 524,288 events) and hands each sealed part
// to the run's uploads (cloud_run.js), which every stream sink of the run shares:
// the capability, the encoder, the upload slots and the DLQ hand-off. Its parts
// go to their own keys: runs/<runId>/part-NNNNNN.bin (events) or
// runs/<runId>/<stream>/part-NNNNNN.bin. The run was created by the server:
// `cloud.run` is its capability (see upload.js), kept with every DLQ entry so a
// replay after a reload can still finish the run.
//
// A part may be stored encoded (cloud.encoding, see encoding.js), by its stream's
// record size. The manifest keeps each part's size and CRC32C of its records, plus
// its encoding and the stored object's size and CRC32C, which the presigned PUT
// signs. While a sealed part of any stream waits (for the encoder, a slot or its
// DLQ write), `ready` is false and the logger holds producers' credits: the sims
// are slowed to what the encoder manages, and backpressure reaches them only when
// OPFS itself cannot take parts.
import { EVENTS_STREAM, partBytes, partKey } from '../bucket_layout.js';
import { createCrc32c } from '../checksum.js';
import { checkEncoding, DEFAULT_ENCODING } from '../encoding.js';
import { EVENTS } from '../layout.js';
import { manifestPart } from '../manifest.js';
import { manifestStreams, progressStreams, repairedManifest } from '../repair.js';
import { manifestName, progressName, removeIfAny } from '../storage.js';
import { Sink } from './base.js';
import { CloudRun } from './cloud_run.js';

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

  // An orphan keeps, per stream, the gap-free prefix of parts that reached the bucket
  // or the dead-letter queue (the progress file lists them with the run's CRC32C of
  // that stream through each); parts that were filling, waiting or in flight died
  // with the tab. The recovered manifest goes through the DLQ, which uploads a run's
  // manifest only after all its queued parts (of every stream), with the capability
  // of the last checkpoint (without one the DLQ quarantines it, saying so). Nothing
  // of the run stays in runs/.
  static async repair({ dir, manifest, progress, cause, dlq }) {
    const checkpoint = progressStreams(progress); // an old (events-only) checkpoint too
    const streams = manifestStreams(manifest).map((_, i) => safePrefix(checkpoint?.streams[i]?.parts ?? []));
    const m = repairedManifest(manifest, progress, { streams, cause });
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
    const n = (manifest.streams ?? [manifest]).reduce((a, s) => a + (s.parts?.length ?? 0), 0);
    const up = delivery?.partsUploaded ?? 0;
    const queued = n - up;
    const parts = `${n} part${n === 1 ? '' : 's'} under runs/${manifest.run_id}/`;
    if (!queued && published === 'uploaded') return ` in ${parts} in the bucket (manifest uploaded: run complete)`;
    return ` in ${parts}: ${up} in the bucket, ${queued} waiting in the dead-letter queue (manifest ${published === 'uploaded' ? 'uploaded' : 'queued until they are uploaded'})`;
  }

  static async open(runId, { cloud, dlq, layout = EVENTS } = {}) {
    if (!cloud?.api || !/^https?:\/\//.test(cloud.api)) throw new Error('CLOUD mode needs an absolute presign API URL (cloud.api)');
    if (cloud.run?.runId !== runId || !cloud.run.token) throw new Error(`CLOUD run ${runId} needs its capability from the server (POST /api/runs)`);
    checkEncoding(cloud.encoding ?? DEFAULT_ENCODING);
    return new CloudSink(await CloudRun.of(runId, cloud, dlq), layout, await createCrc32c(), await createCrc32c());
  }

  constructor(run, layout, runCrc, partCrc) {
    super();
    this.run = run;
    this.layout = layout;
    this.partBytes = partBytes(layout.recordSize);
    this.runCrc = runCrc;   // of the whole stream
    this.partCrc = partCrc; // reused: init() after each part
    this.filling = [];
    this.fillingBytes = 0;
    this.nextPart = 1;
    this.parts = [];        // manifest entries, in part order
    this.inFlight = 0;      // of its parts
    this.bytes = 0;
    // bytesUploaded: the parts' records; storedBytesUploaded: what went over the wire
    this.stats_ = {
      partsUploaded: 0, bytesUploaded: 0, storedBytesUploaded: 0, retries: 0, partsToDlq: 0,
      encoding: run.encoding, encodeMs: [], encodeStallMs: 0, encodeError: null,
    };
    run.sinks.push(this);
  }

  get ready() {
    return this.run.ready;
  }

  append(u8) {
    this.bytes += u8.byteLength;
    let off = 0;
    while (off < u8.byteLength) {
      const take = Math.min(this.partBytes - this.fillingBytes, u8.byteLength - off);
      const piece = u8.subarray(off, off + take); // the transferred buffer is ours: no copy
      this.filling.push(piece);
      // per piece, so that the stream's checksum through a part ends exactly at its last byte
      this.runCrc.update(piece);
      this.partCrc.update(piece);
      this.fillingBytes += take;
      off += take;
      if (this.fillingBytes === this.partBytes) this.#seal();
    }
  }

  // The run's uploads tick once per logger tick, driven by its first stream's sink.
  tick() {
    if (this.run.sinks[0] === this) this.run.tick();
  }

  #seal() {
    if (!this.fillingBytes) return;
    const n = this.nextPart++;
    const crc32c = this.partCrc.digest('hex');
    const part = {
      part: n, key: partKey(this.run.runId, n, this.layout.name),
      bytes: this.fillingBytes, records: this.fillingBytes / this.layout.recordSize, crc32c,
      encoding: 'raw', stored_bytes: this.fillingBytes, stored_crc32c: crc32c, through: this.#runCrcSoFar(),
    };
    this.partCrc.init();
    this.parts.push(part);
    const pieces = this.filling;
    this.filling = [];
    this.fillingBytes = 0;
    this.run.sealed(this, part, pieces);
  }

  // The stream's CRC32C up to here, without ending the running checksum.
  #runCrcSoFar() {
    const state = this.runCrc.save();
    const hex = this.runCrc.digest('hex');
    this.runCrc.load(state);
    return hex;
  }

  // How messages name a part: the events' as always, another stream's with its name.
  partName(part) {
    return this.layout.name === EVENTS_STREAM ? `part ${part.part}` : `${this.layout.name} part ${part.part}`;
  }

  encoded(e) {
    if (this.stats_.encodeMs.length < 1024) this.stats_.encodeMs.push(Math.round(e.cpuMs * 10) / 10);
    this.stats_.encodeStallMs = Math.max(this.stats_.encodeStallMs, e.stallMs);
  }

  uploaded(part) {
    part.state = 'uploaded';
    this.stats_.partsUploaded++;
    this.stats_.bytesUploaded += part.bytes;
    this.stats_.storedBytesUploaded += part.stored_bytes;
  }

  // Safe parts: in the bucket or the DLQ (the logger records them for recovery).
  // With the capability as renewed so far: recovery publishes the run with it.
  checkpoint() {
    const parts = this.parts.filter((p) => p.state);
    return { bytes: parts.reduce((a, p) => a + p.bytes, 0), parts, run: { ...this.run.cap } };
  }

  // Seal the final short part and wait until every part of the run is uploaded or queued.
  async close() {
    this.#seal();
    await this.run.drain();
    const parts = this.parts.map(manifestPart);
    return { bytes: this.bytes, checksum: { algorithm: 'crc32c', value: this.runCrc.digest('hex') }, error: null, parts };
  }

  // Once per run, over all its stream sinks (they share one CloudRun).
  static publish(manifest, [sink]) {
    return sink.run.publish(manifest);
  }

  get uploading() {
    return this.run.uploads.size > 0;
  }

  stats() {
    // filling + its sealed parts not yet uploaded or queued (being encoded, waiting or in flight)
    const held = this.fillingBytes + this.parts.filter((p) => !p.state).reduce((a, p) => a + p.bytes, 0);
    return {
      bytesWritten: this.stats_.bytesUploaded, bytesStaged: this.fillingBytes, writes: this.stats_.partsUploaded,
      ...this.stats_, partsInFlight: this.inFlight, bytesInMemory: held, sinkError: this.error ?? this.run.error ?? null,
    };
  }
}

// The parts numbered 1, 2, … up to the first gap, with the stream's bytes and CRC32C through the last.
function safePrefix(safe) {
  const parts = [];
  for (const p of [...safe].sort((a, b) => a.part - b.part)) {
    if (p.part !== parts.length + 1) break;
    parts.push(p);
  }
  const through = parts.at(-1)?.through ?? null;
  return {
    bytes: parts.reduce((a, p) => a + p.bytes, 0), checksum: through && { algorithm: 'crc32c', value: through }, parts: parts.map(manifestPart),
  };
}
