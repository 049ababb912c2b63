"""`vpslog simulate --source`: user code natively, the README's first example, the examples."""

import json
import re

import crc32c
import jsonschema
import numpy as np
import pytest

from vpslog import record
from vpslog.layout import from_json
from vpslog.manifest import closed_manifest, manifest_streams, schema

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def readme_python(containing: str) -> str:
    """The README's Python block that holds ``containing``, as written."""
    (code,) = [c for c in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S) if containing in c]
    return code


def readme_example(tmp_path):
    code = readme_python("vpslog.Source")
    path = tmp_path / "shuttle.py"
    path.write_text(code)
    return path


def simulated(run_cli, tmp_path, *args):
    out = run_cli("simulate", "--out", tmp_path / "out", *args, check=True)
    bin_path, man_path = out.stdout.split()
    manifest = json.loads(open(man_path).read())
    jsonschema.validate(manifest, schema())
    return np.fromfile(bin_path, dtype=record.numpy_dtype()), manifest, bin_path


def test_the_readme_example_runs_as_written(run_cli, tmp_path):
    path = readme_example(tmp_path)
    recs, manifest, _ = simulated(run_cli, tmp_path, "--source", path, "--workers", 2, "-p", "laps=3")
    assert len(recs) == 2 * 3 * 10 * 2
    assert set(recs["vehicle_id"]) == {0, 1} and manifest["source"]["source"] == "shuttle"
    assert manifest["source"]["code"]["file"] == "shuttle.py" and manifest["source"]["params"] == {"laps": 3}
    assert manifest["status"] == "closed" and "network" not in manifest["source"]


def test_the_readme_reading_snippet_runs_as_written_on_a_run(run_cli, tmp_path):
    code = readme_python("vpslog.read(")
    model = tmp_path / "stuck.py"  # vehicles that enter every edge but leave only even ones: exits differ from enters
    model.write_text("import vpslog\nclass Stuck(vpslog.Source):\n    def run(self, log):\n"
                     "        for e in range(6):\n            for v in range(e + 1):\n                log.enter(e, v, e)\n"
                     "                if e % 2 == 0:\n                    log.exit(e + 1, v, e)\n            yield\n")
    *_, bin_path = simulated(run_cli, tmp_path, "--source", model)
    scope = {}
    exec(re.sub(r'vpslog\.read\("[^"]+"\)', f"vpslog.read({bin_path!r})", code), scope)
    assert sorted(scope["exits"].iter_rows()) == [(0, 2), (2, 6), (4, 10)]  # 2 workers x (e + 1) vehicles


def test_analyze_says_what_it_cannot_without_an_edge_table(run_cli, tmp_path):
    _, _, bin_path = simulated(run_cli, tmp_path, "--source", readme_example(tmp_path), "-p", "laps=2")
    out = run_cli("analyze", bin_path)
    assert out.returncode == 0, out.stderr
    assert "traversals" in out.stdout and "edge table" in (out.stdout + out.stderr)


@pytest.mark.parametrize("example, params, check", [
    ("ring_road.py", ["-p", "vehicles=30", "-p", "minutes=2"], lambda a: a["traversals"] > 500),
    ("bpr_links.py", ["-p", "links=80", "-p", "minutes=15", "-p", "alpha=0.8", "-p", "beta=2"],
     lambda a: abs(a["alpha"] / 0.8 - 1) < 0.05 and abs(a["beta"] / 2 - 1) < 0.05),
])
def test_the_examples_run_natively_and_analyze(run_cli, tmp_path, example, params, check):
    recs, manifest, bin_path = simulated(run_cli, tmp_path, "--source", ROOT / "examples" / example,
                                         "--workers", 2, *params)
    assert len(recs) == manifest["records"] > 0
    a = json.loads(run_cli("analyze", bin_path, "--json", check=True).stdout)
    assert a["unpaired_enters"] == a["unpaired_exits"] == 0 and check(a), a


def test_a_failing_model_natively_keeps_its_records_and_exits_1(run_cli, tmp_path):
    path = tmp_path / "flaky.py"
    path.write_text("import vpslog\nclass Flaky(vpslog.Source):\n    def run(self, log):\n"
                    "        log.enter(1, 1, 1)\n        yield\n        raise OSError('disk on fire')\n")
    out = run_cli("simulate", "--out", tmp_path / "o", "--source", path, "--workers", 1)
    assert out.returncode == 1 and "OSError: disk on fire" in out.stderr
    man = json.loads(open(out.stdout.split()[1]).read())
    assert man["status"] == "error" and man["records"] == 1


