"""Child processes that die with the run that started them (Linux), and whether a pid runs."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent(expected_parent: int | None = None) -> bool:
    """Arm SIGKILL on the parent's death (Linux). False when the parent is gone already: the
    expected parent is not this process's parent any more and no longer runs."""
    if not sys.platform.startswith("linux"):
        return True
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return True  # not permitted here: run as plain dbt
    # Checked after arming: a parent that dies from now on kills this process.
    if expected_parent is None or os.getppid() == expected_parent:
        return True
    # Another parent: the expected one died and this process was adopted, unless the variable
    # was inherited from a process further up (which then still runs).
    return pid_alive(expected_parent)


def die_with(parent: int) -> None:
    """A process pool's initializer: arm `die_with_parent`, or exit when `parent` is gone."""
    if not die_with_parent(parent):
        os._exit(1)
