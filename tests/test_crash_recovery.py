"""Crash recovery: a killed run's pool slot is freed, its dbt child dies with it, and the next
run rebuilds the warehouse a clean run builds (issue #11)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from flywheel_pipeline.dbt.launcher import PARENT_PID_ENV
from flywheel_pipeline.dbt.project import DBT_EXECUTABLE
from flywheel_pipeline.operations.recovery import (
    PID_START_TAG,
    PoolWait,
    RunProcess,
    is_alive,
    pool_wait_line,
    process_start,
    recover_dead_runs,
    run_tags,
    this_process,
)
from flywheel_pipeline.warehouse import WAREHOUSE_POOL

REPO = Path(__file__).resolve().parents[1]
DAGSTER_YAML = REPO / "dagster_home" / "dagster.yaml"


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- is this run's process alive --------------------------------------------------------------


def _fake_proc(root: Path, pid: int, comm: str, state: str, start: int) -> Path:
    fields = [state, "1", *["0"] * 17, str(start), "0"]  # fields 3..23; 22 is the start time
    (root / str(pid)).mkdir(parents=True)
    (root / str(pid) / "stat").write_text(f"{pid} ({comm}) {' '.join(fields)}\n")
    (root / "sys" / "kernel" / "random").mkdir(parents=True, exist_ok=True)
    (root / "sys" / "kernel" / "random" / "boot_id").write_text("boot-1\n")
    return root


def test_this_process_is_alive_and_its_tags_name_it() -> None:
    me = this_process()
    assert RunProcess.from_tags(run_tags()) == me
    assert me.start == process_start(os.getpid())
    assert is_alive(me) is True


def test_a_gone_process_is_dead_and_a_reused_pid_is_not_mistaken_for_the_run() -> None:
    me = this_process()
    assert is_alive(RunProcess(me.host, _dead_pid(), "123", me.boot_id)) is False
    # the same pid, started at another time: the kernel reused the pid for another process
    reused = RunProcess(me.host, me.pid, str(int(me.start or 0) + 1), me.boot_id)
    assert is_alive(reused) is False
    assert is_alive(RunProcess(me.host, me.pid, me.start, "an-earlier-boot")) is False


def test_another_hosts_process_cannot_be_told() -> None:
    assert is_alive(RunProcess("elsewhere", os.getpid(), "1", None), host="here") is None


def test_process_start_reads_past_odd_command_names_and_zombies_are_gone(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, 4321, "dbt (x) y", "S", 987654)
    assert process_start(4321, proc) == "987654"
    process = RunProcess("h", 4321, "987654", "boot-1")
    assert is_alive(process, host="h", proc=proc) is True
    zombie = _fake_proc(tmp_path / "z", 4321, "python", "Z", 987654)
    assert process_start(4321, zombie) is None
    assert is_alive(process, host="h", proc=zombie) is False
    assert process_start(999, proc) is None


def test_tags_without_a_process_are_not_a_flywheel_run() -> None:
    assert RunProcess.from_tags({"dagster/partition": "x"}) is None
    assert RunProcess.from_tags({**run_tags(), "flywheel/pid": "not-a-pid"}) is None
    assert PID_START_TAG in run_tags()


# -- freeing the pool on a real Dagster instance ----------------------------------------------


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")  # the project's pool: one slot
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        # as a run's first claim does
        assert instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        yield instance


def _run(
    instance: dg.DagsterInstance,
    tags: dict[str, str],
    status: dg.DagsterRunStatus = dg.DagsterRunStatus.STARTED,
) -> str:
    run = dg.DagsterRun(job_name="everything", run_id=str(uuid.uuid4()), status=status, tags=tags)
    return instance.add_run(run).run_id


def _dead_tags() -> dict[str, str]:
    me = this_process()
    return RunProcess(me.host, _dead_pid(), "12345", me.boot_id).tags()


def _claimed(instance: dg.DagsterInstance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    return {slot.run_id for slot in info.claimed_slots}


def _pending(instance: dg.DagsterInstance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    return {step.run_id for step in info.pending_steps}


def test_a_dead_run_is_marked_failed_and_its_slot_freed(instance: dg.DagsterInstance) -> None:
    storage = instance.event_log_storage
    dead = _run(instance, _dead_tags())
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, dead, "dbt_warehouse").is_claimed
    alive = _run(instance, run_tags())
    outside = _run(instance, {})  # launched from the UI: left to Dagster
    for run_id in (alive, outside):
        assert not storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, "raw_ga4").is_claimed

    recovered = recover_dead_runs(instance)

    assert [(r.run_id, r.marked_failed) for r in recovered] == [(dead, True)]
    assert "died without finishing" in recovered[0].describe()
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    failure = instance.all_logs(dead, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "is gone" in failure[0].dagster_event.message
    assert dead not in _claimed(instance) | _pending(instance)
    # the freed slot goes to the next run in line (either) when it claims again; the live and
    # the untagged runs are as they were
    claims = {
        r: storage.claim_concurrency_slot(WAREHOUSE_POOL, r, "raw_ga4") for r in (alive, outside)
    }
    assert sorted(claim.is_claimed for claim in claims.values()) == [False, True]
    assert len(_claimed(instance)) == 1 and _pending(instance) == {alive, outside}
    for run_id in (alive, outside):
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    assert recover_dead_runs(instance) == []


def test_a_finished_run_that_still_holds_a_slot_lets_go(instance: dg.DagsterInstance) -> None:
    done = _run(instance, {})  # e.g. marked failed by Dagster's code server when it died
    assert instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, done, "s").is_claimed
    instance.report_run_failed(instance.get_run_by_id(done))
    assert recover_dead_runs(instance) == []  # it ended just now: its step may be cleaning up
    recovered = recover_dead_runs(instance, finished_grace=0)
    assert [(r.run_id, r.marked_failed) for r in recovered] == [(done, False)]
    assert _claimed(instance) == set()


def test_a_waiting_run_is_told_who_holds_the_pool(instance: dg.DagsterInstance) -> None:
    storage = instance.event_log_storage
    holder = _run(instance, run_tags())
    waiter = _run(instance, run_tags())
    assert pool_wait_line(instance, waiter) is None
    storage.claim_concurrency_slot(WAREHOUSE_POOL, holder, "dbt_warehouse")
    storage.claim_concurrency_slot(WAREHOUSE_POOL, waiter, "raw_ga4_pages")
    line = pool_wait_line(instance, waiter)
    assert line is not None
    assert line.startswith(f"waiting for the warehouse pool, held by run {holder[:8]} (pid ")
    assert f"pid {os.getpid()} on " in line and "step dbt_warehouse)" in line
    assert pool_wait_line(instance, holder) is None  # the holder does not wait

    now = [0.0]
    wait = PoolWait(instance, waiter, clock=lambda: now[0])
    assert wait.poll() == [line]
    now[0] = 10.0
    assert wait.poll() == []  # said once; not again before 30 s
    now[0] = 31.0
    assert wait.poll() == [f"{line}; waiting 31 s"]
    storage.free_concurrency_slots_for_run(holder)
    now[0] = 40.0
    assert wait.poll() == []  # the waiter got the slot


def test_a_dead_holder_is_recovered_while_a_run_waits(instance: dg.DagsterInstance) -> None:
    storage = instance.event_log_storage
    dead = _run(instance, _dead_tags())
    waiter = _run(instance, run_tags())
    storage.claim_concurrency_slot(WAREHOUSE_POOL, dead, "dbt_warehouse")
    storage.claim_concurrency_slot(WAREHOUSE_POOL, waiter, "raw_ga4_pages")
    lines = PoolWait(instance, waiter).poll()
    assert len(lines) == 1 and "died without finishing" in lines[0]
    assert dead not in _claimed(instance)
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, waiter, "raw_ga4_pages").is_claimed


# -- dbt dies with the process that started it ------------------------------------------------

_PARENT = f"""
import os, subprocess, sys, time
env = {{**os.environ, "{PARENT_PID_ENV}": str(os.getpid())}}
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=env)
print(child.pid, flush=True)
time.sleep(60)
"""

_CHILD = """
import sys, time
from flywheel_pipeline.dbt.launcher import _expected_parent, die_with_parent
assert die_with_parent(_expected_parent())
print("armed", flush=True)
time.sleep(60)
"""


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process_start(pid) is None:
            return True
        time.sleep(0.05)
    return False


LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"
)


def _dies_with_its_killed_parent(parent: subprocess.Popen, *, armed: bool = False) -> bool:
    """Whether the process whose pid `parent` prints first (then, if `armed`, the line
    "armed") is gone within 5 s of `parent` being killed outright."""
    try:
        child = int(parent.stdout.readline())
        if armed:
            assert parent.stdout.readline().strip() == "armed"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        return _gone(child, within=5)
    finally:
        parent.kill()
        parent.wait()


@LINUX_ONLY
def test_the_launched_process_dies_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, _CHILD], stdout=subprocess.PIPE, text=True
    )
    assert _dies_with_its_killed_parent(parent, armed=True), "the child outlived its parent"


_POOL_PARENT = """
import multiprocessing, os, time
from concurrent.futures import ProcessPoolExecutor
from flywheel_pipeline.processes import die_with

