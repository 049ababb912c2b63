// One object PUT to a freshly presigned URL, and the retry policy around it.
// Every attempt asks the backend for a new URL: URLs are short-lived, and a
// part's key is fixed, so a retried part overwrites itself and never doubles.

export const RETRY = { baseMs: 250, capMs: 4000, maxElapsedMs: 30_000 };

export async function presign(api, runId, part) {
  const res = await fetch(`${api}/presign`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ runId, part }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new UploadError(`presign ${part}: HTTP ${res.status} ${body.error ?? ''}`.trim(), res.status);
  return body;
}

export class UploadError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }

  // 4xx other than timeout/throttling means the request itself is wrong: retrying cannot help.
  get retryable() {
    return !(this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429);
  }
}

export async function putOnce(api, runId, part, body) {
  const { url } = await presign(api, runId, part);
  let res;
  try {
    res = await fetch(url, { method: 'PUT', body });
  } catch (e) {
    throw new UploadError(`PUT ${part}: ${e.message}`); // network error, endpoint down
  }
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).slice(0, 300);
    throw new UploadError(`PUT ${part}: HTTP ${res.status} ${/<Code>(.*?)<\/Code>/.exec(text)?.[1] ?? ''}`.trim(), res.status);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Capped exponential backoff with full jitter, until maxElapsedMs is spent.
// Resolves {ok, attempts, error}; `onRetry` is told about every retry.
export async function putWithRetry(api, runId, part, body, { retry = RETRY, onRetry = () => {} } = {}) {
  const t0 = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await putOnce(api, runId, part, body);
      return { ok: true, attempts: attempt, error: null };
    } catch (e) {
      const wait = Math.random() * Math.min(retry.capMs, retry.baseMs * 2 ** attempt);
      const error = e.message ?? String(e);
      if (!(e instanceof UploadError && e.retryable) || performance.now() - t0 + wait > retry.maxElapsedMs) {
        return { ok: false, attempts: attempt, error };
      }
      onRetry(error);
      await sleep(wait);
    }
  }
}
