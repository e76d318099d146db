"""Whether other work shared this run's CPUs: the CPU time the machine spent outside the run.

CPU time is the band's clock because waiting for a core does not count - but a neighbour on
the same cores still costs CPU time (shared caches, memory bandwidth, a hyperthread sibling):
with a CPU burner on the other core of the 2-core runner the integration group took +13 % CPU
seconds while the speed probe, sampling in the idle pytest process, read the machine as faster.
So the run measures the neighbour directly: the busy time /proc/stat counts on the CPUs this
process may use (steal time included: a hypervisor running someone else), minus the CPU time
of this process tree (itself, its live descendants and every child they reaped). What is left
is foreign work.

A run is contended when that foreign work averages `[defaults] contention_cores` cores or more
over the run. Contention only ever makes work slower, so on a contended run a too_slow band
verdict is advisory (the comparison that survives a neighbour is `harness compare`, which
interleaves BASE and HEAD on the same machine), a too_fast one still fails, and the run is not
a sample for a provisional baseline. Linux only (/proc); elsewhere `sample()` gives None and
nothing is downgraded.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# /proc/stat columns after "cpuN": user nice system idle iowait irq softirq steal (guest and
# guest_nice are already inside user and nice)
BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)
# /proc/<pid>/stat fields after the ")" that ends the command name: ppid is the 2nd,
# utime stime cutime cstime the 12th-15th
PPID_FIELD, TIMES_FIELDS = 1, slice(11, 15)
MIN_WINDOW_S = 0.5


@dataclass(frozen=True)
class Sample:
    """Cumulative seconds at one instant: busy time of the usable CPUs, and of this tree."""

    monotonic_s: float
    machine_busy_s: float
    own_s: float
    cpus: int


@dataclass(frozen=True)
class Contention:
    """Foreign CPU time between two samples."""

    wall_s: float
    foreign_cpu_s: float
    cpus: int
    threshold_cores: float

    @property
    def foreign_cores(self) -> float:
        """How many cores foreign work held on average."""
        return self.foreign_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def contended(self) -> bool:
        return self.foreign_cores >= self.threshold_cores

    def describe(self) -> str:
        state = "CONTENDED" if self.contended else "quiet"
        return (f"machine {state}: other processes used {self.foreign_cpu_s:.1f} CPU-s of this "
                f"run's {self.cpus} usable core(s) in {self.wall_s:.1f} s, "
                f"{self.foreign_cores:.2f} cores on average (contended from "
                f"{self.threshold_cores:g}: [defaults] contention_cores)")

    def as_dict(self) -> dict:
        return {"wall_s": round(self.wall_s, 3), "foreign_cpu_s": round(self.foreign_cpu_s, 3),
                "foreign_cores": round(self.foreign_cores, 3), "cpus": self.cpus,
                "threshold_cores": self.threshold_cores, "contended": self.contended}


def _ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def machine_busy_s(cpus: set[int], proc: Path = PROC) -> float:
    """Busy seconds since boot of the given CPUs (/proc/stat's per-CPU lines)."""
    busy = 0
    for line in (proc / "stat").read_text().splitlines():
        name, _, rest = line.partition(" ")
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            columns = [int(v) for v in rest.split()]
            busy += sum(columns[i] for i in BUSY_COLUMNS if i < len(columns))
    return busy / _ticks()


def _process_table(proc: Path) -> dict[int, tuple[int, float]]:
    """pid -> (ppid, utime + stime + cutime + cstime in seconds) of every readable process."""
    table = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        fields = text[text.rfind(")") + 2:].split()
        table[int(entry.name)] = (int(fields[PPID_FIELD]),
                                  sum(int(v) for v in fields[TIMES_FIELDS]) / _ticks())
    return table


def tree_cpu_s(root_pid: int, proc: Path = PROC) -> float:
    """CPU seconds of `root_pid` and its live descendants, each with the children it reaped."""
    table = _process_table(proc)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        if pid in table:
            total += table[pid][1]
            todo.extend(children.get(pid, ()))
    return total


def sample(proc: Path = PROC) -> Sample | None:
    """Now, for this process's tree; None where /proc cannot be read (not Linux)."""
    try:
        cpus = os.sched_getaffinity(0)
        return Sample(time.monotonic(), machine_busy_s(cpus, proc), tree_cpu_s(os.getpid(), proc),
                      len(cpus))
    except (OSError, AttributeError, ValueError, IndexError):
        return None


def between(start: Sample | None, end: Sample | None, threshold_cores: float) -> Contention | None:
    """None when either sample is missing or the window is too short for /proc's clock ticks
    (10 ms each: in a few ticks' time a rounding is a core's worth of "foreign" work)."""
    if start is None or end is None or end.monotonic_s - start.monotonic_s < MIN_WINDOW_S:
        return None
    foreign = (end.machine_busy_s - start.machine_busy_s) - (end.own_s - start.own_s)
    return Contention(end.monotonic_s - start.monotonic_s, max(foreign, 0.0), end.cpus,
                      threshold_cores)