def work():
    print(os.getpid(), flush=True)
    time.sleep(60)

if __name__ == "__main__":
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, spawn, initializer=die_with, initargs=(os.getpid(),)) as pool:
        pool.submit(work).result()
"""


@LINUX_ONLY
def test_a_pool_worker_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    """The demo simulates in such a worker (sources/demo/assets.py): killed outright, a run
    must not leave it writing landing files beside the next run."""
    script = tmp_path / "pool_parent.py"
    script.write_text(_POOL_PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert _dies_with_its_killed_parent(parent), "the pool worker outlived its parent"


@LINUX_ONLY
def test_flywheel_dbt_does_not_start_when_its_parent_is_already_gone() -> None:
    launcher = Path(sys.executable).with_name("flywheel-dbt")
    gone = subprocess.run(
        [launcher, "--version"],
        env={**os.environ, PARENT_PID_ENV: str(_dead_pid())},
        capture_output=True,
        text=True,
        check=False,
    )
    assert gone.returncode == 1 and "dbt not run" in gone.stderr
    ours = subprocess.run(
        [launcher, "--version"],
        env={**os.environ, PARENT_PID_ENV: str(os.getpid())},
        capture_output=True,
        text=True,
        check=False,
    )
    assert ours.returncode == 0 and "installed:" in ours.stdout


# -- kill -9 a real `flywheel demo` mid-load and mid-dbt, then run it again -------------------

DEMO = ["demo", "--scale", "0.05", "--days", "56"]  # the smallest demo the settings allow
VOLATILE = {"_loaded_at", "loaded_at"}  # when a row was loaded, not what it says
RUN_HISTORY = {"intermediate.int_momentum__model_quality", "flywheel.momentum"}
RUN_TIMEOUT = 300


class _Demo:
    """`flywheel demo` in a subprocess with its own homes; its output collected as it comes."""

    def __init__(self, home: Path, dagster_home: Path) -> None:
        env = {**os.environ, "FLYWHEEL_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flywheel_pipeline.cli", *DEMO],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, found, what: str, timeout: float = RUN_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = found()
            if value:
                return value
            assert self.process.poll() is None, f"ended before {what}:\n{self.output}"
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout} s:\n{self.output}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._reader.join(timeout=5)

    def finish(self) -> str:
        try:
            self.process.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"hung (waiting for the pool?):\n{self.output}") from None
        self._reader.join(timeout=5)
        assert self.process.returncode == 0, self.output
        return self.output


def _dbt_build_child(parent: int) -> int | None:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and b"build" in cmdline and b"dbt" in b" ".join(cmdline):
            return int(stat.parent.name)
    return None


def _homes(root: Path) -> tuple[Path, Path]:
    dagster_home = root / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(DAGSTER_YAML, dagster_home / "dagster.yaml")
    return root / "home", dagster_home


def _fingerprint(database: Path) -> dict[str, tuple[int, int]]:
    """Rows and a content hash (order-free, floats rounded) of every table, load times aside."""
    from flywheel_pipeline.sql import identifier
    from flywheel_pipeline.warehouse import connect

    with connect(database, read_only=True) as conn:
        tables = conn.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database() order by 1, 2"
        ).fetchall()
        prints = {}
        for schema, table in tables:
            columns = conn.execute(
                "select column_name, data_type from duckdb_columns() where database_name = "
                "current_database() and schema_name = ? and table_name = ? order by column_index",
                [schema, table],
            ).fetchall()
            values = [
                f"round({identifier(name)}::double, 6)"
                if kind in {"DOUBLE", "FLOAT"} or kind.startswith("DECIMAL")
                else identifier(name)
                for name, kind in columns
                if name not in VOLATILE
            ]
            prints[f"{schema}.{table}"] = conn.execute(
                f"select count(*), coalesce(sum(hash({', '.join(values)})::hugeint), 0) "
                f"from {schema}.{table}"
            ).fetchone()
    return prints


@LINUX_ONLY
@pytest.mark.slow
def test_a_demo_killed_mid_load_and_mid_dbt_recovers_to_a_clean_runs_warehouse(
    tmp_path: Path, dbt_manifest: Path
) -> None:
    assert Path(DBT_EXECUTABLE).name == "flywheel-dbt", "`pip install -e .` installs the launcher"
    clean_home, clean_dagster = _homes(tmp_path / "clean")
    clean = _Demo(clean_home, clean_dagster)  # alongside: the reference warehouse
    home, dagster_home = _homes(tmp_path / "crashed")

    # 1. killed inside the Google loads
    first = _Demo(home, dagster_home)
    first.wait_for(lambda: any("raw/ga4_events" in line for line in first.lines), "GA4 load")
    time.sleep(0.3)  # into the next load
    first.kill()

    # 2. the next run recovers the pool, then is killed inside `dbt build`: dbt dies with it
    second = _Demo(home, dagster_home)
    child = second.wait_for(lambda: _dbt_build_child(second.process.pid), "dbt build child")
    time.sleep(0.5)  # dbt is writing the warehouse
    second.kill()
    assert _gone(child, within=5), "dbt outlived the run that started it"
    assert "died without finishing: marked failed, its warehouse pool slot freed" in (second.output)

    # 3. the next run completes and builds what a clean run builds
    third = _Demo(home, dagster_home).finish()
    assert "died without finishing: marked failed" in third
    assert "waiting for the warehouse pool" not in third
    clean.finish()
    recovered = _fingerprint(home / "warehouse" / "warehouse.duckdb")
    expected = _fingerprint(clean_home / "warehouse" / "warehouse.duckdb")
    assert recovered.keys() == expected.keys()
    history: set[str] = set()
    if any(" ml/" in line for line in second.lines):
        # Killed in the second dbt build, after the models trained (a loaded machine can
        # outrun the poll): the killed run rightly recorded those training runs, which are
        # history, and momentum reads model quality from it. Everything else must match.
        history = {t for t in expected if t.endswith("_runs")} | RUN_HISTORY
    differ = {t: v for t, v in recovered.items() if expected[t] != v and t not in history}
    assert differ == {}, second.output
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        assert info.claimed_slots == [] and info.pending_steps == []
        statuses = [r.status for r in instance.get_runs()]
    assert sorted(s.value for s in statuses) == ["FAILURE", "FAILURE", "SUCCESS"]
