// Sim worker: Python (Pyodide) runs an event source and packs its records, or a
// JavaScript model logs through the JS producer API (sim/jspart.js); this file
// routes the page's messages. Python (sim/python.js) owns the interpreter,
// Prepared (sim/prepared.js) the part built for the next run; a SimRun
// (sim/run.js) owns a run and moves its whole buffers to the logger.
import * as P from './protocol.js';
import { Prepared } from './sim/prepared.js';
import { Python } from './sim/python.js';
import { SimRun } from './sim/run.js';

const python = new Python();
const prepared = new Prepared(python);
let run = null; // the running SimRun

const post = (type, fields) => self.postMessage(P.msg(type, fields));

async function boot(m) {
  const t0 = performance.now();
  const ready = await python.boot(m, (stage, detail = '') => post(P.SIM_PROGRESS, { stage, detail }));
  post(P.SIM_READY, { bootMs: performance.now() - t0, ...ready });
}

const notRunning = () => {
  if (run) throw new Error(`producer ${run.producer} is still running`);
};

async function start(m) {
  const startedAt = performance.timeOrigin + performance.now(); // epoch ms, for the time-to-first-record phases
  notRunning();
  run = new SimRun({ ...m, part: prepared.take(m.key), startedAt });
  try {
    await run.run();
  } finally {
    run = null;
  }
}

const answer = P.answerer({
  [P.SIM_INSTALL]: (m) => python.install(m),
  [P.SIM_DECLARE]: (m) => prepared.declare(m),
  [P.SIM_PREPARE]: (m) => {
    notRunning();
    return prepared.prepare(m);
  },
});

self.onmessage = async ({ data: m }) => {
  try {
    if (answer(m)) return;
    switch (m?.type) {
      case P.SIM_BOOT:
        await boot(m);
        break;
      case P.SIM_START:
        await start(m);
        break;
      case P.SIM_STOP:
        if (run) run.stopRequested = true;
        break;
      default:
        throw new Error(`unknown message type ${JSON.stringify(m?.type)}`);
    }
  } catch (err) {
    post(P.SIM_ERROR, { message: err.message ?? String(err) });
  }
};
