"""Crash recovery: a run whose process died must not keep the warehouse pool.

A run killed outright (`kill -9`, the OOM killer, a lost container) never frees the
concurrency slot its step claimed, nor marks itself finished: the next run would wait for the
pool forever. Every run the runner starts is tagged with the process that executes it (host,
pid, the process's start time, the machine's boot id); before the next run starts,
:func:`recover_dead_runs` marks the tagged runs of this host whose process is gone as failed
(with the reason in their event log) and frees their slots, and frees the slots that finished
runs still hold. Runs launched by the Dagster UI or daemon carry no such tags and are left to
Dagster: its code server marks a run failed when the run's process dies, and the monitoring
daemon (`run_monitoring` in dagster_home/dagster.yaml) frees the slots of finished runs.

A run that must wait for the pool is told who holds it (:func:`pool_wait_line`), so that a
wait never looks like a hang.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg

from flywheel_pipeline.processes import pid_alive
from flywheel_pipeline.warehouse import WAREHOUSE_POOL

HOST_TAG = "flywheel/host"
PID_TAG = "flywheel/pid"
# The process's start time in clock ticks after boot (/proc/<pid>/stat, field 22): a pid
# the kernel reused for another process has another start time.
PID_START_TAG = "flywheel/pid_start"
BOOT_ID_TAG = "flywheel/boot_id"

PROC = Path("/proc")
UNFINISHED = (
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


@dataclass(frozen=True)
class RunProcess:
    """The process that executes a run, as its tags record it."""

    host: str
    pid: int
    start: str | None = None  # None where there is no /proc (macOS)
    boot_id: str | None = None

    def tags(self) -> dict[str, str]:
        tags = {HOST_TAG: self.host, PID_TAG: str(self.pid)}
        if self.start is not None:
            tags[PID_START_TAG] = self.start
        if self.boot_id is not None:
            tags[BOOT_ID_TAG] = self.boot_id
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> RunProcess | None:
        """The process a run's tags name; None for a run the runner did not start."""
        if HOST_TAG not in tags or not tags.get(PID_TAG, "").isdigit():
            return None
        return cls(
            tags[HOST_TAG], int(tags[PID_TAG]), tags.get(PID_START_TAG), tags.get(BOOT_ID_TAG)
        )

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def this_process(proc: Path = PROC) -> RunProcess:
    pid = os.getpid()
    return RunProcess(socket.gethostname(), pid, process_start(pid, proc), boot_id(proc))


def run_tags(proc: Path = PROC) -> dict[str, str]:
    """Tags for a run this process executes: who to ask whether it is still running."""
    return this_process(proc).tags()


def process_start(pid: int, proc: Path = PROC) -> str | None:
    """When process `pid` started (clock ticks after boot), or None when no such process
    runs (a zombie, killed and not yet reaped, counts as gone). PermissionError when /proc
    hides it (hidepid)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    # "pid (comm) state ppid …": comm may hold spaces and parentheses; fields follow the last ")"
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start = fields[0], fields[19]
    return None if state in {"Z", "X", "x"} else start


def boot_id(proc: Path = PROC) -> str | None:
    try:
        return (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None


def is_alive(
    process: RunProcess,
    *,
    host: str | None = None,
    current_boot: str | None = None,
    proc: Path = PROC,
) -> bool | None:
    """Whether the process that executes a run still runs: True, False, or None when this
    machine cannot tell (the process is on another host)."""
    if process.host != (host or socket.gethostname()):
        return None
    current_boot = current_boot if current_boot is not None else boot_id(proc)
    recorded_boot = process.boot_id
    if recorded_boot and current_boot and recorded_boot != current_boot:
        return False  # the machine restarted since
    if proc.is_dir():
        try:
            start = process_start(process.pid, proc)
        except PermissionError:
            return True  # another user's process: exists, and is left alone
        if start is not None:  # a process with that pid: the run's if it started then
            return process.start is None or start == process.start
        if (proc / str(process.pid)).exists():
            return False  # a zombie: killed, not yet reaped
        # No entry: gone, or another user's process that /proc hides (hidepid): then it
        # exists but cannot be told from a reused pid, and is left alone.
    return pid_alive(process.pid)


@dataclass(frozen=True)
class Recovered:
    """A run whose process was gone (marked failed) or a finished run that held slots."""

    run_id: str
    marked_failed: bool
    process: RunProcess | None
    held_slots: bool = True

    def describe(self) -> str:
        who = f" ({self.process.describe()})" if self.process else ""
        freed = ", its warehouse pool slot freed" if self.held_slots else ""
        if self.marked_failed:
            return f"run {self.run_id[:8]}{who} died without finishing: marked failed{freed}"
        return f"run {self.run_id[:8]}{who} had finished but still held a pool slot: freed"


def recover_dead_runs(
    instance: dg.DagsterInstance,
    pool: str = WAREHOUSE_POOL,
    *,
    alive: Callable[[RunProcess], bool | None] = is_alive,
    finished_grace: float = 10.0,
) -> list[Recovered]:
    """Mark failed every unfinished run of this host whose process is gone, and free the pool
    slots (claimed or awaited) of those runs and of runs that ended over `finished_grace`
    seconds ago. Runs whose process runs, runs of other hosts and runs the runner did not
    start stay as they are."""
    storage = instance.event_log_storage
    holding = _slot_run_ids(instance, pool)
    recovered = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=list(UNFINISHED))):
        process = RunProcess.from_tags(run.tags)
        if process is None or alive(process) is not False:
            continue
        message = (
            f"The process that executed this run ({process.describe()}) is gone: killed "
            "(kill -9, out of memory) or its machine or container was lost. Marked failed by "
            "a later Flywheel run, which freed the run's concurrency pool slots."
        )
        instance.report_run_failed(run, message)
        storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(Recovered(run.run_id, True, process, run.run_id in holding))
    for run_id in sorted(holding - {r.run_id for r in recovered}):
        record = instance.get_run_record_by_id(run_id)
        if record is None or (
            record.dagster_run.is_finished and (record.end_time or 0) < time.time() - finished_grace
        ):
            storage.free_concurrency_slots_for_run(run_id)
            process = RunProcess.from_tags(record.dagster_run.tags) if record else None
            recovered.append(Recovered(run_id, False, process))
    return recovered


def _slot_run_ids(instance: dg.DagsterInstance, pool: str) -> set[str]:
    """Runs that hold a slot of `pool` or wait for one."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return set()
    info = storage.get_concurrency_info(pool)
    return {slot.run_id for slot in info.claimed_slots} | {
        step.run_id for step in info.pending_steps
    }


