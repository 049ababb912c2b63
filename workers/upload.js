// Run capabilities, presigning, and one object PUT with the retry policy around it.
//
// A CLOUD run is created by the server (POST /api/runs), which picks its id and
// returns its capability {runId, token, expires, renewAfter}. The token goes in
// a header, never in a URL, with every presign. Each URL is write-once
// (If-None-Match: *) and bound to the object's size and CRC32C, so a retried
// part can never land twice: a retry of a PUT whose answer was lost gets 412,
// and the part counts as uploaded only if the server confirms that the stored
// object is this very one.

import { EVENTS_STREAM, RUN_TOKEN_HEADER } from './bucket_layout.js';

export const RETRY = { baseMs: 250, capMs: 4000, maxElapsedMs: 30_000 };

export class UploadError extends Error {
  constructor(message, status = 0, retryAfterS = 0) {
    super(message);
    this.status = status;
    this.retryAfterMs = retryAfterS * 1000;
  }

  // 4xx other than timeout/throttling means the request itself is wrong: retrying cannot help.
  get retryable() {
    return !(this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429);
  }
}

// Seconds an answer (a 429) asks the client to wait, or 0. The bucket is another origin: its
// CORS rule must expose Retry-After, or the logger sees no header and backs off as usual.
const retryAfterS = (res) => Number(res.headers.get('Retry-After')) || 0;

async function post(api, path, { body = {}, headers = {} } = {}) {
  let res;
  try {
    res = await fetch(`${api}/${path}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body),
    });
  } catch (e) {
    throw new UploadError(`${path}: ${e.message}`); // the API is unreachable: worth retrying
  }
  const reply = await res.json().catch(() => ({}));
  if (!res.ok && res.status !== 409) {
    throw new UploadError(`${path}: HTTP ${res.status} ${reply.error ?? ''}`.trim(), res.status, retryAfterS(res));
  }
  return { status: res.status, reply };
}

const runAuth = (cap) => ({ [RUN_TOKEN_HEADER]: cap.token });

// POST /api/runs, with the API token (if the server wants one) as a bearer header.
export async function createRun(api, apiToken) {
  const { status, reply } = await post(api, 'runs', { headers: apiToken ? { Authorization: `Bearer ${apiToken}` } : {} });
  if (status !== 201) throw new UploadError(`runs: HTTP ${status} ${reply.error ?? ''}`.trim(), status);
  return reply;
}

// Past half its life a capability is renewed in place, so everyone holding it sees the new token.
export async function renewIfDue(api, cap) {
  if (Date.now() / 1000 < cap.renewAfter) return false;
  Object.assign(cap, (await post(api, 'runs/renew', { headers: runAuth(cap) })).reply);
  return true;
}

// object: {runId, stream?, part, bytes, crc32c (8 hex)}
async function presign(api, cap, object) {
  const { status, reply } = await post(api, 'presign', { body: object, headers: runAuth(cap) });
  return status === 409 ? { sealed: reply.error } : reply;
}

// The key already holds an object (412, or a sealed run): done only if it is this one.
async function confirmStored(api, cap, object, why) {
  const { status, reply } = await post(api, 'confirm', { body: object, headers: runAuth(cap) });
  if (status !== 200) throw new UploadError(`PUT ${label(object)}: ${why}, and ${reply.error}`, 409);
}

// Once a run's manifest is in the bucket, the server reads it from there and
// adds the run to the bucket's catalogue (runs/catalogue.json). Best effort:
// `vpslog ls` catalogues a run whose news never arrived (a tab that died).
async function landed(api, cap) {
  const { reply } = await post(api, 'seal', { body: { runId: cap.runId }, headers: runAuth(cap) }).catch((e) => ({ reply: { error: e.message } }));
  return reply;
}

// What a PUT is of, in messages: the events' part number as always, another stream's part as stream/number.
const label = ({ stream = EVENTS_STREAM, part }) => (stream === EVENTS_STREAM || part === 'manifest' ? `${part}` : `${stream}/${part}`);

// target: {stream, part} of a part (a part number), or {part: 'manifest'}; body: what the
// key is to hold, and crc32c its CRC32C (8 hex), which the URL signs.
export async function putOnce(api, cap, target, body, crc32c) {
  await storeOnce(api, cap, target, body, crc32c);
  if (target.part === 'manifest') return landed(api, cap);
  return null;
}

async function storeOnce(api, cap, { stream, part }, body, crc32c) {
  const object = { runId: cap.runId, ...(part === 'manifest' ? {} : { stream }), part, bytes: body.size ?? body.byteLength, crc32c };
  const p = await presign(api, cap, object);
  if (p.sealed) return confirmStored(api, cap, object, p.sealed);
  let res;
  try {
    // Content-Length follows from the body; the signed headers must be sent as signed
    res = await fetch(p.url, { method: 'PUT', headers: p.headers, body });
  } catch (e) {
    throw new UploadError(`PUT ${label(object)}: ${e.message}`); // network error, endpoint down
  }
  if (res.status === 412) return confirmStored(api, cap, object, 'already stored');
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).slice(0, 300);
    throw new UploadError(`PUT ${label(object)}: HTTP ${res.status} ${/<Code>(.*?)<\/Code>/.exec(text)?.[1] ?? ''}`.trim(), res.status, retryAfterS(res));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Capped exponential backoff with full jitter (at least what a 429 asks for),
// until maxElapsedMs is spent. Resolves {ok, attempts, error, landed (a manifest: the server's catalogue reply)}; `onRetry` is told about every retry.
export async function putWithRetry(api, cap, target, body, crc32c, { retry = RETRY, onRetry = () => {} } = {}) {
  const t0 = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const landedReply = await putOnce(api, cap, target, body, crc32c);
      return { ok: true, attempts: attempt, error: null, landed: landedReply };
    } catch (e) {
      const wait = Math.max(e.retryAfterMs ?? 0, Math.random() * Math.min(retry.capMs, retry.baseMs * 2 ** attempt));
      const error = e.message ?? String(e);
      if (!(e instanceof UploadError && e.retryable) || performance.now() - t0 + wait > retry.maxElapsedMs) {
        return { ok: false, attempts: attempt, error };
      }
      onRetry(error);
      await sleep(wait);
    }
  }
}
