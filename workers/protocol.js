// Every message shape exchanged between the page, the sim workers and the
// logger, in one place. Each kind has a constructor; receivers check shapes
// with the validators here, so a malformed message is rejected the same way
// wherever it arrives.
import { EVENTS } from './layout.js';
import manifestSchema from '../py/vpslog/manifest.schema.json' with { type: 'json' };

// page -> sim worker
export const SIM_BOOT = 'sim.boot';        // {indexURL, interrupt?: SharedArrayBuffer (Int32 [1]) for Stop, snapshots?: false to boot afresh}
export const SIM_START = 'sim.start';      // {runId, producer, port, key (of the SIM_PREPARE it runs), pace}
export const SIM_STOP = 'sim.stop';
// Requests carry an id and get one REPLY with the same id (Requests / answerer below).
export const SIM_INSTALL = 'sim.install';  // {id, file, bytes: ArrayBuffer}: user code -> {file, sha256, version, modules, entry}
export const SIM_DECLARE = 'sim.declare';  // {id, spec}: -> the declaration {name, version, doc, params, spec}
export const SIM_PREPARE = 'sim.prepare';  // {id, key, source: {source, params, worker, workers, seed, code?}}: build and describe
                                           // this sim's part of the next run (refuses bad parameters) -> {streams: [resolved layout]}
// sim worker -> page
export const SIM_PROGRESS = 'sim.progress'; // {stage, detail}
export const SIM_READY = 'sim.ready';       // {bootMs, bootMode: 'snapshot'|'fresh', python, sources: [declaration of each built-in source], interruptible}
// The view channel: never log records, only compact aggregates, at most every VIEW_MS.
export const SIM_VIEW = 'sim.view';         // {producer, simTimeMs, records, status: Float64Array[4] (cumulative, by status),
                                            //  topEdges: Uint16Array, topCounts: Float64Array, occEdges: Uint16Array, occupancy: Uint16Array}
export const SIM_NETWORK = 'sim.network';   // {edgeIds: Uint16Array, x0, y0, x1, y1, capacity: Float32Array}: the map, once per run (worker 0)
export const VIEW_MS = 100;
// page <-> map worker (web/map.worker.js): the map is drawn off the main thread,
// into an OffscreenCanvas, at most once per VIEW_MS whatever the number of sims.
export const MAP_CANVAS = 'map.canvas';       // {canvas: OffscreenCanvas (transferred)}
export const MAP_NETWORK = 'map.network';     // {net: the SIM_NETWORK arrays (transferred) | null for no map}
export const MAP_SIZE = 'map.size';           // {w, h}: the canvas's size in pixels
export const MAP_OCCUPANCY = 'map.occupancy'; // {edges: Uint16Array, occupancy: Uint16Array} (transferred, from a SIM_VIEW)
export const MAP_SHAPE = 'map.shape';         // map worker -> page {width, height}: the network's extent, for the canvas's aspect ratio
// Requests carry an id and get one REPLY with the same id.
export const MAP_PROBE = 'map.probe';         // {id, edge?} -> {edge, vc, rgb, x, y}: that edge (or the most congested) and the colour on the canvas there
export const MAP_STATS = 'map.stats';         // {id} -> {redraws, drawMs: [ms], edges, edgesDrawn}: how the map moved, and how many edges it shows
export const MAP_BENCH = 'map.bench';         // {id, side, vehicles, redraws} -> {edges, vehicles, layoutMs, times: [ms]}: a synthetic grid's redraw cost
export const VIEW_TOP_EDGES = 12;
export const SIM_STATUS = 'sim.status';     // {producer, records, inFlight, waitingForCredit}
export const SIM_STOPPED = 'sim.stopped';   // {producer, records, buffers, waitMs, maxInFlight, stats, error, startedAt, firstSentAt (epoch ms)}
export const SIM_ERROR = 'sim.error';       // {message}

// sim worker -> logger, over the MessageChannel the page created
export const META = 'meta';                // {meta: {run, producer}}: the source's description, once, first; run.streams: the
                                           //  run's stream layouts in index order (docs/streams.md; left out: events only)
