// Main-thread wiring: creates the logger and the sim workers, gives each sim
// one MessageChannel to the logger, and relays control messages. Record data
// never passes through here: the ports go straight from sim to logger.
import * as P from '../workers/protocol.js';

export const MAX_SIMS = 8;

export class Pipeline extends EventTarget {
  constructor() {
    super();
    this.indexURL = new URL('/pyodide/', location.href).href;
    this.logger = new Worker(new URL('../workers/logger.worker.js', import.meta.url), { type: 'module', name: 'vpslog-logger' });
    this.logger.onmessage = (e) => this.#fromLogger(e.data);
    this.logger.onerror = (e) => this.#emit('error', { source: 'logger', message: e.message || 'logger worker failed to load' });
    this.sims = [];      // {worker, id, ready: Promise, state}
    this.pending = new Map();
    this.nextRequest = 1;
    this.run = null;
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
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.logger.postMessage(P.msg(type, { ...fields, id }));
    });
  }

  // Stored runs of every tab of this origin: [{runId, bytes, records, status, mode, createdAt, live}].
  listRuns() {
    return this.#request(P.LOG_LIST);
  }

  // {bin: File, manifest: File}; a run still being written comes as a snapshot of its whole records.
  getRun(runId) {
    return this.#request(P.LOG_GET, { runId });
  }

  deleteRun(runId) {
    return this.#request(P.LOG_DELETE, { runId });
  }

  // {estimate: {usage, quota}, bytesByStatus, dlqBytes, quarantineBytes, snapshotBytes, policy}
  storageUsage() {
    return this.#request(P.LOG_USAGE);
  }

  // Save and apply the retention policy {maxTotalBytes, maxAgeDays, minHeadroomBytes, freeSpaceForRuns}.
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

  // Lower level than start(): open a run for producers the caller attaches itself (tests).
  openRun({ runId, mode = 'opfs', config = {}, producers, cloud }) {
    return this.#request(P.LOG_OPEN, { runId, mode, config, producers, cloud });
  }

  attachProducer(producer, port) {
    this.logger.postMessage(P.msg(P.LOG_ATTACH, { producer, port }), [port]);
  }

  stopLogger() {
    this.logger.postMessage(P.msg(P.LOG_STOP));
  }

  #fromLogger(m) {
    switch (m.type) {
      case P.LOG_REPLY: {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.ok) p?.resolve(m.result);
        else p?.reject(new Error(m.error));
        break;
      }
      case P.LOG_STATS:
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
        this.#onClosed(m.manifest, m.published, m.delivery);
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
      const sim = { id, worker, state: 'booting', stage: 'starting worker', bootStart: performance.now() };
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
      worker.postMessage(P.msg(P.SIM_BOOT, { indexURL: this.indexURL }));
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
        Object.assign(sim, { state: 'ready', stage: 'ready', bootMs: m.bootMs, python: m.python });
        resolve();
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

  // mode: 'opfs' (the default), 'cloud' (parts to presigned S3/R2 URLs) or 'null'
  // (discard; the benchmark's transport ceiling). cloud: optional {retry} overrides.
  async start({ workers, source, pace, durationS, mode = 'opfs', cloud }) {
    if (this.run) throw new Error('a run is already in progress');
    if (!(Number.isInteger(workers) && workers >= 1 && workers <= MAX_SIMS)) throw new Error(`sim workers must be 1–${MAX_SIMS}`);
    await this.ensureSims(workers);
    const runId = `run-${new Date().toISOString().replace(/[-:.]/g, '').replace('T', '-').slice(0, 15)}-${Math.random().toString(36).slice(2, 6)}`;
    const producers = this.sims.slice(0, workers).map((s) => s.id);
    const config = { workers, source, pace, durationS };
    await this.openRun({ runId, mode, config, producers, cloud: cloud && { api: this.api, ...cloud } });
    this.run = { runId, producers, produced: new Map(), stopping: false, timer: null };
    for (const sim of this.sims.slice(0, workers)) {
      const ch = new MessageChannel();
      this.attachProducer(sim.id, ch.port1);
      sim.state = 'running';
      // Each sim simulates its own part (vehicles, edges, random stream) of the one run.
      const part = { ...source, worker: sim.id, workers };
      sim.worker.postMessage(P.msg(P.SIM_START, { runId, producer: sim.id, port: ch.port2, source: part, pace }), [ch.port2]);
    }
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
    this.#emit('run', { state: 'stopping', runId: r.runId });
  }

  #onSimStopped(m) {
    const r = this.run;
    if (!r) return;
    r.produced.set(m.producer, m);
    // A source that ends by itself (finite duration) stops the run the same way.
    if (r.produced.size === r.producers.length) this.stop();
    this.#maybeClosed();
  }

  #onClosed(manifest, published, delivery) {
    if (!this.run) return;
    Object.assign(this.run, { manifest, published, delivery });
    // A sim's final report can trail the logger's close by a moment; a dead sim never sends it.
    setTimeout(() => this.#maybeClosed(true), 2000);
    this.#maybeClosed();
  }

  #maybeClosed(giveUp = false) {
    const r = this.run;
    if (!r?.manifest || (!giveUp && r.produced.size < r.producers.length)) return;
    this.run = null;
    const sims = [...r.produced.values()];
    const produced = sims.reduce((a, s) => a + s.records, 0);
    this.#emit('run', { state: 'closed', runId: r.runId, manifest: r.manifest, published: r.published, delivery: r.delivery, produced, sims });
  }
}
