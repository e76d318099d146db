"""How fast this machine runs suite-like code right now.

- `measure()`: a short fixed workload (~0.5 s) at session start (and end), used only on the
  machine that recorded the baseline and only without the speed probe, to carry the recorded
  seconds to the load of the moment (`speed_ratio(now, recorded)`; see
  harness.records.baselines.session_reference). It no longer scales another machine's baseline: across
  machines it misread the suite by 2x and more (benchmarks/bench_calibration.py, issue 15).
  The workload mixes what the suite spends its time on:
  small matrix products and FFTs (the forward model), element-wise array maths and plain Python
  loops (grouping, bookkeeping). Sizes stay small so that BLAS runs single-threaded and the
  result does not depend on how many cores are free. `measure()` takes the median of several
  repetitions on the CPU clock.
- `SpeedProbe`: the same idea in miniature, sampled all through the session by a background
  thread, so that every measurement carries the speed of the very seconds it ran in. On a
  shared machine the speed of a core swings by up to 2x within seconds (a neighbour on the
  sibling core, cache pollution, frequency); a calibration before and after a test cannot see
  what happened in between, the probe can (benchmarks/bench_budget_detector.py).
"""
from __future__ import annotations

import statistics
import threading
import time
import functools
from dataclasses import dataclass

REPETITIONS = 5
PROBE_ROUNDS = 100
PROBE_INTERVAL_S = 0.02
DENSE_READINGS = 50  # SpeedProbe: readings at the full rate before the interval grows
SPARSE_FACTOR = 5    # SpeedProbe: the interval grows to at most this many x interval_s
# How strongly suite-like work reacts to what slows the probe down: CPU time of the benchmark's
# NumPy training loop ~ probe_time ** 1.2 (least-squares slope of log/log over 4 benchmark runs,
# 1.15-1.22, r = 0.98; benchmarks/bench_budget_detector.py). 1.0 would under-correct.
PROBE_EXPONENT = 1.2


def workload(rounds: int = 50) -> float:
    """Deterministic work; returns a checksum so nothing can be optimised away."""
    np = _numpy()
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
    """CPU time on this thread's clock: a speed probe or any other thread of the process
    does not count."""
    workload(rounds=1)  # warm-up: first-call costs (allocator, FFT plans) are not speed
    walls, cpus = [], []
    for _ in range(repetitions):
        wall, cpu = time.perf_counter(), time.thread_time()
        workload()
        cpus.append(time.thread_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return Calibration(tuple(walls), tuple(cpus))


def probe_ratio(now_s: float, recorded_s: float) -> float:
    """speed_ratio for speed-probe readings: how much slower suite-like work runs now."""
    return speed_ratio(now_s, recorded_s) ** PROBE_EXPONENT


def speed_ratio(now_s: float, recorded_s: float) -> float:
    """How much slower this machine is than the one that recorded the baseline (> 1: slower).
    Multiply the recorded seconds by it to estimate what they would be here."""
    if now_s <= 0 or recorded_s <= 0:
        raise ValueError(f"calibration times must be positive (got {now_s!r}, {recorded_s!r})")
    return now_s / recorded_s


@functools.cache
def _numpy():
    """numpy, imported when first measured: the harness CLI imports this module (budgets,
    baselines) and must fork its pytest process before numpy sizes OpenBLAS's thread pool."""
    import numpy

    return numpy


@functools.cache
def _probe_values():
    return _numpy().arange(32.0)


def probe_workload(rounds: int = PROBE_ROUNDS) -> int:
    """~0.3 ms of the calibration mix in miniature: a Python loop with small array maths."""
    values, total = _probe_values(), 0
    for i in range(rounds):
        total += i % 7
        values = values * 0.5 + 1.0
    return total + int(values[0])


class SpeedProbe:
    """Samples this process's speed while tests run: a daemon thread repeats probe_workload()
    and records its CPU time (thread clock, so waiting for the GIL or for a core does not
    count). `mark()` starts a window (a test phase); `since(mark)` gives the window's mean
    probe time, each reading weighted by the time since the one before (a time average even
    where readings are sparse), and the probe's own CPU time in it (harness.measure.timing.stopwatch
    subtracts that).

    A window is read every `interval_s` for its first `DENSE_READINGS` readings' worth of
    time; after that the interval grows with the window's age (age / DENSE_READINGS), up to
    `SPARSE_FACTOR` x interval_s. A short test gets the dense readings the detector benchmark
    was validated with; a 20 s test still gets ~250 readings instead of 1000, which cuts the
    probe's cost (~0.4 ms CPU a reading, ~2 % of a core when dense) where it buys nothing.

        with SpeedProbe() as probe:
            with stopwatch(probe) as watch:
                run_the_test()
        watch.measurement.speed_s
    """

    def __init__(self, interval_s: float = PROBE_INTERVAL_S):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive (got {interval_s!r})")
        self.interval_s = interval_s
        self._readings: list[tuple[float, float]] = []  # (probe CPU s, s since the last one)
        self._window_start = time.perf_counter()
        self._stopping = False
        self._wake = threading.Event()  # set by mark() (reschedule) and stop()
        self._thread: threading.Thread | None = None

    def start(self) -> SpeedProbe:
        if self._thread is None:
            self._thread = threading.Thread(target=self._sample, name="harness-speed-probe",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> SpeedProbe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def interval_at(self, window_age_s: float) -> float:
        """Seconds between readings in a window this old."""
        return min(max(self.interval_s, window_age_s / DENSE_READINGS),
                   SPARSE_FACTOR * self.interval_s)

    def _sample(self) -> None:
        last = time.perf_counter()
        while not self._stopping:
            start = time.thread_time()
            probe_workload()
            cpu = time.thread_time() - start
            now = time.perf_counter()
            self._readings.append((cpu, now - last))  # list.append is atomic
            last = now
            while not self._stopping:  # a mark() re-plans the next reading for the new window
                self._wake.clear()
                due = last + self.interval_at(last - self._window_start)
                remaining = due - time.perf_counter()
                if remaining <= 0 or not self._wake.wait(remaining):
                    break

    def mark(self) -> int:
        self._window_start = time.perf_counter()
        self._wake.set()
        return len(self._readings)

    def since(self, mark: int) -> tuple[float | None, float]:
        """(time-weighted mean probe seconds, or None if no reading fell in the window; the
        probes' total CPU seconds)."""
        window = self._readings[mark:]
        if not window:
            return None, 0.0
        weight = sum(gap for _, gap in window)
        total = sum(cpu for cpu, _ in window)
        mean = (sum(cpu * gap for cpu, gap in window) / weight if weight > 0
                else total / len(window))
        return mean, total
