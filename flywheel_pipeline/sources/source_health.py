"""Fault isolation between sources, and each source's health as Dagster recorded it.

A source that fails (credentials, quota, an outage that outlasts the retries) must not stop
what it does not feed, nor what it feeds: the other sources' data still flows through dbt,
the insights and the report in the same run. Dagster skips every step downstream of a failed
step, so a Google raw asset does not fail its step on an extraction error. Instead
`extract_keeping_last_good` writes nothing (the assets swap the days' rows in one transaction
at the end, so the table keeps its last good state), logs the cause at ERROR and records a
materialisation whose metadata says the extraction failed, with the days requested and the
last good load. Downstream steps then build on the last good data.

The run must still end as failed, so that schedules and alerts see it: `extraction_check`
(`extraction_succeeded`, not blocking: downstream assets depend on the asset, not on the check)
records a failed evaluation and then fails its own step. Checked on Dagster 1.13 with the
in-process executor: a failing non-blocking check step marks the run FAILURE while every asset
downstream of the checked asset still runs. A landing file rejected in a run fails the run the
same way (`rejected_files_check`, `files_accepted`); the folder's other files load as before.

Only errors that mean "the source failed" are isolated: the source's own errors (auth, quota,
HTTP, retries spent) and transport errors (`TRANSPORT_ERRORS`). Anything else (a TypeError, a
DuckDB error while writing) is a bug or a warehouse problem that every asset shares, and fails
the step as before, with its traceback.

`source_health` reads the latest materialisation of each raw source asset from the Dagster
instance (no warehouse access, so it works while a run holds the warehouse): ok, failed (in
which run, why, and what the data is as of), skipped (not configured, or no file ever landed)
or not loaded yet. `flywheel status` and the HTML report show it.
"""

import datetime as dt
import http.client
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
import google.auth.exceptions

from flywheel_pipeline.sources.files.drops import FILE_DROPS
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, fetch_row, table_columns

if TYPE_CHECKING:
    from flywheel_pipeline.settings import Settings

# Materialisation metadata written by the Google raw assets.
SOURCE = "flywheel/source"
EXTRACTION_FAILED = "flywheel/extraction_failed"
LAST_GOOD_LOAD = "flywheel/last_good_load"
DATA_THROUGH = "flywheel/data_through"
SKIPPED = "skipped"  # an unconfigured source in live mode (nothing extracted, nothing written)
# Written by the file-drop assets (sources/files/assets.py).
FILES_REJECTED = "files_rejected"
REJECTIONS = "rejections"
LAST_ARRIVAL = "dagster/last_updated_timestamp"

EXTRACTION_CHECK = "extraction_succeeded"
FILES_CHECK = "files_accepted"

# Errors of the connection or the credentials rather than of our code: a refused or dropped
# connection, a timeout, a DNS failure (all OSErrors, as are `requests`' errors), a broken HTTP
# exchange, a token request that fails. Each source adds its client's own errors.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    google.auth.exceptions.GoogleAuthError,
    http.client.HTTPException,
    OSError,
)
MAX_CAUSE = 500  # characters of a cause kept in metadata and logs

OK, FAILED, SKIPPED_STATUS, REJECTED, NOT_LOADED = (
    "ok",
    "failed",
    "skipped",
    "rejected",
    "not loaded",
)


# The cause, in one line and without secrets ------------------------------------------------


def describe_failure(exc: BaseException) -> str:
    """One line saying why extraction failed, safe for logs and metadata.

    The sources' own errors already leave credentials out. A failed token request is reduced
    to its kind and OAuth error code: google-auth quotes the token endpoint's answer, which may
    name the service account. An OSError's file name is left out (it could be a key file's
    path)."""
    name = type(exc).__name__
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        code = _oauth_error_code(exc)
        return (
            "GOOGLE_APPLICATION_CREDENTIALS: Google authentication failed "
            f"({name}{': ' + code if code else ''}); check the service account's key and access"
        )
    if isinstance(exc, OSError) and (exc.filename is not None or exc.filename2 is not None):
        text = exc.strerror or ""
    else:
        text = " ".join(str(exc).split())
    cause = f"{name}: {text}" if text and not text.startswith(name) else text or name
    return cause if len(cause) <= MAX_CAUSE else cause[: MAX_CAUSE - 1] + "…"


