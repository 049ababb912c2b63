// What the retention policy removes, and the pre-flight verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedRunBytes, mayRemove, normalizePolicy, refusal, selectForRemoval } from '../../workers/retention.js';

const run = (runId, status, bytes, createdAt, extra = {}) => ({ runId, status, bytes, createdAt, live: null, ...extra });
const RUNS = [
  run('new', 'closed', 30, '2026-11-03T00:00:00Z'),
  run('old', 'closed', 30, '2026-11-01T00:00:00Z'),
  run('mid', 'closed', 30, '2026-11-02T00:00:00Z'),
  run('rec', 'recovered', 500, '2026-10-01T00:00:00Z'),
  run('open', 'open', 500, '2026-10-01T00:00:00Z', { live: 'elsewhere' }),
  run('err', 'error', 500, '2026-10-01T00:00:00Z'),
];

test('size limit removes the oldest closed runs first, never others', () => {
  assert.deepEqual(selectForRemoval(RUNS, normalizePolicy({ maxTotalBytes: 40 })), ['old', 'mid']);
  assert.deepEqual(selectForRemoval(RUNS, normalizePolicy({ maxTotalBytes: 1000 })), []);
});

test('pinned runs are exempt', () => {
  assert.deepEqual(selectForRemoval(RUNS, normalizePolicy({ maxTotalBytes: 40, pinned: ['old'] })), ['mid', 'new']);
});

test('age limit', () => {
  const now = Date.parse('2026-11-03T12:00:00Z');
  assert.deepEqual(selectForRemoval(RUNS, normalizePolicy({ maxAgeDays: 1 }), { now }), ['old', 'mid']);
});

test('space for a new run is freed only when the policy allows it', () => {
  assert.deepEqual(selectForRemoval(RUNS, normalizePolicy({}), { free: 10, need: 50 }), []);
  assert.deepEqual(selectForRemoval(RUNS, normalizePolicy({ freeSpaceForRuns: true }), { free: 10, need: 50 }), ['old', 'mid']);
});

test('pre-flight: expected size and a plain refusal', () => {
  const cfg = { workers: 2, pace: 'realtime', durationS: 3, source: { source: 'load', params: { rate: 1000 } } };
  assert.equal(expectedRunBytes(cfg, 10), 60_000);
  assert.equal(expectedRunBytes({ ...cfg, pace: 'max' }, 10), null);
  const p = normalizePolicy({});
  assert.equal(refusal(1000, p, 10 << 20, 100 << 20), null);
  assert.match(refusal(20 << 20, p, 10 << 20, 100 << 20), /needs about 20.0 MiB for its configured length plus 1.0 MiB headroom, but only 10.0 MiB of the 100.0 MiB quota is free/);
  assert.throws(() => normalizePolicy({ maxTotalBytes: -1 }), /maxTotalBytes must be a number/);
});

test('the pre-flight skips listing runs only when the policy could remove none of them', () => {
  const old = [...RUNS, run('ancient', 'closed', 1e9, '2000-01-01T00:00:00Z')];
  const policies = [{}, { maxTotalBytes: 40 }, { maxAgeDays: 1 }, { freeSpaceForRuns: true }, { freeSpaceForRuns: true, maxAgeDays: 0 }];
  for (const p of policies.map(normalizePolicy)) {
    for (const [free, need] of [[0, 100], [100, 100], [1e12, 1], [50, 60]]) {
      const removes = selectForRemoval(old, p, { free, need }).length > 0;
      if (removes) assert.ok(mayRemove(p, free, need), JSON.stringify({ p, free, need }));
    }
    assert.equal(mayRemove(p, 1e12, 1), p.maxTotalBytes !== null || p.maxAgeDays !== null);
  }
});
