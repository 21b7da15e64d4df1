"""Reshape the rows of a tool's export before typing, by the rules of its mapping (mapping.py).

- `deal_outcomes`: a deal's `is_won` from the stage values that mean won or lost, or from a
  column saying whether it is closed; an open deal has no `is_won` and no `closed_at` (CRMs
  put the expected close date there).
- `LineItems`: an order export with one row per line item (Shopify) folds into one row per
  order, streaming: the rows of one order are consecutive, and an order unfinished at the end
  of a chunk is carried to the next.

Both work on text, as read (typing comes after, so a bad value is still quarantined by the
column's rule, on the order's first line).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flywheel_pipeline.sources.files.mapping import FilePlan
from flywheel_pipeline.sources.files.values import FALSE, TRUE


def deal_outcomes(rows: pa.Table, plan: FilePlan) -> pa.Table:
    """`is_won` and `closed_at` of deals by the plan's won/lost stages and closed column."""
    rules = plan.rules
    stages = rules.won_stages or rules.lost_stages
    if not stages and plan.closed_column is None:
        return rows
    n = rows.num_rows
    names = rows.column_names
    stage = _lowered(rows["stage"]) if "stage" in names else pa.nulls(n, pa.string())
    won = _member(stage, rules.won_stages)
    lost = _member(stage, rules.lost_stages)
    if "is_won" in names:
        is_won = rows["is_won"]
        said_won = _member(_lowered(is_won), frozenset(TRUE))
    else:
        is_won = pc.if_else(won, "true", pc.if_else(lost, "false", pa.scalar(None, pa.string())))
        said_won = won
    if plan.closed_column is not None:
        closed = _lowered(rows[plan.closed_column])
        open_ = _member(closed, frozenset(FALSE))
    else:
        open_ = pc.invert(pc.or_(pc.or_(won, lost), said_won))
    none = pa.scalar(None, pa.string())
    rows = _set(rows, "is_won", pc.if_else(open_, none, pc.cast(is_won, pa.string())))
    if "closed_at" in names:
        closed_at = pc.cast(rows["closed_at"], pa.string())
        rows = _set(rows, "closed_at", pc.if_else(open_, none, closed_at))
    return rows


class LineItems:
    """Folds consecutive rows of one `order_id` into the order: its first row (and line),
    `items` = the sum of the rows' quantities, the per-item columns dropped."""

    def __init__(self, plan: FilePlan) -> None:
        self._drop = list(plan.line_item_columns)
        self._carry: tuple[pa.Table, np.ndarray] | None = None

    def fold(self, rows: pa.Table, lines: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        """The orders complete in `rows` (with what was carried); the last one waits."""
        if self._carry is not None and self._carry[0].num_rows:
            carried, carried_lines = self._carry
            rows = pa.concat_tables([carried, rows.cast(carried.schema)])
            lines = np.concatenate([carried_lines, lines])
        starts = _order_starts(rows)
        if starts.size == 0:
            self._carry = None
            return self._folded(rows, lines, starts)
        last = int(starts[-1])
        self._carry = (rows.slice(last), lines[last:])
        return self._folded(rows.slice(0, last), lines[:last], starts[:-1])

    def rest(self) -> tuple[pa.Table, np.ndarray] | None:
        """The last order of the file, once every chunk was folded."""
        if self._carry is None or self._carry[0].num_rows == 0:
            return None
        rows, lines = self._carry
        self._carry = None
        return self._folded(rows, lines, _order_starts(rows))

    def _folded(
        self, rows: pa.Table, lines: np.ndarray, starts: np.ndarray
    ) -> tuple[pa.Table, np.ndarray]:
        orders = rows.take(pa.array(starts, pa.int64())) if starts.size else rows.slice(0, 0)
        if "items" in rows.column_names and starts.size:
            orders = _set(orders, "items", _summed(rows["items"], starts))
        drop = [c for c in self._drop if c in orders.column_names]
        return orders.drop_columns(drop), lines[starts]


def _order_starts(rows: pa.Table) -> np.ndarray:
    """Index of the first row of each order: where order_id changes (an empty one stands
    alone, to be quarantined)."""
    if rows.num_rows == 0:
        return np.empty(0, dtype=np.int64)
    ids = np.asarray(
        pc.fill_null(pc.utf8_trim_whitespace(pc.cast(rows["order_id"], pa.string())), "")
        .to_numpy(zero_copy_only=False)
        .astype(object)
    )
    changed = np.ones(ids.size, dtype=bool)
    changed[1:] = (ids[1:] != ids[:-1]) | (ids[1:] == "")
    return np.flatnonzero(changed).astype(np.int64)


def _summed(items: pa.ChunkedArray, starts: np.ndarray) -> pa.Array:
    """Per order, the sum of its quantities as text: empty when it has none, the first bad
    value when one is not a number (its order is then quarantined by the `items` rule)."""
    text = np.asarray(
        pc.fill_null(pc.utf8_trim_whitespace(pc.cast(items, pa.string())), "").to_numpy(
            zero_copy_only=False
        ),
        dtype=object,
    )
    numbers = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=float)
    present = ~np.isnan(numbers)
    bad = (text != "") & ~present
    sums = pa.array(np.add.reduceat(np.where(present, numbers, 0.0), starts)).cast(pa.string())
    values = np.where(np.logical_or.reduceat(present, starts), sums.to_numpy(False), None)
    first_bad = np.minimum.reduceat(np.where(bad, np.arange(text.size), text.size), starts)
    has_bad = first_bad < text.size
    values[has_bad] = text[first_bad[has_bad]]
    return pa.array(values, pa.string())


def _lowered(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(column, pa.string())))


def _member(values: pa.ChunkedArray, allowed: frozenset[str]) -> pa.ChunkedArray:
    if not allowed:
        return pa.chunked_array([np.zeros(len(values), dtype=bool)], pa.bool_())
    found = pc.is_in(values, value_set=pa.array(sorted(allowed), pa.string()))
    return pc.fill_null(found, False)


def _set(rows: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    if name in rows.column_names:
        return rows.set_column(rows.column_names.index(name), name, values)
    return rows.append_column(name, values)
