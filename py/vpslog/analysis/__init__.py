"""``vpslog analyze``: traversals, per-edge and per-interval tables and the BPR fit.

Public API: :func:`analyze` and :class:`AnalysisError`; everything else is private.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from ..manifest import ManifestError, load_manifest, sibling_manifest
from . import _outputs
from ._fit import fit_bpr
from ._scan import AnalysisError, partitions, record_count
from ._traversals import traversals, with_edge_facts

__all__ = ["analyze", "AnalysisError"]


def _edge_table(manifest: dict) -> pl.DataFrame:
    try:
        edges = manifest["source"]["network"]["edges"]
    except (KeyError, TypeError):
        raise AnalysisError(
            "the manifest has no edge table (source.network.edges): analysis needs a traffic run,"
            " not a load-generator run"
        ) from None
    table = pl.DataFrame(edges, strict=False)  # JSON from JS writes 0.0 as 0: mixed int/float columns
    if table["edge_id"].to_list() != list(range(len(table))):
        raise AnalysisError("manifest edge table: edge_id must be 0..n-1 in order")
    return table


def analyze(bin_path, manifest_path=None, out_dir=None, interval_s: int = 300) -> dict:
    path = Path(bin_path)
    if not path.is_file():
        raise AnalysisError(f"{path}: no such file")
    manifest_path = Path(manifest_path) if manifest_path else sibling_manifest(path)
    if not manifest_path.is_file():
        raise AnalysisError(f"no manifest for {path} (looked for {manifest_path}); pass --manifest")
    try:
        manifest = load_manifest(manifest_path)
    except ManifestError as e:
        raise AnalysisError(str(e)) from None
    n = record_count(path)
    if manifest["records"] != n:
        raise AnalysisError(f"manifest says {manifest['records']} records, {path} has {n}: wrong manifest?")
    edges = _edge_table(manifest)
    t0 = edges["free_flow_s"].to_numpy()
    cap = edges["capacity"].to_numpy()
    interval_ms = int(interval_s * 1000)
    if interval_ms <= 0:
        raise AnalysisError("interval must be positive")

    counts = {"traversals": 0, "unpaired_enters": 0, "unpaired_exits": 0, "errors": 0}
    per_edge, per_interval, groups, training, errors = [], [], [], [], []
    t_max = 0
    for part in partitions(path, n):
        if len(part.edge) and part.edge.max() >= len(edges):
            raise AnalysisError(f"edge id {int(part.edge.max())} is not in the manifest's edge table")
        if len(part.edge):
            t_max = max(t_max, int(part.time_ms.max()))
        trav, c, err = traversals(part)
        for k in counts:
            counts[k] += c[k]
        errors.append(err)
        trav = with_edge_facts(trav, t0, cap)
        per_edge.append(_outputs.edge_stats(trav))
        per_interval.append(_outputs.interval_stats(trav, interval_ms))
        groups.append(
            trav.with_columns(pl.col("tt_ratio").log().alias("log_ratio"))
            .group_by("volume", "capacity")
            .agg(pl.len().alias("n"), pl.col("log_ratio").sum().alias("s"), (pl.col("log_ratio") ** 2).sum().alias("ss"))
        )
        if out_dir is not None:  # the training set is an output only: do not hold it otherwise
            training.append(trav.select(pl.col("vc", "tt_ratio").cast(pl.Float32), "edge"))
        del trav, part

    g = pl.concat(groups).group_by("volume", "capacity").agg(pl.col("n", "s", "ss").sum())
    g = g.with_columns((pl.col("volume") / pl.col("capacity")).alias("x"))
    g = g.group_by("x").agg(pl.col("n", "s", "ss").sum()).sort("x")
    fit = fit_bpr(g["x"].to_numpy(), (g["s"] / g["n"]).to_numpy(), g["n"].to_numpy(), g["ss"].to_numpy())

    span_h = max(t_max, 1) / 3.6e6
    # every edge of the network, used or not, like SUMO's edgeData
    summary = (edges.join(pl.concat(per_edge).rename({"edge": "edge_id"}), on="edge_id", how="left")
               .with_columns(pl.col("traversals").fill_null(0))
               .with_columns((pl.col("traversals") / span_h).alias("flow_veh_h")).sort("edge_id"))
    intervals = pl.concat(per_interval).sort("interval_begin_s", "edge_id")
    reported = [(p.get("stats") or {}).get("traversals") for p in manifest["producers"]]  # None: never reported (recovered run)
    truth = (manifest.get("source") or {}).get("ground_truth")
    result = {
        "run_id": manifest.get("run_id"),
        "records": n,
        **counts,
        "reported_traversals": sum(reported) if all(r is not None for r in reported) else None,
        "alpha": fit.alpha, "beta": fit.beta,
        "alpha_ci": [float(v) for v in fit.alpha_ci], "beta_ci": [float(v) for v in fit.beta_ci],
        "log_offset_c": fit.c, "residual_sigma": fit.sigma, "fit_groups": fit.groups, "converged": fit.converged,
        "fit_method": "weighted NLS (Levenberg-Marquardt) of log(T/t0) = c + log(1 + alpha (V/C)^beta); 95% CI from s^2 (J'WJ)^-1",
        "ground_truth": truth,
        "edges_used": int((summary["traversals"] > 0).sum()),
        "share_vc_above_1": float((g.filter(pl.col("x") > 1)["n"].sum()) / max(fit.n, 1)),
    }
    if out_dir is not None:
        result["outputs"] = _outputs.write_all(
            Path(out_dir), result, summary, intervals, pl.concat(training), pl.concat(errors), fit, truth)
    return result
