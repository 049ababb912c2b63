// A run's storage: one sink per stream, driven as one. A sink stores one
// stream (its own file, or its own parts); this is what the run sees of them.
// The run's manifest is published once, by the sink class, over all of them.
export class StreamSinks {
  static async open(Sink, runId, layouts, opts) {
    const sinks = [];
    try {
      for (const layout of layouts) sinks.push(await Sink.open(runId, { ...opts, layout }));
    } catch (e) {
      // the streams opened so far are released; what they created is the run's to remove (run.js)
      await Promise.allSettled(sinks.map((s) => s.close()));
      throw e;
    }
    return new StreamSinks(Sink, sinks);
  }

  constructor(Sink, sinks) {
    this.Sink = Sink;
    this.sinks = sinks;
  }

  set onReady(f) {
    for (const s of this.sinks) s.onReady = () => this.ready && f();
  }

  get ready() {
    return this.sinks.every((s) => s.ready);
  }

  get uploading() {
    return this.sinks.some((s) => s.uploading);
  }

  append(stream, u8) {
    this.sinks[stream].append(u8);
  }

  tick() {
    for (const s of this.sinks) s.tick();
  }

  // What survives if the tab dies now, per stream (null: nothing can be said yet).
  checkpoint() {
    const streams = this.sinks.map((s) => s.checkpoint());
    return streams.every(Boolean) ? { streams } : null;
  }

  // Every stream is closed, even after one fails; the first error is the run's.
  async close() {
    const streams = [];
    let error = null;
    for (const s of this.sinks) {
      const r = await s.close();
      streams.push(r);
      error ??= r.error;
    }
    return { streams, error };
  }

  publish(manifest) {
    return this.Sink.publish(manifest, this.sinks);
  }

  // Figures summed over the streams (worst cases: the worst; arrays joined; text: the first stream's that has one).
  stats() {
    return merge(this.sinks.map((s) => s.stats()));
  }

  get timing() {
    return this.sinks[0].timing && merge(this.sinks.map((s) => s.timing));
  }
}

// A sink's figures that are already a worst case (ms of its longest stall), not a total.
const WORST = new Set(['encodeStallMs']);

function merge(all) {
  const out = {};
  for (const o of all) {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'number') out[k] = WORST.has(k) ? Math.max(out[k] ?? v, v) : (out[k] ?? 0) + v;
      else if (Array.isArray(v)) out[k] = [...(out[k] ?? []), ...v];
      else out[k] ??= v;
    }
  }
  return out;
}
