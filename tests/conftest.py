"""Shared fixtures: one dbt parse per session, settings pointing at a temporary home."""

from __future__ import annotations

from pathlib import Path

import pytest

SETTINGS_VARIABLES = [
    "FLYWHEEL_HOME",
    "FLYWHEEL_DUCKDB_PATH",
    "FLYWHEEL_LANDING_DIR",
    "FLYWHEEL_SOURCE",
    "FLYWHEEL_DEMO_SEED",
    "FLYWHEEL_DEMO_SCALE",
    "FLYWHEEL_DEMO_DAYS",
    "FLYWHEEL_DEMO_END_DATE",
    "GA4_PROPERTY_ID",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GA4_API_ENDPOINT",
    "GSC_SITE_URL",
    "GSC_API_ENDPOINT",
    "FLYWHEEL_START_DATE",
    "FLYWHEEL_REPORTS_FILE",
    "FLYWHEEL_HOLDOUT_SHARE",
    "FLYWHEEL_TIMEZONE",
    "FLYWHEEL_OWNER",
    "FLYWHEEL_EXECUTOR",
    "FLYWHEEL_GIT_URL",
    "FLYWHEEL_GIT_BRANCH",
    # The Makefile points DAGSTER_HOME at the project's instance: a test's runs stay in an
    # ephemeral one unless the test sets its own.
    "DAGSTER_HOME",
]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's settings or .env file."""
    for variable in SETTINGS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    from flywheel_pipeline.dbt.project import ensure_manifest

    return ensure_manifest()
