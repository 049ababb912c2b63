"""`vpslog.read`: runs made by the real `vpslog simulate` (a traffic run with FCD, the multi-stream
vehicle logger, a wide-id run with an enum stream of its own) read into Polars and Arrow, compared
column by column with numpy reading the raw bytes as the manifest's layout says; lazily, block by
block; from a bucket (moto S3 behind `vpslog serve`); many runs at once; and what bad input says."""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness
import vpslog
from made_runs import manifest_of, raw, simulate
from vpslog.io import ReadError, Run, Runs

ROOT = Path(__file__).resolve().parents[2]
POLARS = {"uint8": pl.UInt8, "uint16": pl.UInt16, "uint32": pl.UInt32, "uint64": pl.UInt64, "int8": pl.Int8,
          "int16": pl.Int16, "int32": pl.Int32, "int64": pl.Int64, "float32": pl.Float32, "float64": pl.Float64}

def assert_reads_as_raw(frame: pl.DataFrame, rows: np.ndarray, entry: dict) -> None:
    """Every column: the declared name and exact type (an Enum where declared), every value as stored."""
    enums = entry["layout"]["enums"]
    assert frame.columns == [f["name"] for f in entry["layout"]["fields"]] and frame.height == len(rows)
    for f in entry["layout"]["fields"]:
        col, want = frame[f["name"]], rows[f["name"]]
        if f["name"] in enums:
            labels = enums[f["name"]]
            assert col.dtype == pl.Enum(sorted(labels, key=labels.get))
            by_code = {v: k for k, v in labels.items()}
            assert col.to_list() == [by_code.get(int(c)) for c in want]
        else:
            assert col.dtype == POLARS[f["type"]], f["name"]
            assert np.array_equal(col.to_numpy(), want, equal_nan=True), f["name"]


def test_every_stream_of_a_multi_stream_run_reads_with_its_declared_columns(fleet):
    m = manifest_of(fleet)
    run = vpslog.read(fleet)
    assert isinstance(run, Run) and run.run_id == m["run_id"] and run.status == "closed"
    assert run.source == "vehicle-logger" and run.params["vehicles"] == 4 and run.manifest == m
    assert {n: (e.records, e.bytes) for n, e in run.streams.items()} == {
        s["name"]: (s["records"], s["bytes"]) for s in m["streams"]}
    assert run.streams["telemetry"].layout.record_size == 25 and run.streams["telemetry"].records == 9600
    for entry in m["streams"]:
        assert_reads_as_raw(run.frame(entry["name"]), raw(fleet, entry), entry)
        assert run.scan(entry["name"]).collect().equals(run.frame(entry["name"]))
    assert run.frame().height == 0 and run.frame().columns == ["time_ms", "vehicle_id", "edge_id", "status", "pad"]


def test_events_status_is_an_enum_and_arrow_gets_the_same_columns(traffic):
    m = manifest_of(traffic)
    run = vpslog.read(str(traffic))
    events = run.frame()
    assert_reads_as_raw(events, raw(traffic, m["streams"][0]), m["streams"][0])
    assert set(events["status"].unique()) == {"enter", "exit", "error"} and events["status"].null_count() == 0
    codes = run.frame(enums=False)["status"]
    assert codes.dtype == pl.UInt8 and codes.to_list() == (events["status"].to_physical() + 1).to_list()
    table = run.to_arrow()
    assert isinstance(table, pa.Table) and table.num_rows == m["records"]
    assert table.schema.field("status").type == pa.dictionary(pa.uint8(), pa.large_string(), ordered=True)
    assert table.schema.field("edge_id").type == pa.uint16() and table.schema.field("time_ms").type == pa.uint32()
    assert pl.from_arrow(table).equals(events)


def test_a_wide_id_run_and_a_declared_enum_read_as_declared(signals):
    m = manifest_of(signals)
    run = vpslog.read(signals)
    assert list(run.streams) == ["events", "events_wide", "signals"] and run.streams["events"].records == 0
    for entry in m["streams"]:
        assert_reads_as_raw(run.frame(entry["name"]), raw(signals, entry), entry)
    wide = run.frame("events_wide")
    assert wide.schema["vehicle_id"] == pl.UInt32 and set(wide["vehicle_id"]) == {70_000, 70_001}
    assert wide["edge_id"].max() == 100_006 and wide.height == 6000
    light = run.frame("signals")["light"]
    assert light.dtype == pl.Enum(["red", "amber", "green"]) and light.value_counts().height == 3
    assert run.frame("signals")["phase"].min() == -1000


