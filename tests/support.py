"""Helpers shared by tests."""

from __future__ import annotations

from pathlib import Path

from flywheel_pipeline.settings import Settings, load_settings


def demo_settings(home: Path, scale: float = 0.15, days: int = 120) -> Settings:
    # Explicit warehouse path: build_definitions exports FLYWHEEL_DUCKDB_PATH for dbt, and an
    # earlier test's value must never redirect this one.
    return load_settings(
        flywheel_home=home,
        flywheel_duckdb_path=home / "warehouse" / "warehouse.duckdb",
        flywheel_source="demo",
        flywheel_demo_scale=scale,
        flywheel_demo_days=days,
    )
