// The part of the next run this sim has built (SIM_PREPARE), handed once to the
// start that names the same key: a Python model's (PyPart) or, for a source spec
// `js:<module URL>`, a JavaScript model's (JsPart). Both are driven alike by SimRun.
import { JS_SPEC, JsPart, declareJs } from './jspart.js';

export class Prepared {
  current = null; // {key, part}

  constructor(python) {
    this.python = python;
  }

  // -> {streams}: the run's stream layouts, which the logger opens the run with
  async prepare({ key, source }) {
    this.current?.part.destroy();
    this.current = null;
    const part = JS_SPEC.test(source.source) ? await JsPart.load(source) : this.python.part(source);
    this.current = { key, part };
    return { streams: part.meta.run.streams ?? null };
  }

  take(key) {
    if (this.current?.key !== key) throw new Error('start without a prepared source');
    const { part } = this.current;
    this.current = null;
    return part;
  }

  declare(m) {
    return JS_SPEC.test(m.spec) ? declareJs(m.spec) : this.python.declare(m);
  }
}
