"""Retrying Google API requests: one backoff policy and one retry loop for every source.

Google's advice for its APIs: retry rate limits (429), server errors and dropped connections
with truncated exponential backoff and jitter, honour a Retry-After the server sends, and
never retry a spent daily quota (it refills at midnight Pacific time). Which failure is which
is each source's own knowledge: a source passes a `classify` function to
:func:`call_with_retries`.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flywheel_pipeline.sources.google.stats import ExtractionStats

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Delay n (0-based) is `initial`·`multiplier`ⁿ capped at `maximum`, less up to `jitter`
    of it at random (1 = full jitter); a Retry-After is honoured up to `maximum`. A request
    gives up after `max_attempts` attempts or once the next wait would pass `deadline` seconds
    since its first attempt, whichever comes first."""

    initial: float = 1.0
    maximum: float = 32.0
    multiplier: float = 2.0
    jitter: float = 1.0
    max_attempts: int = 8
    deadline: float = 300.0

    def delay(self, retry: int, rng: random.Random, retry_after: float | None = None) -> float:
        base = min(self.maximum, self.initial * self.multiplier**retry)
        delay = base * (1.0 - self.jitter * rng.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.maximum))
        return delay


@dataclass(frozen=True)
class Retryable:
    """A failure worth another attempt: `problem` names it in logs and in
    `ExtractionStats.retried` ("HTTP 503", "timeout"); `retry_after` is the server's hint."""

    problem: str
    retry_after: float | None = None


class RetriesExhausted(Exception):
    """Every attempt the policy allows failed; the last failure is the `__cause__`."""

    def __init__(self, attempts: int, seconds: float, problem: str) -> None:
        super().__init__(f"gave up after {attempts} attempts over {seconds:.1f} s ({problem})")
        self.attempts = attempts
        self.seconds = seconds
        self.problem = problem


def call_with_retries(
    call: Callable[[], T],
    classify: Callable[[Exception], Retryable | None],
    *,
    policy: RetryPolicy,
    stats: ExtractionStats,
    rng: random.Random,
    log: logging.Logger,
    describe: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()` until it succeeds. `classify` decides on each failure: a `Retryable` to try
    again, None to re-raise it as it is (or it raises the source's own error). Every attempt
    counts in `stats.requests`, every retried one in `stats.retries` and `stats.retried`."""
    began = time.monotonic()
    for attempt in itertools.count(1):
        stats.requests += 1
        try:
            return call()
        except Exception as exc:
            verdict = classify(exc)
            if verdict is None:
                raise
            delay = policy.delay(attempt - 1, rng, verdict.retry_after)
            spent = time.monotonic() - began
            if attempt >= policy.max_attempts or spent + delay > policy.deadline:
                raise RetriesExhausted(attempt, spent, verdict.problem) from exc
            stats.retries += 1
            stats.retried[verdict.problem] += 1
            log.warning(
                "%s: %s on attempt %d/%d; retrying in %.2f s",
                describe,
                verdict.problem,
                attempt,
                policy.max_attempts,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")
