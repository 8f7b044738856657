"""Aggregating per-image oracle scores: mean with a 95% confidence interval, per attribute."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import stats


def mean_ci(values: Iterable[float], level: float = 0.95) -> dict:
    """Mean and a Student-t confidence interval of the mean: {mean, std, n, ci_low, ci_high, ci_half}.
    One value gives a zero-width interval (nothing to estimate a spread from); no values give NaNs."""
    x = np.asarray(list(values), dtype=np.float64)
    n = int(x.size)
    if n == 0:
        nan = float("nan")
        return {"mean": nan, "std": nan, "n": 0, "ci_low": nan, "ci_high": nan, "ci_half": nan}
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n, "ci_low": mean - half, "ci_high": mean + half, "ci_half": half}


def aggregate_details(details: Sequence[dict], keys: Sequence[str]) -> dict:
    """Per-image oracle readings (``task.score``) -> {key: mean_ci} for each of ``keys`` (``task.score_keys``)."""
    return {k: mean_ci(d[k] for d in details) for k in keys}
