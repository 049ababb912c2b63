"""Shared by the browser tests and the benchmark: the Vite dev server and a
headless Debian Chromium that can only reach 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Belt and braces: anything not on loopback fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
LOCAL_SCHEMES = {"blob", "data", "about", "chrome-extension"}


def chromium_path() -> str:
    path = os.environ.get("VPSLOG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Chromium not found: run scripts/setup.sh or set VPSLOG_CHROMIUM")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def backend(allowed_origin: str, env: dict | None = None):
    """`vpslog serve` as `npm start` runs it: presign API + local S3 behind the verifying gateway.
    Yields its ready line: {api, s3_endpoint (gateway), upstream (moto), bucket}, plus `log`,
    the file that receives its stderr (warnings and the audit trail). `env` adds settings."""
    env = {**os.environ, "VPSLOG_ALLOWED_ORIGINS": allowed_origin, **(env or {})}
    for k in ("VPSLOG_S3_ENDPOINT", "VPSLOG_S3_ACCESS_KEY_ID", "VPSLOG_S3_SECRET_ACCESS_KEY"):
        env.pop(k, None)
    with tempfile.NamedTemporaryFile(prefix="vpslog-serve-", suffix=".log") as log:
        proc = subprocess.Popen([str(REPO / ".venv/bin/vpslog"), "serve", "--port", str(free_port())],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            line = proc.stdout.readline()
            try:
                info = json.loads(line)
            except json.JSONDecodeError:
                proc.wait(10)
                raise RuntimeError(f"vpslog serve did not start: {line}{Path(log.name).read_text()}") from None
            yield {**info, "log": Path(log.name)}
        finally:
            proc.terminate()
            proc.wait(10)


def audit_lines(info: dict) -> list[dict]:
    """The audit trail `vpslog serve` has written so far."""
    return [json.loads(line[len("audit "):]) for line in info["log"].read_text().splitlines() if line.startswith("audit ")]


def run_cli(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """`vpslog ARGS...` in a fresh interpreter, with extra environment variables."""
    import sys

    return subprocess.run([sys.executable, "-m", "vpslog.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def s3_env(info: dict) -> dict:
    """Environment that points vpslog's S3 readers (CLI, Dask workers) at the local S3 behind `info`."""
    from vpslog.backend.settings import Settings

    local = Settings(None)
    return {"VPSLOG_S3_ENDPOINT": info["upstream"], "VPSLOG_S3_ACCESS_KEY_ID": local.access_key_id,
            "VPSLOG_S3_SECRET_ACCESS_KEY": local.secret_access_key, "VPSLOG_S3_BUCKET": info["bucket"]}


