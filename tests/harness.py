"""Shared by the browser tests and the benchmark: the Vite dev server and a
headless Debian Chromium that can only reach 127.0.0.1."""

from __future__ import annotations

import contextlib
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
def dev_server():
    """The app's own dev server (the one `npm start` runs), on a free port."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        ["node", str(REPO / "node_modules/vite/bin/vite.js"), "--port", str(port), "--strictPort"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
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
def persistent_context(playwright, **kwargs):
    """A fresh persistent profile: OPFS is ~25x faster than in an incognito context."""
    with tempfile.TemporaryDirectory(prefix="vpslog-profile-") as profile:
        ctx = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True,
            accept_downloads=True, **kwargs,
        )
        try:
            yield ctx
        finally:
            ctx.close()
