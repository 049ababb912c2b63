"""Streams read block by block: the generator ``Run.frame``, ``Runs.frame`` and the lazy scans
(one Polars IO source over one run's stream, or over many runs' in turn) draw from. Only one
block is held at a time: a run, or many, larger than memory scans in the memory of one block
plus what the query keeps."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from polars.io.plugins import register_io_source

from . import _columns
from ._errors import ReadError, read_errors


@dataclass(frozen=True)
class Piece:
    """One run's stream to read: its reference, manifest entry and blocks (sizes checked when the
    read was asked for), where it is (for errors), and its ``run_id`` when many runs are read as one."""
    ref: object
    entry: object
    blocks: list
    where: str
    run_id: str | None = None


def piece(ref, manifest: dict, entry, where: str, run_id: str | None = None) -> Piece:
    try:
        return Piece(ref, entry, ref.blocks(manifest, entry), where, run_id)
    except read_errors() as e:
        raise ReadError(f"{where}: {e}") from None


def batches(pieces, schema: pl.Schema, enums: bool, with_columns=None, predicate=None, n_rows=None):
    """Frames of ``pieces`` in order, a block (local) or a part (S3) at a time, with only
    ``with_columns``, only rows matching ``predicate``, and no more than the first ``n_rows`` rows
    *before* the filter: Polars relies on its IO sources applying all three, and a row limit it
    passes with a filter is a ``head`` the query applies first. A damaged or truncated piece raises
    ReadError naming its run and stream."""
    names = list(with_columns if with_columns is not None else schema)
    roots = set(predicate.meta.root_names()) if predicate is not None else set()
    left = n_rows
    for p in pieces:
        layout = p.entry.layout
        needed = [f.name for f in layout.fields if f.name in names or f.name in roots]  # a filter may read more
        unknown = _columns.Unknown()
        try:
            for block in p.blocks:
                for data in p.ref.pieces(block, p.entry):
                    if left is not None:
                        data = memoryview(data)[:left * layout.record_size]
                        left -= len(data) // layout.record_size
                    df = _columns.frame(data, layout, needed, enums, unknown)
                    if p.run_id is not None:
                        df = df.select(pl.lit(p.run_id, dtype=schema["run_id"]).alias("run_id"), pl.all())
                    yield (df if predicate is None else df.filter(predicate)).select(names)
                    if left == 0:
                        return  # before the next piece is even fetched
        except read_errors() as e:
            raise ReadError(f"{p.where}: {e}") from None
        finally:
            unknown.warn(p.where)
    yield pl.DataFrame(schema=schema).select(names)  # an empty stream still has its columns


def scan(pieces: list[Piece], schema: pl.Schema, enums: bool, where: str) -> pl.LazyFrame:
    """A LazyFrame over ``batches``: nothing is read until it is collected, then piece by piece,
    block by block, never two at once."""

    def source(with_columns, predicate, n_rows, _batch_size):
        return batches(pieces, schema, enums, with_columns, predicate, n_rows)

    return register_io_source(source, schema=schema, is_pure=True, explain_name="vpslog", explain_detail=where)
