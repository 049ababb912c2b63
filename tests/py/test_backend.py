"""The CLOUD backend over real HTTP: run creation and capabilities, the presign
API's key layout and bounds, the verifying gateway in front of the local S3
server (moto) enforcing what the URLs sign, fault injection, and `vpslog fetch`.

Every attack is checked twice: the status it gets, and that the bucket (read
from moto directly, behind the gateway) did not change."""

from http.client import HTTPConnection
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import crc32c
import pytest

import harness
from vpslog import layout, record
from vpslog.backend.presign import RUN_ID
from vpslog.backend.runs import RunTokens, token_id
from vpslog.backend.settings import Settings
from vpslog.part_encoding import encode
from vpslog.store import PART_BYTES


def http(method, url, body=None, headers=None):
    # urllib would label a body as a form, and moto would then parse it away
    headers = {"Content-Type": "application/octet-stream", **(headers or {})}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def api(backend, path, body=None, headers=None):
    status, h, data = http("POST", f"{backend['api']}/{path}", json.dumps(body or {}).encode(),
                           {"Content-Type": "application/json", **(headers or {})})
    return status, json.loads(data), h


def create_run(backend, token=None):
    """A run created with the backend's API token (or `token`; "" = none)."""
    token = backend.get("api_token", "") if token is None else token
    status, body, _ = api(backend, "runs", headers={"Authorization": f"Bearer {token}"} if token else {})
    assert status == 201, body
    return body


def crc_hex(data: bytes) -> str:
    return f"{crc32c.crc32c(data):08x}"


def presign(backend, cap, part, data=b"0123456789", run_id=None, token=None, stream=None):
    """POST /api/presign for `data` (its size and CRC32C), with the run's token, of a part of `stream` (None: events)."""
    token = cap["token"] if token is None else token
    body = {"runId": run_id or cap["runId"], "part": part, "bytes": len(data), "crc32c": crc_hex(data),
            **({"stream": stream} if stream is not None else {})}
    status, reply, _ = api(backend, "presign", body, {"X-Vpslog-Run-Token": token} if token else {})
    return status, reply


def signed(backend, cap, part, data=b"0123456789", stream=None):
    status, p = presign(backend, cap, part, data, stream=stream)
    assert status == 200, p
    return p


def put(p, data, headers=None):
    return http("PUT", p["url"], data, {**p["headers"], **(headers or {})})


def upstream(backend):
    return Settings(endpoint=backend["upstream"]).client()


def bucket(backend) -> dict:
    """key -> (size, ETag) of everything in the bucket, read from moto itself."""
    pages = upstream(backend).get_paginator("list_objects_v2").paginate(Bucket=backend["bucket"])
    return {o["Key"]: (o["Size"], o["ETag"]) for page in pages for o in page.get("Contents", [])}


@pytest.fixture(autouse=True)
def no_faults(backend):
    harness.set_faults(backend)
    yield
    harness.set_faults(backend)


def test_the_server_creates_runs_for_api_token_holders_only(backend):
    before = bucket(backend)
    status, body, headers = api(backend, "runs")
    assert status == 401 and headers.get("WWW-Authenticate") == "Bearer", body
    assert api(backend, "runs", headers={"Authorization": "Bearer not-a-token-of-this-server"})[0] == 403
    assert api(backend, "runs", headers={"Authorization": backend["api_token"]})[0] == 401  # no scheme
    a, b = create_run(backend), create_run(backend, backend["api_tokens"][1])  # any token of the list
    assert a["runId"] != b["runId"] and all(RUN_ID.fullmatch(r["runId"]) for r in (a, b))
    # made by the one maker of run ids (vpslog.manifest.new_run_id), in the browser's shape too
    assert all(re.fullmatch(r"run-\d{8}-\d{6}-[0-9a-f]{10}", r["runId"]) for r in (a, b))
    assert a["expires"] > a["renewAfter"] > time.time()
    assert bucket(backend) == before
    trail = [e for e in harness.audit_lines(backend) if e["action"] == "create_run"]
    assert {(e["status"], e["decision"]) for e in trail} >= {(401, "refused"), (403, "refused"), (201, "allowed")}
    log = backend["log"].read_text()
    assert backend["api_token"] not in log and a["token"] not in log
    assert token_id(backend["api_token"]) in log


