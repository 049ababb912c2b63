// Every message shape exchanged between the page, the sim workers and the
// logger, in one place. Each kind has a constructor; receivers check shapes
// with the validators here, so a malformed message is rejected the same way
// wherever it arrives.
import { RECORD_SIZE } from './record.js';
import manifestSchema from '../py/vpslog/manifest.schema.json' with { type: 'json' };

// page -> sim worker
export const SIM_BOOT = 'sim.boot';        // {indexURL}
export const SIM_START = 'sim.start';      // {runId, producer, port, source, pace}
export const SIM_STOP = 'sim.stop';
// sim worker -> page
export const SIM_PROGRESS = 'sim.progress'; // {stage, detail}
export const SIM_READY = 'sim.ready';       // {bootMs}
export const SIM_STATUS = 'sim.status';     // {producer, records, inFlight, waitingForCredit}
export const SIM_STOPPED = 'sim.stopped';   // {producer, records, buffers, waitMs, maxInFlight, stats}
export const SIM_ERROR = 'sim.error';       // {message}

// sim worker -> logger, over the MessageChannel the page created
export const META = 'meta';                // {meta: {run, producer}}: the source's description, once, first
export const CHUNK = 'chunk';              // {seq, buf: ArrayBuffer (transferred)}
export const EOF = 'eof';                  // {records, buffers, stats}
// logger -> sim worker, same channel
export const CREDIT = 'credit';            // {n}

// page -> logger
export const LOG_CONFIG = 'log.config';    // {cloud: {api, retry?}}: where to presign; starts DLQ replay
// Requests carry an id and get one LOG_REPLY with the same id.
export const LOG_OPEN = 'log.open';        // {id, runId, mode, config, producers: [id]}
export const LOG_ATTACH = 'log.attach';    // {producer, port}
export const LOG_STOP = 'log.stop';
export const LOG_LIST = 'log.list';        // {id}
export const LOG_GET = 'log.get';          // {id, runId}
export const LOG_DELETE = 'log.delete';    // {id, runId}
export const LOG_USAGE = 'log.usage';      // {id} -> {estimate: {usage, quota}, bytesByStatus, dlqBytes, quarantineBytes, snapshotBytes, policy}
export const LOG_POLICY = 'log.policy';    // {id, policy}: save the retention policy and apply it -> usage
export const LOG_PIN = 'log.pin';          // {id, runId, pinned}: exempt a run from retention (or not)
// logger -> page
export const LOG_STATS = 'log.stats';      // {records, bytes, recordsPerSec, ...}
export const LOG_CLOSED = 'log.closed';    // {manifest, published: 'uploaded'|'queued'|undefined, delivery: {partsUploaded, partsQueued}}
export const LOG_REPLY = 'log.reply';      // {id, ok, result | error}
export const LOG_ERROR = 'log.error';      // {message}
export const LOG_FAILED = 'log.failed';    // {runId, message}: storage failed, the run should stop
export const LOG_RUNS_CHANGED = 'log.runs'; // {runId, status}: a run of any tab opened, closed, was recovered or deleted

// logger <-> logger of every other tab of the origin (BroadcastChannel, workers/locks.js)
export const TAB_RUNS = 'tab.runs';        // {runId, status: 'open'|'closed'|'error'|'recovered'|'deleted'|'pinned'}
export const TAB_DLQ = 'tab.dlq';          // the dead-letter queue changed: count it again

// Each producer may have this many buffers in flight; the logger returns
// credits as it consumes them, in batches of CREDIT_BATCH.
export const CREDIT_WINDOW = 16;
export const CREDIT_BATCH = 8;

// The run id rule lives in the manifest schema, shared with the Python backend.
export const RUN_ID_RE = new RegExp(manifestSchema.properties.run_id.pattern);

export function msg(type, fields = {}) {
  return { type, ...fields };
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// Why a message on a producer port is unacceptable, or null if it is a valid META/CHUNK/EOF.
export function checkProducerMessage(m) {
  if (m === null || typeof m !== 'object') return `not an object (${typeof m})`;
  if (m.type === CHUNK) {
    if (!(m.buf instanceof ArrayBuffer)) return 'chunk without an ArrayBuffer';
    if (m.buf.byteLength === 0) return 'empty chunk';
    if (m.buf.byteLength % RECORD_SIZE) return `chunk of ${m.buf.byteLength} bytes is not whole ${RECORD_SIZE}-byte records`;
    if (!Number.isSafeInteger(m.seq) || m.seq < 0) return 'chunk without a valid seq';
    return null;
  }
  if (m.type === EOF) {
    if (!Number.isSafeInteger(m.records) || m.records < 0) return 'eof without a record count';
    if (m.stats != null && !isObject(m.stats)) return 'eof with malformed stats';
    return null;
  }
  if (m.type === META) {
    if (!isObject(m.meta) || !isObject(m.meta.run) || !isObject(m.meta.producer)) return 'meta without {run, producer} objects';
    return null;
  }
  return `unknown message type ${JSON.stringify(m.type)}`;
}
