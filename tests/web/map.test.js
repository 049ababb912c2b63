// The map's pixels (web/map.js): every edge of a large network gets pixels on
// the canvas, each drawn in its V/C colour with its vehicles beside it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { network, applyOccupancy, layout, draw, edgePixel, gridNetwork, binOf, VC_COLOURS, BACKGROUND_RGBA, VEHICLE_RGBA } from '../../web/map.js';

const word = (hex) => (0xff000000 | (parseInt(hex.slice(5, 7), 16) << 16) | (parseInt(hex.slice(3, 5), 16) << 8) | parseInt(hex.slice(1, 3), 16)) >>> 0;
const [W, H] = [946, 520];

test('V/C bins: empty, < 0.5, < 0.75, < 1, < 1.5, over', () => {
  assert.deepEqual([[0, 4], [1, 4], [2, 4], [3, 4], [4, 4], [5, 4], [6, 4], [7, 4]].map(([o, c]) => binOf(o, c)), [0, 1, 2, 3, 4, 4, 5, 5]);
});

test('a 60,024-edge grid: every edge has pixels, all on the canvas', () => {
  const net = network(gridNetwork(123));
  assert.equal(net.n, 60024);
  const lay = layout(net, W, H);
  for (let i = 0; i < net.n; i++) assert.ok(lay.starts[i + 1] > lay.starts[i], `edge ${i} has no pixels`);
  assert.ok(lay.pixels.every((p) => p < W * H));
  // the two directions of a street are drawn apart
  assert.notEqual(edgePixel(net, lay, 0), edgePixel(net, lay, 1));
});

test('each edge is drawn in its V/C colour, its vehicles as dark pixels beside it', () => {
  const net = network(gridNetwork(8, 4));
  const lay = layout(net, W, H);
  const frame = new Uint32Array(W * H);
  const jammed = 5;
  const quiet = 40;
  applyOccupancy(net, Uint16Array.of(jammed, quiet), Uint16Array.of(7, 1));
  draw(frame, net, lay);
  assert.equal(frame[edgePixel(net, lay, jammed)], word(VC_COLOURS[5]));
  assert.equal(frame[edgePixel(net, lay, quiet)], word(VC_COLOURS[1]));
  assert.equal(frame[edgePixel(net, lay, 0)], word(VC_COLOURS[0]));
  const i = net.index[jammed];
  const beside = [...lay.pixels.subarray(lay.starts[i], lay.starts[i + 1])].map((p) => frame[p + lay.side[i]]);
  assert.equal(beside.filter((c) => c === VEHICLE_RGBA).length, 7);
  // the vehicles leave: the edge is drawn empty, nothing dark beside it
  applyOccupancy(net, Uint16Array.of(jammed), Uint16Array.of(0));
  draw(frame, net, lay);
  assert.equal(frame[edgePixel(net, lay, jammed)], word(VC_COLOURS[0]));
  assert.ok([...lay.pixels.subarray(lay.starts[i], lay.starts[i + 1])].every((p) => frame[p + lay.side[i]] !== VEHICLE_RGBA));
  assert.equal(frame[0], BACKGROUND_RGBA);
});
