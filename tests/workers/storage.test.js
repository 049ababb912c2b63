// readJson against a file another context rewrites in place (storage.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readJson, readJsonIfAny } from '../../workers/storage.js';

// A directory whose one file reads as each of `texts` in turn (the last one
// from then on), as a manifest does while a logger rewrites it.
// (an Error in `texts` is how that read fails).
function dirReading(...texts) {
  let reads = 0;
  const text = async () => {
    const t = texts[Math.min(reads++, texts.length - 1)];
    if (t instanceof Error) throw t;
    return t;
  };
  return { reads: () => reads, getFileHandle: async () => ({ getFile: async () => ({ text }) }) };
}
const changed = () => Object.assign(new Error('the file changed while it was read'), { name: 'NotReadableError' });

test('a read that lands mid-rewrite is read again, not reported torn', async () => {
  const dir = dirReading('', changed(), '{"status": "clo', '{"status": "closed"}');
  assert.deepEqual(await readJson(dir, 'r.manifest.json'), { status: 'closed' });
  assert.equal(dir.reads(), 4);
});

test('a file that stays torn (its writer died) is torn after a while', async () => {
  const dir = dirReading('{"status": ');
  const t = performance.now();
  await assert.rejects(readJson(dir, 'r.manifest.json'), SyntaxError);
  assert.ok(dir.reads() > 1 && performance.now() - t < 2000, dir.reads());
  assert.equal(await readJsonIfAny(dirReading('{'), 'r.manifest.json', { torn: 'torn' }), 'torn');
});

test('other read errors are not retried', async () => {
  const dir = dirReading(Object.assign(new Error('gone'), { name: 'NotFoundError' }));
  await assert.rejects(readJson(dir, 'r.manifest.json'), { name: 'NotFoundError' });
  assert.equal(dir.reads(), 1);
});
