"""Helpers shared by tests."""

from __future__ import annotations

from pathlib import Path

from flywheel_pipeline.settings import Settings, load_settings


def demo_settings(home: Path, scale: float = 0.15, days: int = 120) -> Settings:
    return load_settings(
        flywheel_home=home,
        flywheel_source="demo",
        flywheel_demo_scale=scale,
        flywheel_demo_days=days,
    )
