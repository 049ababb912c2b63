"""One run's analysis in three steps that any executor can schedule:
``plan`` (client: manifest, which events stream, edge table, blocks, partition count),
``analyze_group`` (anywhere: a pure function of picklable inputs that reads the
blocks itself), ``reduce`` (client: merge the partitions' partial results in order).

A run's events are its ``events_wide`` stream if the manifest lists one (a source
with more than 65,535 vehicles or edges logs 32-bit ids there and leaves ``events``
empty), else ``events``; ids keep the stream's width everywhere, and an edge's row
in the edge table is found for any uint32 id. A logged edge the edge table does not list (the
table holds ids up to 65,535 today) is analysed without t0 and capacity: its
traversals are in every table but not in the BPR fit, and the result counts them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ..manifest import StreamEntry, manifest_streams
from ..runs import source_facts
from . import _outputs
from ._fit import fit_bpr
from . import _scan
from ._scan import AnalysisError, Partition, partition_count
from ._traversals import traversals, with_edge_facts, with_travel_times

NO_EDGE_TABLE = ("no BPR fit: the manifest has no edge table (source.network.edges), so free-flow times (t0)"
                 " and capacities are unknown; traversals, flows and travel times are computed")
FIT_METHOD = ("weighted NLS (Levenberg-Marquardt) of log(T/t0) = c + log(1 + alpha (V/C)^beta);"
              " 95% CI from s^2 (J'WJ)^-1")


DENSE_IDS = 1 << 22  # edge ids below this are looked up in a table by id (at most 16 MB)
OFF_TABLE_IDS = 5  # the off-table edge ids a result names (the smallest)


@dataclass(frozen=True)
class EdgeFacts:
    """The edge table's t0 and capacity by row, its rows sorted by edge id (any uint32 values)."""

    ids: np.ndarray
    t0: np.ndarray
    cap: np.ndarray
    caps: np.ndarray  # the distinct capacities: few, so V/C groups by integers
    cap_class: np.ndarray  # each row's index among them
    row_of_id: np.ndarray | None  # row by edge id (-1: none), unless the ids are too sparse for a table

    @classmethod
    def of(cls, edges: pl.DataFrame) -> "EdgeFacts":
        ids, cap = edges["edge_id"].cast(pl.UInt32).to_numpy(), edges["capacity"].cast(pl.Float64).to_numpy()
        caps, cap_class = np.unique(cap, return_inverse=True)
        row_of_id = None
        if len(ids) and ids[-1] < DENSE_IDS:
            row_of_id = np.full(max(int(ids[-1]) + 1, 1 << 16), -1, np.int32)  # any uint16 id indexes it
            row_of_id[ids] = np.arange(len(ids))
        return cls(ids, edges["free_flow_s"].cast(pl.Float64).to_numpy(), cap, caps, cap_class, row_of_id)

    def rows(self, edge: np.ndarray) -> np.ndarray:
        """Each edge id's row, or -1 for an id the table does not list: looked up in ``row_of_id``
        (~5 ms for 2 M ids; a search takes ~240 ms), or searched for when ids are too sparse for a table."""
        table = self.row_of_id
        if table is not None:
            if edge.dtype.itemsize <= 2:
                return table[edge]
            return np.where(edge < len(table), table[np.minimum(edge, len(table) - 1)], -1)
        row = np.searchsorted(self.ids, edge)
        found = row < len(self.ids)
        found[found] = self.ids[row[found]] == edge[found]
        return np.where(found, row, -1)


@dataclass(frozen=True)
class Options:
    interval_ms: int
    outputs: bool  # build the output-only tables (intervals, training set)


@dataclass
class Plan:
    run: object  # vpslog.runs.LocalRun | S3Run
    manifest: dict
    stream: StreamEntry  # the run's events: events or events_wide
    edges: pl.DataFrame | None
    facts: EdgeFacts | None
    blocks: list = field(default_factory=list)
    k_total: int = 1
    spill: bool = False  # the split pieces wait in temporary files, not in memory (a large run)