def pool_holders(
    instance: dg.DagsterInstance, pool: str = WAREHOUSE_POOL, *, besides: str | None = None
) -> list[str]:
    """Who holds a slot of `pool` (other than run `besides`): run, process, start, step."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    described = []
    for slot in storage.get_concurrency_info(pool).claimed_slots:
        if slot.run_id == besides:
            continue
        record = instance.get_run_record_by_id(slot.run_id)
        process = RunProcess.from_tags(record.dagster_run.tags) if record else None
        who = process.describe() if process else "launched outside Flywheel's runner"
        started = record.start_time if record and record.start_time else None
        if record and started is None:
            started = record.create_timestamp.timestamp()
        when = f", started {datetime.fromtimestamp(started):%H:%M}" if started else ""
        described.append(f"run {slot.run_id[:8]} ({who}{when}, step {slot.step_key})")
    return described


def pool_wait_line(
    instance: dg.DagsterInstance, run_id: str, pool: str = WAREHOUSE_POOL
) -> str | None:
    """What run `run_id` waits for, when a step of it waits for a slot of `pool` that another
    run holds: one line naming the run, its process and step. None when it does not wait."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return None
    waiting = any(
        step.run_id == run_id and step.assigned_timestamp is None
        for step in storage.get_concurrency_info(pool).pending_steps
    )
    holders = pool_holders(instance, pool, besides=run_id) if waiting else []
    if not holders:
        return None
    return f"waiting for the {pool} pool, held by {'; '.join(holders)}"


class PoolWait:
    """Lines for a run's progress while it waits for the pool: who holds it, once when the
    wait starts or the holder changes and again every `repeat` seconds. A holder found dead
    meanwhile is recovered (:func:`recover_dead_runs`), which ends the wait."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        pool: str = WAREHOUSE_POOL,
        *,
        every: float = 2.0,
        repeat: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.instance = instance
        self.run_id = run_id
        self.pool = pool
        self.every = every
        self.repeat = repeat
        self.clock = clock
        self._next_check = 0.0
        self._shown: str | None = None
        self._shown_at = 0.0
        self._since: float | None = None

    def poll(self) -> list[str]:
        now = self.clock()
        if now < self._next_check:
            return []
        self._next_check = now + self.every
        try:
            line = pool_wait_line(self.instance, self.run_id, self.pool)
            lines = []
            if line is not None:
                lines = [r.describe() for r in recover_dead_runs(self.instance, self.pool)]
                if lines:
                    line = pool_wait_line(self.instance, self.run_id, self.pool)
        except Exception:  # progress is best effort; the run goes on without it
            return []
        if line is None:
            self._shown = self._since = None
            return lines
        if self._since is None:
            self._since = now
        if line != self._shown:
            lines.append(line)
        elif now - self._shown_at >= self.repeat:
            lines.append(f"{line}; waiting {now - self._since:.0f} s")
        else:
            return lines
        self._shown, self._shown_at = line, now
        return lines
