// CLOUD part encodings (workers/encoding.js, from py/vpslog/part_encoding.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { DecodeError, decodePart, DEFAULT_ENCODING, ENCODINGS, encodePart, unshuffle } from '../../workers/encoding.js';
import { encodeRecords } from '../../workers/record.js';

const records = encodeRecords(Array.from({ length: 3000 }, (_, i) => ({
  time_ms: i * 997, vehicle_id: i % 613, edge_id: (i * 7) % 4000, status: 1 + (i % 3),
})));
const joined = async (chunks) => new Uint8Array(await new Blob(chunks).arrayBuffer());

test('the shuffle puts byte k of record i at k*n + i, and back', async () => {
  const n = records.byteLength / 10;
  const cols = gunzipSync(await joined((await encodePart(records, 'shuffle-gzip')).chunks));
  for (const i of [0, 1, n - 1]) for (let k = 0; k < 10; k++) assert.equal(cols[k * n + i], records[i * 10 + k]);
  assert.deepEqual(unshuffle(new Uint8Array(cols)), records);
});

test('every encoding round trips; compressed ones are smaller', async () => {
  assert.ok(Object.hasOwn(ENCODINGS, DEFAULT_ENCODING));
  for (const name of Object.keys(ENCODINGS)) {
    const e = await encodePart(records, name);
    const stored = await joined(e.chunks);
    assert.equal(stored.byteLength, e.bytes, name);
    assert.deepEqual(await decodePart(stored, name, records.byteLength), records, name);
    if (ENCODINGS[name].codec) assert.ok(e.bytes < records.byteLength, `${name}: ${e.bytes}`);
    assert.ok(e.stallMs <= e.cpuMs, name);
  }
});

test('a truncated or garbled stored part does not decode', async () => {
  const stored = await joined((await encodePart(records, 'shuffle-gzip')).chunks);
  await assert.rejects(decodePart(stored.subarray(0, stored.byteLength - 9), 'shuffle-gzip', records.byteLength), DecodeError);
  const garbled = stored.slice();
  garbled.fill(0, 20, 200);
  await assert.rejects(decodePart(garbled, 'shuffle-gzip', records.byteLength), DecodeError);
  await assert.rejects(decodePart(stored, 'shuffle-gzip', records.byteLength + 10), DecodeError);
  await assert.rejects(encodePart(records, 'zstd'), /unknown part encoding "zstd"/);
});
