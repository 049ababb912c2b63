"""Many runs side by side: the sweep table and the pooled BPR fit."""

from __future__ import annotations

import polars as pl

from ..runs import param_columns
from ._run import fit_fields, fit_groups, merge_groups


def sweep_table(runs, outcomes) -> pl.DataFrame:
    """One row per run: its parameters beside its fitted alpha and beta with their 95% CIs."""
    rows = []
    for r, o in zip(runs, outcomes):
        ok = not isinstance(o, BaseException)
        res = o[0] if ok else {}
        truth = res.get("ground_truth") or {}
        ci_a, ci_b = res.get("alpha_ci") or [None, None], res.get("beta_ci") or [None, None]
        rows.append({
            "location": r.name, "run_id": res.get("run_id"), "analysed": ok, "source": res.get("source"),
            "stream": res.get("stream"),
            "problem": None if ok else str(o) or type(o).__name__,
            "records": res.get("records"), "traversals": res.get("traversals"),
            "alpha": res.get("alpha"), "alpha_lo": ci_a[0], "alpha_hi": ci_a[1],
            "beta": res.get("beta"), "beta_lo": ci_b[0], "beta_hi": ci_b[1],
            "true_alpha": truth.get("alpha"), "true_beta": truth.get("beta"),
            **param_columns(res.get("params") or {}),
        })
    return pl.from_dicts(rows, infer_schema_length=None, strict=False)


def pooled_fit(done: list) -> dict | None:
    """One BPR fit over the traversals of every analysed run that has one (``done``: (result, groups))."""
    fitted = [(res, g) for res, g in done if g is not None]
    if not fitted:
        return None
    fit = fit_groups(merge_groups([g for _, g in fitted]))
    return {**fit_fields(fit), "runs": len(fitted), "traversals": sum(res["traversals"] for res, _ in fitted)}