def test_presign_needs_the_runs_own_live_token(backend):
    mine, theirs = create_run(backend), create_run(backend)
    before = bucket(backend)
    owner = mine["token"].split(".")[2]
    expired = RunTokens(backend["run_secret"].encode(), 60).issue(mine["runId"], owner, now=time.time() - 120)
    forged = RunTokens(b"another server's secret, 32 bytes", 3600).issue(mine["runId"], owner)
    attacks = {
        "no token": (401, ""),
        "another run's token": (403, theirs["token"]),
        "expired token": (401, expired["token"]),
        "forged token": (403, forged["token"]),
        "malformed token": (401, "x.y"),
    }
    for name, (want, token) in attacks.items():
        for part in (1, "manifest"):
            status, reply = presign(backend, mine, part, b"evil!evil!", token=token)
            assert status == want and "url" not in reply, (name, part, status, reply)
    # ... and the holder's own token signs its own run only
    assert presign(backend, mine, 1, run_id=theirs["runId"])[0] == 403
    assert bucket(backend) == before
    p = signed(backend, mine, 1)
    assert put(p, b"0123456789")[0] == 200
    refusals = [e for e in harness.audit_lines(backend) if e["action"] == "presign" and e["run"] == mine["runId"]]
    assert sum(e["decision"] == "refused" for e in refusals) == 2 * len(attacks)
    assert any(e["decision"] == "allowed" and e["part"] == 1 and e["token"] == token_id(mine["token"]) for e in refusals)
    assert all(e["why"] for e in refusals if e["decision"] == "refused")
    assert theirs["token"] not in backend["log"].read_text()


def test_the_holder_renews_its_token(backend):
    cap = create_run(backend)
    status, fresh, _ = api(backend, "runs/renew", headers={"X-Vpslog-Run-Token": cap["token"]})
    assert status == 200 and fresh["runId"] == cap["runId"] and fresh["expires"] >= cap["expires"]
    assert put(signed(backend, fresh, 1), b"0123456789")[0] == 200
    expired = RunTokens(backend["run_secret"].encode(), 60).issue(cap["runId"], "x", now=time.time() - 120)
    assert api(backend, "runs/renew", headers={"X-Vpslog-Run-Token": expired["token"]})[0] == 401
    assert api(backend, "runs/renew")[0] == 401


def test_presign_builds_keys_from_the_layout_only(backend):
    cap = create_run(backend)
    run = cap["runId"]
    assert signed(backend, cap, 7)["key"] == f"runs/{run}/part-000007.bin"
    assert signed(backend, cap, "manifest")["key"] == f"runs/{run}/manifest.json"
    for part in (0, -1, 1_000_000, "1", "../x", True, 1.5, None):
        status, body = presign(backend, cap, part)
        assert status == 400 and "error" in body, (part, body)
    for run_id in ("../etc", "run 1", "x" * 81, f"{run}/../other"):  # not the token's run
        assert presign(backend, cap, 1, run_id=run_id)[0] == 403, run_id
    headers = {"Content-Type": "application/json", "X-Vpslog-Run-Token": cap["token"]}
    for bad in ({"runId": run, "part": 1, "bytes": 10}, {"runId": run, "part": 1, "bytes": 10, "crc32c": "XYZ"},
                {"runId": run, "part": 1, "bytes": 0, "crc32c": "00000000"}, {"runId": run, "part": 1, "crc32c": "00000000"}):
        assert http("POST", f"{backend['api']}/presign", json.dumps(bad).encode(), headers)[0] == 400, bad
    assert http("POST", f"{backend['api']}/presign", b"[1, 2]", headers)[0] == 400
    assert http("POST", f"{backend['api']}/presign", b"{not json", headers)[0] == 400
    assert http("POST", f"{backend['api']}/presign", b"{}" + b" " * 4096, headers)[0] == 400  # 4 KiB body limit
    assert http("POST", f"{backend['api']}/sign-anything", b"{}")[0] == 404


