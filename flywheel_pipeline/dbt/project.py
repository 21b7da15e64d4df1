"""Where the dbt project lives, how a dbt invocation finds the warehouse, and keeping the
manifest in step with the models.

Two layouts:
- a checkout (an editable install): `dbt_project/` at the repository root, the source of
  truth, with its artefacts in `dbt_project/target/` as dbt does by default;
- an installed package (`pip install .`): the copy the build puts inside the package
  (`flywheel_pipeline/dbt_project`, setup.py), dagster-dbt's `packaged_project_dir`. The
  package may be read-only and is shared by every warehouse, so dbt's artefacts (manifest,
  partial parse, each run's target folder and logs) go to `$FLYWHEEL_HOME/dbt/target`.

Nothing here reads the settings or touches the environment at import: the definitions build
the project for their home (:func:`dbt_project`), and every dbt command names its warehouse
in its own arguments (:func:`warehouse_vars`), which profiles.yml reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_dbt import DbtProject

from flywheel_pipeline.dbt.launcher import mark_parent

if TYPE_CHECKING:
    from flywheel_pipeline.settings import Settings

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
# dbt_project/ beside the package, in a checkout.
CHECKOUT_PROJECT_DIR = _PACKAGE_DIR.parent / "dbt_project"
# The copy inside the package, in a built wheel (never in a checkout: .gitignore).
PACKAGED_PROJECT_DIR = _PACKAGE_DIR / "dbt_project"
IS_CHECKOUT = (CHECKOUT_PROJECT_DIR / "dbt_project.yml").is_file() and (
    _PACKAGE_DIR.parent / "pyproject.toml"
).is_file()
DBT_PROJECT_DIR = CHECKOUT_PROJECT_DIR if IS_CHECKOUT else PACKAGED_PROJECT_DIR

# The dbt installed beside this Python, so a venv works without being activated: through
# `flywheel-dbt` (launcher.py), which dies with the process that started it, when installed.
_LAUNCHER = Path(sys.executable).with_name("flywheel-dbt")
DBT_EXECUTABLE = str(_LAUNCHER if _LAUNCHER.exists() else Path(sys.executable).with_name("dbt"))

# profiles.yml takes the warehouse from this dbt var, else from FLYWHEEL_DUCKDB_PATH (dbt run
# by hand). A var rather than an environment variable: DbtCliResource hands dbt this process's
# environment as it is, so an environment variable would have to be written into it.
WAREHOUSE_VAR = "flywheel_duckdb_path"
PARTIAL_PARSE = "partial_parse.msgpack"


def dbt_project(home: Path) -> DbtProject:
    """The dbt project; an installed package keeps dbt's artefacts under `home`/dbt/target."""
    if IS_CHECKOUT:
        return DbtProject(
            project_dir=CHECKOUT_PROJECT_DIR, packaged_project_dir=PACKAGED_PROJECT_DIR
        )
    return DbtProject(
        project_dir=PACKAGED_PROJECT_DIR,
        packaged_project_dir=PACKAGED_PROJECT_DIR,
        # Absolute: relative, dbt's artefacts would land inside the package.
        target_path=(home / "dbt" / "target").resolve(),
    )


def target_dir(project: DbtProject) -> Path:
    return Path(project.project_dir, project.target_path)


def warehouse_vars(warehouse: str | Path) -> list[str]:
    """The dbt arguments that point profiles.yml at `warehouse`."""
    return ["--vars", json.dumps({WAREHOUSE_VAR: str(warehouse)})]


class DbtParseError(RuntimeError):
    """The dbt project does not parse; dbt has printed why."""


_SOURCE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}


def manifest_is_stale(project: DbtProject) -> bool:
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(
        path.stat().st_mtime > built
        for path in Path(project.project_dir).rglob("*")
        if path.suffix in _SOURCE_SUFFIXES and "target" not in path.parts
    )


def _settings() -> Settings:
    from flywheel_pipeline.settings import Settings, SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError:  # start-up names the bad variable a moment later
        return Settings.model_construct(flywheel_home=Path(os.environ.get("FLYWHEEL_HOME", "data")))


def ensure_manifest(settings: Settings | None = None) -> Path:
    """Run `dbt parse` when the manifest is missing or older than a model, seed or YAML file.

    Dagster only parses by itself under `dagster dev`; the definitions, the CLI and the tests
    call this. The manifest, the partial parse and dbt's log go to the project's target
    folder, which is outside the project for an installed package (nothing is written inside
    the package). `settings` (default: the environment's) name the home and the warehouse.
    """
    settings = settings or _settings()
    project = dbt_project(settings.home)
    if manifest_is_stale(project):
        target = target_dir(project)
        parsed = subprocess.run(
            [
                DBT_EXECUTABLE,
                "parse",
                "--quiet",
                "--profiles-dir",
                str(project.profiles_dir),
                "--target-path",
                str(target),
                *([] if IS_CHECKOUT else ["--log-path", str(target)]),
                # The vars are part of what a partial parse is valid for: the same as the builds'.
                *warehouse_vars(settings.duckdb_path),
            ],
            cwd=project.project_dir,
            check=False,
            # No anonymous-usage id file (.user.yml) written into the profiles folder.
            env=mark_parent({**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}),
        )
        if parsed.returncode != 0:
            raise DbtParseError(f"`dbt parse` failed in {project.project_dir} (errors above)")
    return Path(project.manifest_path)


# Partial parsing ---------------------------------------------------------------------------
# dbt re-parses the whole project (~4 s) when an invocation's vars differ from those of the
# partial parse it starts from, and dagster-dbt starts each invocation from the project's,
# written by the last `dbt parse` for whichever warehouse. So each warehouse keeps the partial
# parse of its last build, and its next build starts from that.


def _saved_partial_parse(project: DbtProject, warehouse: str | Path) -> Path:
    digest = hashlib.sha256(str(warehouse).encode()).hexdigest()[:16]
    return target_dir(project) / "partial_parse" / f"{digest}.msgpack"


def invocation_target(project: DbtProject, name: str, warehouse: str | Path) -> Path:
    """A new target folder for one dbt invocation on `warehouse` (`name` says which), holding
    the partial parse it should start from."""
    target = target_dir(project) / name
    target.mkdir(parents=True, exist_ok=True)
    saved = _saved_partial_parse(project, warehouse)
    start = saved if saved.exists() else target_dir(project) / PARTIAL_PARSE
    if start.exists():
        shutil.copyfile(start, target / PARTIAL_PARSE)
    return target


def keep_partial_parse(project: DbtProject, target: Path, warehouse: str | Path) -> None:
    """Save the partial parse an invocation on `warehouse` left in `target` for its next one."""
    written = target / PARTIAL_PARSE
    if not written.exists():
        return
    saved = _saved_partial_parse(project, warehouse)
    saved.parent.mkdir(parents=True, exist_ok=True)
    # Replaced whole: another process may be starting from the previous one.
    with (
        written.open("rb") as source,
        tempfile.NamedTemporaryFile(dir=saved.parent, delete=False) as copy,
    ):
        shutil.copyfileobj(source, copy)
    os.replace(copy.name, saved)