def test_a_code_the_enum_does_not_declare_reads_as_null_with_a_warning(tmp_path, signals_source):
    path = simulate(tmp_path, "--source", signals_source, "-p", "n=500", "-p", "odd_at=321")
    run = vpslog.read(path)
    with pytest.warns(UserWarning, match=rf"run {run.run_id}, stream signals: field light holds 2 value\(s\) "
                                         r"its enum does not declare \(9\); they read as null"):
        light = run.frame("signals")["light"]
    assert light.null_count() == 2  # one per worker
    assert run.frame("signals", enums=False).filter(pl.col("time_ms") == 321)["light"].to_list() == [9, 9]


def test_undeclared_codes_are_one_warning_per_stream_however_many_blocks(tmp_path, signals_source, monkeypatch):
    import vpslog.runs as runs

    path = simulate(tmp_path, "--source", signals_source, "-p", "n=3000", "-p", "odd_at=2500")
    monkeypatch.setattr(runs, "BLOCK_RECORDS", 100)  # 1,000-byte blocks: the stream is many blocks
    run = vpslog.read(path)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert run.frame("signals")["light"].null_count() == 2
    assert [str(w.message).split(": field ")[1][:40] for w in seen] == ["light holds 2 value(s) its enum does not"]


def test_scan_reads_block_by_block_and_pushes_columns_filters_and_limits_down(traffic, monkeypatch):
    import vpslog.runs as runs

    monkeypatch.setattr(runs, "BLOCK_RECORDS", 40_000)  # 400 KB blocks: the FCD stream is many blocks
    run = vpslog.read(traffic)
    fcd = run.streams["fcd"]
    assert fcd.records > 10 * runs.block_records(fcd.layout.record_size)
    query = (run.scan("fcd").filter(pl.col("vehicle") < 50).group_by("vehicle")
             .agg(pl.len(), pl.col("speed_mps").mean()).sort("vehicle"))
    plan = query.explain()
    assert "PYTHON[vpslog] SCAN" in plan and "PROJECT 2/5 COLUMNS" in plan and 'SELECTION: col("vehicle") < 50' in plan
    whole = run.frame("fcd")
    expect = whole.filter(pl.col("vehicle") < 50).group_by("vehicle").agg(pl.len(), pl.col("speed_mps").mean()).sort("vehicle")
    assert query.collect().equals(expect) and expect.height > 10
    assert run.scan("fcd").filter(pl.col("speed_mps") > 5).head(7).collect().equals(
        whole.filter(pl.col("speed_mps") > 5).head(7))
    assert whole.n_chunks() > 10  # one chunk per block, never joined into one copy

    # a head before a filter is the first rows, filtered (Polars passes both to the source at once)
    for query in (lambda f: f.head(25_000).filter(pl.col("speed_mps") > 5),
                  lambda f: f.head(25_000).filter(pl.col("vehicle") < 50).select("edge"),
                  lambda f: f.filter(pl.col("speed_mps") > 5).head(9_000).filter(pl.col("vehicle") % 2 == 0)):
        assert query(run.scan("fcd")).collect().equals(query(whole.lazy()).collect())

    # laziness: the file loses its later blocks after the scan was planned; a head reads only the first block
    lazy = run.scan("fcd")
    fcd_file = traffic.with_name(fcd.file)
    with open(fcd_file, "r+b") as f:
        f.truncate(fcd.bytes // 2)
    assert lazy.head(1000).collect().equals(whole.head(1000))
    with pytest.raises(ReadError, match=rf"run {run.run_id}, stream fcd: .*{fcd.file}: shorter than its manifest says"):
        lazy.select(pl.col("speed_mps").sum()).collect()


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:-20]), r"stream local: .*local\.bin: \d+ bytes, the manifest says \d+ "
                                                    r"\(stream local; truncated\?\)"),
    (lambda p: p.unlink(), r"stream local: .*local\.bin: no such file \(stream local of this run\)"),
])
def test_a_truncated_or_missing_stream_file_names_the_run_and_stream(tmp_path, damage, message):
    path = simulate(tmp_path, "--source", ROOT / "examples" / "vehicle_logger.py", "-p", "vehicles=2", "-p", "minutes=0.05")
    run = vpslog.read(path)
    damage(path.with_name(run.streams["local"].file))
    for read in (run.frame, run.scan):
        with pytest.raises(ReadError, match=f"run {run.run_id}, {message}"):
            read("local")
    assert run.frame("telemetry").height == run.streams["telemetry"].records  # the other streams still read