def _oauth_error_code(exc: BaseException) -> str | None:
    """`invalid_grant` and the like, from the token endpoint's JSON answer, if it gave one."""
    for arg in exc.args[1:2]:
        if isinstance(arg, Mapping) and isinstance(arg.get("error"), str):
            return arg["error"][:60]
    return None


# Extraction that keeps the last good data --------------------------------------------------


@dataclass(frozen=True)
class LoadState:
    """What a raw table holds: when its newest rows were loaded and the last day they cover."""

    loaded_at: dt.datetime | None  # UTC
    data_through: dt.date | None

    @classmethod
    def of(cls, conn: duckdb.DuckDBPyConnection, relation: str) -> "LoadState":
        columns = table_columns(conn, relation)
        if not columns:
            return cls(None, None)
        loaded = "max(_loaded_at)" if "_loaded_at" in columns else "null"
        through = "max(date)" if "date" in columns else "null"
        loaded_at, data_through = fetch_row(conn, f"select {loaded}, {through} from {relation}")
        if isinstance(loaded_at, dt.datetime) and loaded_at.tzinfo is None:
            loaded_at = loaded_at.replace(tzinfo=dt.UTC)  # lineage columns are naive UTC
        if isinstance(data_through, dt.datetime):
            data_through = data_through.date()
        return cls(loaded_at, data_through)

    def metadata(self) -> dict[str, object]:
        metadata: dict[str, object] = {}
        if self.loaded_at is not None:
            metadata[LAST_GOOD_LOAD] = dg.MetadataValue.timestamp(self.loaded_at)
        if self.data_through is not None:
            metadata[DATA_THROUGH] = self.data_through.isoformat()
        return metadata


def extract_keeping_last_good(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    *,
    source: str,
    relation: str,
    days: tuple[dt.date, dt.date],
    extract: Callable[[duckdb.DuckDBPyConnection], Mapping[str, object]],
    errors: tuple[type[BaseException], ...],
) -> dg.MaterializeResult:
    """Run `extract` (which writes `relation` all-or-nothing and returns its metadata); on one
    of `errors`, keep the table as it was and return a materialisation that says so.

    Either way the metadata carries the source, the days requested, and the table's last load
    and last day (`LAST_GOOD_LOAD`, `DATA_THROUGH`); on failure also `EXTRACTION_FAILED`, the
    cause. The `extraction_succeeded` check then fails the run."""
    first, last = days
    requested: dict[str, object] = {SOURCE: source, "days": f"{first} .. {last}"}
    with warehouse.get_connection() as conn:
        try:
            metadata = {**requested, **extract(conn)}
        except errors as exc:
            cause = describe_failure(exc)
            state = LoadState.of(conn, relation)
            kept = (
                f"kept as last loaded {state.loaded_at:%Y-%m-%d %H:%M} UTC"
                if state.loaded_at is not None
                else "not created yet"
            )
            context.log.error(
                f"{source} extraction of {relation} for {first} .. {last} failed: {cause}. "
                f"Nothing written: {relation} is {kept}; the assets downstream build on it "
                f"and the {EXTRACTION_CHECK} check fails this run."
            )
            return dg.MaterializeResult(
                metadata={**requested, EXTRACTION_FAILED: cause, **state.metadata()}
            )
        state = LoadState.of(conn, relation)
    return dg.MaterializeResult(metadata={**metadata, **state.metadata()})


# Health from the Dagster instance ----------------------------------------------------------


