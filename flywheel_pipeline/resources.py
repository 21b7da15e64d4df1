"""Resources shared by every domain, built from the settings in one place."""

import os
from pathlib import Path

import dagster as dg

from flywheel_pipeline.settings import Settings
from flywheel_pipeline.warehouse import WarehouseResource


class FlywheelPaths(dg.ConfigurableResource):
    """Where files live outside the warehouse (landing drops, reports, serving copy)."""

    home: str
    landing_dir: str
    reports_dir: str
    serving_dir: str
    demo_dir: str
    # FLYWHEEL_TIMEZONE: how the file drops read timestamps without an offset.
    timezone: str | None = None

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)


def build_resources(settings: Settings) -> dict[str, object]:
    return {
        "warehouse": WarehouseResource(database=str(settings.duckdb_path)),
        "paths": FlywheelPaths(
            home=str(settings.home),
            landing_dir=str(settings.landing_dir),
            reports_dir=str(settings.reports_dir),
            serving_dir=str(settings.serving_dir),
            demo_dir=str(settings.demo_dir),
            timezone=settings.flywheel_timezone,
        ),
    }


CREDENTIALS_VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS"


def google_credentials_path(settings: Settings) -> str | None:
    """GOOGLE_APPLICATION_CREDENTIALS for the Google resources' `credentials_path`.

    Taken from the environment, it is passed as a `dg.EnvVar`: Dagster shows the variable's
    name, never the path, and reads the value when a run starts. A path read from a .env file
    (or given to the settings) is not in the environment, so it is passed as it is.
    """
    path = settings.google_application_credentials
    if path is None:
        return None
    if os.environ.get(CREDENTIALS_VARIABLE) == str(path):
        return dg.EnvVar(CREDENTIALS_VARIABLE)
    return str(path)
