// One run's life in the logger: open (pre-flight, lock, sink, manifest),
// producers and their credits, checkpoints, drain, close, a close that fails,
// and the hand-off to recovery. The worker file routes messages to it.
import * as P from '../protocol.js';
import { EVENTS, toJson } from '../layout.js';
import { SinkError } from '../sinks/base.js';
import { DEFAULT_MODE, sinkFor } from '../sinks/index.js';
import { StreamSinks } from '../sinks/streams.js';
import { openManifest, closeManifest, closedStream, withSource } from '../manifest.js';
import { repairIfOrphan } from '../recovery.js';
import { holdLock, runLock } from '../locks.js';
import { expectedRunBytes, preflight } from '../retention.js';
import { JSON_RESERVE, binName, manifestName, progressName, removeIfAny, runsDir, writeJson } from '../storage.js';
import { describeStreams, runStreams, sameStreams } from './streams.js';
import { Checkpoints } from './checkpoints.js';
import { within } from './deadline.js';
import { Producer } from './producer.js';

// How long a stop waits for every producer's eof; a run may ask for another (ms).
const DRAIN_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MAX_MS = 10 * 60_000;
// Once every record is stored or queued, the close's own steps are a few OPFS
// writes (and, for CLOUD, one manifest PUT with its retries): one that takes
// longer than this is stuck, and the close fails naming it rather than keeping
// the run current, and every later run refused, for good.
const CLOSE_STEP_MS = 90_000;

/**
 * What a run needs from its logger.
 * @typedef {object} RunEnv
 * @property {(type: string, fields?: object) => void} post  to the page
 * @property {import('./report.js').Reporter} report
 * @property {(runId: string, status: string) => void} announce  to every tab
 * @property {import('../dlq.js').DeadLetterQueue} dlq
 * @property {Promise} dlqLoaded  the DLQ has been read (a run opens after that)
 * @property {import('./stats.js').LoggerStats} stats
 * @property {object} catalogue  runs() and remove(runId), for pre-flight
 * @property {(run: Run) => void} ended  the run is over: no longer the current one
 */

