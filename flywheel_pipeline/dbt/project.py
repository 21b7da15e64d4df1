"""Where the dbt project lives, and keeping its manifest in step with the models.

Two layouts, one DbtProject:
- a checkout (an editable install): `dbt_project/` at the repository root, the source of
  truth, with its artefacts in `dbt_project/target/` as dbt does by default;
- an installed package (`pip install .`): the copy the build puts inside the package
  (`flywheel_pipeline/dbt_project`, setup.py), dagster-dbt's `packaged_project_dir`. The
  package may be read-only and is shared by every warehouse, so dbt's artefacts (manifest,
  partial parse, each run's target folder and logs) go to `$FLYWHEEL_HOME/dbt/target`,
  through DBT_TARGET_PATH, the variable dagster-dbt and dbt both read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from flywheel_pipeline.dbt.launcher import mark_parent

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
# dbt_project/ beside the package, in a checkout.
CHECKOUT_PROJECT_DIR = _PACKAGE_DIR.parent / "dbt_project"
# The copy inside the package, in a built wheel (never in a checkout: .gitignore).
PACKAGED_PROJECT_DIR = _PACKAGE_DIR / "dbt_project"
IS_CHECKOUT = (CHECKOUT_PROJECT_DIR / "dbt_project.yml").is_file() and (
    _PACKAGE_DIR.parent / "pyproject.toml"
).is_file()

# The dbt installed beside this Python, so a venv works without being activated: through
# `flywheel-dbt` (launcher.py), which dies with the process that started it, when installed.
_LAUNCHER = Path(sys.executable).with_name("flywheel-dbt")
DBT_EXECUTABLE = str(_LAUNCHER if _LAUNCHER.exists() else Path(sys.executable).with_name("dbt"))


def _flywheel_home() -> Path:
    """FLYWHEEL_HOME as the settings read it (.env included), absolute."""
    from flywheel_pipeline.settings import SettingsError, load_settings

    try:
        return load_settings().home
    except SettingsError:  # start-up names the bad variable a moment later
        return Path(os.environ.get("FLYWHEEL_HOME", "data")).resolve()


if IS_CHECKOUT:
    dbt_project = DbtProject(
        project_dir=CHECKOUT_PROJECT_DIR, packaged_project_dir=PACKAGED_PROJECT_DIR
    )
else:
    _target = Path(os.environ.get("DBT_TARGET_PATH") or _flywheel_home() / "dbt" / "target")
    # dagster-dbt puts each invocation's target folder under DBT_TARGET_PATH and copies the
    # partial parse from there; relative, both would land inside the package.
    os.environ["DBT_TARGET_PATH"] = str(_target.resolve())
    dbt_project = DbtProject(
        project_dir=PACKAGED_PROJECT_DIR,
        packaged_project_dir=PACKAGED_PROJECT_DIR,
        target_path=_target.resolve(),
    )

DBT_PROJECT_DIR = dbt_project.project_dir


class DbtParseError(RuntimeError):
    """The dbt project does not parse; dbt has printed why."""


_SOURCE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md"}


def manifest_is_stale(project: DbtProject = dbt_project) -> bool:
    manifest = Path(project.manifest_path)
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(
        path.stat().st_mtime > built
        for path in Path(project.project_dir).rglob("*")
        if path.suffix in _SOURCE_SUFFIXES and "target" not in path.parts
    )


def _parse_environment() -> dict[str, str]:
    # No anonymous-usage id file (.user.yml) written into the profiles folder.
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if not IS_CHECKOUT:
        # The profile's fallback path is relative to dbt's working directory, the package.
        env["FLYWHEEL_HOME"] = str(_flywheel_home())
    return env


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Run `dbt parse` when the manifest is missing or older than a model, seed or YAML file.

    Dagster only parses by itself under `dagster dev`; the CLI, tests and CI call this. The
    manifest, the partial parse and dbt's log go to the project's target folder, which is
    outside the project for an installed package (nothing is written inside the package).
    """
    if manifest_is_stale(project):
        target = Path(project.project_dir, project.target_path)
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
            ],
            cwd=project.project_dir,
            check=False,
            env=mark_parent(_parse_environment()),
        )
        if parsed.returncode != 0:
            raise DbtParseError(f"`dbt parse` failed in {project.project_dir} (errors above)")
    return Path(project.manifest_path)
