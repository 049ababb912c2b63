"""A verifying gateway in front of a local S3 server, for tests.

moto 5.2 (like s3rver) accepts tampered, expired and wrong-key presigned URLs,
a request without the headers the URL signed (so a signed ``If-None-Match: *``
can simply be left out), a body longer than the signed ``Content-Length``, and
a body whose CRC32C is not the signed ``x-amz-checksum-crc32c``. It does refuse
``If-None-Match: *`` on an existing key (412) when the header is sent. This
proxy enforces the rest as S3 and R2 do: it recomputes each presigned URL's
SigV4 signature with botocore over the headers the URL lists as signed (each
must be present, with the signed value), checks the expiry, refuses unsigned
``x-amz-*`` headers, and checks the body's CRC32C (400 BadDigest) before
forwarding, so the tests prove that presigning really binds what it signs.
It is also where faults are injected (``POST /__vpslog/faults``): fail a share of
PUTs with 503, or with 429 and ``Retry-After`` (counting any PUT of that key that
comes back sooner), answer PUTs of chosen keys with a fixed status
(``put_status_for``: key suffix -> status, e.g. 403), store a PUT and then answer
500 (a share of PUTs, or chosen keys), drop every connection for a while, or
throttle every upload to one constrained uplink (``throttle_mbit``: all request
bodies together, read at that rate). Error answers carry CORS headers (exposing
``Retry-After``), or the browser would only see "Failed to fetch".
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import threading
import time
import urllib.parse
from datetime import datetime, timezone

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ._http import Handler

MAX_BODY = 64 << 20  # a local stand-in for S3's single-PUT limit (5 GiB): parts are 5 MiB
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self, **kw) -> dict:
        with self.lock:
            self.put_fail_rate = float(kw.get("put_fail_rate", 0))
            self.store_then_fail_rate = float(kw.get("store_then_fail_rate", 0))
            self.store_then_fail_for = tuple(kw.get("store_then_fail_for", ()))
            self.put_429_rate = float(kw.get("put_429_rate", 0))
            self.retry_after_s = int(kw.get("retry_after_s", 1))
            self.held_until: dict[str, float] = {}  # key -> when its last 429 lets it be PUT again
            self.put_status_for = {suffix: int(status) for suffix, status in kw.get("put_status_for", {}).items()}
            self.refuse_until = time.monotonic() + float(kw.get("refuse_for_s", 0))
            self.throttle_mbit = float(kw.get("throttle_mbit", 0))
            self.uplink_free_at = time.monotonic()
            self.rng = random.Random(kw.get("seed", 0))
            self.stats = {"puts_ok": 0, "put_failed_503": 0, "stored_then_500": 0, "refused": 0,
                          "signature_rejected": 0, "expired_rejected": 0, "unsigned_rejected": 0,
                          "digest_rejected": 0, "too_large_rejected": 0, "precondition_failed": 0,
                          "put_429": 0, "put_before_retry_after": 0, "put_status_injected": 0}
            return self.describe()

    def describe(self) -> dict:
        return {"put_fail_rate": self.put_fail_rate, "store_then_fail_rate": self.store_then_fail_rate,
                "store_then_fail_for": list(self.store_then_fail_for), "put_429_rate": self.put_429_rate,
                "retry_after_s": self.retry_after_s, "put_status_for": dict(self.put_status_for),
                "refusing_for_s": max(0.0, self.refuse_until - time.monotonic()), "throttle_mbit": self.throttle_mbit,
                "stats": dict(self.stats)}

    def count(self, key: str) -> None:
        with self.lock:
            self.stats[key] += 1

    def uplink(self, n: int) -> None:
        """Wait until ``n`` more bytes fit through the throttled uplink, which every connection
        shares: each slice takes the link for n*8/rate seconds, after the slices booked before it."""
        with self.lock:
            if not self.throttle_mbit:
                return
            now = time.monotonic()
            self.uplink_free_at = max(self.uplink_free_at, now) + n * 8 / (self.throttle_mbit * 1e6)
            wait = self.uplink_free_at - now
        time.sleep(wait)

    def draw(self, rate: float) -> bool:
        with self.lock:
            return rate > 0 and self.rng.random() < rate

    def arrived(self, key: str) -> None:
        """A PUT of ``key`` arrived: count it if a 429 asked to wait longer before it."""
        with self.lock:
            if time.monotonic() < self.held_until.get(key, 0):
                self.stats["put_before_retry_after"] += 1

    def hold(self, key: str) -> None:
        """``key`` is answered 429 now, asking for ``retry_after_s`` of quiet."""
        with self.lock:
            self.stats["put_429"] += 1
            self.held_until[key] = time.monotonic() + self.retry_after_s

    def status_for(self, key: str) -> int | None:
        return next((s for suffix, s in self.put_status_for.items() if key.endswith(suffix)), None)


def verify_presigned(method: str, host: str, path_qs: str, keys: dict[str, str], headers=None) -> str | None:
    """Why a presigned request is not acceptable, or None. ``headers``: the request's, by lower-case name."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    u = urllib.parse.urlsplit(path_qs)
    q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
    try:
        signature = q["X-Amz-Signature"]
        amz_date = q["X-Amz-Date"]
        expires = int(q["X-Amz-Expires"])
        access_key, _, region, service, _ = q["X-Amz-Credential"].split("/")
        signed_names = q["X-Amz-SignedHeaders"].split(";")
    except (KeyError, ValueError):
        return "AccessDenied: not a presigned SigV4 URL"
    if access_key not in keys:
        return "InvalidAccessKeyId: unknown access key"
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    if time.time() > signed_at + expires:
        return "AccessDenied: Request has expired"
    headers["host"] = host
    missing = [n for n in signed_names if n not in headers]
    if missing:
        return f"AccessDenied: signed header(s) {', '.join(missing)} not sent"
    unsigned = [n for n in headers if n.startswith("x-amz-") and n not in signed_names]
    if unsigned:
        return f"AccessDenied: There were headers present in the request which were not signed: {', '.join(unsigned)}"
    req = AWSRequest(method=method, url=f"http://{host}{u.path}", headers={n: headers[n] for n in signed_names})
    auth = S3SigV4QueryAuth(Credentials(access_key, keys[access_key]), service, region, expires=expires)
    req.context["timestamp"] = amz_date
    auth._modify_request_before_signing(req)
    # every query parameter the client sent (except the signature) must be what was signed
    sent = {k: v for k, v in q.items() if k != "X-Amz-Signature"}
    signed = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(req.url).query, keep_blank_values=True))
    if sent != signed:
        return "SignatureDoesNotMatch: unexpected query parameters"
    expected = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
    return None if expected == signature else "SignatureDoesNotMatch"


