"""Timing a piece of work on two clocks: wall time and CPU time.

Wall time is what CI waits for, so ceilings (max_s) and timeouts are judged on it. CPU time is
the work the process did: on a shared machine, time spent waiting for a core while another job
runs shows up in wall time but not in CPU time, which makes CPU time the quieter signal for
"did this test start doing more (or less) work" (see benchmarks/bench_budget_detector.py).
"""
from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Measurement:
    """Seconds one subject (test, group or cadence) took. `cpu_s` is None when unknown."""

    wall_s: float
    cpu_s: float | None = None

    def __add__(self, other: Measurement) -> Measurement:
        cpu = None if self.cpu_s is None or other.cpu_s is None else self.cpu_s + other.cpu_s
        return Measurement(self.wall_s + other.wall_s, cpu)

    @classmethod
    def of(cls, value: Measurement | float | int) -> Measurement:
        """Accept a bare number of seconds as a wall-only measurement."""
        return value if isinstance(value, Measurement) else cls(float(value))


def cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its finished, reaped child processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Stopwatch:
    """Holds the Measurement of a `with stopwatch()` block once the block has ended."""

    measurement: Measurement | None = None


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Time the body on both clocks: `with stopwatch() as sw: ...; sw.measurement`."""
    watch = Stopwatch()
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    try:
        yield watch
    finally:
        watch.measurement = Measurement(time.perf_counter() - wall0, cpu_seconds() - cpu0)
