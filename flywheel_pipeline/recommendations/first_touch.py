"""What a first touch is worth: the revenue new contacts bring in their first ``VALUE_DAYS``
days, per landing page (``rewrite_title``'s value of a visit) or per campaign
(``shift_budget``'s value of a session), over the contacts created in a window.

Summed from frames (:class:`FrameFirstTouch`) or in the warehouse
(:class:`.inputs.WarehouseFirstTouch`, where the contacts and orders stay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from flywheel_pipeline.insights._common import to_utc_naive

VALUE_DAYS = 90
#: :meth:`FirstTouch.revenue`'s columns
REVENUE_COLUMNS = ["value", "revenue", "customers"]


class FirstTouch(Protocol):
    def revenue(
        self, column: str, start: pd.Timestamp, until: pd.Timestamp, stop: pd.Timestamp
    ) -> pd.DataFrame:
        """Per value of the contacts' ``column`` (first_landing_page, campaign; null where a
        contact has none), over the contacts created in ``[start, until)``: the revenue of
        their orders before ``stop`` within VALUE_DAYS of their creation, and customers
        (the contacts with such an order). :data:`REVENUE_COLUMNS`."""
        ...

    def knows(self, column: str) -> bool:
        """Whether any contact has a ``column`` value."""
        ...


def empty_revenue() -> pd.DataFrame:
    return pd.DataFrame(columns=REVENUE_COLUMNS)


@dataclass(frozen=True)
class FrameFirstTouch:
    """:class:`FirstTouch` of ``contacts`` (contact_id, created_at and the touch columns)
    and ``orders`` (contact_id, ordered_at, revenue)."""

    contacts: pd.DataFrame | None
    orders: pd.DataFrame | None

    def knows(self, column: str) -> bool:
        c = self.contacts
        return c is not None and column in c and bool(c[column].notna().any())

    def revenue(
        self, column: str, start: pd.Timestamp, until: pd.Timestamp, stop: pd.Timestamp
    ) -> pd.DataFrame:
        contacts, orders = self.contacts, self.orders
        if contacts is None or contacts.empty or orders is None or orders.empty:
            return empty_revenue()
        c = pd.DataFrame(
            {
                "contact_id": contacts["contact_id"],
                "created_at": to_utc_naive(contacts["created_at"]),
                "value": contacts.get(column),
            }
        )
        c = c[(c["created_at"] >= start) & (c["created_at"] < until)]
        o = orders[["contact_id", "ordered_at", "revenue"]].copy()
        o["ordered_at"] = to_utc_naive(o["ordered_at"])
        o = o[o["ordered_at"] < stop].merge(c, on="contact_id")
        days_after = (o["ordered_at"] - o["created_at"]) / pd.Timedelta(days=1)
        o = o[(days_after >= 0) & (days_after < VALUE_DAYS)]
        grouped = o.groupby("value", dropna=False).agg(
            revenue=("revenue", "sum"), customers=("contact_id", "nunique")
        )
        return grouped.reset_index()[REVENUE_COLUMNS]
