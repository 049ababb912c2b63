"""What ``export`` and ``describe`` share: the runs at many locations (those that cannot be opened
named, not fatal), and a progress bar that counts the records a lazy scan streams through."""

from __future__ import annotations

import warnings

import polars as pl

from ..runs import resolve
from ._errors import ReadError, read_errors
from ._run import Run, Runs


def open_runs(locations) -> tuple[list[Run], list[dict]]:
    """The runs at ``locations`` (each a location ``vpslog.read`` takes, a :class:`Run` or :class:`Runs`),
    and ``{"location", "error"}`` for each that cannot be opened. A run that did not close opens without
    a warning: its status note is the caller's to report (``_status.missing``)."""
    if isinstance(locations, (str, Run, Runs)) or not hasattr(locations, "__iter__"):
        locations = [locations]
    runs, skipped, seen = [], [], set()
    for loc in locations:
        if isinstance(loc, (Run, Runs)):
            runs += [loc] if isinstance(loc, Run) else list(loc)
            continue
        try:
            refs = resolve(str(loc))
        except read_errors() as e:
            skipped.append({"location": str(loc), "error": f"{loc}: {e}"})
            continue
        for ref in refs:
            if ref in seen:  # a run and its stream files (RUN*.bin) name the same run
                continue
            seen.add(ref)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    runs.append(Run(ref))
            except ReadError as e:
                skipped.append({"location": ref.name, "error": str(e)})
    return runs, skipped


def progress(total: int, desc: str, enabled: bool):
    """A bar over ``total`` records, drawn on a terminal only (``disable=None``), so piped output stays clean."""
    from tqdm import tqdm

    return tqdm(total=total, unit="rec", unit_scale=True, desc=desc, disable=None if enabled else True, leave=False)


def counted(scan: pl.LazyFrame, bar) -> pl.LazyFrame:
    """``scan`` with each batch's rows added to ``bar`` as the streaming engine passes it on."""
    def tick(df: pl.DataFrame) -> pl.DataFrame:
        bar.update(df.height)
        return df

    return scan.map_batches(tick, streamable=True)
