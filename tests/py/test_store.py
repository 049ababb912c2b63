"""The bucket store (vpslog.store): reading runs from S3 needs only the `s3` extra
(and `analysis` to analyse them), never moto, the gateway or anything in vpslog.backend."""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness
from vpslog import store

# A fresh interpreter in which only what `pip install vpslog[<extras>]` brings can be
# imported (besides the standard library and the interpreter's own start-up), as on a
# machine with only that install: first the s3 extra alone, then s3 + analysis. Also
# unimportable: vpslog.backend, which the reading side must not need.
READER = """
import contextlib, io, json, sys

phases = json.load(sys.stdin)
blocked = set()

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked or name.startswith("vpslog.backend"):
            raise ModuleNotFoundError(f"No module named {name!r} (not installed with these extras)")

sys.meta_path.insert(0, NotInstalled())
from vpslog.cli import main

codes = {}
for phase in phases:
    blocked = set(phase["blocked"])
    for argv in phase["verbs"]:
        with contextlib.redirect_stdout(io.StringIO()):
            codes[argv[0]] = main(argv)
print(json.dumps({"codes": codes, "boto3": "boto3" in sys.modules,
                  "backend": sorted(m for m in sys.modules if m.startswith("vpslog.backend"))}))
"""


def installed_with(extras: set[str]) -> set[str]:
    """The distributions `pip install vpslog[extras]` brings: vpslog and its requirements, transitively."""
    seen, todo = set(), [("vpslog", frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in seen:
            continue
        seen.add((canonicalize_name(name), wanted))
        for line in importlib.metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in wanted | {""}):
                todo.append((req.name, frozenset(req.extras)))
    return {name for name, _ in seen}


def not_installed_with(extras: set[str]) -> list[str]:
    """The top-level modules of this environment's distributions that vpslog[extras] would not install."""
    allowed = installed_with(extras)
    return sorted(top for top, dists in importlib.metadata.packages_distributions().items()
                  if not {canonicalize_name(d) for d in dists} & allowed and top not in sys.stdlib_module_names)


def test_reading_a_bucket_run_needs_the_s3_extra_only(backend, tmp_path):
    out = harness.run_cli("simulate", "--out", tmp_path / "sim", "--workers", "1", "-p", "duration_s=600", "-p", "vehicles=50")
    assert out.returncode == 0, out.stderr
    bin_path, manifest_path = out.stdout.split()
    env = harness.s3_env(backend)
    s3 = store.client(env["VPSLOG_S3_ENDPOINT"], env["VPSLOG_S3_ACCESS_KEY_ID"], env["VPSLOG_S3_SECRET_ACCESS_KEY"])
    harness.put_cloud_run(s3, backend["bucket"], "reader-a", bin_path, json.loads(Path(manifest_path).read_text()),
                          part_records=500, encoding="shuffle-gzip")
    url, fetched = f"s3://{backend['bucket']}/runs/reader-a", tmp_path / "fetched"
    phases = [
        {"blocked": not_installed_with({"s3"}), "verbs": [["ls", url + "*", "--json"], ["fetch", url, "--out", str(fetched)]]},
        {"blocked": not_installed_with({"s3", "analysis"}), "verbs": [["verify", url], ["analyze", url, "--json"]]},
    ]
    assert {"moto", "flask", "werkzeug"} <= set(phases[1]["blocked"]) and "boto3" not in phases[0]["blocked"]

    done = subprocess.run([sys.executable, "-c", READER], input=json.dumps(phases), capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.splitlines()[-1])
    assert got == {"codes": {"ls": 0, "fetch": 0, "verify": 0, "analyze": 0}, "boto3": True, "backend": []}, \
        done.stderr[-3000:]
    assert (fetched / "reader-a.bin").read_bytes() == Path(bin_path).read_bytes()


def test_an_incomplete_runs_parts_are_counted_over_every_stream(backend):
    env = harness.s3_env(backend)
    s3 = store.client(env["VPSLOG_S3_ENDPOINT"], env["VPSLOG_S3_ACCESS_KEY_ID"], env["VPSLOG_S3_SECRET_ACCESS_KEY"])
    for key in (store.part_key("counted", 1), store.part_key("counted", 1, "fcd"), store.part_key("counted", 2, "fcd")):
        s3.put_object(Bucket=backend["bucket"], Key=key, Body=b"x" * 10)
    assert store.part_count(s3, backend["bucket"], "counted") == 3
    assert store.run_ids(s3, backend["bucket"], "runs/count") == ["counted"]  # a stream folder is not a run
    assert [store.stream_file("r", s) for s in ("events", "fcd")] == ["r.bin", "r.fcd.bin"]
