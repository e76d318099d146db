"""Timing a piece of work on two clocks: wall time and CPU time.

Wall time is what CI waits for, so ceilings (max_s) and timeouts are judged on it. CPU time is
the work the process did: on a shared machine, time spent waiting for a core while another job
runs shows up in wall time but not in CPU time, which makes CPU time the quieter signal for
"did this test start doing more (or less) work" (see benchmarks/bench_budget_detector.py).
"""
from __future__ import annotations

import time

try:
    import resource
except ImportError:      # Windows: no getrusage; child processes' CPU time is then unknown
    resource = None
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Protocol


@dataclass(frozen=True)
class Measurement:
    """Seconds one subject (test, group or cadence) took. `cpu_s` is None when unknown;
    `speed_s` is the machine's speed while it ran - the mean CPU seconds of one speed-probe
    repetition (harness.measure.calibration.SpeedProbe) - or None when no probe ran in that time."""

    wall_s: float
    cpu_s: float | None = None
    speed_s: float | None = None

    def __add__(self, other: Measurement) -> Measurement:
        cpu = None if self.cpu_s is None or other.cpu_s is None else self.cpu_s + other.cpu_s
        # the sum ran at the CPU-time-weighted mean speed of its parts
        timed = [(m.speed_s, m.cpu_s) for m in (self, other)
                 if m.speed_s is not None and m.cpu_s]
        work = sum(c for _, c in timed)
        speed = sum(s * c for s, c in timed) / work if work else None
        return Measurement(self.wall_s + other.wall_s, cpu, speed)

    @classmethod
    def of(cls, value: Measurement | float | int) -> Measurement:
        """Accept a bare number of seconds as a wall-only measurement."""
        return value if isinstance(value, Measurement) else cls(float(value))


def cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its finished, reaped child processes."""
    if resource is None:
        return time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Stopwatch:
    """Holds the Measurement of a `with stopwatch()` block once the block has ended."""

    measurement: Measurement | None = None


class ProbeWindow(Protocol):
    """What a running speed probe reports about a stretch of time (see SpeedProbe)."""

    def mark(self) -> int: ...

    def since(self, mark: int) -> tuple[float | None, float]: ...


@contextmanager
def stopwatch(probe: ProbeWindow | None = None) -> Iterator[Stopwatch]:
    """Time the body on both clocks: `with stopwatch() as sw: ...; sw.measurement`. With a
    running speed probe, the measurement also gets the machine's speed during the body, and
    the probe's own CPU time is not counted as the body's."""
    watch = Stopwatch()
    start = probe.mark() if probe else 0
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    try:
        yield watch
    finally:
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
        speed, probe_cpu = probe.since(start) if probe else (None, 0.0)
        watch.measurement = Measurement(wall, max(cpu - probe_cpu, 0.0), speed)
