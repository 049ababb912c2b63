// The Sink base class: every member has a default, so the logger never probes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink, SinkError } from '../../workers/sinks/base.js';
import { NullSink } from '../../workers/sinks/null.js';
import { StreamSinks } from '../../workers/sinks/streams.js';

test('the base class defines every member the logger calls', async () => {
  const s = new Sink();
  assert.equal(Sink.persistent, false);
  assert.equal(Sink.catalogued, false);
  assert.equal(s.ready, true);
  assert.equal(s.uploading, false);
  assert.doesNotThrow(() => s.tick(0));
  assert.doesNotThrow(() => s.onReady());
  assert.equal(s.checkpoint(), null);
  assert.deepEqual(s.close(), { bytes: 0, checksum: null, error: null });
  assert.equal(await Sink.publish({}, [s]), undefined);
  assert.deepEqual(s.stats(), { bytesWritten: 0, bytesStaged: 0, writes: 0 });
  assert.throws(() => s.append(new Uint8Array(10)), SinkError);
  await assert.rejects(Sink.open('r'), SinkError);
});

test('a subclass getter is not shadowed by the base defaults', () => {
  class Busy extends Sink {
    get ready() { return false; }
    get uploading() { return true; }
  }
  const b = new Busy();
  assert.equal(b.ready, false);
  assert.equal(b.uploading, true);
});

test('the null sink counts and inherits the rest', async () => {
  const s = await NullSink.open('r');
  s.append(new Uint8Array(20));
  s.append(new Uint8Array(10));
  assert.deepEqual(s.close(), { bytes: 30, checksum: null, error: null });
  assert.equal(s.checkpoint(), null);
  assert.equal(s.uploading, false);
});

test('a run drives one sink per stream as one', async () => {
  class Part extends Sink {
    static opened = [];
    static async open(runId, { layout }) {
      Part.opened.push(layout.name);
      if (layout.name === 'bad') throw new SinkError('no room for bad');
      return new Part();
    }
    busy = false;
    got = [];
    get ready() { return !this.busy; }
    append(u8) { this.got.push(u8.byteLength); }
    close() { return { bytes: this.got.reduce((a, n) => a + n, 0), checksum: null, error: this.got.length > 1 ? 'full' : null }; }
    stats() { return { bytesWritten: this.got.length, encodeMs: [this.got.length], encodeStallMs: 5 * this.got.length, sinkError: this.got.length ? null : 'idle' }; }
  }
  const s = await StreamSinks.open(Part, 'r', [{ name: 'events' }, { name: 'fcd' }], {});
  let readyCalls = 0;
  s.onReady = () => readyCalls++;
  s.append(1, new Uint8Array(12));
  s.append(1, new Uint8Array(24));
  s.append(0, new Uint8Array(10));
  assert.deepEqual(s.stats(), { bytesWritten: 3, encodeMs: [1, 2], encodeStallMs: 10, sinkError: null });
  s.sinks[1].busy = true;
  assert.equal(s.ready, false);
  s.sinks[0].onReady(); // one stream ready again while another is not: producers still wait
  assert.equal(readyCalls, 0);
  s.sinks[1].busy = false;
  s.sinks[1].onReady();
  assert.equal(readyCalls, 1);
  assert.deepEqual(await s.close(), { streams: [{ bytes: 10, checksum: null, error: null }, { bytes: 36, checksum: null, error: 'full' }], error: 'full' });
  await assert.rejects(StreamSinks.open(Part, 'r', [{ name: 'events' }, { name: 'bad' }], {}), /no room for bad/);
});
