"""workers/bucket_layout.js and vpslog.store read the same bucket_layout.json and build the same
keys: the part key the CLOUD sink writes into the manifest is the key the server presigns and
the one `vpslog` reads; the part size and the run-token header are the same numbers and names."""

import json
import subprocess

from harness import REPO
from vpslog import store
from vpslog.backend.presign import key_for

RUN_ID = "run-20261122-093000-0a1b2c3d4e"
PARTS = [1, 7, 42, 1000, store.MAX_PART]

JS = """
import * as layout from './workers/bucket_layout.js';
const [runId, parts] = JSON.parse(process.argv[1]);
console.log(JSON.stringify({
  partKeys: parts.map((n) => layout.partKey(runId, n)),
  dlqNames: parts.map((n) => layout.partNumber(n)),
  partBytes: layout.PART_BYTES,
  runTokenHeader: layout.RUN_TOKEN_HEADER,
}));
"""


def test_js_and_python_build_the_same_bucket_layout():
    out = subprocess.run(["node", "--no-warnings", "--input-type=module", "-e", JS, json.dumps([RUN_ID, PARTS])],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    js = json.loads(out.stdout)
    assert js["partKeys"] == [store.part_key(RUN_ID, n) for n in PARTS] == [key_for(RUN_ID, n) for n in PARTS]
    assert js["partKeys"][1] == f"runs/{RUN_ID}/part-000007.bin"  # the documented layout itself
    assert [k.removeprefix(store.parts_prefix(RUN_ID)).removesuffix(".bin") for k in js["partKeys"]] == js["dlqNames"]
    assert (js["partBytes"], js["runTokenHeader"]) == (store.PART_BYTES, store.RUN_TOKEN_HEADER)
    assert store.PART_BYTES == 5 * 1024 * 1024 and store.RUN_TOKEN_HEADER == "X-Vpslog-Run-Token"
