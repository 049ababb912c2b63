// readJson against a file another context rewrites in place (storage.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readJson, readJsonIfAny } from '../../workers/storage.js';

// A directory whose one file reads as each of `texts` in turn (the last one
// from then on), as a manifest does while a logger rewrites it.
function dirReading(...texts) {
  let reads = 0;
  const file = { getFile: async () => ({ text: async () => texts[Math.min(reads++, texts.length - 1)] }) };
  return { reads: () => reads, getFileHandle: async () => file };
}

test('a read that lands mid-rewrite is read again, not reported torn', async () => {
  const dir = dirReading('', '{"status": "clo', '{"status": "closed"}');
  assert.deepEqual(await readJson(dir, 'r.manifest.json'), { status: 'closed' });
  assert.equal(dir.reads(), 3);
});

test('a file that stays torn (its writer died) is torn after a few reads', async () => {
  const dir = dirReading('{"status": ');
  await assert.rejects(readJson(dir, 'r.manifest.json'), SyntaxError);
  assert.ok(dir.reads() > 1 && dir.reads() <= 10, dir.reads());
  assert.equal(await readJsonIfAny(dirReading('{'), 'r.manifest.json', { torn: 'torn' }), 'torn');
});