@pytest.mark.parametrize("args, message", [
    (["--source", "nowhere.py"], "nowhere.py: no such file"),
    (["--source", "load", "-p", "speed=3"], "unknown parameter"),
    (["--source", "traffic", "--workers", "3", "-p", "grid=2"], "workers <= grid"),
])
def test_bad_sources_and_params_are_one_clear_line(run_cli, tmp_path, args, message):
    out = run_cli("simulate", "--out", tmp_path, *args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_the_vehicle_logger_writes_three_streams_that_verify_and_list(run_cli, tmp_path):
    recs, manifest, bin_path = simulated(run_cli, tmp_path, "--source", ROOT / "examples" / "vehicle_logger.py",
                                         "--workers", 2, "-p", "vehicles=4", "-p", "minutes=0.2", "-p", "range_m=1000")
    assert manifest["manifest_version"] == 2 and len(recs) == manifest["records"] == 0
    streams = {s["name"]: s for s in manifest["streams"]}
    assert list(streams) == ["events", "telemetry", "fleet", "local"]
    tel = streams["telemetry"]
    assert tel["records"] == 2 * 4 * 1200 and tel["producers"] == {"0": 4800, "1": 4800}
    layout = from_json(tel["layout"])
    rows = np.fromfile(tmp_path / "out" / tel["file"], dtype=layout.numpy_dtype())
    assert len(rows) == tel["records"] and set(rows["vehicle"]) == set(range(8)) and rows["time_ms"].max() == 11_990
    assert f"{crc32c.crc32c(rows.tobytes()):08x}" == tel["checksum"]["value"]
    assert streams["fleet"]["records"] > 0 and streams["local"]["records"] == 2 * 4 * 120
    out = run_cli("verify", bin_path, check=True).stdout
    assert all(f"{s['file']}: {s['records']} records" in out for s in manifest["streams"][1:]) and "OK" in out
    ls = json.loads(run_cli("ls", tmp_path / "out", "--json", check=True).stdout)
    assert len(ls) == 1 and ls[0]["complete"] and ls[0]["streams"] == {k: s["records"] for k, s in streams.items()}
    assert "streams: telemetry 9600" in run_cli("ls", tmp_path / "out", check=True).stdout
    # the same run, again: deterministic from the seed
    _, again, _ = simulated(run_cli, tmp_path / "again", "--source", ROOT / "examples" / "vehicle_logger.py",
                            "--workers", 2, "-p", "vehicles=4", "-p", "minutes=0.2", "-p", "range_m=1000")
    assert [s["checksum"] for s in again["streams"]] == [s["checksum"] for s in manifest["streams"]]


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:-5]), r"stream fcd \(run-.*\.fcd\.bin\): size \d+ is not a multiple of 20: "
                                                   r"15 trailing byte"),
    (lambda p: p.write_bytes(p.read_bytes()[:100] + b"\xff" + p.read_bytes()[101:]),
     r"stream fcd \(run-.*\.fcd\.bin\): checksum mismatch"),
    (lambda p: p.unlink(), r"stream fcd \(run-.*\.fcd\.bin\): run-.*\.fcd\.bin is missing"),
])
def test_verify_names_a_damaged_stream(run_cli, tmp_path, damage, message):
    _, manifest, bin_path = simulated(run_cli, tmp_path, "-p", "vehicles=300", "-p", "grid=6", "-p", "duration_s=60",
                                      "-p", "fcd_period_s=2", "--workers", 2)
    fcd = manifest["streams"][1]
    assert fcd["name"] == "fcd" and fcd["records"] > 1000 and fcd["layout"]["record_size"] == 20
    damage(tmp_path / "out" / fcd["file"])
    out = run_cli("verify", bin_path)
    assert out.returncode == 1 and re.search(message, out.stderr), out.stderr
    assert "stream events" not in out.stderr  # the events stream is not blamed
    row = json.loads(run_cli("ls", tmp_path / "out", "--json", check=True).stdout)[0]
    assert row["complete"] == ("checksum" in message)  # ls reads sizes, not records


def test_a_version_1_manifest_is_still_valid_and_reads_as_events_only():
    m = closed_manifest(run_id="run-x", mode="cli", config={"workers": 1, "source": {"source": "load"}, "pace": "max",
                                                             "durationS": 0}, source=None,
                        producers=[{"id": 0, "records": 3, "buffers": 1, "reported_records": 3, "source": None,
                                    "stats": None}], records=3, checksum="00000000", created_at="2026-01-01T00:00:00Z")
    jsonschema.validate(m, schema())
    v1 = {k: v for k, v in m.items() if k != "streams"} | {"manifest_version": 1}
    jsonschema.validate(v1, schema())
    (events,) = manifest_streams(v1)
    assert (events.name, events.file, events.records, events.producers) == ("events", "run-x.bin", 3, {"0": 3})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**v1, "manifest_version": 2}, schema())  # version 2 lists its streams


def test_ctrl_c_ends_simulate_with_one_line_and_leaves_no_partial_files(tmp_path):
    """Ctrl-C in a terminal signals the whole job (the CLI and its worker processes): no traceback,
    exit 130, and none of the hidden per-worker part files left in the output folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cli = subprocess.Popen([sys.executable, "-m", "vpslog.cli", "simulate", "--out", tmp_path, "--workers", "2",
                            "-p", "vehicles=200000", "-p", "duration_s=3600"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size for p in tmp_path.glob(".*.part*")):  # the workers are logging
        assert cli.poll() is None and time.monotonic() < deadline, cli.communicate()
        time.sleep(0.05)
    os.killpg(cli.pid, signal.SIGINT)
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 130, err
    assert err.strip().splitlines()[-1] == "vpslog simulate: interrupted" and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []
