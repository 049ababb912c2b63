"""``vpslog export``: each stream of each run written as a file DuckDB and Polars read directly,
``DIR/<runId>/<stream>.parquet|arrow|csv`` beside ``DIR/<runId>/manifest.json``. Every file is
written by Polars' streaming sink from ``Run.scan``: the run is read block by block and written
row group by row group, so memory does not grow with the run."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import polars as pl

from . import _many
from ._errors import ReadError
from ._run import Run
from ._status import missing

MANIFEST = "manifest.json"
# DuckDB and Polars read a Parquet file one row group per thread and skip row groups by their
# min/max statistics (a time_ms range, say); DuckDB advises 100 K-1 M rows per group. 1 M rows of a
# 10-byte event is ~10 MB of columns, zstd-compressed per column chunk; a wide record is held to
# ROW_GROUP_BYTES, because the writer holds a whole row group before it writes it.
ROW_GROUP_ROWS = 1 << 20
ROW_GROUP_BYTES = 64 << 20


def row_group_rows(record_size: int) -> int:
    """Rows per Parquet row group (and per Arrow record batch) of a stream of ``record_size`` bytes."""
    return max(1, min(ROW_GROUP_ROWS, ROW_GROUP_BYTES // record_size))


def export(runs, out_dir, format: str = "parquet", streams=None, *, force: bool = False, rows: int | None = None,
           progress: bool = False) -> dict:
    """Write ``streams`` (default: every stream) of the runs at ``runs`` (what ``vpslog.read`` takes, a
    Run or Runs, or a list of these) to ``out_dir`` in ``format``; ``rows`` overrides the rows per row
    group / record batch. Returns ``files`` (written, in order), ``failed`` (``{run_id, stream, error}``:
    a stream that could not be read; the others are still written), ``skipped`` (runs that cannot be
    opened) and ``warnings`` (what a run that did not close may miss, codes an enum does not declare).
    Raises, before writing anything, ReadError for a stream a run does not have (or no run at all) and
    FileExistsError for files already there (unless ``force``)."""
    if format not in FORMATS:
        raise ValueError(f"format {format!r}: one of {', '.join(FORMATS)}")
    opened, skipped = _many.open_runs(runs)
    if not opened:
        raise ReadError("no run can be read: " + "; ".join(s["error"] for s in skipped))
    out_dir = Path(out_dir)
    plan = _plan(opened, [streams] if isinstance(streams, str) else streams, out_dir, FORMATS[format][0])
    # the manifest is not checked: it is the run's own, rewritten as it is (another format may come later)
    if not force and (there := [p for _, _, p in plan if p.exists()]):
        raise FileExistsError(f"{len(there)} file(s) already there, e.g. {there[0]} (force / --force overwrites)")
    files = [_write_manifest(run, out_dir) for run in opened]
    failed, notes = [], [note for r in opened if (note := missing(r.manifest))]
    total = sum(run.streams[s].records for run, s, _ in plan)
    with warnings.catch_warnings(record=True) as seen, _many.progress(total, "export", progress) as bar:
        warnings.simplefilter("always")
        for run, stream, path in plan:
            try:
                _sink(_many.counted(run.scan(stream), bar), path, format,
                      rows or row_group_rows(run.streams[stream].layout.record_size))
                files.append(path)
            except ReadError as e:
                failed.append({"run_id": run.run_id, "stream": stream, "error": str(e)})
    return {"files": files, "failed": failed, "skipped": skipped, "warnings": notes + [str(w.message) for w in seen]}


def _plan(runs: list[Run], streams, out_dir: Path, ext: str) -> list[tuple[Run, str, Path]]:
    """(run, stream, file) of every file to write; a stream a run does not have is refused, naming its streams."""
    ids = [r.run_id for r in runs]
    if twice := sorted({i for i in ids if ids.count(i) > 1}):
        raise ReadError(f"run id(s) {', '.join(twice)} given twice: their files would collide")
    plan = []
    for run in runs:
        for s in streams or run.streams:
            run._entry(s)  # an unknown stream: ReadError listing the run's streams
            plan.append((run, s, out_dir / run.run_id / f"{s}.{ext}"))
    return plan


def _write_manifest(run: Run, out_dir: Path) -> Path:
    """The run's manifest beside its files: layouts, enum labels (a CSV holds only the text), parameters."""
    path = out_dir / run.run_id / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.manifest, indent=2))
    return path


def _parquet(scan: pl.LazyFrame, path: Path, rows: int) -> None:
    scan.sink_parquet(path, compression="zstd", row_group_size=rows, statistics=True)


def _arrow(scan: pl.LazyFrame, path: Path, rows: int) -> None:
    # uncompressed, so Polars and pyarrow memory-map it; the oldest compat level writes plain
    # (large) strings for Enum dictionaries, which every Arrow reader knows (string views are recent)
    scan.sink_ipc(path, compression="uncompressed", compat_level=pl.CompatLevel.oldest(), record_batch_size=rows)


def _csv(scan: pl.LazyFrame, path: Path, rows: int) -> None:
    scan.sink_csv(path)  # an Enum as its label


# The one place an output format is added: name -> (file extension, streaming writer).
FORMATS = {"parquet": ("parquet", _parquet), "arrow": ("arrow", _arrow), "csv": ("csv", _csv)}


def _sink(scan: pl.LazyFrame, path: Path, format: str, rows: int) -> None:
    """Stream ``scan`` into ``path`` through a partial file, so a stream that fails midway leaves no
    file that looks whole (nor the one it would have replaced)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        FORMATS[format][1](scan, partial, rows)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
