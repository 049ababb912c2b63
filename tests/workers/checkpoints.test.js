import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Checkpoints } from '../../workers/logger/checkpoints.js';
import { within } from '../../workers/logger/deadline.js';

const never = () => new Promise(() => {});

test('within: the promise settles first, or it is late', async () => {
  assert.equal(await within(Promise.resolve(7), 1000), 7);
  await assert.rejects(within(Promise.reject(new Error('refused')), 1000), /refused/);
  await assert.rejects(within(never(), 20), /did not finish in 0.02 s/);
});

test('one checkpoint at a time, once a period', async () => {
  let t = 0;
  const written = [];
  let finish;
  const cp = new Checkpoints({
    write: (p) => { written.push(p); return new Promise((r) => { finish = r; }); },
    report: (m) => assert.fail(m), everyMs: 1000, now: () => t,
  });
  assert.equal(cp.due(), false);
  t = 1000;
  assert.equal(cp.due(), true);
  cp.start(() => 'a');
  t = 5000;
  assert.equal(cp.due(), false); // one is being written
  cp.start(() => 'b');
  assert.deepEqual(written, ['a']);
  finish();
  await cp.settled();
  assert.equal(cp.due(), true);
  cp.start(() => null); // nothing to record yet: no write, the period starts again
  assert.deepEqual(written, ['a']);
  assert.equal(cp.due(), false);
});

test('a write that never settles is given up: reported, and the next one is written', async () => {
  const written = [];
  const reports = [];
  const cp = new Checkpoints({
    write: (p) => { written.push(p); return p === 'stuck' ? never() : Promise.resolve(); },
    report: (m) => reports.push(m), everyMs: 0, stallMs: 30,
  });
  cp.start(() => 'stuck');
  await cp.settled(); // a close waits no longer than the stall bound
  assert.deepEqual(reports, ['a checkpoint did not finish in 0.03 s']);
  assert.equal(cp.due(), true);
  cp.start(() => 'next');
  await cp.settled();
  assert.deepEqual(written, ['stuck', 'next']);
  assert.equal(reports.length, 1);
});
