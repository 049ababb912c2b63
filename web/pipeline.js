// Main-thread wiring: creates the logger and the sim workers, gives each sim
// one MessageChannel to the logger, and relays control messages. Record data
// never passes through here: the ports go straight from sim to logger.
import * as P from '../workers/protocol.js';
import { createRun } from '../workers/upload.js';

export const MAX_SIMS = 8;
// Stop asks the sims to finish their step; a sim still running this much later
// is inside a step that does not yield, and gets SIGINT (KeyboardInterrupt).
export const STOP_GRACE_MS = 500;

export class Pipeline extends EventTarget {
  constructor() {
    super();
    this.indexURL = new URL('/pyodide/', location.href).href;
    this.logger = new Worker(new URL('../workers/logger.worker.js', import.meta.url), { type: 'module', name: 'vpslog-logger' });
    this.logger.onmessage = (e) => this.#fromLogger(e.data);
    this.logger.onerror = (e) => this.#emit('error', { source: 'logger', message: e.message || 'logger worker failed to load' });
    this.sims = [];      // {worker, id, ready: Promise, state}
    this.requests = new P.Requests((m, t) => this.logger.postMessage(m, t));
    this.run = null;
    this.builtinSources = null; // the built-in sources' declarations, from the first sim to boot
    this.code = null;    // the user's code: {file, bytes, info}, installed in every sim before a run
    this.prepared = 0;   // key of the newest SIM_PREPARE: a start runs exactly the parts it prepared
    this.ready = null;   // {key, sig, streams}: parts prepared ahead by prepare(), not yet started
    this.starting = false;
    // The presign API is same-origin (Vite proxies /api to `vpslog serve`); the
    // logger also replays its dead-letter queue with it as soon as it starts.
    this.api = new URL('/api', location.href).href;
    this.logger.postMessage(P.msg(P.LOG_CONFIG, { cloud: { api: this.api } }));
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // The one request/reply path to the logger; callers use the methods below.
  #request(type, fields = {}) {
    return this.requests.call(type, fields);
  }

  // Stored runs of every tab of this origin: [{runId, bytes, records, status, mode, createdAt, live}].
  listRuns() {
    return this.#request(P.LOG_LIST);
  }

  // {files: [File of each stream, events first], manifest: File}; a run still being
  // written comes as a snapshot of its whole records.
  getRun(runId) {
    return this.#request(P.LOG_GET, { runId });
  }

  // The whole run as one File, <runId>.zip (the logger builds it in OPFS).
  archiveRun(runId) {
    return this.#request(P.LOG_ARCHIVE, { runId });
  }

  deleteRun(runId) {
    return this.#request(P.LOG_DELETE, { runId });
  }

  // {estimate: {usage, quota}, bytesByStatus, dlqBytes, quarantineBytes, snapshotBytes, policy}
  storageUsage() {
    return this.#request(P.LOG_USAGE);
  }

  // Save and apply the retention policy {maxTotalBytes, maxAgeDays, minHeadroomBytes, freeSpaceForRuns}:
  // the storage usage after it, and the ids of the runs it removed.
  setRetention(policy) {
    return this.#request(P.LOG_POLICY, { policy });
  }

  pinRun(runId, pinned) {
    return this.#request(P.LOG_PIN, { runId, pinned });
  }

  // Only the page may ask (StorageManager.persist() is not exposed to workers).
  async requestPersistence() {
    const granted = await navigator.storage.persist();
    return { granted, persisted: await navigator.storage.persisted() };
  }

