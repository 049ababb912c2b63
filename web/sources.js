// The page's event-source panel: the source list (built-ins from the sims'
// own list, plus the user's own code), a parameter form generated from what the
// source declares (or the same parameters as JSON), and the user's code:
// chosen by file input, drag-and-drop or a URL under this origin, installed in
// every sim with micropip, and kept in OPFS (code/) so a reload keeps it.
const USER = '__user__';
const CODE_DIR = 'code';
const CODE_META = 'current.json';
const $ = (sel) => document.querySelector(sel);

export class SourcePanel {
  constructor(form, pipeline, onError) {
    this.form = form;
    this.pipeline = pipeline;
    this.onError = onError;
    this.declaration = null; // of the selected source
    this.choice = 0; // of the user's code: the newest wins
    this.declared = null; // {code, spec, declaration}: the user's code as last declared
    this.codeProblem = 'Choose your code first'; // why the user's code cannot start, while it cannot
    this.select = form.elements.source;
    this.select.addEventListener('change', () => this.#selected());
    $('#code-file').addEventListener('change', (e) => e.target.files[0] && this.#useFile(e.target.files[0]));
    $('#code-url-load').addEventListener('click', () => this.#useUrl($('#code-url').value.trim()));
    $('#code-entry').addEventListener('change', () => this.#declareUser());
    $('#params-as-json').addEventListener('change', (e) => this.#toggleJson(e.target.checked));
    $('#params-json').addEventListener('input', (e) => e.target.setCustomValidity(''));
    const zone = $('#drop-zone');
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      const file = e.dataTransfer.files[0];
      if (file) this.#useFile(file);
    });
    pipeline.addEventListener('sources', (e) => this.#fill(e.detail));
  }

  // {source: spec, params} for Pipeline.start, or problems to show.
  read() {
    const problems = [];
    if (!this.declaration) return { problems: [this.select.value === USER ? this.codeProblem : 'The sources are still loading'] };
    let params = {};
    if ($('#params-as-json').checked) {
      try {
        params = JSON.parse($('#params-json').value || '{}');
        if (params === null || typeof params !== 'object' || Array.isArray(params)) throw new Error('not an object');
      } catch (e) {
        problems.push(`Parameters: not a JSON object (${e.message})`);
      }
    } else {
      for (const input of $('#param-fields').querySelectorAll('[name]')) {
        const d = this.declaration.params[input.name];
        const v = readInput(input, d, problems);
        if (v !== undefined) params[input.name] = v;
      }
    }
    return { source: { source: this.declaration.spec, params }, problems };
  }

  #fill(builtins) {
    const keep = localStorage.getItem('vpslog.source') ?? builtins[0]?.spec;
    this.select.replaceChildren(
      // the name first: a narrow select still shows which source it is
      ...builtins.map((d) => Object.assign(new Option(`${d.name}: ${d.doc.split(/[.(]/)[0] || d.name}`, d.spec), { title: d.doc })),
      new Option('Your own code…', USER),
    );
    this.select.value = [...this.select.options].some((o) => o.value === keep) ? keep : builtins[0].spec;
    this.#selected();
    this.#restoreCode();
  }

  #selected() {
    const spec = this.select.value;
    localStorage.setItem('vpslog.source', spec);
    $('#user-code').hidden = spec !== USER;
    if (spec === USER) {
      this.declaration = null;
      this.#renderParams();
      if (this.pipeline.code?.info) this.#declareUser();
      return;
    }
    this.declaration = this.pipeline.builtinSources.find((d) => d.spec === spec);
    this.#renderParams();
  }

  #status(text, isError = false) {
    const el = $('#code-status');
    el.textContent = text;
    el.classList.toggle('error', isError);
    if (isError) {
      this.codeProblem = `Your code cannot run: ${text}`;
      this.onError({ source: 'your code', message: text });
    }
  }

  // New code replaces the current code the moment it is chosen: until it is
  // installed and declared nothing can start, or Start would run the old code.
  // Each choice (file, URL, drop, restore, entry point) supersedes those before
  // it: one that finishes late changes nothing. Returns this choice's number.
  #pending(text) {
    this.declared = null;
    if (this.select.value === USER) {
      this.declaration = null;
      this.#renderParams();
    }
    this.#status(text);
    this.codeProblem = 'Your code is still loading; Start once it is ready';
    return ++this.choice;
  }

