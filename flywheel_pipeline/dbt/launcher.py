"""`flywheel-dbt`: dbt's command line in a process that dies with the process that started it.

dagster-dbt runs `dbt build` as a child process. Killed outright (`kill -9`, the OOM killer),
a run's process cannot stop that child, which would go on writing the warehouse beside the
next run. On Linux this launcher asks the kernel to SIGKILL it when its parent dies
(`prctl(PR_SET_PDEATHSIG)`) and then runs dbt's CLI in-process; elsewhere it is dbt's CLI as
is. The signal fires when the *thread* that started the child ends: dagster-dbt starts dbt
from the step's thread, which waits for dbt to finish (Dagster's in-process executor runs
steps on the run's main thread).

A parent killed before the prctl call would go unnoticed, so the launching process names
itself in FLYWHEEL_DBT_PARENT_PID (:func:`mark_parent`); when that process is gone by the
time the signal is armed, dbt does not start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

from flywheel_pipeline.processes import die_with_parent

PARENT_PID_ENV = "FLYWHEEL_DBT_PARENT_PID"


def mark_parent(environ: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """Name this process as the parent of the dbt processes it starts from now on."""
    environ[PARENT_PID_ENV] = str(os.getpid())
    return environ


def _expected_parent() -> int | None:
    value = os.environ.get(PARENT_PID_ENV, "")
    return int(value) if value.isdigit() else None


def main() -> None:
    if not die_with_parent(_expected_parent()):
        sys.stderr.write("flywheel-dbt: the process that started dbt is gone; dbt not run\n")
        sys.exit(1)
    from dbt.cli.main import cli

    sys.argv[0] = "dbt"
    sys.exit(cli())


if __name__ == "__main__":
    main()
