"""`pip install .` (not editable) gives a package that runs away from the checkout.

The wheel is built from a copy of the sources and installed without its dependencies into a
fresh venv; a .pth file puts this venv's site-packages (the dependencies) after the fresh
venv's own, as plain paths: the .pth files in there, among them the editable install's finder
for the checkout, are not run, so only the installed copy of flywheel_pipeline can load.
Building needs the build backend (setuptools) from the package index, unless this venv has a
recent enough one; without either the test skips.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BUILD_FILES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"]
# What the build must not see: dbt's and Python's leftovers, and a packaged copy of the dbt
# project from an earlier `dagster-dbt project prepare-and-package`.
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.egg-info", "target", "logs", "dbt_packages", ".user.yml", "dbt_project"
)
BACKEND_UNAVAILABLE = (
    "No matching distribution found for setuptools",
    "Could not find a version that satisfies the requirement setuptools",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
)
DEFINITIONS = "flywheel_pipeline.definitions"
REPORT = """
import json, os, flywheel_pipeline
import sklearn  # sets OpenMP variables (KMP_*) on import, its own business
before = dict(os.environ)
from flywheel_pipeline.dbt import project
from flywheel_pipeline.definitions import build_definitions
from flywheel_pipeline.settings import load_settings
settings = load_settings()
build_definitions(settings)
dbt_project = project.dbt_project(settings.home)
print(json.dumps({
    "module": flywheel_pipeline.__file__,
    "project_dir": str(dbt_project.project_dir),
    "manifest": str(dbt_project.manifest_path),
    "dbt": project.DBT_EXECUTABLE,
    "stale": project.manifest_is_stale(dbt_project),
    "environment_changed": sorted(
        k for k in before.keys() | os.environ.keys() if before.get(k) != os.environ.get(k)
    ),
}))
"""


def _copy_sources(destination: Path) -> Path:
    """The files a build reads (a build writes build/ and *.egg-info beside them)."""
    destination.mkdir()
    for name in BUILD_FILES:
        shutil.copy2(REPO / name, destination / name)
    shutil.copytree(REPO / "flywheel_pipeline", destination / "flywheel_pipeline", ignore=IGNORED)
    shutil.copytree(
        REPO / "dbt_project",
        destination / "dbt_project",
        ignore=shutil.ignore_patterns("__pycache__", "target", "logs", "dbt_packages"),
    )
    return destination


def _backend_installed() -> bool:
    try:
        return int(metadata.version("setuptools").split(".")[0]) >= 77
    except metadata.PackageNotFoundError:
        return False


def _build_wheel(source: Path, wheels: Path) -> Path:
    isolation = ["--no-build-isolation"] if _backend_installed() else []
    built = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation),
            *("-w", str(wheels), str(source)),
        ],
        env={**os.environ, "PIP_RETRIES": "1", "PIP_TIMEOUT": "15"},
        capture_output=True,
        text=True,
        check=False,
    )
    output = built.stdout + built.stderr
    if built.returncode != 0 and any(sign in output for sign in BACKEND_UNAVAILABLE):
        pytest.skip(f"no build backend (setuptools>=77) offline: {output.strip()[-300:]}")
    assert built.returncode == 0, output
    (wheel,) = wheels.glob("flywheel_pipeline-*.whl")
    return wheel


def _fresh_venv(path: Path) -> Path:
    """A venv without pip whose dependencies are this venv's site-packages, searched last."""
    venv.EnvBuilder(with_pip=False).create(path)
    (own_site_packages,) = path.glob("lib/python*/site-packages")
    dependencies = "\n".join(site.getsitepackages())
    (own_site_packages / "zz_flywheel_test_dependencies.pth").write_text(dependencies + "\n")
    return path / "bin" / "python"


def test_installed_package_validates_away_from_the_checkout(tmp_path: Path) -> None:
    wheel = _build_wheel(_copy_sources(tmp_path / "source"), tmp_path / "wheels")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    packaged = "flywheel_pipeline/dbt_project/"
    for required in [
        "dbt_project.yml",
        "profiles.yml",
        "seeds/channel_groups.csv",
        "macros/generate_schema_name.sql",
        "models/marts/flywheel/momentum.sql",
    ]:
        assert packaged + required in names
    assert any(name.startswith(packaged + "tests/") for name in names)
    assert not any(
        part in name
        for name in names
        for part in ("/target/", "/logs/", "sqlfluff_libs", "__pycache__", ".user.yml")
    )
    assert "flywheel_pipeline/sources/reports.yaml" in names
    assert "flywheel_pipeline/sources/files/presets/hubspot.yaml" in names
    assert "flywheel_pipeline/sources/demo/search_queries.csv" in names

    python = _fresh_venv(tmp_path / "venv")
    installed = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python)),
            *("install", "-q", "--no-deps", "--no-index", str(wheel)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (site_packages,) = (tmp_path / "venv").glob("lib/python*/site-packages")
    package = site_packages / "flywheel_pipeline"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    (tmp_path / "dagster_home").mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FLYWHEEL_", "DBT_", "PYTHON", "VIRTUAL_ENV"))
    }
    env |= {"FLYWHEEL_HOME": str(home), "DAGSTER_HOME": str(tmp_path / "dagster_home")}

    validated = subprocess.run(
        [str(python), "-m", "dagster", "definitions", "validate", "-m", DEFINITIONS],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "Validation successful" in validated.stdout + validated.stderr

    reported = subprocess.run(
        [str(python), "-c", REPORT], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert reported.returncode == 0, reported.stderr
    found = json.loads(reported.stdout.strip().splitlines()[-1])
    target = home / "dbt" / "target"
    assert found == {
        "module": str(package / "__init__.py"),
        "project_dir": str(package / "dbt_project"),
        "manifest": str(target / "manifest.json"),
        "dbt": str(python.parent / "flywheel-dbt"),
        "stale": False,
        "environment_changed": [],
    }
    # dbt wrote its artefacts and log under FLYWHEEL_HOME: nothing inside the package (which
    # may be read-only) and nothing in the working directory.
    assert (target / "manifest.json").is_file() and (target / "dbt.log").is_file()
    assert sorted(path.name for path in (package / "dbt_project").iterdir()) == [
        "README.md",
        "dbt_project.yml",
        "macros",
        "models",
        "profiles.yml",
        "seeds",
        "tests",
    ]
    assert not list(elsewhere.iterdir())
