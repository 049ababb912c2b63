"""The presign API the logger worker calls: ``POST /api/presign {runId, part}``."""

from __future__ import annotations

import json

from ._http import Handler
from .presign import LayoutError, Presigner


def make_handler(presigner: Presigner, allowed_origins):
    class ApiHandler(Handler):
        def do_OPTIONS(self) -> None:
            self.send_response(204)
            self.cors_headers()
            self.send_header("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            if self.path == "/api/health":
                self.reply_json(200, {"ok": True, "bucket": presigner.settings.bucket})
            else:
                self.reply_json(404, {"error": f"no such endpoint {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/api/presign":
                self.reply_json(404, {"error": f"no such endpoint {self.path}"})
                return
            try:
                req = json.loads(self.read_body(4096) or b"null")
                if not isinstance(req, dict):
                    raise LayoutError("body must be a JSON object {runId, part}")
                self.reply_json(200, presigner.presign_put(req.get("runId"), req.get("part")))
            except (LayoutError, ValueError) as e:
                self.reply_json(400, {"error": str(e)})

    ApiHandler.allowed_origins = tuple(allowed_origins)
    return ApiHandler