def _edge_table(manifest: dict) -> pl.DataFrame | None:
    edges = ((manifest.get("source") or {}).get("network") or {}).get("edges")
    if edges is None:
        return None
    try:
        table = pl.DataFrame(edges, strict=False)  # JSON from JS writes 0.0 as 0: mixed int/float columns
        for col in ("edge_id", "free_flow_s", "capacity"):
            if col not in table.columns:
                raise AnalysisError(f"manifest edge table (source.network.edges) has no {col} column")
        ids = table["edge_id"]
        if ids.null_count() or ids.min() < 0 or ids.max() >= 1 << 32:
            raise AnalysisError("manifest edge table: edge_id must be uint32 values (0..4294967295)")
    except (pl.exceptions.PolarsError, TypeError, ValueError) as e:
        if isinstance(e, AnalysisError):
            raise
        raise AnalysisError(f"manifest edge table (source.network.edges) is not a table: {e}") from None
    if ids.n_unique() != len(ids):
        raise AnalysisError("manifest edge table: edge_id values repeat")
    t0, cap = table["free_flow_s"].cast(pl.Float64), table["capacity"].cast(pl.Float64)
    if not ((t0 > 0).all() and (cap > 0).all()):
        raise AnalysisError("manifest edge table: free_flow_s and capacity must be positive numbers")
    return table.sort("edge_id")


def events_stream(manifest: dict) -> StreamEntry:
    """The stream holding the run's events: events_wide if the run has one, else events."""
    streams = {e.name: e for e in manifest_streams(manifest)}
    events, wide = streams["events"], streams.get("events_wide")
    if wide is None:
        return events
    if events.records:
        raise AnalysisError(f"both events ({events.records} records) and events_wide ({wide.records}) hold records:"
                            " a run logs its events to one of them")
    return wide


def plan(run) -> Plan:
    manifest = run.manifest()
    stream = events_stream(manifest)
    edges = _edge_table(manifest)
    return Plan(run, manifest, stream, edges, None if edges is None else EdgeFacts.of(edges),
                run.blocks(manifest, stream), partition_count(stream.records),
                stream.records > _scan.SPILL_ABOVE_RECORDS)


def analyze_partition(part: Partition, facts: EdgeFacts | None, opts: Options) -> dict:
    t_max = int(part.time_ms.max()) if len(part.time_ms) else 0
    trav, counts, errors = traversals(part)
    groups = training = off_table = None
    if facts is None:
        trav = with_travel_times(trav)
    else:
        row = facts.rows(trav["edge"].to_numpy())
        trav = with_edge_facts(trav, facts.t0, facts.cap, row)
        on = row >= 0
        groups = fit_sums(trav["volume"].to_numpy()[on], facts.caps, facts.cap_class[row[on]],
                          np.log(trav["tt_ratio"].to_numpy()[on]))
        off_ids = np.unique(part.edge[facts.rows(part.edge) < 0])  # unpaired and error events too
        off_table = {"edges": len(off_ids), "traversals": int(len(on) - on.sum()),
                     "first_ids": off_ids[:OFF_TABLE_IDS].tolist()}
        if opts.outputs:  # the training set is an output only: do not hold it otherwise
            training = trav.filter(pl.Series(on)).select(pl.col("vc", "tt_ratio").cast(pl.Float32), "edge")
    return {
        "counts": counts, "t_max": t_max, "groups": groups, "off_table": off_table,
        "edges_used": trav["edge"].n_unique(),
        # the tables are outputs only: without --out they are not built (they cost more than the fit)
        **({"errors": errors, "training": training, "per_edge": _outputs.edge_stats(trav),
            "intervals": _outputs.interval_stats(trav, opts.interval_ms)} if opts.outputs else {}),
    }


