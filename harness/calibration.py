"""A short fixed CPU workload that measures how fast this machine runs suite-like code.

A baseline recorded on another machine is scaled by `speed_ratio(now, recorded)` (the session's
calibration time over the one stored with the baseline); see harness.baselines.session_baseline.
The workload mixes what the suite spends its time on: small matrix products and FFTs (the
forward model), element-wise array maths and plain Python loops (grouping, bookkeeping). Sizes
stay small so that BLAS runs single-threaded and the result does not depend on how many cores are
free. One repetition takes ~0.1 s; `measure()` takes the median of several on the CPU clock.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from harness.timing import stopwatch

REPETITIONS = 5


def workload(rounds: int = 50) -> float:
    """Deterministic work; returns a checksum so nothing can be optimised away."""
    rng = np.random.default_rng(20251019)
    matrix = rng.standard_normal((48, 48))
    field = rng.standard_normal((64, 64)) + 1j * rng.standard_normal((64, 64))
    checksum = 0.0
    for _ in range(rounds):
        for _ in range(6):
            matrix = matrix @ matrix.T
            matrix /= np.linalg.norm(matrix)
        spectrum = np.fft.fftshift(np.abs(np.fft.fft2(field)) ** 2) / field.size
        field = np.sqrt(spectrum) * np.exp(1j * np.angle(field))
        buckets: dict[int, int] = {}
        for i in range(6000):
            buckets[i % 97] = buckets.get(i % 97, 0) + (i * 7) % 13
        checksum += float(matrix[0, 0]) + float(spectrum.mean()) + sum(buckets.values())
    return checksum


@dataclass(frozen=True)
class Calibration:
    """Seconds per workload repetition on each clock."""

    wall_s: tuple[float, ...]
    cpu_s: tuple[float, ...]

    @property
    def seconds(self) -> float:
        """The speed figure: median CPU seconds per repetition (CPU time ignores time spent
        waiting for a core that another job holds, so a busy neighbour does not skew it)."""
        return statistics.median(self.cpu_s)


def measure(repetitions: int = REPETITIONS) -> Calibration:
    workload(rounds=1)  # warm-up: first-call costs (allocator, FFT plans) are not speed
    walls, cpus = [], []
    for _ in range(repetitions):
        with stopwatch() as watch:
            workload()
        walls.append(watch.measurement.wall_s)
        cpus.append(watch.measurement.cpu_s)
    return Calibration(tuple(walls), tuple(cpus))


def speed_ratio(now_s: float, recorded_s: float) -> float:
    """How much slower this machine is than the one that recorded the baseline (> 1: slower).
    Multiply the recorded seconds by it to estimate what they would be here."""
    if now_s <= 0 or recorded_s <= 0:
        raise ValueError(f"calibration times must be positive (got {now_s!r}, {recorded_s!r})")
    return now_s / recorded_s
