"""Records to columns: a block's bytes viewed through the layout's packed numpy dtype, then each
field copied once into a contiguous array that Polars takes without another copy."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl

from ..layout import Layout

DTYPES = {"uint8": pl.UInt8, "uint16": pl.UInt16, "uint32": pl.UInt32, "uint64": pl.UInt64,
          "int8": pl.Int8, "int16": pl.Int16, "int32": pl.Int32, "int64": pl.Int64,
          "float32": pl.Float32, "float64": pl.Float64}


def enum_dtype(labels: dict) -> pl.Enum:
    """A declared ``{label: value}`` as a Polars Enum, its categories in value order (so sorting
    by the column sorts by the code)."""
    return pl.Enum(sorted(labels, key=labels.get))


def schema(layout: Layout, enums: bool) -> pl.Schema:
    """The frame a stream reads as: its fields in order, with their exact types, an Enum where the
    stream declares one (unless ``enums`` is False: the codes as stored)."""
    return pl.Schema({f.name: enum_dtype(layout.enums[f.name]) if enums and f.name in layout.enums else DTYPES[f.type]
                      for f in layout.fields})


def frame(data, layout: Layout, names, enums: bool, unknown: Unknown) -> pl.DataFrame:
    """The columns ``names`` of ``data`` (whole records of ``layout``); codes an enum does not
    declare read as null and are counted in ``unknown``."""
    rows = np.frombuffer(data, layout.numpy_dtype())
    return pl.DataFrame([_column(rows, name, layout.enums.get(name) if enums else None, unknown) for name in names])


class Unknown:
    """Codes a stream's enums do not declare, per field, over all its blocks: one warning per stream."""

    def __init__(self) -> None:
        self.fields: dict[str, list] = {}  # field -> [values, set of codes]

    def add(self, name: str, codes: pl.Series) -> None:
        seen = self.fields.setdefault(name, [0, set()])
        seen[0] += len(codes)
        seen[1].update(codes.unique().to_list())

    def warn(self, where: str) -> None:
        for name, (count, codes) in self.fields.items():
            shown = sorted(codes)
            warnings.warn(f"{where}: field {name} holds {count} value(s) its enum does not declare "
                          f"({', '.join(map(str, shown[:5]))}{', ...' if len(shown) > 5 else ''}); "
                          "they read as null (enums=False reads the codes)", stacklevel=2)


def _column(rows: np.ndarray, name: str, labels: dict | None, unknown: Unknown) -> pl.Series:
    # The field is strided inside the records: ascontiguousarray is its one copy, and
    # Polars wraps a contiguous numpy array of its own type without copying again.
    codes = pl.Series(name, np.ascontiguousarray(rows[name]))
    if labels is None:
        return codes
    named = codes.replace_strict({v: k for k, v in labels.items()}, default=None, return_dtype=enum_dtype(labels))
    if named.null_count():
        unknown.add(name, codes.filter(named.is_null()))
    return named
