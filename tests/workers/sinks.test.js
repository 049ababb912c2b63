// The Sink base class: every member has a default, so the logger never probes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink, SinkError } from '../../workers/sinks/base.js';
import { NullSink } from '../../workers/sinks/null.js';

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
  assert.equal(await s.publish({}), undefined);
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