  async #useFile(file) {
    const choice = this.#pending(`Reading ${file.name}…`);
    let bytes;
    try {
      bytes = await file.arrayBuffer();
    } catch (e) {
      if (choice === this.choice) this.#status(`Could not read ${file.name}: ${e.message}`, true);
      return;
    }
    await this.#install(choice, file.name, bytes, true);
  }

  async #useUrl(url) {
    const choice = this.#pending(`Loading ${url}…`);
    let u;
    try {
      u = new URL(url, location.href);
      if (u.origin !== location.origin) throw new Error(`only URLs under ${location.origin} can be loaded`);
      const res = await fetch(u);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      await this.#install(choice, decodeURIComponent(u.pathname.split('/').pop()), await res.arrayBuffer(), true);
    } catch (e) {
      if (choice === this.choice) this.#status(`Could not load ${url}: ${e.message}`, true);
    }
  }

  async #install(choice, file, bytes, save) {
    if (choice !== this.choice) return;
    this.#status(`Installing ${file} in the sim workers…`);
    try {
      if (save) await saveCode(file, bytes, $('#code-entry').value.trim());
      const info = await this.pipeline.installCode(file, bytes);
      if (choice !== this.choice) return;
      if (info.entry && !$('#code-entry').value.trim().startsWith(`${info.entry}`)) $('#code-entry').value = info.entry;
      else if (!$('#code-entry').value.trim() && info.modules.length === 1) $('#code-entry').value = info.modules[0];
      this.#status(`${info.file} ${info.version} installed (sha256 ${info.sha256.slice(0, 12)}…)`);
      await this.#declareUser();
    } catch (e) {
      if (choice === this.choice) this.#status(e.message, true);
    }
  }

  // The user's source as the entry point names it; it becomes the form's only
  // while "your own code" is the chosen source.
  async #declareUser() {
    const spec = $('#code-entry').value.trim();
    const code = this.pipeline.code;
    if (!code?.info) return;
    const last = this.declared;
    if (last?.code === code && last.spec === spec) { // nothing changed (the field only lost focus, say)
      if (last.declaration && this.select.value === USER && this.declaration !== last.declaration) {
        this.declaration = last.declaration;
        this.#renderParams();
      }
      return;
    }
    this.declared = null;
    const choice = this.#pending(spec ? `Loading ${spec}…` : '');
    if (!spec) {
      this.#status('Name the entry point as module:Class', true);
      return;
    }
    try {
      const d = await this.pipeline.declare(spec);
      if (choice !== this.choice) return;
      await saveMeta({ file: code.file, entry: spec });
      if (choice !== this.choice) return; // a newer choice came while this one was saved
      this.declared = { code, spec, declaration: d };
      this.codeProblem = null;
      if (this.select.value === USER) {
        this.declaration = d;
        this.#renderParams();
      }
      this.#status(`${code.info.file} ${code.info.version} (sha256 ${code.info.sha256.slice(0, 12)}…): source ${d.name} ${d.version}${d.doc ? ` — ${d.doc.split('\n')[0]}` : ''}`);
    } catch (e) {
      if (choice !== this.choice) return;
      this.declared = { code, spec, declaration: null };
      this.#status(e.message, true);
    }
  }

  async #restoreCode() {
    const saved = await loadCode().catch(() => null);
    if (!saved) return;
    $('#code-entry').value = saved.entry ?? '';
    await this.#install(this.#pending(`Installing ${saved.file} in the sim workers…`), saved.file, saved.bytes, false);
  }

  #renderParams() {
    const d = this.declaration;
    $('#params').hidden = !d;
    if (!d) return;
    $('#params-legend').textContent = `Parameters of ${d.name} ${d.version}`;
    $('#param-fields').replaceChildren(...Object.entries(d.params).map(([name, p]) => paramInput(name, p)));
    $('#params-json').value = JSON.stringify(Object.fromEntries(Object.entries(d.params).map(([k, p]) => [k, p.default])), null, 1);
    this.form.dispatchEvent(new Event('change')); // a new source's form: the page prepares its run
  }

  // Each view starts from what the other holds, so no edit is lost by switching;
  // JSON that the fields cannot hold keeps the JSON view, saying why.
  #toggleJson(on) {
    const json = $('#params-json');
    const inputs = [...$('#param-fields').querySelectorAll('[name]')];
    if (on && this.declaration) {
      const params = Object.fromEntries(inputs.map((i) => [i.name, readInput(i, this.declaration.params[i.name], [])]));
      json.value = JSON.stringify(params, null, 1);
    } else if (!on && this.declaration) {
      const why = fillInputs(inputs, json.value, this.declaration.params);
      json.setCustomValidity(why ?? '');
      if (why) {
        $('#params-as-json').checked = true;
        json.reportValidity();
        return;
      }
      this.form.dispatchEvent(new Event('change'));
    }
    json.hidden = !on;
    $('#param-fields').hidden = on;
  }
}

