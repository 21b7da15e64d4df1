"""`make docs`: dbt's documentation site as one self-contained page, $FLYWHEEL_HOME/docs/index.html.

`dbt docs generate --static` writes `static_index.html`, the site with the manifest and the
catalog inlined, beside an `index.html` that only works when served over HTTP next to its
JSON files. This keeps the static page under the plain name, so that it opens from disk.

dbt writes into its own target folder here (not dbt_project/target, whose manifest the
Dagster definitions read) and reads the warehouse for the catalog (column types, row
counts): DuckDB allows one writer, so run it when no pipeline run is writing. Without a
warehouse yet, the site documents the models and an empty catalog.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flywheel_pipeline.dbt.launcher import mark_parent
from flywheel_pipeline.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from flywheel_pipeline.settings import Settings, SettingsError, load_settings

DOCS_PAGE = "index.html"


def docs_command(docs_dir: Path, *, with_catalog: bool) -> list[str]:
    command = [DBT_EXECUTABLE, "docs", "generate", "--static", "--quiet"]
    command += ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(docs_dir)]
    return command if with_catalog else [*command, "--empty-catalog"]


def generate_docs(settings: Settings) -> Path:
    """Generate the site into `$FLYWHEEL_HOME/docs/`; returns the page."""
    docs_dir = (settings.home / "docs").absolute()
    docs_dir.mkdir(parents=True, exist_ok=True)
    warehouse = settings.duckdb_path.absolute()
    env = mark_parent(dict(os.environ))
    # an absent warehouse: DuckDB would create an empty file there, so use an in-memory one
    env["FLYWHEEL_DUCKDB_PATH"] = str(warehouse) if warehouse.exists() else ":memory:"
    # the page loads dbt's usage tracker from the network unless the manifest says no
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    subprocess.run(
        docs_command(docs_dir, with_catalog=warehouse.exists()),
        cwd=DBT_PROJECT_DIR,
        env=env,
        check=True,
    )
    page = docs_dir / DOCS_PAGE
    os.replace(docs_dir / "static_index.html", page)
    return page


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        sys.exit(str(exc))
    if not settings.duckdb_path.exists():
        print(f"no warehouse at {settings.duckdb_path}: the site will have no catalog")
    try:
        page = generate_docs(settings)
    except subprocess.CalledProcessError:
        sys.exit("dbt docs generate failed (errors above)")
    print(f"dbt docs: {page}")


if __name__ == "__main__":
    main()
