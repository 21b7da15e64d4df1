"""The simulator's knobs, its output container, and the calendar/randomness it is built on.

Randomness is drawn from one stream per (seed, component, calendar day) rather than from one
generator for the whole run. That makes the history *prefix-stable*: simulating 208 days
reproduces the first 180 days of a 180-day run exactly (same start date and seed), so the
closed loop can extend the business cycle by cycle, and a run with applied actions shares
every random draw with its no-action control run (common random numbers).
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flywheel_pipeline.settings import DEMO_END_DATE

if TYPE_CHECKING:  # conversations.py imports this module
    from flywheel_pipeline.sources.demo.conversations import Conversations

DOMAIN = "https://shop.example"
# Growth and trends are anchored to a fixed calendar date, never to the run's start, so that
# a longer run agrees with a shorter one on the days they share.
BUSINESS_EPOCH = dt.date(2025, 1, 1)
DEFAULT_END_DATE = DEMO_END_DATE


@dataclass(frozen=True)
class DemoConfig:
    """What to simulate.

    `applied_actions` holds ``(action_type, target_id, applied_on)`` tuples (``applied_on`` a
    ``datetime.date`` or ISO string). From ``applied_on`` on, the planted effect of that action
    (see ``effects.ACTION_EFFECTS``) changes the simulated data; everything else stays the same.
    """

    seed: int = 42
    scale: float = 1.0
    days: int = 180
    end_date: dt.date = DEFAULT_END_DATE
    applied_actions: tuple = ()

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"DemoConfig.scale must be > 0, got {self.scale}")
        if self.days < 1:
            raise ValueError(f"DemoConfig.days must be >= 1, got {self.days}")

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(days=self.days - 1)

    def advanced(self, days: int) -> DemoConfig:
        """The same business `days` later: same start date, so the shared history is identical."""
        return replace(self, days=self.days + days, end_date=self.end_date + dt.timedelta(days))

    def with_actions(self, *actions: tuple) -> DemoConfig:
        return replace(self, applied_actions=(*self.applied_actions, *actions))


@dataclass(frozen=True)
class DemoBusiness:
    """Everything the demo sources deliver, plus the planted truths (schema demo_truth).

    The large CRM tables and truths wait on disk (`spill.Tables`): each is read whole only
    when asked for, and the landing writer reads them a month at a time.
    """

    config: DemoConfig
    data_through: dt.date
    crm: Mapping[str, pd.DataFrame]
    conversations: Conversations
    ga4: dict[str, pd.DataFrame]
    gsc: pd.DataFrame
    truth: Mapping[str, pd.DataFrame] = field(default_factory=dict)


class Calendar:
    """The simulated days, as UTC-midnight nanosecond timestamps and as dates."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.start = np.datetime64(config.start_date, "D")
        self.end = np.datetime64(config.end_date, "D")
        self.days = np.arange(self.start, self.end + 1, dtype="datetime64[D]")
        # Events after this instant have not happened yet and are cut from the output.
        self.end_ns = (self.end + 1).astype("datetime64[ns]")
        self.start_ns = self.start.astype("datetime64[ns]")

    def __len__(self) -> int:
        return len(self.days)


def stream_id(name: str) -> int:
    return zlib.crc32(name.encode())


def day_rng(seed: int, component: str, day: np.datetime64) -> np.random.Generator:
    """The random stream of one component on one calendar day."""
    ordinal = int(day.astype("datetime64[D]").astype(np.int64))
    return np.random.Generator(np.random.PCG64([seed & 0xFFFFFFFF, stream_id(component), ordinal]))


def key_rng(seed: int, component: str, key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([seed & 0xFFFFFFFF, stream_id(component), key]))


def days_to_ns(days: np.ndarray) -> np.ndarray:
    """Fractional days as a nanosecond timedelta (rounded to whole seconds)."""
    seconds = np.round(np.asarray(days, dtype=np.float64) * 86_400).astype(np.int64)
    return (seconds * 10**9).astype("timedelta64[ns]")
