"""The API the page and the logger worker call (JSON over HTTP, bodies <= 4 KiB).

- ``POST /api/runs`` (``Authorization: Bearer <API token>`` when tokens are
  configured) -> 201 ``{runId, token, expires, renewAfter}``: the server picks
  the run id; ``token`` is the run's capability.
- ``POST /api/runs/renew`` (run token) -> a fresh capability for the same run.
- ``POST /api/presign {runId, stream?, part, bytes, crc32c}`` (run token) ->
  ``{url, key, method, headers, expires}``: a write-once PUT of exactly that size and CRC32C,
  of the part of ``stream`` (a stream name; none: events), or of the run's manifest.
- ``POST /api/confirm {runId, stream?, part, bytes, crc32c}`` (run token) -> 200 if the
  bucket holds exactly that object (how a client settles a 412 after a lost answer), else 409.
- ``POST /api/seal {runId}`` (run token) -> 200 ``{catalogued, status, problem}`` once the
  run's manifest is in the bucket (409 before): the server reads that manifest itself and
  adds the run to ``runs/catalogue.json`` (compare-and-swap), so ``vpslog ls`` costs one GET.

The run token travels in the ``X-Vpslog-Run-Token`` header, never in a URL.
Every decision is written to the audit log (logger ``vpslog.audit``, one JSON
object a line): the run, part, a short hash of the token, allowed or refused, why.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time

from ..layout import MAX_STREAMS
from ..runs import catalogue_landed
from ..manifest import new_run_id
from ..store import EVENTS_STREAM, RUN_TOKEN_HEADER, manifest_key
from ._http import Handler
from .presign import LayoutError, Presigner, key_for
from .runs import AuthError, Limiter, RunTokens, StreamNames, token_id

BODY_LIMIT = 4096
audit_log = logging.getLogger("vpslog.audit")


class Refused(Exception):
    def __init__(self, status: int, why: str, code: str = "", retry_after: int | None = None) -> None:
        super().__init__(why)
        self.status, self.code, self.retry_after = status, code, retry_after


class Api:
    """The decisions, apart from HTTP: each method returns (status, body) or raises Refused."""

    def __init__(self, presigner: Presigner, settings) -> None:
        self.presigner = presigner
        self.settings = settings
        self.tokens = RunTokens(settings.run_secret, settings.run_token_ttl_s)
        self.runs_per_owner = Limiter(settings.runs_per_hour, 3600)
        self.presigns_per_run = Limiter(settings.presigns_per_minute, 60)
        self.streams_per_run = StreamNames(MAX_STREAMS)
        # This server's own catalogue updates go one at a time; the object's
        # compare-and-swap keeps them right beside other servers and `vpslog ls`.
        self.catalogue_lock = threading.Lock()

    def owner(self, authorization: str | None) -> str:
        """Who creates a run: the short hash of a configured API token, or 'open' without any."""
        if not self.settings.api_tokens:
            return "open"
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Refused(401, "an API token is required (Authorization: Bearer <token>)", "Unauthorized")
        given = given.strip()
        # compare with every token, so timing does not tell which prefix matched
        if not any([hmac.compare_digest(given.encode(), t.encode()) for t in self.settings.api_tokens]):
            raise Refused(403, "this API token is not accepted", "Forbidden")
        return token_id(given)

    def create_run(self, authorization) -> tuple[int, dict]:
        owner = self.owner(authorization)
        wait = self.runs_per_owner.take(owner)
        if wait:
            raise Refused(429, f"more than {self.settings.runs_per_hour} runs in an hour for this API token",
                          "SlowDown", wait)
        return 201, self.tokens.issue(new_run_id(), owner)

    def run_of(self, run_token, run_id=None) -> tuple[str, str]:
        try:
            return self.tokens.verify(run_token, run_id)
        except AuthError as e:
            raise Refused(e.status, str(e), "Unauthorized" if e.status == 401 else "Forbidden") from None

    def renew(self, run_token) -> tuple[int, dict]:
        run_id, owner = self.run_of(run_token)
        return 200, self.tokens.issue(run_id, owner)

    def presign(self, run_token, req: dict) -> tuple[int, dict]:
        run_id, part, stream = req.get("runId"), req.get("part"), req.get("stream")
        self.run_of(run_token, run_id)
        key_for(run_id, part, stream)
        self.presigner.check_body(part, req.get("bytes"), req.get("crc32c"))
        if part != "manifest" and part > self.settings.max_parts_per_run:
            raise Refused(429, f"a run's stream has at most {self.settings.max_parts_per_run} parts", "SlowDown",
                          self.settings.run_token_ttl_s)
        self.throttle(run_id)
        if self.presigner.sealed(run_id):
            raise Refused(409, f"run {run_id} is complete (its manifest is in the bucket): nothing more is signed",
                          "RunSealed")
        # last: a request refused above takes none of the run's stream slots
        if part != "manifest" and not self.streams_per_run.take(run_id, stream or EVENTS_STREAM):
            raise Refused(400, f"run {run_id} already has parts of {MAX_STREAMS} streams, as many as a run holds: "
                          f"no part of stream {stream} is signed", "InvalidRequest")
        return 200, self.presigner.presign_put(run_id, part, req["bytes"], req["crc32c"], stream)

    def throttle(self, run_id: str) -> None:
        """Presigns and confirms (each may read an object back) share one window per run."""
        wait = self.presigns_per_run.take(run_id)
        if wait:
            raise Refused(429, f"more than {self.settings.presigns_per_minute} presigns a minute for this run",
                          "SlowDown", wait)

    def confirm(self, run_token, req: dict) -> tuple[int, dict]:
        run_id = req.get("runId")
        self.run_of(run_token, run_id)
        self.throttle(run_id)
        ok, why = self.presigner.stored(run_id, req.get("part"), req.get("bytes"), req.get("crc32c"), req.get("stream"))
        return (200, {"stored": True}) if ok else (409, {"stored": False, "error": why})

    def seal(self, run_token, req: dict) -> tuple[int, dict]:
        run_id = req.get("runId")
        self.run_of(run_token, run_id)
        self.throttle(run_id)
        if not self.presigner.sealed(run_id):
            return 409, {"catalogued": False, "error": f"{manifest_key(run_id)} is not in the bucket"}
        with self.catalogue_lock:
            row = catalogue_landed(self.presigner.reader, self.settings.bucket, run_id)
        return 200, {"catalogued": row["catalogued"], "status": row["status"], "problem": row["problem"]}


def make_handler(presigner: Presigner, allowed_origins, settings=None):
    api = Api(presigner, settings or presigner.settings)
    routes = {"/api/runs": "create_run", "/api/runs/renew": "renew", "/api/presign": "presign", "/api/confirm": "confirm",
              "/api/seal": "seal"}

    class ApiHandler(Handler):
        def do_OPTIONS(self) -> None:
            self.send_response(204)
            self.cors_headers()
            self.send_header("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", f"Content-Type, Authorization, {RUN_TOKEN_HEADER}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            if self.path == "/api/health":
                self.reply_json(200, {"ok": True, "bucket": presigner.settings.bucket, "auth": bool(api.settings.api_tokens)})
            else:
                self.reply_json(404, {"error": f"no such endpoint {self.path}"})

        def do_POST(self) -> None:
            action = routes.get(self.path)
            if action is None:
                self.reply_json(404, {"error": f"no such endpoint {self.path}"})
                return
            run_token = self.headers.get(RUN_TOKEN_HEADER)
            credential = run_token if action != "create_run" else (self.headers.get("Authorization") or "").partition(" ")[2]
            entry = {"t": round(time.time(), 3), "action": action, "token": token_id(credential) if credential else None}
            headers = []
            try:
                try:
                    req = json.loads(self.read_body(BODY_LIMIT) or b"{}")
                except ValueError as e:
                    self.close_connection = True
                    raise LayoutError(f"body: {e}") from None
                if not isinstance(req, dict):
                    raise LayoutError("body must be a JSON object")
                entry.update(run=req.get("runId"), part=req.get("part"), **({"stream": req["stream"]} if "stream" in req else {}))
                if action == "create_run":
                    status, body = api.create_run(self.headers.get("Authorization"))
                    entry["run"] = body["runId"]
                elif action == "renew":
                    status, body = api.renew(run_token)
                else:
                    status, body = getattr(api, action)(run_token, req)
                    entry["bytes"] = req.get("bytes")
                why = body.get("error", "")
            except Refused as e:
                status, why, body = e.status, str(e), {"error": str(e), "code": e.code}
                if e.retry_after:
                    headers.append(("Retry-After", str(e.retry_after)))
                if status == 401:
                    headers.append(("WWW-Authenticate", "Bearer"))
            except LayoutError as e:
                status, why, body = 400, str(e), {"error": str(e), "code": e.code}
            entry.update(decision="allowed" if status < 300 else "refused", status=status, why=why)
            audit_log.info(json.dumps(entry))
            self.reply(status, json.dumps(body).encode(), headers=headers)

    ApiHandler.allowed_origins = tuple(allowed_origins)
    return ApiHandler
