"""``vpslog describe``: what a run holds, per stream: records, bytes, time range, per producer counts
(from the manifest) and per field min/max/mean/nulls, all of one stream aggregated in one pass of
Polars' streaming engine over ``Run.scan`` (memory: a block and the aggregates, whatever the run)."""

from __future__ import annotations

import math
import warnings

import polars as pl

from ..runs import param_columns
from . import _many
from ._errors import ReadError
from ._run import Run
from ._status import missing

VERSION = 1  # of the summary's shape (docs/cli.md#describe); bumped when a key changes
FLOATS = ("float32", "float64")


def describe(runs, *, progress: bool = False) -> dict:
    """A summary of the runs at ``runs`` (what ``vpslog.read`` takes, a Run or Runs, or a list of these):
    ``{"version", "runs": [...], "skipped": [{"location", "error"}]}``, each run with its ``streams``
    (docs/cli.md#describe). A stream that cannot be read has ``error`` and no figures; the others are
    still described. Raises ReadError if no run can be opened."""
    opened, skipped = _many.open_runs(runs)
    if not opened:
        raise ReadError("no run can be read: " + "; ".join(s["error"] for s in skipped))
    total = sum(e.records for r in opened for e in r.streams.values())
    with _many.progress(total, "describe", progress) as bar:
        return {"version": VERSION, "runs": [_run(r, bar) for r in opened], "skipped": skipped}


def _run(run: Run, bar) -> dict:
    return {"run_id": run.run_id, "location": run.location, "status": run.status, "note": missing(run.manifest),
            "source": run.source, "params": param_columns(run.params),
            "streams": [_stream(run, name, bar) for name in run.streams]}


def _stream(run: Run, name: str, bar) -> dict:
    entry = run.streams[name]
    out = {"name": name, "records": entry.records, "bytes": entry.bytes, "record_size": entry.layout.record_size,
           "dropped_records": entry.dropped_records, "producers": entry.producers,
           "time_ms": None, "fields": None, "warnings": [], "error": None}
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            row = _many.counted(run.scan(name), bar).select(_aggregates(entry.layout)).collect(engine="streaming")
    except ReadError as e:
        return {**out, "error": str(e)}
    figures = row.row(0, named=True)
    fields = [_field(f, entry.layout.enums.get(f.name), figures) for f in entry.layout.fields]
    return {**out, "records": figures["len"], "time_ms": {"min": fields[0]["min"], "max": fields[0]["max"]},
            "fields": fields, "warnings": [str(w.message) for w in seen]}


def _aggregates(layout) -> list[pl.Expr]:
    """Every figure of every field as one expression each, so one pass computes them all. Floats: min,
    max and mean leave NaN out (counted in ``nans``), and the mean is summed in float64."""
    out = [pl.len().alias("len")]
    for f in layout.fields:
        col, key = pl.col(f.name), f"{f.name}\0"
        out.append(col.null_count().alias(key + "nulls"))
        if f.name in layout.enums:
            out += [(col == label).sum().alias(key + label) for label in layout.enums[f.name]]
            continue
        if f.type in FLOATS:
            out.append(col.is_nan().sum().alias(key + "nans"))
            col = col.fill_nan(None)
        out += [col.min().alias(key + "min"), col.max().alias(key + "max"),
                col.cast(pl.Float64).mean().alias(key + "mean")]
    return out


def _field(f, labels: dict | None, figures: dict) -> dict:
    """One field's figures; the keys are the same for every field (null where they do not apply)."""
    key = f"{f.name}\0"
    numeric = labels is None
    return {"name": f.name, "type": f.type,
            "min": _number(figures[key + "min"]) if numeric else None,
            "max": _number(figures[key + "max"]) if numeric else None,
            "mean": _number(figures[key + "mean"]) if numeric else None,
            "nulls": figures[key + "nulls"],
            "nans": figures[key + "nans"] if f.type in FLOATS and numeric else None,
            "counts": None if numeric else {label: figures[key + label] for label in labels}}


def _number(x):
    """JSON has no infinity: a logged ±inf reads "inf" / "-inf" (NaN never reaches here)."""
    return ("inf" if x > 0 else "-inf") if isinstance(x, float) and math.isinf(x) else x


def as_text(summary: dict) -> str:
    """The summary on one screen: a line per run and per stream, a row per field."""
    lines = []
    for r in summary["runs"]:
        params = ", ".join(f"{k.removeprefix('param_')}={v}" for k, v in r["params"].items())
        lines.append(f"{r['run_id']}: {r['status']}, source {r['source'] or '—'}{f' ({params})' if params else ''}")
        if r["note"]:
            lines.append(f"  WARNING: {r['note']}")
        for s in r["streams"]:
            lines += _stream_text(s)
    return "\n".join(lines)


def _stream_text(s: dict) -> list[str]:
    head = f"  {s['name']}: {s['records']:,} records, {s['bytes']:,} bytes"
    if s["error"]:
        return [f"{head}; FAIL: {s['error']}"]
    if s["records"]:
        producers = ", ".join(f"{p}: {n:,}" for p, n in s["producers"].items())
        head += f", time {s['time_ms']['min']}..{s['time_ms']['max']} ms, producers {producers}"
    head += f", {s['dropped_records']:,} dropped" if s["dropped_records"] else ""
    lines = [head] + [f"    WARNING: {w}" for w in s["warnings"]]
    if not s["records"]:
        return lines
    lines.append(f"    {'field':<14} {'type':<8} {'min':>14} {'max':>14} {'mean':>14} {'nulls':>7}")
    for f in s["fields"]:
        if f["counts"] is not None:
            counts = ", ".join(f"{k} {v:,}" for k, v in f["counts"].items())
            lines.append(f"    {f['name']:<14} {'enum':<8} {counts}  (nulls {f['nulls']:,})")
            continue
        nans = f", {f['nans']:,} NaN" if f["nans"] else ""
        lines.append(f"    {f['name']:<14} {f['type']:<8} {_fmt(f['min']):>14} {_fmt(f['max']):>14} "
                     f"{_fmt(f['mean']):>14} {f['nulls']:>7,}{nans}")
    return lines


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.6g}" if isinstance(x, float) else str(x)
