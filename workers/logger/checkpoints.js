// A run's checkpoints (what recovery keeps if the tab dies): one progress write
// a second, one at a time. A write that has not settled after STALL_MS is given
// up and reported, so that the next checkpoint writes the progress afresh: else
// every later checkpoint would wait behind it, recovery would fall back to an
// ever older one and lose more than its bound, and the close would wait for good.
import { within } from './deadline.js';

export const CHECKPOINT_MS = 1000;
// A progress write is one small file: milliseconds, a second or two on a busy disk.
export const STALL_MS = 10_000;

export class Checkpoints {
  writing = null; // the write in progress (never rejects)

  /**
   * @param {object} o
   * @param {(progress: object) => Promise} o.write  stores one checkpoint
   * @param {(message: string) => void} o.report  a write that failed or stalled
   */
  constructor({ write, report, everyMs = CHECKPOINT_MS, stallMs = STALL_MS, now = () => performance.now() }) {
    Object.assign(this, { write, report, everyMs, stallMs, now });
    this.at = now();
  }

  due() {
    return !this.writing && this.now() - this.at >= this.everyMs;
  }

  // take(): the progress to store (null: nothing can be said yet); called only when a write may start.
  start(take) {
    if (this.writing) return;
    this.at = this.now();
    const progress = take();
    if (!progress) return;
    this.writing = within(this.write(progress), this.stallMs)
      .catch((e) => this.report(`a checkpoint ${e.message}`))
      .finally(() => { this.writing = null; });
  }

  // Settles once no write is in progress (at most stallMs from now).
  settled() {
    return this.writing ?? Promise.resolve();
  }
}
