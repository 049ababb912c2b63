"""Run capabilities and per-token bounds of the presign API.

A run is created by the server (``POST /api/runs``), which chooses its id and
hands its creator a capability: ``<runId>.<expiry>.<owner>.<mac>``, the MAC an
HMAC-SHA256 with the server's run secret over the other three fields. Only the
holder can presign keys of that run, until the expiry; the holder may renew it.
Nothing is stored per token, so any number of runs costs no server state
beyond the rate windows below.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import math
import threading
import time

from ..store import RUN_TOKEN_HEADER
from .presign import RUN_ID


class AuthError(Exception):
    """A request the API refuses: ``status`` 401 (no or dead credential) or 403 (not yours)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def token_id(token: str) -> str:
    """What the audit log names a token by: a short hash, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class RunTokens:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        self.secret = secret
        self.ttl_s = ttl_s

    def _mac(self, run_id: str, expires: int, owner: str) -> str:
        mac = hmac.new(self.secret, f"vpslog-run-v1|{run_id}|{expires}|{owner}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def issue(self, run_id: str, owner: str, now: float | None = None) -> dict:
        now = int(now or time.time())
        expires = now + self.ttl_s
        token = f"{run_id}.{expires}.{owner}.{self._mac(run_id, expires, owner)}"
        # the holder renews past half-life, so a renewal failure leaves time to retry
        return {"runId": run_id, "token": token, "expires": expires, "renewAfter": now + self.ttl_s // 2}

    def verify(self, token: str | None, run_id: str | None = None) -> tuple[str, str]:
        """(run id, owner) of a valid, unexpired token for ``run_id`` (when given); AuthError otherwise."""
        if not token:
            raise AuthError(401, f"no run token ({RUN_TOKEN_HEADER})")
        parts = token.split(".")
        if len(parts) != 4 or not RUN_ID.fullmatch(parts[0]) or not parts[1].isdigit():
            raise AuthError(401, "malformed run token")
        tok_run, expires, owner, mac = parts[0], int(parts[1]), parts[2], parts[3]
        if not hmac.compare_digest(mac, self._mac(tok_run, expires, owner)):
            raise AuthError(403, "run token not issued by this server")
        if time.time() >= expires:
            raise AuthError(401, "run token expired")
        if run_id is not None and run_id != tok_run:
            raise AuthError(403, f"run token is for another run, not {run_id}")
        return tok_run, owner


class Limiter:
    """At most ``limit`` events per ``window_s`` per key (sliding log): None, or seconds to wait."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self.events: dict[str, collections.deque] = {}
        self.lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> int | None:
        now = time.monotonic() if now is None else now
        with self.lock:
            q = self.events.setdefault(key, collections.deque())
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return max(1, math.ceil(q[0] + self.window_s - now))
            q.append(now)
            if len(self.events) > 10_000:  # forget idle keys, so memory stays bounded
                for k in [k for k, v in self.events.items() if not v or v[-1] <= now - self.window_s]:
                    del self.events[k]
            return None


class StreamNames:
    """The streams each run has had parts presigned for, at most ``limit`` (a run's streams,
    layouts.json): a run's uploads stay bounded at parts per stream × streams, however many
    names its holder makes up. Kept per process, like the rate windows, for the newest
    ``runs`` runs."""

    def __init__(self, limit: int, runs: int = 10_000) -> None:
        self.limit, self.runs_kept = limit, runs
        self.runs: dict[str, set[str]] = {}
        self.lock = threading.Lock()

    def take(self, run_id: str, stream: str) -> bool:
        with self.lock:
            seen = self.runs.setdefault(run_id, set())
            if stream not in seen and len(seen) >= self.limit:
                return False
            seen.add(stream)
            if len(self.runs) > self.runs_kept:
                del self.runs[next(iter(self.runs))]
            return True
