"""``vpslog app``: the whole app from the installed package, on one origin and one port.

One standard-library HTTP server (``http.server``, a thread per connection; TLS and
HTTP/2 belong to the reverse proxy in front of it, see docs/production.md) answers:

- ``/`` and below: the built web app, ``vpslog/webapp/`` (in the wheel that
  scripts/build_wheel.py builds), cross-origin isolated (COOP/COEP) under a
  Content-Security-Policy; hashed assets cached for good, the rest revalidated by
  ETag; text and wasm sent gzipped as the build stored them;
- ``/api/``: the presign API of CLOUD mode (:mod:`vpslog.backend.api`);
- ``/s3/``: with no ``VPSLOG_S3_ENDPOINT``, the local S3 (moto, in memory) behind the
  verifying gateway. Presigned URLs name this origin, so the page's PUTs are
  same-origin: no CORS preflight, and the gateway checks the signature against
  the Host the browser sent;
- ``/csp-report``: what the Content-Security-Policy blocked, one line on stderr.

Requests must name this server in ``Host`` (127.0.0.1/localhost at its port, or the
``--public-url``): another name is a DNS-rebinding page, refused. The backend (boto3,
moto) starts in the background while the page is already served; /api and /s3 wait
for it. Without the ``backend`` extra the app still serves OPFS mode and says so.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import gzip
import json
import os
import signal
import sys
import threading
import urllib.parse
import webbrowser
from http.server import ThreadingHTTPServer
from pathlib import Path

from .. import __version__
from ._http import Handler
from .settings import Settings

WEBAPP = Path(__file__).resolve().parent.parent / "webapp"
S3_PREFIX = "/s3"
CSP_REPORT = "/csp-report"
BACKEND_EXTRA = "pip install 'vpslog[backend]'"
BACKEND_WAIT_S = 60
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".json": "application/json",
         ".map": "application/json", ".wasm": "application/wasm", ".zip": "application/zip", ".whl": "application/zip",
         ".svg": "image/svg+xml", ".png": "image/png", ".txt": "text/plain; charset=utf-8"}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class AppMissing(RuntimeError):
    pass


class Site:
    """The built app: ``files.json`` (written by the build) maps each URL path to its stored
    file, its size, ETag, whether it is stored gzipped and whether its name is its content."""

    def __init__(self, root: Path = WEBAPP) -> None:
        try:
            meta = json.loads((root / "files.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AppMissing(f"this vpslog ({Path(__file__).parent.parent}) has no built web app: install the wheel "
                             "that scripts/build_wheel.py builds, or run `npm start` in a clone") from None
        self.root = root
        self.files: dict[str, dict] = meta["files"]
        self.app_build: str = meta["app_build"]
        self.built_at = datetime.datetime.strptime(meta["built_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        self.last_modified = email.utils.format_datetime(self.built_at, usegmt=True)

    def body(self, entry: dict, gzipped: bool) -> bytes:
        data = (self.root / entry["file"]).read_bytes()
        return gzip.decompress(data) if entry["gzip"] and not gzipped else data

    def length(self, entry: dict, gzipped: bool) -> int:
        return (self.root / entry["file"]).stat().st_size if gzipped else entry["bytes"]


def installed_build() -> str | None:
    """The app build this package holds (``vpslog --version``), None without one."""
    try:
        return Site().app_build
    except AppMissing:
        return None


def accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            try:
                return not q.startswith("q=") or float(q[2:]) > 0
            except ValueError:
                return False
    return False


def content_security_policy(bucket_origin: str | None) -> str:
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",  # Pyodide compiles its WebAssembly
        "worker-src 'self'",
        # presigned PUTs go to this origin (/s3) or to the configured bucket's endpoint
        f"connect-src 'self'{' ' + bucket_origin if bucket_origin else ''}",
        "img-src 'self' data:",
        # style attributes (index.html's colour swatches, the histogram bars) cannot run script
        "style-src 'self'", "style-src-attr 'unsafe-inline'",
        "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
        f"report-uri {CSP_REPORT}",
    ])


def _origin(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    return f"{u.scheme}://{u.netloc}"


def _host_of(origin: str) -> str:
    """``Host`` as a browser sends it for ``origin`` (no default port)."""
    u = urllib.parse.urlsplit(origin)
    default = {"http": 80, "https": 443}.get(u.scheme)
    return u.hostname if u.port in (None, default) else f"{u.hostname}:{u.port}"


class Backend:
    """CLOUD mode's half of the app, started in the background: the presign API and, with no
    endpoint configured, the local S3 behind the gateway. ``error`` says why CLOUD mode is off."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.api = self.s3 = None
        self.error: str | None = None

    def start(self, settings: Settings, origin: str) -> None:
        threading.Thread(target=self._start, args=(settings, origin), name="vpslog-backend", daemon=True).start()

    def _start(self, settings: Settings, origin: str) -> None:
        try:
            from .api import make_handler as api_handler
            from .presign import Presigner
            from .serve import local_s3

            direct = None
            if settings.endpoint is None:
                gateway, direct = local_s3(settings)
                self.s3 = _under_prefix(gateway)
                endpoint = origin + S3_PREFIX
            else:
                endpoint = settings.endpoint
            self.api = api_handler(Presigner(settings, endpoint, direct), settings.allowed_origins)
        except ImportError as e:
            self.error = f"CLOUD mode is off: it needs the backend extra ({e.name} is not installed): {BACKEND_EXTRA}"
        except Exception as e:  # noqa: BLE001 -- whatever stops CLOUD mode is said; OPFS mode goes on
            self.error = f"CLOUD mode is off: {type(e).__name__}: {e}"
        finally:
            self.ready.set()
        if self.error:
            print(f"vpslog app: {self.error}", file=sys.stderr, flush=True)
        elif direct:
            print(f"vpslog app: CLOUD mode on: presign API at {origin}/api, bucket {settings.bucket} in a local S3 "
                  f"at {endpoint} (in memory: gone when the app stops). Read its runs with\n"
                  f"  VPSLOG_S3_ENDPOINT={direct} VPSLOG_S3_ACCESS_KEY_ID={settings.access_key_id} "
                  f"VPSLOG_S3_SECRET_ACCESS_KEY={settings.secret_access_key} vpslog ls s3://{settings.bucket}",
                  flush=True)
        else:
            print(f"vpslog app: CLOUD mode on: presign API at {origin}/api, bucket {settings.bucket} at {endpoint}",
                  flush=True)