def test_each_stream_has_its_own_keys_and_a_run_at_most_max_streams(backend):
    cap = create_run(backend)
    run = cap["runId"]
    assert signed(backend, cap, 3, stream="events")["key"] == signed(backend, cap, 3)["key"] == f"runs/{run}/part-000003.bin"
    assert signed(backend, cap, 3, stream="telemetry")["key"] == f"runs/{run}/telemetry/part-000003.bin"
    assert signed(backend, cap, 1, stream="events_wide")["key"] == f"runs/{run}/events_wide/part-000001.bin"
    # names follow the stream-name rule of layouts.json, and a declared stream is never named a reserved word
    for stream in ("Telemetry", "../x", "a/b", "tele.metry", "x" * 33, "", "enter", "streams", 5, True, ["events"]):
        status, body = presign(backend, cap, 1, stream=stream)
        assert status == 400 and "stream must be a stream name" in body["error"], (stream, body)
    status, body = presign(backend, cap, "manifest", stream="telemetry")
    assert status == 400 and "one manifest" in body["error"]
    # a run holds at most 16 streams: the 17th name gets nothing signed (events_wide, telemetry and events above)
    names = [f"s{i}" for i in range(layout.MAX_STREAMS - 3)]
    assert all(presign(backend, cap, 1, stream=n)[0] == 200 for n in names)
    status, body = presign(backend, cap, 1, stream="one_too_many")
    assert status == 400 and f"parts of {layout.MAX_STREAMS} streams" in body["error"]
    assert presign(backend, cap, 2, stream=names[0])[0] == 200  # a stream it has keeps its parts coming
    # a lost answer of a stream's part is confirmed under that stream's key only
    data = b"telemetry!" * 21
    assert put(signed(backend, cap, 1, data, stream="telemetry"), data)[0] == 200
    confirm = {"runId": run, "part": 1, "bytes": len(data), "crc32c": crc_hex(data)}
    run_header = {"X-Vpslog-Run-Token": cap["token"]}
    assert api(backend, "confirm", {**confirm, "stream": "telemetry"}, run_header)[:2] == (200, {"stored": True})
    assert api(backend, "confirm", confirm, run_header)[0] == 409  # events' part 1 is another key
    assert api(backend, "confirm", {**confirm, "stream": "../telemetry"}, run_header)[0] == 400
    assert any(e.get("stream") == "telemetry" and e["action"] == "confirm" for e in harness.audit_lines(backend))


def test_a_presigned_put_lands_in_the_bucket(backend):
    cap = create_run(backend)
    p = signed(backend, cap, 1)
    assert p["headers"]["If-None-Match"] == "*"
    signed_headers = urllib.parse.parse_qs(urllib.parse.urlsplit(p["url"]).query)["X-Amz-SignedHeaders"][0]
    assert set(signed_headers.split(";")) == {"host", "content-length", "if-none-match", "x-amz-checksum-crc32c"}
    status, headers, _ = put(p, b"0123456789", {"Origin": "http://127.0.0.1:1"})
    assert status == 200
    assert upstream(backend).get_object(Bucket=backend["bucket"], Key=p["key"])["Body"].read() == b"0123456789"


def test_objects_are_write_once_and_a_lost_answer_is_confirmed(backend, app_port):
    cap = create_run(backend)
    p = signed(backend, cap, 1, b"original!!")
    assert put(p, b"original!!")[0] == 200
    before = bucket(backend)
    # a fresh URL for the same key, other bytes of the same size: refused by the store itself
    other = signed(backend, cap, 1, b"replaced!!")
    status, headers, body = put(other, b"replaced!!", {"Origin": f"http://127.0.0.1:{app_port}"})
    assert status == 412 and b"PreconditionFailed" in body
    assert headers.get("Access-Control-Allow-Origin") == f"http://127.0.0.1:{app_port}"
    # leaving the signed If-None-Match out does not help: the signature covers it
    status, _, body = http("PUT", other["url"], b"replaced!!", {"x-amz-checksum-crc32c": other["headers"]["x-amz-checksum-crc32c"]})
    assert status == 403 and b"if-none-match not sent" in body
    assert bucket(backend) == before
    assert harness.fault_stats(backend)["stats"]["precondition_failed"] == 1
    confirm = {"runId": cap["runId"], "part": 1, "bytes": 10}
    run_header = {"X-Vpslog-Run-Token": cap["token"]}
    assert api(backend, "confirm", {**confirm, "crc32c": crc_hex(b"original!!")}, run_header)[:2] == (200, {"stored": True})
    status, reply, _ = api(backend, "confirm", {**confirm, "crc32c": crc_hex(b"replaced!!")}, run_header)
    assert status == 409 and reply["stored"] is False and "CRC32C" in reply["error"]
    assert api(backend, "confirm", {**confirm, "part": 2, "crc32c": crc_hex(b"original!!")}, run_header)[0] == 409
    assert api(backend, "confirm", {**confirm, "crc32c": crc_hex(b"original!!")}, {})[0] == 401


def test_a_complete_run_is_sealed(backend):
    cap = create_run(backend)
    early = signed(backend, cap, "manifest", b'{"forged": true}')  # a URL got before the run completed
    manifest = upload_run(backend, cap, [[(1, 2, 3, 1)] * 5])
    before = bucket(backend)
    for part in (1, 2, "manifest"):
        status, reply = presign(backend, cap, part, b'{"forged": true}')
        assert status == 409 and "complete" in reply["error"], (part, reply)
    status, _, body = put(early, b'{"forged": true}')
    assert status == 412 and b"PreconditionFailed" in body
    assert bucket(backend) == before
    stored = upstream(backend).get_object(Bucket=backend["bucket"], Key=f"runs/{cap['runId']}/manifest.json")["Body"].read()
    assert json.loads(stored) == manifest
    assert any(e["status"] == 409 and e["run"] == cap["runId"] for e in harness.audit_lines(backend))