  // The storage modes the logger has: [{mode, label (null: not offered on the page), serverRun, default}].
  sinkModes() {
    this.modes ??= this.#request(P.LOG_MODES).catch((e) => {
      this.modes = null; // asked again next time
      throw e;
    });
    return this.modes;
  }

  // Lower level than start(): open a run for producers the caller attaches itself (tests).
  // mode: one of sinkModes() (the logger's default if left out); drainTimeoutMs: how long
  // a stop waits for every producer's eof (the logger's default: 30 s).
  // streams: the run's stream layouts (docs/streams.md; left out: events only).
  openRun({ runId, mode, config = {}, producers, streams, cloud, drainTimeoutMs }) {
    return this.#request(P.LOG_OPEN, { runId, mode, config, producers, streams, cloud, drainTimeoutMs });
  }

  attachProducer(producer, port) {
    this.logger.postMessage(P.msg(P.LOG_ATTACH, { producer, port }), [port]);
  }

  stopLogger() {
    this.logger.postMessage(P.msg(P.LOG_STOP));
  }

  #fromLogger(m) {
    switch (m.type) {
      case P.REPLY:
        this.requests.settle(m);
        break;
      case P.LOG_STATS:
        // From the call to start() to the first record in the logger: both epoch ms.
        if (this.run && m.firstRecordAt && this.run.firstRecordMs == null) {
          this.run.firstRecordMs = m.firstRecordAt - this.run.requestedAt;
          Object.assign(this.run.marks, { firstRecordAt: m.firstRecordAt, openPhases: m.openPhases });
        }
        this.#emit('stats', m);
        break;
      case P.LOG_ERROR:
        this.#emit('error', { source: 'logger', message: m.message });
        break;
      case P.LOG_FAILED:
        if (this.run?.runId === m.runId) this.stop();
        break;
      case P.LOG_CLOSED:
        this.#emit('logclosed', m);
        this.#onClosed(m);
        break;
      case P.LOG_RUNS_CHANGED:
        this.#emit('runs', m);
        break;
      default:
        this.#emit('error', { source: 'logger', message: `unexpected message ${JSON.stringify(m?.type)}` });
    }
  }

  // Boot sim workers up to n (Pyodide takes seconds: do it before Start).
  ensureSims(n) {
    while (this.sims.length < n) {
      const id = this.sims.length;
      const worker = new Worker(new URL('../workers/sim.worker.js', import.meta.url), { type: 'module', name: `vpslog-sim-${id}` });
      const sim = {
        id, worker, state: 'booting', stage: 'starting worker', bootStart: performance.now(),
        requests: new P.Requests((m, t) => worker.postMessage(m, t)), codeSha: null, install: null,
        // Stop's SIGINT for a step that never yields: shared memory needs cross-origin isolation.
        interrupt: self.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : null,
      };
      sim.ready = new Promise((resolve, reject) => {
        worker.onmessage = (e) => this.#fromSim(sim, e.data, resolve, reject);
        worker.onerror = (e) => {
          const message = e.message || 'sim worker failed to load';
          sim.state = 'failed';
          reject(new Error(message));
          this.#emit('error', { source: `sim ${id}`, message });
        };
      });
      sim.ready.catch(() => {});
      worker.postMessage(P.msg(P.SIM_BOOT, { indexURL: this.indexURL, interrupt: sim.interrupt?.buffer }));
      this.sims.push(sim);
      this.#emit('sims', this.sims);
    }
    return Promise.all(this.sims.slice(0, n).map((s) => s.ready));
  }

  #fromSim(sim, m, resolve, reject) {
    switch (m.type) {
      case P.SIM_PROGRESS:
        Object.assign(sim, { stage: m.stage, detail: m.detail });
        break;
      case P.SIM_READY:
        Object.assign(sim, { state: 'ready', stage: 'ready', bootMs: m.bootMs, bootMode: m.bootMode, python: m.python });
        if (!this.builtinSources) {
          this.builtinSources = m.sources;
          this.#emit('sources', m.sources);
        }
        resolve();
        break;
      case P.REPLY:
        sim.requests.settle(m);
        break;
      case P.SIM_VIEW:
        this.#emit('view', m);
        return; // 10 Hz: not a change of the sims' state
      case P.SIM_NETWORK:
        this.#emit('network', m);
        break;
      case P.SIM_STATUS:
        sim.status = m;
        break;
      case P.SIM_STOPPED:
        sim.state = 'ready';
        this.#onSimStopped(m);
        break;
      case P.SIM_ERROR:
        if (sim.state === 'booting') {
          sim.state = 'failed';
          reject(new Error(m.message));
        }
        this.#emit('error', { source: `sim ${sim.id}`, message: m.message });
        break;
      default:
        this.#emit('error', { source: `sim ${sim.id}`, message: `unexpected message ${JSON.stringify(m?.type)}` });
    }
    this.#emit('sims', this.sims);
  }

  // User code (a .py file or a pure-Python wheel): installed with micropip in
  // every sim now, and in sims booted later before they run. Resolves the
  // install report {file, sha256, version, modules, entry} of the first sim.
  async installCode(file, bytes) {
    if (this.run) throw new Error('a run is in progress: stop it before changing the code');
    await this.ensureSims(1);
    this.code = { file, bytes, info: null };
    const code = this.code;
    code.info = await this.#installIn(this.sims[0], code);
    await Promise.all(this.sims.slice(1).filter((s) => s.state !== 'failed').map((s) => s.ready.then(() => this.#installIn(s, code))));
    return code.info;
  }

  // One install of a code per sim, one at a time: a run prepared while
  // installCode() is still installing waits for that install instead of starting
  // a second, concurrent micropip reinstall in the same interpreter, and the
  // code chosen last is installed last.
  #installIn(sim, code) {
    if (sim.install?.code === code) return sim.install.done;
    // Each sim gets its own copy: a transferred buffer leaves the sender.
    const bytes = code.bytes.slice(0);
    const done = (sim.install?.done ?? Promise.resolve()).catch(() => {})
      .then(() => sim.requests.call(P.SIM_INSTALL, { file: code.file, bytes }, [bytes]))
      .then((info) => {
        sim.codeSha = info.sha256;
        return info;
      });
    const install = { code, done };
    const settled = () => { if (sim.install === install) sim.install = null; };
    sim.install = install;
    done.then(settled, settled);
    return done;
  }

  // The declaration {name, version, doc, params, spec} of a source spec
  // (a built-in name or the user's module:Class), loaded by the first sim.
  async declare(spec) {
    await this.ensureSims(1);
    return this.sims[0].requests.call(P.SIM_DECLARE, { spec });
  }

  // Builds every sim's part of a run with these workers and source now (the page
  // calls it while the form is idle), so that a start() with the same ones only
  // opens the run. Errors surface here and again at start(), which prepares anew.
  async prepare({ workers, source }) {
    if (this.run || this.starting) return;
    const parts = await this.#parts(workers, source);
    if (this.ready?.sig === parts.sig) return;
    const prepared = await this.#prepareParts(parts);
    // a later prepare or a start since then has replaced this one in the sims
    if (prepared.key === this.prepared && !this.run && !this.starting) this.ready = { ...prepared, sig: parts.sig };
  }

  // The sims of a run with this source, its code installed in each, and the
  // signature a prepared run must match.
  async #parts(workers, source) {
    if (!(Number.isInteger(workers) && workers >= 1 && workers <= MAX_SIMS)) throw new Error(`sim workers must be 1–${MAX_SIMS}`);
    await this.ensureSims(workers);
    const code = this.code?.info && !P.isBuiltinSpec(source.source, this.builtinSources) ? this.code : null;
    if (code) await Promise.all(this.sims.slice(0, workers).filter((s) => s.codeSha !== code.info.sha256).map((s) => this.#installIn(s, code)));
    const provenance = code && { file: code.info.file, sha256: code.info.sha256, version: code.info.version };
    return { sims: this.sims.slice(0, workers), workers, source, provenance, sig: JSON.stringify([workers, source, provenance]) };
  }

  // Every sim builds and describes its own part (vehicles, edges, random stream)
  // of the one run, in parallel: bad parameters (or code that does not load) are
  // refused before a run opens, and the sims start sending the moment it has.
  // -> {key, streams: the run's stream layouts, which every part must declare alike}
  async #prepareParts({ sims, workers, source, provenance }) {
    const key = ++this.prepared;
    const described = await Promise.all(sims.map((sim) => sim.requests.call(P.SIM_PREPARE, {
      key, source: { ...source, worker: sim.id, workers, ...(provenance ? { code: provenance } : {}) },
    })));
    const streams = described.map((d) => JSON.stringify(d.streams ?? null));
    if (new Set(streams).size > 1) throw new Error(`the sims' parts declare different streams (${streams.join(' vs ')}): a source must declare the same streams in every worker`);
    return { key, streams: described[0].streams };
  }

  // mode: one of sinkModes(): 'opfs' (the default), 'cloud' (parts to presigned S3/R2 URLs)
  // or 'null' (discard; the benchmark's transport ceiling). cloud: optional {encoding} (how parts
  // are stored, py/vpslog/part_encoding.json; its default otherwise) and {retry} overrides.
  // source: {source: spec, params, seed}; user code is named by its spec (module:Class).
  // apiToken: the presign API's bearer token, if the server requires one (CLOUD only).
  async start(cfg) {
    if (this.run || this.starting) throw new Error('a run is already in progress');
    this.starting = true;
    try {
      return await this.#start(cfg);
    } finally {
      this.starting = false;
    }
  }

  async #start({ workers, source, pace, durationS, mode, cloud, apiToken }) {
    const now = () => performance.timeOrigin + performance.now(); // epoch ms: comparable with the workers' marks
    const requestedAt = now();
    const ready = this.ready;
    this.ready = null;
    const parts = await this.#parts(workers, source);
    const { sims } = parts;
    const { key, streams } = ready?.sig === parts.sig ? ready : await this.#prepareParts(parts);
    const preparedAt = now();
    // A CLOUD run is created by the server: it picks the id and returns the run's capability.
    const sink = (await this.sinkModes()).find((s) => (mode === undefined ? s.default : s.mode === mode));
    const run = sink?.serverRun ? await createRun(this.api, apiToken) : null;
    const runId = run?.runId ?? P.newRunId();
    const producers = sims.map((s) => s.id);
    const config = { workers, source, pace, durationS };
    await this.openRun({ runId, mode, config, producers, streams, cloud: run && { api: this.api, ...cloud, run } });
    const openedAt = now();
    this.run = { runId, producers, produced: new Map(), stopping: false, timer: null, requestedAt, marks: { preparedAt, openedAt } };
    for (const sim of sims) {
      const ch = new MessageChannel();
      this.attachProducer(sim.id, ch.port1);
      sim.state = 'running';
      sim.worker.postMessage(P.msg(P.SIM_START, { runId, producer: sim.id, port: ch.port2, key, pace }), [ch.port2]);
    }
    this.run.marks.startsPostedAt = now();
    if (durationS > 0) this.run.timer = setTimeout(() => this.stop(), durationS * 1000);
    this.#emit('run', { state: 'running', runId });
    return runId;
  }

  stop() {
    const r = this.run;
    if (!r || r.stopping) return;
    r.stopping = true;
    clearTimeout(r.timer);
    for (const id of r.producers) this.sims[id].worker.postMessage(P.msg(P.SIM_STOP));
    this.stopLogger();
    r.interrupter = setInterval(() => this.#interruptStuckSims(r), STOP_GRACE_MS);
    this.#emit('run', { state: 'stopping', runId: r.runId });
  }

  // A sim that has not stopped by now is inside a model step that never
  // yields: raise KeyboardInterrupt in it (again, if the model swallowed it).
  #interruptStuckSims(r) {
    for (const id of r.producers) {
      const sim = this.sims[id];
      if (r.produced.has(id) || !sim.interrupt) continue;
      Atomics.store(sim.interrupt, 0, P.INTERRUPT_SIGINT);
      sim.interrupted = true;
    }
  }

  #onSimStopped(m) {
    const r = this.run;
    if (!r) return;
    r.produced.set(m.producer, m);
    // A source that ends by itself (finite duration) stops the run the same way.
    if (r.produced.size === r.producers.length) this.stop();
    this.#maybeClosed();
  }

  #onClosed({ manifest, published, delivery, where }) {
    if (!this.run) return;
    Object.assign(this.run, { manifest, published, delivery, where });
    // A sim's final report can trail the logger's close by a moment; a dead sim never sends it.
    setTimeout(() => this.#maybeClosed(true), 2000);
    this.#maybeClosed();
  }

  #maybeClosed(giveUp = false) {
    const r = this.run;
    if (!r?.manifest || (!giveUp && r.produced.size < r.producers.length)) return;
    clearInterval(r.interrupter);
    this.run = null;
    const sims = [...r.produced.values()];
    const produced = sims.reduce((a, s) => a + s.records, 0);
    this.#emit('run', {
      state: 'closed', runId: r.runId, manifest: r.manifest, published: r.published, delivery: r.delivery, where: r.where, produced, sims,
      firstRecordMs: r.firstRecordMs, firstRecordPhases: firstRecordPhases(r, sims),
    });
  }
}

// Where the time to the first record went (ms): the steps start() awaits, and
// the sims' share (from the start message to their first buffer) behind them.
function firstRecordPhases(r, sims) {
  const m = r.marks;
  if (!m.firstRecordAt) return null;
  const firstSent = Math.min(...sims.map((s) => s.firstSentAt ?? Infinity));
  const startedAt = Math.min(...sims.map((s) => s.startedAt ?? Infinity));
  return {
    prepare: m.preparedAt - r.requestedAt,
    open: m.openedAt - m.preparedAt,
    logger: m.openPhases ?? null,
    postStarts: m.startsPostedAt - m.openedAt,
    simReceive: startedAt - m.startsPostedAt,
    simFirstBuffer: firstSent - startedAt,
    toLogger: m.firstRecordAt - firstSent,
  };
}