def analyze_group(run, stream: StreamEntry, blocks: list, k_total: int, group: tuple[int, int], facts,
                  opts: Options, spill: bool, threads: int = 1, done=lambda: None) -> list[tuple[int, dict]]:
    """Partitions of ``group`` (see ``_scan.group_partitions``) of a run, read, split and analysed
    here: [(k, partial)]. The whole run in this process is group (0, 1) on a thread per core; on
    Dask each task is one group on one thread. Memory stays at a few blocks and partitions:
    the pieces wait in temporary files if ``spill``, else (a small run) in memory."""
    from concurrent.futures import ThreadPoolExecutor

    ks = _scan.group_partitions(k_total, group)
    out = []
    # numpy's sorts and gathers and polars release the GIL: one thread per core overlaps them
    with ThreadPoolExecutor(threads) as pool:
        pieces = _ordered(pool, lambda b: _scan.split(run.read(b, stream), b[0], k_total, group, stream.layout),
                          blocks, threads)
        parts = _scan.spilled(pieces, len(ks), not spill, stream.layout)
        for k, partial in zip(ks, _ordered(pool, lambda part: analyze_partition(part, facts, opts), parts, threads)):
            out.append((k, partial))
            done()
    return out


def _ordered(pool, fn, items, window: int):
    """``map(fn, items)`` on the pool, in order, with at most ``window`` calls in flight
    (memory stays at a few blocks or partitions)."""
    from collections import deque

    pending = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def in_order(groups: list[list[tuple[int, dict]]]) -> list[dict]:
    """The partials of a run's group tasks, by partition: every path merges in the same order."""
    return [q for _, q in sorted((kq for g in groups for kq in g), key=lambda kq: kq[0])]