def test_an_unknown_stream_lists_the_known_ones_and_a_missing_manifest_is_named(fleet, tmp_path):
    run = vpslog.read(fleet)
    with pytest.raises(ReadError, match=rf"run {run.run_id} has no stream 'fcd'; its streams: events, telemetry, fleet, local"):
        run.scan("fcd")
    (tmp_path / "lonely.bin").write_bytes(bytes(100))
    with pytest.raises(ReadError, match=r"lonely\.bin: no manifest for .*lonely\.bin \(looked for .*lonely\.manifest\.json\)"):
        vpslog.read(tmp_path / "lonely.bin")
    with pytest.raises(ReadError, match=r"^run \S*nowhere\.bin: no such file$"):
        vpslog.read(tmp_path / "nowhere.bin")


def test_a_run_that_did_not_close_reads_with_a_warning_saying_what_may_be_missing(tmp_path, fleet):
    flaky = tmp_path / "flaky.py"
    flaky.write_text("import vpslog\nclass Flaky(vpslog.Source):\n    def run(self, log):\n"
                     "        log.enter(1, 1, 1)\n        yield\n        raise OSError('disk on fire')\n")
    out = harness.run_cli("simulate", "--out", tmp_path / "o", "--source", flaky, "--workers", 1)
    assert out.returncode == 1
    with pytest.warns(UserWarning, match=r"is error: a storage, a model or a producer failed.*producer 0: OSError: disk on fire"):
        run = vpslog.read(out.stdout.split()[0])
    assert run.status == "error" and run.frame()["vehicle_id"].to_list() == [1]

    # the same fleet run as recovery leaves one: records after the last checkpoint unattributed, a tail cut
    m = manifest_of(fleet)
    m["status"] = "recovered"
    m["recovery"] = {"cause": "tab closed while writing", "trailing_bytes_cut": 0, "unattributed_records": 0,
                     "last_checkpoint_at": "2026-12-01T10:00:00.000Z"}
    m["streams"][1] = {**m["streams"][1], "unattributed_records": 1200, "trailing_bytes_cut": 7, "dropped_records": 3}
    copy = tmp_path / "rec"
    copy.mkdir()
    for f in fleet.parent.glob(f"{m['run_id']}*.bin"):
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / f"{m['run_id']}.manifest.json").write_text(json.dumps(m))
    with pytest.warns(UserWarning) as seen:
        run = vpslog.read(copy / fleet.name)
    (note,) = [str(w.message) for w in seen]
    assert note.startswith(f"run {m['run_id']} is recovered: its tab or browser stopped before the run closed")
    for fact in ("recovered after tab closed while writing, last checkpoint 2026-12-01T10:00:00.000Z",
                 "records dropped (never stored): telemetry 3",
                 "records after the last checkpoint, not attributed to a producer: telemetry 1200",
                 "trailing bytes of a partial record cut: telemetry 7"):
        assert fact in note
    assert run.frame("telemetry").height == 9600


def test_many_runs_read_as_one_frame_with_run_id_and_join_their_parameters(tmp_path):
    for vehicles in (1000, 2000):
        simulate(tmp_path, "--seed", 2, "-p", f"vehicles={vehicles}", "-p", "duration_s=60")
    (tmp_path / "half.bin").write_bytes(b"")  # a run whose manifest never landed
    with pytest.warns(UserWarning, match=r"run .*half\.bin: no manifest for .*: left out"):
        runs = vpslog.read(tmp_path)
    assert isinstance(runs, Runs) and len(runs) == 2
    manifests = {r.run_id: r.manifest for r in runs}
    events = runs.frame("events")
    assert events.columns[0] == "run_id" and events.schema["run_id"] == pl.Enum(list(manifests))
    assert events.columns[1:] == runs[0].frame().columns
    assert dict(events.group_by("run_id").len().iter_rows()) == {k: m["records"] for k, m in manifests.items()}
    for r in runs:
        assert events.filter(pl.col("run_id") == r.run_id).drop("run_id").equals(r.frame())
    assert runs.scan("events").collect().equals(events)
    assert runs.to_arrow("events").num_rows == events.height

    table = runs.table()
    assert table["run_id"].to_list() == list(manifests) and table["source"].to_list() == ["traffic", "traffic"]
    assert sorted(table["param_vehicles"]) == [1000, 2000]
    assert table["records_events"].to_list() == [m["records"] for m in manifests.values()]
    per_vehicles = (runs.scan("events").filter(pl.col("status") == "exit").join(table.lazy(), on="run_id")
                    .group_by("param_vehicles").len().sort("param_vehicles").collect())
    assert per_vehicles["len"].to_list() == [
        runs[i].frame().filter(pl.col("status") == "exit").height for i in table["param_vehicles"].arg_sort()]

    with pytest.raises(ReadError, match=r"stream 'fcd' is not in run\(s\) .*; the runs' streams: events$"):
        runs.frame("fcd")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReadError, match="no run can be read there"):
        vpslog.read(tmp_path / "empty")


