"""Report definitions of the Google sources: the shipped defaults, merged with a user's file.

`reports.yaml` beside this module holds the defaults and documents the format; a user points
FLYWHEEL_REPORTS_FILE at a file in the same format. Entries merge by `table`: a new table adds
a report; an entry for a default table may change filters, add metrics or disable it (fields
it leaves out keep their defaults), but not change its dimensions (the staging models rely on
that grain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydantic
import yaml

from flywheel_pipeline.settings import SettingsError
from flywheel_pipeline.sources.ga4.reports import Ga4Report
from flywheel_pipeline.sources.search_console.reports import SearchConsoleReport

DEFAULTS_FILE = Path(__file__).with_name("reports.yaml")
SECTIONS = {"ga4": Ga4Report, "search_console": SearchConsoleReport}


class ReportFileError(SettingsError):
    """The reports file is invalid; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class ReportDefinitions:
    ga4: tuple[Ga4Report, ...]
    search_console: tuple[SearchConsoleReport, ...]


def load_reports(user_file: Path | None = None) -> ReportDefinitions:
    """The enabled reports: the defaults, with `user_file`'s entries merged over them."""
    defaults = _read(DEFAULTS_FILE)
    merged = {section: dict(entries) for section, entries in defaults.items()}
    if user_file is not None:
        for section, entries in _read(user_file, defaults).items():
            for table, report in entries.items():
                default = defaults[section].get(table)
                if default is not None:
                    _check_override(user_file, section, default, report)
                merged[section][table] = report
    return ReportDefinitions(
        **{
            section: tuple(r for r in entries.values() if r.enabled)
            for section, entries in merged.items()
        }
    )


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _read(
    path: Path, defaults: dict[str, dict[str, pydantic.BaseModel]] | None = None
) -> dict[str, dict[str, pydantic.BaseModel]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReportFileError(
            f"FLYWHEEL_REPORTS_FILE: {path}: unreadable YAML ({_one_line(exc)})"
        ) from None
    if not isinstance(document, dict) or set(document) - set(SECTIONS):
        raise ReportFileError(
            f"FLYWHEEL_REPORTS_FILE: {path}: expected a mapping with sections {', '.join(SECTIONS)}"
        )
    parsed: dict[str, dict[str, pydantic.BaseModel]] = {section: {} for section in SECTIONS}
    for section, entries in document.items():
        for index, entry in enumerate(entries or []):
            where = f"{path}: {section}[{index}]"
            if isinstance(entry, dict) and "table" in entry:
                where += f" (table {entry['table']})"
                default = (defaults or {}).get(section, {}).get(entry["table"])
                if default is not None:
                    entry = {**default.model_dump(exclude_none=True), **entry}
            try:
                report = SECTIONS[section].model_validate(entry)
            except pydantic.ValidationError as exc:
                error = exc.errors()[0]
                field = ".".join(str(part) for part in error["loc"]) or "entry"
                raise ReportFileError(
                    f"FLYWHEEL_REPORTS_FILE: {where}: {field}: {_one_line(error['msg'])}"
                ) from None
            if report.table in parsed[section]:
                raise ReportFileError(
                    f"FLYWHEEL_REPORTS_FILE: {where}: table {report.table} is defined twice"
                )
            parsed[section][report.table] = report
    return parsed


def _check_override(path: Path, section: str, default, report) -> None:
    where = f"FLYWHEEL_REPORTS_FILE: {path}: {section} table {report.table}"
    if report.dimensions != default.dimensions:
        raise ReportFileError(
            f"{where}: dimensions must stay {list(default.dimensions)} (the staging models "
            "rely on this grain); add a report with a new table name for other dimensions"
        )
    missing = [m for m in getattr(default, "metrics", ()) if m not in report.metrics]
    if missing:
        raise ReportFileError(
            f"{where}: metrics must keep {missing} (the staging models read them)"
        )
