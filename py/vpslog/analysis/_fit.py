"""BPR fit: log(T/t0) = c + log(1 + alpha * (V/C)**beta), by weighted non-linear least squares.

Why the log scale: the simulated noise (and, plausibly, real travel-time noise)
is multiplicative, so on the log scale it is additive with constant variance and
ordinary NLS confidence intervals are valid; ``c`` absorbs the mean of the log
noise (-spread**2/2 for mean-one lognormal noise). Traversals are aggregated by
distinct (V, C) first: the least-squares problem on group means weighted by
group sizes has exactly the same minimiser and covariance as on all rows, and
takes milliseconds for any file size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z95 = 1.959964


@dataclass
class Fit:
    alpha: float
    beta: float
    c: float
    alpha_ci: tuple[float, float]
    beta_ci: tuple[float, float]
    sigma: float
    n: int
    groups: int
    converged: bool


def _model(theta, x):
    c, a, b = theta
    xb = x ** b
    inner = 1.0 + a * xb
    f = c + np.log(inner)
    jac = np.column_stack([np.ones_like(x), xb / inner, a * xb * np.log(x) / inner])
    return f, jac


def _lm(x, m, w, theta, iters=200):
    lam = 1e-3
    f, J = _model(theta, x)
    sse = float(np.sum(w * (m - f) ** 2))
    for _ in range(iters):
        A = J.T @ (J * w[:, None])
        g = J.T @ (w * (m - f))
        step = np.linalg.solve(A + lam * np.diag(np.diag(A)), g)
        cand = theta + step
        if cand[1] <= 0 or cand[2] <= 0:
            lam *= 10
            continue
        f2, J2 = _model(cand, x)
        sse2 = float(np.sum(w * (m - f2) ** 2))
        if sse2 < sse:
            done = abs(sse - sse2) <= 1e-12 * max(sse, 1e-300) or np.max(np.abs(step)) < 1e-10
            theta, f, J, sse, lam = cand, f2, J2, sse2, lam / 10
            if done:
                return theta, J, True
        else:
            lam *= 10
            if lam > 1e12:
                return theta, J, True
    return theta, J, False


def fit_bpr(x, mean_log, count, sum_sq_log) -> Fit:
    """x: V/C per group; mean_log: mean log(T/t0) per group; count; sum of log(T/t0)**2 per group."""
    x, m, w = (np.asarray(v, dtype=np.float64) for v in (x, mean_log, count))
    n = int(w.sum())
    if len(x) < 3 or n < 10:
        raise ValueError(f"too little data to fit BPR: {n} traversals in {len(x)} distinct V/C values")
    if np.ptp(x) == 0:
        raise ValueError("all traversals have the same V/C: alpha and beta are not identifiable")
    best = None
    for b0 in (1.0, 2.0, 4.0, 8.0):
        for a0 in (0.05, 0.5):
            theta, J, ok = _lm(x, m, w, np.array([0.0, a0, b0]))
            f, _ = _model(theta, x)
            sse = float(np.sum(w * (m - f) ** 2))
            if best is None or sse < best[0]:
                best = (sse, theta, J, ok)
    _, theta, J, ok = best
    f, _ = _model(theta, x)
    # residual SS over all rows = within-group SS + weighted between-group SS
    rss = float(np.sum(np.asarray(sum_sq_log) - 2 * f * m * w + w * f * f))
    s2 = rss / max(n - 3, 1)
    cov = s2 * np.linalg.inv(J.T @ (J * w[:, None]))
    se = np.sqrt(np.diag(cov))
    c, a, b = (float(v) for v in theta)
    return Fit(alpha=a, beta=b, c=c,
               alpha_ci=(a - Z95 * se[1], a + Z95 * se[1]), beta_ci=(b - Z95 * se[2], b + Z95 * se[2]),
               sigma=float(np.sqrt(s2)), n=n, groups=len(x), converged=bool(ok))
