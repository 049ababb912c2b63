"""`vpslog describe`: runs made by the real `vpslog simulate` (the 3-stream vehicle logger, a wide-id run
whose own stream holds NaN, infinity, 64-bit and signed integers and an enum with an undeclared code)
summarised per stream, every figure held to numpy reading the raw bytes as the manifest's layout says;
its JSON shape; one screen of text; runs that did not close, damaged streams, a bucket run; and
`analyze` on a run without events pointing here."""

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness
# runs as the reading tests make them (fixtures in conftest.py), and numpy's own reading of a stream
from made_runs import manifest_of, raw, simulate

ROOT = Path(__file__).resolve().parents[2]

PROBE = '''
import math
import vpslog


class Probe(vpslog.Source):
    """Wide ids, and a stream with every kind of figure: 64-bit and signed integers, floats with NaN and
    infinity, an enum with a code it does not declare (at t == 1234)."""
    name = "probe"
    wide_ids = True
    params = {"n": vpslog.Param(2000, "records per worker", 1, 100_000)}
    streams = [vpslog.Stream("probe", [("time_ms", "uint32"), ("big", "uint64"), ("delta", "int16"),
                                        ("gap", "float32"), ("ratio", "float64"), ("mode", "uint8")],
                             enums={"mode": {"idle": 0, "busy": 1}})]

    def run(self, log):
        w = self.part.worker
        for t in range(self.params["n"]):
            log.enter(t, 70_000 + w, 100_000 + t % 11)
            gap = math.nan if t % 97 == 0 else (t * 0.37) % 13 - 6
            log.probe(5 * t + w, 2**40 + t * t * (w + 1), t % 200 - 100, gap, -math.inf if t == 777 else t / 7,
                      7 if t == 1234 else t % 2)
            if t % 100 == 99:
                yield
'''
RUN_KEYS = ["run_id", "location", "status", "note", "source", "params", "streams"]
STREAM_KEYS = ["name", "records", "bytes", "record_size", "dropped_records", "producers", "time_ms", "fields",
               "warnings", "error"]
FIELD_KEYS = ["name", "type", "min", "max", "mean", "nulls", "nans", "counts"]


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src") / "probe.py"
    src.write_text(PROBE)
    return simulate(tmp_path_factory.mktemp("probe"), "--source", src)


def json_number(x):
    """How describe's JSON writes a figure: JSON has no infinity."""
    x = x.item() if isinstance(x, np.generic) else x
    return ("inf" if x > 0 else "-inf") if isinstance(x, float) and math.isinf(x) else x


def expected_field(values: np.ndarray, f: dict, labels: dict | None) -> dict:
    """One field's figures by numpy; floats leave NaN out of min, max and mean."""
    if labels is not None:
        return {"name": f["name"], "type": f["type"], "min": None, "max": None, "mean": None,
                "nulls": int(np.isin(values, list(labels.values()), invert=True).sum()), "nans": None,
                "counts": {k: int((values == v).sum()) for k, v in labels.items()}}
    is_float = f["type"].startswith("float")
    kept = values[~np.isnan(values)] if is_float else values
    figures = (None, None, None) if not len(kept) else (kept.min(), kept.max(), kept.astype(np.float64).mean())
    return {"name": f["name"], "type": f["type"], **dict(zip(("min", "max", "mean"), map(json_number, figures))),
            "nulls": 0, "nans": int(np.isnan(values).sum()) if is_float else None, "counts": None}


def assert_describes(summary: dict, bin_path: Path) -> None:
    m = manifest_of(bin_path)
    assert summary["run_id"] == m["run_id"] and summary["status"] == m["status"]
    assert [s["name"] for s in summary["streams"]] == [e["name"] for e in m["streams"]]
    for s, entry in zip(summary["streams"], m["streams"]):
        rows = raw(bin_path, entry)
        assert (s["records"], s["bytes"], s["producers"], s["dropped_records"]) == (
            len(rows), entry["bytes"], entry["producers"], entry["dropped_records"])
        assert s["time_ms"] == ({"min": int(rows["time_ms"].min()), "max": int(rows["time_ms"].max())} if len(rows)
                                else {"min": None, "max": None})
        for got, f in zip(s["fields"], entry["layout"]["fields"]):
            want = expected_field(rows[f["name"]], f, entry["layout"]["enums"].get(f["name"]))
            if isinstance(want["mean"], float):
                assert got["mean"] == pytest.approx(want["mean"], rel=1e-12), (s["name"], f["name"])
                want["mean"] = got["mean"]
            assert got == want, (s["name"], f["name"])


def test_every_figure_of_every_stream_equals_numpy_on_the_raw_bytes(fleet, probe, run_cli):
    out = run_cli("describe", fleet, probe, "--json", check=True)
    summary = json.loads(out.stdout)
    assert summary["version"] == 1 and summary["skipped"] == [] and len(summary["runs"]) == 2
    for got, path in zip(summary["runs"], (fleet, probe)):
        assert_describes(got, path)
    fleet_run, probe_run = summary["runs"]
    assert fleet_run["source"] == "vehicle-logger" and fleet_run["params"]["param_vehicles"] == 4
    assert [s["records"] for s in fleet_run["streams"][:2]] == [0, 9600]  # no events; 100 Hz telemetry
    assert [s["name"] for s in probe_run["streams"]] == ["events", "events_wide", "probe"]
    probe_stream = probe_run["streams"][2]
    fields = {f["name"]: f for f in probe_stream["fields"]}
    # the cases the probe logs are there: NaN counted apart, -inf kept, a code the enum does not declare
    assert fields["gap"]["nans"] == 2 * math.ceil(2000 / 97) and fields["ratio"]["min"] == "-inf"
    assert fields["mode"]["nulls"] == 2 and fields["big"]["max"] > 2**40
    assert probe_stream["warnings"] == [f"run {probe_run['run_id']}, stream probe: field mode holds 2 value(s) its enum "
                                        "does not declare (7); they read as null (enums=False reads the codes)"]