def test_a_bucket_run_reads_as_its_files_do_and_a_damaged_part_names_run_stream_and_part(backend, s3, fleet):
    bucket, m = backend["bucket"], manifest_of(fleet)
    harness.put_cloud_run(s3, bucket, "read-a", fleet, m, part_records=1000, encoding="shuffle-gzip")
    harness.put_cloud_run(s3, bucket, "read-b", fleet, m, part_records=3000)
    local = vpslog.read(fleet)
    run = vpslog.read(f"s3://{bucket}/runs/read-a")
    assert run.run_id == "read-a" and run.location == f"s3://{bucket}/runs/read-a"
    for name in run.streams:
        assert run.frame(name).equals(local.frame(name)) and run.scan(name).collect().equals(local.frame(name))
    runs = vpslog.read(f"s3://{bucket}/runs/read-*")
    assert [r.run_id for r in runs] == ["read-a", "read-b"]
    assert runs.frame("telemetry").group_by("run_id").len().sort("run_id")["len"].to_list() == [9600, 9600]

    # part 5 of 10 garbled: a head needs part 1 only; reading it all names the run, the stream and the part
    key = "runs/read-a/telemetry/part-000005.bin"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body[:40] + bytes(len(body) - 40))
    assert run.scan("telemetry").head(500).collect().equals(local.frame("telemetry").head(500))
    message = rf"run read-a, stream telemetry: {key}: the stored shuffle-gzip object's CRC32C differs"
    with pytest.raises(ReadError, match=message):
        run.frame("telemetry")
    with pytest.raises(ReadError, match=message):
        run.scan("telemetry").filter(pl.col("lane") == 9).collect()
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ReadError, match=rf"run read-a, stream telemetry: .*NoSuchKey"):
        run.frame("telemetry")
    with pytest.raises(ReadError, match=r"runs/read-none/manifest\.json is not in .*: the run is incomplete"):
        vpslog.read(f"s3://{bucket}/runs/read-none")


def test_import_vpslog_stays_standard_library_only():
    import subprocess

    code = ("import sys, vpslog; assert not {'numpy', 'polars', 'pyarrow'} & set(sys.modules), sys.modules.keys();"
            "from vpslog import *; assert 'polars' not in sys.modules; vpslog.read; assert 'polars' in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_many_runs_scan_one_run_after_another_never_all_at_once(tmp_path, monkeypatch):
    """Polars starts every input of a concat at once: a scan of many runs is one source that reads
    them in turn, so a query over a bucket needs the memory of one block, not one per run."""
    import vpslog.runs as runs_module

    for seed in (1, 2, 3):
        simulate(tmp_path, "--seed", seed, "-p", "vehicles=800", "-p", "duration_s=60")
    monkeypatch.setattr(runs_module, "BLOCK_RECORDS", 2_000)
    order = []
    read = runs_module.LocalRun.read
    monkeypatch.setattr(runs_module.LocalRun, "read", lambda self, block, stream=None: (
        order.append(Path(self.bin_path).stem), read(self, block, stream))[1])
    runs = vpslog.read(tmp_path)
    query = runs.scan("events").filter(pl.col("status") == "exit").group_by("run_id").len().sort("run_id")
    for engine in ("in-memory", "streaming"):
        order.clear()
        got, during = query.collect(engine=engine), list(order)
        runs_read = [r for i, r in enumerate(during) if i == 0 or during[i - 1] != r]
        assert len(during) > 6 and runs_read == [r.run_id for r in runs], (engine, runs_read)  # each run once, in turn
        assert got.equals(runs.frame("events").lazy().filter(pl.col("status") == "exit").group_by("run_id").len()
                          .sort("run_id").collect())


def test_a_damaged_events_file_names_the_stream_and_leaves_the_others_readable(tmp_path, run_cli):
    path = simulate(tmp_path, "--seed", 3, "-p", "vehicles=400", "-p", "duration_s=60", "-p", "fcd_period_s=5")
    path.write_bytes(path.read_bytes()[:-5])
    run = vpslog.read(path)
    with pytest.raises(ReadError, match=rf"^run {run.run_id}, stream events: .*{path.name}: size \d+ is not a multiple of 10"):
        run.frame()
    assert run.frame("fcd").height == run.streams["fcd"].records
    described = json.loads(run_cli("describe", path, "--json").stdout)["runs"][0]["streams"]
    assert [(s["name"], s["error"] is None) for s in described] == [("events", False), ("fcd", True)]
