"""One stream of one run, block by block: the generator both ``Run.frame`` and the lazy
``Run.scan`` (a Polars IO plugin) draw from. Only blocks are ever held: a run larger than
memory scans in the memory of one block plus what the query keeps."""

from __future__ import annotations

import polars as pl
from polars.io.plugins import register_io_source

from . import _columns
from ._errors import ReadError, read_errors


def batches(ref, manifest: dict, entry, where: str, enums: bool, blocks=None, with_columns=None, predicate=None,
            n_rows=None):
    """Frames of the stream ``entry`` of run ``ref``, a block (local) or a part (S3) at a time, with only
    ``with_columns``, only rows matching ``predicate``, and no more than ``n_rows`` rows: Polars relies
    on its IO sources applying all three. A damaged or truncated piece raises ReadError naming ``where``."""
    schema = _columns.schema(entry.layout, enums)
    names = list(with_columns if with_columns is not None else schema)
    # a filter may look at columns the query does not keep
    needed = [n for n in schema if n in names or (predicate is not None and n in predicate.meta.root_names())]
    left = n_rows
    try:
        for block in blocks if blocks is not None else ref.blocks(manifest, entry):
            for data in ref.pieces(block, entry):
                df = _columns.frame(data, entry.layout, needed, enums, where)
                if predicate is not None:
                    df = df.filter(predicate)
                df = df.select(names) if left is None else df.select(names).head(left)
                yield df
                if left is not None and (left := left - df.height) == 0:
                    return  # before the next piece is even fetched
    except read_errors() as e:
        raise ReadError(f"{where}: {e}") from None
    yield pl.DataFrame(schema=schema).select(names)  # an empty stream still has its columns

def scan(ref, manifest: dict, entry, where: str, enums: bool) -> pl.LazyFrame:
    """A LazyFrame over ``batches``: nothing is read until it is collected, then block by block.
    The stream's sizes are checked now, so a stream that cannot be read fails before any query."""
    blocks = _checked(ref, manifest, entry, where)

    def source(with_columns, predicate, n_rows, _batch_size):
        return batches(ref, manifest, entry, where, enums, blocks, with_columns, predicate, n_rows)

    return register_io_source(source, schema=_columns.schema(entry.layout, enums), is_pure=True,
                              explain_name="vpslog", explain_detail=where)


def _checked(ref, manifest: dict, entry, where: str) -> list:
    try:
        return ref.blocks(manifest, entry)
    except read_errors() as e:
        raise ReadError(f"{where}: {e}") from None
