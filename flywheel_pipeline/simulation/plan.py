"""What a simulation runs: the business, the cycles, and each arm's settings per cycle."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from flywheel_pipeline.settings import DEMO_END_DATE, Settings, load_settings

TREATED, CONTROL = "treated", "control"
# Written into each arm's folder when the simulation creates it: only such folders are wiped
# when a simulation starts again.
MARKER = ".flywheel-simulation"


@dataclass(frozen=True)
class SimulationPlan:
    home: Path  # the arms live in home/treated and home/control
    seed: int = 42
    scale: float = 1.0
    days: int = 180  # history before the first cycle
    cycles: int = 6
    cycle_days: int = 28
    accept_top: int = 10
    control: bool = True
    holdout_share: float | None = None  # None: FLYWHEEL_HOLDOUT_SHARE or its default

    def __post_init__(self) -> None:
        for name, low in (("cycles", 1), ("cycle_days", 1), ("accept_top", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be ≥ {low}, got {getattr(self, name)}")

    @property
    def arms(self) -> tuple[str, ...]:
        return (TREATED, CONTROL) if self.control else (TREATED,)

    def arm_home(self, arm: str) -> Path:
        return Path(self.home) / arm

    def data_through(self, cycle: int) -> dt.date:
        return DEMO_END_DATE + dt.timedelta(days=cycle * self.cycle_days)

    def window(self, cycle: int) -> tuple[dt.date, dt.date]:
        """The days a cycle adds (cycle 0: the last ``cycle_days`` of the history)."""
        last = self.data_through(cycle)
        return last - dt.timedelta(days=self.cycle_days - 1), last

    def settings(self, arm: str, cycle: int) -> Settings:
        """The arm's settings at ``cycle``: the demo business ``cycle × cycle_days`` days on."""
        home = self.arm_home(arm)
        overrides: dict[str, object] = {
            "flywheel_home": home,
            "flywheel_duckdb_path": home / "warehouse" / "warehouse.duckdb",
            "flywheel_landing_dir": home / "landing",
            "flywheel_source": "demo",
            "flywheel_demo_seed": self.seed,
            "flywheel_demo_scale": self.scale,
            "flywheel_demo_days": self.days + cycle * self.cycle_days,
            "flywheel_demo_end_date": self.data_through(cycle),
        }
        if self.holdout_share is not None:
            overrides["flywheel_holdout_share"] = self.holdout_share
        return load_settings(**overrides)