@dataclass(frozen=True)
class SourceHealth:
    """The latest materialisation of one raw source asset, as `flywheel status` shows it.

    `status`: "ok"; "failed" (extraction failed: the table keeps its last good data, which
    is stale); "rejected" (a landing file was rejected whole by the latest load; the other
    files loaded); "skipped" (an unconfigured source, or a landing folder that never received
    a file: not a failure); "not loaded" (never materialised)."""

    source: str  # "GA4", "Search Console", "landing/crm/orders"
    asset_key: dg.AssetKey
    status: str
    cause: str | None = None  # why it failed, was rejected or skipped
    run_id: str | None = None  # the run of the latest materialisation
    at: dt.datetime | None = None  # when that materialisation happened (UTC)
    days: str | None = None  # the days that run requested (Google sources)
    last_good_load: dt.datetime | None = None  # when the table last received good rows (UTC)
    data_through: dt.date | None = None  # the last day of data the table holds

    @property
    def stale(self) -> bool:
        """The table was not refreshed when it should have been: its data is as of
        `last_good_load`."""
        return self.status == FAILED

    @property
    def table(self) -> str:
        return ".".join(self.asset_key.path)

    def summary(self) -> str:
        """One line: `Search Console (raw.gsc_search_analytics): failed in run 1a2b3c4d …`."""
        head = f"{self.source} ({self.table}): "
        if self.status == FAILED:
            return head + (
                f"extraction failed in run {_short(self.run_id)} ({self.cause}); "
                + describe_last_good(self.last_good_load, self.data_through)
            )
        if self.status == REJECTED:
            return head + f"file(s) rejected in run {_short(self.run_id)}: {self.cause}"
        if self.status == SKIPPED_STATUS:
            return head + f"skipped ({self.cause})"
        if self.status == NOT_LOADED:
            return head + "not loaded yet"
        loaded = f", last loaded {_when(self.last_good_load)}" if self.last_good_load else ""
        through = f", data through {self.data_through}" if self.data_through else ""
        return head + f"ok{loaded}{through}"


def describe_last_good(loaded_at: dt.datetime | None, through: dt.date | None) -> str:
    if loaded_at is None:
        return "no good load yet: its tables are empty"
    days = f", through {through}" if through is not None else ""
    return f"its data is from the last good load on {_when(loaded_at)}{days}"


def _when(moment: dt.datetime | None) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" if moment is not None else "never"


def _short(run_id: str | None) -> str:
    return (run_id or "?")[:8]


def _value(metadata: Mapping[str, dg.MetadataValue], key: str) -> object:
    entry = metadata.get(key)
    return entry.value if entry is not None else None


def _timestamp(value: object) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if isinstance(value, int | float) else None


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _latest(
    instance: dg.DagsterInstance, key: dg.AssetKey
) -> tuple[dg.EventLogEntry, Mapping[str, dg.MetadataValue]] | None:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    return event, event.asset_materialization.metadata


def extraction_health(instance: dg.DagsterInstance, key: dg.AssetKey, source: str) -> SourceHealth:
    """The health of one GA4 / Search Console raw asset."""
    latest = _latest(instance, key)
    if latest is None:
        return SourceHealth(source, key, NOT_LOADED)
    event, metadata = latest
    at = _timestamp(event.timestamp)
    common = {
        "run_id": event.run_id,
        "at": at,
        "days": _value(metadata, "days"),
        "data_through": _date(_value(metadata, DATA_THROUGH)),
    }
    if SKIPPED in metadata:
        cause = str(_value(metadata, SKIPPED))
        return SourceHealth(source, key, SKIPPED_STATUS, cause=cause, run_id=event.run_id, at=at)
    if EXTRACTION_FAILED in metadata:
        return SourceHealth(
            source,
            key,
            FAILED,
            cause=str(_value(metadata, EXTRACTION_FAILED)),
            last_good_load=_timestamp(_value(metadata, LAST_GOOD_LOAD)),
            **common,
        )
    return SourceHealth(source, key, OK, last_good_load=at, **common)


