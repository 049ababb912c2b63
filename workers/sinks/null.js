// Null sink: accepts and counts records, stores nothing. It exists to measure
// the transport ceiling (sim -> port -> logger) without storage costs; the
// benchmark runs it side by side with the OPFS sink.
import { Sink } from './base.js';

export class NullSink extends Sink {
  static async open() {
    return new NullSink();
  }

  bytes = 0;

  append(u8) {
    this.bytes += u8.byteLength;
  }

  close() {
    return { bytes: this.bytes, checksum: null, error: null };
  }

  stats() {
    return { bytesWritten: this.bytes, bytesStaged: 0, writes: 0 };
  }
}
