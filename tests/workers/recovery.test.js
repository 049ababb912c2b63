// The pure half of recovery: what a repaired (or snapshot) manifest says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute, repairedManifest } from '../../workers/repair.js';

const producers = [
  { id: 0, records: 0, buffers: 0, reported_records: null, source: null, stats: null },
  { id: 1, records: 0, buffers: 0, reported_records: null, source: null, stats: null },
];

test('counts from the last checkpoint, the rest unattributed', () => {
  const progress = { bytes: 8180, producers: { 0: 409, 1: 409 } };
  const { producers: p, unattributed } = attribute(producers, progress, 1227);
  assert.deepEqual(p.map((x) => x.records), [409, 409]);
  assert.equal(unattributed, 409);
});

test('a checkpoint beyond the kept records, or none, attributes nothing', () => {
  assert.equal(attribute(producers, { bytes: 40900, producers: { 0: 2045, 1: 2045 } }, 100).unattributed, 100);
  assert.equal(attribute(producers, null, 7).unattributed, 7);
  assert.equal(attribute(producers, { bytes: 10, producers: null }, 7).unattributed, 7);
});

test('a recovered manifest carries status, time, cause and the kept facts', () => {
  const open = { run_id: 'r', status: 'open', producers, records: 0, bytes: 0, checksum: null, errors: { rejected_messages: 0, dropped_records: 0, messages: [] } };
  const checksum = { algorithm: 'crc32c', value: '0badf00d' };
  const m = repairedManifest(open, null, { records: 3, bytes: 30, checksum, cut: 4 });
  assert.equal(m.status, 'recovered');
  assert.ok(!Number.isNaN(Date.parse(m.recovered_at)));
  assert.match(m.recovery.cause, /reload/);
  assert.deepEqual({ ...m.recovery, cause: undefined }, { cause: undefined, trailing_bytes_cut: 4, unattributed_records: 3, last_checkpoint_at: null });
  assert.deepEqual([m.records, m.bytes, m.checksum], [3, 30, checksum]);
  // a writer whose close failed says why in its checkpoint; a caller that knows says it itself
  const why = { at: '2026-11-28T10:00:00Z', bytes: 30, producers: { 0: 1, 1: 2 }, cause: 'its tab could not close it (x)' };
  assert.equal(repairedManifest(open, why, { records: 3, bytes: 30, checksum }).recovery.cause, why.cause);
  assert.equal(repairedManifest(open, why, { records: 3, bytes: 30, checksum, cause: 'y' }).recovery.cause, 'y');
  const s = repairedManifest(open, null, { records: 3, bytes: 30, checksum, what: 'snapshot' });
  assert.equal(s.status, 'snapshot');
  assert.ok(s.snapshot_at && !s.recovery && !s.recovered_at);
});
