"""Per-day random draws, concatenated into columns.

Every entity draws all of its lifetime randomness (attributes, future purchases, surveys…)
from the stream of the day it appears, in a fixed order. Later stages only read those columns,
so adding days or actions never shifts anybody else's draws.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import ndtri

from flywheel_pipeline.sources.demo.config import day_rng

DayDraw = Callable[[np.random.Generator, int, np.datetime64, int], dict[str, np.ndarray]]

HOURS_CONSUMER = np.array(
    [
        0.5,
        0.3,
        0.2,
        0.15,
        0.15,
        0.3,
        0.8,
        1.5,
        2.2,
        2.6,
        2.8,
        2.9,
        3.0,
        2.9,
        2.8,
        2.8,
        3.0,
        3.4,
        4.0,
        4.6,
        4.8,
        4.2,
        3.0,
        1.5,
    ]
)
HOURS_BUSINESS = np.array(
    [
        0.05,
        0.05,
        0.05,
        0.05,
        0.1,
        0.3,
        1.0,
        2.5,
        4.0,
        4.5,
        4.5,
        4.0,
        3.2,
        4.0,
        4.3,
        4.0,
        3.2,
        2.0,
        1.0,
        0.6,
        0.4,
        0.3,
        0.2,
        0.1,
    ]
)


def seconds_of_day(rng: np.random.Generator, n: int, profile: np.ndarray) -> np.ndarray:
    hours = rng.choice(24, size=n, p=profile / profile.sum())
    return hours * 3600 + rng.integers(0, 3600, size=n)


def per_day(
    seed: int,
    component: str,
    days: np.ndarray,
    counts: np.ndarray,
    draw: DayDraw,
    capacity: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Run `draw(rng, size, day, day_index)` for every day with a count > 0, keep the first
    `count` rows and stack the columns; adds `day` (datetime64[D]) and `seq` (row in the day).

    `capacity` (≥ count, else count is used) fixes how many rows are drawn whatever the count,
    so that a planted effect that changes a day's count leaves everybody else's draws alone.
    """
    # The columns are filled in place, day by day: memory holds the result and one day's
    # draws (at scale 100 the lead draws are gigabytes; a list of days then one concatenation
    # held them twice, with every day's unused capacity).
    total = int(np.maximum(counts, 0).sum())
    out: dict[str, np.ndarray] = {}
    at = 0
    for i, (day, n) in enumerate(zip(days, counts, strict=True)):
        n = int(n)
        if n <= 0:
            continue
        size = n if capacity is None else max(n, int(capacity[i]))
        cols = draw(day_rng(seed, component, day), size, day, i)
        cols["day"] = np.full(n, day, dtype="datetime64[D]")
        cols["seq"] = np.arange(n)
        for key, values in cols.items():
            if key not in out:
                out[key] = np.empty((total, *values.shape[1:]), dtype=values.dtype)
            out[key][at : at + n] = values[:n]
        at += n
    return out


def daily_counts(seed: int, component: str, days: np.ndarray, means: np.ndarray) -> np.ndarray:
    """One Poisson count per day from its own day stream, monotone in the mean (CRN)."""
    u = np.array([day_rng(seed, component + ":n", d).random() for d in days])
    return poisson_from_u(u, np.maximum(np.asarray(means, dtype=np.float64), 0.0))


def capacity_for(means: np.ndarray) -> np.ndarray:
    """A generous fixed number of rows to draw for a day with this expected count."""
    means = np.asarray(means, dtype=np.float64)
    return np.ceil(1.5 * means + 5 * np.sqrt(means) + 10).astype(np.int64)


def poisson_from_u(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson draws by inverse CDF of given uniforms: the same u gives a count that only
    grows with λ, so runs with and without an effect differ only where the effect acts."""
    u = np.asarray(u, dtype=np.float64)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
    out = np.zeros(u.shape, dtype=np.int64)
    small = lam < 30
    if small.any():
        ls, us = lam[small], u[small]
        k = np.zeros(ls.shape, dtype=np.int64)
        pmf = np.exp(-ls)
        cdf = pmf.copy()
        for j in range(1, 100):
            step = us > cdf
            if not step.any():
                break
            k += step
            pmf = pmf * ls / j
            cdf = cdf + pmf
        out[small] = k
    big = ~small
    if big.any():
        z = ndtri(np.clip(u[big], 1e-12, 1 - 1e-12))
        lb = lam[big]
        # Normal approximation with a skew (Cornish-Fisher) correction.
        out[big] = np.maximum(0, np.round(lb + np.sqrt(lb) * z + (z * z - 1) / 6)).astype(np.int64)
    return out


def binomial_from_u(n: np.ndarray, p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Binomial-like draws monotone in p for given uniforms (Poisson for rare successes,
    normal approximation otherwise), capped at n."""
    n = np.asarray(n)
    p = np.broadcast_to(np.asarray(p, dtype=np.float64), n.shape)
    mean = n * p
    rare = poisson_from_u(u, mean)
    z = ndtri(np.clip(u, 1e-12, 1 - 1e-12))
    common = np.round(mean + z * np.sqrt(mean * (1 - p))).astype(np.int64)
    out = np.where(p < 0.2, rare, common)
    return np.clip(out, 0, n).astype(np.int64)


def day_chunks(counts: np.ndarray, budget: int) -> list[slice]:
    """Runs of consecutive days with at most `budget` people each (a day is never split, so a
    busier day makes a chunk of its own)."""
    chunks, start, total = [], 0, 0
    for i, n in enumerate(np.asarray(counts, dtype=np.int64)):
        if total and total + n > budget:
            chunks.append(slice(start, i))
            start, total = i, 0
        total += int(n)
    if len(counts):
        chunks.append(slice(start, len(counts)))
    return chunks
