"""Where the dbt project lives, and keeping its manifest in step with the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from flywheel_pipeline.dbt.launcher import mark_parent

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

# The dbt installed beside this Python, so a venv works without being activated: through
# `flywheel-dbt` (launcher.py), which dies with the process that started it, when installed.
_LAUNCHER = Path(sys.executable).with_name("flywheel-dbt")
DBT_EXECUTABLE = str(_LAUNCHER if _LAUNCHER.exists() else Path(sys.executable).with_name("dbt"))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


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


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Run `dbt parse` when the manifest is missing or older than a model, seed or YAML file.

    Dagster only parses by itself under `dagster dev`; the CLI, tests and CI call this.
    """
    if manifest_is_stale(project):
        parsed = subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--profiles-dir", str(project.profiles_dir)],
            cwd=project.project_dir,
            check=False,
            env=mark_parent(dict(os.environ)),
        )
        if parsed.returncode != 0:
            raise DbtParseError(f"`dbt parse` failed in {project.project_dir} (errors above)")
    return Path(project.manifest_path)
