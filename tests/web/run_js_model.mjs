// Runs a JS model outside the browser, through the same JsPart the sim worker
// uses, and prints each stream's records as hex: what the page must store.
// usage: node run_js_model.mjs <model file> <params JSON> <seed>
import { pathToFileURL } from 'node:url';
import { JsPart } from '../../workers/sim/jspart.js';

const [file, params, seed] = process.argv.slice(2);
const part = await JsPart.load({ source: `js:${pathToFileURL(file).href}`, params: JSON.parse(params), worker: 0, workers: 1, seed: Number(seed) });
const out = part.meta.run.streams.map(() => []);
const take = ({ segments }) => segments.forEach(({ stream, data }) => out[stream].push(Buffer.from(data)));
while (!part.over) take(part.produce(1 << 20, -1, 1e9));
take(part.flush());
console.log(JSON.stringify({ streams: part.meta.run.streams.map((s) => s.name), hex: out.map((b) => Buffer.concat(b).toString('hex')), error: part.error }));
