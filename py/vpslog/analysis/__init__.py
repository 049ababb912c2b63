"""``vpslog analyze``: traversals, per-edge and per-interval tables and the BPR fit,
of one run or of many (a sweep), wherever they live (local files, S3/R2), in this
process or on ``dask.distributed``.

Public API: :func:`analyze`, :func:`analyze_runs` and :class:`AnalysisError`;
everything else is private.
"""

from __future__ import annotations

from pathlib import Path

from . import _engine
from ._run import Options
from ._scan import AnalysisError
from ._sweep import pooled_fit, sweep_table

__all__ = ["analyze", "analyze_runs", "AnalysisError"]


def _options(interval_s: float, outputs: bool) -> Options:
    if not interval_s > 0:
        raise AnalysisError("interval must be positive")
    return Options(interval_ms=int(interval_s * 1000), outputs=outputs)


def _progress(enabled: bool):
    from tqdm import tqdm

    # disable=None: shown on a terminal only, so piped --json output stays clean
    return tqdm(total=0, unit="partition", desc="analyze", disable=None if enabled else True, leave=False)


def analyze(run, manifest_path=None, out_dir=None, interval_s: float = 300, client=None) -> dict:
    """One run: a ``RUN.bin`` path or ``s3://BUCKET/runs/<runId>``. Raises AnalysisError."""
    from ..runs import resolve

    try:
        runs = resolve(str(run), manifest_path)
    except ValueError as e:
        raise AnalysisError(str(e)) from None
    if len(runs) != 1:
        raise AnalysisError(f"{run} holds {len(runs)} runs: analyze_runs() analyses many")
    with _progress(False) as bar:
        (outcome,) = _engine.run(runs, _options(interval_s, out_dir is not None), client,
                                 lambda i, p: out_dir, bar)
    if isinstance(outcome, BaseException):
        raise AnalysisError(str(outcome)) from outcome
    return outcome[0]


def analyze_runs(locations, out_dir=None, interval_s: float = 300, client=None, progress: bool = False,
                 manifest_path=None) -> dict:
    """Many runs (files, directories, ``s3://`` runs or prefixes): each run's result, the runs
    skipped with the reason, a pooled BPR fit over the analysed runs and the sweep table
    (written as ``sweep.parquet`` and ``sweep.csv`` under ``out_dir``)."""
    from ..runs import resolve_all

    runs = resolve_all(locations, manifest_path)
    if not runs:
        raise AnalysisError(f"no runs found in {', '.join(map(str, locations))}")
    subdirs = _unique_dirs(runs)

    def out_dir_of(i, p):
        return None if out_dir is None else Path(out_dir) / subdirs[i]

    with _progress(progress) as bar:
        outcomes = _engine.run(runs, _options(interval_s, out_dir is not None), client, out_dir_of, bar)
    done = [(r, o) for r, o in zip(runs, outcomes) if not isinstance(o, BaseException)]
    skipped = [{"location": r.name, "error": _reason(o)} for r, o in zip(runs, outcomes) if isinstance(o, BaseException)]
    table = sweep_table(runs, outcomes)
    out = {
        "runs": [o[0] for _, o in done],
        "skipped": skipped,
        "pooled": pooled_fit([o for _, o in done]),
    }
    if out_dir is not None:
        from ._outputs import write_table

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        out["outputs"] = {"sweep": write_table(table, Path(out_dir), "sweep")}
    out["sweep"] = table
    return out


def _reason(e: BaseException) -> str:
    return str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"


def _unique_dirs(runs) -> list[str]:
    """One output directory name per run: its run id, suffixed if two runs share one."""
    names, seen = [], {}
    for r in runs:
        base = getattr(r, "run_id", None) or Path(r.bin_path).name.removesuffix(".bin")
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names
