// One run of this sim: steps the model through Python's Producer and moves its
// whole buffers to the logger, each stream's in its own chunks. At most
// CREDIT_WINDOW buffers (of any streams) are in flight: with no credit left
// the model is simply not stepped, so nothing is dropped and memory stays bounded.
import * as P from '../protocol.js';
import { EVENTS, fromJson } from '../layout.js';
import { ViewCounts, postNetwork } from './view.js';

const MAX_BUFFERS_PER_CALL = 16;
const STATUS_MS = 250;
// Real-time pace: the model may run this far ahead of the wall clock.
const REALTIME_LEAD_MS = 50;
// how often a model ahead of the clock looks again: well under a frame of the 10 Hz view
const REALTIME_WAIT_MS = 20;

// A macrotask hop that is not clamped like setTimeout, so credit and stop
// messages are seen between batches without slowing the loop.
const hop = new MessageChannel();
const hopWaiters = [];
hop.port1.onmessage = () => hopWaiters.shift()?.();
const yieldToEvents = () => new Promise((r) => { hopWaiters.push(r); hop.port2.postMessage(0); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const post = (type, fields) => self.postMessage(P.msg(type, fields));

export class SimRun {
  credits = P.CREDIT_WINDOW;
  buffers = 0;
  records = 0;
  maxInFlight = 0;
  stopRequested = false;
  creditWaiter = null;
  waitMs = 0;
  firstSentAt = null; // epoch ms, for the time-to-first-record phases
  view = new ViewCounts();

  // part: what SimRun drives (a PyPart or a JsPart, from Prepared.take())
  constructor({ producer, port, pace = 'realtime', part, startedAt }) {
    Object.assign(this, { producer, port, pace, part, startedAt, meta: part.meta });
    this.layouts = part.meta.run.streams?.map(fromJson) ?? [EVENTS];
    this.counts = this.layouts.map(() => 0); // records sent of each stream
    port.onmessage = (e) => this.#onCredit(e.data);
  }

  #onCredit(m) {
    if (m?.type !== P.CREDIT || !(m.n > 0)) {
      console.warn('[vpslog sim] unexpected message from logger', m);
      return;
    }
    this.credits += m.n;
    this.creditWaiter?.();
  }

  async run() {
    const { part, meta } = this;
    const status = setInterval(() => post(P.SIM_STATUS, {
      producer: this.producer, records: this.records, inFlight: P.CREDIT_WINDOW - this.credits, waitMs: this.waitMs,
    }), STATUS_MS);
    let error = null;
    try {
      this.port.postMessage(P.msg(P.META, { meta }));
      if (meta.producer.worker === 0) postNetwork(meta.run.network?.edges);
      await this.#loop();
      // Stop may arrive as SIGINT while Python runs; whatever the model logged stays.
      await this.#send(part.flush());
      this.view.post(this.producer, this.records, part);
      error = part.error;
    } finally {
      // Even after a failure the logger must learn where this producer ended,
      // so it can close the run with what was already sent instead of waiting.
      clearInterval(status);
      this.#finish(error);
    }
  }

  async #loop() {
    const { part, pace } = this;
    const t0 = performance.now();
    while (!this.stopRequested) {
      if (this.credits === 0) {
        await this.#waitForCredit();
        continue;
      }
      const until = pace === 'realtime' ? Math.floor(performance.now() - t0 + REALTIME_LEAD_MS) : -1;
      // The first call makes one buffer, so the logger hears from the run at once.
      const sent = await this.#send(part.produce(Math.min(this.credits, this.buffers ? MAX_BUFFERS_PER_CALL : 1), until));
      if (this.view.due()) this.view.post(this.producer, this.records, part);
      if (sent === 0 && part.over) break;
      // real time, model ahead of the clock: wait for it (a model behind it, out of budget, goes on)
      if (sent === 0 && until >= 0 && (part.simTimeMs >= until || part.exhausted)) await sleep(REALTIME_WAIT_MS);
      else await yieldToEvents();
    }
  }

  // Nothing here may keep the eof from leaving: the logger would wait for it until its drain timeout.
  #stats() {
    const counts = { status_counts: this.view.statusCounts() };
    try {
      return { ...this.part.stats(), ...counts };
    } catch (e) {
      return { stats_error: e.message, ...counts };
    }
  }

  #finish(error) {
    const stats = this.#stats();
    this.port.postMessage(P.msg(P.EOF, { records: this.records, streams: this.counts, buffers: this.buffers, stats, ...(error ? { error } : {}) }));
    post(P.SIM_STOPPED, {
      producer: this.producer, records: this.records, buffers: this.buffers, waitMs: this.waitMs, maxInFlight: this.maxInFlight,
      stats, error, startedAt: this.startedAt, firstSentAt: this.firstSentAt,
    });
    this.part.destroy();
    this.port.close();
  }

  #waitForCredit() {
    const t = performance.now();
    return new Promise((resolve) => {
      this.creditWaiter = () => {
        this.creditWaiter = null;
        this.waitMs += performance.now() - t;
        resolve();
      };
    });
  }

  // Post what the part produced, stream by stream, in the order it gave them.
  async #send({ segments, release }) {
    let sent = 0;
    try {
      for (const { stream, data, owned } of segments) {
        const layout = this.layouts[stream];
        if (!layout) throw new Error(`the model produced records of stream ${stream}; the run has ${this.layouts.length} streams`);
        sent += await this.#sendStream(stream, layout, data, owned);
      }
    } finally {
      release();
    }
    return sent;
  }

  // One stream's records. Python's are read in place from the wasm heap: one copy
  // takes as many whole buffers per message as there are credits (the logger's
  // cost is per message, not per byte). A JS model's buffer is its own (`owned`):
  // transferred as it is. The transfer itself is zero-copy either way.
  async #sendStream(stream, layout, data, owned) {
    if (layout.name.startsWith('events')) this.view.count(data, layout);
    let sent = 0;
    for (let off = 0; off < data.byteLength;) {
      while (this.credits === 0) await this.#waitForCredit();
      const whole = owned && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      const end = whole ? data.byteLength : Math.min(off + this.credits * layout.bufferBytes, data.byteLength);
      const buf = whole ? data.buffer : data.slice(off, end).buffer;
      const n = P.chunkBuffers(buf.byteLength, layout);
      const records = buf.byteLength / layout.recordSize;
      this.credits -= n;
      this.maxInFlight = Math.max(this.maxInFlight, P.CREDIT_WINDOW - this.credits);
      this.records += records;
      this.counts[stream] += records;
      this.firstSentAt ??= performance.timeOrigin + performance.now();
      this.port.postMessage(P.msg(P.CHUNK, { stream, seq: this.buffers, buf }), [buf]);
      this.buffers += n;
      off = end;
      sent++;
    }
    return sent;
  }
}
