"""``vpslog.read``: a run or many, their manifests and streams, and each stream as Polars or Arrow."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import polars as pl

from ..manifest import manifest_streams
from ..runs import is_run_address, param_columns, resolve, source_facts
from . import _columns, _scan
from ._errors import ReadError, read_errors
from ._status import missing


class Run:
    """One run, opened from its manifest (read once, here); its streams are read when asked for."""

    def __init__(self, ref) -> None:
        try:
            self.manifest: dict = ref.manifest()
        except read_errors() as e:
            why = str(e)  # most already begin with the run's file: said once
            raise ReadError(f"run {why}" if why.startswith(ref.name) else f"run {ref.name}: {why}") from None
        self._ref = ref
        self.location: str = ref.name
        self.run_id: str = self.manifest["run_id"]
        self.status: str = self.manifest["status"]
        self.source, self.params = source_facts(self.manifest)
        #: name -> manifest entry (``layout``, ``records``, ``bytes``, ``file``, ``checksum``, ``producers``...)
        self.streams = {e.name: e for e in manifest_streams(self.manifest, self.location)}
        if note := missing(self.manifest):
            warnings.warn(f"{note} ({self.location})", stacklevel=3)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {e.records}" for n, e in self.streams.items())
        return f"<vpslog.Run {self.run_id} {self.status}: {counts}>"

    def _entry(self, stream: str):
        if stream not in self.streams:
            raise ReadError(f"run {self.run_id} has no stream {stream!r}; its streams: {', '.join(self.streams)}")
        return self.streams[stream]

    def _where(self, stream: str) -> str:
        return f"run {self.run_id}, stream {stream}"

    def _piece(self, stream: str, run_id: str | None = None) -> _scan.Piece:
        return _scan.piece(self._ref, self.manifest, self._entry(stream), self._where(stream), run_id)

    def scan(self, stream: str = "events", *, enums: bool = True) -> pl.LazyFrame:
        """The stream as a LazyFrame read block by block when collected, with the query's columns,
        filter and row limit applied to each block as it is read."""
        schema = _columns.schema(self._entry(stream).layout, enums)
        return _scan.scan([self._piece(stream)], schema, enums, self._where(stream))

    def frame(self, stream: str = "events", *, enums: bool = True) -> pl.DataFrame:
        """The whole stream as a DataFrame: its fields, their exact types, Enums where declared
        (``enums=False``: the stored codes). One chunk per block (local) or part (S3) read."""
        schema = _columns.schema(self._entry(stream).layout, enums)
        return pl.concat(_scan.batches([self._piece(stream)], schema, enums), rechunk=False)

    def to_arrow(self, stream: str = "events", *, enums: bool = True):
        """The stream as a ``pyarrow.Table`` (Polars hands its buffers over; Enums become dictionaries)."""
        return self.frame(stream, enums=enums).to_arrow()


class Runs(Sequence):
    """Many runs read as one: each stream with a ``run_id`` column first, and ``table()`` to join on."""

    def __init__(self, runs) -> None:
        self._runs = tuple(runs)
        self._run_id = pl.Enum(list(dict.fromkeys(r.run_id for r in self._runs)))

    def __getitem__(self, i):
        return self._runs[i]

    def __len__(self) -> int:
        return len(self._runs)

    def __repr__(self) -> str:
        return f"<vpslog.Runs of {len(self)}: {', '.join(r.run_id for r in self._runs)}>"

    def _pieces(self, stream: str, enums: bool) -> tuple[list, pl.Schema]:
        """Every run's ``stream`` (which each must hold, in one layout), and the schema they read as
        together: ``run_id`` first."""
        if lacking := [r.run_id for r in self._runs if stream not in r.streams]:
            known = sorted({s for r in self._runs for s in r.streams})
            raise ReadError(f"stream {stream!r} is not in run(s) {', '.join(lacking)}; the runs' streams: {', '.join(known)}")
        first = self._runs[0].streams[stream].layout
        if other := [r.run_id for r in self._runs if r.streams[stream].layout != first]:
            raise ReadError(f"stream {stream}: run(s) {', '.join(other)} declare another layout than "
                            f"run {self._runs[0].run_id}")
        schema = pl.Schema({"run_id": self._run_id, **_columns.schema(first, enums)})
        return [r._piece(stream, r.run_id) for r in self._runs], schema

    def scan(self, stream: str = "events", *, enums: bool = True) -> pl.LazyFrame:
        """Every run's stream as one LazyFrame, ``run_id`` first: one source reading the runs in
        turn, block by block, so a query over many runs needs the memory of one block."""
        pieces, schema = self._pieces(stream, enums)
        return _scan.scan(pieces, schema, enums, f"{len(pieces)} runs, stream {stream}")

    def frame(self, stream: str = "events", *, enums: bool = True) -> pl.DataFrame:
        pieces, schema = self._pieces(stream, enums)
        return pl.concat(_scan.batches(pieces, schema, enums), rechunk=False)

    def to_arrow(self, stream: str = "events", *, enums: bool = True):
        return self.frame(stream, enums=enums).to_arrow()

    def table(self) -> pl.DataFrame:
        """One row per run: run_id, location, status, source, the records of each stream
        (``records_<stream>``) and the source's scalar parameters (``param_<name>``)."""
        rows = [{"run_id": r.run_id, "location": r.location, "status": r.status, "source": r.source,
                 **{f"records_{n}": e.records for n, e in r.streams.items()}, **param_columns(r.params)}
                for r in self._runs]
        return pl.from_dicts(rows, infer_schema_length=None, strict=False).with_columns(
            pl.col("run_id").cast(self._run_id))


def read(location, manifest=None) -> Run | Runs:
    """A run file (``RUN.bin``, its manifest beside it or at ``manifest``) or ``s3://BUCKET/runs/<runId>``:
    a :class:`Run`. A directory or a bucket prefix: the :class:`Runs` there; a run that cannot be
    opened (no manifest yet, damaged) is left out with a warning saying why."""
    location = str(location)
    try:
        refs = resolve(location, manifest)
    except read_errors() as e:
        raise ReadError(f"{location}: {e}") from None
    if is_run_address(location):
        return Run(refs[0])
    runs = []
    for ref in refs:
        try:
            runs.append(Run(ref))
        except ReadError as e:
            warnings.warn(f"{e}: left out", stacklevel=2)
    if not runs:
        raise ReadError(f"{location}: no run can be read there ({len(refs)} found)")
    return Runs(runs)