def stale_days(instance: dg.DagsterInstance, key: dg.AssetKey) -> set[str]:
    """The daily partitions (ISO dates) the latest, failed, extraction of `key` did not
    refresh; empty when it succeeded. A failed extraction still records its partitions as
    materialised (the step must succeed for what is downstream to run), so a run that catches
    up on missing days subtracts these."""
    latest = _latest(instance, key)
    if latest is None or EXTRACTION_FAILED not in latest[1]:
        return set()
    first, _, last = str(_value(latest[1], "days") or "").partition(" .. ")
    start, end = _date(first), _date(last)
    if start is None or end is None:
        return set()
    return {(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)}


def drop_health(instance: dg.DagsterInstance, key: dg.AssetKey, source: str) -> SourceHealth:
    """The health of one landing folder, from its first raw asset's latest load."""
    latest = _latest(instance, key)
    if latest is None:
        return SourceHealth(source, key, NOT_LOADED)
    event, metadata = latest
    common = {
        "run_id": event.run_id,
        "at": _timestamp(event.timestamp),
        "last_good_load": _timestamp(_value(metadata, LAST_ARRIVAL)),
    }
    rejected = _value(metadata, FILES_REJECTED)
    if isinstance(rejected, int) and rejected > 0:
        listed = str(_value(metadata, REJECTIONS) or "").splitlines()
        first = listed[0].removeprefix("- ") if listed else ""
        more = f" (and {rejected - 1} more)" if rejected > 1 else ""
        cause = f"{rejected} file(s): {first}{more}" if first else f"{rejected} file(s)"
        return SourceHealth(source, key, REJECTED, cause=cause, **common)
    if common["last_good_load"] is None:
        return SourceHealth(source, key, SKIPPED_STATUS, cause="no file received yet", **common)
    return SourceHealth(source, key, OK, **common)


def google_sources(settings: "Settings") -> list[tuple[str, dg.AssetKey]]:
    """(source label, raw asset key) of every GA4 and Search Console table of the settings."""
    # Imported here: sources.definitions imports the assets, which import this module.
    from flywheel_pipeline.sources.definitions import google_reports

    reports = google_reports(settings)
    return [
        *(("GA4", dg.AssetKey(["raw", r.table])) for r in reports.ga4),
        *(("Search Console", dg.AssetKey(["raw", r.table])) for r in reports.search_console),
    ]


def unconfigured(settings: "Settings") -> dict[str, str]:
    """Live mode: the Google sources that are not configured, each with the missing setting.
    Their assets are left out of `flywheel run` and they show as skipped."""
    if settings.source != "live":
        return {}
    missing = {"GA4": settings.ga4_property_id, "Search Console": settings.gsc_site_url}
    settings_named = {"GA4": "GA4_PROPERTY_ID", "Search Console": "GSC_SITE_URL"}
    return {
        source: f"{settings_named[source]} unset" for source, value in missing.items() if not value
    }


def drop_sources() -> list[tuple[str, dg.AssetKey]]:
    """(landing folder, the raw asset whose materialisation describes its loads)."""
    return [
        (f"landing/{drop.folder}", dg.AssetKey(next(iter(drop.tables)).split(".")))
        for drop in FILE_DROPS
    ]


def source_health(instance: dg.DagsterInstance, settings: "Settings") -> list[SourceHealth]:
    """Every source's health from the Dagster instance: the GA4 and Search Console tables of
    the settings, then each landing folder. For `flywheel status`; see `SourceHealth`."""
    skipped = unconfigured(settings)
    return [
        *(
            SourceHealth(source, key, SKIPPED_STATUS, cause=skipped[source])
            if source in skipped
            else extraction_health(instance, key, source)
            for source, key in google_sources(settings)
        ),
        *(drop_health(instance, key, source) for source, key in drop_sources()),
    ]


def stale_sources(health: Sequence[SourceHealth]) -> dict[str, list[SourceHealth]]:
    """The failed (stale) tables grouped by source label, in order."""
    grouped: dict[str, list[SourceHealth]] = {}
    for entry in health:
        if entry.stale:
            grouped.setdefault(entry.source, []).append(entry)
    return grouped


