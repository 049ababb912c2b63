"""``vpslog serve``: the presign API, plus a local S3 endpoint when none is configured."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading

from . import _http
from .settings import Settings

OPEN_API_WARNING = """\
{command}: *** THE API IS OPEN ***: no VPSLOG_API_TOKEN is set, so anyone who can reach
this server can create runs and upload to the bucket. Fine on 127.0.0.1 for development;
set VPSLOG_API_TOKEN for anything else."""


def check_exposure(settings: Settings, insecure_open_api: bool, command: str = "vpslog serve") -> None:
    """Refuse an open API in front of a real bucket; shout about it in local dev."""
    if settings.api_tokens:
        return
    if not settings.endpoint_is_local and not insecure_open_api:
        raise ValueError(f"refusing to serve an open API for {settings.endpoint}: set VPSLOG_API_TOKEN "
                         "(comma-separated tokens allowed), or pass --insecure-open-api if you really mean it")
    print(OPEN_API_WARNING.format(command=command), file=sys.stderr, flush=True)


def prepare(settings: Settings, insecure_open_api: bool, command: str) -> None:
    """What a server of the API (``vpslog serve``, ``vpslog app``) does before it listens: refuse or
    announce an open API, warn about a made-up run secret, send the audit trail to stderr."""
    check_exposure(settings, insecure_open_api, command)
    if settings.run_secret_generated:
        print(f"{command}: VPSLOG_RUN_SECRET is not set: run tokens are signed with a key made now, "
              "so a restart invalidates every run token (set it to keep them)", file=sys.stderr, flush=True)
    # the audit trail: one JSON line per API decision, on stderr (stdout carries the ready line)
    audit = logging.getLogger("vpslog.audit")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("audit %(message)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False


def local_s3(settings: Settings):
    """A local S3 (moto, in memory) holding the bucket, and the handler class of the verifying
    gateway in front of it: (gateway handler, moto's URL)."""
    from .gateway import Faults, make_handler as gateway_handler
    from .local_s3 import create_bucket, start_moto

    _, moto_url = start_moto()
    create_bucket(settings, moto_url)
    handler = gateway_handler(("127.0.0.1", int(moto_url.rsplit(":", 1)[1])),
                              {settings.access_key_id: settings.secret_access_key}, Faults(), settings.allowed_origins)
    return handler, moto_url


def serve(port: int = 8787, gateway_port: int = 0, insecure_open_api: bool = False, ready=print) -> None:
    settings = Settings.from_env()
    prepare(settings, insecure_open_api, "vpslog serve")

    info = {"bucket": settings.bucket, "allowed_origins": list(settings.allowed_origins), "auth": bool(settings.api_tokens)}
    direct = None
    if settings.endpoint is None:
        gateway, moto_url = local_s3(settings)
        gw = _http.start(gateway, gateway_port)
        endpoint, direct = f"http://127.0.0.1:{gw.server_address[1]}", moto_url
        info.update(s3_endpoint=endpoint, upstream=moto_url, local=True)
    else:
        endpoint = settings.endpoint
        info.update(s3_endpoint=endpoint, local=False)
    from .api import make_handler as api_handler
    from .presign import Presigner

    api = _http.start(api_handler(Presigner(settings, endpoint, direct), settings.allowed_origins), port)
    info["api"] = f"http://127.0.0.1:{api.server_address[1]}/api"
    ready(json.dumps(info), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    sys.exit(0)
