// A sim's part of a run when the model is JavaScript: the source spec
// `js:<module URL>` names a module whose default export is the model class.
//
//   export default class Platoon {
//     static name = 'platoon'; static version = '1';
//     static params = { vehicles: 20 };                  // defaults; a value's type is its default's
//     static streams = [{ name: 'gaps', fields: [['time_ms', 'uint32'], ['vehicle', 'uint32'], ['gap_m', 'float32']] }];
//     static wideIds = false;                            // true: events with 32-bit ids (events_wide)
//     constructor(part, params) {}                       // part: {worker, workers, seed, rng(salt)}
//     *run(log) { log.enter(0, 1, 2); log.gaps(0, 1, 12.5); yield; }   // yield between steps
//     view() { return { edges, occupancy }; }            // optional, for the live map
//     get stats() { return {}; }                         // optional
//   }
//
// It is driven exactly as a Python Producer is (workers/sim/python.js PyPart):
// SimRun asks for whole buffers as credits allow and never steps a model it
// cannot send for.
import { EVENTS, EVENTS_WIDE, declareStreams, toJson } from '../layout.js';
import { JsLog } from './jslog.js';

export const JS_SPEC = /^js:(.+)$/;

// A seeded random stream of this worker's own (mulberry32 over the seed, worker and salt).
function rng(seed, worker, salt = '') {
  let h = 2166136261 ^ worker;
  for (const c of `${salt}|${seed}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return () => {
    h = (h + 0x6d2b79f5) | 0;
    let t = Math.imul(h ^ (h >>> 15), 1 | h);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function loadModel(spec) {
  const url = JS_SPEC.exec(spec)?.[1];
  const Model = (await import(/* @vite-ignore */ new URL(url, globalThis.location?.origin).href)).default;
  if (typeof Model !== 'function' || typeof Model.prototype.run !== 'function') {
    throw new Error(`${spec}: the module's default export must be a model class with a run(log) generator`);
  }
  return Model;
}

function resolveParams(Model, given = {}) {
  const declared = Model.params ?? {};
  const unknown = Object.keys(given).filter((k) => !(k in declared));
  if (unknown.length) throw new Error(`unknown parameter(s) for source ${Model.name}: ${unknown.join(', ')} (declared: ${Object.keys(declared).join(', ') || 'none'})`);
  for (const [k, v] of Object.entries(given)) {
    if (typeof v !== typeof declared[k]) throw new Error(`parameter ${k} must be ${typeof declared[k]}, got ${JSON.stringify(v)}`);
  }
  return { ...declared, ...given };
}

const layoutsOf = (Model) => [EVENTS, ...(Model.wideIds ? [EVENTS_WIDE] : []), ...declareStreams(Model.streams ?? [])];

// The declaration the page offers (SIM_DECLARE), as Python's Source.declaration().
export async function declareJs(spec) {
  const Model = await loadModel(spec);
  const params = Object.fromEntries(Object.entries(Model.params ?? {}).map(([k, v]) => [k, { default: v, type: typeof v, doc: '' }]));
  return { name: Model.name, version: String(Model.version ?? '0'), doc: '', params, spec, streams: layoutsOf(Model).map(toJson) };
}

export class JsPart {
  exhausted = false;
  error = null;
  steps = 0;
  simTimeMs = 0;

  static async load({ source: spec, params, worker = 0, workers = 1, seed = 1 }) {
    const Model = await loadModel(spec);
    const resolved = resolveParams(Model, params);
    const layouts = layoutsOf(Model);
    const part = { worker, workers, seed, rng: (salt) => rng(seed, worker, salt) };
    const model = new Model(part, resolved);
    const meta = {
      run: { source: Model.name, version: String(Model.version ?? '0'), spec, params: resolved, seed, workers, streams: layouts.map(toJson) },
      producer: { worker },
    };
    return new JsPart(model, layouts, meta, !!Model.wideIds);
  }

  constructor(model, layouts, meta, wide) {
    Object.assign(this, { model, layouts, meta });
    this.log = new JsLog(layouts, { wide });
    this.steps_ = model.run(this.log);
  }

  get over() {
    return this.exhausted && (this.error !== null || this.log.buffers.every((b) => !b.full.length));
  }

  // As Python's Producer.produce: step until maxBuffers whole buffers are ready, the model
  // ends, its newest record reaches untilMs (real time), or budgetMs passes.
  produce(maxBuffers, untilMs = -1, budgetMs = 50) {
    const deadline = performance.now() + budgetMs;
    const { log } = this;
    const ready = () => log.buffers.reduce((a, b) => a + b.full.length, 0);
    while (!this.exhausted && ready() < maxBuffers && !(untilMs >= 0 && untilMs <= this.simTimeMs)) {
      try {
        this.exhausted = !!this.steps_.next().done;
      } catch (e) {
        this.exhausted = true;
        this.error = `${e?.name ?? 'Error'}: ${e?.message ?? e}\n${e?.stack ?? ''}`;
      }
      this.steps++;
      this.simTimeMs = Math.max(this.simTimeMs, ...log.buffers.map((b) => b.lastTime ?? 0));
      if ((untilMs >= 0 && untilMs <= this.simTimeMs) || performance.now() > deadline) break;
    }
    let left = maxBuffers;
    const segments = [];
    for (const [stream, b] of log.buffers.entries()) {
      for (const data of b.take(left, untilMs)) segments.push({ stream, data, owned: true });
      left = maxBuffers - segments.length;
    }
    return { segments, release() {} };
  }

  flush() {
    this.exhausted = true;
    try {
      this.steps_.return();
    } catch (e) {
      this.error ??= `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
    }
    const segments = this.log.buffers.flatMap((b, stream) => b.flush().map((data) => ({ stream, data, owned: true })));
    return { segments, release() {} };
  }

  view() {
    const v = this.model.view?.();
    return v ? [Uint16Array.from(v.edges), Uint16Array.from(v.occupancy, (n) => Math.min(n, 65535))] : null;
  }

  stats() {
    const streams = Object.fromEntries(this.log.buffers.map((b) => [b.layout.name, b.out]));
    return { ...(this.model.stats ?? {}), records: Object.values(streams).reduce((a, n) => a + n, 0), steps: this.steps, streams };
  }

  destroy() {}
}
