"""Every setting of SPEC §3, read in one place.

Settings come from the environment (and a `.env` file in the working directory). A missing or
invalid value stops start-up with one line that names the variable, so an operator never has
to read a traceback to fix a typo.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Literal

import pydantic
from pydantic_settings import BaseSettings, SettingsConfigDict

WAREHOUSE_FILE = "warehouse.duckdb"
# The demo business's last simulated day unless FLYWHEEL_DEMO_END_DATE moves it on (as
# `flywheel simulate` does cycle by cycle).
DEMO_END_DATE = dt.date(2026, 9, 30)
LEGACY_WAREHOUSE_FILE = "flywheel.duckdb"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    flywheel_home: Path = Path("data")
    flywheel_duckdb_path: Path | None = None
    flywheel_landing_dir: Path | None = None
    # The zone of file-drop timestamps without an offset (a mapping.yaml's `timezone:` wins);
    # unset, such values are quarantined, never read as UTC.
    flywheel_timezone: str | None = None
    flywheel_source: Literal["demo", "live"] | None = None
    flywheel_demo_seed: int = 42
    flywheel_demo_scale: float = pydantic.Field(default=1.0, gt=0, le=1000)
    flywheel_demo_days: int = pydantic.Field(default=180, ge=56, le=1100)
    flywheel_demo_end_date: dt.date = DEMO_END_DATE

    ga4_property_id: str | None = pydantic.Field(default=None, pattern=r"^\d+$")
    # Only the path is held; the file's content is read by Google's auth library, never here.
    google_application_credentials: Path | None = pydantic.Field(default=None, repr=False)
    ga4_api_endpoint: str | None = None
    gsc_site_url: str | None = pydantic.Field(
        default=None, pattern=r"^(https?://\S+/|sc-domain:\S+)$"
    )
    gsc_api_endpoint: str | None = None

    # The first day of the Google sources' daily partitions (live mode); the demo's start
    # with its first simulated day. Default: Search Console's 16 months of history.
    flywheel_start_date: dt.date | None = None
    # A YAML file of GA4 / Search Console report definitions merged over the defaults.
    flywheel_reports_file: Path | None = None
    # Share of every list recommendation (leads, deals, customers, promoters) kept as a random
    # holdout, untouched, to measure the lift against.
    flywheel_holdout_share: float = pydantic.Field(default=0.2, ge=0, lt=1)

    # The owner every asset shows in the Dagster catalog: a team (`team:marketing-data`) or an
    # email address. One owner for the whole pipeline keeps it simple; dbt models may name
    # their own in `meta: dagster: owners`.
    flywheel_owner: str = pydantic.Field(
        default="team:data", pattern=r"^(team:[\w.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$"
    )
    # How Dagster runs a job's steps. `in_process` (the default): warehouse steps run one at a
    # time anyway (single DuckDB writer), and a process per step would add a code-location
    # load (~10 s) to each. `multiprocess`: Dagster's multi_or_in_process executor, for
    # deployments whose runs hold network-bound steps outside the warehouse pool; the launchpad
    # can still pick in-process per run. `flywheel demo`/`run` always execute in process.
    flywheel_executor: Literal["in_process", "multiprocess"] = "in_process"
    # Links from each asset to its code on the forge (GitHub/GitLab), e.g.
    # https://github.com/acme/flywheel and main; unset, the UI shows local file paths.
    flywheel_git_url: str | None = pydantic.Field(default=None, pattern=r"^https?://\S+$")
    flywheel_git_branch: str = "main"

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip() == "" else value

    @pydantic.field_validator("google_application_credentials", "flywheel_reports_file")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("file not found")
        return value

    @pydantic.field_validator("flywheel_timezone")
    @classmethod
    def _timezone_is_known(cls, value: str | None) -> str | None:
        if value is not None and not is_timezone(value):
            raise ValueError("unknown time zone; want an IANA name such as Europe/Berlin")
        return value

    @pydantic.field_validator("ga4_api_endpoint", "gsc_api_endpoint")
    @classmethod
    def _endpoint_is_url_or_host(cls, value: str | None) -> str | None:
        if value is not None and (" " in value or value.startswith(("ftp:", "file:"))):
            raise ValueError("expected http(s)://host[:port] or host[:port]")
        return value

    # Derived locations -------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return self.flywheel_home.resolve()

    @property
    def duckdb_path(self) -> Path:
        """The warehouse file. Its default name is no schema's: DuckDB names the catalog after
        the file, and a `flywheel.duckdb` beside a schema `flywheel` makes `flywheel.momentum`
        ambiguous in any client that opens the file. A warehouse an earlier version created
        under that name is still used (see :attr:`legacy_warehouse_notice`)."""
        if self.flywheel_duckdb_path is not None:
            return self.flywheel_duckdb_path.resolve()
        default = self.home / "warehouse" / WAREHOUSE_FILE
        legacy = self.home / "warehouse" / LEGACY_WAREHOUSE_FILE
        return (legacy if legacy.exists() and not default.exists() else default).resolve()

    @property
    def legacy_warehouse_notice(self) -> str | None:
        """One line telling how to move a warehouse that still has the old default name."""
        if self.duckdb_path.name != LEGACY_WAREHOUSE_FILE or self.flywheel_duckdb_path:
            return None
        return (
            f"note: using {self.duckdb_path}, the old default name; `mv {self.duckdb_path} "
            f"{self.duckdb_path.with_name(WAREHOUSE_FILE)}` lets DuckDB clients open it "
            "without a catalog named like the `flywheel` schema"
        )

    @property
    def landing_dir(self) -> Path:
        return (self.flywheel_landing_dir or self.home / "landing").resolve()

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def serving_dir(self) -> Path:
        return self.home / "serving"

    @property
    def demo_dir(self) -> Path:
        """Where the simulator keeps what the demo 'APIs' serve."""
        return self.home / "demo"

    @property
    def source(self) -> Literal["demo", "live"]:
        if self.flywheel_source is not None:
            return self.flywheel_source
        return "live" if (self.ga4_property_id or self.gsc_site_url) else "demo"

    @property
    def start_date(self) -> dt.date:
        """First day of the GA4 / Search Console partitions in live mode."""
        if self.flywheel_start_date is not None:
            return self.flywheel_start_date
        today = dt.datetime.now(dt.UTC).date()
        months = today.year * 12 + today.month - 1 - 16
        return dt.date(months // 12, months % 12 + 1, 1)

    @property
    def ga4_configured(self) -> bool:
        return self.ga4_property_id is not None

    @property
    def gsc_configured(self) -> bool:
        return self.gsc_site_url is not None


def is_timezone(name: str) -> bool:
    """Whether `name` is an IANA time zone (`Europe/Berlin`, `UTC`)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise SettingsError with one line naming the variable."""
    try:
        return Settings(**overrides)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "settings"
        given = first.get("input")
        shown = "" if variable == "GOOGLE_APPLICATION_CREDENTIALS" else f" (got {given!r})"
        raise SettingsError(f"{variable}: {first['msg']}{shown}") from None
