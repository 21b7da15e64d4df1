"""The two windows a before/after comparison reads around a done day, shared by every
difference in differences (recommendations.outcomes for queries and topics,
recommendations.budget for campaigns).

A daily frame has columns day (midnight), unit (the target or a control), num and den (a
count has den 1 a day). Window before: the ``WINDOW_DAYS`` days before the done day; window
after: the ``WINDOW_DAYS`` days from it (the done day included).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.insights._common import stable_hash

WINDOW_DAYS = 28


def seed_of(*parts: object) -> int:
    return int(stable_hash(*parts), 16)


def n_days(n: int) -> pd.Timedelta:
    return pd.Timedelta(days=n)


def ended(done: pd.Timestamp, days: int, last: pd.Timestamp | None) -> bool:
    """The window of ``days`` from ``done`` has ended by ``last``, the data's last day."""
    return last is not None and done + n_days(days - 1) <= last


def measurable(done: pd.Timestamp, days: int, first: pd.Timestamp, last: pd.Timestamp) -> bool:
    """Both windows of a difference in differences lie inside the data."""
    return done - n_days(days) >= first and ended(done, days, last)


def window_rows(daily: pd.DataFrame, done: pd.Timestamp) -> pd.DataFrame:
    """Rows of the two windows around ``done``, with ``after`` (in the window from done)."""
    start, stop = done - n_days(WINDOW_DAYS), done + n_days(WINDOW_DAYS)
    rows = daily[(daily["day"] >= start) & (daily["day"] < stop)]
    return rows.assign(after=rows["day"] >= done)


def did_panels(
    window: pd.DataFrame, target: str, controls: set[str], done: pd.Timestamp, *, counts: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per-day ``[target num, den, control num, den]`` of the windows before and after
    ``done``; a count has denominator 1 a day."""
    span = pd.date_range(done - n_days(WINDOW_DAYS), periods=2 * WINDOW_DAYS, freq="D")

    def per_day(mask: pd.Series) -> pd.DataFrame:
        return window[mask].groupby("day")[["num", "den"]].sum().reindex(span, fill_value=0)

    target_days = per_day(window["unit"] == target)
    control_days = per_day(window["unit"].isin(controls))
    if counts:
        target_days["den"] = control_days["den"] = 1.0
    columns = [target_days["num"], target_days["den"], control_days["num"], control_days["den"]]
    panel = np.column_stack(columns).astype(float)
    return panel[:WINDOW_DAYS], panel[WINDOW_DAYS:]


def control_panels(
    window: pd.DataFrame, controls: set[str], done: pd.Timestamp, *, counts: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Days × controls × ``[num, den]`` of the windows before and after ``done``."""
    span = pd.date_range(done - n_days(WINDOW_DAYS), periods=2 * WINDOW_DAYS, freq="D")
    rows = window[window["unit"].isin(controls)]
    units = sorted(controls)
    num, den = (
        rows.pivot_table(index="day", columns="unit", values=column, aggfunc="sum")
        .reindex(index=span, columns=units)
        .fillna(0.0)
        .to_numpy(dtype=float)
        for column in ("num", "den")
    )
    cube = np.stack([num, np.ones_like(den) if counts else den], axis=-1)
    return cube[:WINDOW_DAYS], cube[WINDOW_DAYS:]
