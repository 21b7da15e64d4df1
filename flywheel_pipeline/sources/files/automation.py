"""The landing folder's job and sensor: files that land are loaded, folder by folder, with
what depends on them (docs/file-drops.md)."""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import dagster as dg

from flywheel_pipeline.sources.files.drops import FILE_DROPS, DropSource
from flywheel_pipeline.sources.files.tables import list_files


def drop_keys(drop: DropSource) -> list[dg.AssetKey]:
    """The raw assets a landing folder feeds (their keys are their relations)."""
    return [dg.AssetKey(relation.split(".")) for relation in drop.tables]


FILE_ASSETS = dg.AssetSelection.assets(*(key for drop in FILE_DROPS for key in drop_keys(drop)))

landing_refresh = dg.define_asset_job(
    "landing_refresh",
    selection=FILE_ASSETS.downstream(),
    description="Load new landing files and rebuild what depends on them.",
)


def folder_fingerprints(landing_dir: Path) -> dict[str, str]:
    """Per landing folder holding files: a digest that changes whenever a file the loader would
    read there (or its mapping.yaml) is added, removed, replaced or rewritten. Other files
    (a `.partial` being written, a README) are not the loader's and change nothing."""
    fingerprints = {}
    for drop in FILE_DROPS:
        paths = list_files(landing_dir, drop.folder, (*drop.patterns, *drop.settings_files))
        digest = _digest(landing_dir, paths)
        if digest is not None:
            fingerprints[drop.folder] = digest
    return fingerprints


def _digest(landing_dir: Path, paths: Iterable[Path]) -> str | None:
    digest, seen = hashlib.sha256(), False
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed since the folder was listed
            continue
        name = path.relative_to(landing_dir).as_posix()
        digest.update(f"{name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        seen = True
    return digest.hexdigest() if seen else None


def _read_cursor(cursor: str | None) -> dict[str, str]:
    # A cursor of the earlier whole-folder sensor (one hex digest) is not JSON: every folder
    # holding files then counts as changed once, which loads nothing twice.
    try:
        folders = json.loads(cursor or "{}")
    except json.JSONDecodeError:
        return {}
    return folders if isinstance(folders, dict) else {}


def changed_folders(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(f for f in previous.keys() | current.keys() if previous.get(f) != current.get(f))


def with_downstream(
    repository: dg.RepositoryDefinition, roots: Sequence[dg.AssetKey]
) -> list[dg.AssetKey]:
    """`roots` and every asset downstream of them; an asset that cannot run in part brings all
    of its keys (and what is downstream of those)."""
    children: dict[dg.AssetKey, set[dg.AssetKey]] = defaultdict(set)
    together: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    for assets_def in set(repository.assets_defs_by_key.values()):
        for key, parents in assets_def.asset_deps.items():
            for parent in parents:
                children[parent].add(key)
        if not assets_def.can_subset:
            together.update({key: set(assets_def.keys) for key in assets_def.keys})
    selected: set[dg.AssetKey] = set()
    pending = list(roots)
    while pending:
        key = pending.pop()
        if key not in selected:
            selected.add(key)
            pending += [*children[key], *together.get(key, ())]
    return sorted(selected, key=lambda key: key.to_user_string())


def landing_run_request(
    context: dg.SensorEvaluationContext, changed: dict[str, str | None]
) -> dg.RunRequest:
    """One run for the folders that changed (folder -> its new digest, None once empty)."""
    roots = [key for drop in FILE_DROPS if drop.folder in changed for key in drop_keys(drop)]
    repository = context.repository_def
    # Without its repository (a bare test context) the sensor cannot see the graph: the whole
    # job, a superset, still loads every change.
    selection = with_downstream(repository, roots) if repository is not None else None
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()
    return dg.RunRequest(
        run_key=f"landing-{digest}",
        asset_selection=selection,
        tags={"flywheel/landing_folders": ",".join(sorted(changed))},
    )


def landing_sensor(landing_dir: Path) -> dg.SensorDefinition:
    @dg.sensor(
        job=landing_refresh,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            f"When files under {landing_dir} change, loads the folders that changed and "
            "rebuilds what depends on them (a per-folder cursor: one run per change)."
        ),
    )
    def landing_files(context: dg.SensorEvaluationContext):
        if not landing_dir.exists():
            return dg.SkipReason(f"{landing_dir} does not exist yet")
        current = folder_fingerprints(landing_dir)
        changed = changed_folders(_read_cursor(context.cursor), current)
        if not changed:
            return dg.SkipReason("no new or changed landing files")
        request = landing_run_request(context, {f: current.get(f) for f in changed})
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(current, sort_keys=True))

    return landing_files
