"""`vpslog export`: runs made by the real `vpslog simulate` (the 3-stream vehicle logger, a wide-id run
with an enum stream, a traffic run with FCD) written as Parquet, Arrow and CSV, then read back by DuckDB
and by Polars and compared with `run.frame()`; the streaming sink's row groups; a bucket run (moto S3
behind `vpslog serve`); and what bad input says."""

import json
import math
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness
import vpslog
# runs as the reading tests make them (fixtures in conftest.py: fleet, traffic, signals)
from made_runs import simulate
from vpslog.io import export

ROOT = Path(__file__).resolve().parents[2]
EXT = {"parquet": "parquet", "arrow": "arrow", "csv": "csv"}


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as DuckDB and CSV give it: an Enum is its label."""
    return frame.with_columns(pl.col(pl.Enum).cast(pl.String))


def read_back(path: Path, format: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The file as Polars and as DuckDB read it, each the way an analyst would."""
    if format == "parquet":
        return pl.read_parquet(path), duckdb.sql(f"select * from read_parquet('{path}')").pl()
    if format == "arrow":
        # DuckDB's own Arrow reader is a community extension (not installable offline): it scans the file through pyarrow
        arrow = ds.dataset(path, format="arrow")
        return pl.read_ipc(path), duckdb.sql("select * from arrow").pl()
    return (pl.read_csv(path, schema=frame.schema),
            duckdb.sql(f"select * from read_csv('{path}', header=true, columns={_duck_columns(frame)})").pl())


def _duck_columns(frame: pl.DataFrame) -> dict:
    duck = {pl.UInt8: "UTINYINT", pl.UInt16: "USMALLINT", pl.UInt32: "UINTEGER", pl.UInt64: "UBIGINT",
            pl.Int8: "TINYINT", pl.Int16: "SMALLINT", pl.Int32: "INTEGER", pl.Int64: "BIGINT",
            pl.Float32: "FLOAT", pl.Float64: "DOUBLE"}
    return {n: "VARCHAR" if isinstance(t, pl.Enum) else duck[t.base_type()] for n, t in frame.schema.items()}


@pytest.mark.parametrize("format", ["parquet", "arrow", "csv"])
def test_every_stream_of_every_run_reads_back_in_duckdb_and_polars_as_run_frame(format, fleet, signals, tmp_path, run_cli):
    out = run_cli("export", fleet, signals, "--format", format, "--out", tmp_path, check=True)
    runs = [vpslog.read(fleet), vpslog.read(signals)]
    want = [tmp_path / r.run_id / "manifest.json" for r in runs] + [
        tmp_path / r.run_id / f"{s}.{EXT[format]}" for r in runs for s in r.streams]
    assert out.stdout.split() == list(map(str, want)) and out.stderr == ""
    for run in runs:
        assert json.loads((tmp_path / run.run_id / "manifest.json").read_text()) == run.manifest
        for stream in run.streams:
            frame, path = run.frame(stream), tmp_path / run.run_id / f"{stream}.{EXT[format]}"
            by_polars, by_duckdb = read_back(path, format, frame)
            assert by_polars.equals(frame), (stream, by_polars.schema, frame.schema)
            assert by_duckdb.height == frame.height and as_text(by_duckdb).equals(as_text(frame)), stream
    # the enums a stream declares stay readable: a dictionary-encoded Parquet column, an Arrow dictionary, text in CSV
    signals_file = tmp_path / runs[1].run_id / f"signals.{EXT[format]}"
    if format == "parquet":
        light = pq.ParquetFile(signals_file)
        assert "RLE_DICTIONARY" in light.metadata.row_group(0).column(1).encodings
        assert str(light.schema_arrow.field("light").type) == "dictionary<values=string, indices=uint8, ordered=1>"
    elif format == "arrow":
        light = ds.dataset(signals_file, format="arrow").schema.field("light").type
        assert str(light) == "dictionary<values=large_string, indices=uint8, ordered=1>"
    else:
        assert pl.read_csv(signals_file)["light"].unique().sort().to_list() == ["amber", "green", "red"]


def test_parquet_is_zstd_in_row_groups_and_the_sink_streams_block_by_block(traffic, tmp_path, monkeypatch):
    import vpslog.runs as runs
    from vpslog.io._export import row_group_rows

    monkeypatch.setattr(runs, "BLOCK_RECORDS", 40_000)  # 400 KB blocks: the FCD stream is many of them
    run = vpslog.read(traffic)
    fcd = run.streams["fcd"]
    assert fcd.records > 10 * runs.block_records(fcd.layout.record_size)
    done = export(run, tmp_path, "parquet", ["fcd"], rows=1000)
    path = tmp_path / run.run_id / "fcd.parquet"
    assert done == {"files": [tmp_path / run.run_id / "manifest.json", path], "failed": [], "skipped": [], "warnings": []}
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == math.ceil(fcd.records / 1000)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups - 1)] == [1000] * (meta.num_row_groups - 1)
    chunk = meta.row_group(0).column(0)
    assert chunk.compression == "ZSTD" and chunk.statistics.has_min_max  # readers skip row groups by time_ms
    assert pl.read_parquet(path).equals(run.frame("fcd"))
    # a time range read by DuckDB from the row groups whose statistics allow it
    lo, hi = 20_000, 30_000
    assert duckdb.sql(f"select count(*) from '{path}' where time_ms between {lo} and {hi}").fetchall() == [
        (run.frame("fcd").filter(pl.col("time_ms").is_between(lo, hi)).height,)]
    # the default: 1 M rows per group, a wide record held to 64 MB of rows
    assert row_group_rows(10) == 1 << 20 and row_group_rows(4096) == 16_384


