"""workers/bucket_layout.js and vpslog.store read the same bucket_layout.json and build the same
keys: the part key the CLOUD sink writes into the manifest is the key the server presigns and
the one `vpslog` reads; the part size and the run-token header are the same numbers and names."""

import json
import subprocess

import pytest

from harness import REPO
from vpslog import store
from vpslog.backend.presign import key_for

RUN_ID = "run-20261122-093000-0a1b2c3d4e"
PARTS = [1, 7, 42, 1000, store.MAX_PART]

STREAMS = ["events", "telemetry", "events_wide", "part", "manifest"]
RECORD_SIZES = [1, 10, 12, 21, 4096]

JS = """
import * as layout from './workers/bucket_layout.js';
const [runId, parts, streams, sizes] = JSON.parse(process.argv[1]);
console.log(JSON.stringify({
  partKeys: parts.map((n) => layout.partKey(runId, n)),
  streamKeys: streams.map((s) => parts.map((n) => layout.partKey(runId, n, s))),
  partBytes: sizes.map(layout.partBytes),
  dlqNames: parts.map((n) => layout.partNumber(n)),
  fullPart: layout.PART_BYTES,
  runTokenHeader: layout.RUN_TOKEN_HEADER,
}));
"""


@pytest.fixture(scope="module")
def js():
    """What workers/bucket_layout.js builds, from one Node run."""
    out = subprocess.run(["node", "--no-warnings", "--input-type=module", "-e", JS, json.dumps([RUN_ID, PARTS, STREAMS, RECORD_SIZES])],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_js_and_python_build_the_same_bucket_layout(js):
    assert js["partKeys"] == [store.part_key(RUN_ID, n) for n in PARTS] == [key_for(RUN_ID, n) for n in PARTS]
    assert js["partKeys"][1] == f"runs/{RUN_ID}/part-000007.bin"  # the documented layout itself
    assert [k.rpartition("/part-")[2].removesuffix(".bin") for k in js["partKeys"]] == js["dlqNames"]
    assert (js["fullPart"], js["runTokenHeader"]) == (store.PART_BYTES, store.RUN_TOKEN_HEADER)
    assert store.PART_BYTES == 5 * 1024 * 1024 and store.RUN_TOKEN_HEADER == "X-Vpslog-Run-Token"


def test_js_and_python_build_the_same_keys_and_part_sizes_for_every_stream(js):
    assert js["streamKeys"] == [[store.part_key(RUN_ID, n, s) for n in PARTS] for s in STREAMS] \
        == [[key_for(RUN_ID, n, s) for n in PARTS] for s in STREAMS]
    # the events stream keeps the keys of runs before streams; every other stream has its own folder
    assert js["streamKeys"][0] == js["partKeys"]
    assert js["streamKeys"][1][1] == f"runs/{RUN_ID}/telemetry/part-000007.bin"
    assert js["streamKeys"][4][0] == f"runs/{RUN_ID}/manifest/part-000001.bin" != store.manifest_key(RUN_ID)
    assert len({k for keys in js["streamKeys"] for k in keys}) == len(STREAMS) * len(PARTS)
    # a part holds whole records of its stream, as many as fit 5 MiB
    assert js["partBytes"] == [store.part_bytes(n) for n in RECORD_SIZES]
    assert all(b % n == 0 and store.PART_BYTES - n < b <= store.PART_BYTES for b, n in zip(js["partBytes"], RECORD_SIZES))
    assert store.part_bytes(10) == store.PART_BYTES and store.part_bytes(21) == 5_242_860