def _under_prefix(gateway):
    class LocalS3(gateway):
        def forward(self, body):
            # the URL was signed for this origin's /s3/<bucket>/<key>; moto serves the bucket at its root
            self.path = self.path.removeprefix(S3_PREFIX)
            return super().forward(body)

    return LocalS3


def _has_display() -> bool:
    """A browser can be shown: on Linux without X or Wayland, `webbrowser` would run a text
    browser (lynx, w3m) in this terminal instead."""
    return sys.platform != "linux" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def make_handler(site: Site, backend: Backend, hosts: set[str], csp: str):
    refusal = (f"this server answers to {', '.join(sorted(hosts))} only (behind a proxy: vpslog app --public-url)\n"
               .encode())

    class AppHandler(Handler):
        def version_string(self) -> str:
            return "vpslog"

        def route(self) -> None:
            if self.headers.get("Host", "").lower() not in hosts:
                self.reply(421, refusal, "text/plain; charset=utf-8")
                return
            path = urllib.parse.urlsplit(self.path).path
            if path == "/api" or path.startswith("/api/"):
                self.mounted("api")
            elif path.startswith(S3_PREFIX + "/"):
                self.mounted("s3")
            elif path == CSP_REPORT and self.command == "POST":
                self.csp_report()
            elif self.command in ("GET", "HEAD"):
                self.static(path)
            else:
                self.reply(405, b"", "text/plain", headers=[("Allow", "GET, HEAD")])

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = route

        def mounted(self, part: str) -> None:
            """Answer with the API's or the gateway's own handler, on this connection."""
            if not backend.ready.wait(BACKEND_WAIT_S):
                self.reply_json(503, {"error": "CLOUD mode is still starting"})
                return
            if backend.error:
                self.reply_json(503, {"error": backend.error})
                return
            handler_cls = getattr(backend, part)
            if handler_cls is None:  # /s3 with VPSLOG_S3_ENDPOINT set: presigned URLs name that endpoint
                self.reply_json(404, {"error": "no local S3 here: runs go to the configured bucket"})
                return
            other = handler_cls.__new__(handler_cls)
            other.__dict__.update(self.__dict__)
            method = getattr(other, f"do_{self.command}", None)
            if method is None:
                self.reply_json(405, {"error": f"{self.command} is not served here"})
                return
            method()
            self.__dict__.update(other.__dict__)  # keep-alive state and the header buffer go on with us

        def csp_report(self) -> None:
            try:
                report = json.loads(self.read_body(16 << 10))
                line = json.dumps(report.get("csp-report", report), separators=(",", ":"))
            except (ValueError, AttributeError):
                self.close_connection = True
                line = "(unreadable report)"
            print(f"csp-violation {line}", file=sys.stderr, flush=True)
            self.reply(204)

        def static(self, path: str) -> None:
            entry = site.files.get(path + "index.html" if path.endswith("/") else path)
            if entry is None:
                self.reply(404, b"not found\n", "text/plain; charset=utf-8")
                return
            gzipped = entry["gzip"] and accepts_gzip(self.headers.get("Accept-Encoding", ""))
            etag = f'"{entry["etag"]}{"-gz" if gzipped else ""}"'
            headers = [
                ("Content-Type", TYPES.get(Path(entry["file"].removesuffix(".gz")).suffix, "application/octet-stream")),
                ("Cache-Control", IMMUTABLE if entry["immutable"] else REVALIDATE),
                ("ETag", etag), ("Last-Modified", site.last_modified),
                ("Cross-Origin-Opener-Policy", "same-origin"), ("Cross-Origin-Embedder-Policy", "require-corp"),
                ("Cross-Origin-Resource-Policy", "same-origin"), ("Content-Security-Policy", csp),
                ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
            ]
            if entry["gzip"]:
                headers.append(("Vary", "Accept-Encoding"))
            if self.not_modified(etag):
                self.send_response(304)
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                return
            if gzipped:
                headers.append(("Content-Encoding", "gzip"))
            self.send_response(200)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(site.length(entry, gzipped)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(site.body(entry, gzipped))

        def not_modified(self, etag: str) -> bool:
            match = self.headers.get("If-None-Match")
            if match is not None:
                tags = {t.strip().removeprefix("W/") for t in match.split(",")}
                return "*" in tags or etag in tags
            since = self.headers.get("If-Modified-Since")
            try:
                return since is not None and email.utils.parsedate_to_datetime(since) >= site.built_at
            except (TypeError, ValueError):
                return False

    return AppHandler


def run_app(port: int = 8765, host: str = "127.0.0.1", public_url: str | None = None, open_browser: bool = True,
            insecure_open_api: bool = False) -> None:
    """Serve until Ctrl-C (or SIGTERM). ValueError: bad settings; OSError: cannot listen; AppMissing."""
    from .serve import prepare

    site = Site()
    settings = Settings.from_env()
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    url = f"http://{shown}:{port}/"
    local = [f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://{shown}:{port}"]
    public = _origin(public_url) if public_url else None
    origins = list(dict.fromkeys(([public] if public else []) + local))
    if "VPSLOG_ALLOWED_ORIGINS" not in os.environ:
        settings = dataclasses.replace(settings, allowed_origins=tuple(origins))
    try:
        prepare(settings, insecure_open_api, "vpslog app")
    except ValueError:
        server.server_close()
        raise
    backend = Backend()
    backend.start(settings, public or local[0])
    hosts = {_host_of(o) for o in origins} | {f"[::1]:{port}"}
    server.RequestHandlerClass = make_handler(site, backend, hosts,
                                              content_security_policy(settings.endpoint and _origin(settings.endpoint)))
    print(f"vpslog app {__version__} (build {site.app_build}): {url}"
          + (f" (public: {public}/)" if public else ""), flush=True)
    if open_browser and _has_display():
        webbrowser.open(public or url)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a service stop ends like Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("vpslog app: stopped", file=sys.stderr, flush=True)