// Why an open request is unacceptable, or the sink class it names.
function checkOpen({ runId, mode, producers, drainTimeoutMs }) {
  if (typeof runId !== 'string' || !P.RUN_ID_RE.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}`);
  const Sink = sinkFor(mode);
  if (!Sink) throw new Error(`mode ${JSON.stringify(mode)} is not available`);
  if (!Array.isArray(producers) || !producers.length || new Set(producers).size !== producers.length) {
    throw new Error('open needs a non-empty list of distinct producer ids');
  }
  if (!Number.isSafeInteger(drainTimeoutMs) || drainTimeoutMs < 1 || drainTimeoutMs > DRAIN_TIMEOUT_MAX_MS) {
    throw new Error(`drainTimeoutMs must be a whole number of ms, 1–${DRAIN_TIMEOUT_MAX_MS}, got ${JSON.stringify(drainTimeoutMs)}`);
  }
  return Sink;
}

export class Run {
  producers = new Map();  // id -> Producer, as they attach
  source = null;          // the run-level description, from the first producer's meta
  final = null;           // the closed manifest, once the close knows it
  stored = false;         // ... and once it is in runs/
  manifestSize = 0;
  manifestWrites = Promise.resolve(); // one sync handle at a time
  stopping = false;
  finishing = false;
  ended = false;
  drainTimer = null;
  failed = null;          // why storage refused, once it has
  step = null;            // what the close is doing, for its error
  firstRecordAt = null;   // epoch ms: comparable across threads
  heldMs = 0;             // the worst lateness of the logger's timer
  profile = { messages: 0, handleMs: 0, appendMs: 0, credits: 0, creditMs: 0, tickMs: 0, openedAt: 0 };

  /** @param {RunEnv} env */
  static async open({ runId, mode = DEFAULT_MODE, config = {}, producers, cloud, drainTimeoutMs = DRAIN_TIMEOUT_MS, streams }, env, cloudConfig) {
    const phases = {}; // ms spent in each step of opening, for the time-to-first-record breakdown
    let last = performance.now();
    const mark = (name) => {
      const t = performance.now();
      phases[name] = t - last;
      last = t;
    };
    const Sink = checkOpen({ runId, mode, producers, drainTimeoutMs });
    const layouts = runStreams(streams);
    await env.dlqLoaded;
    mark('dlq');
    if (Sink.persistent) await preflight(expectedRunBytes(config, EVENTS.recordSize), env.catalogue);
    mark('preflight');
    // Held until the run is closed: any tab that finds the run open with this
    // lock free knows its writer is gone (recovery.js).
    const releaseLock = await holdLock(runLock(runId));
    mark('lock');
    let sink;
    let dir;
    try {
      dir = Sink.catalogued ? await runsDir() : null;
      sink = await StreamSinks.open(Sink, runId, layouts, { cloud: cloud ?? cloudConfig, dlq: env.dlq });
    } catch (e) {
      if (Sink.persistent && dir) await Promise.allSettled(layouts.map((l) => removeIfAny(dir, binName(runId, l.name))));
      releaseLock();
      throw e;
    }
    mark('sink');
    const run = new Run({ runId, mode, config, producers, layouts, sink, dir, releaseLock, persistent: Sink.persistent, phases, env, drainTimeoutMs });
    env.report.reset();
    await run.#writeFirstManifest();
    mark('manifest');
    run.profile.openedAt = performance.now();
    return run;
  }

  constructor({ runId, mode, config, producers, layouts, sink, dir, releaseLock, persistent, phases, env, drainTimeoutMs }) {
    Object.assign(this, { runId, layouts, sink, dir, releaseLock, persistent, phases, env, drainTimeoutMs });
    this.Sink = sinkFor(mode);
    this.expected = new Set(producers);
    this.manifest = openManifest({ runId, mode, config, producers, layouts });
    sink.onReady = () => !this.ended && this.producers.forEach((p) => p.returnCredits(sink.ready, this.profile));
    this.checkpoints = new Checkpoints({
      write: (progress) => this.#writeProgress(progress),
      report: (why) => env.report.error(`run ${runId}: ${why}; the next one records the progress again`),
    });
  }

  // No manifest, no run: recovery and the catalogue could not see it. Nothing is stored yet.
  async #writeFirstManifest() {
    try {
      await this.saveManifest(this.manifest, JSON_RESERVE);
    } catch (e) {
      const leftovers = [manifestName(this.runId), ...(this.persistent ? this.layouts.map((l) => binName(this.runId, l.name)) : [])];
      try {
        await this.sink.close();
        await Promise.all(leftovers.map((n) => removeIfAny(this.dir, n)));
      } catch (err) {
        this.env.report.error(`could not remove what the refused run ${this.runId} left in runs/: ${err.message}`);
      } finally {
        this.releaseLock();
      }
      throw new Error(`cannot open run ${this.runId}: its manifest could not be written (${e.message})`);
    }
  }

  // Manifest writes are queued (one sync handle at a time) and never shrink the
  // file: each write reserves `headroom` bytes beyond its JSON, and the close-time
  // write reuses that space, so it succeeds even on a full disk. The returned
  // promise rejects if this write failed; the queue goes on with the next.
  saveManifest(value, headroom) {
    if (!this.dir) return Promise.resolve();
    const write = this.manifestWrites.then(async () => {
      this.manifestSize = await writeJson(this.dir, manifestName(this.runId), value, { minSize: this.manifestSize, headroom });
    });
    this.manifestWrites = write.catch(() => {});
    return write;
  }

  attach(id, port) {
    if (!this.expected.has(id) || this.producers.has(id)) {
      port.close();
      throw new Error(`unknown or duplicate producer ${JSON.stringify(id)}`);
    }
    const p = new Producer(id, port, this.layouts.length);
    this.producers.set(id, p);
    port.onmessage = (e) => this.#onProducerMessage(p, e.data);
    port.onmessageerror = () => this.env.report.reject(`producer ${id}`, 'message could not be deserialized');
  }

  #credit(p, n) {
    p.give(n, { draining: this.stopping, ready: this.sink.ready }, this.profile);
  }

  // The hot path: one message per batch of buffers from a producer.
  #onProducerMessage(p, m) {
    const t0 = performance.now();
    const why = P.checkProducerMessage(m, this.layouts);
    const spent = m?.type === P.CHUNK ? P.chunkBuffers(m.buf instanceof ArrayBuffer ? m.buf.byteLength : 0, this.layouts[m.stream]) : 0;
    if (why || p.eof) {
      this.env.report.reject(`producer ${p.id}`, why ?? `${m.type} after eof`);
      if (spent) this.#credit(p, spent);
      return;
    }
    if (m.type === P.META) {
      this.#onMeta(p, m.meta);
      return;
    }
    if (m.type === P.EOF) {
      this.#onEof(p, m);
      return;
    }
    // Counted as received whether or not storage keeps them: the manifest's
    // dropped_records is then exactly received minus stored.
    this.firstRecordAt ??= performance.timeOrigin + performance.now();
    p.counts[m.stream] += m.buf.byteLength / this.layouts[m.stream].recordSize;
    p.buffers += spent;
    p.sent = Math.max(p.sent, m.seq + spent);
    if (!this.failed && !p.refused) {
      const t1 = performance.now();
      try {
        this.sink.append(m.stream, new Uint8Array(m.buf));
      } catch (e) {
        this.storageFailed(e);
      }
      this.profile.appendMs += performance.now() - t1;
    }
    this.#credit(p, spent);
    this.profile.messages++;
    this.profile.handleMs += performance.now() - t0;
  }

  #onMeta(p, meta) {
    const { report } = this.env;
    if (p.meta) {
      report.reject(`producer ${p.id}`, 'meta sent twice');
      return;
    }
    p.meta = meta;
    // Its records of stream i would be read with the run's layout i: refused unless they are the same.
    if (!sameStreams(meta.run.streams, this.layouts)) {
      p.refused = `it declares the streams ${describeStreams(meta.run.streams)}, the run has ${describeStreams(this.layouts.map(toJson))}`;
      report.error(`producer ${p.id} is refused, its records are dropped: ${p.refused}`);
      return;
    }
    if (!this.source) this.source = meta.run;
    else if (JSON.stringify(this.source) !== JSON.stringify(meta.run)) {
      report.error(`producer ${p.id} describes a different run than the first producer; keeping the first`);
    }
    // Written now, while the disk has room: the edge table can be large.
    this.saveManifest(withSource(this.manifest, this.source, this.#producerSources()), JSON_RESERVE)
      .catch((e) => report.error(`could not write the manifest of ${this.runId}: ${e.message}`));
  }

  #onEof(p, m) {
    const { report } = this.env;
    p.eof = true;
    p.reported = m.streams ?? [m.records];
    p.stats = m.stats ?? null;
    p.error = m.error ?? null;
    if (p.error) report.error(`producer ${p.id}: the model failed: ${p.error.trim().split('\n').pop()}`);
    if (m.records !== p.records) report.error(`producer ${p.id} reports ${m.records} records, logger received ${p.records}`);
    this.layouts.forEach((l, i) => {
      if (m.streams && m.streams[i] !== p.counts[i]) report.error(`producer ${p.id} reports ${m.streams[i]} ${l.name} records, logger received ${p.counts[i]}`);
    });
    this.#maybeFinish();
  }

  #producerSources() {
    return new Map([...this.producers.values()].map((p) => [p.id, p.meta?.producer ?? null]));
  }

  // Nothing more can be stored: say why, and ask the page to stop the run so the
  // sims stop producing into a logger that can only count what it drops.
  storageFailed(e) {
    if (!(e instanceof SinkError)) throw e;
    if (this.failed) return;
    this.failed = e.message;
    this.env.report.error(`storage failed, records are no longer saved: ${e.message}`);
    this.env.post(P.LOG_FAILED, { runId: this.runId, message: e.message });
  }

  // The logger's timer: the sink's time-based work, and a checkpoint a second.
  tick() {
    if (this.failed) return;
    const t = performance.now();
    try {
      this.sink.tick();
      if (this.checkpoints.due() && !this.finishing) this.#checkpoint();
    } catch (e) {
      this.storageFailed(e);
    }
    this.profile.tickMs += performance.now() - t;
  }

  // What survives if this tab dies now, for recovery.js: the sink's safe bytes
  // (and CLOUD parts, with the run's capability as it is now), and per-producer
  // counts when they describe exactly those bytes.
  #checkpoint() {
    if (!this.dir || this.failed) return;
    this.checkpoints.start(() => {
      const cp = this.sink.checkpoint();
      return cp && this.#progressOf(cp);
    });
  }

  #writeProgress(progress) {
    return writeJson(this.dir, progressName(this.runId), progress)
      .catch((e) => this.env.report.error(`could not record the progress of ${this.runId}: ${e.message}`));
  }

  // cp: {streams: [{bytes, parts?, run?}]}; per-producer counts of each stream only
  // when, for every stream, what was received is exactly what is safe.
  #progressOf(cp) {
    const received = [...this.producers.values()];
    const exact = received.every((p) => !p.refused) && this.layouts.every((l, i) => (
      received.reduce((a, p) => a + p.counts[i], 0) * l.recordSize === cp.streams[i].bytes));
    return {
      at: new Date().toISOString(), streams: cp.streams, run: cp.streams[0].run,
      producers: exact ? Object.fromEntries(received.map((p) => [p.id, [...p.counts]])) : null,
    };
  }

  stop() {
    if (this.stopping) return;
    this.stopping = true;
    // Producers may be waiting on a partial batch of credits; release them so they can drain.
    for (const p of this.producers.values()) p.returnCredits(this.sink.ready, this.profile);
    this.drainTimer = setTimeout(() => {
      const missing = [...this.expected].filter((id) => !this.producers.get(id)?.eof);
      this.env.report.error(`drain timed out after ${this.drainTimeoutMs} ms waiting for producer(s) ${missing.join(', ')}`);
      this.#finish();
    }, this.drainTimeoutMs);
    this.#maybeFinish();
  }

  #maybeFinish() {
    if (this.stopping && [...this.expected].every((id) => this.producers.get(id)?.eof)) this.#finish();
  }

  // The run stays current until its sink has closed (CLOUD: every part uploaded
  // or queued), so no new run starts and replay waits meanwhile.
  async #finish() {
    if (this.finishing) return;
    this.finishing = true;
    try {
      await this.#close();
    } catch (e) {
      await this.#closeFailed(e);
    }
  }

  #end() {
    this.ended = true;
    this.env.ended(this);
  }

  async #close() {
    const { report, stats } = this.env;
    this.step = 'closing the sink';
    stats.send(this); // every producer has drained: these are the run's final totals
    clearTimeout(this.drainTimer);
    for (const p of this.producers.values()) p.port.close();
    const { streams, error } = await this.sink.close();
    const producers = [...this.expected].map((id) => Producer.manifestRow(id, this.producers.get(id)));
    const closed = this.manifest.streams.map((entry, i) => closedStream(entry, this.#received(i), streams[i]));
    const manifest = closeManifest({ ...this.manifest, source: this.source }, { producers, streams: closed, error, errors: report.manifestErrors() });
    this.final = manifest;
    this.step = 'writing the manifest';
    await this.checkpoints.settled();
    if (this.persistent) {
      await within(this.saveManifest(manifest, 0), CLOSE_STEP_MS);
      this.stored = true;
    }
    // A run that leaves the browser (CLOUD) records first that every part is safe: if
    // publishing fails, the close fails, and its repair (recovery.js) queues the
    // manifest from exactly these parts; runs/ keeps the run until then.
    const safe = this.persistent ? null : this.sink.checkpoint();
    if (safe && this.dir) await within(this.#writeProgress(this.#progressOf(safe)), CLOSE_STEP_MS);
    this.step = 'publishing the manifest';
    const published = await within(this.sink.publish(manifest), CLOSE_STEP_MS);
    this.step = 'tidying runs/';
    await within(this.#tidy(), CLOSE_STEP_MS);
    this.releaseLock();
    this.#end();
    const s = this.sink.stats();
    const total = (k) => closed.reduce((a, x) => a + x[k], 0);
    stats.closed({ ...s, bytesWritten: total('bytes'), bytesStaged: 0, dropped: total('dropped_records') });
    stats.send(null);
    this.#closed(manifest, published, { partsUploaded: s.partsUploaded ?? 0, partsQueued: s.partsToDlq ?? 0 });
  }

  // {producerId: records of stream i it sent}, every expected producer listed
  #received(i) {
    return Object.fromEntries([...this.expected].map((id) => [id, this.producers.get(id)?.counts[i] ?? 0]));
  }

  async #tidy() {
    if (!this.dir) return;
    await this.manifestWrites;
    // A CLOUD run now lives in the bucket (or the DLQ): runs/ forgets it.
    const leftovers = this.persistent ? [progressName(this.runId)] : [progressName(this.runId), manifestName(this.runId)];
    await Promise.all(leftovers.map((n) => removeIfAny(this.dir, n)))
      .catch((e) => this.env.report.error(`could not tidy runs/ after ${this.runId}: ${e.message}`));
  }

  // A close that throws must still end the run (else it stays 'closing' for good and
  // no other can start): say where it failed, free the run, and keep what was
  // stored. The lock is held until then, so that no other tab repairs it meanwhile.
  async #closeFailed(e) {
    const { report, dlq } = this.env;
    const failure = `${this.step}: ${e.message}`;
    report.error(`closing run ${this.runId} failed (${failure})`);
    if (this.ended) return; // it failed after the run had ended
    this.#end();
    let manifest = null;
    try {
      if (this.persistent && this.final) manifest = this.stored ? this.final : await this.#storeFailedClose(failure);
      else if (this.dir) {
        // as recovery.js repairs any run left open, from what storage holds
        manifest = await within(repairIfOrphan(this.runId, dlq, `its tab could not close it (${failure})`), CLOSE_STEP_MS)
          .catch((err) => report.error(`could not repair run ${this.runId}: ${err.message}`));
      }
    } finally {
      this.releaseLock();
    }
    manifest ??= closeManifest(this.manifest, {
      producers: [], streams: this.manifest.streams.map((e) => closedStream(e, {}, { bytes: 0, checksum: null })), error: failure, errors: report.manifestErrors(),
    });
    const s = this.sink.stats();
    this.#closed(manifest, undefined, { partsUploaded: s.partsUploaded ?? 0, partsQueued: s.partsToDlq ?? 0 });
  }

  // The close knew everything but could not store it: store it once more, marked
  // failed. If that fails too, the run stays open in runs/ with the close's exact
  // counts and the cause in its checkpoint, for the next recovery to repair.
  // Each step is bounded as the close's are: the run ends whatever storage does.
  async #storeFailedClose(failure) {
    const storage = [this.final.errors.storage, failure].filter(Boolean).join('; ');
    const manifest = { ...this.final, status: 'error', errors: { ...this.final.errors, storage } };
    const { report } = this.env;
    try {
      await within(this.saveManifest(manifest, 0), CLOSE_STEP_MS);
      await within(removeIfAny(this.dir, progressName(this.runId)), CLOSE_STEP_MS);
    } catch (err) {
      report.error(`run ${this.runId} stays open in storage until the next recovery repairs it: ${err.message}`);
      const progress = { ...this.#progressOf({ streams: this.final.streams.map((x) => ({ bytes: x.bytes })) }), cause: `its tab could not close it (${failure})` };
      await within(this.#writeProgress(progress), CLOSE_STEP_MS)
        .catch((late) => report.error(`could not record the progress of ${this.runId}: ${late.message}`));
    }
    return manifest;
  }

  // The page gets the manifest without the source's edge table (kept in the
  // stored manifest): 36,000+ edges as JSON cost the main thread a long task to receive.
  #closed(manifest, published, delivery) {
    const { network, ...source } = manifest.source ?? {};
    this.env.post(P.LOG_CLOSED, {
      manifest: network ? { ...manifest, source } : manifest, published, delivery,
      where: this.Sink.whereStored(manifest, published, delivery),
    });
    this.env.announce(manifest.run_id, manifest.status);
  }
}
