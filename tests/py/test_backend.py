"""The CLOUD backend over real HTTP: the presign API's key layout, the verifying
gateway in front of the local S3 server (moto), fault injection, and `vpslog fetch`."""

import json
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")
crc32c = pytest.importorskip("crc32c")

import harness  # noqa: E402
from vpslog import record  # noqa: E402
from vpslog.backend.settings import Settings  # noqa: E402


def http(method, url, body=None, headers=None):
    # urllib would label a body as a form, and moto would then parse it away
    headers = {"Content-Type": "application/octet-stream", **(headers or {})}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def presign(backend, run_id, part):
    status, _, body = http("POST", f"{backend['api']}/presign", json.dumps({"runId": run_id, "part": part}).encode(),
                           {"Content-Type": "application/json"})
    return status, json.loads(body)


@pytest.fixture(autouse=True)
def no_faults(backend):
    harness.set_faults(backend)
    yield
    harness.set_faults(backend)


def test_presign_builds_keys_from_the_layout_only(backend):
    assert presign(backend, "run-1", 7)[1]["key"] == "runs/run-1/part-000007.bin"
    assert presign(backend, "run-1", "manifest")[1]["key"] == "runs/run-1/manifest.json"
    for run_id, part in [("../etc", 1), ("run 1", 1), ("", 1), ("x" * 81, 1), (None, 1), ("run-1", 0),
                         ("run-1", -1), ("run-1", 1_000_000), ("run-1", "1"), ("run-1", "../x"), ("run-1", True),
                         ("run-1", 1.5), ("run-1", None)]:
        status, body = presign(backend, run_id, part)
        assert status == 400 and "error" in body, (run_id, part, body)
    assert http("POST", f"{backend['api']}/presign", b"[1, 2]")[0] == 400
    assert http("POST", f"{backend['api']}/presign", b"{not json")[0] == 400
    assert http("POST", f"{backend['api']}/sign-anything", b"{}")[0] == 404


def test_a_presigned_put_lands_in_the_bucket(backend):
    _, p = presign(backend, "run-ok", 1)
    status, headers, _ = http("PUT", p["url"], b"0123456789", {"Origin": "http://127.0.0.1:1"})
    assert status == 200
    s3 = Settings(endpoint=backend["upstream"]).client()
    assert s3.get_object(Bucket=backend["bucket"], Key=p["key"])["Body"].read() == b"0123456789"


def tamper(url, old, new):
    assert old in url
    return url.replace(old, new, 1)


def test_gateway_rejects_tampered_expired_and_wrong_key_urls(backend):
    _, p = presign(backend, "run-sig", 1)
    url = p["url"]
    s3 = Settings(endpoint=backend["upstream"]).client()
    cases = {
        "other key": tamper(url, "part-000001", "part-000002"),
        "longer life": tamper(url, "X-Amz-Expires=300", "X-Amz-Expires=900"),
        "forged signature": url[:-4] + ("0000" if not url.endswith("0000") else "1111"),
        "extra parameter": url + "&x-id=PutObject",
        "no signature": url.split("?")[0],
    }
    wrong_secret = Settings(endpoint=backend["s3_endpoint"], secret_access_key="not-the-secret").client()
    cases["wrong secret"] = wrong_secret.generate_presigned_url(
        "put_object", Params={"Bucket": backend["bucket"], "Key": p["key"]}, ExpiresIn=300)
    unknown = Settings(endpoint=backend["s3_endpoint"], access_key_id="someone-else").client()
    cases["unknown key"] = unknown.generate_presigned_url(
        "put_object", Params={"Bucket": backend["bucket"], "Key": p["key"]}, ExpiresIn=300)
    short = Settings(endpoint=backend["s3_endpoint"]).client().generate_presigned_url(
        "put_object", Params={"Bucket": backend["bucket"], "Key": p["key"]}, ExpiresIn=1)
    time.sleep(2.1)
    cases["expired"] = short
    for name, bad in cases.items():
        status, headers, body = http("PUT", bad, b"evil!evil!", {"Origin": "http://127.0.0.1:1"})
        assert status == 403, (name, status, body)
        assert b"<Code>" in body, name
    assert b"expired" in http("PUT", short, b"x" * 10)[2]
    # nothing of it landed; the genuine URL still works
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=backend["bucket"], Key="runs/run-sig/part-000002.bin")
    assert http("PUT", url, b"genuine!!!")[0] == 200
    stats = harness.fault_stats(backend)["stats"]
    assert stats["signature_rejected"] >= 5 and stats["expired_rejected"] >= 1


