"""Reading runs into Polars and Arrow (docs/reading.md): ``vpslog.read(location)`` gives a
:class:`Run` (one run file or ``s3://BUCKET/runs/<runId>``) or :class:`Runs` (a directory or a
bucket prefix); ``frame``/``scan``/``to_arrow`` read a stream. ``export`` writes streams as Parquet,
Arrow or CSV files and ``describe`` summarises every stream (``vpslog export`` / ``vpslog describe``).
Needs the ``analysis`` extra (numpy, polars, pyarrow for ``to_arrow``) and, for ``s3://``, the ``s3`` extra."""

from ._describe import describe
from ._errors import ReadError
from ._export import export
from ._run import Run, Runs, read

__all__ = ["read", "Run", "Runs", "ReadError", "export", "describe"]
