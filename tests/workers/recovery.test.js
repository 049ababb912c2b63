// The pure half of recovery: what a repaired (or snapshot) manifest says, for every stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENTS, resolve, toJson } from '../../workers/layout.js';
import { attribute, manifestStreams, repairedManifest } from '../../workers/repair.js';

const producers = [
  { id: 0, records: 0, buffers: 0, reported_records: null, source: null, stats: null },
  { id: 1, records: 0, buffers: 0, reported_records: null, source: null, stats: null },
];
const FCD = resolve('fcd', [['time_ms', 'uint32'], ['vehicle', 'uint32'], ['speed', 'float32']]); // 12 bytes
const entry = (l) => ({ name: l.name, file: `r.${l.name}.bin`, layout: toJson(l), records: 0, bytes: 0, checksum: null, producers: { 0: 0, 1: 0 }, dropped_records: 0 });
const checksum = { algorithm: 'crc32c', value: '0badf00d' };

test('counts from the last checkpoint, the rest unattributed, per stream', () => {
  const progress = { streams: [{ bytes: 8180 }, { bytes: 120 }], producers: { 0: [409, 4], 1: [409, 6] } };
  const { producers: p, byStream, unattributed } = attribute(producers, progress, [1227, 12], [10, 12]);
  assert.deepEqual(p.map((x) => x.records), [409, 409]); // producer rows: events, as in version 1
  assert.deepEqual(byStream, [{ 0: 409, 1: 409 }, { 0: 4, 1: 6 }]);
  assert.deepEqual(unattributed, [409, 2]);
});

test('a checkpoint written before streams existed still attributes the events', () => {
  const { producers: p, unattributed } = attribute(producers, { bytes: 8180, producers: { 0: 409, 1: 409 } }, [1227], [10]);
  assert.deepEqual(p.map((x) => x.records), [409, 409]);
  assert.deepEqual(unattributed, [409]);
});

test('a checkpoint beyond the kept records of any stream, or none, attributes nothing', () => {
  const beyond = { streams: [{ bytes: 100 }, { bytes: 1200 }], producers: { 0: [5, 50], 1: [5, 50] } };
  assert.deepEqual(attribute(producers, beyond, [10, 99], [10, 12]).unattributed, [10, 99]); // fcd lost a tail: nothing is exact
  assert.deepEqual(attribute(producers, null, [7], [10]).unattributed, [7]);
  assert.deepEqual(attribute(producers, { streams: [{ bytes: 10 }], producers: null }, [7], [10]).unattributed, [7]);
});

test('a recovered manifest carries status, time, cause and the kept facts of every stream', () => {
  const open = {
    run_id: 'r', status: 'open', producers, records: 0, bytes: 0, checksum: null, streams: [entry(EVENTS), entry(FCD)],
    errors: { rejected_messages: 0, dropped_records: 0, messages: [] },
  };
  assert.deepEqual(manifestStreams(open).map((l) => l.name), ['events', 'fcd']);
  const m = repairedManifest(open, null, { streams: [{ bytes: 30, checksum, cut: 4 }, { bytes: 24, checksum, cut: 11 }] });
  assert.equal(m.status, 'recovered');
  assert.ok(!Number.isNaN(Date.parse(m.recovered_at)));
  assert.match(m.recovery.cause, /reload/);
  assert.deepEqual({ ...m.recovery, cause: undefined }, { cause: undefined, trailing_bytes_cut: 4, unattributed_records: 3, last_checkpoint_at: null });
  assert.deepEqual([m.records, m.bytes, m.checksum], [3, 30, checksum]);
  assert.deepEqual(m.streams.map((s) => [s.name, s.records, s.bytes, s.unattributed_records, s.trailing_bytes_cut]), [['events', 3, 30, 3, 4], ['fcd', 2, 24, 2, 11]]);
  // a writer whose close failed says why in its checkpoint; a caller that knows says it itself
  const why = { at: '2026-11-28T10:00:00Z', streams: [{ bytes: 30 }, { bytes: 24 }], producers: { 0: [1, 1], 1: [2, 1] }, cause: 'its tab could not close it (x)' };
  const kept = { streams: [{ bytes: 30, checksum }, { bytes: 24, checksum }] };
  assert.equal(repairedManifest(open, why, kept).recovery.cause, why.cause);
  assert.equal(repairedManifest(open, why, { ...kept, cause: 'y' }).recovery.cause, 'y');
  assert.deepEqual(repairedManifest(open, why, kept).streams[1].producers, { 0: 1, 1: 1 });
  const s = repairedManifest(open, null, { ...kept, what: 'snapshot' });
  assert.equal(s.status, 'snapshot');
  assert.ok(s.snapshot_at && !s.recovery && !s.recovered_at);
});

test('a version-1 manifest (events only) is repaired as one', () => {
  const v1 = { run_id: 'r', status: 'open', producers, records: 0, bytes: 0, checksum: null, errors: { rejected_messages: 0, dropped_records: 0, messages: [] } };
  const m = repairedManifest(v1, null, { streams: [{ bytes: 30, checksum }] });
  assert.deepEqual([m.records, m.streams], [3, undefined]);
});