def test_sizes_are_bound_at_presign_and_in_the_store(backend):
    cap = create_run(backend)
    before = bucket(backend)
    big = b"\0" * (PART_BYTES + 10)
    status, reply = presign(backend, cap, 1, big)
    assert status == 400 and reply["code"] == "EntityTooLarge"
    status, reply = presign(backend, cap, "manifest", b"{" * (16 << 20 | 1))
    assert status == 400 and reply["code"] == "EntityTooLarge"
    # a URL signed for 10 bytes takes 10 bytes: a longer body breaks the signed Content-Length
    p = signed(backend, cap, 1, b"0123456789")
    status, _, body = http("PUT", p["url"], b"0123456789" + big, {**p["headers"]})
    assert status == 403 and b"SignatureDoesNotMatch" in body
    # and the gateway does not even read a body over S3's single-PUT limit (stood in for by 64 MiB)
    u = urllib.parse.urlsplit(p["url"])
    conn = HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("PUT", f"{u.path}?{u.query}")
    conn.putheader("Content-Length", str(100 << 20))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 400 and b"EntityTooLarge" in resp.read()
    conn.close()
    assert bucket(backend) == before


def test_a_body_that_does_not_match_the_signed_crc32c_is_refused(backend, app_port):
    cap = create_run(backend)
    before = bucket(backend)
    p = signed(backend, cap, 1, b"0123456789")
    status, headers, body = put(p, b"9876543210", {"Origin": f"http://127.0.0.1:{app_port}"})
    assert status == 400 and b"BadDigest" in body
    assert headers.get("Access-Control-Allow-Origin") == f"http://127.0.0.1:{app_port}"
    # nor can the checksum header be swapped for the body's: it is signed
    status, _, body = put(p, b"9876543210", {"x-amz-checksum-crc32c": signed(backend, cap, 1, b"9876543210")["headers"]["x-amz-checksum-crc32c"]})
    assert status == 403
    assert bucket(backend) == before
    assert harness.fault_stats(backend)["stats"]["digest_rejected"] == 1


def tamper(url, old, new):
    assert old in url
    return url.replace(old, new, 1)


def test_gateway_rejects_tampered_expired_and_wrong_key_urls(backend):
    cap = create_run(backend)
    p = signed(backend, cap, 1, b"evil!evil!")
    url = p["url"]
    # what the genuine URL signs, so that a URL made with other keys differs in its keys alone
    params = {"Bucket": backend["bucket"], "Key": p["key"], "IfNoneMatch": "*", "ContentLength": 10,
              "ChecksumCRC32C": p["headers"]["x-amz-checksum-crc32c"]}
    # each bad URL, the S3 error code it must get, and the one gateway counter it must move
    cases = {
        "other key": (tamper(url, "part-000001", "part-000002"), "SignatureDoesNotMatch", "signature_rejected"),
        "longer life": (tamper(url, "X-Amz-Expires=300", "X-Amz-Expires=900"), "SignatureDoesNotMatch", "signature_rejected"),
        "forged signature": (url[:-4] + ("0000" if not url.endswith("0000") else "1111"), "SignatureDoesNotMatch",
                             "signature_rejected"),
        "extra parameter": (url + "&x-id=PutObject", "SignatureDoesNotMatch", "signature_rejected"),
        "no signature": (url.split("?")[0], "AccessDenied", "unsigned_rejected"),
        "fewer signed headers": (tamper(url, "%3Bif-none-match", ""), "SignatureDoesNotMatch", "signature_rejected"),
    }
    wrong_secret = Settings(endpoint=backend["s3_endpoint"], secret_access_key="not-the-secret").client()
    cases["wrong secret"] = (wrong_secret.generate_presigned_url("put_object", Params=params, ExpiresIn=300),
                             "SignatureDoesNotMatch", "signature_rejected")
    unknown = Settings(endpoint=backend["s3_endpoint"], access_key_id="someone-else").client()
    cases["unknown key"] = (unknown.generate_presigned_url("put_object", Params=params, ExpiresIn=300),
                            "InvalidAccessKeyId", "signature_rejected")
    short = Settings(endpoint=backend["s3_endpoint"]).client().generate_presigned_url("put_object", Params=params, ExpiresIn=1)
    time.sleep(2.1)  # real time must pass for the URL to expire
    cases["expired"] = (short, "AccessDenied", "expired_rejected")
    for name, (bad, code, counter) in cases.items():
        before = harness.fault_stats(backend)["stats"]
        status, headers, body = http("PUT", bad, b"evil!evil!", p["headers"])
        assert status == 403, (name, status, body)
        assert f"<Code>{code}</Code>".encode() in body, (name, body)
        moved = {k: v - before[k] for k, v in harness.fault_stats(backend)["stats"].items() if v != before[k]}
        assert moved == {counter: 1}, (name, moved)
    assert b"expired" in http("PUT", short, b"x" * 10)[2]
    status, _, body = put(p, b"evil!evil!", {"x-amz-meta-owner": "me"})  # an x-amz header the URL did not sign
    assert status == 403 and b"not signed" in body
    # nothing of it landed; the genuine URL still works
    assert f"runs/{cap['runId']}/part-000002.bin" not in bucket(backend)
    assert put(p, b"evil!evil!")[0] == 200


