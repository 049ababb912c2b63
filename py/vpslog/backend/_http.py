"""Small shared pieces of the backend's HTTP servers (standard library)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    allowed_origins: tuple[str, ...] = ()

    def log_message(self, *args) -> None:  # quiet: tests and the dev console read stdout
        pass

    def cors_headers(self) -> None:
        origin = self.headers.get("Origin")
        if origin and (origin in self.allowed_origins or "*" in self.allowed_origins):
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")
            self.send_header("Access-Control-Expose-Headers", "ETag")

    def reply(self, status: int, body: bytes = b"", content_type: str = "application/json", headers=()) -> None:
        self.send_response(status)
        self.cors_headers()
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status: int, value) -> None:
        self.reply(status, json.dumps(value).encode())

    def read_body(self, limit: int = 1 << 20, pace=None, slice_bytes: int = 64 << 10) -> bytes:
        """The request body; ``pace(n)``, if given, is called before each slice of n bytes is read
        (a throttled link), so the sender is held back by TCP as by a slow uplink."""
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            raise ValueError(f"body of {n} bytes is over {limit}")
        if pace is None:
            return self.rfile.read(n)
        slices = []
        while n > 0:
            pace(min(n, slice_bytes))
            piece = self.rfile.read(min(n, slice_bytes))
            if not piece:
                break
            slices.append(piece)
            n -= len(piece)
        return b"".join(slices)


def start(handler_cls, port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_cls)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