export const CHUNK = 'chunk';              // {stream: index, seq: index of its first buffer, buf: ArrayBuffer (transferred) of whole
                                           //  buffers of that stream, the last one possibly partial}: spends chunkBuffers() credits
export const EOF = 'eof';                  // {records (all streams), streams?: [records of each stream], buffers, stats, error?: the model's traceback}
// logger -> sim worker, same channel
export const CREDIT = 'credit';            // {n}

// page -> logger
export const LOG_CONFIG = 'log.config';    // {cloud: {api, retry?}}: where to presign; starts DLQ replay
// Requests carry an id and get one REPLY with the same id.
export const LOG_OPEN = 'log.open';        // {id, runId, mode, config, producers: [id], cloud?: {api, retry?, run: {runId, token, expires, renewAfter}},
                                           //  drainTimeoutMs?: how long a stop waits for every eof (default 30 s),
                                           //  streams?: the run's stream layouts, as SIM_PREPARE gave them (default: events only)}
export const LOG_ATTACH = 'log.attach';    // {producer, port}
export const LOG_STOP = 'log.stop';
export const LOG_MODES = 'log.modes';      // {id} -> [{mode, label (null: not offered on the page), serverRun, default}]: the sinks
export const LOG_LIST = 'log.list';        // {id}
export const LOG_GET = 'log.get';          // {id, runId} -> {files: [File of each stream, events first], manifest: File}
export const LOG_ARCHIVE = 'log.archive';  // {id, runId} -> File: <runId>.zip of every file of the run
export const LOG_DELETE = 'log.delete';    // {id, runId}
export const LOG_USAGE = 'log.usage';      // {id} -> {estimate: {usage, quota}, bytesByStatus, dlqBytes, quarantineBytes, snapshotBytes, policy}
export const LOG_POLICY = 'log.policy';    // {id, policy}: save the retention policy and apply it -> {...usage, removed: [runId]}
export const LOG_PIN = 'log.pin';          // {id, runId, pinned}: exempt a run from retention (or not)
// logger -> page
export const LOG_STATS = 'log.stats';      // {records, bytes, recordsPerSec, firstRecordAt (epoch ms), ...}
export const LOG_CLOSED = 'log.closed';    // {manifest (without source.network), published: 'uploaded'|'queued'|undefined, delivery: {partsUploaded, partsQueued},
                                           //  where: what the sink says of where the records are ('' or ' in 3 parts ...')}
export const LOG_ERROR = 'log.error';      // {message}
export const LOG_FAILED = 'log.failed';    // {runId, message}: storage failed, the run should stop
export const LOG_RUNS_CHANGED = 'log.runs'; // {runId, status}: a run of any tab opened, closed, was recovered or deleted

// logger <-> logger of every other tab of the origin (BroadcastChannel, workers/locks.js)
export const TAB_RUNS = 'tab.runs';        // {runId, status: 'open'|'closed'|'error'|'recovered'|'deleted'|'pinned'}
export const TAB_DLQ = 'tab.dlq';          // the dead-letter queue changed: count it again

// Each producer may have this many buffers in flight; the logger returns
// credits as it consumes them, in batches of CREDIT_BATCH. A window of 64
// (256 KiB per sim) lets a sim keep producing through ~10 ms of logger delay
// (a descheduled thread on a busy machine, an fsync); it is part of what a
// crash can lose (docs/architecture.md).
export const CREDIT_WINDOW = 64;
export const CREDIT_BATCH = 16;

// Credits a chunk of `bytes` of a stream (its layout) spends: one per buffer it
// holds, whatever the stream, at least one (a malformed chunk too, so the
// sender's count stays right). One window thus bounds all streams together.
export const chunkBuffers = (bytes, layout = EVENTS) => Math.max(1, Math.ceil(bytes / layout.bufferBytes));

// The run id rule lives in the manifest schema, shared with the Python backend.
export const RUN_ID_RE = new RegExp(manifestSchema.properties.run_id.pattern);

