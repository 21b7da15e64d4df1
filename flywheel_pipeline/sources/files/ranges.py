"""One big line-oriented file parsed on every core, its results in file order.

The file is cut into byte ranges, each parsed by a worker process of a spawn pool; a range
owns the lines that start inside it (the last one may run past its end), so every line is
parsed once whatever the cut. A worker cannot know how many lines precede its range: it
numbers its lines from 1 and says how many it read, and the caller, taking results in file
order, adds the lines of the ranges before. Only a few ranges are in flight at once, so
memory holds a few ranges' results whatever the file's size.

Spawn, not fork: the loading process has DuckDB's and Dagster's threads, which a forked child
would inherit mid-lock. The workers die with the process that started them
(processes.die_with), so a killed run leaves none behind, and exit when unused a while
(`SharedPool`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from itertools import islice
from typing import BinaryIO, TypeVar

from flywheel_pipeline.processes import die_with

Result = TypeVar("Result")


def byte_ranges(size: int, range_bytes: int) -> list[tuple[int, int | None]]:
    """(start, end) byte ranges covering a file of `size` bytes; the last one is open, so a
    file that grew since it was measured is read to its end, as a plain read would."""
    starts = range(0, max(size, 1), range_bytes)
    return [(start, start + range_bytes) for start in starts[:-1]] + [(starts[-1], None)]


def first_line_start(stream: BinaryIO, start: int, end: int | None, limit: int) -> int | None:
    """Position `stream` at the first line that starts in [start, end) and return its offset;
    None when none does (a line longer than the range runs through it). The line cut by
    `start` belongs to the range before: it is read past only up to `end`, `limit` bytes at
    a time, so that a huge line costs neither memory nor a reread by every range it spans."""
    if start == 0:
        stream.seek(0)
        return 0
    stream.seek(start - 1)
    position = start - 1
    while end is None or position < end - 1:
        chunk = stream.readline(limit if end is None else min(limit, end - 1 - position))
        if not chunk:
            return None
        position += len(chunk)
        if chunk.endswith(b"\n"):
            return position
    return None


class SharedPool:
    """A spawn pool kept between the files of a load, closed once unused for `idle_seconds`.

    Starting two workers and stopping them costs about a second, as much as parsing a 50 MB
    file on two cores: a pool per file would spend that on every file of a folder. Idle, the
    workers exit, so that they hold no memory through the rest of a run.
    """

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._workers = 0
        self._owner = 0  # the pid that started the pool: a forked child must not use it
        self._users = 0
        self._timer: threading.Timer | None = None

    @contextmanager
    def workers(self, workers: int) -> Iterator[ProcessPoolExecutor]:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._owner != os.getpid():  # forked: the parent's pool and users are not ours
                self._pool, self._users = None, 0
            # A pool of another size is replaced when idle; in use, it is shared as it is.
            if self._pool is None or (self._workers != workers and not self._users):
                self._close()
                spawn = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    workers, spawn, initializer=die_with, initargs=(os.getpid(),)
                )
                self._workers, self._owner = workers, os.getpid()
            pool = self._pool
            self._users += 1
        try:
            yield pool
        except ChildProcessError:
            with self._lock:
                if self._pool is pool:  # broken: the next file starts a new one
                    self._close()
            raise
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._pool is not None:
                    self._timer = threading.Timer(self.idle_seconds, self._close_if_idle)
                    self._timer.daemon = True
                    self._timer.start()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close_if_idle(self) -> None:
        with self._lock:
            if self._users == 0:
                self._close()

    def _close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._owner == os.getpid():
            pool.shutdown(wait=False, cancel_futures=True)


def in_order(
    pool: ProcessPoolExecutor,
    function: Callable[..., Result],
    calls: Iterable[tuple],
    ahead: int,
) -> Iterator[Result]:
    """`function(*args)` for each of `calls` in the pool, results in the order of `calls`,
    at most `ahead` submitted and not yet handed on."""
    calls = iter(calls)
    pending = deque(pool.submit(function, *args) for args in islice(calls, ahead))
    try:
        while pending:
            try:
                result = pending.popleft().result()
            except BrokenProcessPool as exc:
                # A worker killed (the OOM killer, a signal) is the machine's failure, not the
                # file's: an OSError propagates, so the file is not recorded as rejected.
                raise ChildProcessError(f"a parsing worker died: {exc}") from exc
            for args in islice(calls, 1):  # keep the workers busy while the caller consumes
                pending.append(pool.submit(function, *args))
            yield result
    finally:  # a caller that stops early leaves no work queued in a pool that outlives it
        for future in pending:
            future.cancel()
