// Null sink: accepts and counts records, stores nothing. It exists to measure
// the transport ceiling (sim -> port -> logger) without storage costs; the
// benchmark runs it side by side with the OPFS sink.
export class NullSink {
  static persistent = false;
  ready = true;

  static async open() {
    return new NullSink();
  }

  constructor() {
    this.bytes = 0;
  }

  append(u8) {
    this.bytes += u8.byteLength;
  }

  tick() {}

  close() {
    return { bytes: this.bytes, checksum: null, error: null };
  }

  stats() {
    return { bytesWritten: this.bytes, bytesStaged: 0, writes: 0 };
  }
}