def test_injected_faults_and_their_cors_headers(backend, app_port):
    origin = f"http://127.0.0.1:{app_port}"
    _, p = presign(backend, "run-faults", 1)
    harness.set_faults(backend, put_fail_rate=1.0)
    status, headers, _ = http("PUT", p["url"], b"x" * 10, {"Origin": origin})
    assert status == 503 and headers.get("Access-Control-Allow-Origin") == origin
    harness.set_faults(backend, store_then_fail_rate=1.0)
    status, headers, _ = http("PUT", p["url"], b"stored!!!!", {"Origin": origin})
    assert status == 500 and headers.get("Access-Control-Allow-Origin") == origin
    s3 = Settings(endpoint=backend["upstream"]).client()
    assert s3.get_object(Bucket=backend["bucket"], Key=p["key"])["Body"].read() == b"stored!!!!"
    harness.set_faults(backend, refuse_for_s=1.5)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        http("PUT", p["url"], b"x" * 10)
    time.sleep(1.6)
    assert http("PUT", p["url"], b"y" * 10)[0] == 200
    # the bucket's CORS rules answer preflights for the app's origin only
    status, headers, _ = http("OPTIONS", p["url"], None, {"Origin": origin, "Access-Control-Request-Method": "PUT"})
    assert status == 200 and headers.get("Access-Control-Allow-Origin") == origin
    assert "ETag" in headers.get("Access-Control-Expose-Headers", "")
    status, headers, _ = http("OPTIONS", p["url"], None, {"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"})
    assert headers.get("Access-Control-Allow-Origin") is None


def upload_run(backend, run_id, parts_records, with_manifest=True):
    """Upload a run the way the logger does: parts, then the manifest."""
    parts, crc, total = [], 0, 0
    for i, recs in enumerate(parts_records, start=1):
        data = record.pack(recs)
        _, p = presign(backend, run_id, i)
        assert http("PUT", p["url"], data)[0] == 200
        parts.append({"part": i, "key": p["key"], "bytes": len(data), "records": len(recs), "crc32c": f"{crc32c.crc32c(data):08x}"})
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
        _, p = presign(backend, run_id, "manifest")
        assert http("PUT", p["url"], json.dumps(manifest).encode())[0] == 200
    return manifest


def fetch_cli(backend, url, out):
    import os
    import subprocess
    import sys

    env = {**os.environ, "VPSLOG_S3_ENDPOINT": backend["upstream"],
           "VPSLOG_S3_ACCESS_KEY_ID": Settings(None).access_key_id,
           "VPSLOG_S3_SECRET_ACCESS_KEY": Settings(None).secret_access_key}
    return subprocess.run([sys.executable, "-m", "vpslog.cli", "fetch", url, "--out", str(out)],
                          capture_output=True, text=True, env=env)


def test_fetch_reassembles_checks_and_refuses_incomplete_or_damaged_runs(backend, tmp_path):
    recs = [[(t, t % 7, t % 5, 1 + t % 3) for t in range(k * 1000, k * 1000 + n)] for k, n in enumerate((1000, 1000, 37))]
    upload_run(backend, "run-fetch", recs)
    out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/run-fetch", tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run-fetch.bin").read_bytes() == record.pack([r for part in recs for r in part])
    from vpslog.verify import verify

    assert verify(tmp_path / "run-fetch.bin").ok

    upload_run(backend, "run-half", recs, with_manifest=False)
    out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/run-half", tmp_path / "h")
    assert out.returncode == 1 and "incomplete" in out.stderr

    upload_run(backend, "run-bad", recs)
    _, p = presign(backend, "run-bad", 2)
    http("PUT", p["url"], record.pack(recs[1][::-1]))  # same size, other bytes
    out = fetch_cli(backend, f"s3://{backend['bucket']}/runs/run-bad", tmp_path / "b")
    assert out.returncode == 1 and "part-000002.bin: CRC32C mismatch" in out.stderr
    assert not (tmp_path / "b" / "run-bad.bin").exists()
    assert fetch_cli(backend, "s3://x/../../etc", tmp_path).returncode == 1