def test_injected_faults_and_their_cors_headers(backend, app_port):
    origin = f"http://127.0.0.1:{app_port}"
    cap = create_run(backend)
    p = signed(backend, cap, 1, b"stored!!!!")
    harness.set_faults(backend, put_fail_rate=1.0)
    status, headers, _ = put(p, b"stored!!!!", {"Origin": origin})
    assert status == 503 and headers.get("Access-Control-Allow-Origin") == origin
    harness.set_faults(backend, store_then_fail_rate=1.0)
    status, headers, _ = put(p, b"stored!!!!", {"Origin": origin})
    assert status == 500 and headers.get("Access-Control-Allow-Origin") == origin
    assert upstream(backend).get_object(Bucket=backend["bucket"], Key=p["key"])["Body"].read() == b"stored!!!!"
    harness.set_faults(backend, refuse_for_s=1.5)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        put(p, b"stored!!!!")
    time.sleep(1.6)
    assert put(p, b"stored!!!!")[0] == 412  # the retry of a stored part: already there
    # the bucket's CORS rules answer preflights for the app's origin and the headers a part carries
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "if-none-match,x-amz-checksum-crc32c"}
    status, headers, _ = http("OPTIONS", p["url"], None, {"Origin": origin, **preflight})
    assert status == 200 and headers.get("Access-Control-Allow-Origin") == origin
    assert "ETag" in headers.get("Access-Control-Expose-Headers", "")
    status, headers, _ = http("OPTIONS", p["url"], None, {"Origin": "http://evil.example", **preflight})
    assert headers.get("Access-Control-Allow-Origin") is None


def test_the_throttle_shares_one_slow_uplink_between_all_uploads(backend):
    from concurrent.futures import ThreadPoolExecutor

    cap = create_run(backend)
    bodies = [bytes([i]) * (256 << 10) for i in range(3)]
    urls = [signed(backend, cap, i + 1, b) for i, b in enumerate(bodies)]
    assert harness.set_faults(backend, throttle_mbit=8)["throttle_mbit"] == 8
    t = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(lambda pb: put(*pb)[0], zip(urls, bodies)))
    took = time.monotonic() - t
    assert statuses == [200] * 3
    # 3 x 256 KiB through one 8 Mbit/s link: at least 0.79 s however many connections carry them
    assert took >= 3 * (256 << 10) * 8 / 8e6
    assert harness.set_faults(backend)["throttle_mbit"] == 0  # a reset lifts it


@pytest.fixture(scope="module")
def tight_backend(app_port):
    """A second `vpslog serve`: no API token (local dev) and small per-token bounds."""
    env = {"VPSLOG_RUNS_PER_HOUR": "3", "VPSLOG_PRESIGNS_PER_MINUTE": "4", "VPSLOG_MAX_PARTS_PER_RUN": "2"}
    with harness.backend(f"http://127.0.0.1:{app_port}", env) as info:
        yield info


def test_bursts_past_the_limits_get_429_with_retry_after(tight_backend):
    assert "THE API IS OPEN" in tight_backend["log"].read_text()
    caps = [create_run(tight_backend, "") for _ in range(3)]  # open API: no token needed
    status, reply, headers = api(tight_backend, "runs")
    assert status == 429 and 3000 < int(headers["Retry-After"]) <= 3600, reply
    cap = caps[0]
    assert presign(tight_backend, cap, 3)[0] == 429  # over the parts per run
    for part in (1, 2, 1, 2):
        assert presign(tight_backend, cap, part)[0] == 200
    status, reply = presign(tight_backend, cap, 1)
    assert status == 429 and "presigns a minute" in reply["error"]
    assert presign(tight_backend, caps[1], 1)[0] == 200  # the bound is per run
    assert bucket(tight_backend) == {}


