"""``vpslog serve``: the presign API, plus a local S3 endpoint when none is configured."""

from __future__ import annotations

import json
import signal
import sys
import threading

from . import _http
from .settings import Settings


def serve(port: int = 8787, gateway_port: int = 0, ready=print) -> None:
    settings = Settings.from_env()
    info = {"bucket": settings.bucket, "allowed_origins": list(settings.allowed_origins)}
    if settings.endpoint is None:
        from .gateway import Faults, make_handler as gateway_handler
        from .local_s3 import create_bucket, start_moto

        _, moto_url = start_moto()
        create_bucket(settings, moto_url)
        faults = Faults()
        gw = _http.start(gateway_handler(("127.0.0.1", int(moto_url.rsplit(":", 1)[1])),
                                         {settings.access_key_id: settings.secret_access_key}, faults,
                                         settings.allowed_origins), gateway_port)
        endpoint = f"http://127.0.0.1:{gw.server_address[1]}"
        info.update(s3_endpoint=endpoint, upstream=moto_url, local=True)
    else:
        endpoint = settings.endpoint
        info.update(s3_endpoint=endpoint, local=False)
    from .api import make_handler as api_handler
    from .presign import Presigner

    api = _http.start(api_handler(Presigner(settings, endpoint), settings.allowed_origins), port)
    info["api"] = f"http://127.0.0.1:{api.server_address[1]}/api"
    ready(json.dumps(info), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    sys.exit(0)