# Checks that fail the run while what is downstream still builds ---------------------------


def _fail_run(description: str, metadata: dict[str, object]) -> Iterator[dg.AssetCheckResult]:
    """Record a failed evaluation (severity ERROR), then fail the step so that the run ends
    failed."""
    yield dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata=metadata,
    )
    raise dg.Failure(description=description, metadata=metadata)


# What a check of the instance finds: passed, its description and its metadata.
Verdict = tuple[bool, str, dict[str, object]]


def _run_failing_check(
    key: dg.AssetKey,
    name: str,
    description: str,
    judge: Callable[[dg.DagsterInstance], Verdict],
) -> dg.AssetChecksDefinition:
    """A check that reads only the Dagster instance (`judge`) and, when it does not pass,
    records the failure and fails its step. In the pool like every step of the jobs, so that a
    step never waits on the warehouse writer in one run and not in another."""

    @dg.asset_check(asset=key, name=name, pool=WAREHOUSE_POOL, description=description)
    def _check(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        passed, found, metadata = judge(context.instance)
        if passed:
            yield dg.AssetCheckResult(passed=True, description=found, metadata=metadata)
        else:
            yield from _fail_run(found, metadata)

    return _check


def extraction_check(key: dg.AssetKey, source: str) -> dg.AssetChecksDefinition:
    """`extraction_succeeded` on a GA4 / Search Console raw asset: passes unless its latest
    materialisation says the extraction failed; then it records the failure and fails its
    step, so the run ends failed although everything downstream built on the last good
    data. Not blocking, by design."""

    def judge(instance: dg.DagsterInstance) -> Verdict:
        health = extraction_health(instance, key, source)
        metadata: dict[str, object] = {"status": health.status}
        if health.run_id is not None:
            metadata["run_id"] = health.run_id
        if health.days:
            metadata["days"] = health.days
        if not health.stale:
            why = {
                SKIPPED_STATUS: f"skipped ({health.cause}): not a failure",
                NOT_LOADED: "not extracted yet",
            }.get(health.status, "the latest extraction succeeded")
            return True, why, metadata
        metadata["cause"] = health.cause or ""
        if health.last_good_load is not None:
            metadata["last_good_load"] = dg.MetadataValue.timestamp(health.last_good_load)
        if health.data_through is not None:
            metadata["data_through"] = health.data_through.isoformat()
        return (
            False,
            f"{source} extraction failed ({health.cause}); nothing was written and "
            f"{describe_last_good(health.last_good_load, health.data_through)}. What is "
            "downstream was built on that data.",
            metadata,
        )

    return _run_failing_check(
        key,
        EXTRACTION_CHECK,
        f"Fails the run when the {source} extraction failed (credentials, quota, outage): "
        "nothing was written, the table keeps its last good data and what is downstream "
        "still built on it. Not blocking.",
        judge,
    )


def rejected_files_check(key: dg.AssetKey, folder: str) -> dg.AssetChecksDefinition:
    """`files_accepted` on a landing folder's raw asset: fails the run when the latest load
    rejected a file whole (its other files loaded and what is downstream built on them). A
    file still rejected from an earlier run, unchanged, does not fail it again."""

    def judge(instance: dg.DagsterInstance) -> Verdict:
        health = drop_health(instance, key, folder)
        if health.status != REJECTED:
            return True, "no file rejected by the load", {}
        return (
            False,
            f"{folder}: {health.cause}. Fix or replace the file; the rest of the folder loaded.",
            {"run_id": health.run_id or "", "rejected": health.cause or ""},
        )

    return _run_failing_check(
        key,
        FILES_CHECK,
        f"Fails the run when its load of {folder}/ rejected a file whole (missing required "
        "column, unreadable content); the folder's other files still load and what is "
        "downstream still builds. Not blocking.",
        judge,
    )