def test_stream_selection_overwrite_and_force(fleet, tmp_path, run_cli):
    run = vpslog.read(fleet)
    out = run_cli("export", fleet, "--out", tmp_path, "--stream", "fleet", "--stream", "local", "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / run.run_id).iterdir()) == ["fleet.csv", "local.csv", "manifest.json"]
    (tmp_path / run.run_id / "local.csv").write_text("mine")
    again = run_cli("export", fleet, "--out", tmp_path, "--format", "csv")
    assert again.returncode == 1 and again.stdout == ""
    assert f"vpslog export: 2 file(s) already there, e.g. {tmp_path / run.run_id / 'fleet.csv'} (force / --force overwrites)" \
        in again.stderr
    assert (tmp_path / run.run_id / "local.csv").read_text() == "mine" and not (tmp_path / run.run_id / "events.csv").exists()
    assert run_cli("export", fleet, "--out", tmp_path, "--format", "csv", "--force").returncode == 0
    assert pl.read_csv(tmp_path / run.run_id / "local.csv", schema=run.frame("local").schema).equals(run.frame("local"))


def test_an_unknown_stream_lists_the_known_ones_and_writes_nothing(fleet, tmp_path, run_cli):
    run = vpslog.read(fleet)
    out = run_cli("export", fleet, "--out", tmp_path / "x", "--stream", "telemetry", "--stream", "fcd")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == f"vpslog export: run {run.run_id} has no stream 'fcd'; its streams: events, telemetry, fleet, local\n"
    assert not (tmp_path / "x").exists()


def test_a_damaged_stream_file_is_named_and_the_other_streams_are_still_written(tmp_path, run_cli):
    path = simulate(tmp_path / "runs", "--source", ROOT / "examples" / "vehicle_logger.py", "-p", "vehicles=2",
                    "-p", "minutes=0.05")
    run = vpslog.read(path)
    damaged = path.with_name(run.streams["telemetry"].file)
    damaged.write_bytes(damaged.read_bytes()[:-5])
    out = run_cli("export", path, "--out", tmp_path / "x")
    assert out.returncode == 1
    assert (f"vpslog export: FAIL: run {run.run_id}, stream telemetry: {damaged}: {damaged.stat().st_size} bytes, the "
            f"manifest says {run.streams['telemetry'].bytes} (stream telemetry; truncated?)") in out.stderr
    written = sorted(p.name for p in (tmp_path / "x" / run.run_id).iterdir())
    assert written == ["events.parquet", "fleet.parquet", "local.parquet", "manifest.json"]  # no partial file left
    missing = run_cli("export", tmp_path / "runs" / "nowhere.bin", "--out", tmp_path / "y")
    assert missing.returncode == 1 and "vpslog export: no run can be read: run " in missing.stderr
    assert "nowhere.bin: no such file" in missing.stderr


def test_a_run_that_did_not_close_exports_with_its_warning(tmp_path, run_cli):
    flaky = tmp_path / "flaky.py"
    flaky.write_text("import vpslog\nclass Flaky(vpslog.Source):\n    def run(self, log):\n"
                     "        log.enter(1, 1, 1)\n        yield\n        raise OSError('disk on fire')\n")
    made = run_cli("simulate", "--out", tmp_path / "o", "--source", flaky, "--workers", 1)
    run_id = Path(made.stdout.split()[0]).stem
    out = run_cli("export", tmp_path / "o", "--out", tmp_path / "x", "--format", "arrow")
    assert out.returncode == 0
    assert f"vpslog export: WARNING: run {run_id} is error: a storage, a model or a producer failed" in out.stderr
    assert pl.read_ipc(tmp_path / "x" / run_id / "events.arrow")["vehicle_id"].to_list() == [1]


def test_a_bucket_run_exports_as_its_files_do_and_a_damaged_part_names_run_stream_and_part(
        backend, s3, s3_env, fleet, tmp_path, run_cli):
    bucket, m = backend["bucket"], json.loads(fleet.with_name(fleet.stem + ".manifest.json").read_text())
    harness.put_cloud_run(s3, bucket, "export-a", fleet, m, part_records=1000, encoding="shuffle-gzip")
    local = vpslog.read(fleet)
    out = run_cli("export", f"s3://{bucket}/runs/export-a", "--out", tmp_path, env=s3_env)
    assert out.returncode == 0, out.stderr
    for stream in local.streams:
        assert pl.read_parquet(tmp_path / "export-a" / f"{stream}.parquet").equals(local.frame(stream))

    # part 5 of 10 garbled
    key = "runs/export-a/telemetry/part-000005.bin"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body[:40] + bytes(len(body) - 40))
    out = run_cli("export", f"s3://{bucket}/runs/export-a", "--out", tmp_path / "again", env=s3_env)
    assert out.returncode == 1
    assert (f"vpslog export: FAIL: run export-a, stream telemetry: {key}: the stored shuffle-gzip object's CRC32C differs"
            in out.stderr)
    assert sorted(p.name for p in (tmp_path / "again" / "export-a").iterdir()) == [
        "events.parquet", "fleet.parquet", "local.parquet", "manifest.json"]
    # with row groups of a part's 1,000 records, the sink has written parts 1-4 when part 5 fails:
    # still no file (nor a partial one) for that stream
    done = export(f"s3://{bucket}/runs/export-a", tmp_path / "rows", "parquet", ["telemetry", "fleet"], rows=1000)
    assert [(f["stream"], key in f["error"]) for f in done["failed"]] == [("telemetry", True)]
    assert sorted(p.name for p in (tmp_path / "rows" / "export-a").iterdir()) == ["fleet.parquet", "manifest.json"]
