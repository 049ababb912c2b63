// Injected before the page's own scripts (Playwright add_init_script). Counts
// every binary payload the main thread receives from any worker, so a test can
// prove log data never reaches the page. The view channel (sim.view, and the
// map's edge table, sim.network) is counted apart, with each message's size
// and arrival time, so a test can bound its size and rate.
(() => {
  const VIEW_TYPES = new Set(['sim.view', 'sim.network']);
  const probe = (window.__vpslogProbe = { messages: 0, binaryBytes: 0, view: [] });
  const scan = (v, depth = 0) => {
    if (v instanceof ArrayBuffer) return v.byteLength;
    if (ArrayBuffer.isView(v)) return v.byteLength;
    if (v instanceof Blob && !(v instanceof File)) return v.size;
    if (v && typeof v === 'object' && depth < 4) {
      let n = 0;
      for (const x of Object.values(v)) n += scan(x, depth + 1);
      return n;
    }
    return 0;
  };
  const count = (e) => {
    probe.messages++;
    const bytes = scan(e.data);
    if (VIEW_TYPES.has(e.data?.type)) probe.view.push({ type: e.data.type, producer: e.data.producer, bytes, t: performance.now() });
    else probe.binaryBytes += bytes;
  };
  const Native = window.Worker;
  window.Worker = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', count);
    }
  };
  window.addEventListener('message', count);
})();
