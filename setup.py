"""Ships the dbt project inside the wheel; everything else about the build is in pyproject.toml.

`dbt_project/` at the repository root stays the one source of truth (sqlfluff, the Makefile
and the tests use it there). A regular build copies it into the package as
`flywheel_pipeline/dbt_project`, the `packaged_project_dir` of the DbtProject in
flywheel_pipeline/dbt/project.py, so `pip install .` gives a package that runs from anywhere.
An editable install reads `dbt_project/` in place and copies nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent / "dbt_project"
PACKAGED = Path("flywheel_pipeline", "dbt_project")
# What dbt writes (target, logs, dbt_packages, .user.yml) and what only sqlfluff reads.
EXCLUDE = shutil.ignore_patterns(
    "target",
    "logs",
    "dbt_packages",
    "sqlfluff_libs",
    "__pycache__",
    "*.py[cod]",
    ".user.yml",
    ".gitignore",
    "package-lock.yml",
)


class BuildPyWithDbtProject(build_py):
    """build_py, then the dbt project copied beside the package's modules."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        if not (SOURCE / "dbt_project.yml").is_file():
            raise SystemExit(f"dbt project not found at {SOURCE}: build from the repository")
        destination = Path(self.build_lib) / PACKAGED
        shutil.rmtree(destination, ignore_errors=True)  # no files left from an older build
        shutil.copytree(SOURCE, destination, ignore=EXCLUDE)


setup(cmdclass={"build_py": BuildPyWithDbtProject})