def fetch_verified(info: dict, run_id: str, dest) -> dict:
    """`vpslog fetch` of a CLOUD run from the local S3 behind `info` into ``dest``, then
    `vpslog verify --json` of the file it wrote; both must succeed. The verify report."""
    out = run_cli("fetch", f"s3://{info['bucket']}/runs/{run_id}", "--out", dest, env=s3_env(info))
    assert out.returncode == 0, out.stderr
    out = run_cli("verify", Path(dest) / f"{run_id}.bin", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def put_cloud_run(s3, bucket: str, run_id: str, bin_path, manifest: dict, part_records: int = 524_288,
                  with_manifest: bool = True, encoding: str = "raw") -> dict:
    """A local run uploaded the way the CLOUD sink stores one: each stream's parts of
    ``part_records`` records (encoded as ``encoding``) under its own keys, with their CRC32C,
    then the manifest. The other streams' files lie beside ``bin_path``, as simulate writes them."""
    import crc32c

    from vpslog.manifest import manifest_streams
    from vpslog.part_encoding import encode
    from vpslog.store import part_key

    every = []
    for s in manifest_streams(manifest):
        data = (Path(bin_path) if s.name == "events" else Path(bin_path).with_name(s.file)).read_bytes()
        size = s.layout.record_size
        parts = []
        for i, at in enumerate(range(0, len(data), part_records * size), start=1):
            body, key = data[at:at + part_records * size], part_key(run_id, i, s.name)
            stored = encode(body, encoding, size)
            s3.put_object(Bucket=bucket, Key=key, Body=stored)
            parts.append({"part": i, "key": key, "bytes": len(body), "records": len(body) // size,
                          "crc32c": f"{crc32c.crc32c(body):08x}", "encoding": encoding,
                          "stored_bytes": len(stored), "stored_crc32c": f"{crc32c.crc32c(stored):08x}"})
        every.append(parts)
    manifest = {**manifest, "run_id": run_id, "mode": "cloud", "parts": every[0]}
    if "streams" in manifest:
        manifest["streams"] = [{**e, "parts": parts} for e, parts in zip(manifest["streams"], every)]
    if with_manifest:
        s3.put_object(Bucket=bucket, Key=f"runs/{run_id}/manifest.json", Body=json.dumps(manifest).encode())
    return manifest


def set_faults(info: dict, faults: dict | None = None, **kw) -> dict:
    """Configure the gateway's fault injection (resets its counters)."""
    body = json.dumps({**(faults or {}), **kw}).encode()
    req = urllib.request.Request(f"{info['s3_endpoint']}/__vpslog/faults", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def wait_for(page, js: str, timeout_s: float, what: str, arg=None) -> None:
    """Wait until the page function ``js`` returns something truthy; if it does not within
    ``timeout_s``, fail saying ``what`` was awaited and what the logger's stats were then."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout_s * 1000, polling=250)
    except PlaywrightTimeout:
        stats = page.evaluate("({ ...(window.vpslog?.stats ?? {}), ageMs: Date.now() - (window.vpslog?.stats?.sentAt ?? 0) })")
        figures = {k: v for k, v in stats.items() if not isinstance(v, (list, dict))}  # not the per-part lists
        raise AssertionError(f"not within {timeout_s} s: {what} (the logger's stats then: {figures})") from None


def fault_stats(info: dict) -> dict:
    with urllib.request.urlopen(f"{info['s3_endpoint']}/__vpslog/faults", timeout=10) as r:
        return json.load(r)


@contextlib.contextmanager
def dev_server(port: int | None = None, api_origin: str | None = None):
    """The app's own dev server (the one `npm start` runs), on a free port,
    proxying /api to `api_origin` (a `vpslog serve`) when given."""
    port = port or free_port()
    log = tempfile.TemporaryFile()
    env = {**os.environ, **({"VPSLOG_API_ORIGIN": api_origin} if api_origin else {})}
    proc = subprocess.Popen(
        ["node", str(REPO / "node_modules/vite/bin/vite.js"), "--port", str(port), "--strictPort"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"vite did not start:\n{log.read().decode(errors='replace')}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


class OffHostGuard:
    """Records every request the browser (pages and workers) makes off 127.0.0.1."""

    def __init__(self, context) -> None:
        self.requests = 0
        self.off_host: list[str] = []
        context.on("request", self._seen)

    def _seen(self, request) -> None:
        self.requests += 1
        u = urlsplit(request.url)
        if u.scheme not in LOCAL_SCHEMES and u.hostname != "127.0.0.1":
            self.off_host.append(request.url)


@contextlib.contextmanager
def persistent_context(playwright, profile=None, **kwargs):
    """A persistent profile (a fresh one unless `profile` names a directory to
    reuse, e.g. to reopen the browser on the same OPFS): OPFS is ~25x faster
    than in an incognito context."""
    with contextlib.ExitStack() as stack:
        if profile is None:
            profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="vpslog-profile-"))
        ctx = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True,
            accept_downloads=True, **kwargs,
        )
        stack.callback(ctx.close)
        yield ctx


@contextlib.contextmanager
def app_page():
    """The whole app as `npm start` serves it (backend + dev server) in a fresh
    persistent Chromium profile: yields (page at the app, app URL) and fails
    if anything was requested off 127.0.0.1; ``page.backend`` is the backend's
    ready line (see :func:`backend`). For benchmarks run on their own."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    with backend(f"http://127.0.0.1:{port}") as api, dev_server(port, api["api"].removesuffix("/api")) as url, \
            sync_playwright() as p, persistent_context(p) as ctx:
        guard = OffHostGuard(ctx)
        page = ctx.new_page()
        page.backend = api
        page.goto(url)
        yield page, url
        assert not guard.off_host, guard.off_host