def check_digest(headers, body: bytes | None) -> str | None:
    """S3 checks a sent x-amz-checksum-crc32c against the body it received; moto does not."""
    import crc32c

    sent = headers.get("x-amz-checksum-crc32c")
    if sent is None or body is None:
        return None
    actual = base64.b64encode(crc32c.crc32c(body).to_bytes(4, "big")).decode()
    return None if sent == actual else "BadDigest: The CRC32C you specified did not match the calculated checksum."


def make_handler(upstream: tuple[str, int], keys: dict[str, str], faults: Faults, allowed_origins):
    class GatewayHandler(Handler):
        def refused(self) -> bool:
            """While "down", drop the connection without a response (the admin path stays up)."""
            if time.monotonic() >= faults.refuse_until or self.path.startswith("/__vpslog/"):
                return False
            faults.count("refused")
            self.close_connection = True  # the browser sees a network error, as with a dead endpoint
            return True

        def s3_error(self, status: int, why: str, headers=()) -> None:
            code, _, message = why.partition(": ")
            body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message or code}</Message></Error>"
            self.reply(status, body.encode(), "application/xml", headers)

        def admin(self) -> None:
            if self.command == "POST":
                self.reply_json(200, faults.reset(**json.loads(self.read_body() or b"{}")))
            else:
                self.reply_json(200, faults.describe())

        def forward(self, body: bytes | None) -> tuple[int, list, bytes]:
            conn = http.client.HTTPConnection(*upstream, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_HEADERS | {"content-length"}], data

        def relay(self, status, headers, data) -> None:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            if self.command != "OPTIONS" and not any(k.lower() == "access-control-allow-origin" for k, _ in headers):
                self.cors_headers()  # S3 sends them with its errors too (a 412); moto does not
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_OPTIONS(self) -> None:  # CORS preflight: the bucket's CORS rules answer it
            if not self.refused():
                self.relay(*self.forward(None))

        def s3(self) -> None:
            if self.refused():
                return
            if self.path.startswith("/__vpslog/faults"):
                self.admin()
                return
            key = urllib.parse.urlsplit(self.path).path
            if self.command == "PUT":
                faults.arrived(key)
            try:
                body = self.read_body(MAX_BODY, pace=faults.uplink) if self.command == "PUT" else None
            except ValueError as e:
                faults.count("too_large_rejected")
                self.close_connection = True  # the unread body must not be taken for the next request
                self.s3_error(400, f"EntityTooLarge: {e}")
                return
            why = verify_presigned(self.command, self.headers.get("Host", ""), self.path, keys, dict(self.headers.items()))
            if why:
                faults.count("expired_rejected" if "expired" in why else
                             "unsigned_rejected" if "not a presigned" in why else "signature_rejected")
                self.s3_error(403, why)
                return
            why = check_digest(self.headers, body)
            if why:
                faults.count("digest_rejected")
                self.s3_error(400, why)
                return
            injected = self.command == "PUT" and faults.status_for(key)
            if injected:
                faults.count("put_status_injected")
                self.s3_error(injected, f"{http.client.responses[injected].replace(' ', '')}: injected fault")
                return
            if self.command == "PUT" and faults.draw(faults.put_429_rate):
                faults.hold(key)
                # as from a bucket whose CORS rule exposes Retry-After (the browser cannot read it otherwise)
                self.s3_error(429, "SlowDown: injected fault", [("Retry-After", str(faults.retry_after_s)),
                                                                ("Access-Control-Expose-Headers", "Retry-After")])
                return
            if self.command == "PUT" and faults.draw(faults.put_fail_rate):
                faults.count("put_failed_503")
                self.s3_error(503, "SlowDown: injected fault")
                return
            status, headers, data = self.forward(body)
            if self.command == "PUT" and 200 <= status < 300 and (
                    faults.draw(faults.store_then_fail_rate) or key.endswith(faults.store_then_fail_for)):
                faults.count("stored_then_500")
                self.s3_error(500, "InternalError: injected fault after storing")
                return
            if self.command == "PUT" and 200 <= status < 300:
                faults.count("puts_ok")
            if status == 412:
                faults.count("precondition_failed")
            self.relay(status, headers, data)

        do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = s3

    GatewayHandler.allowed_origins = tuple(allowed_origins)
    return GatewayHandler