def test_the_json_shape_is_stable(fleet, run_cli):
    summary = json.loads(run_cli("describe", fleet, "--json", check=True).stdout)
    assert list(summary) == ["version", "runs", "skipped"]
    (run,) = summary["runs"]
    assert list(run) == RUN_KEYS
    for s in run["streams"]:
        assert list(s) == STREAM_KEYS and list(s["time_ms"]) == ["min", "max"]
        assert all(list(f) == FIELD_KEYS for f in s["fields"])


def test_the_text_is_one_screen_naming_every_stream_and_field(fleet, probe, run_cli):
    m = manifest_of(fleet)
    out = run_cli("describe", fleet, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) <= 40 and out.stderr == ""
    assert lines[0].startswith(f"{m['run_id']}: closed, source vehicle-logger (vehicles=4, minutes=0.2, ")
    assert "  events: 0 records, 0 bytes" in lines
    assert "  telemetry: 9,600 records, 240,000 bytes, time 0..11990 ms, producers 0: 4,800, 1: 4,800" in lines
    for entry in m["streams"][1:]:
        assert any(line.startswith(f"  {entry['name']}: ") for line in lines)
        for f in entry["layout"]["fields"]:
            assert any(line.split()[:2] == [f["name"], f["type"]] for line in lines), f["name"]
    text = run_cli("describe", probe, check=True).stdout
    mode = raw(probe, manifest_of(probe)["streams"][2])["mode"]
    assert f"    mode           enum     idle {(mode == 0).sum():,}, busy {(mode == 1).sum():,}  (nulls 2)" in text
    nans = 2 * math.ceil(2000 / 97)
    assert [line for line in text.splitlines() if line.split()[:1] == ["gap"]][0].endswith(f", {nans} NaN")
    assert "    WARNING: run " in text and "field mode holds 2 value(s)" in text


def test_a_recovered_run_is_described_with_what_it_may_miss(fleet, tmp_path, run_cli):
    m = manifest_of(fleet)
    m["status"] = "recovered"
    m["recovery"] = {"cause": "tab closed while writing", "trailing_bytes_cut": 0, "unattributed_records": 0,
                     "last_checkpoint_at": "2026-12-01T10:00:00.000Z"}
    m["streams"][1] = {**m["streams"][1], "unattributed_records": 1200}
    for f in fleet.parent.glob(f"{m['run_id']}*.bin"):
        shutil.copy(f, tmp_path)
    (tmp_path / f"{m['run_id']}.manifest.json").write_text(json.dumps(m))
    summary = json.loads(run_cli("describe", tmp_path, "--json", check=True).stdout)
    note = summary["runs"][0]["note"]
    assert summary["runs"][0]["status"] == "recovered"
    assert note.startswith(f"run {m['run_id']} is recovered: its tab or browser stopped before the run closed")
    assert "records after the last checkpoint, not attributed to a producer: telemetry 1200" in note
    assert f"  WARNING: {note}" in run_cli("describe", tmp_path, check=True).stdout.splitlines()


def test_a_damaged_stream_is_named_the_others_described_and_a_run_without_manifest_skipped(tmp_path, run_cli):
    path = simulate(tmp_path, "--source", ROOT / "examples" / "vehicle_logger.py", "-p", "vehicles=2", "-p", "minutes=0.05")
    m = manifest_of(path)
    damaged = path.with_name(m["streams"][1]["file"])
    damaged.write_bytes(damaged.read_bytes()[:-3])
    (tmp_path / "half.bin").write_bytes(b"")  # a run whose manifest never landed
    out = run_cli("describe", tmp_path, "--json")
    assert out.returncode == 1
    assert f"vpslog describe: skipped {tmp_path / 'half.bin'}: run {tmp_path / 'half.bin'}: no manifest for" in out.stderr
    (run,) = json.loads(out.stdout)["runs"]
    telemetry = run["streams"][1]
    assert telemetry["error"] == (f"run {m['run_id']}, stream telemetry: {damaged}: {damaged.stat().st_size} bytes, "
                                  f"the manifest says {m['streams'][1]['bytes']} (stream telemetry; truncated?)")
    assert telemetry["fields"] is None and telemetry["records"] == m["streams"][1]["records"]
    assert all(s["error"] is None and s["fields"] for s in run["streams"][2:])
    text = run_cli("describe", path)
    assert text.returncode == 1 and f"; FAIL: {telemetry['error']}" in text.stdout


def test_a_bucket_run_is_described_as_its_files_are(backend, s3, s3_env, fleet, run_cli):
    harness.put_cloud_run(s3, backend["bucket"], "describe-a", fleet, manifest_of(fleet), part_records=1000,
                          encoding="shuffle-gzip")
    local = json.loads(run_cli("describe", fleet, "--json", check=True).stdout)["runs"][0]
    out = run_cli("describe", f"s3://{backend['bucket']}/runs/describe-a", "--json", env=s3_env, check=True)
    (bucket,) = json.loads(out.stdout)["runs"]
    assert bucket["location"] == f"s3://{backend['bucket']}/runs/describe-a" and bucket["run_id"] == "describe-a"
    assert bucket["streams"] == local["streams"]


def test_analyze_of_a_run_without_events_points_to_describe(fleet, run_cli):
    out = run_cli("analyze", fleet, check=True)
    assert "0 records, 0 traversals" in out.stdout
    assert "no events in a run: `vpslog describe` summarises any stream" in out.stdout
