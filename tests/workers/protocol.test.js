// The one request/answer mechanism (Requests on the asking side, answerer on the
// answering side) over a real MessageChannel, and the run ids the browser makes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as P from '../../workers/protocol.js';

function pair(handlers) {
  const ch = new MessageChannel();
  const requests = new P.Requests((m, t) => ch.port1.postMessage(m, t));
  ch.port1.onmessage = ({ data }) => data.type === P.REPLY && requests.settle(data);
  const answer = P.answerer(handlers, (m) => ch.port2.postMessage(m));
  const others = [];
  ch.port2.onmessage = ({ data }) => answer(data) || others.push(data);
  return { requests, others, close: () => { ch.port1.close(); ch.port2.close(); } };
}

test('a request gets its own answer: sync, async, or the error of a handler that throws', async () => {
  const { requests, others, close } = pair({
    'x.add': ({ a, b }) => a + b,
    'x.later': async ({ ms }) => new Promise((r) => setTimeout(() => r(`after ${ms}`), ms)),
    'x.fail': () => { throw new Error('no such run'); },
    'x.uncloneable': () => ({ later: () => 1 }),
  });
  const slow = requests.call('x.later', { ms: 30 });
  const quick = requests.call('x.add', { a: 2, b: 3 });
  assert.equal(await quick, 5); // answered before the slower one: ids, not order, match answers
  assert.equal(await slow, 'after 30');
  await assert.rejects(requests.call('x.fail'), { message: 'no such run' });
  await assert.rejects(requests.call('x.uncloneable'), /could not be cloned/); // answered, never left hanging
  requests.post(P.msg('x.notice', { n: 1 }));
  assert.equal(await requests.call('x.add', { a: 0, b: 0 }), 0); // answered after the notice arrived
  assert.deepEqual(others, [{ type: 'x.notice', n: 1 }]); // not a request: left to the worker's router
  close();
});

test('run ids have the shape Python makes and the manifest schema accepts', () => {
  const ids = new Set(Array.from({ length: 200 }, () => P.newRunId(new Date('2026-12-06T01:02:03.456Z'))));
  assert.equal(ids.size, 200);
  for (const id of ids) {
    assert.match(id, /^run-20261206-010203-[0-9a-f]{10}$/);
    assert.ok(P.RUN_ID_RE.test(id));
  }
});
