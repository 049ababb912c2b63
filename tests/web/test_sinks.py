"""One behaviour test for every storage strategy (workers/sinks/), run in a real
worker against real OPFS and, for CLOUD, the real local S3 behind the gateway:
the interface in sinks/base.js means the same thing whichever sink is behind it."""

import os

import boto3
import crc32c
import pytest

from harness import REPO
from vpslog.backend.settings import Settings
from vpslog.store import PART_BYTES, part_bytes, read_part

pytestmark = pytest.mark.browser
BYTES = 6 * 1024 * 1024 - 6 * 1024 * 1024 % 4090  # whole buffers; over one 5 MiB CLOUD part
TELEMETRY = ["telemetry", [["time_ms", "uint32"], ["vehicle", "uint32"], ["x", "float32"], ["y", "float32"],
                           ["speed", "float32"], ["lane", "uint8"]]]  # 21-byte records
STREAM_BYTES = 6 * 1024 * 1024 - 6 * 1024 * 1024 % (195 * 21)

DRIVE = """async ([url, msg]) => {
  const w = new Worker(url, { type: 'module' });
  const out = await new Promise((resolve) => { w.onmessage = (e) => resolve(e.data); w.postMessage(msg); });
  w.terminate();
  return out;
}"""


def bucket_bytes(backend, run_id, parts, record_size=10):
    """The run's keys, and its records read back as `vpslog` reads them (each part decoded and checked)."""
    s = Settings(None)
    s3 = boto3.client("s3", endpoint_url=backend["upstream"], region_name="auto",
                      aws_access_key_id=s.access_key_id, aws_secret_access_key=s.secret_access_key)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=backend["bucket"], Prefix=f"runs/{run_id}/")["Contents"])
    return keys, b"".join(read_part(s3, backend["bucket"], p, record_size) for p in parts)


MODES = ["opfs", "cloud", "null"]  # a new sink adds its row here, and its expectations below


def test_the_registry_has_every_sink_this_test_knows_and_the_page_offers_the_labelled_ones(page, app_url):
    page.goto(app_url)
    modes = page.evaluate("window.vpslog.pipeline.sinkModes()")
    assert [m["mode"] for m in modes] == MODES
    assert [m["mode"] for m in modes if m["default"]] == ["opfs"]
    assert [m["mode"] for m in modes if m["serverRun"]] == ["cloud"]
    page.wait_for_function("document.querySelectorAll('select[name=mode] option').length > 0")
    offered = page.eval_on_selector_all("select[name=mode] option", "os => os.map((o) => [o.value, o.selected])")
    assert offered == [["opfs", True], ["cloud", False]]  # the null sink is the bench's, not offered


def drive(page, app_url, backend, mode, stream, nbytes):
    page.goto(app_url)
    return page.evaluate(DRIVE, [f"{app_url}@fs{REPO / 'tests/web/sink_behaviour.worker.js'}",
                                 {"mode": mode, "api": backend["api"], "apiToken": backend["api_token"],
                                  "runId": f"sink-{mode}-{os.getpid()}", "bytes": nbytes, "stream": stream}])


@pytest.mark.parametrize("mode", MODES)
def test_every_sink_honours_the_sink_interface(page, app_url, backend, mode):
    seen = drive(page, app_url, backend, mode, "events", BYTES)
    assert "error" not in seen, seen
    run_id = seen["runId"]
    # the interface, identical for every strategy
    assert seen["isSink"] and seen["readyAtOpen"] is True
    assert {"bytesWritten", "bytesStaged", "writes"} <= set(seen["statsKeys"])
    assert seen["closed"]["bytes"] == BYTES and seen["closed"]["error"] is None
    assert seen["uploadingAfterClose"] is False
    # a sink that stores records checksums all of them; only the null sink stores none
    checksum = None if mode == "null" else {"algorithm": "crc32c", "value": seen["expectedChecksum"]}
    assert seen["closed"]["checksum"] == checksum
    # where the records went, per strategy
    if mode == "opfs":
        assert seen["persistent"] and seen["catalogued"] and seen["storedEqual"]
        assert seen["checkpoint"] == {"bytes": BYTES}  # a checkpoint makes everything appended durable
        assert seen["published"] is None
    elif mode == "cloud":
        assert not seen["persistent"] and seen["catalogued"]
        assert seen["published"] == "uploaded"
        assert seen["checkpoint"]["bytes"] in (0, PART_BYTES)  # at most the first part is safe before close
        assert seen["checkpointAfterClose"] == {"bytes": BYTES} and seen["throughOk"] == [True, True]
        keys, data = bucket_bytes(backend, run_id, seen["closed"]["parts"])
        assert keys == [f"runs/{run_id}/manifest.json", f"runs/{run_id}/part-000001.bin", f"runs/{run_id}/part-000002.bin"]
        assert len(data) == BYTES and data[:4] == bytes([0, 7, 14, 21])
    else:
        assert not seen["persistent"] and not seen["catalogued"] and seen["checkpoint"] is None


@pytest.mark.parametrize("mode", MODES)
def test_every_sink_stores_a_declared_stream_in_its_own_file(page, app_url, backend, mode):
    seen = drive(page, app_url, backend, mode, TELEMETRY, STREAM_BYTES)
    assert "error" not in seen, seen
    assert seen["closed"]["bytes"] == STREAM_BYTES and seen["closed"]["error"] is None
    if mode != "null":
        assert seen["closed"]["checksum"] == {"algorithm": "crc32c", "value": seen["expectedChecksum"]}
    if mode == "opfs":
        assert seen["storedEqual"] and seen["checkpoint"] == {"bytes": STREAM_BYTES}  # in runs/<runId>.telemetry.bin
    elif mode == "cloud":
        # its own parts, in its own folder, each of whole 21-byte records
        run_id, parts = seen["runId"], seen["closed"]["parts"]
        assert [p["bytes"] for p in parts] == [part_bytes(21), STREAM_BYTES - part_bytes(21)] and part_bytes(21) % 21 == 0
        assert [p["records"] * 21 for p in parts] == [p["bytes"] for p in parts]
        assert seen["published"] == "uploaded" and seen["throughOk"] == [True, True]
        assert seen["checkpointAfterClose"] == {"bytes": STREAM_BYTES}
        keys, data = bucket_bytes(backend, run_id, parts, 21)
        assert keys == [f"runs/{run_id}/manifest.json", f"runs/{run_id}/telemetry/part-000001.bin",
                        f"runs/{run_id}/telemetry/part-000002.bin"]
        assert len(data) == STREAM_BYTES and f"{crc32c.crc32c(data):08x}" == seen["expectedChecksum"]