// Sets the inputs from JSON parameters (one left out takes its default, as the
// JSON view means); why it cannot, or null, having changed nothing.
function fillInputs(inputs, text, declared) {
  let params;
  try {
    params = JSON.parse(text || '{}');
  } catch (e) {
    return `Parameters: not valid JSON (${e.message})`;
  }
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return 'Parameters: not a JSON object';
  const unknown = Object.keys(params).filter((k) => !Object.hasOwn(declared, k));
  if (unknown.length) return `Parameters: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a parameter of this source`;
  const kind = { bool: 'boolean', str: 'string', int: 'number', float: 'number' };
  const wrong = Object.entries(params).filter(([k, v]) => typeof v !== kind[declared[k].type] || (typeof v === 'number' && !Number.isFinite(v)));
  if (wrong.length) return `Parameters: ${wrong.map(([k]) => `${k} must be of type ${declared[k].type}`).join(', ')}`;
  for (const input of inputs) {
    const v = Object.hasOwn(params, input.name) ? params[input.name] : declared[input.name].default;
    if (input.type === 'checkbox') input.checked = v;
    else input.value = String(v);
  }
  return null;
}

function paramInput(name, p) {
  const label = document.createElement('label');
  label.append(p.doc || name);
  const input = document.createElement('input');
  input.name = name;
  if (p.type === 'bool') {
    input.type = 'checkbox';
    input.checked = p.default;
  } else if (p.type === 'str') {
    input.type = 'text';
    input.value = p.default;
  } else {
    Object.assign(input, { type: 'number', value: p.default, step: p.type === 'int' ? '1' : 'any' });
    if (p.min != null) input.min = p.min;
    if (p.max != null) input.max = p.max;
  }
  label.append(input);
  return label;
}

// The input's value in its declared type, or undefined with a problem noted.
function readInput(input, p, problems) {
  const label = p.doc || input.name;
  if (p.type === 'bool') return input.checked;
  if (p.type === 'str') return input.value;
  const v = Number(input.value);
  const integer = p.type === 'int';
  const within = (p.min == null || v >= p.min) && (p.max == null || v <= p.max);
  if (input.value.trim() === '' || !Number.isFinite(v) || !within || (integer && !Number.isInteger(v))) {
    problems.push(`${label} must be ${integer ? 'a whole number ' : 'a number '}${p.min != null ? `from ${p.min} ` : ''}${p.max != null ? `to ${p.max}` : ''}`.trim());
    return undefined;
  }
  return v;
}

async function codeDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(CODE_DIR, { create: true });
}

async function writeFile(dir, name, data) {
  const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
  await w.write(data);
  await w.close();
}

// Saves to code/ one after another: emptying it for a new file while another save
// still writes there would meet that write's swap file (listed, then locked or gone).
let saving = Promise.resolve();
function inTurn(save) {
  const done = saving.then(save);
  saving = done.catch(() => {});
  return done;
}

const writeMeta = async (meta) => writeFile(await codeDir(), CODE_META, JSON.stringify(meta));

function saveCode(file, bytes, entry) {
  return inTurn(async () => {
    const dir = await codeDir();
    for await (const name of dir.keys()) await dir.removeEntry(name);
    await writeFile(dir, file, bytes);
    await writeMeta({ file, entry });
  });
}

function saveMeta(meta) {
  return inTurn(() => writeMeta(meta));
}

async function loadCode() {
  const dir = await codeDir();
  const meta = JSON.parse(await (await (await dir.getFileHandle(CODE_META)).getFile()).text());
  const bytes = await (await (await dir.getFileHandle(meta.file)).getFile()).arrayBuffer();
  return { ...meta, bytes };
}