// Every run id the browser makes, in the shape Python's (vpslog.manifest.new_run_id) has:
// run-YYYYMMDD-HHMMSS-<10 hex digits>.
export function newRunId(now = new Date()) {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const hex = [...crypto.getRandomValues(new Uint8Array(5))].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `run-${stamp}-${hex}`;
}

// What Stop writes into a sim's interrupt buffer: Pyodide raises KeyboardInterrupt (SIGINT).
export const INTERRUPT_SIGINT = 2;

export function msg(type, fields = {}) {
  return { type, ...fields };
}

// A spec names a built-in source when the sims list it among theirs; anything else is user code.
export const isBuiltinSpec = (spec, builtins) => !!builtins?.some((d) => d.spec === spec);

// Any worker -> whoever asked: the answer to one request.
export const REPLY = 'reply';              // {id, ok, result | error}

// The asking side of the one request/answer mechanism: `call` posts
// {type, id, ...fields} through `post`, and `settle` resolves the call whose id
// a REPLY carries.
export class Requests {
  constructor(post) {
    this.post = post;
    this.pending = new Map();
    this.next = 1;
  }

  call(type, fields = {}, transfer = []) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post(msg(type, { ...fields, id }), transfer);
    });
  }

  settle(m) {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    if (m.ok) p?.resolve(m.result);
    else p?.reject(new Error(m.error));
  }
}

// The answering side, for every worker: `answerer(handlers)` returns a function
// that takes any incoming message and, if `handlers` has its type, runs that
// handler (sync or async) and posts one REPLY with the request's id: the result,
// or the error's message. It returns whether the message was a request.
export function answerer(handlers, post = (m) => self.postMessage(m)) {
  return (m) => {
    if (!Object.hasOwn(handlers, m?.type)) return false;
    const fail = (e) => post(msg(REPLY, { id: m.id, ok: false, error: e?.message ?? String(e) }));
    // a result that cannot be posted (not cloneable) is answered as a failure, never left unanswered
    Promise.resolve().then(() => handlers[m.type](m)).then((result) => post(msg(REPLY, { id: m.id, ok: true, result })), fail)
      .catch(fail);
    return true;
  };
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

const isCount = (n) => Number.isSafeInteger(n) && n >= 0;

// Why a message on a producer port is unacceptable, or null if it is a valid
// META/CHUNK/EOF; `layouts`: the run's streams, in index order.
export function checkProducerMessage(m, layouts = [EVENTS]) {
  if (m === null || typeof m !== 'object') return `not an object (${typeof m})`;
  if (m.type === CHUNK) {
    const layout = layouts[m.stream];
    if (!layout) return `chunk for stream ${JSON.stringify(m.stream)}: the run has streams 0–${layouts.length - 1} (${layouts.map((l) => l.name).join(', ')})`;
    if (!(m.buf instanceof ArrayBuffer)) return `${layout.name} chunk without an ArrayBuffer`;
    if (m.buf.byteLength === 0) return `empty ${layout.name} chunk`;
    if (m.buf.byteLength % layout.recordSize) return `${layout.name} chunk of ${m.buf.byteLength} bytes is not whole ${layout.recordSize}-byte records`;
    if (!isCount(m.seq)) return `${layout.name} chunk without a valid seq`;
    return null;
  }
  if (m.type === EOF) {
    if (!isCount(m.records)) return 'eof without a record count';
    if (m.streams != null && !(Array.isArray(m.streams) && m.streams.length === layouts.length && m.streams.every(isCount))) {
      return `eof with malformed per-stream counts (the run has ${layouts.length} streams)`;
    }
    if (m.stats != null && !isObject(m.stats)) return 'eof with malformed stats';
    if (m.error != null && typeof m.error !== 'string') return 'eof with a malformed error';
    return null;
  }
  if (m.type === META) {
    if (!isObject(m.meta) || !isObject(m.meta.run) || !isObject(m.meta.producer)) return 'meta without {run, producer} objects';
    return null;
  }
  return `unknown message type ${JSON.stringify(m.type)}`;
}