def test_serve_refuses_an_open_api_in_front_of_a_remote_bucket(tmp_path):
    env = {**os.environ, "VPSLOG_S3_ENDPOINT": "https://account.r2.cloudflarestorage.com",
           "VPSLOG_S3_ACCESS_KEY_ID": "k", "VPSLOG_S3_SECRET_ACCESS_KEY": "s"}
    env.pop("VPSLOG_API_TOKEN", None)
    out = subprocess.run([sys.executable, "-m", "vpslog.cli", "serve", "--port", "0"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and "VPSLOG_API_TOKEN" in out.stderr and "--insecure-open-api" in out.stderr
    out = subprocess.run([sys.executable, "-m", "vpslog.cli", "serve", "--port", "0"],
                         capture_output=True, text=True, env={**env, "VPSLOG_API_TOKEN": "short"}, timeout=60)
    assert out.returncode == 2 and "at least 16 characters" in out.stderr


def upload_run(backend, cap, parts_records, with_manifest=True, encoding="raw"):
    """Upload a run the way the logger does: parts (stored as `encoding`), then the manifest."""
    run_id = cap["runId"]
    parts, crc, total = [], 0, 0
    for i, recs in enumerate(parts_records, start=1):
        data = record.pack(recs)
        stored = encode(data, encoding)
        p = signed(backend, cap, i, stored)
        assert put(p, stored)[0] == 200
        parts.append({"part": i, "key": p["key"], "bytes": len(data), "records": len(recs), "crc32c": crc_hex(data),
                      "encoding": encoding, "stored_bytes": len(stored), "stored_crc32c": crc_hex(stored)})
        crc = crc32c.crc32c(data, crc)
        total += len(recs)
    manifest = {
        "format": "vpslog-run", "manifest_version": 1, "run_id": run_id, "status": "closed", "mode": "cloud",
        "record_layout": record.LAYOUT, "time_unit": "ms", "created_at": "2026-11-22T00:00:00Z", "closed_at": None,
        "config": {"workers": 1, "source": {"source": "load"}, "pace": "max", "durationS": 0}, "source": None,
        "producers": [{"id": 0, "records": total, "buffers": 1, "reported_records": total, "source": None, "stats": None}],
        "parts": parts, "records": total, "bytes": total * 10, "checksum": {"algorithm": "crc32c", "value": f"{crc:08x}"},
        "errors": {"rejected_messages": 0, "dropped_records": 0, "messages": []},
    }
    if with_manifest:
        body = json.dumps(manifest).encode()
        assert put(signed(backend, cap, "manifest", body), body)[0] == 200
    return manifest


def fetch_cli(backend, url, out):
    env = {**os.environ, "VPSLOG_S3_ENDPOINT": backend["upstream"],
           "VPSLOG_S3_ACCESS_KEY_ID": Settings(None).access_key_id,
           "VPSLOG_S3_SECRET_ACCESS_KEY": Settings(None).secret_access_key}
    return subprocess.run([sys.executable, "-m", "vpslog.cli", "fetch", url, "--out", str(out)],
                          capture_output=True, text=True, env=env)


def test_fetch_reassembles_checks_and_refuses_incomplete_or_damaged_runs(backend, tmp_path):
    recs = [[(t, t % 7, t % 5, 1 + t % 3) for t in range(k * 1000, k * 1000 + n)] for k, n in enumerate((1000, 1000, 37))]
    good = create_run(backend)
    upload_run(backend, good, recs)
    out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/{good['runId']}", tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / f"{good['runId']}.bin").read_bytes() == record.pack([r for part in recs for r in part])
    from vpslog.verify import verify

    assert verify(tmp_path / f"{good['runId']}.bin").ok

    half = create_run(backend)
    upload_run(backend, half, recs, with_manifest=False)
    out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/{half['runId']}", tmp_path / "h")
    assert out.returncode == 1 and "incomplete" in out.stderr

    bad = create_run(backend)
    upload_run(backend, bad, recs)
    # damage at rest (no client can overwrite it: write-once), written straight into the store
    key = f"runs/{bad['runId']}/part-000002.bin"
    upstream(backend).put_object(Bucket=backend["bucket"], Key=key, Body=record.pack(recs[1][::-1]))
    out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/{bad['runId']}", tmp_path / "b")
    assert out.returncode == 1 and "part-000002.bin: CRC32C mismatch" in out.stderr
    assert not (tmp_path / "b" / f"{bad['runId']}.bin").exists()
    assert fetch_cli(backend, "s3://x/../../etc", tmp_path).returncode == 1


def test_fetch_reads_compressed_parts_and_names_a_damaged_one(backend, tmp_path):
    recs = [[(t, t % 7, t % 5, 1 + t % 3) for t in range(k * 1000, k * 1000 + n)] for k, n in enumerate((1000, 1000, 37))]
    raw, packed = create_run(backend), create_run(backend)
    upload_run(backend, raw, recs)
    m = upload_run(backend, packed, recs, encoding="shuffle-gzip")
    assert all(p["stored_bytes"] < p["bytes"] for p in m["parts"])
    for cap, out in ((raw, tmp_path / "raw"), (packed, tmp_path / "packed")):
        done = fetch_cli(backend, f"s3://{backend['bucket']}/runs/{cap['runId']}", out)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "packed" / f"{packed['runId']}.bin").read_bytes() == \
        (tmp_path / "raw" / f"{raw['runId']}.bin").read_bytes() == record.pack([r for part in recs for r in part])

    key = f"runs/{packed['runId']}/part-000002.bin"
    body = upstream(backend).get_object(Bucket=backend["bucket"], Key=key)["Body"].read()
    upstream(backend).put_object(Bucket=backend["bucket"], Key=key, Body=body[:-9])  # cut at rest
    out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/{packed['runId']}", tmp_path / "cut")
    assert out.returncode == 1 and f"{key}: {len(body) - 9} bytes stored, manifest says {len(body)}" in out.stderr
    assert not list((tmp_path / "cut").glob("*.bin"))


TELEMETRY = layout.resolve("telemetry", [("time_ms", "uint32"), ("vehicle", "uint32"), ("x", "float32"), ("y", "float32"),
                                        ("speed", "float32"), ("lane", "uint8")])  # 21-byte records
SIGNALS = layout.resolve("signals", [("time_ms", "uint32"), ("phase", "uint8")])


def upload_streams(backend, cap, streams):
    """A version-2 run uploaded as the logger does: each stream's parts (`streams`: (layout,
    [records bytes of each part], encoding)) under its own keys, then the manifest."""
    entries = []
    for lay, parts_bytes, encoding in streams:
        parts, crc = [], 0
        for i, data in enumerate(parts_bytes, start=1):
            stored = encode(data, encoding, lay.record_size)
            p = signed(backend, cap, i, stored, stream=lay.name)
            assert put(p, stored)[0] == 200
            parts.append({"part": i, "key": p["key"], "bytes": len(data), "records": len(data) // lay.record_size,
                          "crc32c": crc_hex(data), "encoding": encoding, "stored_bytes": len(stored), "stored_crc32c": crc_hex(stored)})
            crc = crc32c.crc32c(data, crc)
        size = sum(len(d) for d in parts_bytes)
        entries.append({"name": lay.name, "file": f"{cap['runId']}.{lay.name}.bin", "layout": lay.to_json(), "records": size // lay.record_size,
                        "bytes": size, "checksum": {"algorithm": "crc32c", "value": f"{crc:08x}"}, "producers": {"0": size // lay.record_size},
                        "dropped_records": 0, "parts": parts})
    events = entries[0]
    manifest = {
        "format": "vpslog-run", "manifest_version": 2, "run_id": cap["runId"], "status": "closed", "mode": "cloud",
        "record_layout": record.LAYOUT, "time_unit": "ms", "created_at": "2026-11-22T00:00:00Z", "closed_at": None,
        "config": {"workers": 1}, "source": None,
        "producers": [{"id": 0, "records": events["records"], "buffers": 1, "reported_records": events["records"], "source": None, "stats": None}],
        "parts": events["parts"], "records": events["records"], "bytes": events["bytes"], "checksum": events["checksum"],
        "streams": entries, "errors": {"rejected_messages": 0, "dropped_records": 0, "messages": []},
    }
    body = json.dumps(manifest).encode()
    assert put(signed(backend, cap, "manifest", body), body)[0] == 200
    return manifest


def test_fetch_writes_every_stream_beside_the_events_and_names_a_damaged_parts_stream(backend, tmp_path):
    events = [record.pack([(t, t % 7, t % 5, 1 + t % 3) for t in range(k * 1000, k * 1000 + n)]) for k, n in enumerate((1000, 37))]
    fcd = [b"".join(TELEMETRY.struct.pack(t, 70_000 + t, t / 8, -t / 3, (t % 50) / 2, t % 4) for t in range(k * 500, k * 500 + n))
           for k, n in enumerate((500, 500, 11))]
    streams = [(layout.EVENTS, events, "shuffle-gzip"), (TELEMETRY, fcd, "shuffle-gzip"), (SIGNALS, [], "raw")]
    good = create_run(backend)
    upload_streams(backend, good, streams)
    run = good["runId"]
    assert f"runs/{run}/telemetry/part-000003.bin" in bucket(backend)
    out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/{run}", tmp_path)
    assert out.returncode == 0, out.stderr
    written = [tmp_path / f"{run}.bin", tmp_path / f"{run}.telemetry.bin", tmp_path / f"{run}.signals.bin", tmp_path / f"{run}.manifest.json"]
    assert out.stdout.split() == [str(p) for p in written]
    assert [p.read_bytes() for p in written[:3]] == [b"".join(events), b"".join(fcd), b""]  # every stream, an empty one too

    # damage at rest in one stream's part: the error names the stream and the part, and nothing is written
    bad = create_run(backend)
    upload_streams(backend, bad, streams)
    key = f"runs/{bad['runId']}/telemetry/part-000002.bin"
    upstream(backend).put_object(Bucket=backend["bucket"], Key=key, Body=encode(fcd[0], "shuffle-gzip", 21))  # another part's
    out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/{bad['runId']}", tmp_path / "b")
    assert out.returncode == 1 and f"stream telemetry: {key}: " in out.stderr, out.stderr
    assert not list((tmp_path / "b").glob("*"))

    # a manifest whose stream entry lists another stream's keys, or holds more than its parts
    for damage, said in [(lambda m: m["streams"][1]["parts"][0].update(key=m["streams"][0]["parts"][0]["key"]), "another key than the layout's"),
                         (lambda m: m["streams"][1].update(bytes=m["streams"][1]["bytes"] + 21, records=m["streams"][1]["records"] + 1),
                          "does not match the manifest's size")]:
        cap = create_run(backend)
        m = upload_streams(backend, cap, streams[:2])
        damage(m)
        key = f"runs/{cap['runId']}/manifest.json"
        upstream(backend).put_object(Bucket=backend["bucket"], Key=key, Body=json.dumps(m).encode())
        out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/{cap['runId']}", tmp_path / "m")
        assert out.returncode == 1 and "stream telemetry" in out.stderr and said in out.stderr, out.stderr


def seal(backend, cap, run_id=None):
    return api(backend, "seal", {"runId": run_id or cap["runId"]}, {"X-Vpslog-Run-Token": cap["token"]})[:2]


def test_runs_sealed_at_once_all_land_in_the_catalogue_and_ls_reads_it_alone(backend, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import vpslog.runs as runs
    from vpslog import store

    early = create_run(backend)
    upload_run(backend, early, [[(1, 2, 3, 1)]], with_manifest=False)
    assert seal(backend, early) == (409, {"catalogued": False, "error": f"runs/{early['runId']}/manifest.json is not in the bucket"})
    caps = [create_run(backend) for _ in range(8)]
    assert seal(backend, caps[0], caps[1]["runId"])[0] == 403  # only a run's own token seals it

    def finish(i_cap):  # eight browsers finish their runs at the same moment
        i, cap = i_cap
        upload_run(backend, cap, [[(t, i, t % 5, 1 + t % 2) for t in range(100 + i)]], encoding=("raw", "shuffle-gzip")[i % 2])
        return seal(backend, cap)

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(finish, enumerate(caps)))
    assert replies == [(200, {"catalogued": True, "status": "closed", "problem": None})] * 8
    ids = {c["runId"] for c in caps}
    s3 = upstream(backend)
    cached = json.loads(s3.get_object(Bucket=backend["bucket"], Key=store.CATALOGUE_KEY)["Body"].read())["runs"]
    assert ids <= set(cached) and early["runId"] not in cached
    assert [cached[c["runId"]]["records"] for c in caps] == [100 + i for i in range(8)]

    # `vpslog ls` now reads those rows from the catalogue: one GET, none of their manifests
    for k, v in harness.s3_env(backend).items():
        monkeypatch.setenv(k, v)
    store.client_from_env.cache_clear()
    try:
        got = []
        store.client_from_env().meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: got.append(params["Key"]))
        rows = {r["run_id"]: r for r in runs.catalogue(f"s3://{backend['bucket']}/runs/run-")}
    finally:
        store.client_from_env.cache_clear()
    assert got.count(store.CATALOGUE_KEY) == 1
    assert not [k for k in got if k.split("/")[1] in ids]
    assert all(rows[i] == cached[i] for i in ids) and not rows[early["runId"]]["complete"]