def fit_sums(volume: np.ndarray, caps: np.ndarray, cap_class: np.ndarray, log_ratio: np.ndarray) -> tuple:
    """(V/C, n, sum log T/t0, sum log^2) per distinct (V, C) pair: all the fit needs, summed in a
    fixed order (equal V/C of different pairs merge in ``merge_groups``). One bincount over a
    dense integer key: a np.unique of the V/C floats (a sort) took a third of the analysis."""
    if not len(volume):
        return np.empty(0), np.empty(0), np.empty(0), np.empty(0)
    v0 = int(volume.min())
    key = (volume - v0).astype(np.int64) * len(caps) + cap_class
    size = (int(volume.max()) - v0 + 1) * len(caps)
    if size <= 4 * len(key) + (1 << 16):
        present = np.flatnonzero(np.bincount(key, minlength=size))
        slot = np.zeros(size, np.int64)
        slot[present] = np.arange(len(present))
        inverse = slot[key]
    else:  # sparse keys (odd logs): sort them instead
        present, inverse = np.unique(key, return_inverse=True)
    x = (present // len(caps) + v0) / caps[present % len(caps)]  # V / C, as the traversals' vc
    return (x, np.bincount(inverse, minlength=len(x)).astype(np.float64),
            np.bincount(inverse, log_ratio, len(x)), np.bincount(inverse, log_ratio * log_ratio, len(x)))


def merge_groups(groups: list) -> tuple | None:
    groups = [g for g in groups if g is not None]
    if not groups:
        return None
    x = np.concatenate([g[0] for g in groups])
    ux, inverse = np.unique(x, return_inverse=True)
    return (ux, *(np.bincount(inverse, np.concatenate([g[i] for g in groups]), len(ux)) for i in (1, 2, 3)))


def fit_groups(groups):
    x, n, s, ss = groups
    return fit_bpr(x, s / n, n, ss)


def fitted(partials: list[dict]) -> tuple:
    """(the run's merged fit groups, its BPR fit), both None without an edge table: the
    costly part of ``reduce``, which Dask runs on a worker (``fit_task``)."""
    groups = merge_groups([q["groups"] for q in partials])
    try:
        return groups, None if groups is None else fit_groups(groups)
    except ValueError as e:
        raise AnalysisError(str(e)) from None


def fit_task(*groups: list[tuple[int, dict]]) -> tuple:
    """A Dask task: ``fitted`` over what a run's group tasks returned."""
    return fitted(in_order(list(groups)))


def fit_fields(fit) -> dict:
    return {"alpha": fit.alpha, "beta": fit.beta,
            "alpha_ci": [float(v) for v in fit.alpha_ci], "beta_ci": [float(v) for v in fit.beta_ci]}


def _summary(p: Plan, partials: list[dict], span_h: float) -> pl.DataFrame:
    per_edge = pl.concat([q["per_edge"] for q in partials]).rename({"edge": "edge_id"})
    if p.edges is None:  # only the edges seen in the log
        summary = per_edge.sort("edge_id")
    else:  # every edge of the network, used or not, like SUMO's edgeData, and the logged ones it lacks
        summary = (p.edges.join(per_edge.with_columns(pl.col("edge_id").cast(p.edges["edge_id"].dtype)),
                                on="edge_id", how="full", coalesce=True)
                   .with_columns(pl.col("traversals").fill_null(0)).sort("edge_id"))
    return summary.with_columns((pl.col("traversals") / span_h).alias("flow_veh_h"))


def _off_table(partials: list[dict]) -> dict | None:
    """Logged edges the edge table lacks (None: no edge table): how many, their traversals (not
    in the fit), the smallest ids. Partitions share no edge, so the counts add up."""
    if partials[0]["off_table"] is None:
        return None
    off = [q["off_table"] for q in partials]
    return {"edges": sum(o["edges"] for o in off), "traversals": sum(o["traversals"] for o in off),
            "first_ids": sorted(i for o in off for i in o["first_ids"])[:OFF_TABLE_IDS]}


def reduce(p: Plan, partials: list[dict], out_dir=None, known_fit=None) -> tuple[dict, tuple | None]:
    """The run's result (JSON-able) and its fit groups (for a pooled fit), outputs written if asked.
    ``known_fit``: ``fitted(partials)``, if already computed on a worker."""
    m = p.manifest
    counts = {k: sum(q["counts"][k] for q in partials) for k in ("traversals", "unpaired_enters", "unpaired_exits", "errors")}
    groups, fit = known_fit or fitted(partials)
    span_h = max(max(q["t_max"] for q in partials), 1) / 3.6e6
    reported = [(q.get("stats") or {}).get("traversals") for q in m["producers"]]
    truth = (m.get("source") or {}).get("ground_truth")
    source, params = source_facts(m)
    result = {
        "run_id": m.get("run_id"), "location": p.run.name, "source": source, "params": params,
        "stream": p.stream.name, "records": p.stream.records, **counts,
        "reported_traversals": sum(reported) if reported and all(r is not None for r in reported) else None,
        "ground_truth": truth,
        "edges_used": sum(q["edges_used"] for q in partials),  # partitions share no edge
        "off_table": _off_table(partials),
    }
    if fit is None:
        result.update(alpha=None, beta=None, alpha_ci=None, beta_ci=None, no_fit_reason=NO_EDGE_TABLE)
    else:
        x, n = groups[0], groups[1]
        result.update(**fit_fields(fit), log_offset_c=fit.c, residual_sigma=fit.sigma, fit_groups=fit.groups,
                      converged=fit.converged, fit_method=FIT_METHOD,
                      share_vc_above_1=float(n[x > 1].sum() / max(fit.n, 1)))
    if out_dir is not None:
        tables = {
            "summary": _summary(p, partials, span_h), "fit": fit, "truth": truth,
            "intervals": pl.concat([q["intervals"] for q in partials]).sort("interval_begin_s", "edge_id"),
            "training": None if fit is None else pl.concat([q["training"] for q in partials]),
            "errors": pl.concat([q["errors"] for q in partials]),
        }
        result["outputs"] = _outputs.write_all(Path(out_dir), result, tables)
    return result, groups
