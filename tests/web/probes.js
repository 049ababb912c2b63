// Injected before the page's own scripts (Playwright add_init_script). Counts
// every binary payload the main thread receives from any worker, so a test can
// prove log data never reaches the page.
(() => {
  const probe = (window.__vpslogProbe = { messages: 0, binaryBytes: 0 });
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
    probe.binaryBytes += scan(e.data);
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
